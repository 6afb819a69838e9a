"""A structlog processor that records audit events on the trail while logging goes on as usual.

    structlog.configure(processors=[
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        AuditProcessor(trail),                      # before the renderer
        structlog.processors.JSONRenderer(),
    ])
    log.info("order accepted", audit=True, order_id="O-1", qty=Decimal("1"))  # type from event
    log.info("order accepted", audit="order.accepted", order_id="O-1")        # explicit type
    log.info("order accepted", audit_type="order.accepted", order_id="O-1")

Only event dicts with a true `audit` (or `audit_type`) are recorded; the key is removed and the
dict is returned, so the log line is written as before. Keys that are envelope fields
(`order_id`, `symbol`, `account`, ...) go to the envelope, structlog's own keys (timestamp,
level, logger, exc_info, ...) are left out, and the rest is the event's `data`; the log message
is kept as `data.message` unless it served as the type. Recording must not break the logging
call: a bad event is reported in the log line itself as `audit_error` (pass `strict=True` to
raise instead, e.g. in tests). structlog need not be installed to import this module.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any, Final

from .auditor import Recorder
from .canonical import ENVELOPE_FIELDS

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

    __slots__ = ("_skip", "key", "strict", "trail", "type_key")

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
        self.strict = strict
        self._skip = frozenset(exclude) | {"event"}

    def __repr__(self) -> str:
        return f"AuditProcessor({self.trail!r}, key={self.key!r})"

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
        try:
            self._record(mark, explicit, event_dict)
        except Exception as exc:
            if self.strict:
                raise
            event_dict[f"{key}_error"] = f"{type(exc).__name__}: {exc}"
        return event_dict

    def _record(self, mark: Any, explicit: Any, event_dict: MutableMapping[str, Any]) -> None:
        message = event_dict.get("event")
        event_type: Any
        if isinstance(mark, str):
            event_type = mark
        elif mark is not None and mark is not True:
            raise TypeError(
                f"{self.key}: expected True or an event type, got {type(mark).__name__}"
            )
        elif explicit is not None:
            event_type = explicit
        else:
            event_type = message  # audit=True: the event name is the type
        if not isinstance(event_type, str):
            raise ValueError(f"type: {event_type!r} is not an event type")
        fields: dict[str, Any] = {}
        data: dict[str, Any] = {}
        skip = self._skip
        for name, value in event_dict.items():
            if name in ENVELOPE_FIELDS:
                if value is not None:
                    fields[name] = value
            elif name not in skip:
                data[name] = value
        if message is not None and message != event_type:
            data.setdefault("message", message)
        self.trail.record(event_type, data or None, **fields)
