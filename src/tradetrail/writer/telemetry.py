"""What the writer thread measures about itself for monitoring (fsync latency, records per
group commit): fixed-bucket counts, a few integer additions per batch and never anything in
record()'s path. Plain data, read by stats(), so that a writer process reports them to its
clients and the metrics package turns them into Prometheus histograms without the writer
depending on a metrics library."""

from __future__ import annotations

import bisect
from typing import Any, Final

FSYNC_BUCKETS: Final = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)
"""Seconds: a local NVMe fsync takes tens of microseconds, a struggling network disk seconds."""
BATCH_BUCKETS: Final = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0)
"""Records written by one write (and fsync): how much group commit gathers."""


class Buckets:
    """A histogram's cumulative-to-be counts: `counts[i]` observations <= bounds[i] (and above
    the previous bound), the last slot for those above every bound."""

    __slots__ = ("bounds", "count", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready and cumulative, as Prometheus buckets are: {"buckets": [[le, count],
        ...], "sum", "count"}, the last bucket's `le` being "+Inf"."""
        running = 0
        buckets: list[list[Any]] = []
        for bound, n in zip((*self.bounds, "+Inf"), list(self.counts), strict=True):
            running += n
            buckets.append([bound, running])
        return {"buckets": buckets, "sum": self.total, "count": running}
