"""What the logging integrations share: record an event, and keep what cannot be recorded as asked.

A logging call must not raise and must not lose an audit event. `AuditSink.record` therefore
never raises (unless `strict`): an event `record()` refuses is recorded again as a
`log.fallback` event (`data`: the type asked for and the reason; `context`: the event as given,
values JSON cannot carry turned into their text), logged at ERROR on the `tradetrail` logger and
counted; an event that cannot be recorded at all (a closed trail) is logged and counted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any, Final

from ..core.canonical import encode_value
from ..errors import TrailClosedError
from ..model.events import DEFAULT_MODEL, EventModel
from .auditor import Recorder

__all__ = [
    "FALLBACK_TYPE",
    "LOG_TYPE",
    "AuditSink",
    "jsonable",
    "log_message",
    "message_text",
    "model_of",
]

LOG_TYPE: Final = "log.record"
FALLBACK_TYPE: Final = "log.fallback"
_MAX_TEXT: Final = 8192

logger = logging.getLogger("tradetrail")


def model_of(trail: Recorder) -> EventModel | None:
    """The event model the trail checks data with (the default one for a plain Recorder)."""
    model = getattr(trail, "model", DEFAULT_MODEL)
    return model if isinstance(model, EventModel) else None


def jsonable(value: Any, depth: int = 0) -> Any:
    """`value` with what the canonical encoder refuses (NaN, objects, naive datetimes, ...)
    replaced by its text, so the event can still be recorded; error path only."""
    try:
        encode_value(value, "value")
        return value
    except (TypeError, ValueError):
        pass
    if depth < 32 and isinstance(value, Mapping):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if depth < 32 and isinstance(value, list | tuple):
        return [jsonable(v, depth + 1) for v in value]
    return _text(value)


def message_text(message: Any) -> str:
    """A log message as text, never raising: a broken `__str__` must not lose the event."""
    if isinstance(message, str):
        return message
    try:
        return str(message)
    except Exception:
        return _text(message)


def log_message(record: logging.LogRecord) -> str:
    """`record.getMessage()`, never raising: `log.info("%s %s", one)` must not lose the event;
    the message and its arguments are then kept as their text."""
    try:
        return record.getMessage()
    except Exception as exc:
        return f"{_text(record.msg)} % {_text(record.args)} (not formatted: {exc})"


def _text(value: Any) -> str:
    try:
        text = value if isinstance(value, str) else repr(value)
    except Exception as exc:  # a broken __repr__ must not lose the event
        text = f"<{type(value).__name__}: repr failed: {exc}>"
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "...[truncated]"


class AuditSink:
    """Records events for one integration (`name` in its log lines) and counts the outcomes."""

    __slots__ = ("_closed_warned", "_counts", "_lock", "name", "strict", "trail")

    def __init__(self, trail: Recorder, name: str, *, strict: bool = False) -> None:
        self.trail = trail
        self.name = name
        self.strict = strict
        self._lock = threading.Lock()
        self._counts = {"recorded": 0, "fallback": 0, "failed": 0, "after_close": 0}
        self._closed_warned = False

    def stats(self) -> dict[str, int]:
        """recorded (as asked), fallback (as `log.fallback`), failed (not recorded at all),
        after_close (dropped because the trail was closed; also counted in failed)."""
        with self._lock:
            return dict(self._counts)

    def _count(self, *names: str) -> None:
        with self._lock:
            for name in names:
                self._counts[name] += 1

    def record(
        self,
        event_type: Any,
        data: Any,
        context: Mapping[str, Any] | None,
        fields: Mapping[str, Any],
    ) -> str | None:
        """Record the event; None when recorded as asked, else why not (for the log line)."""
        try:
            return self.attempt(event_type, data, context, fields)
        except RecursionError:
            raise
        except Exception as exc:
            if self.strict:
                raise
            return self.fallback(event_type, data, context, fields, exc)

    def attempt(
        self,
        event_type: Any,
        data: Any,
        context: Mapping[str, Any] | None,
        fields: Mapping[str, Any],
    ) -> str | None:
        """Record the event as asked, raising what `record()` raises for an event it refuses
        (for `fallback`); a closed trail is counted and reported, not raised."""
        if not isinstance(event_type, str):
            raise TypeError(f"type: expected an event type (str), got {type(event_type).__name__}")
        try:
            if context:
                self.trail.record(event_type, data, context=context, **fields)
            else:
                self.trail.record(event_type, data, **fields)
        except TrailClosedError as exc:
            return self._after_close(event_type, exc)
        self._count("recorded")
        return None

    def fallback(
        self,
        event_type: Any,
        data: Any,
        context: Mapping[str, Any] | None,
        fields: Mapping[str, Any],
        exc: Exception,
    ) -> str:
        reason = f"{type(exc).__name__}: {exc}"
        intended = event_type if isinstance(event_type, str) else _text(event_type)
        body = {"intended_type": _text(intended), "reason": _text(reason)}
        given: dict[str, Any] = {}
        if data is not None:
            given["data"] = jsonable(data)
        if context:
            given["context"] = jsonable(context)
        without_envelope = {**given, "envelope": jsonable(dict(fields))} if fields else given
        whole = {"text": self._redacted_text(event_type, data, context, fields)}
        attempts: tuple[tuple[Mapping[str, Any], dict[str, Any]], ...] = (
            (fields, given),
            ({}, without_envelope),
            ({}, whole),
        )
        last: Exception = exc
        for envelope, ctx in attempts:
            try:
                self.trail.record(FALLBACK_TYPE, body, context=ctx or None, **envelope)
            except TrailClosedError as closed:
                return self._after_close(event_type, closed)
            except RecursionError:
                raise
            except Exception as again:
                last = again
                continue
            self._count("fallback")
            logger.error(
                "%s: could not record %s as asked (%s); recorded it as %s with the reason",
                self.name,
                intended,
                reason,
                FALLBACK_TYPE,
            )
            return reason
        self._count("failed")
        logger.error(
            "%s: could not record %s (%s), nor as %s (%s): the event is lost: %s",
            self.name,
            intended,
            reason,
            FALLBACK_TYPE,
            f"{type(last).__name__}: {last}",
            whole["text"],
        )
        return reason

    def _redacted_text(
        self, event_type: Any, data: Any, context: Any, fields: Mapping[str, Any]
    ) -> str:
        """The event as text, secrets replaced first (the text is opaque to the redactor's
        key rules)."""
        event: Any = {"type": event_type, "data": data, "context": context, **fields}
        redactor = getattr(self.trail, "redactor", None)
        if redactor is not None:
            try:
                event = redactor.redact(jsonable(event), "event")[0]
            except Exception:
                event = {"type": _text(event_type), "unreadable": "the event could not be redacted"}
        return _text(event)

    def _after_close(self, event_type: Any, exc: TrailClosedError) -> str:
        self._count("failed", "after_close")
        with self._lock:
            first, self._closed_warned = not self._closed_warned, True
        if first:
            logger.error(
                "%s: %s; audit events logged from now on are NOT recorded (first: %s); "
                "they are counted in stats()['after_close']",
                self.name,
                exc,
                _text(event_type),
            )
        return f"TrailClosedError: {exc}"
