"""POST /v1/events: a batch of NDJSON events, journaled all or nothing and acknowledged only
once durable, idempotent by event_id so that a client may resend whatever it has no answer
for, also after a restart of the service.

A batch with a bad line is refused whole (422, every bad line named): the sender fixes it
and resends, and no half-written batch can be mistaken for a whole one. The event ids already
journaled are remembered from the journal of the last `window_days` days (read at start) and
from every event the service journals while it runs; a UUIDv7 id older than that is looked up
in the journal days its own timestamp names, so the answer is exact for the ids tradetrail's
clients make."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import orjson

from ..core import layout
from ..core.canonical import Prepared
from ..core.exactjson import loads_event_line
from ..errors import BatchError
from ..store import journal
from ..writer.trail import Receipt, Trail

_DAY_FILE: Final = re.compile(r"audit-(\d{8})\.jsonl$")
OLD_DAYS_PER_BATCH: Final = 8
"""Days before the window whose journal one batch may make the service read (each read holds
up every other ingest): a resend of a spool days old names one or two."""


@dataclass(frozen=True)
class Result:
    line: int
    event_id: str
    seq: int
    duplicate: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "event_id": self.event_id,
            "seq": self.seq,
            "duplicate": self.duplicate,
        }


def _ids_of(path: Path) -> dict[str, int]:
    """event_id -> seq of one day file (a torn last line is skipped: it was never acked)."""
    found: dict[str, int] = {}
    try:
        with open(path, "rb") as fh:
            for line in fh:
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                ident, seq = record.get("event_id"), record.get("seq")
                if isinstance(ident, str) and isinstance(seq, int):
                    found[ident] = seq
    except FileNotFoundError:
        pass
    return found


def uuid7_day(event_id: str) -> datetime | None:
    """The UTC time a UUIDv7 was made (None for another kind of id)."""
    try:
        value = uuid.UUID(event_id)
    except ValueError:
        return None
    if value.version != 7:
        return None
    try:  # 48 bits of milliseconds reach the year 10889: a sender's id may name any of them
        return datetime.fromtimestamp((value.int >> 80) / 1000, UTC)
    except (ValueError, OverflowError):
        return None


class Ledger:
    """Which event ids the trail holds, and the batches in flight."""

    def __init__(self, trail: Trail, window_days: int = 2) -> None:
        self.trail = trail
        self.window_days = window_days
        self._lock = threading.Lock()
        self._days: OrderedDict[str, dict[str, int]] = OrderedDict()  # acked ids by day
        self._inflight: dict[str, Receipt] = {}
        self._old_days: OrderedDict[str, dict[str, int]] = OrderedDict()
        self._scanned = 0  # the journal's records up to here are in _days
        self._named: set[date] = set()  # days before the window the batch's ids name
        self._tail = journal.JournalTail(trail.home)
        self._window_start = self._load()

    def _load(self) -> str:
        """Read the ids of the last window_days day files; the first day they cover."""
        files = journal.journal_files(self.trail.home)[-self.window_days :]
        for path in files:
            self._days[path.name] = _ids_of(path)
        self._scanned = self.trail.durable_size
        first = _DAY_FILE.search(files[0].name) if files else None
        return first.group(1) if first else datetime.now(UTC).strftime("%Y%m%d")

    def _catch_up(self) -> None:
        """Add the ids of the records journaled since the last look, whoever sent them (a
        local process through the channel too), reading on from where the last look ended."""
        durable = self.trail.durable_size
        if self._scanned >= durable:
            return
        for path, line in self._tail.lines(self._scanned):
            record = orjson.loads(line)
            ident, seq = record.get("event_id"), record.get("seq")
            if not isinstance(seq, int) or seq < self._scanned:
                continue
            if seq >= durable:
                break  # written, not durable yet: read again at the next look
            if isinstance(ident, str):
                self._day(path.name)[ident] = seq
            self._scanned = seq + 1

    def _older(self, event_id: str) -> int | None:
        """The seq of a UUIDv7 id made before the window, read from the days it names."""
        made = uuid7_day(event_id)
        if made is None:
            return None
        if made.date() not in self._named:
            if len(self._named) >= OLD_DAYS_PER_BATCH:
                raise BatchError(
                    [
                        {
                            "line": 0,
                            "error": f"event ids of more than {OLD_DAYS_PER_BATCH} days before "
                            "the service's window: each is looked up in its day's journal; send "
                            "them in smaller batches",
                        }
                    ],
                    too_large=True,
                )
            self._named.add(made.date())
        days = [made]
        if made.date() < datetime.max.date():
            days.append(made + timedelta(days=1))
        for day in days:
            name = day.strftime("%Y%m%d")
            if name >= self._window_start:
                continue
            if name not in self._old_days:
                path = self.trail.home / layout.JOURNAL_DIR / journal.day_file_name(name)
                self._old_days[name] = _ids_of(path)
                while len(self._old_days) > 4:
                    self._old_days.popitem(last=False)
            if event_id in self._old_days[name]:
                return self._old_days[name][event_id]
        return None

    def shape(
        self, body: bytes, source: dict[str, Any], type_prefix: str | None, max_batch: int
    ) -> list[tuple[int, Prepared]]:
        """Every line of a batch shaped (with its line number), or BatchError naming each bad
        one."""
        events: list[tuple[int, Prepared]] = []
        errors: list[dict[str, Any]] = []
        for lineno, raw in enumerate(body.split(b"\n"), 1):
            if not raw.strip():
                continue
            if len(events) + len(errors) >= max_batch:
                raise BatchError(
                    [{"line": lineno, "error": f"more than {max_batch} events"}], too_large=True
                )
            try:
                kind, data, fields = loads_event_line(raw)
                if type_prefix is not None and not (
                    isinstance(kind, str) and kind.startswith(type_prefix)
                ):
                    raise ValueError(f"type {kind!r}: this token may only send {type_prefix}*")
                events.append((lineno, self.trail.shape(kind, data, fields, source)))
            except (ValueError, TypeError) as exc:
                errors.append({"line": lineno, "error": str(exc)})
        if errors:
            raise BatchError(errors)
        return events

    def submit(self, events: list[tuple[int, Prepared]], timeout: float) -> list[Result]:
        """Journal the events not journaled yet; every event's seq once all are durable.
        TimeoutError if the writer cannot make them durable in time (they stay queued and a
        resend is answered from them)."""
        plan: list[tuple[int, str, int | Receipt, bool]] = []
        fresh: list[Prepared] = []
        with self._lock:
            self._catch_up()
            self._named = set()
            batch: dict[str, int] = {}
            for lineno, event in events:
                ident = event.event_id
                known = self._known(ident)
                if known is None and ident not in self._inflight and ident not in batch:
                    known = self._older(ident)
                if known is not None:
                    plan.append((lineno, ident, known, True))
                elif ident in self._inflight:
                    plan.append((lineno, ident, self._inflight[ident], True))
                elif ident in batch:
                    plan.append((lineno, ident, -1, True))
                else:
                    batch[ident] = len(fresh)
                    fresh.append(event)
                    plan.append((lineno, ident, -1, False))
            receipts = self.trail.record_shaped(fresh)
            for event, receipt in zip(fresh, receipts, strict=True):
                self._inflight[event.event_id] = receipt
        deadline = time.monotonic() + timeout
        results: list[Result] = []
        try:
            for lineno, ident, what, duplicate in plan:
                if isinstance(what, int) and what >= 0:
                    seq = what
                else:
                    receipt = what if isinstance(what, Receipt) else receipts[batch[ident]]
                    seq = receipt.wait(max(0.0, deadline - time.monotonic()))
                results.append(Result(lineno, ident, seq, duplicate))
        finally:
            with self._lock:
                today = self._today()
                for event, receipt in zip(fresh, receipts, strict=True):
                    if receipt.seq is not None:
                        today[event.event_id] = receipt.seq
                        self._inflight.pop(event.event_id, None)
        return results

    def _known(self, event_id: str) -> int | None:
        for ids in self._days.values():
            seq = ids.get(event_id)
            if seq is not None:
                return seq
        return None

    def _today(self) -> dict[str, int]:
        """The ids acked today."""
        return self._day(journal.day_file_name(datetime.now(UTC).strftime("%Y%m%d")))

    def _day(self, name: str) -> dict[str, int]:
        """The ids of one day file; days past the window are dropped (and read back from the
        journal by _older when a UUIDv7 id names them)."""
        if name not in self._days:
            self._days[name] = {}
            while len(self._days) > self.window_days:
                dropped = min(self._days)  # day file names sort by day
                del self._days[dropped]
                match = _DAY_FILE.search(dropped)
                if match:
                    self._window_start = max(self._window_start, match.group(1))
        return self._days[name]
