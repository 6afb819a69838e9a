"""`EventModel`: the registry that validates `data` by type name, and the checks a struct
passes to be registered."""

import difflib
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

import msgspec
from msgspec import Struct
from msgspec import inspect as mi

from ...core import fastshape
from ...core.canonical import TYPE_PATTERN, unencodable_text
from ...core.fastshape import FieldSpec
from .base import _KEEP
from .envelope import Envelope

__all__ = ["EventModel", "FloatCheck"]

FloatCheck = Callable[[Any, str], None]


_EXPECTED_GOT: Final = re.compile(r"^Expected `(?P<want>[^`]*)`, got `(?P<got>[^`]*)`")
_JSON_KINDS: Final = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "decimal": "a number with a fraction or exponent",
    "bool": "true or false",
    "null": "null",
    "object": "an object",
    "array": "an array",
    "datetime": "an RFC 3339 time",
    "date": "a date",
    "uuid": "a UUID",
}


def _json_kind(name: str) -> str:
    """msgspec names Python types (`decimal`); people who sent JSON read JSON words."""
    return _JSON_KINDS.get(name, name)


def _float_error(path: str) -> TypeError:
    return TypeError(
        f"{path}: expected a decimal, got float (binary floats are not exact: "
        "pass Decimal('1.5') or the string '1.5')"
    )


def _check_decimal(value: Any, path: str) -> None:
    if isinstance(value, float):
        raise _float_error(path)


def _float_check(t: mi.Type, seen: set[type]) -> FloatCheck | None:
    """A function that refuses binary floats wherever `t` expects a Decimal (None if `t` holds
    none): msgspec would accept them, but a float is inexact before it arrives (0.1 + 0.2)."""
    if isinstance(t, mi.DecimalType):
        return _check_decimal
    if isinstance(t, mi.UnionType):
        checks = [c for c in (_float_check(m, seen) for m in t.types) if c is not None]
        if not checks:
            return None

        def union(value: Any, path: str) -> None:
            for check in checks:
                check(value, path)

        return union
    if isinstance(t, mi.ListType | mi.VarTupleType | mi.SetType | mi.FrozenSetType):
        item = _float_check(t.item_type, seen)
        if item is None:
            return None

        def items(value: Any, path: str) -> None:
            if isinstance(value, list | tuple):
                for i, v in enumerate(value):
                    item(v, f"{path}[{i}]")

        return items
    if isinstance(t, mi.DictType):
        val = _float_check(t.value_type, seen)
        if val is None:
            return None

        def values(value: Any, path: str) -> None:
            if isinstance(value, Mapping):
                for k, v in value.items():
                    val(v, f"{path}.{k}")

        return values
    if isinstance(t, mi.StructType):
        if t.cls in seen:  # recursive types: floats in deeper levels are left to msgspec
            return None
        fields = _field_checks(t, seen | {t.cls})
        if not fields:
            return None

        def struct(value: Any, path: str) -> None:
            if isinstance(value, Mapping):
                for name, check in fields:
                    v = value.get(name)
                    if v is not None:
                        check(v, f"{path}.{name}")

        return struct
    return None


def _field_checks(t: mi.StructType, seen: set[type]) -> list[tuple[str, FloatCheck]]:
    found = []
    for f in t.fields:
        check = _float_check(f.type, seen)
        if check is not None:
            found.append((f.encode_name, check))
    return found


def _refuse_types(t: mi.Type, where: str) -> None:
    """Refuse field types whose values the journal cannot hold exactly or unambiguously."""
    if isinstance(t, mi.DateTimeType) and t.tz is not True:
        raise TypeError(f"{where}: datetime fields must be AwareDatetime (naive times are refused)")
    if isinstance(t, mi.TimeType):
        raise TypeError(f"{where}: a bare time of day is ambiguous; use AwareDatetime")
    if isinstance(t, mi.BytesType | mi.ByteArrayType | mi.MemoryViewType | mi.ExtType | mi.RawType):
        raise TypeError(f"{where}: binary values cannot be journaled; encode them as str")
    if isinstance(t, mi.SetType | mi.FrozenSetType):
        raise TypeError(f"{where}: sets have no canonical order; use list")
    if isinstance(t, mi.CustomType):
        raise TypeError(f"{where}: {t.cls.__name__} is not a JSON type msgspec can validate")
    if isinstance(t, mi.DictType):
        key = t.key_type
        if not isinstance(key, mi.StrType | mi.AnyType) and not (
            isinstance(key, mi.LiteralType) and all(isinstance(v, str) for v in key.values)
        ):
            raise TypeError(f"{where}: dict keys must be str")
    if isinstance(t, mi.UnionType):
        kinds = {type(m) for m in t.types}
        if mi.DecimalType in kinds and mi.FloatType in kinds:
            raise TypeError(f"{where}: a field cannot be both Decimal and float")
        for m in t.types:
            _refuse_types(m, where)
    elif isinstance(t, mi.ListType | mi.VarTupleType):
        _refuse_types(t.item_type, f"{where}[]")
    elif isinstance(t, mi.TupleType):
        for m in t.item_types:
            _refuse_types(m, f"{where}[]")
    elif isinstance(t, mi.DictType):
        _refuse_types(t.value_type, f"{where}.*")
    elif isinstance(t, mi.StructType):
        _check_struct(t, where)


def _check_struct(t: mi.StructType, where: str) -> None:
    config = t.cls.__struct_config__
    if not config.forbid_unknown_fields:
        raise TypeError(f"{where}: needs forbid_unknown_fields=True (subclass EventData)")
    if not config.omit_defaults:
        raise TypeError(f"{where}: needs omit_defaults=True (subclass EventData)")
    if t.array_like or t.tag_field is not None:
        raise TypeError(f"{where}: array_like and tagged structs are not event data")
    for f in t.fields:
        if not f.required and (f.default is not None or f.default_factory is not msgspec.NODEFAULT):
            raise TypeError(
                f"{where}.{f.encode_name}: optional fields must default to None "
                "(an omitted field then means 'not given')"
            )
        _refuse_types(f.type, f"{where}.{f.encode_name}")


_Entry = tuple[
    type[Struct],
    Callable[[str], type | None] | None,
    tuple[str, ...],
    tuple[tuple[str, FloatCheck], ...],
]

_convert: Final = msgspec.convert
_to_builtins: Final = msgspec.to_builtins
_KINDS: Final[dict[type, type]] = {
    mi.StrType: str,
    mi.IntType: int,
    mi.BoolType: bool,
    mi.DecimalType: Decimal,
    mi.DateTimeType: datetime,
    mi.DateType: date,
    mi.FloatType: float,
}


def _scalar_kind(t: mi.Type) -> type | None:
    """The exact Python type a validated scalar field holds, or None when the field is not a
    scalar of a single type (then the struct is validated by the general path)."""
    if isinstance(t, mi.UnionType):
        members = [m for m in t.types if not isinstance(m, mi.NoneType)]
        if len(members) != 1:
            return None
        t = members[0]
    if isinstance(t, mi.LiteralType):
        kinds = {type(v) for v in t.values}
        return kinds.pop() if len(kinds) == 1 else None
    return _KINDS.get(type(t))


_FLAT_KINDS: Final[dict[type, int]] = {
    mi.StrType: fastshape.STR,
    mi.IntType: fastshape.INT,
    mi.DecimalType: fastshape.DECIMAL,
    mi.BoolType: fastshape.BOOL,
}


def _checks_itself(cls: type[Struct]) -> bool:
    """A struct whose class (or a base between it and EventData) defines __post_init__."""
    return any("__post_init__" in vars(base) for base in cls.__mro__ if base is not Struct)


def _defaults_to_none(f: mi.Field) -> bool:
    return f.default is None and f.default_factory is msgspec.NODEFAULT


_CONSTRAINTS: Final = (
    *("pattern", "min_length", "max_length"),
    *("gt", "ge", "lt", "le", "multiple_of"),
)


def _unconstrained(t: mi.Type) -> bool:
    return all(getattr(t, name, None) is None for name in _CONSTRAINTS)


def _shaped_kind(t: mi.Type) -> tuple[int, tuple[str, ...]]:
    """A field's kind for the compiled shaper (core.fastshape), and a Literal's values."""
    if isinstance(t, mi.UnionType):
        members = [m for m in t.types if not isinstance(m, mi.NoneType)]
        if len(members) != 1:
            return fastshape.DECLINE, ()
        t = members[0]
    if isinstance(t, mi.LiteralType):
        values = tuple(v for v in t.values if type(v) is str)
        if len(values) == len(t.values):
            return fastshape.LITERAL, values
    elif type(t) in _FLAT_KINDS and _unconstrained(t):
        return _FLAT_KINDS[type(t)], ()
    elif (
        isinstance(t, mi.ListType)
        and _unconstrained(t)
        and type(t.item_type) is mi.StrType
        and _unconstrained(t.item_type)
    ):
        return fastshape.STRINGS, ()
    return fastshape.DECLINE, ()


_ERROR_AT = re.compile(
    r"^(?P<msg>.*?)(?: - at (?P<key>`key` in )?`\$(?P<path>[^`]*)`)?$", re.DOTALL
)
_FIELD_IN = re.compile(r"^Object (?:missing required|contains unknown) field `(?P<name>[^`]*)`$")


class EventModel:
    """A registry of event types: validates `data` by type name in the caller of `record()`."""

    def __init__(self, types: Iterable[type[Struct]] = ()) -> None:
        self._lock = threading.Lock()
        # type name -> (struct, {field: exact type} when the struct is flat else None,
        #               top-level Decimal field names, deeper float checks)
        self._entries: dict[str, _Entry] = {}
        self._names: dict[type[Struct], str] = {}
        for struct_type in types:
            self.register(struct_type)

    def register(self, struct_type: type[Struct]) -> None:
        """Add an event type; it gets the same checks as the built-in ones (exact decimals, aware
        datetimes, no unknown fields), so these are enforced on the struct's field types here."""
        if not (isinstance(struct_type, type) and issubclass(struct_type, Struct)):
            raise TypeError(f"{struct_type!r} is not a msgspec Struct class")
        label = struct_type.__qualname__
        name = getattr(struct_type, "TYPE", None)
        if not isinstance(name, str) or not TYPE_PATTERN.match(name):
            raise ValueError(
                f"{label}.TYPE: {name!r} is not a dotted lower-case event type "
                "such as 'order.accepted'"
            )
        version = getattr(struct_type, "VERSION", None)
        if type(version) is not int or version < 1:
            raise ValueError(f"{label}.VERSION: {version!r} must be an int >= 1")
        info = _struct_info(struct_type)
        _check_struct(info, label)
        decimals = []
        deeper = []
        for f in info.fields:
            check = _float_check(f.type, {struct_type})
            if check is not None:
                if _scalar_kind(f.type) is Decimal:
                    decimals.append(f.encode_name)
                else:
                    deeper.append((f.encode_name, check))
        found = {f.encode_name: _scalar_kind(f.type) for f in info.fields}
        # For flat structs: field -> the exact type its validated value has (fast path check).
        flat = None not in found.values() and all(f.name == f.encode_name for f in info.fields)
        kind_of = found.get if flat else None
        try:
            msgspec.json.schema(struct_type)
        except TypeError as exc:
            raise TypeError(f"{label}: no JSON Schema: {exc}") from None
        with self._lock:
            if name in self._entries:
                raise ValueError(
                    f"{label}: event type {name!r} is already registered "
                    f"by {self._entries[name][0].__qualname__}"
                )
            if struct_type in self._names:
                raise ValueError(f"{label}: already registered as {self._names[struct_type]!r}")
            self._entries[name] = (struct_type, kind_of, tuple(decimals), tuple(deeper))
            self._names[struct_type] = name

    def get(self, event_type: str) -> type[Struct] | None:
        """The struct of a type name, or None for a type the model does not know."""
        entry = self._entries.get(event_type)
        return entry[0] if entry is not None else None

    def fields_of(self, event_type: str) -> frozenset[str] | None:
        """The `data` field names of a known type (None for a type the model does not know):
        the logging integrations put what is not one of them in the record's `context`."""
        entry = self._entries.get(event_type)
        return None if entry is None else frozenset(entry[0].__struct_encode_fields__)

    def flat_fields(self, event_type: str) -> list[FieldSpec] | None:
        """The fields of a type as the writer's compiled shaper judges them (core.fastshape): a
        kind per field, DECLINE for any it cannot decide exactly as validation does (a datetime,
        a float, a union, a nested struct, a constrained value, an int Literal, and, outside
        the flat path, where an explicit default is dropped, a default other than None). None
        for an unknown type, and for one that checks itself (`__post_init__`: its rules are
        code, which only validation runs)."""
        entry = self._entries.get(event_type)
        if entry is None or _checks_itself(entry[0]) or type(self) is not EventModel:
            return None  # (a subclass may validate otherwise)
        flat = entry[1] is not None
        specs: list[FieldSpec] = []
        for f in _struct_info(entry[0]).fields:
            if not f.encode_name.isascii():
                return None
            kind, literals = _shaped_kind(f.type)
            if not (flat or f.required or _defaults_to_none(f)):
                kind, literals = fastshape.DECLINE, ()
            specs.append((f.encode_name, kind, f.required, literals))
        return specs

    def types(self) -> list[str]:
        """Every registered type name, sorted."""
        return sorted(self._entries)

    def type_of(self, struct: Struct | type[Struct]) -> str:
        """The type name of a registered struct (instance or class)."""
        cls = struct if isinstance(struct, type) else type(struct)
        name = self._names.get(cls)
        if name is None:
            raise ValueError(f"{cls.__qualname__} is not a registered event type (register it)")
        return name

    def version_of(self, event_type: str) -> int | None:
        """The current VERSION of a type, or None if unknown."""
        entry = self._entries.get(event_type)
        return int(getattr(entry[0], "VERSION", 1)) if entry is not None else None

    def validate(
        self,
        event_type: str,
        data: Mapping[str, Any] | Struct | None,
        *,
        strict: bool = False,
    ) -> dict[str, Any] | None:
        """Check `data` against the struct of `event_type` and return it as plain builtins for
        the canonical encoder (Decimal kept, aware datetimes and dates kept, None fields omitted).
        When `data` is a dict that already has exactly those types it is returned itself.

        A Struct instance is accepted; its class must be the one registered for `event_type`.
        Errors name the field (`data.qty: expected a decimal, got float`): TypeError for a wrong
        type, ValueError otherwise. NaN/Infinity decimals pass here and are refused, with their
        path, by the encoder's value check in `record()` (one check, not two, on the hot path).
        An unknown type returns `data` unchanged (free-form) unless `strict`, which raises
        ValueError. `data=None` gives None when the type requires no field."""
        entry = self._entries.get(event_type)
        if entry is None:
            if type(data) is dict and not strict:
                return data
            return self._free_form(event_type, data, strict)
        cls, kind_of, decimals, deeper = entry
        if isinstance(data, Struct):
            if type(data) is not cls:
                raise TypeError(
                    f"data: {type(data).__qualname__} is not the data of {event_type!r} "
                    f"(expected {cls.__qualname__})"
                )
            # a Struct's constructor does not check types: validate what it holds
            data = _to_builtins(data, builtin_types=_KEEP)
        if type(data) is dict and kind_of is not None:
            # Flat structs (the common case): one pass refuses floats for Decimal fields and
            # notes the fields whose input is not already of the exact type validation gives
            # (Decimal, aware datetime, no None); usually none, and nothing is converted.
            changed: list[str] | None = None
            for name, value in data.items():
                kind = kind_of(name)
                if type(value) is not kind:
                    if kind is Decimal and isinstance(value, float):
                        raise _float_error(f"data.{name}")
                    if changed is None:
                        changed = [name]
                    else:
                        changed.append(name)
            try:
                obj = _convert(data, cls)
            except msgspec.ValidationError as exc:
                raise self._error(exc, event_type, cls) from None
            except UnicodeEncodeError:  # msgspec encodes keys as UTF-8
                raise ValueError(f"{unencodable_text(data, 'data')}: not valid Unicode") from None
            if changed is None:
                return data
            out = data.copy()  # what to_builtins(obj) gives, cheaper for a few changed fields
            for name in changed:
                value = getattr(obj, name)
                if value is None:
                    del out[name]
                else:
                    out[name] = value
            return out
        if type(data) is dict:
            raw: dict[str, Any] = data
        elif data is None:
            raw = {}
        elif isinstance(data, Mapping):
            raw = dict(data)
        else:
            raise TypeError(
                f"data: expected a mapping (dict) or {cls.__qualname__}, got {type(data).__name__}"
            )
        for name in decimals:
            value = raw.get(name)
            if value is not None and isinstance(value, float):
                raise _float_error(f"data.{name}")
        for name, check in deeper:
            value = raw.get(name)
            if value is not None:
                check(value, f"data.{name}")
        try:
            obj = _convert(raw, cls)
        except msgspec.ValidationError as exc:
            raise self._error(exc, event_type, cls) from None
        except UnicodeEncodeError:
            raise ValueError(f"{unencodable_text(raw, 'data')}: not valid Unicode") from None
        if data is None:
            return None
        return _to_builtins(obj, builtin_types=_KEEP)  # type: ignore[no-any-return]

    def conform(
        self, event_type: str, data: Mapping[str, Any] | Struct | None, *, strict: bool = False
    ) -> tuple[Any, str | None]:
        """What `record()` keeps of `data`: the validated data and None, or, when data does not
        match its known type and not `strict`, the data as given (a Struct as builtins) and the
        error, so the event is still recorded and flagged. `strict` raises instead."""
        try:
            return self.validate(event_type, data, strict=strict), None
        except (TypeError, ValueError) as exc:
            if strict or event_type not in self._entries:
                raise
            if isinstance(data, Struct):
                data = msgspec.to_builtins(data, builtin_types=_KEEP)
            return data, str(exc)

    def _free_form(
        self, event_type: str, data: Mapping[str, Any] | Struct | None, strict: bool
    ) -> dict[str, Any] | None:
        """An unknown type: recorded as it is (the trail never refuses the unexpected)."""
        if strict:
            raise ValueError(self._unknown(event_type))
        if isinstance(data, Struct):
            if type(data) in self._names:
                raise TypeError(
                    f"data: {type(data).__qualname__} is the data of "
                    f"{self._names[type(data)]!r}, not of {event_type!r}"
                )
            return msgspec.to_builtins(data, builtin_types=_KEEP)  # type: ignore[no-any-return]
        if data is None or type(data) is dict:
            return data
        if isinstance(data, Mapping):
            return dict(data)
        raise TypeError(f"data: expected a mapping (dict), got {type(data).__name__}")

    def _unknown(self, event_type: str) -> str:
        near = difflib.get_close_matches(str(event_type), self._entries, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        return f"type: unknown event type {event_type!r}{hint}; register it or use strict=False"

    @staticmethod
    def _error(exc: msgspec.ValidationError, event_type: str, cls: type[Struct]) -> Exception:
        """Turn msgspec's message (`Expected `str`, got `int` - at `$.x``) into ours."""
        m = _ERROR_AT.match(str(exc))
        msg, at = (m.group("msg"), m.group("path") or "") if m else (str(exc), "")
        path = "data" + at
        if m and m.group("key"):
            return TypeError(f"{path}: keys must be str ({msg.replace('`', '')} for a key)")
        field = _FIELD_IN.match(msg)
        if field is not None:
            path = f"{path}.{field.group('name')}"
            fields = ", ".join(cls.__struct_encode_fields__) if not at else ""
            if msg.startswith("Object missing"):
                text = f"required by {event_type} but missing" if not at else "required but missing"
            else:
                text = f"not a field of {event_type}" + (f" (fields: {fields})" if fields else "")
            return ValueError(f"{path}: {text}")
        if "with a timezone component" in msg:
            return ValueError(f"{path}: naive datetime refused (attach a timezone, e.g. UTC)")
        text = msg.replace("`", "")
        text = text[:1].lower() + text[1:]
        if msg.startswith("Invalid enum value") and at.count(".") == 1 and "[" not in at:
            allowed = _literal_values(cls, at[1:])
            if allowed:
                text = f"{text} (expected one of: {', '.join(map(str, allowed))})"
        expected = _EXPECTED_GOT.match(msg)
        if expected is None:
            return ValueError(f"{path}: {text}")
        want = " or ".join(_json_kind(k.strip()) for k in expected.group("want").split("|"))
        return TypeError(f"{path}: expected {want}, got {_json_kind(expected.group('got'))}")

    def json_schema(self) -> dict[str, Any]:
        """One JSON Schema (2020-12) for journal records: the envelope, and per registered type
        its `data` (under `events`, keyed by type name, and applied by `if`/`then`)."""
        names = self.types()
        structs = [self._entries[n][0] for n in names]
        refs, defs = msgspec.json.schema_components(
            [Envelope, *structs], ref_template="#/$defs/{name}"
        )
        for component in defs.values():
            _omitted_not_null(component)
        events: dict[str, Any] = {}
        rules: list[dict[str, Any]] = []
        for name, struct, ref in zip(names, structs, refs[1:], strict=True):
            required = [f.encode_name for f in _struct_info(struct).fields if f.required]
            events[name] = {
                "category": name.split(".", 1)[0],
                "version": getattr(struct, "VERSION", 1),
                "description": (struct.__doc__ or "").strip(),
                "data": ref,
            }
            then: dict[str, Any] = {"properties": {"data": ref}}
            if required:
                then["required"] = ["data"]
            rules.append(
                {
                    "if": {
                        "properties": {"type": {"const": name}},
                        "required": ["type"],
                        "not": {"required": ["schema_error"]},  # kept as given, flagged
                    },
                    "then": then,
                }
            )
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "tradetrail journal record",
            "description": (
                "One line of journal/audit-YYYYMMDD.jsonl. Records of a type listed under "
                "`events` have `data` of that type's schema, unless flagged with "
                "`schema_error`; other types are free-form."
            ),
            "$ref": refs[0]["$ref"],
            "allOf": rules,
            "events": events,
            "$defs": defs,
        }


def _struct_info(cls: type[Struct]) -> mi.StructType:
    info = mi.type_info(cls)
    if not isinstance(info, mi.StructType):  # pragma: no cover - a Struct class always is
        raise TypeError(f"{cls.__qualname__}: not a struct type")
    return info


def _literal_values(cls: type[Struct], name: str) -> tuple[Any, ...]:
    for f in _struct_info(cls).fields:
        if f.encode_name == name:
            members = f.type.types if isinstance(f.type, mi.UnionType) else (f.type,)
            for m in members:
                if isinstance(m, mi.LiteralType):
                    return tuple(m.values)
    return ()


def _omitted_not_null(component: dict[str, Any]) -> None:
    """Optional fields default to None and are then omitted, never written as null: say so."""
    for prop in component.get("properties", {}).values():
        if "default" in prop and prop["default"] is None:
            del prop["default"]
            options = prop.get("anyOf")
            if options is not None:
                options = [o for o in options if o != {"type": "null"}]
                if len(options) == 1:
                    del prop["anyOf"]
                    prop.update(options[0])
                else:
                    prop["anyOf"] = options
