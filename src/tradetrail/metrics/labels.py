"""Bounded label values: every label a record can choose (venue, type, reject reason, risk rule,
host) keeps its first `limit` distinct values; later ones share "other". A misbehaving source
(an order id in `venue`, a free-text reason) then costs one series, not one per value, and
Prometheus stays healthy."""

from __future__ import annotations

import threading
from typing import Any, Final

OTHER: Final = "other"
UNKNOWN: Final = "unknown"
MAX_VALUE_CHARS: Final = 64


class LabelCap:
    """The values of one label, at most `limit` of them plus "other" (and "unknown")."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit: a label needs at least one value, got {limit}")
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: Any) -> str:
        if value is None or value == "":
            return UNKNOWN
        text = str(value)[:MAX_VALUE_CHARS]
        if text in self._seen:
            return text
        with self._lock:
            if len(self._seen) < self.limit:
                self._seen.add(text)
                return text
        return OTHER
