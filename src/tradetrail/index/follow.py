"""Keeping the index in step with a live trail, in a background thread of the writing
process: it never touches `record()`'s path, and when the database is down trading and the
journal go on, a warning is logged once per outage and the index catches up later."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

from ..errors import IndexStoreError, TradetrailError
from . import open_index
from .base import IndexBackend
from .feed import update_index

logger = logging.getLogger("tradetrail.index")
_MAX_DELAY: Final = 30.0


class Indexer:
    """Follows the journal at `home` into the index at `url`; `nudge()` after a commit makes it
    look at once, otherwise it polls every `interval` seconds."""

    def __init__(
        self,
        home: Path,
        url: str | None = None,
        interval: float = 1.0,
        durable_size: Callable[[], int] | None = None,
    ) -> None:
        self.home = Path(home)
        self.url = url
        self.durable_size = durable_size
        self.interval = interval
        self.indexed = 0
        self.position = 0  # records the index holds (its last seq + 1) after the last pass
        self.caught_up_at: float | None = None  # time.monotonic() of the last pass at the end
        self.last_error: str | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._done = threading.Condition()
        self._requested = 0  # catch-up requests made, and the last one a pass has served
        self._served = 0
        self._index: IndexBackend | None = None
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="tradetrail-indexer", daemon=True)
        self._thread.start()

    def nudge(self) -> None:
        self._wake.set()

    def catch_up(self, timeout: float | None = 30.0) -> bool:
        """Wait for one complete pass that started after this call; False if it failed or
        timed out (see last_error)."""
        with self._done:
            self._requested += 1
            target = self._requested
            self._wake.set()
            ok = self._done.wait_for(lambda: self._served >= target, timeout)
        return ok and self.last_error is None

    def lag(self, size: int) -> tuple[int, float]:
        """(records, seconds) the index is behind a journal of `size` records: the seconds
        since it last held every durable record (0 when it holds them now)."""
        behind = max(0, size - self.position)
        if not behind:
            return 0, 0.0
        since = self.caught_up_at if self.caught_up_at is not None else self._started
        return behind, time.monotonic() - since

    def close(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        if self._index is not None:
            self._index.close()

    def _run(self) -> None:
        delay = self.interval
        while not self._stop.is_set():
            with self._done:
                serving = self._requested  # requests made before this pass starts
            try:
                if self._index is None:
                    self._index = open_index(self.home, self.url)
                upto = self.durable_size() if self.durable_size is not None else None
                result = update_index(self.home, self._index, upto=upto)
                self.indexed += result.added
                self.position = result.last_seq + 1
                if upto is None or self.position >= upto:
                    self.caught_up_at = time.monotonic()
                if self.last_error is not None:
                    logger.warning("index %s: caught up again", self._url())
                self.last_error = None
                delay = self.interval
            except (TradetrailError, OSError) as exc:
                if self.last_error is None:
                    logger.warning(
                        "index %s is not being updated (%s); trading and the journal go on, "
                        "the index will catch up when it is back",
                        self._url(),
                        exc,
                    )
                self.last_error = str(exc)
                if isinstance(exc, IndexStoreError) and self._index is not None:
                    self._index.close()
                    self._index = None
                delay = min(_MAX_DELAY, max(delay * 2, self.interval))
            with self._done:
                self._served = serving
                self._done.notify_all()
            self._wake.wait(delay)
            self._wake.clear()

    def _url(self) -> str:
        return self._index.url if self._index is not None else (self.url or "sqlite (default)")
