"""The trail's own health as Prometheus metrics, read at scrape time from the writer's
`stats()` (an embedded Trail's, or a writer process's through the channel): nothing is counted
twice and nothing is added to the writer's path. What the writer does not know (an index fed by
another process, the last verification run) comes from callables the caller injects."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
)
from prometheus_client.registry import Collector

from .._version import __version__

HEADROOM_WINDOW_SECONDS: Final = 3600.0
"""Disk headroom is projected from the write rate over (at most) the last hour."""


@dataclass(frozen=True)
class IndexLag:
    """How far one index backend is behind the journal."""

    backend: str
    records: int
    seconds: float


@dataclass(frozen=True)
class Verification:
    """The last verification run: whether it found no fault, and when it ran (Unix seconds)."""

    ok: bool
    at: float


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _histogram(
    name: str, documentation: str, data: Any
) -> HistogramMetricFamily | None:  # stats() gives {"buckets": [[le, cumulative], ...], "sum"}
    if not isinstance(data, Mapping) or not isinstance(data.get("buckets"), list):
        return None
    buckets = [(str(float(le)) if le != "+Inf" else "+Inf", float(n)) for le, n in data["buckets"]]
    return HistogramMetricFamily(
        name, documentation, buckets=buckets, sum_value=float(data.get("sum", 0.0))
    )


class HealthCollector(Collector):
    """Scrape-time metrics of one trail's writer. `stats` is Trail.stats (or the channel
    server's, which adds `clients`); `clients`, `index_lag` and `verification` override or add
    what stats() does not hold; `lag_of_follower` is the domain follower's backlog."""

    def __init__(
        self,
        stats: Callable[[], Mapping[str, Any]],
        *,
        clients: Callable[[], int] | None = None,
        index_lag: Callable[[], Iterable[IndexLag]] | None = None,
        verification: Callable[[], Verification | None] | None = None,
        followed: Callable[[], int | None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._stats = stats
        self._clients = clients
        self._index_lag = index_lag
        self._verification = verification
        self._followed = followed
        self._clock = clock
        self._samples: deque[tuple[float, float]] = deque()

    def describe(self) -> Iterator[Any]:
        return iter(())  # collected at scrape time only (registering must not call stats())

    def _headroom_seconds(self, written: float, free: float) -> float:
        now = time.monotonic()
        samples = self._samples
        samples.append((now, written))
        while len(samples) > 2 and now - samples[1][0] >= HEADROOM_WINDOW_SECONDS:
            samples.popleft()
        then, before = samples[0]
        if now - then <= 0 or written <= before:
            return math.inf
        return free / ((written - before) / (now - then))

    def collect(self) -> Iterator[Any]:
        stats = self._stats()
        now = self._clock()

        def gauge(name: str, doc: str, value: Any) -> Iterator[GaugeMetricFamily]:
            number = _number(value)
            if number is not None:
                yield GaugeMetricFamily(name, doc, value=number)

        def counter(name: str, doc: str, key: str) -> Iterator[CounterMetricFamily]:
            number = _number(stats.get(key))
            if number is not None:
                yield CounterMetricFamily(name, doc, value=number)

        degraded = stats.get("degraded")
        yield InfoMetricFamily(
            "tradetrail_writer",
            "The trail's writer: its durability mode and tradetrail version.",
            value={
                "durability": str(stats.get("durability", "unknown")),
                "version": __version__,
            },
        )
        yield GaugeMetricFamily(
            "tradetrail_writer_degraded",
            "1 while the writer cannot journal (records spill) or cannot be reached, else 0.",
            value=1.0 if degraded else 0.0,
        )
        yield from gauge(
            "tradetrail_journal_records",
            "Records in the journal (its tree size).",
            stats.get("size"),
        )
        yield from counter(
            "tradetrail_journal_written_bytes",
            "Bytes this writer appended to the journal.",
            "bytes_written",
        )
        yield from counter(
            "tradetrail_journaled_records", "Records this writer journaled.", "journaled"
        )
        fsync = _histogram(
            "tradetrail_journal_fsync_duration_seconds",
            "Time one fdatasync of the journal took (one per group commit in fsync mode).",
            stats.get("fsync_seconds"),
        )
        if fsync is not None:
            yield fsync
        batch = _histogram(
            "tradetrail_journal_batch_records",
            "Records written by one write (and fsync) of the journal: the group commit size.",
            stats.get("batch_records"),
        )
        if batch is not None:
            yield batch
        yield from gauge(
            "tradetrail_writer_queue_records",
            "Events waiting in the writer's queue.",
            stats.get("queued"),
        )
        yield from gauge(
            "tradetrail_writer_queue_capacity_records",
            "Events the writer's queue holds before record() spills.",
            stats.get("queue_capacity"),
        )
        yield from gauge(
            "tradetrail_spill_pending_records",
            "Events waiting in the spill to be journaled.",
            stats.get("spill_pending"),
        )
        yield from gauge(
            "tradetrail_spill_bytes", "Bytes of the trail's spill files.", stats.get("spill_bytes")
        )
        yield from counter(
            "tradetrail_spilled_records",
            "Events spilled because the journal could not take them (queue full, disk failing).",
            "spilled",
        )
        yield from counter(
            "tradetrail_spill_merged_records", "Spilled events merged into the journal.", "merged"
        )
        failures = CounterMetricFamily(
            "tradetrail_write_failures",
            "Failed writes by target (journal, checkpoint) and errno name.",
            labels=["target", "errno"],
        )
        by_target = stats.get("write_failures")
        if isinstance(by_target, Mapping):
            for target, by_errno in sorted(by_target.items()):
                if isinstance(by_errno, Mapping):
                    for name, count in sorted(by_errno.items()):
                        failures.add_metric([str(target), str(name)], float(count))
        yield failures
        free = _number(stats.get("disk_free_bytes"))
        if free is not None:
            yield GaugeMetricFamily(
                "tradetrail_disk_free_bytes",
                "Bytes free to the writer on the trail's filesystem.",
                value=free,
            )
            written = _number(stats.get("bytes_written"))
            if written is not None:
                yield GaugeMetricFamily(
                    "tradetrail_disk_headroom_seconds",
                    "Time until the filesystem fills at the journal's write rate of the last "
                    "hour (+Inf while nothing is written).",
                    value=self._headroom_seconds(written, free),
                )
        checkpoint_at = _number(stats.get("last_checkpoint_unix"))
        if checkpoint_at is not None:
            yield GaugeMetricFamily(
                "tradetrail_checkpoint_last_timestamp_seconds",
                "When the writer last signed a checkpoint (or, if later, opened the trail).",
                value=checkpoint_at,
            )
            yield GaugeMetricFamily(
                "tradetrail_checkpoint_age_seconds",
                "Seconds since tradetrail_checkpoint_last_timestamp_seconds.",
                value=max(0.0, now - checkpoint_at),
            )
        yield from gauge(
            "tradetrail_checkpoint_records",
            "Tree size of the latest signed checkpoint.",
            stats.get("last_checkpoint_size"),
        )
        yield from counter(
            "tradetrail_checkpoints_signed", "Checkpoints this writer signed.", "checkpoints"
        )
        for key, name, doc in (
            ("schema_errors", "schema_errors", "Events recorded flagged with a schema_error."),
            ("redacted", "redacted_events", "Events in which secrets were redacted."),
            ("quarantined_events", "quarantined_events", "Client events refused (quarantined)."),
            ("fallbacks", "fallback_events", "Events recorded as log.fallback."),
        ):
            yield from counter(f"tradetrail_{name}", doc, key)
        clients = self._clients() if self._clients is not None else stats.get("clients")
        yield from gauge(
            "tradetrail_clients_attached", "Client processes attached to the writer.", clients
        )
        lag_records = GaugeMetricFamily(
            "tradetrail_index_lag_records",
            "Journal records not yet in the index, by backend.",
            labels=["backend"],
        )
        lag_seconds = GaugeMetricFamily(
            "tradetrail_index_lag_seconds",
            "Seconds since the index last held every journaled record (0: it does), by backend.",
            labels=["backend"],
        )
        for lag in self._index_lags(stats):
            lag_records.add_metric([lag.backend], float(lag.records))
            lag_seconds.add_metric([lag.backend], lag.seconds)
        yield lag_records
        yield lag_seconds
        run = self._verification() if self._verification is not None else None
        if run is not None:
            yield GaugeMetricFamily(
                "tradetrail_verification_ok",
                "1 if the last verification run found no fault, else 0.",
                value=1.0 if run.ok else 0.0,
            )
            yield GaugeMetricFamily(
                "tradetrail_verification_last_timestamp_seconds",
                "When the last verification run finished.",
                value=run.at,
            )
        position = self._followed() if self._followed is not None else None
        size = _number(stats.get("size"))
        if position is not None and size is not None:
            yield GaugeMetricFamily(
                "tradetrail_metrics_lag_records",
                "Journaled records the domain metrics have not read yet.",
                value=max(0.0, size - position),
            )

    def _index_lags(self, stats: Mapping[str, Any]) -> list[IndexLag]:
        if self._index_lag is not None:
            return list(self._index_lag())
        index = stats.get("index")
        if not isinstance(index, Mapping):
            return []
        return [
            IndexLag(
                str(index.get("backend", "unknown")),
                int(index.get("lag_records", 0)),
                float(index.get("lag_seconds", 0.0)),
            )
        ]
