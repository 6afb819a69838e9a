"""Degraded state, spill and merge of the writer: what the journal cannot take now goes to the
spill file (stderr and memory as the last resort) and is merged back exactly once when the
disk recovers, or when a client or a tradetrail command leaves events to replay."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Final

import orjson

from ..core.canonical import SORT, Prepared, event_identity
from ..errors import TrailCorruptError
from ..store import journal
from ..store.journal import journal_files
from .spill import read_spill
from .state import _JOURNALED, _SPILLED, WriterState, _describe

if TYPE_CHECKING:
    from .trail import Receipt

logger = logging.getLogger("tradetrail")

FOREIGN_SPILL_CHECK_SECONDS: Final = 2.0
_RETRY_MIN, _RETRY_MAX = 0.5, 30.0
_LOSING_ERRORS: Final = frozenset({errno.EROFS, errno.EIO})
"""Failures after which a disk may have lost what it had just acknowledged."""
MERGE_CHUNK_BYTES: Final = 256 * 1024
"""A spill merge writes (and in fsync mode fsyncs) at most this much before acknowledging, so a
disk with room for part of a backlog takes that part instead of refusing all of it."""


class MergeMixin(WriterState):
    """Spill and merge of a Trail: nothing dropped, nothing journaled twice."""

    def _replay(self, since: int, receipts: list[Receipt]) -> None:
        seen = self._journaled_since(since) if receipts else {}
        fresh = []
        for r in receipts:
            assert r.event is not None
            key = (r.event.event_id, _caller_fields(r.event.fields()))
            seq = seen.get(key)
            if seq is None:
                fresh.append(r)
                continue
            r.seq, r._state = seq, _JOURNALED
            if r._conn is not None:
                r._conn.settled(r)
        self._counters["replayed"] += len(receipts)
        if fresh:
            self._commit(fresh)

    def _foreign_spill_due(self) -> bool:
        """Whether another process left spill files for us (looked for every few seconds)."""
        now = time.monotonic()
        if now - self._last_foreign_check < FOREIGN_SPILL_CHECK_SECONDS:
            return False
        self._last_foreign_check = now
        try:
            return self.spill.has_files() or (
                self._admin_spill is not None and self._admin_spill.has_files()
            )
        except OSError:
            return False

    def _enter_degraded(self, reason: str, cause: BaseException | None = None) -> None:
        if isinstance(cause, OSError) and cause.errno in _LOSING_ERRORS and self._recent:
            self._respill_recent(reason)
        self._counters["write_errors"] += 1
        self._count_failure("journal", cause)
        self._last_error = reason
        if self._degraded is None:
            logger.error(
                "tradetrail cannot write the journal under %s (%s): records are spilling to %s "
                "and will be journaled when the disk recovers%s",
                self.home,
                reason,
                self.spill.directory,
                "; a partial write could not be cut off, so the journal is rescanned first"
                if self._needs_rescan
                else "",
            )
        self._degraded = reason
        self._retry_at = time.monotonic() + self._retry_delay
        self._retry_delay = min(self._retry_delay * 2, _RETRY_MAX)

    def _respill_recent(self, reason: str) -> None:
        """Spill again the records acknowledged in the last moment before the disk failed
        (sequencer.RECENT_SECONDS): a merge skips those the journal holds and journals those
        the disk lost, in their order, so they take their acknowledged seqs again."""
        recent, self._recent = list(self._recent), type(self._recent)()
        when = self._fmt.format(self._clock())
        why = f"acknowledged just before {reason}; journaled again only if the disk lost it"
        entries = []
        for _, first, events in recent:
            for event in events:
                fields = event.fields() if isinstance(event, Prepared) else dict(event)
                entries.append({"after_seq": first, "at": when, "reason": why, "event": fields})
        try:
            self.spill.append(entries, sync=True)
        except OSError:
            with self._held_lock:
                self._held.extend(entries)

    def _count_failure(self, target: str, cause: BaseException | None) -> None:
        """stats()["write_failures"][target][errno name]: which failure, not only how many."""
        name = "none"
        if isinstance(cause, OSError):
            name = errno.errorcode.get(cause.errno or 0, "EUNKNOWN")
        by_errno = self._write_failures.setdefault(target, {})
        by_errno[name] = by_errno.get(name, 0) + 1

    def _try_recover(self) -> bool:
        if time.monotonic() < self._retry_at:
            return False
        self._merge_now()
        return self._degraded is None

    def _merge_now(self) -> bool:
        """Merge the spill; an error of the disk on the way (a read-only remount failing the
        rescan, a spill file that cannot be synced) degrades the trail like a failed write."""
        try:
            if self._needs_rescan:
                self._rescan()
            merged = self._merge_spill()
        except OSError as exc:
            self._enter_degraded(_describe(exc), exc)
            return False
        except TrailCorruptError as exc:
            self._enter_degraded(str(exc), exc)
            return False
        if merged and self._degraded is not None:
            logger.warning("tradetrail journal writable again under %s; spill merged", self.home)
            self._degraded = None
            self._retry_delay = _RETRY_MIN
        return merged

    def _rescan(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
            self._set_day(None)
        self._pending_tiles.clear()
        self._load_state()
        files = journal_files(self.home)
        if files:  # what a failed write left behind is only acknowledged once durable
            fd = os.open(files[-1], os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self._needs_rescan = False

    def _spill_receipts(self, receipts: list[Receipt], reason: str, at: str | None) -> None:
        """Put events the journal cannot take now into the spill file (stderr and memory as the
        last resort); their receipts stay unacknowledged until merged."""
        if not receipts:
            return
        when = at or self._fmt.format(self._clock())
        entries = []
        for r in receipts:
            assert r.event is not None
            r._state = _SPILLED
            if r._conn is not None:
                r._conn.settled(r)
            fields = r.event.fields()
            key = (r.event.event_id, _caller_fields(fields))
            self._spilled_receipts[key] = r
            self._pending.add(key)
            entries.append({"after_seq": self._size, "at": when, "reason": reason, "event": fields})
        self._counters["spilled"] += len(entries)
        try:
            self.spill.append(entries, sync=threading.current_thread() is self._thread)
        except OSError as exc:
            self._counters["stderr_spilled"] += len(entries)
            copies = [orjson.loads(orjson.dumps(e)) for e in entries]
            with self._held_lock:
                self._held.extend(copies)
            self._last_error = f"spill: {_describe(exc)}"
            stream = sys.__stderr__
            with contextlib.suppress(Exception):  # memory (self._held) still has them
                if stream is not None:
                    for e in entries:
                        text = orjson.dumps(e, option=SORT).decode()
                        stream.write("tradetrail-spill " + text + "\n")
                    stream.flush()
        now = time.monotonic()
        if reason == "queue full" and now - self._last_full_warning > 10:
            self._last_full_warning = now
            logger.warning(
                "tradetrail queue full (%d): spilling to %s", self._queue_size, self.spill.directory
            )

    def _journaled_since(self, seq: int) -> dict[tuple[str, bytes], int]:
        """(event id, canonical caller fields) -> seq of the records journaled from `seq` on."""
        found: dict[tuple[str, bytes], int] = {}
        if seq >= self._size:
            return found
        for _, line in journal.lines_from_seq(self.home, seq):
            record = journal.parse_record(line)
            event_id, record_seq = record.get("event_id"), record.get("seq")
            if isinstance(event_id, str) and isinstance(record_seq, int):
                found[(event_id, _caller_fields(record))] = record_seq
        return found

    def _merge_spill(self) -> bool:
        """Journal spilled events (files and held in memory), skipping any already journaled.
        Returns True when nothing is left to merge."""
        admin = self._admin_spill
        if not self.spill.has_files() and not self._held and not (admin and admin.has_files()):
            return True
        if self._needs_rescan:
            self._rescan()
        files = self.spill.take() + (admin.take() if admin is not None else [])
        entries: list[dict[str, Any]] = []
        for path in files:
            got, bad = read_spill(path)
            if bad:
                logger.warning("%s: %d unreadable spill line(s) (torn by a crash)", path, bad)
            entries.extend(got)
        with self._held_lock:
            held, self._held = self._held, []
        entries.extend(held)
        if not entries:
            for path in files:
                path.unlink()
            return True
        after = min(int(e.get("after_seq", 0)) for e in entries)
        try:
            seen = self._journaled_since(after)
        except BaseException:
            with self._held_lock:  # memory is their only copy: put them back before failing
                self._held[:0] = held
            raise
        todo: list[tuple[dict[str, Any], Receipt | None, dict[str, Any] | None]] = []
        keys = []
        for entry in entries:
            event = entry["event"]
            key = (str(event.get("event_id")), _caller_fields(event))
            if key in seen:
                if seen[key] >= 0:  # it reached the journal before: do not write it twice
                    self._pending.discard(key)
                    receipt = self._spilled_receipts.pop(key, None)
                    if receipt is not None:
                        receipt.seq = seen[key]
                        receipt._state = _JOURNALED
                        if receipt._conn is not None:
                            receipt._conn.settled(receipt)
                        self._notify()
                continue  # (-1: a second copy of an entry merged below)
            seen[key] = -1
            info = {"at": entry.get("at"), "reason": entry.get("reason")}
            todo.append((event, self._spilled_receipts.get(key), info))
            keys.append(key)
            self._pending.add(key)  # after a reopen: what the spill files still hold
        if todo and self._fd is None and self._day is not None:
            self._set_day(None)
        written = self._write_entries(todo, MERGE_CHUNK_BYTES) if todo else 0
        for key in keys[:written]:
            self._spilled_receipts.pop(key, None)
            self._pending.discard(key)
        self._counters["merged"] += written
        if written < len(todo):
            # the spill files stay whole: the journal scan above skips their merged events at
            # the next attempt, here or after a reopen
            left = set(keys[written:])
            kept = [
                e
                for e in held
                if (str(e["event"].get("event_id")), _caller_fields(e["event"])) in left
            ]
            with self._held_lock:
                self._held[:0] = kept
            if written:
                logger.warning(
                    "merged %d of %d spilled event(s) into the journal before the disk refused "
                    "more; the rest follow as space allows",
                    written,
                    len(todo),
                )
                self._retry_delay = _RETRY_MIN  # progress: try again soon
                self._retry_at = time.monotonic() + _RETRY_MIN
            return False
        for path in files:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        if todo:
            logger.warning("merged %d spilled event(s) into the journal", len(todo))
        return True


def _caller_fields(record: dict[str, Any]) -> bytes:
    """The digest of a record's fields as the caller gave them (no seq/ts/prev/spill), taken
    canonically: the same event id with the same content is the same event; with other content
    it is not. A digest, so that a large backlog's keys stay small in memory."""
    fields = {k: v for k, v in record.items() if k not in ("seq", "ts", "prev", "spill")}
    return hashlib.sha256(event_identity(fields)).digest()
