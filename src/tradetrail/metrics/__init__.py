"""Prometheus metrics of a trail: its writer's health (read from stats() at scrape time) and
the trading events it journals (read from the journal by a background thread).

    metrics = TrailMetrics.for_trail(trail)          # a Trail (embedded or attached)
    app.mount("/metrics", prometheus_client.make_asgi_app(metrics.registry))
    ...
    metrics.close()

`tradetrail serve --metrics-listen HOST:PORT` serves the same registry without the HTTP API."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import CollectorRegistry

from .domain import MAX_LABEL_VALUES, DomainMetrics
from .follow import JournalFollower
from .health import HealthCollector, IndexLag, Verification

__all__ = [
    "HealthCollector",
    "IndexLag",
    "TrailMetrics",
    "Verification",
]


class _Trail(Protocol):
    """What TrailMetrics.for_trail needs of a trail (writer.trail.Trail, AttachedTrail)."""

    home: Path

    def stats(self) -> dict[str, Any]: ...

    @property
    def size(self) -> int: ...


class TrailMetrics:
    """One registry with the health collector and the domain metrics of the trail at `home`.

    `stats` returns the writer's stats() (with `clients` when the channel server's);
    `follow_from` is the first seq the domain metrics count (None: the journal's size now, so
    counters start at zero with the process, as Prometheus expects); `clients`, `index_lag`
    and `verification` add what stats() does not know; `registry` is one to fill (a new one
    by default)."""

    def __init__(
        self,
        home: Path,
        stats: Callable[[], Mapping[str, Any]],
        *,
        follow_from: int | None = None,
        clients: Callable[[], int] | None = None,
        index_lag: Callable[[], Iterable[IndexLag]] | None = None,
        verification: Callable[[], Verification | None] | None = None,
        max_label_values: int = MAX_LABEL_VALUES,
        interval: float = 0.5,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.domain = DomainMetrics(self.registry, max_label_values=max_label_values)
        if follow_from is None:
            size = stats().get("size")
            follow_from = size if isinstance(size, int) else 0
        self.follower = JournalFollower(
            home, self.domain.observe, start=follow_from, interval=interval
        )
        self.health = HealthCollector(
            stats,
            clients=clients,
            index_lag=index_lag,
            verification=verification,
            followed=lambda: self.follower.position,
        )
        self.registry.register(self.health)

    @classmethod
    def for_trail(
        cls,
        trail: _Trail,
        *,
        index_lag: Callable[[], Iterable[IndexLag]] | None = None,
        verification: Callable[[], Verification | None] | None = None,
        **options: Any,
    ) -> TrailMetrics:
        """The metrics of an open trail; an embedded writer's channel server (trail.channel)
        adds the clients attached."""
        channel = getattr(trail, "channel", None)
        stats = getattr(channel, "stats", None) or trail.stats
        return cls(
            trail.home,
            stats,
            follow_from=options.pop("follow_from", trail.size),
            index_lag=index_lag,
            verification=verification,
            **options,
        )

    def close(self) -> None:
        self.follower.close()
