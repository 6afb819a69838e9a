"""log.*: log lines the logging integrations keep as evidence."""

from .base import EventData

__all__ = [
    "LogFallback",
    "LogRecord",
]


class LogRecord(EventData, kw_only=True, frozen=True):
    """A log line kept as evidence: what the logging integrations record for a line marked
    for the audit that names no event type (or, with `loggers_all`, every line)."""

    TYPE = "log.record"
    VERSION = 1
    message: str
    logger: str | None = None
    level: str | None = None
    exc: str | None = None
    stack: str | None = None


class LogFallback(EventData, kw_only=True, frozen=True):
    """An audit event a logging integration could not record as asked (bad data, a value the
    encoder refuses): kept, with the reason; the event as given is in the record's `context`."""

    TYPE = "log.fallback"
    VERSION = 1
    intended_type: str
    reason: str
