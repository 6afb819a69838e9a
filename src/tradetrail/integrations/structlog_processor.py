"""A structlog processor that records audit events on the trail while logging goes on as usual.

    structlog.configure(processors=[
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        AuditProcessor(trail),                      # before the renderer
        structlog.processors.JSONRenderer(),
    ])
    log.info("order.accepted", audit=True, order_id="O-1", price=Decimal("1"))  # type = event
    log.info("order accepted", audit="order.accepted", order_id="O-1")          # explicit type
    log.info("order accepted", audit_type="order.accepted", order_id="O-1")
    log.info("venue reconnected", audit=True)           # not a type: a `log.record` event

Only event dicts with a true `audit` (or `audit_type`) are recorded; the key is removed and the
dict is returned, so the log line is written as before. What goes where (docs/INTEGRATIONS.md):
envelope fields (`order_id`, `symbol`, ...) to the envelope; structlog's own keys (timestamp,
level, logger, ...) nowhere; keys that are fields of the type's struct to `data`, every other
key to the record's free-form `context` (a type the model does not know takes them all in
`data`); the log message to `data.message` when the type has such a field, else to
`context.message`. So a correct call never gets a `schema_error`. An event the trail refuses is
recorded as `log.fallback` with the reason (and `audit_error` is added to the log line); after
the trail is closed, events are counted and logged, never raised (`stats()`). `strict=True`
raises into the logging call instead, for tests. structlog need not be installed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any, Final

from ..core.canonical import ENVELOPE_FIELDS, TYPE_PATTERN
from .auditor import Recorder
from .common import LOG_TYPE, AuditSink, message_text, model_of

__all__ = ["STRUCTLOG_KEYS", "AuditProcessor"]

STRUCTLOG_KEYS: Final = frozenset(
    {
        "timestamp",
        "level",
        "log_level",
        "logger",
        "logger_name",
        "exc_info",
        "stack_info",
        "positional_args",
        "_record",
        "_from_structlog",
    }
)
"""Keys structlog and its stdlib bridge add to an event dict: log plumbing, not event data."""


class AuditProcessor:
    """Records the event dicts marked with `key` (default `audit`) or `<key>_type`."""

    __slots__ = ("_model", "_sink", "_skip", "key", "trail", "type_key")

    def __init__(
        self,
        trail: Recorder,
        *,
        key: str = "audit",
        exclude: Iterable[str] = STRUCTLOG_KEYS,
        strict: bool = False,
    ) -> None:
        self.trail = trail
        self.key = key
        self.type_key = f"{key}_type"
        self._skip = frozenset(exclude) | {"event"}
        self._model = model_of(trail)
        self._sink = AuditSink(trail, f"AuditProcessor(key={key!r})", strict=strict)

    @property
    def strict(self) -> bool:
        return self._sink.strict

    def __repr__(self) -> str:
        return f"AuditProcessor({self.trail!r}, key={self.key!r})"

    def stats(self) -> dict[str, int]:
        """recorded, fallback (kept as `log.fallback`), failed (lost), after_close (dropped
        because the trail was closed; also in failed)."""
        return self._sink.stats()

    def __call__(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        key, type_key = self.key, self.type_key
        if key not in event_dict and type_key not in event_dict:
            return event_dict
        mark = event_dict.pop(key, None)
        explicit = event_dict.pop(type_key, None)
        if mark is False or (mark is None and explicit is None):
            return event_dict
        error = self._record(mark, explicit, event_dict)
        if error is not None:
            event_dict[f"{key}_error"] = error
        return event_dict

    def _record(self, mark: Any, explicit: Any, event_dict: MutableMapping[str, Any]) -> str | None:
        message = event_dict.get("event")
        event_type: Any
        if mark is True or mark is None:
            if explicit is not None:
                event_type = explicit
            elif isinstance(message, str) and TYPE_PATTERN.match(message):
                event_type = message  # audit=True: the event name is the type
            else:
                event_type = LOG_TYPE  # a plain message: the line itself is the record
        else:
            event_type = mark  # a type; anything else becomes a log.fallback naming it
        model = self._model
        typed = model is not None and type(event_type) is str
        names = model.fields_of(event_type) if typed and model is not None else None
        fields: dict[str, Any] = {}
        data: dict[str, Any] = {}
        context: dict[str, Any] = {}
        skip = self._skip
        for name, value in event_dict.items():
            if name in skip:
                continue
            if name == "context":
                if isinstance(value, Mapping):
                    context.update(value)
                elif value is not None:
                    context[name] = value
            elif name in ENVELOPE_FIELDS:
                if value is not None:
                    fields[name] = value
            elif names is None or name in names:
                data[name] = value
            else:
                context[name] = value
        if message is not None and message != event_type:
            if names is not None and "message" in names and "message" not in data:
                data["message"] = message_text(message)
            else:
                context.setdefault("message", message_text(message))
        return self._sink.record(event_type, data or None, context, fields)
