"""Events that tradetrail's own commands record about themselves: an export made, a day
attested, records removed under the retention policy.

A command-line run usually meets a trail that a trading process holds open for writing. It
must neither wait for that process to stop nor lose the event, so when the writer lock is taken
the event goes into the trail's spill directory, the same file format the writer already
merges; the running writer looks for such files on its periodic tick and journals them (with
`spill` saying when and why), and any later open merges them too.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..core.canonical import SORT, prepare
from ..core.timefmt import format_ns
from ..errors import TrailLockedError
from ..model.events import DEFAULT_MODEL
from ..model.redact import DEFAULT_REDACTOR, Redactor
from ..store.journal import fsync_dir, journal_files, tail_lines
from ..store.journal import record_seq as _record_seq
from ..store.keys import trail_origin
from .config import resolve as resolve_settings
from .spill import Spill
from .trail import ADMIN_SPILL_DIR

__all__ = ["AdminRecord", "QueuedReceipt", "QueuedRecorder", "record_admin_event"]

SPILL_REASON = "recorded by a tradetrail command while another process held the trail"


@dataclass(frozen=True)
class AdminRecord:
    """Where an administrative event went: journaled at `seq`, or waiting in `spill_file`."""

    seq: int | None
    spill_file: Path | None

    def describe(self) -> str:
        if self.seq is not None:
            return f"recorded as seq {self.seq}"
        return (
            f"queued in {self.spill_file} (another process holds the trail; its writer journals "
            "it within seconds, or the next open does)"
        )


def _journal_size(home: Path) -> int:
    for path in reversed(journal_files(home)):
        lines, _ = tail_lines(path, 1)
        if lines:
            return _record_seq(lines[-1]) + 1
    return 0


class QueuedReceipt:
    """The receipt of a queued event: `wait()` makes it durable in the spill directory (the
    running writer gives it a seq later, so there is none to return)."""

    __slots__ = ("_batch", "_recorder", "path")

    def __init__(self, recorder: QueuedRecorder, batch: int) -> None:
        self._recorder = recorder
        self._batch = batch
        self.path: Path | None = None

    def wait(self, timeout: float | None = None) -> None:
        self._recorder._flush_through(self._batch)
        return None


class QueuedRecorder:
    """Stands in for a Trail when another process holds the writer lock, so that every command
    that records an event works the same way while a trading process runs: each event is
    validated and redacted like `record()` and, at `flush()` (or a receipt's `wait()`), written
    to one file in the trail's spill directory (fsynced, then renamed into place), which the
    running writer merges within seconds and any later open merges too."""

    redactor: Redactor | None = DEFAULT_REDACTOR

    def __init__(self, home: Path | str, *, strict: bool = False) -> None:
        self.home = Path(home)
        self.strict = strict
        self.files: list[Path] = []
        self.queued = 0
        self._settings = resolve_settings(self.home)
        source = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "service": Path(sys.argv[0] or "tradetrail").name or "tradetrail",
        }
        source = DEFAULT_REDACTOR.redact(source, "source")[0]
        self._source = orjson.Fragment(orjson.dumps(source, option=SORT))
        self._pending: list[dict[str, Any]] = []
        self._receipts: list[QueuedReceipt] = []
        self._batch = 0

    def record(self, event_type: str, data: Any = None, **fields: Any) -> QueuedReceipt:
        event = prepare(
            event_type,
            data,
            fields,
            self._source,
            self._settings.max_event_bytes,
            model=DEFAULT_MODEL,
            redactor=DEFAULT_REDACTOR,
            strict=self.strict,
        )
        self._pending.append(
            {"at": format_ns(time.time_ns()), "reason": SPILL_REASON, "event": event.fields()}
        )
        receipt = QueuedReceipt(self, self._batch)
        self._receipts.append(receipt)
        return receipt

    def flush(self, timeout: float | None = None) -> bool:
        """Write what is pending to one spill file; True: everything recorded is durable."""
        if not self._pending:
            return True
        after_seq = _journal_size(self.home)
        body = b"".join(
            orjson.dumps({"after_seq": after_seq, **e}, option=SORT | orjson.OPT_APPEND_NEWLINE)
            for e in self._pending
        )
        path = self._write(body)
        self.files.append(path)
        self.queued += len(self._pending)
        for receipt in self._receipts:
            receipt.path = path
        self._pending.clear()
        self._receipts.clear()
        self._batch += 1
        return True

    def _flush_through(self, batch: int) -> None:
        if batch >= self._batch:
            self.flush()

    def _write(self, body: bytes) -> Path:
        spill = Spill(self.home / ADMIN_SPILL_DIR, trail_origin(self.home))  # every writer looks
        spill.directory.mkdir(parents=True, exist_ok=True)
        name = f"{spill.prefix}{os.getpid()}-{time.time_ns()}-admin.jsonl"
        # written aside and renamed: the writer must never take (and delete) a half-written file
        tmp = spill.directory / f".{name}.tmp"
        target = spill.directory / name
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, body)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, target)
        fsync_dir(spill.directory)
        return target


def record_admin_event(
    home: Path | str, event_type: str, data: Any = None, **fields: Any
) -> AdminRecord:
    """Record one event of a tradetrail command and wait until it is durable (journaled, or
    fsynced in the spill directory when a running process holds the trail). The event is
    checked strictly against the event model: a malformed one is our bug and raises."""
    from .trail import open as open_trail

    home = Path(home)
    try:
        trail = open_trail(home, strict=True, create=False)
    except TrailLockedError:
        queue = QueuedRecorder(home, strict=True)
        receipt = queue.record(event_type, data, **fields)
        receipt.wait()
        return AdminRecord(None, receipt.path)
    with trail:
        seq = trail.record(event_type, data, **fields).wait()
    return AdminRecord(seq, None)
