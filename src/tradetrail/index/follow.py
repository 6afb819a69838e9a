"""Keeping the index in step with a live trail, in a background thread of the writing
process: it never touches `record()`'s path, and when the database is down trading and the
journal go on, a warning is logged once per outage and the index catches up later."""

from __future__ import annotations

import logging
import threading
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
        self.last_error: str | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._done = threading.Condition()
        self._requested = 0  # catch-up requests made, and the last one a pass has served
        self._served = 0
        self._index: IndexBackend | None = None
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
                self.indexed += update_index(self.home, self._index, upto=upto).added
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
