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
        self._tail = journal.JournalTail(self.home)
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
                self._tail.reset()  # look for the position again
            self._wake.wait(self._interval)
            self._wake.clear()

    def poll(self) -> int:
        """Read what was journaled since the last poll; returns how many records."""
        read = 0
        for _, line in self._tail.lines(self.position):
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
        return read
