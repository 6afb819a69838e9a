"""A `logging` handler that turns log records carrying an audit event into trail events.

    handler = install(logging.getLogger("oms"), trail)  # or addHandler(AuditHandler(trail))
    log.info("order accepted", extra={"audit": {"type": "order.accepted",
                                                 "data": {"price": Decimal("1")},
                                                 "order_id": "O-1"}})
    log.info("order accepted", extra={"audit_type": "order.accepted",
                                      "audit_data": {...}, "order_id": "O-1"})
    log.warning("venue reconnected", extra={"audit": True})      # a `log.record` event

An `audit` mapping holds the type, `data` and envelope fields; with `audit_type`/`audit_data`
the envelope fields are taken from the record's other `extra` keys that are envelope fields
(`order_id`, `symbol`, ...). `data` is recorded exactly as given; the log message and the
logger's name go to the record's free-form `context` (`message`, `logger`), which the type's
schema does not govern. `audit=True` records a `default_type` (`log.record`) event of the log
line (`audit_data`, if given, goes to `context.data`). With `loggers_all=True` every record the
handler sees becomes a `default_type` event. Each event's `event_ts` is the record's creation
time (the source's clock).

The handler never raises into the logging call (unless `strict`): an event the trail refuses
is passed to `handleError`, which records it as `log.fallback` with the reason, logs that at
ERROR on the `tradetrail` logger and counts it in `stats()`; a closed trail is logged once and
each dropped event counted. It cannot recurse: records of the `tradetrail` logger and its
children are ignored, and a record logged while the handler is already recording on this
thread is dropped. A logger's level stops a record before any handler runs: `install()` lets
audit records below the level through to this handler alone (docs/INTEGRATIONS.md).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Mapping
from typing import Any, Final

from ..core.canonical import ENVELOPE_FIELDS
from ..core.timefmt import TimestampFormatter
from .auditor import Recorder
from .common import LOG_TYPE, AuditSink, log_message

__all__ = ["AuditHandler", "install", "uninstall"]

_OWN_LOGGER: Final = "tradetrail"
# envelope fields in a fixed order; a LogRecord has no attribute of these names of its own
_ENVELOPE: Final = tuple(sorted(ENVELOPE_FIELDS))


_Event = tuple[Any, Any, dict[str, Any] | None, dict[str, Any]]  # type, data, context, fields


class AuditHandler(logging.Handler):
    """Records audit-carrying log records (or, with `loggers_all`, every record) on a trail."""

    def __init__(
        self,
        trail: Recorder,
        *,
        loggers_all: bool = False,
        default_type: str = LOG_TYPE,
        level: int | str = logging.NOTSET,
        strict: bool = False,
    ) -> None:
        super().__init__(level)
        self.trail = trail
        self.loggers_all = loggers_all
        self.default_type = default_type
        self.strict = strict
        self._sink = AuditSink(trail, "AuditHandler", strict=strict)
        self._guard = threading.local()
        self._local = threading.local()  # a TimestampFormatter per thread: it caches state

    def __repr__(self) -> str:
        level = logging.getLevelName(self.level)
        return f"<AuditHandler {self.trail!r} loggers_all={self.loggers_all} ({level})>"

    def stats(self) -> dict[str, int]:
        """recorded, fallback (kept as `log.fallback`), failed (lost), after_close (dropped
        because the trail was closed; also in failed)."""
        return self._sink.stats()

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
            # what handleError records should reading the record's event itself fail
            self._local.pending = (
                LOG_TYPE,
                None,
                {"message": log_message(record), "logger": record.name},
                {},
            )
            event = self._local.pending = self._event_of(record)
            if event is not None:
                self._sink.attempt(*event)
        except RecursionError:  # as logging.Handler does: never swallow a stack overflow
            raise
        except Exception:
            self.handleError(record)
        finally:
            self._local.pending = None
            guard.active = False

    def handleError(self, record: logging.LogRecord) -> None:
        """Record the event `emit()` could not record as asked as `log.fallback` (with the
        reason), or raise it with `strict`. Override to change what happens to it."""
        error = sys.exc_info()[1]
        event: _Event | None = getattr(self._local, "pending", None)
        if not isinstance(error, Exception) or event is None:
            super().handleError(record)  # not an event's fault: logging's own report
            return
        if self.strict:
            raise error
        try:
            self._sink.fallback(*event, error)
        except RecursionError:
            raise
        except Exception:
            super().handleError(record)

    def _event_of(self, record: logging.LogRecord) -> _Event | None:
        """(type, data, context, envelope fields) of the event a record carries, or None. A
        malformed mark gives a type that is not a str: recording it fails, naming it."""
        attrs = record.__dict__
        audit = attrs.get("audit")
        if audit is False:
            audit = None
        audit_type = attrs.get("audit_type")
        if audit is None and audit_type is None:
            if not self.loggers_all:
                return None
            return self.default_type, self._log_data(record), None, self._fields(record, attrs)
        fields = self._fields(record, attrs)
        context: dict[str, Any] = {"message": log_message(record), "logger": record.name}
        bound = fields.pop("context", None)
        if isinstance(bound, Mapping):
            context.update(bound)
        elif bound is not None:
            context["context"] = bound
        event_type: Any
        if isinstance(audit, Mapping):
            event_type = audit.get("type", audit_type)
            data = audit.get("data", attrs.get("audit_data"))
            for key, value in audit.items():
                if key == "context" and isinstance(value, Mapping):
                    context.update(value)
                elif key != "type" and key != "data" and value is not None:
                    fields[key] = value  # an unknown key fails in record(), naming it
        elif isinstance(audit, str):
            event_type, data = audit, attrs.get("audit_data")
        elif audit is True and audit_type is None:
            extra = attrs.get("audit_data")
            log_context = {} if extra is None else {"data": extra}
            return self.default_type, self._log_data(record), log_context, fields
        elif audit is None or audit is True:
            event_type, data = audit_type, attrs.get("audit_data")
        else:
            event_type, data = audit, attrs.get("audit_data")  # refused: not a type
        return event_type, data, context, fields

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
            "message": log_message(record),
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


# ---------------------------------------------------------------------- the logger's level

_METHODS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}


def _marked(kwargs: Mapping[str, Any]) -> bool:
    extra = kwargs.get("extra")
    if not isinstance(extra, Mapping):
        return False
    audit = extra.get("audit")
    return (audit is not None and audit is not False) or extra.get("audit_type") is not None


def _deliver(
    logger: logging.Logger,
    handler: AuditHandler,
    level: int,
    msg: object,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    exc_default: bool,
) -> None:
    """Make the record `logger` would have made and give it to `handler` alone: an audit record
    below the logger's level, which no other handler wants."""
    exc_info = kwargs.get("exc_info", exc_default)
    if exc_info:
        if isinstance(exc_info, BaseException):
            exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
        elif not isinstance(exc_info, tuple):
            exc_info = sys.exc_info()
    else:
        exc_info = None
    stack_info = bool(kwargs.get("stack_info", False))
    stacklevel = int(kwargs.get("stacklevel", 1))
    try:  # _deliver and the wrapper are not the caller
        fn, lno, func, sinfo = logger.findCaller(stack_info, stacklevel + 2)
    except ValueError:
        fn, lno, func, sinfo = "(unknown file)", 0, "(unknown function)", None
    record = logger.makeRecord(
        logger.name, level, fn, lno, msg, args, exc_info, func, kwargs.get("extra"), sinfo
    )
    if level >= handler.level:
        handler.handle(record)


def install(logger: logging.Logger, trail: Recorder | AuditHandler, **options: Any) -> AuditHandler:
    """Attach an `AuditHandler` to `logger` (a new one on `trail`, with `options`, or the
    handler given) and let the audit records logged through `logger` below its level reach
    that handler, and only it: plain lines stay filtered by the level as before. Call it for
    each logger you log audit records with (a child logger's level is checked on the child):
    `install(logging.getLogger("oms.fills"), handler)` reuses a handler already on "oms"."""
    handler = trail if isinstance(trail, AuditHandler) else AuditHandler(trail, **options)
    reached = False
    current: logging.Logger | None = logger
    while current is not None and not reached:
        reached = handler in current.handlers
        current = current.parent if current.propagate else None
    if not reached:
        logger.addHandler(handler)
    for name, level in _METHODS.items():
        setattr(logger, name, _gate(logger, handler, name, level))
    logger.log = _gate_log(logger, handler)  # type: ignore[method-assign]
    return handler


def uninstall(logger: logging.Logger, handler: AuditHandler) -> None:
    """Undo `install`: remove the handler from `logger` and its level bypass."""
    logger.removeHandler(handler)
    for name in (*_METHODS, "log"):
        logger.__dict__.pop(name, None)


def _gate(logger: logging.Logger, handler: AuditHandler, name: str, level: int) -> Any:
    original = getattr(type(logger), name).__get__(logger)
    exc_default = name == "exception"

    def method(msg: object, *args: Any, **kwargs: Any) -> None:
        if kwargs and _marked(kwargs) and not logger.isEnabledFor(level):
            _deliver(logger, handler, level, msg, args, kwargs, exc_default)
        else:
            original(msg, *args, **kwargs)

    method.__name__ = name
    return method


def _gate_log(logger: logging.Logger, handler: AuditHandler) -> Any:
    original = type(logger).log.__get__(logger)

    def log(level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if kwargs and _marked(kwargs) and not logger.isEnabledFor(level):
            _deliver(logger, handler, level, msg, args, kwargs, False)
        else:
            original(level, msg, *args, **kwargs)

    return log
