"""Envelope fields bound to the current context, so deep code need not pass them around.

    with tradetrail.bind(strategy="momentum-1", account="ACC-1"):
        ...   # every record() in this block (and in tasks started from it) carries both

The fields live in a `ContextVar`: each thread has its own, an asyncio task starts with a copy
of its creator's, and nesting merges (the inner block wins; binding a field to None hides it
for the inner block). Values are checked when bound, so a bad one fails at the `bind`, not at
every later record. `bound_fields()` is on the hot path of `record()`: it returns a cached
read-only mapping, one `ContextVar.get` when nothing is bound.

`trace_fields()` gives the active OpenTelemetry trace and span ids when OpenTelemetry is
installed; it is optional and never fails.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from decimal import Decimal
from types import MappingProxyType, TracebackType
from typing import Any, Final, TypeVar, cast
from uuid import UUID

from ..core.canonical import (
    ENVELOPE_FIELDS,
    MAX_FIELD_CHARS,
    PRIORITIES,
    STRING_FIELDS,
    encode_value,
    field_text,
)

__all__ = ["BINDABLE_FIELDS", "bind", "bound_fields", "trace_fields"]

# event_id, event_ts and context describe one event: bound to a block they would repeat on every
# event.
BINDABLE_FIELDS: Final = frozenset(
    ENVELOPE_FIELDS - {"event_id", "event_ts", "context", "trace_id", "span_id"}
)

_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})
_bound: ContextVar[Mapping[str, Any]] = ContextVar("tradetrail_bound", default=_EMPTY)
# the tokens of the `with bind(...)` blocks open in this context, innermost last: kept per
# context (not on the bind object) so one bind object can be entered by many threads and tasks
_open: ContextVar[tuple[Token[Mapping[str, Any]], ...]] = ContextVar("tradetrail_open", default=())

F = TypeVar("F", bound=Callable[..., Any])


def bound_fields() -> Mapping[str, Any]:
    """The envelope fields bound to the current context (read-only; empty when none)."""
    return _bound.get()


def _check(name: str, value: Any) -> Any:
    """Validate one bound field like `record()` would and return its stored form."""
    if name not in BINDABLE_FIELDS:
        if name in ENVELOPE_FIELDS:
            raise ValueError(f"{name}: describes a single event and cannot be bound to a context")
        raise ValueError(
            f"{name}: not an envelope field (bindable: {', '.join(sorted(BINDABLE_FIELDS))})"
        )
    if value is None:
        return None
    if name in STRING_FIELDS:
        if type(value) is not str:
            if isinstance(value, str):
                value = str(value)  # a StrEnum member: the stored form is a plain str
            elif isinstance(value, int | UUID | Decimal) and not isinstance(value, bool):
                value = field_text(name, value)
            else:
                raise TypeError(f"{name}: expected str, got {type(value).__name__}")
        if not value or len(value) > MAX_FIELD_CHARS:
            raise ValueError(f"{name}: must be 1..{MAX_FIELD_CHARS} characters")
        return value
    if name == "priority":
        if value not in PRIORITIES:
            raise ValueError(f"priority: {value!r} is not one of {sorted(PRIORITIES)}")
        return value
    # source
    if not isinstance(value, Mapping):
        raise TypeError(f"source: expected a mapping, got {type(value).__name__}")
    copy = dict(value)
    encode_value(copy, "source")
    return MappingProxyType(copy)


class bind:  # lower-case: used like a function, `with bind(...)` or `@bind(...)`
    """Bind envelope fields for a block, or for every call of a decorated function
    (sync or async). Raises ValueError naming a key that is not a bindable envelope field."""

    __slots__ = ("_fields",)

    def __init__(self, **fields: Any) -> None:
        self._fields = {name: _check(name, value) for name, value in fields.items()}

    def _merged(self) -> Mapping[str, Any]:
        current = _bound.get()
        if not self._fields:
            return current
        merged = dict(current)
        for name, value in self._fields.items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        return MappingProxyType(merged) if merged else _EMPTY

    def __enter__(self) -> Mapping[str, Any]:
        merged = self._merged()
        _open.set((*_open.get(), _bound.set(merged)))
        return merged

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tokens = _open.get()
        _open.set(tokens[:-1])
        _bound.reset(tokens[-1])

    def __call__(self, func: F) -> F:
        """Decorate `func` so each call runs with these fields bound. Each call takes its own
        token, so the decorated function is safe to call from many threads and tasks."""
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                token = _bound.set(self._merged())
                try:
                    return await func(*args, **kwargs)
                finally:
                    _bound.reset(token)

            return cast(F, async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = _bound.set(self._merged())
            try:
                return func(*args, **kwargs)
            finally:
                _bound.reset(token)

        return cast(F, wrapper)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._fields.items())
        return f"bind({inner})"


# ------------------------------------------------------------------ OpenTelemetry

_UNSET: Final = object()
_otel_trace: Any = _UNSET  # the opentelemetry.trace module, None when not installed
_otel_current: Any = None  # opentelemetry.context.get_current


def _load_otel() -> Any:
    global _otel_trace, _otel_current
    try:
        _otel_trace = importlib.import_module("opentelemetry.trace")
    except ImportError:
        _otel_trace = None
        return None
    try:  # an empty context holds no span: one contextvar read instead of the span lookup
        _otel_current = importlib.import_module("opentelemetry.context").get_current
    except (ImportError, AttributeError):
        _otel_current = None
    return _otel_trace


def trace_fields() -> dict[str, str]:
    """`{"trace_id": 32 hex, "span_id": 16 hex}` of the active OpenTelemetry span, or `{}`
    when OpenTelemetry is not installed or no valid span is active. The import is tried once.
    Trace context is an enrichment: any failure inside OpenTelemetry gives `{}`, never raises."""
    otel = _otel_trace
    if otel is _UNSET:
        otel = _load_otel()
    if otel is None:
        return {}
    try:
        current = _otel_current
        if current is not None and not current():  # no context: the common case in a loop
            return {}
        ctx = otel.get_current_span().get_span_context()
        if not ctx.is_valid:
            return {}
        return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}
    except Exception:
        return {}


def with_context(fields: Mapping[str, Any]) -> Mapping[str, Any]:
    """`fields` completed by the bound context and the active span's ids, for `record()`: an
    explicit argument wins over a bound field, which wins over the trace ids. Returns `fields`
    itself when there is nothing to add (the common case costs two lookups)."""
    bound = _bound.get()
    if bound:
        fields = {**bound, **fields}
    current = _otel_current
    if current is not None and not current():  # (trace_fields' fast path, without the call)
        return fields
    trace = trace_fields()
    if trace:
        fields = {**trace, **fields}
    return fields
