"""JSON read from people and other programs (the CLI's `record`, the future HTTP ingest), parsed
exactly: a price of `12345678901234567.891` must reach the journal as written, never through a
binary float. Integers stay integers; every number with a fraction or an exponent, and every
integer beyond 64 bits, becomes an exact `Decimal` (journaled as a decimal string)."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from ..errors import ExactJSONError

__all__ = ["MAX_NUMBER_CHARS", "ExactJSONError", "loads_exact"]

MAX_NUMBER_CHARS: Final = 1000
"""Longer number literals are refused: no price or quantity needs them, and reading one must not
cost the caller seconds (Python's int parsing is quadratic)."""

_INT64: Final = 2**63


def _number_check(text: str) -> None:
    if len(text) > MAX_NUMBER_CHARS:
        raise ExactJSONError(
            f"a JSON number of {len(text)} characters (the limit is {MAX_NUMBER_CHARS})"
        )


def _parse_int(text: str) -> int | Decimal:
    _number_check(text)
    value = int(text)
    return value if -_INT64 <= value < _INT64 else Decimal(text)


def _parse_float(text: str) -> Decimal:
    _number_check(text)
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - json only hands over valid number text
        raise ExactJSONError(f"{text!r} is not a JSON number") from None


def _refuse_constant(name: str) -> Any:
    raise ExactJSONError(f"{name} is not JSON (JSON has no NaN or Infinity)")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ExactJSONError(f"duplicate key {key!r} in one JSON object")
            seen.add(key)
    return obj


_DECODER: Final = json.JSONDecoder(
    parse_float=_parse_float,
    parse_int=_parse_int,
    parse_constant=_refuse_constant,
    object_pairs_hook=_object,
)


def loads_exact(text: str | bytes) -> Any:
    """Parse one JSON document exactly; raise `ExactJSONError` saying what is wrong and where."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ExactJSONError(f"not UTF-8 at byte {exc.start}") from None
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise ExactJSONError(
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except ExactJSONError:
        raise
    except RecursionError:
        raise ExactJSONError("not accepted: JSON nested too deeply") from None
    except ValueError as exc:  # e.g. Python's own limit on integer digits
        raise ExactJSONError(f"not valid JSON: {exc}") from None


def loads_event_line(raw: bytes | str) -> tuple[Any, Any, dict[str, Any]]:
    """(type, data, envelope fields) of one event as a JSON object, the line format of
    `tradetrail record -` and of the service's POST /v1/events, numbers read exactly."""
    obj = loads_exact(raw)
    if not isinstance(obj, dict):
        raise ExactJSONError(f"expected a JSON object, got {type(obj).__name__}")
    kind = obj.pop("type", None)
    if kind is None:
        raise ExactJSONError("missing 'type'")
    return kind, obj.pop("data", None), obj
