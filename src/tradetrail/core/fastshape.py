"""The writer's shaping of the common raw event, compiled (core/_shape.c): for an event of a
known flat type, what `prepare()` makes of `decode_raw()` of its bytes, without either.

Shaping a raw event in Python costs the writer ~12 us (decoding, the schema check, the
redaction check, encoding), which bounds a writer process far below a log call's rate. The
compiled shaper reads the narrow form the caller's encoder writes, checks each value against
the kind of its field (a plain string, a string among a Literal's values, an integer within
I-JSON's range, a boolean, a decimal as text, as an integer or as the encoder's `1.50E0`),
and declines (answers None) whenever it is not certain: an unknown type or field, a missing
required field, any other form, a secret key, or a string that is not printable ASCII without
quotes, backslashes, ':' or '=' and free of every fragment the redactor's built-in patterns
start from. A declined event takes the reference path (`decode_raw` + `prepare`), which is
also what runs without the accelerator: same bytes either way (tests/core/test_fastshape.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, Protocol

from .canonical import _GROUP, MAX_FIELD_CHARS, STRING_FIELDS, Prepared
from .chain import accelerator_wanted

DECLINE: Final = 0
"""A field whose value the compiled shaper never judges (a datetime, a float, a constrained or
nested type, a secret key): an event that has it takes the reference path."""
STR: Final = 1
DECIMAL: Final = 2
INT: Final = 3
BOOL: Final = 4
LITERAL: Final = 5
STRINGS: Final = 6  # a list of plain strings

FieldSpec = tuple[str, int, bool, tuple[str, ...]]
"""(name, kind, required, allowed values of a LITERAL)."""

# envelope roles (core/_shape.c)
_ROLE_STRING, _ROLE_SECRET, _ROLE_EVENT_ID, _ROLE_DATA, _ROLE_SOURCE, _ROLE_TYPE = range(6)
_NEVER_SHAPED: Final = frozenset({"log.fallback"})  # counted as fallbacks by the writer


class FlatModel(Protocol):
    """What the shaper needs of an event model (tradetrail.model.events.EventModel)."""

    def types(self) -> list[str]: ...

    def flat_fields(self, event_type: str) -> list[FieldSpec] | None: ...


class KeyJudge(Protocol):
    """What the shaper needs of a redactor (tradetrail.model.redact.Redactor)."""

    def is_secret_key(self, key: str) -> bool: ...

    @property
    def builtin_patterns_only(self) -> bool: ...


_ROLES: Final = {
    "event_id": _ROLE_EVENT_ID,
    "data": _ROLE_DATA,
    "source": _ROLE_SOURCE,
    "type": _ROLE_TYPE,
}


def _envelope_keys(redactor: KeyJudge | None) -> list[tuple[str, int, int]]:
    """Every key a shaped record has, sorted as the canonical line has them, with its group
    (where it sorts against prev, seq and ts) and its role."""
    keys = []
    for name, group in _GROUP.items():
        if name in STRING_FIELDS:
            secret = redactor is not None and redactor.is_secret_key(name)
            keys.append((name, group, _ROLE_SECRET if secret else _ROLE_STRING))
        elif name in _ROLES:
            keys.append((name, group, _ROLES[name]))
    return sorted(keys)


def _type_specs(model: FlatModel, redactor: KeyJudge | None) -> dict[str, list[FieldSpec]]:
    specs = {}
    for event_type in model.types():
        fields = model.flat_fields(event_type)
        if fields is None or event_type in _NEVER_SHAPED:
            continue
        if redactor is not None:  # a secret key's value is replaced whole: not judged here
            fields = [
                (spec[0], DECLINE, spec[2], ()) if redactor.is_secret_key(spec[0]) else spec
                for spec in fields
            ]
        specs[event_type] = sorted(fields)
    return specs


class CompiledShaper:
    """The compiled shaper of one writer, for its event model and redactor as they are now
    (`stale()` says when the model has gained types since)."""

    def __init__(self, model: FlatModel, redactor: KeyJudge | None, max_bytes: int) -> None:
        from . import _shape  # ImportError without the accelerator: see `load`

        self._model = model
        self._count = len(model.types())
        self._shaper = _shape.Shaper(
            _type_specs(model, redactor),
            _envelope_keys(redactor),
            redactor is not None,
            MAX_FIELD_CHARS,
            max_bytes,
            Prepared,
        )
        self.shape: Callable[[bytes, bytes | None], Prepared | None] = self._shaper.shape
        """The Prepared that prepare() gives for this raw event (with the connection's default
        source, as bytes), or None when it must take that reference path: the compiled call
        itself, with nothing redacted and no schema error in what it answers."""

    def stale(self) -> bool:
        return len(self._model.types()) != self._count


def load(model: FlatModel, redactor: Any, max_bytes: int) -> CompiledShaper | None:
    """The compiled shaper, or None without the accelerator, or with a redactor whose rules the
    compiled check cannot vouch for (extra value patterns, or another kind of filter)."""
    if not accelerator_wanted():
        return None
    if redactor is not None and not getattr(redactor, "builtin_patterns_only", False):
        return None
    try:
        return CompiledShaper(model, redactor, max_bytes)
    except ImportError:
        return None
