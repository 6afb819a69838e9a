"""Validation and canonical JSON encoding of events, done in the caller of `record()`.

The journal line of a record is its RFC 8785 (JCS) encoding: keys sorted by UTF-16 code units,
no spaces, UTF-8, numbers as ECMAScript prints them. For the common event (no float, ASCII-ish
keys, integers within I-JSON's ±(2^53-1)) that is exactly `orjson.dumps(fields, OPT_SORT_KEYS)`,
the fast path; `check_value` reports when a value needs the exact path. Values are checked
before encoding because orjson would silently turn NaN into null and accept naive datetimes; a
bad value must fail in the caller, naming the field.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Mapping
from datetime import date, datetime
from datetime import time as dtime
from decimal import Decimal
from enum import Enum
from typing import Any, Final, Protocol
from uuid import UUID

import msgspec
import orjson
import rfc8785
import uuid_utils

from ..errors import PartsError
from .chain import accelerator_wanted
from .timefmt import MAX_TS_NS, RFC3339_ANY, format_datetime, format_ns_precise

SORT: Final = orjson.OPT_SORT_KEYS
DUMP_OPTIONS: Final = orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z
DEFAULT_MAX_EVENT_BYTES: Final = 1024 * 1024
MAX_DEPTH: Final = 64
MAX_SAFE_INTEGER: Final = 2**53 - 1
"""I-JSON's (RFC 7493) exact integer range, to which RFC 8785 numbers are limited: an integer
beyond ±MAX_SAFE_INTEGER in caller data is written as a decimal string, as Decimals are."""

WRITER_FIELDS: Final = frozenset({"seq", "ts", "prev"})
CORRELATION_FIELDS: Final = (
    "correlation_id",
    "order_id",
    "client_order_id",
    "exchange_order_id",
    "parent_order_id",
    "signal_id",
    "strategy",
    "account",
    "venue",
    "symbol",
)
TRACE_FIELDS: Final = ("trace_id", "span_id")  # OpenTelemetry, captured when a span is active
STRING_FIELDS: Final = frozenset({"actor", *CORRELATION_FIELDS, *TRACE_FIELDS})
ENVELOPE_FIELDS: Final = frozenset(
    {"event_id", "event_ts", "source", "priority", "context", *STRING_FIELDS}
)
"""Fields the caller may set. `context` (an object, from tradetrail 0.2) holds free-form context
of the event (a log message, bound log keys) that its type's schema does not govern."""
PRIORITIES: Final = frozenset({"debug", "low", "normal", "high", "critical"})
TYPE_PATTERN: Final = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
EVENT_ID_PATTERN: Final = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)
MAX_FIELD_CHARS: Final = 512

LIBRARY_FIELDS: Final = frozenset({"spill", "redacted", "schema_error"})
"""Set by tradetrail itself: `spill` by the writer for a recovered record, `redacted` (the paths
of values replaced by the redactor) and `schema_error` (why data did not match its type) in
the caller. Callers cannot set them."""

_SCALARS: Final = (str, int, bool, type(None))


class DataModel(Protocol):
    """What prepare() needs of an event model (tradetrail.model.events.EventModel)."""

    def conform(self, event_type: str, data: Any, *, strict: bool) -> tuple[Any, str | None]: ...


class SecretFilter(Protocol):
    """What prepare() needs of a redactor (tradetrail.model.redact.Redactor)."""

    def unseen_strings(
        self,
        fields: Mapping[str, Any],
        out: list[str],
        skip: object = None,
        trusted: frozenset[str] = ...,
    ) -> bool: ...

    def strings_clean(self, strings: list[str]) -> bool: ...

    def may_contain_secrets(self, encoded: bytes) -> bool: ...

    def redact(self, value: Any, path: str) -> tuple[Any, list[str]]: ...


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def check_value(
    value: Any, path: str, depth: int = 0, limit: int = DEFAULT_MAX_EVENT_BYTES
) -> bool:
    """Refuse what JSON cannot carry exactly: NaN/Infinity, non-string keys, naive datetimes,
    bytes, sets and arbitrary objects, and numbers whose text alone would exceed `limit` bytes
    (judged from their exponent or bit length, before any text is made). `path` names the place
    in the event (`data.legs[2].px`). True when orjson would print a value other than RFC 8785
    does (a float, an integer beyond ±(2^53-1)): the event then takes the exact path. Scalars
    inside containers are checked inline: this runs on the caller's hot path."""
    kind = type(value)
    exact = False
    if kind is dict:
        if depth >= MAX_DEPTH:
            raise ValueError(f"{path}: nested deeper than {MAX_DEPTH} levels")
        for key, item in value.items():
            if type(key) is not str:
                raise TypeError(f"{path}: key {key!r} is {type(key).__name__}, keys must be str")
            t = type(item)
            if t is str or t is bool or item is None:
                continue
            if t is int:
                if -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                    continue
            elif t is Decimal:
                if item.is_finite() and -limit < item.adjusted() < limit:
                    continue
            elif t is float and item - item == 0.0:
                exact = True
                continue
            if check_value(item, f"{path}.{key}", depth + 1, limit):
                exact = True
        return exact
    if kind is list or kind is tuple:
        if depth >= MAX_DEPTH:
            raise ValueError(f"{path}: nested deeper than {MAX_DEPTH} levels")
        for i, item in enumerate(value):
            t = type(item)
            if t is str or t is bool or item is None:
                continue
            if t is int and -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                continue
            if check_value(item, f"{path}[{i}]", depth + 1, limit):
                exact = True
        return exact
    if kind is str or kind is bool or value is None:
        return False
    if kind is int:
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return False
        if (value.bit_length() - 1) * 0.30103 >= limit:  # more digits than `limit`
            raise ValueError(
                f"{path}: integer of {value.bit_length()} bits is longer than max_event_bytes"
            )
        return True
    if kind is float:
        if not math.isfinite(value):
            raise ValueError(f"{path}: {value!r} is not a finite number (NaN/Infinity are refused)")
        return True
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{path}: Decimal {value} is not finite")
        if not -limit < value.adjusted() < limit:  # its plain text would have more digits
            raise ValueError(
                f"{path}: the number {value} would be written with more than {limit} digits "
                "(max_event_bytes)"
            )
        return False
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{path}: naive datetime {value.isoformat()} (attach a timezone)")
        return False
    if isinstance(value, date | UUID):
        return False
    if isinstance(value, dtime):
        raise TypeError(f"{path}: a bare time of day is ambiguous; use an aware datetime")
    if isinstance(value, Enum):
        return check_value(value.value, path, depth + 1, limit)
    if isinstance(value, Mapping):
        return check_value(dict(value), path, depth, limit)
    if isinstance(value, float):  # a float subclass
        return check_value(float(value), path, depth, limit)
    if isinstance(value, bool):
        return False
    if isinstance(value, int):  # a subclass orjson encodes as its base type
        return check_value(int(value), path, depth, limit)
    if isinstance(value, str):
        return False
    raise TypeError(
        f"{path}: {kind.__name__} is not JSON serialisable (use str, Decimal, dict, ...)"
    )


def _utf16(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")  # a lone surrogate is refused by orjson


def _exact(value: Any, path: str, big_ints: bool) -> Any:
    """`value` made ready for orjson to print its RFC 8785 text: floats pre-encoded by `rfc8785`,
    objects with keys that sort differently in UTF-16 pre-encoded in that order, and (if
    `big_ints`, for caller data) integers beyond ±(2^53-1) as decimal strings. Other leaves
    (str, Decimal, datetime, UUID) are already printed identically by orjson."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is float:
        return orjson.Fragment(rfc8785.dumps(value))
    if isinstance(value, Mapping):
        items = {k: _exact(v, f"{path}.{k}", big_ints) for k, v in value.items()}
        keys = "".join(items)
        if keys.isascii() or max(keys) < "\ue000":
            return items  # no key outside U+0000..U+DFFF: code point order is UTF-16 order
        parts = [
            orjson.dumps(k) + b":" + orjson.dumps(items[k], default=_default, option=DUMP_OPTIONS)
            for k in sorted(items, key=_utf16)
        ]
        return orjson.Fragment(b"{" + b",".join(parts) + b"}")
    if kind is list or kind is tuple:
        return [_exact(v, f"{path}[{i}]", big_ints) for i, v in enumerate(value)]
    if isinstance(value, Enum):
        return _exact(value.value, path, big_ints)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        number = int(value)
        if not big_ints or -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER:
            return number
        try:
            return str(number)
        except ValueError:  # Python's int_max_str_digits
            raise ValueError(
                f"{path}: integer of more than {sys.get_int_max_str_digits()} digits "
                "(Python's int_max_str_digits) cannot be written"
            ) from None
    if isinstance(value, float):
        return orjson.Fragment(rfc8785.dumps(float(value)))
    return value


def _unencodable_path(groups: list[dict[str, Any]]) -> str:
    """Name the first value orjson refuses (e.g. an integer beyond 64 bits); error path only."""

    def find(value: Any, path: str) -> str | None:
        try:
            orjson.dumps(value, default=_default, option=DUMP_OPTIONS)
            return None
        except (TypeError, orjson.JSONEncodeError):
            pass
        items: Any = ()
        if isinstance(value, Mapping):
            for key in value:
                try:
                    orjson.dumps(key)
                except (TypeError, orjson.JSONEncodeError):
                    return f"{path or 'event'}: key {key!r}"
            items = ((f"{path}.{k}" if path else str(k), v) for k, v in value.items())
        elif isinstance(value, list | tuple):
            items = ((f"{path}[{i}]", v) for i, v in enumerate(value))
        for sub_path, item in items:
            found = find(item, sub_path)
            if found is not None:
                return found
        return path or "event"

    for group in groups:
        found = find(group, "")
        if found is not None:
            return found
    return "event"


def unencodable_text(value: Any, path: str) -> str:
    """Where the first text that UTF-8 cannot carry (a lone surrogate) is, as `data.k` or
    `data: key 'k\\ud800'`; error path only."""

    def find(value: Any, path: str) -> str | None:
        if isinstance(value, str):
            return None if _utf8_ok(value) else path
        items: Any = ()
        if isinstance(value, Mapping):
            for key in value:
                if isinstance(key, str) and not _utf8_ok(key):
                    return f"{path}: key {key!r}"
            items = ((f"{path}.{k}", v) for k, v in value.items())
        elif isinstance(value, list | tuple):
            items = ((f"{path}[{i}]", v) for i, v in enumerate(value))
        for sub_path, item in items:
            found = find(item, sub_path)
            if found is not None:
                return found
        return None

    return find(value, path) or path


def _utf8_ok(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def encode_value(value: Any, path: str) -> bytes:
    """Check and encode one value canonically."""
    exact = check_value(value, path)
    try:
        if exact or not orjson.dumps(value, default=_default, option=DUMP_OPTIONS).isascii():
            value = _exact(value, path, True)
        return orjson.dumps(value, default=_default, option=DUMP_OPTIONS)
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise TypeError(f"{path}: cannot be encoded as JSON: {exc}") from None


def field_text(name: str, value: int | UUID | Decimal) -> str:
    """An id given as a number, as text; refused before a huge one is formatted."""
    if isinstance(value, int) and value.bit_length() > 4 * MAX_FIELD_CHARS:
        raise ValueError(f"{name}: must be 1..{MAX_FIELD_CHARS} characters")
    return str(value)


def new_event_id() -> str:
    """UUIDv7: time-ordered, so ids sort roughly by creation time in any index."""
    return str(uuid_utils.uuid7())


def shown(value: Any, limit: int = 80) -> str:
    """A value as an error message shows it: never raising (Python refuses to print an int of
    more than 4300 digits) and never huge."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        return f"an integer of {value.bit_length()} bits"
    try:
        text = repr(value)
    except Exception:
        text = f"a {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _calendar_problem(text: str) -> str | None:
    """What is wrong with the fields of a string RFC3339_ANY matched (the regex only checks its
    shape): month 13, day 45, hour 99, an offset of +25:00."""
    try:
        date.fromisoformat(text[:10])
    except ValueError as exc:
        return str(exc)
    hour, minute, second = int(text[11:13]), int(text[14:16]), int(text[17:19])
    if hour > 23 or minute > 59 or second > 60:  # 60: a leap second, which RFC 3339 allows
        return "time of day out of range"
    if text[-1] not in "Zz" and (int(text[-5:-3]) > 23 or int(text[-2:]) > 59):
        return "offset out of range"
    return None


def _event_ts(value: Any) -> str:
    if isinstance(value, datetime):
        try:
            return format_datetime(value)
        except ValueError as exc:
            raise ValueError(f"event_ts: {exc}") from None
    if type(value) is int:
        if not 0 <= value < MAX_TS_NS:
            raise ValueError(
                f"event_ts: {shown(value)} ns is outside 1970-01-01..9999-12-31 UTC "
                "(int event_ts is nanoseconds since the Unix epoch)"
            )
        return format_ns_precise(value)
    if isinstance(value, str):
        if not RFC3339_ANY.match(value):
            raise ValueError(f"event_ts: {shown(value)} is not an RFC 3339 timestamp")
        problem = _calendar_problem(value)
        if problem:
            raise ValueError(f"event_ts: {shown(value)} is not a valid RFC 3339 time ({problem})")
        return value
    raise TypeError(
        "event_ts: expected an aware datetime, an RFC 3339 string or int nanoseconds, "
        f"got {type(value).__name__}"
    )


# Where each caller-set field sorts relative to the writer's keys prev < seq < spill < ts
# (redacted and schema_error, set by prepare() itself, sort between prev and seq):
# 0 before "prev", 1 between "prev" and "seq", 2 between "seq" and "ts", 3 after "ts".
_GROUP: Final = {
    "account": 0,
    "actor": 0,
    "client_order_id": 0,
    "context": 0,
    "correlation_id": 0,
    "data": 0,
    "event_id": 0,
    "event_ts": 0,
    "exchange_order_id": 0,
    "order_id": 0,
    "parent_order_id": 0,
    "priority": 1,
    "signal_id": 2,
    "source": 2,
    "span_id": 2,
    "strategy": 2,
    "symbol": 2,
    "trace_id": 2,
    "type": 3,
    "venue": 3,
}


_valid_types: set[str] = set()  # event types already checked (bounded): skips the regex
_STRING_GROUP: Final = {name: group for name, group in _GROUP.items() if name in STRING_FIELDS}


class Prepared:
    """An event validated and encoded by the caller: the canonical line of its record minus
    the writer's prev, seq and ts, cut where those go. The writer thread only concatenates."""

    __slots__ = ("event_id", "p0", "p1", "p2", "p3", "redacted", "schema_error")

    def __init__(self, event_id: str, groups: list[dict[str, Any]]) -> None:
        self.event_id = event_id
        self.redacted: list[str] | None = groups[1].get("redacted")
        self.schema_error: str | None = groups[1].get("schema_error")
        dumps = orjson.dumps
        a, b, c, d = groups
        self.p0 = b"{" + dumps(a, default=_default, option=DUMP_OPTIONS)[1:-1] + b',"prev":"'
        self.p1 = b'",' + dumps(b, option=SORT)[1:-1] + b',"seq":' if b else b'","seq":'
        self.p2 = (
            b"," + dumps(c, default=_default, option=DUMP_OPTIONS)[1:-1] + b',"ts":"'
            if c
            else b',"ts":"'
        )
        self.p3 = b'",' + dumps(d, option=SORT)[1:-1] + b"}"

    @classmethod
    def from_parts(cls, parts: tuple[bytes, bytes, bytes, bytes]) -> Prepared:
        """An event another process prepared, from its four parts as they crossed the writer's
        channel: checked to splice into a canonical record (see `check_parts`)."""
        self = cls.__new__(cls)
        self.p0, self.p1, self.p2, self.p3 = parts
        record = check_parts(parts)
        self.event_id = record["event_id"]
        self.redacted = record.get("redacted")
        self.schema_error = record.get("schema_error")
        return self

    def parts(self) -> tuple[bytes, bytes, bytes, bytes]:
        return (self.p0, self.p1, self.p2, self.p3)

    def line(self, prev: bytes, seq: int, ts: bytes) -> bytes:
        """The canonical record line (no newline) given the writer's fields."""
        return self.p0 + prev + self.p1 + b"%d" % seq + self.p2 + ts + self.p3

    def fields(self) -> dict[str, Any]:
        """The caller-set fields as plain JSON values (for the spill file)."""
        record: dict[str, Any] = orjson.loads(self.line(b"", 0, b""))
        for name in WRITER_FIELDS:
            record.pop(name, None)
        return record

    def __len__(self) -> int:
        return len(self.p0) + len(self.p1) + len(self.p2) + len(self.p3) + 160


class RawEvent:
    """An event as the caller gave it, checked only as far as must raise at once, encoded once
    and not yet shaped: the writer process validates, redacts and encodes it (`decode_raw`,
    then `prepare`). Holds caller values unredacted, so it never leaves memory shared with the
    writer: a client that must spill it prepares it first."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    @property
    def event_id(self) -> str:
        """Read from the bytes (`["<type>","<event id>",...`; a type needs no escaping), so
        that record() need not keep it twice."""
        start = self.raw.index(b'","', 2) + 3
        return self.raw[start : start + 36].decode()

    def __len__(self) -> int:
        return len(self.raw) + 256


_RAW_OPTIONS: Final = (
    orjson.OPT_PASSTHROUGH_DATETIME  # dates and times: the caller's prepare() formats them
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS  # str/int/dict subclasses: prepare() decides
)
_RAW_MARGIN: Final = 1024  # envelope bytes the writer adds (source, ids)
_NULL_VALUE: Final = re.compile(rb"[:,\[]null")  # null as a value (orjson writes no spaces)
_FLOAT: Final = re.compile(rb"[:,\[]-?[0-9]+(?:\.[0-9]+(?![0-9E])|e)")
"""A float as orjson writes it (a fraction, or a small-e exponent); a Decimal's number always
ends in a capital-E exponent (_raw_default), so its fraction is never followed by a delimiter.
Text inside a string rarely matches; when it does the event just takes the full path."""


def _raw_default(value: Any) -> Any:
    """A Decimal as a JSON number in exponent form with a capital E (`1.50E0`, `1E+2`), which
    orjson never writes for a float: the writer reads it back as this very Decimal."""
    if type(value) is Decimal and value.is_finite() and -256 < value.adjusted() < 256:
        text = str(value)
        return orjson.Fragment(text if "E" in text else text + "E0")
    raise TypeError  # anything else takes the caller's full path


def encode_raw_py(
    event_type: str, data: Any, fields: Mapping[str, Any], max_bytes: int
) -> RawEvent | None:
    """The reference of `encode_raw`: the caller's minimum for the common event, or None when
    the event needs the full `prepare()` here (it raises at once for a bad event, as record()
    promises): a type seen valid before; only correlation-like string fields; data a dict of
    what JSON carries as prepare() would write it (no NaN, no datetimes, no nesting near
    MAX_DEPTH, well under the size limit). The writer's prepare() of the decoded values gives
    the same bytes."""
    if event_type not in _valid_types:
        return None
    if fields:
        if not fields.keys() <= STRING_FIELDS:
            return None
        for value in fields.values():
            if type(value) is not str or not 0 < len(value) <= MAX_FIELD_CHARS:
                return None
    nested = False
    if data is not None:
        if type(data) is not dict:
            return None
        for value in data.values():  # a flat event is judged here, with no scan of its bytes
            kind = type(value)
            if kind is float or value is None:  # (a NaN is a float: prepare() refuses it)
                return None
            if kind is dict or kind is list or kind is tuple:
                nested = True
    event_id = str(uuid_utils.uuid7())
    try:
        if data is None:
            raw = orjson.dumps((event_type, event_id, fields), option=_RAW_OPTIONS)
        else:
            raw = orjson.dumps(
                (event_type, event_id, fields, data), default=_raw_default, option=_RAW_OPTIONS
            )
    except (TypeError, orjson.JSONEncodeError):
        return None
    if len(raw) + _RAW_MARGIN > max_bytes:
        return None
    if nested and (
        (b"null" in raw and _NULL_VALUE.search(raw) is not None)  # a None or NaN inside
        or _FLOAT.search(raw) is not None  # a float inside: prepare() writes it exactly (JCS)
        or raw.count(b"{") + raw.count(b"[") >= MAX_DEPTH
    ):
        return None
    return RawEvent(raw)


RawEncoder = Callable[[str, Any, Mapping[str, Any], int], "bytes | None"]


def _load_raw_encoder() -> RawEncoder | None:
    if not accelerator_wanted():
        return None
    try:
        from . import _rawjson
    except ImportError:
        return None
    _rawjson.configure(_valid_types, STRING_FIELDS, Decimal, MAX_FIELD_CHARS, _RAW_MARGIN)
    return _rawjson.encode_raw


encode_raw_c: Final = _load_raw_encoder()
"""The compiled encoder (core/_rawjson.c), or None: it returns the bytes of a RawEvent where
`encode_raw_py` returns the event (and may return None more often, never guessing)."""


def encode_raw(
    event_type: str, data: Any, fields: Mapping[str, Any], max_bytes: int
) -> RawEvent | None:
    """The caller's minimum for the common event (see `encode_raw_py`), compiled when the
    accelerator is built."""
    if encode_raw_c is None:
        return encode_raw_py(event_type, data, fields, max_bytes)
    raw = encode_raw_c(event_type, data, fields, max_bytes)
    return None if raw is None else RawEvent(raw)


_RAW_DECODER: Final = msgspec.json.Decoder(float_hook=Decimal)
"""Numbers with a fraction or exponent are the caller's Decimals (floats never take the raw
path): read back exactly, as Decimals."""


def decode_raw(raw: bytes) -> tuple[str, Any, dict[str, Any]]:
    """(type, data, fields with event_id) of a RawEvent's bytes; PartsError when they are not
    what encode_raw makes (a foreign client)."""
    try:
        value = _RAW_DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        raise PartsError(f"not JSON: {exc}") from None
    if (
        type(value) is not list
        or len(value) not in (3, 4)
        or type(value[0]) is not str
        or type(value[1]) is not str
        or type(value[2]) is not dict
        or (len(value) == 4 and type(value[3]) is not dict)
    ):
        raise PartsError("not [type, event_id, fields(, data)]")
    if not EVENT_ID_PATTERN.match(value[1]):
        raise PartsError(f"event_id: {shown(value[1])} is not a lower-case UUID string")
    fields = value[2]
    fields["event_id"] = value[1]
    return value[0], value[3] if len(value) == 4 else None, fields


_PROBE_PREV: Final = b"0" * 64
_PROBE_TS: Final = b"2000-01-01T00:00:00.000000Z"


def check_parts(parts: tuple[bytes, bytes, bytes, bytes]) -> dict[str, Any]:
    """The record that `parts` splice into with placeholder prev/seq/ts, after checking that it
    is one canonical JSON object whose prev, seq and ts are exactly where the writer puts them,
    with a valid event id and type and nothing a caller may not set: the writer's defence
    against bytes it did not prepare itself. Raises PartsError naming the fault."""
    line = parts[0] + _PROBE_PREV + parts[1] + b"0" + parts[2] + _PROBE_TS + parts[3]
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise PartsError(f"not JSON: {exc}") from None
    if type(record) is not dict:
        raise PartsError("not a JSON object")
    if (
        record.get("prev") != _PROBE_PREV.decode()
        or record.get("seq") != 0
        or record.get("ts") != _PROBE_TS.decode()
    ):
        raise PartsError("prev, seq and ts are not where the writer puts them")
    if not is_canonical(line, record):
        raise PartsError("not canonical JSON (key order, spacing or duplicate keys)")
    event_id, kind = record.get("event_id"), record.get("type")
    if type(event_id) is not str or not EVENT_ID_PATTERN.match(event_id):
        raise PartsError(f"event_id: {shown(event_id)} is not a lower-case UUID string")
    if type(kind) is not str or not TYPE_PATTERN.match(kind):
        raise PartsError(f"type: {shown(kind)} is not a dotted lower-case event type")
    if "spill" in record:
        raise PartsError("spill: set by the writer, not by a client")
    return record


def prepare(
    event_type: str,
    data: Any,
    fields: Mapping[str, Any],
    source: orjson.Fragment | None,
    max_bytes: int,
    *,
    model: DataModel | None = None,
    redactor: SecretFilter | None = None,
    strict: bool = False,
) -> Prepared:
    """Validate one event and encode it canonically, naming the field at fault.

    With a `model`, `data` is checked against the struct of its type; an unknown type is
    recorded free-form, and data that does not match a known type is recorded as given with a
    `schema_error` (the trail keeps the evidence) unless `strict`, which raises instead. With a
    `redactor`, secrets are replaced before the bytes exist anywhere but here: the encoded event
    is pre-checked in C and, on a hit, its values are redacted and it is encoded again, with the
    redacted paths in `redacted`. `source` (the trail's default source) is redacted once by the
    trail, not here."""
    if event_type not in _valid_types:
        if type(event_type) is not str or not TYPE_PATTERN.match(event_type):
            raise ValueError(
                f"type: {shown(event_type)} is not a dotted lower-case event type "
                "such as 'order.accepted'"
            )
        if len(_valid_types) < 4096:
            _valid_types.add(event_type)
    groups: list[dict[str, Any]] = [{}, {}, {}, {"type": event_type}]
    event_id: str | None = None
    exact = False  # a value orjson prints otherwise than RFC 8785
    string_group = _STRING_GROUP
    for name, value in fields.items():
        group = string_group.get(name)
        if group is not None and type(value) is str and 0 < len(value) <= MAX_FIELD_CHARS:
            groups[group][name] = value  # the common case: a correlation id
            continue
        if value is None:
            continue
        group = _GROUP.get(name)
        if group is None or name == "type" or name == "data":
            if name in WRITER_FIELDS or name in LIBRARY_FIELDS:
                raise ValueError(f"{name}: set by tradetrail, not by the caller")
            raise TypeError(
                f"{name}: unknown envelope field (known: {', '.join(sorted(ENVELOPE_FIELDS))}); "
                "put event details in data"
            )
        if name in STRING_FIELDS:
            if type(value) is not str:
                if isinstance(value, int | UUID | Decimal) and not isinstance(value, bool):
                    value = field_text(name, value)
                else:
                    raise TypeError(f"{name}: expected str, got {type(value).__name__}")
            if not value or len(value) > MAX_FIELD_CHARS:
                raise ValueError(f"{name}: must be 1..{MAX_FIELD_CHARS} characters")
        elif name == "event_id":
            value = str(value) if isinstance(value, UUID | uuid_utils.UUID) else value
            if type(value) is not str or not EVENT_ID_PATTERN.match(value):
                raise ValueError(f"event_id: {shown(fields[name])} is not a lower-case UUID string")
            event_id = value
        elif name == "event_ts":
            value = _event_ts(value)
        elif name == "priority":
            if value not in PRIORITIES:
                raise ValueError(f"priority: {shown(value)} is not one of {sorted(PRIORITIES)}")
        elif name == "context":
            if not isinstance(value, Mapping):
                raise TypeError(f"context: expected a mapping, got {type(value).__name__}")
            value = dict(value)
            exact = check_value(value, "context", 0, max_bytes) or exact
        else:  # source
            if not isinstance(value, Mapping):
                raise TypeError(f"source: expected a mapping, got {type(value).__name__}")
            value = dict(value)
            exact = check_value(value, "source", 0, max_bytes) or exact
        groups[group][name] = value
    if event_id is None:
        event_id = str(uuid_utils.uuid7())
        groups[0]["event_id"] = event_id
    if source is not None and "source" not in groups[2]:
        groups[2]["source"] = source
    if model is not None:
        data, schema_error = model.conform(event_type, data, strict=strict)
        if schema_error is not None:
            groups[1]["schema_error"] = schema_error
    if data is not None:
        if type(data) is not dict:
            if not isinstance(data, Mapping):
                raise TypeError(f"data: expected a mapping (dict), got {type(data).__name__}")
            data = dict(data)
        exact = check_value(data, "data", 0, max_bytes) or exact
        groups[0]["data"] = data
    prepared = _encode(event_id, groups, exact)
    if (
        redactor is not None
        and not _known_clean(redactor, fields, groups, data, source)
        and (redactor.may_contain_secrets(prepared.p0 + prepared.p1 + prepared.p2 + prepared.p3))
    ):
        paths = _redact_groups(groups, redactor, source)
        if paths:
            groups[1]["redacted"] = paths
            prepared = _encode(event_id, groups, exact)
    if len(prepared) > max_bytes:
        raise ValueError(
            f"event of {len(prepared)} bytes exceeds the limit of {max_bytes} bytes "
            "(max_event_bytes)"
        )
    return prepared


_WIDE: Final = re.compile(rb"[\xee-\xf4]")  # UTF-8 lead bytes of U+E000 and above


def _encode(event_id: str, groups: list[dict[str, Any]], exact: bool) -> Prepared:
    """The fast path (orjson, sorted keys) unless a value needs the exact RFC 8785 one: `exact`
    from check_value, or a character at or above U+E000, which could be in a key whose UTF-16
    order differs from its code point order (a plain byte scan, nothing for ASCII)."""
    try:
        if not exact:
            prepared = Prepared(event_id, groups)
            p0, p2 = prepared.p0, prepared.p2
            if (p0.isascii() or _WIDE.search(p0) is None) and (
                p2.isascii() or _WIDE.search(p2) is None
            ):
                return prepared
        exact_groups = [groups[0].copy(), groups[1], groups[2].copy(), groups[3]]
        for name in ("context", "data"):  # the free-form objects of group 0
            if name in exact_groups[0]:
                exact_groups[0][name] = _exact(exact_groups[0][name], name, True)
        source = exact_groups[2].get("source")
        if source is not None and type(source) is not orjson.Fragment:
            exact_groups[2]["source"] = _exact(source, "source", True)
        return Prepared(event_id, exact_groups)
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise TypeError(f"{_unencodable_path(groups)}: cannot be encoded as JSON: {exc}") from None


_NOT_REDACTED: Final = frozenset({"type", "event_id", "event_ts", "priority"})  # checked formats


def _known_clean(
    redactor: SecretFilter,
    fields: Mapping[str, Any],
    groups: list[dict[str, Any]],
    data: dict[str, Any] | None,
    default_source: orjson.Fragment | None,
) -> bool:
    """The common case of a flat event, decided without encoding it: no secret key, and its
    strings either seen clean before or passing one pre-check together."""
    unseen: list[str] = []
    if not redactor.unseen_strings(fields, unseen, None, _NOT_REDACTED):
        return False
    if data is not None and not redactor.unseen_strings(data, unseen):
        return False
    source = groups[2].get("source")
    if (
        source is not None
        and source is not default_source
        and not redactor.unseen_strings(source, unseen)
    ):
        return False
    return redactor.strings_clean(unseen)


def _redact_groups(
    groups: list[dict[str, Any]], redactor: SecretFilter, default_source: orjson.Fragment | None
) -> list[str]:
    """Redact every caller-set value in place; the redacted paths, in field order."""
    paths: list[str] = []
    for group in groups:
        for name, value in group.items():
            if name in _NOT_REDACTED or value is default_source:
                continue
            new, found = redactor.redact(value, name)
            if found:
                group[name] = new
                paths.extend(found)
    return paths


def build_envelope(
    event_type: str,
    data: Any,
    fields: Mapping[str, Any],
    source: bytes | None = None,
    max_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    *,
    model: DataModel | None = None,
    redactor: SecretFilter | None = None,
    strict: bool = False,
) -> dict[str, Any]:
    """The record fields (all but seq/ts/prev) as plain JSON values; validates like record()."""
    fragment = orjson.Fragment(source) if source is not None else None
    return prepare(
        event_type, data, fields, fragment, max_bytes, model=model, redactor=redactor, strict=strict
    ).fields()


def encode_record(env: dict[str, Any]) -> bytes:
    """The canonical (RFC 8785) line of a record of plain JSON values, without newline; as
    `record()` writes it. Integers are written as they are: an integer beyond ±(2^53-1) here is
    a float JCS printed as one (`1e16`), which must stay a number; `record()` made caller
    integers that large strings before they were ever encoded."""
    return orjson.dumps(_exact(env, "record", False), option=SORT)


def _numbers_as_text(value: Any) -> Any:
    if value is None or type(value) is bool:
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return rfc8785.dumps(value).decode()
    if isinstance(value, dict):
        return {k: _numbers_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers_as_text(v) for v in value]
    return value


def event_identity(fields: dict[str, Any]) -> bytes:
    """Bytes that are equal for the same event however a version wrote it down: every number as
    its exact text, so a 0.1 spill entry ({"px": 1.0}, a bare 2**53+1) and the JCS line it was
    journaled as ({"px": 1}, "9007199254740993") agree. Used to merge a spilled event once."""
    return orjson.dumps(_numbers_as_text(fields), option=SORT)


def is_canonical(line: bytes, parsed: Any) -> bool:
    """Whether a journal line is exactly the canonical encoding of what it parses to: its RFC
    8785 encoding (tradetrail 0.2 on), or orjson's sorted-keys encoding, which lines written
    before differ from only in floats and in keys sorting differently in UTF-16."""
    if orjson.dumps(parsed, option=SORT) == line:
        return True
    try:
        return encode_record(parsed) == line
    except (TypeError, ValueError, orjson.JSONEncodeError):
        return False
