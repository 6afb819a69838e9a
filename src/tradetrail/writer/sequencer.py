"""The sequencer: the writer thread's hot path. It drains the queue in batches, numbers, chains
and hashes the records, writes them to the day file in chunks (one fsync a chunk: group
commit), acknowledges their receipts only once durable, seals each UTC day and signs the
checkpoints; at close it journals what is left and signs the final checkpoint."""

from __future__ import annotations

import binascii
import contextlib
import errno
import hashlib
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ..core.canonical import Prepared, encode_record
from ..core.chain import Parts, SpliceHashExtend, splice_hash_extend_c
from ..core.checkpoint import Checkpoint, sign_checkpoint
from ..core.note import Signer, add_signatures
from ..core.timefmt import day_of, format_ns
from ..errors import TradetrailError
from ..store import journal
from ..store.journal import day_file_name, journal_files
from ..store.tilestore import write_atomic
from . import wire
from .state import (
    _CHECKPOINT,
    _FLUSH,
    _JOURNALED,
    _QUEUED,
    _RECORD,
    _REPLAY,
    _ROTATE,
    CHECKPOINT_FILE,
    CHECKPOINTS_DIR,
    WriterState,
    _describe,
)

if TYPE_CHECKING:
    from .trail import Receipt, Settled

logger = logging.getLogger("tradetrail")

MAX_BATCH: Final = 4096
RECENT_SECONDS: Final = 1.0
"""An fdatasync that races with the filesystem going read-only after an error can return
success for data the disk then loses (ext4 errors=remount-ro, seen on Linux 6.18 with a loop
device: the last acknowledged chunk was gone after e2fsck). Records acknowledged this shortly
before an EROFS/EIO failure are spilled again; the merge journals them only if the journal
lacks them (see MergeMixin._respill_recent)."""
RECENT_CHUNKS: Final = 64
_SPACE_ERRORS: Final = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class _WriteFailed(Exception):
    def __init__(self, cause: OSError) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.count = 0  # entries in the chunk that failed


class SequencerMixin(WriterState):
    """The writer thread of a Trail (started by Trail.__init__, stopped by close())."""

    def _run(self) -> None:
        queue = self._queue
        while True:
            if not queue:
                self._wake.clear()
                self._idle = True
                if not queue and not self._closing:
                    self._wake.wait(self._tick_seconds())
                self._idle = False
            batch: list[Receipt] = []
            while queue and len(batch) < MAX_BATCH:
                batch.append(queue.popleft())
            try:
                if batch:
                    self._process(batch)
                self._tick()
            except Exception as exc:  # a bug must not lose records: spill what is left
                self._on_internal_error(batch, exc)
            if self._closing and not queue:
                self._finished = True
                self._finish()
                return

    def _on_internal_error(self, batch: list[Receipt], exc: Exception) -> None:
        """Never let the writer thread die: spill the batch with a time that needs no clock."""
        try:
            logger.exception("tradetrail writer error; spilling the batch")
            self._last_error = f"internal: {exc!r}"
            self._spill_receipts(
                [r for r in batch if r._kind == _RECORD and r._state == _QUEUED],
                f"internal error: {exc!r}",
                format_ns(time.time_ns()),
            )
        except Exception:
            logger.exception("tradetrail writer could not spill after an error")
        for r in batch:
            if r._kind != _RECORD and r._state == _QUEUED:
                r._state = _JOURNALED
        self._notify()

    def _tick_seconds(self) -> float:
        return min(1.0, self.settings.checkpoint_interval)

    def _process(self, batch: list[Receipt]) -> None:
        pending: list[Receipt] = []
        for item in batch:
            if item._kind == _RECORD:
                pending.append(item)
                continue
            if pending:
                self._commit(pending)
                pending = []
            self._barrier(item)
        if pending:
            self._commit(pending)

    def _barrier(self, item: Receipt) -> None:
        if item._kind == _FLUSH:
            if self._fd is not None and self._unsynced:
                with contextlib.suppress(OSError):
                    self._sync()
            if self._degraded is not None:
                self._try_recover()
            elif self._pending or self._held:
                self._merge_now()
            item._result = not (self._pending or self._held)
        elif item._kind == _CHECKPOINT:
            item._result = self._sign_checkpoint()
        elif item._kind == _REPLAY:
            self._replay(*item._result)
        elif item._kind == _ROTATE:
            new, reason = item._result
            try:
                item._result = self._rotate_signing_key(new, reason)
            except (TradetrailError, OSError, ValueError, TypeError) as exc:
                item._result = exc
        item._state = _JOURNALED
        with self._cond:
            self._cond.notify_all()

    def _commit(self, items: list[Receipt]) -> None:
        if self._degraded is not None and not self._try_recover():
            self._spill_receipts(items, self._degraded, None)
            return
        self._write_entries([(r.event, r, None) for r in items])

    def _write_entries(
        self,
        entries: Sequence[tuple[Prepared | dict[str, Any] | None, Receipt | None, Any]],
        chunk_bytes: int | None = None,
    ) -> int:
        """Journal entries (event, receipt, spill info) in order: fresh events arrive `Prepared`,
        merged spill entries as plain dicts with their spill info. Returns how many were
        journaled; fewer than all when the disk failed: then the trail is degraded, the fresh
        ones left are spilled and merged ones stay in their spill file.

        Entries go in chunks of at most `chunk_bytes` (one chunk per UTC day when None), each
        durable before its receipts are acknowledged. A chunk refused for lack of space is cut
        off again and retried with half as many entries, down to one, so that whatever fits
        is journaled."""
        done, max_bytes, max_count = 0, chunk_bytes or sys.maxsize, len(entries)
        while done < len(entries):
            try:
                done += self._write_chunk(entries, done, max_bytes, max_count)
            except _WriteFailed as failure:
                space = failure.cause.errno in _SPACE_ERRORS
                if space and failure.count > 1 and not self._needs_rescan:
                    max_count = failure.count // 2
                    continue
                reason = _describe(failure.cause)
                self._enter_degraded(reason, failure.cause)
                fresh = [r for e, r, s in entries[done:] if s is None and r is not None]
                if fresh:
                    self._spill_receipts(fresh, reason, None)
                break
        return done

    def _write_chunk(
        self,
        entries: Sequence[tuple[Prepared | dict[str, Any] | None, Receipt | None, Any]],
        start: int,
        max_bytes: int,
        max_count: int,
    ) -> int:
        """Write entries from `start` on, up to `max_bytes`/`max_count` and never past the end of
        a UTC day, in one write; returns how many. On a disk failure the chunk is cut off again
        (the tree too) and _WriteFailed tells how many entries it had."""
        if (
            splice_hash_extend_c is not None
            and max_bytes == sys.maxsize
            and type(entries[start][0]) is Prepared
        ):
            return self._write_chunk_fast(splice_hash_extend_c, entries, start, max_count)
        sha, hexlify = hashlib.sha256, binascii.hexlify
        tiles, frontier = self._tile_builder, self._frontier
        chunks: list[bytes] = []
        done: list[tuple[Receipt | None, int]] = []
        snapshot = self._snapshot()
        nbytes = 0
        try:
            ts = self._stamp()
            if ts[0:4] + ts[5:7] + ts[8:10] != self._day_bytes:
                self._rotate(day_of(ts.decode()))
                snapshot = self._snapshot()
            size, prev = self._size, self._prev.encode()
            for index in range(start, len(entries)):
                event, receipt, spill_info = entries[index]
                if type(event) is Prepared:
                    line = event.p0 + prev + event.p1 + b"%d" % size + event.p2 + ts + event.p3
                else:
                    assert isinstance(event, dict)
                    rec = dict(event)
                    rec.update(seq=size, ts=ts.decode(), prev=prev.decode(), spill=spill_info)
                    line = encode_record(rec)
                leaf = sha(b"\x00" + line).digest()
                full = tiles.add(frontier.append(leaf))
                if full:
                    self._pending_tiles.extend(full)
                prev = hexlify(leaf)
                done.append((receipt, size))
                size += 1
                chunks.append(line)
                nbytes += len(line) + 1
                if nbytes >= max_bytes or len(chunks) >= max_count:
                    break
            self._size, self._prev = size, prev.decode()
            if chunks:
                self._flush_chunks(b"\n".join(chunks) + b"\n", done)
                self._keep_recent(entries, start, len(chunks))
            return len(chunks)
        except _WriteFailed as failure:
            self._restore(snapshot)
            failure.count = len(chunks)
            raise
        except Exception:
            # not the disk (a bug, a failing clock): drop the unjournaled leaves so the tree stays
            # the journal's; _run spills what was not acknowledged
            self._restore(snapshot)
            raise

    def _write_chunk_fast(
        self,
        splice_hash_extend: SpliceHashExtend,
        entries: Sequence[tuple[Prepared | dict[str, Any] | None, Receipt | None, Any]],
        start: int,
        max_count: int,
    ) -> int:
        """_write_chunk for a run of fresh (Prepared) entries with the compiled loop (splice,
        hash, frontier, tiles in one call): the same records, bytes, tree, tiles and failure
        handling, and one stamp for the chunk as there; the run stops at the first merged
        (dict) entry, which the next call writes."""
        snapshot = self._snapshot()
        end, stop = start, min(len(entries), start + max_count)
        while end < stop and type(entries[end][0]) is Prepared:
            end += 1
        run = entries[start:end]
        events: list[Parts] = [event for event, _, _ in run]  # type: ignore[misc]
        try:
            ts = self._stamp()
            if ts[0:4] + ts[5:7] + ts[8:10] != self._day_bytes:
                self._rotate(day_of(ts.decode()))
                snapshot = self._snapshot()
            size = self._size
            done = [(receipt, seq) for seq, (_, receipt, _) in enumerate(run, size)]
            size += len(run)
            stamps = [ts] * len(run)
            tiles, frontier = self._tile_builder, self._frontier
            data, prev, nodes, partials, full = splice_hash_extend(
                events, self._prev.encode(), self._size, stamps, frontier.nodes, tiles.partials()
            )
            frontier.restore(size, nodes)
            tiles.restore(size, partials)
            if full:
                self._pending_tiles.extend(full)
            self._size, self._prev = size, prev.decode()
            if events:
                self._flush_chunks(data, done)
                self._keep_recent(entries, start, len(events))
            return len(events)
        except _WriteFailed as failure:
            self._restore(snapshot)
            failure.count = len(events)
            raise
        except Exception:
            self._restore(snapshot)
            raise

    def _stamp(self) -> bytes:
        """The `ts` of the records of the chunk being written: the writer's clock when it
        journals them (one reading a chunk: they reach the disk together), never earlier than
        the last chunk's."""
        ns = self._clock()
        if ns < self._last_ns:
            ns = self._last_ns
        self._last_ns = ns
        return self._fmt.format_bytes(ns)

    def _keep_recent(
        self,
        entries: Sequence[tuple[Prepared | dict[str, Any] | None, Receipt | None, Any]],
        start: int,
        count: int,
    ) -> None:
        """Keep the events of a chunk just acknowledged as durable for RECENT_SECONDS."""
        if not self._durable_mode:
            return  # acknowledged after write(): a crash of the machine may lose them anyway
        now = time.monotonic()
        recent = self._recent
        events = [e for e, _, _ in entries[start : start + count] if e is not None]
        recent.append((now, self._size - count, events))
        while recent and (now - recent[0][0] > RECENT_SECONDS or len(recent) > RECENT_CHUNKS):
            recent.popleft()

    def _snapshot(self) -> tuple[Any, ...]:
        return (
            self._size,
            self._prev,
            self._frontier.copy(),
            self._tile_builder.copy(),
            self._file_size,
            len(self._pending_tiles),
        )

    def _restore(self, snap: tuple[Any, ...]) -> None:
        self._size, self._prev, self._frontier, self._tile_builder, size, pending = snap
        del self._pending_tiles[pending:]
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, size)
                self._file_size = size
            except OSError:
                # told once, in the degraded message that follows (_enter_degraded)
                self._needs_rescan = True

    def _flush_chunks(self, data: bytes, done: list[tuple[Receipt | None, int]]) -> None:
        fd = self._fd
        assert fd is not None
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if self._durable_mode:
                self._fdatasync(fd)
            else:
                self._unsynced = True
        except OSError as exc:
            raise _WriteFailed(exc) from exc
        self._file_size += len(data)
        self._counters["journaled"] += len(done)
        self._counters["bytes_written"] += len(data)
        self._batch_records.observe(len(done))
        if done:
            self.durable_size = done[-1][1] + 1
        # each client is told its events' seqs as runs (first index, first seq, count), which
        # its events of a chunk almost always are: one run a client a chunk
        conn: Settled | None = None
        runs: list[tuple[int, int, int, int]] = []
        first = first_seq = count = 0
        for receipt, seq in done:
            if receipt is not None:
                receipt.seq = seq
                receipt._state = _JOURNALED
                owner = receipt._conn
                if owner is not None:
                    index = receipt._index
                    if owner is conn and index == first + count and seq == first_seq + count:
                        count += 1
                        continue
                    if conn is not None:
                        runs.append((first, first_seq, count, wire.JOURNALED))
                        if owner is not conn:
                            conn.journaled(runs)
                            runs = []
                    conn, first, first_seq, count = owner, index, seq, 1
        if conn is not None:
            runs.append((first, first_seq, count, wire.JOURNALED))
            conn.journaled(runs)
        self._notify()
        try:
            self._write_pending_tiles()
        except OSError as exc:
            # tiles are derived data, rebuilt at the next open; the journal is what matters
            self._last_error = f"tile write: {_describe(exc)}"

    def _sync(self) -> None:
        if self._fd is not None:
            self._fdatasync(self._fd)
            self._unsynced = False

    def _fdatasync(self, fd: int) -> None:
        """fdatasync, timed for stats()["fsync_seconds"] (two clock readings a batch)."""
        started = time.perf_counter()
        os.fdatasync(fd)
        self._fsync_seconds.observe(time.perf_counter() - started)
        self._counters["fsyncs"] += 1

    def _rotate(self, day: str) -> None:
        if self._fd is not None:
            self._seal_current()
        if self._last_cp_size != self._size:
            files = journal_files(self.home)
            if files and journal.file_day(files[-1]) < day:
                # the seal checkpoint of the newest day failed (a full disk at midnight): sign
                # it before any record of a later day exists, or stay degraded and spill
                self._sign_checkpoint(raise_errors=True)
        path = self.home / journal.JOURNAL_DIR / day_file_name(day)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            journal.fsync_dir(path.parent)
        except OSError as exc:
            raise _WriteFailed(exc) from exc
        self._fd = fd
        self._set_day(day)
        self._file_size = os.fstat(fd).st_size

    def _set_day(self, day: str | None) -> None:
        self._day = day
        self._day_bytes = day.encode() if day else b""

    def _make_read_only(self, path: Path) -> None:
        os.chmod(path, 0o444)

    def _seal_current(self) -> None:
        """End of a UTC day: make the file durable and read-only and sign a checkpoint that
        covers exactly that day's last record."""
        fd, day = self._fd, self._day
        if fd is None or day is None:
            return
        try:
            os.fsync(fd)
        except OSError as exc:
            raise _WriteFailed(exc) from exc
        os.close(fd)
        self._fd = None
        self._set_day(None)
        self._unsynced = False
        path = self.home / journal.JOURNAL_DIR / day_file_name(day)
        try:
            self._make_read_only(path)
        except OSError as exc:  # the day is complete and durable; the next open seals it
            self._last_error = f"seal: {_describe(exc)}"
            logger.error("cannot make %s read-only: %s", path, _describe(exc))
        if self._last_cp_size != self._size:
            self._sign_checkpoint()
        logger.info("sealed day %s at size %d", day, self._size)

    def _sign_checkpoint(
        self, also: Signer | None = None, *, raise_errors: bool = False
    ) -> str | None:
        try:
            if self._unsynced:
                self._sync()
            self._write_partial_tiles()
            body = Checkpoint(self.origin, self._size, self._frontier.root())
            text = sign_checkpoint(body, self.signer)
            if also is not None:  # at a key rotation's size: the old key and the new one
                text = add_signatures(text, also)
            encoded = text.encode()
            write_atomic(self.home / CHECKPOINTS_DIR / str(self._size), encoded, sync=True)
            write_atomic(self.home / CHECKPOINT_FILE, encoded, sync=True)
        except OSError as exc:
            self._count_failure("checkpoint", exc)
            self._last_error = f"checkpoint: {_describe(exc)}"
            logger.error("cannot write checkpoint at size %d: %s", self._size, _describe(exc))
            if raise_errors:
                raise _WriteFailed(exc) from exc
            return None
        self._last_cp_size = self._size
        self._last_cp_ns = self._clock()
        self._last_cp_mono = time.monotonic()
        self._counters["checkpoints"] += 1
        return text

    def _tick(self) -> None:
        now = self._clock()
        if self._day is not None and self._fd is not None:
            today = day_of(self._fmt.format(max(now, self._last_ns)))
            if today != self._day:
                # later records must not go back into the sealed day, even if the clock steps back
                self._last_ns = max(self._last_ns, now)
                try:
                    self._seal_current()  # on success it closes the file and forgets the day
                except _WriteFailed as failure:
                    self._enter_degraded(_describe(failure.cause), failure.cause)
        settings = self.settings
        if self._size != self._last_cp_size and (
            (
                self._size - self._last_cp_size >= settings.checkpoint_every
                and time.monotonic() - self._last_cp_mono >= settings.checkpoint_spacing
            )
            or now - self._last_cp_ns >= settings.checkpoint_interval * 1e9
        ):
            self._sign_checkpoint()
        if self._degraded is not None:
            self._try_recover()
        elif (self._pending or self._held) and not self._queue:
            self._merge_now()
        elif not self._queue and self._foreign_spill_due():
            self._merge_now()  # an event a tradetrail command left while we held the trail
        with contextlib.suppress(OSError):
            self.spill.sync()

    def _finish(self) -> None:
        """Close-time work on the writer thread. `_finished` is already set, so a record()
        racing with close spills its own event; what reached the queue first is handled here."""
        late = []
        while self._queue:
            item = self._queue.popleft()
            if item._kind == _RECORD:
                late.append(item)
            else:
                item._state = _JOURNALED
        if late:
            self._commit(late)
        if self._pending or self._held:
            self._merge_now()
        try:
            if self._size != self._last_cp_size:
                self._sign_checkpoint()
            if self._fd is not None:
                self._sync()
            self._write_closed_mark()
        except OSError as exc:
            logger.error("closing the journal: %s", _describe(exc))
        if self._held:
            logger.error(
                "%d record(s) could be written neither to the journal nor to the spill "
                "directory; they were printed to stderr as 'tradetrail-spill' lines",
                len(self._held),
            )
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        self.spill.close()
        self._release_lock()
        self._closed = True
        self._notify()
