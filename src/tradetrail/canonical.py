"""Validation and canonical JSON encoding of events, done in the caller of `record()`.

The journal line of a record is `orjson.dumps(fields, OPT_SORT_KEYS)`: sorted keys, no spaces,
UTF-8. Values are checked before encoding because orjson would silently turn NaN into null and
accept naive datetimes; a bad value must fail in the caller, naming the field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date, datetime
from datetime import time as dtime
from decimal import Decimal
from enum import Enum
from typing import Any, Final
from uuid import UUID

import orjson
import uuid_utils

from .timefmt import RFC3339_ANY, format_datetime, format_ns_precise

SORT: Final = orjson.OPT_SORT_KEYS
DUMP_OPTIONS: Final = orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z
DEFAULT_MAX_EVENT_BYTES: Final = 1024 * 1024
MAX_DEPTH: Final = 64

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
STRING_FIELDS: Final = frozenset({"actor", *CORRELATION_FIELDS})
ENVELOPE_FIELDS: Final = frozenset({"event_id", "event_ts", "source", "priority", *STRING_FIELDS})
PRIORITIES: Final = frozenset({"debug", "low", "normal", "high", "critical"})
TYPE_PATTERN: Final = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
EVENT_ID_PATTERN: Final = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)
MAX_FIELD_CHARS: Final = 512

_SCALARS: Final = (str, int, bool, type(None))


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def check_value(value: Any, path: str, depth: int = 0) -> None:
    """Refuse what JSON cannot carry exactly: NaN/Infinity, non-string keys, naive datetimes,
    bytes, sets and arbitrary objects. `path` names the place in the event (`data.legs[2].px`)."""
    kind = type(value)
    if kind in _SCALARS:
        return
    if kind is float:
        if not math.isfinite(value):
            raise ValueError(f"{path}: {value!r} is not a finite number (NaN/Infinity are refused)")
        return
    if depth >= MAX_DEPTH:
        raise ValueError(f"{path}: nested deeper than {MAX_DEPTH} levels")
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise TypeError(f"{path}: key {key!r} is {type(key).__name__}, keys must be str")
            check_value(item, f"{path}.{key}", depth + 1)
        return
    if kind is list or kind is tuple:
        for i, item in enumerate(value):
            check_value(item, f"{path}[{i}]", depth + 1)
        return
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{path}: Decimal {value} is not finite")
        return
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{path}: naive datetime {value.isoformat()} (attach a timezone)")
        return
    if isinstance(value, date | UUID):
        return
    if isinstance(value, dtime):
        raise TypeError(f"{path}: a bare time of day is ambiguous; use an aware datetime")
    if isinstance(value, Enum):
        check_value(value.value, path, depth + 1)
        return
    if isinstance(value, Mapping):
        check_value(dict(value), path, depth)
        return
    if isinstance(value, float):  # a float subclass
        check_value(float(value), path, depth)
        return
    if isinstance(value, str | int):  # subclasses orjson encodes as their base type
        return
    raise TypeError(
        f"{path}: {kind.__name__} is not JSON serialisable (use str, Decimal, dict, ...)"
    )


def encode_value(value: Any, path: str) -> bytes:
    """Check and encode one value canonically."""
    check_value(value, path)
    try:
        return orjson.dumps(value, default=_default, option=DUMP_OPTIONS)
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise TypeError(f"{path}: cannot be encoded as JSON: {exc}") from None


def new_event_id() -> str:
    """UUIDv7: time-ordered, so ids sort roughly by creation time in any index."""
    return str(uuid_utils.uuid7())


def _event_ts(value: Any) -> str:
    if isinstance(value, datetime):
        try:
            return format_datetime(value)
        except ValueError as exc:
            raise ValueError(f"event_ts: {exc}") from None
    if type(value) is int:
        if value < 0:
            raise ValueError("event_ts: negative nanosecond timestamp")
        return format_ns_precise(value)
    if isinstance(value, str):
        if not RFC3339_ANY.match(value):
            raise ValueError(f"event_ts: {value!r} is not an RFC 3339 timestamp")
        return value
    raise TypeError(
        "event_ts: expected an aware datetime, an RFC 3339 string or int nanoseconds, "
        f"got {type(value).__name__}"
    )


def build_envelope(
    event_type: str,
    data: Any,
    fields: Mapping[str, Any],
    source: bytes | None,
    max_bytes: int,
) -> dict[str, Any]:
    """Validate one event and return the record's fields (all but seq/ts/prev) with nested
    values pre-encoded as `orjson.Fragment`, so later mutation by the caller cannot change
    what is written and the writer thread only splices."""
    if type(event_type) is not str or not TYPE_PATTERN.match(event_type):
        raise ValueError(
            f"type: {event_type!r} is not a dotted lower-case event type such as 'order.accepted'"
        )
    env: dict[str, Any] = {"type": event_type}
    size = len(event_type) + 64
    for name, value in fields.items():
        if value is None:
            continue
        if name in STRING_FIELDS:
            if type(value) is not str:
                if isinstance(value, int | UUID | Decimal) and not isinstance(value, bool):
                    value = str(value)
                else:
                    raise TypeError(f"{name}: expected str, got {type(value).__name__}")
            if not value or len(value) > MAX_FIELD_CHARS:
                raise ValueError(f"{name}: must be 1..{MAX_FIELD_CHARS} characters")
            env[name] = value
        elif name == "event_id":
            text = str(value) if isinstance(value, UUID | uuid_utils.UUID) else value
            if type(text) is not str or not EVENT_ID_PATTERN.match(text):
                raise ValueError(f"event_id: {value!r} is not a lower-case UUID string")
            env[name] = text
        elif name == "event_ts":
            env[name] = _event_ts(value)
        elif name == "priority":
            if value not in PRIORITIES:
                raise ValueError(f"priority: {value!r} is not one of {sorted(PRIORITIES)}")
            env[name] = value
        elif name == "source":
            if not isinstance(value, Mapping):
                raise TypeError(f"source: expected a mapping, got {type(value).__name__}")
            encoded = encode_value(dict(value), "source")
            size += len(encoded)
            env[name] = orjson.Fragment(encoded)
        elif name in WRITER_FIELDS:
            raise ValueError(f"{name}: set by the writer, not by the caller")
        else:
            raise TypeError(
                f"{name}: unknown envelope field (known: {', '.join(sorted(ENVELOPE_FIELDS))}); "
                "put event details in data"
            )
    if "event_id" not in env:
        env["event_id"] = new_event_id()
    if "source" not in env and source is not None:
        env["source"] = orjson.Fragment(source)
    if data is not None:
        if not isinstance(data, Mapping):
            raise TypeError(f"data: expected a mapping (dict), got {type(data).__name__}")
        encoded = encode_value(data if type(data) is dict else dict(data), "data")
        size += len(encoded)
        env["data"] = orjson.Fragment(encoded)
    if size > max_bytes:
        raise ValueError(f"event of about {size} bytes exceeds the limit of {max_bytes} bytes")
    return env


def encode_record(env: dict[str, Any]) -> bytes:
    """The canonical line of a record (without newline)."""
    return orjson.dumps(env, option=SORT)


def is_canonical(line: bytes, parsed: Any) -> bool:
    """Whether a journal line is exactly the canonical encoding of what it parses to."""
    return orjson.dumps(parsed, option=SORT) == line
