"""Reading the journal as it grows, for the domain metrics: a background thread that tails the
day files (store.journal) from a seq on. Reading the journal rather than hooking the writer keeps
every cost off the writer's path, counts only what is durable, and works the same in the writer
process and in a service that only reads the trail."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from ..store import journal

logger = logging.getLogger("tradetrail.metrics")


class JournalFollower:
    """Calls `observe(record)` for every complete journal line from record `start` on, in seq
    order, polling every `interval` seconds; `position` is the next seq it will read."""

    def __init__(
        self,
        home: Path,
        observe: Callable[[dict[str, Any]], None],
        *,
        start: int = 0,
        interval: float = 0.5,
    ) -> None:
        self.home = Path(home)
        self.position = start
        self._observe = observe
        self._interval = interval
        self._path: Path | None = None
        self._offset = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tradetrail-metrics", daemon=True)
        self._thread.start()

    def nudge(self) -> None:
        """Read now rather than at the next poll."""
        self._wake.set()

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        failed = False
        while not self._stop.is_set():
            try:
                self.poll()
                if failed:
                    logger.warning("tradetrail metrics: reading the journal again")
                failed = False
            except (OSError, ValueError) as exc:  # a day file removed under retention, ...
                if not failed:
                    logger.warning("tradetrail metrics: cannot read the journal: %s", exc)
                failed = True
                self._path = None  # look for the position again
            self._wake.wait(self._interval)
            self._wake.clear()

    def poll(self) -> int:
        """Read what was journaled since the last poll; returns how many records."""
        if self._path is None and not self._find():
            return 0
        read = 0
        while True:
            assert self._path is not None
            for offset, line, complete in journal.iter_lines(self._path, self._offset):
                if not complete:
                    break  # being written (or torn): read again from its start next time
                self._offset = offset + len(line) + 1
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue  # `tradetrail verify` reports it; the metrics read on
                seq = record.get("seq") if isinstance(record, dict) else None
                if not isinstance(seq, int) or seq < self.position:
                    continue
                self.position = seq + 1
                self._observe(record)
                read += 1
            later = [p for p in journal.journal_files(self.home) if p.name > self._path.name]
            if not later:
                return read
            # the writer seals a day before it starts the next: this file is complete
            self._path, self._offset = later[0], 0

    def _find(self) -> bool:
        """Place the reader at record `position`: the day file that holds it (or the one
        before it, at its end), by binary search; a scan of that file only when it is not
        in seq order there."""
        files = journal.journal_files(self.home)
        if not files:
            return False
        want = self.position
        for path in reversed(files):
            first = journal.first_seq(path)
            if first is not None and first <= want:
                break
        else:
            self._path, self._offset = files[0], 0
            return True
        self._path = path
        offset = journal.offset_of_seq(path, want)
        if offset is None and want > 0:
            before = journal.offset_of_seq(path, want - 1)
            if before is not None:
                with open(path, "rb") as fh:
                    fh.seek(before)
                    fh.readline()
                    offset = fh.tell()
        self._offset = offset or 0  # (records before `position` are skipped by seq)
        return True
