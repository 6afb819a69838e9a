"""In-memory capture of audit events, so tests can assert that code audits what it must.

    from tradetrail.integrations.auditor import TrailAuditor
    from tradetrail.integrations.testing import capture

    def test_rejections_are_audited():
        with capture() as events:
            engine = Engine(auditor=events.auditor)    # or TrailAuditor(events.trail)
            engine.on_signal(...)
        rejected = events.find("risk.rejected", symbol="BTC-USD")
        assert rejected is not None and rejected.data["rule"] == "max_position"

A capture validates every event exactly as a real trail does (the same `prepare()`, the same
errors for a bad event), merges fields bound with `tradetrail.bind` (explicit fields win), and
keeps the stored form: what the journal would hold, so a `Decimal("0.5")` reads back as the
string "0.5" (`find()` normalises the values it is given the same way). `CaptureTrail` can be
used directly where a trail is expected, including by `AuditHandler` and `AuditProcessor`.

The pytest fixture `audit_events` yields the `CapturedEvents` of a fresh capture. This module is
a pytest plugin, registered by tradetrail's `pytest11` entry point, so wherever tradetrail is
installed the fixture is there with no import (from a source tree that is only on the path:
`pytest -p tradetrail.integrations.testing`; importing the fixture into a conftest.py works too):

    def test_fill(audit_events):
        OrderManager(auditor=audit_events.auditor).on_fill(...)
        assert audit_events.types == ["order.filled"]

`SimClock` is a settable clock for `tradetrail.open(clock=...)`: simulate days in seconds.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, overload

from ..core.canonical import DEFAULT_MAX_EVENT_BYTES, ENVELOPE_FIELDS, prepare
from ..errors import TrailClosedError
from ..model.context import with_context
from ..model.events import DEFAULT_MODEL, EventModel
from ..model.redact import DEFAULT_REDACTOR, Redactor
from .auditor import TrailAuditor

__all__ = [
    "CaptureTrail",
    "CapturedEvent",
    "CapturedEvents",
    "CapturedReceipt",
    "SimClock",
    "capture",
]


def _ns_of(text: str) -> int:
    """Nanoseconds of an ISO time such as '2024-03-01T23:59:59.5'; UTC is assumed."""
    dt = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000


class SimClock:
    """A settable clock in nanoseconds since the epoch, for `tradetrail.open(clock=...)`: a
    test moves it with `advance(seconds)` or `set(time)` and days pass in no time."""

    def __init__(self, start: str | int = "2024-03-01T12:00:00") -> None:
        self._ns = _ns_of(start) if isinstance(start, str) else start
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            return self._ns

    def set(self, when: str | int) -> None:
        with self._lock:
            self._ns = _ns_of(when) if isinstance(when, str) else when

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._ns += int(seconds * 1_000_000_000)


class CapturedEvent:
    """One captured event in its stored form: `type`, `data` ({} when none), `fields` (the
    envelope: event_id, order_id, ...), `seq` (0, 1, ... in capture order) and `record`."""

    __slots__ = ("data", "fields", "record", "seq", "type")

    def __init__(self, seq: int, record: dict[str, Any]) -> None:
        self.seq = seq
        self.record = record
        self.type: str = record["type"]
        self.data: dict[str, Any] = record.get("data", {})
        self.fields: dict[str, Any] = {
            k: v for k, v in record.items() if k != "type" and k != "data"
        }

    @property
    def event_id(self) -> str:
        return str(self.fields["event_id"])

    @property
    def context(self) -> dict[str, Any]:
        """The record's free-form `context` ({} when none): a log message, bound log keys."""
        context: dict[str, Any] = self.record.get("context", {})
        return context

    def matches(self, event_type: str | None = None, /, **expected: Any) -> bool:
        """Whether this event has the type and every expected field or data value (values
        normalised as they are stored)."""
        if event_type is not None and self.type != event_type:
            return False
        for name, value in _stored(expected).items():
            where = self.fields if name in ENVELOPE_FIELDS else self.data
            if name not in where or where[name] != value:
                return False
        return True

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CapturedEvent):
            return NotImplemented
        return self.record == other.record

    __hash__ = None  # type: ignore[assignment]  # mutable records: not hashable

    def __repr__(self) -> str:
        ids = " ".join(f"{k}={v}" for k, v in self.fields.items() if k != "event_id")
        return f"<CapturedEvent #{self.seq} {self.type} {ids} data={self.data!r}>"


def _stored(expected: Mapping[str, Any]) -> dict[str, Any]:
    """Expected values as the trail stores them (Decimal -> str, datetime -> RFC 3339, ...)."""
    if not expected:
        return {}
    envelope = {k: v for k, v in expected.items() if k in ENVELOPE_FIELDS}
    data = {k: v for k, v in expected.items() if k not in ENVELOPE_FIELDS}
    stored = prepare("test.expected", data or None, envelope, None, 1 << 62).fields()
    out = {k: stored[k] for k in envelope if k in stored}
    out.update(stored.get("data", {}))
    return out


class CapturedEvents(Sequence[CapturedEvent]):
    """The events of a capture, in order; a read-only sequence with finders. `trail` is the
    `CaptureTrail` recording into it and `auditor` a `TrailAuditor` on that trail."""

    def __init__(self, trail: CaptureTrail) -> None:
        self.trail = trail
        self.auditor = TrailAuditor(trail)
        self._items: list[CapturedEvent] = []

    @overload
    def __getitem__(self, index: int) -> CapturedEvent: ...

    @overload
    def __getitem__(self, index: slice) -> list[CapturedEvent]: ...

    def __getitem__(self, index: int | slice) -> CapturedEvent | list[CapturedEvent]:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[CapturedEvent]:
        return iter(list(self._items))  # a snapshot: other threads may still record

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CapturedEvents):
            return self._items == other._items
        if isinstance(other, list):
            return self._items == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<CapturedEvents {len(self._items)}: {self.types}>"

    @property
    def types(self) -> list[str]:
        """The event types in capture order: handy for `assert events.types == [...]`."""
        return [event.type for event in self._items]

    def of_type(self, event_type: str) -> list[CapturedEvent]:
        """Every captured event of one type, in order."""
        return [event for event in self._items if event.type == event_type]

    def find(self, event_type: str | None = None, /, **expected: Any) -> CapturedEvent | None:
        """The first event of `event_type` (any type when None) whose envelope fields and data
        have the expected values, or None."""
        for event in list(self._items):
            if event.matches(event_type, **expected):
                return event
        return None

    def find_all(self, event_type: str | None = None, /, **expected: Any) -> list[CapturedEvent]:
        """Every event that `find` would accept, in order."""
        return [event for event in list(self._items) if event.matches(event_type, **expected)]

    def clear(self) -> None:
        """Forget what was captured so far (seq keeps counting)."""
        self._items.clear()


class CapturedReceipt:
    """The receipt of a captured event: already "durable", so `wait()` and `await` return its
    seq at once."""

    __slots__ = ("event_id", "seq")

    journaled = True
    spilled = False

    def __init__(self, seq: int, event_id: str) -> None:
        self.seq = seq
        self.event_id = event_id

    def wait(self, timeout: float | None = None) -> int:
        return self.seq

    def __await__(self) -> Generator[Any, None, int]:
        yield from ()
        return self.seq

    def __repr__(self) -> str:
        return f"<CapturedReceipt {self.event_id} seq={self.seq}>"


class CaptureTrail:
    """A stand-in for a `Trail` that validates like one and keeps events in memory.
    Thread-safe; `record()` after `close()` raises TrailClosedError, as on a real trail."""

    def __init__(
        self,
        *,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        strict: bool = False,
        model: EventModel | None = DEFAULT_MODEL,
        redactor: Redactor | None = DEFAULT_REDACTOR,
    ) -> None:
        self.max_event_bytes = max_event_bytes
        self.strict = strict
        self.model = model
        self.redactor = redactor
        self.events = CapturedEvents(self)
        self._lock = threading.Lock()
        self._seq = 0
        self._closed = False

    def record(self, event_type: str, data: Any = None, **fields: Any) -> CapturedReceipt:
        """Validate and keep one event; raises what `Trail.record` raises for a bad event."""
        if self._closed:
            raise TrailClosedError("the capture is closed (its `with capture()` block ended)")
        prepared = prepare(
            event_type,
            data,
            with_context(fields),
            None,
            self.max_event_bytes,
            model=self.model,
            redactor=self.redactor,
            strict=self.strict,
        )
        if prepared.schema_error is not None and self.model is not None:
            # in a test a mismatch is a bug of the code under test: raise what strict raises
            self.model.validate(event_type, data, strict=True)
        stored = prepared.fields()
        with self._lock:
            seq = self._seq
            self._seq += 1
            self.events._items.append(CapturedEvent(seq, stored))
        return CapturedReceipt(seq, prepared.event_id)

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def close(self, timeout: float | None = None) -> None:
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> CaptureTrail:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<CaptureTrail {len(self.events)} events>"


@contextmanager
def capture(
    *,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    strict: bool = False,
    model: EventModel | None = DEFAULT_MODEL,
    redactor: Redactor | None = DEFAULT_REDACTOR,
) -> Iterator[CapturedEvents]:
    """Capture events for the block; yields the `CapturedEvents` (record through its `.trail`
    or `.auditor`). The events stay readable after the block; recording does not.

    Stricter than a production trail: data that does not match its (known) event type raises
    in the test instead of being recorded with a `schema_error`; with `strict=True` an event
    type the model does not know raises too."""
    trail = CaptureTrail(
        max_event_bytes=max_event_bytes, strict=strict, model=model, redactor=redactor
    )
    try:
        yield trail.events
    finally:
        trail.close()


try:
    import pytest
except ImportError:  # pragma: no cover - the fixture only matters under pytest
    pass
else:

    @pytest.fixture
    def audit_events() -> Iterator[CapturedEvents]:
        """A fresh capture for one test (the plugin provides it; see the module docstring)."""
        with capture() as events:
            yield events

    __all__ += ["audit_events"]
