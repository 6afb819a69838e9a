"""A `logging` handler that turns log records carrying an audit event into trail events.

    logging.getLogger("oms").addHandler(AuditHandler(trail))
    log.info("order accepted", extra={"audit": {"type": "order.accepted",
                                                 "data": {"qty": Decimal("1")},
                                                 "order_id": "O-1"}})
    log.info("order accepted", extra={"audit_type": "order.accepted",
                                      "audit_data": {...}, "order_id": "O-1"})

An `audit` mapping holds the type, `data` and envelope fields; with `audit_type`/`audit_data`
the envelope fields are taken from the record's other `extra` keys that are envelope fields
(`order_id`, `symbol`, ...). `audit=True` records a `default_type` event of the log line.
With `loggers_all=True` every record the handler sees becomes a `default_type` event with the
message, logger, level and exception text: attach it to the loggers whose every line is a
record to keep. Each event's `event_ts` is the record's creation time (the source's clock).

The handler never raises into the logging call: a bad event is reported through
`handleError` (a traceback on stderr, as for any logging handler). It cannot recurse: records of
the `tradetrail` logger and its children are ignored, and a record logged while the handler is
already recording on this thread is dropped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any, Final

from .auditor import Recorder
from .canonical import ENVELOPE_FIELDS
from .timefmt import TimestampFormatter

__all__ = ["AuditHandler"]

_OWN_LOGGER: Final = "tradetrail"
# envelope fields in a fixed order; a LogRecord has no attribute of these names of its own
_ENVELOPE: Final = tuple(sorted(ENVELOPE_FIELDS))


class AuditHandler(logging.Handler):
    """Records audit-carrying log records (or, with `loggers_all`, every record) on a trail."""

    def __init__(
        self,
        trail: Recorder,
        *,
        loggers_all: bool = False,
        default_type: str = "log.record",
        level: int | str = logging.NOTSET,
    ) -> None:
        super().__init__(level)
        self.trail = trail
        self.loggers_all = loggers_all
        self.default_type = default_type
        self._guard = threading.local()
        self._local = threading.local()  # a TimestampFormatter per thread: it caches state

    def __repr__(self) -> str:
        level = logging.getLevelName(self.level)
        return f"<AuditHandler {self.trail!r} loggers_all={self.loggers_all} ({level})>"

    def emit(self, record: logging.LogRecord) -> None:
        name = record.name
        if name == _OWN_LOGGER or name.startswith("tradetrail."):
            return
        attrs = record.__dict__
        if not self.loggers_all and "audit" not in attrs and "audit_type" not in attrs:
            return  # the common case of a handler on a busy logger: a plain log line
        guard = self._guard
        if getattr(guard, "active", False):
            return
        guard.active = True
        try:
            event = self._event_of(record)
            if event is not None:
                event_type, data, fields = event
                self.trail.record(event_type, data, **fields)
        except RecursionError:  # as logging.Handler does: never swallow a stack overflow
            raise
        except Exception:
            self.handleError(record)
        finally:
            guard.active = False

    def _event_of(
        self, record: logging.LogRecord
    ) -> tuple[str, Mapping[str, Any] | None, dict[str, Any]] | None:
        """(type, data, envelope fields) of the event a record carries, or None."""
        attrs = record.__dict__
        audit = attrs.get("audit")
        if audit is False:
            audit = None
        audit_type = attrs.get("audit_type")
        if audit is None and audit_type is None:
            if not self.loggers_all:
                return None
            return self.default_type, self._log_data(record), self._fields(record, attrs)
        fields = self._fields(record, attrs)
        if isinstance(audit, Mapping):
            event_type = audit.get("type", audit_type)
            data = audit.get("data", attrs.get("audit_data"))
            for key, value in audit.items():
                if key != "type" and key != "data" and value is not None:
                    fields[key] = value  # an unknown key fails in record(), naming it
        elif isinstance(audit, str):
            event_type, data = audit, attrs.get("audit_data")
        elif audit is True and audit_type is None:
            event_type = self.default_type
            data = attrs["audit_data"] if "audit_data" in attrs else self._log_data(record)
        elif audit is None or audit is True:
            event_type, data = audit_type, attrs.get("audit_data")
        else:
            raise TypeError(
                f"audit: expected a mapping, an event type or True, got {type(audit).__name__}"
            )
        if not isinstance(event_type, str):
            raise ValueError(f"type: the audit event of this log record has no type ({audit!r})")
        return event_type, data, fields

    def _fields(self, record: logging.LogRecord, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            formatter = self._local.formatter
        except AttributeError:
            formatter = self._local.formatter = TimestampFormatter()
        # microseconds, like the journal's ts: a float of seconds carries no more
        fields: dict[str, Any] = {"event_ts": formatter.format(round(record.created * 1e6) * 1000)}
        for key in _ENVELOPE:
            value = attrs.get(key)
            if value is not None:
                fields[key] = value
        return fields

    @staticmethod
    def _log_data(record: logging.LogRecord) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message": record.getMessage(),
            "logger": record.name,
            "level": record.levelname,
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            data["exc"] = record.exc_text
        if record.stack_info:
            data["stack"] = record.stack_info
        return data
