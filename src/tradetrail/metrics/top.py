"""`tradetrail top`: one screen of a trail's live state for an operator without Grafana:
events per second by type, recent alerts, the writer's health and order latency.

A source gives, at each refresh, the records journaled since the last one and the health as
Prometheus samples: a service's own GET /metrics (RemoteSource), or, for a local trail, the
same collectors fed here (LocalSource: the writer's stats() asked over its channel, the
domain metrics over the records read). One Board keeps the window of records and turns it
into a frame, as a rich renderable or as JSON (`--once --json`).

Rates count records by their `ts` (the writer's clock), so the records read at start (the
last BACKLOG) give rates at once and a frame printed once is meaningful."""

from __future__ import annotations

import math
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import orjson
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..core import layout
from ..errors import TradetrailError
from ..store.journal import journal_files, lines_from_seq, tail_lines
from ..writer.client import writer_stats
from .domain import DomainMetrics
from .health import HealthCollector

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from ..writer.stream import ServiceReader

RATE_WINDOW: Final = 10.0
"""Seconds over which events/s is counted."""
COUNT_WINDOW: Final = 300.0
"""Seconds of the "last 5 min" column (and the most the window keeps)."""
BACKLOG: Final = 2000
"""Records read back at start: rates, alerts and latency have something to show at once."""
ALERTS: Final = 8
TYPES: Final = 15
ALERT_COLUMNS: Final = ("seq", "ts", "type", "severity", "rule", "channel", "message")
LATENCIES: Final = (
    ("submit→ack", "tradetrail_order_ack_latency_seconds"),
    ("submit→fill", "tradetrail_order_fill_latency_seconds"),
)


# ------------------------------------------------------------------ Prometheus samples


@dataclass
class Samples:
    """The samples of one scrape: name -> [(labels, value)]."""

    by_name: dict[str, list[tuple[dict[str, str], float]]] = field(default_factory=dict)

    @classmethod
    def of(cls, families: Iterable[Metric]) -> Samples:
        out = cls()
        for family in families:
            for sample in family.samples:
                out.by_name.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
        return out

    @classmethod
    def parse(cls, text: str) -> Samples:
        return cls.of(text_string_to_metric_families(text))

    def value(self, name: str) -> float | None:
        """The sum over every label set (None: not exported)."""
        found = self.by_name.get(name)
        return None if not found else sum(v for _, v in found)

    def by(self, name: str, label: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for labels, value in self.by_name.get(name, []):
            key = labels.get(label, "")
            out[key] = out.get(key, 0.0) + value
        return out

    def histogram(self, name: str, label: str) -> dict[str, list[tuple[float, float]]]:
        """Cumulative buckets [(le, count)] of a histogram, by `label`, le sorted."""
        out: dict[str, dict[float, float]] = {}
        for labels, value in self.by_name.get(name + "_bucket", []):
            le = float(labels["le"])  # "+Inf" parses as inf
            per = out.setdefault(labels.get(label, ""), {})
            per[le] = per.get(le, 0.0) + value
        return {k: sorted(v.items()) for k, v in out.items()}


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus's histogram_quantile over cumulative buckets: linear within the bucket that
    holds the rank (the highest finite bound when the rank falls in +Inf); None: no count."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if math.isinf(le):
                return lower
            if count == below:
                return le
            return lower + (le - lower) * (rank - below) / (count - below)
        lower, below = le, count
    return lower


# ------------------------------------------------------------------ the board


def _unix(ts: Any) -> float | None:
    if not isinstance(ts, str):
        return None
    try:
        return datetime.fromisoformat(ts).timestamp()
    except ValueError:
        return None


class Board:
    """What one frame shows, fed with records and samples from one thread."""

    def __init__(self, title: str, clock: Callable[[], float] = time.time) -> None:
        self.title = title
        self.clock = clock
        self.window: deque[tuple[float, str]] = deque()  # (ts, type), in arrival order
        self.seen: Counter[str] = Counter()
        self.alerts: deque[dict[str, Any]] = deque(maxlen=ALERTS)
        self.samples = Samples()
        self.last_seq: int | None = None
        self.problems: list[str] = []
        """What the source could not read at the last refresh (shown, never raised)."""
        self.writer_running: bool | None = None
        """False: no writer answers for a local trail (None: a service's, known by metrics)."""

    def add(self, record: Mapping[str, Any]) -> None:
        kind = str(record.get("type", "?"))
        self.seen[kind] += 1
        seq = record.get("seq")
        if isinstance(seq, int):
            self.last_seq = seq
        at = _unix(record.get("ts"))
        if at is not None and at >= self.clock() - COUNT_WINDOW:
            self.window.append((at, kind))
        if kind.startswith("alert."):
            self.alerts.append(dict(record))

    def snapshot(self) -> dict[str, Any]:
        """The frame as JSON values (what --once --json prints, and what render draws)."""
        now = self.clock()
        while self.window and self.window[0][0] < now - COUNT_WINDOW:
            self.window.popleft()
        recent: Counter[str] = Counter()
        last: Counter[str] = Counter()
        for at, kind in self.window:
            if at >= now - COUNT_WINDOW:
                last[kind] += 1
            if at >= now - RATE_WINDOW:
                recent[kind] += 1
        kinds = sorted(self.seen, key=lambda k: (-last[k], -self.seen[k], k))
        rates = [
            {
                "type": k,
                "per_second": recent[k] / RATE_WINDOW,
                "last_5_min": last[k],
                "seen": self.seen[k],
            }
            for k in kinds
        ]
        alerts = []
        for rec in reversed(self.alerts):
            data = rec.get("data") if isinstance(rec.get("data"), dict) else {}
            assert isinstance(data, dict)
            alerts.append(
                {
                    "seq": rec.get("seq"),
                    "ts": rec.get("ts"),
                    "type": rec.get("type"),
                    **{k: data.get(k) for k in ("severity", "rule", "channel", "message")},
                }
            )
        return {
            "title": self.title,
            "at": now,
            "last_seq": self.last_seq,
            "events": rates,
            "events_per_second": sum(recent.values()) / RATE_WINDOW,
            "alerts": alerts,
            "health": self.health(),
            "latency": self.latency(),
            "problems": list(self.problems),
        }

    def health(self) -> dict[str, Any]:
        s = self.samples
        degraded = s.value("tradetrail_writer_degraded")
        out: dict[str, Any] = {
            "writer_running": self.writer_running,
            "writer_degraded": None if degraded is None else degraded > 0,
            "records": s.value("tradetrail_journal_records"),
            "queue_depth": s.value("tradetrail_writer_queue_records"),
            "queue_capacity": s.value("tradetrail_writer_queue_capacity_records"),
            "spill_pending": s.value("tradetrail_spill_pending_records"),
            "spill_bytes": s.value("tradetrail_spill_bytes"),
            "checkpoint_age_seconds": s.value("tradetrail_checkpoint_age_seconds"),
            "checkpoint_records": s.value("tradetrail_checkpoint_records"),
            "index_lag_records": s.by("tradetrail_index_lag_records", "backend"),
            "index_lag_seconds": s.by("tradetrail_index_lag_seconds", "backend"),
            "clients": s.value("tradetrail_clients_attached"),
            "disk_free_bytes": s.value("tradetrail_disk_free_bytes"),
            "write_failures": s.value("tradetrail_write_failures_total")
            or (None if degraded is None else 0.0),  # exported with no sample: none yet
        }
        return out

    def latency(self) -> list[dict[str, Any]]:
        rows = []
        for label, name in LATENCIES:
            for venue, buckets in sorted(self.samples.histogram(name, "venue").items()):
                count = buckets[-1][1] if buckets else 0.0
                if count:
                    rows.append(
                        {
                            "latency": label,
                            "venue": venue,
                            "count": int(count),
                            "p50_seconds": quantile(0.5, buckets),
                            "p99_seconds": quantile(0.99, buckets),
                        }
                    )
        return rows


# ------------------------------------------------------------------ drawing


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def _count(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def render(frame: Mapping[str, Any]) -> RenderableType:
    """One frame of Board.snapshot() as rich tables."""
    at = datetime.fromtimestamp(frame["at"]).strftime("%H:%M:%S")
    head = Text.assemble(
        ("tradetrail top ", "bold"),
        f"{frame['title']}  ",
        f"last seq {frame['last_seq'] if frame['last_seq'] is not None else '-'}  ",
        f"{frame['events_per_second']:.1f} events/s  at {at}",
    )
    events = Table(title="Events by type", title_justify="left", expand=False)
    for name in ("type", "/s (10 s)", "last 5 min", "seen"):
        events.add_column(name, justify="left" if name == "type" else "right")
    for row in frame["events"][:TYPES]:
        events.add_row(
            row["type"], f"{row['per_second']:.1f}", str(row["last_5_min"]), str(row["seen"])
        )
    h = frame["health"]
    health = Table(title="Health", title_justify="left", show_header=False)
    health.add_column("what")
    health.add_column("value", justify="right")
    degraded = h["writer_degraded"]
    if h["writer_running"] is False:
        state = "[yellow]none running[/]"
    else:
        state = "-" if degraded is None else "[bold red]DEGRADED[/]" if degraded else "[green]ok[/]"
    health.add_row("writer", state)
    health.add_row("records", _count(h["records"]))
    queue_text = _count(h["queue_depth"])
    if h["queue_capacity"]:
        queue_text += f" / {_count(h['queue_capacity'])}"
    health.add_row("queue depth", queue_text)
    spill = h["spill_pending"]
    health.add_row(
        "spill pending",
        f"[bold red]{_count(spill)}[/]" if spill else _count(spill),
    )
    health.add_row("last checkpoint", f"{_age(h['checkpoint_age_seconds'])} ago")
    health.add_row("checkpoint size", _count(h["checkpoint_records"]))
    for backend, lag in sorted(h["index_lag_records"].items()):
        seconds = h["index_lag_seconds"].get(backend)
        health.add_row(f"index lag ({backend})", f"{lag:,.0f} records, {_age(seconds)}")
    if not h["index_lag_records"]:
        health.add_row("index lag", "-")
    health.add_row("clients", _count(h["clients"]))
    free = h["disk_free_bytes"]
    health.add_row("disk free", "-" if free is None else f"{free / 2**30:,.1f} GiB")
    failures = h["write_failures"]
    health.add_row(
        "write failures", f"[bold red]{_count(failures)}[/]" if failures else _count(failures)
    )
    parts: list[RenderableType] = [head, events, health]
    if frame["latency"]:
        latency = Table(title="Order latency", title_justify="left")
        for name in ("", "venue", "count", "p50", "p99"):
            latency.add_column(name, justify="left" if name in ("", "venue") else "right")
        for row in frame["latency"]:
            latency.add_row(
                row["latency"],
                row["venue"],
                str(row["count"]),
                _ms(row["p50_seconds"]),
                _ms(row["p99_seconds"]),
            )
        parts.append(latency)
    alerts = Table(title="Recent alerts", title_justify="left")
    for name in ALERT_COLUMNS:
        alerts.add_column(name, overflow="fold")
    for row in frame["alerts"]:
        alerts.add_row(*("" if row.get(k) is None else str(row[k]) for k in ALERT_COLUMNS))
    if not frame["alerts"]:
        alerts.add_row("", "", "(none)", "", "", "", "")
    parts.append(alerts)
    for problem in frame["problems"]:
        parts.append(Text(problem, style="yellow"))
    return Group(*parts)


# ------------------------------------------------------------------ sources


class LocalSource:
    """A trail on this host: its journal read from where the last refresh stopped, its
    writer's stats() over the channel (when one runs), domain metrics over the records read."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.registry = CollectorRegistry()
        self.domain = DomainMetrics(self.registry)
        self._stats: dict[str, Any] = {}
        self.registry.register(HealthCollector(lambda: self._stats))
        self.next_seq: int | None = None

    def _backlog(self) -> list[bytes]:
        lines: list[bytes] = []
        for path in reversed(journal_files(self.home)):
            got, _ = tail_lines(path, BACKLOG - len(lines))
            lines[:0] = got
            if len(lines) >= BACKLOG:
                break
        return lines

    def poll(self, board: Board) -> None:
        if self.next_seq is None:
            lines = self._backlog()
        else:
            lines = []
            for _, line in lines_from_seq(self.home, self.next_seq):
                lines.append(line)
                if len(lines) >= 10 * BACKLOG:
                    break
        for line in lines:
            record = orjson.loads(line)
            board.add(record)
            self.domain.observe(record)
            self.next_seq = int(record["seq"]) + 1
        if self.next_seq is None:
            self.next_seq = 0
        stats = writer_stats(self.home)
        board.problems = []
        board.writer_running = stats is not None
        if stats is None:
            stats = self._on_disk()
            board.problems.append(
                "no writer runs for this trail: health read from its files "
                "(tradetrail.open() or `tradetrail serve` starts one)"
            )
        self._stats = stats
        board.samples = Samples.of(self.registry.collect())

    def _on_disk(self) -> dict[str, Any]:
        """What the files say when no writer answers."""
        out: dict[str, Any] = {"size": self.next_seq or 0}
        spill = self.home / layout.SPILL_DIR
        if spill.is_dir():
            out["spill_bytes"] = sum(p.stat().st_size for p in spill.iterdir() if p.is_file())
        checkpoints = self.home / layout.CHECKPOINTS_DIR
        sizes = [int(p.name) for p in checkpoints.iterdir()] if checkpoints.is_dir() else []
        if sizes:
            out["last_checkpoint_size"] = max(sizes)
            out["last_checkpoint_unix"] = (checkpoints / str(max(sizes))).stat().st_mtime
        return out


class RemoteSource:
    """A trail a service serves: its stream followed by a thread, its GET /metrics scraped
    at each refresh."""

    def __init__(self, reader: ServiceReader, *, follow: bool = True) -> None:
        self.reader = reader
        self.follow = follow
        self._records: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._started = False
        self._error: str | None = None

    def start(self) -> None:
        """Read the backlog now (so that the first frame shows it), then follow."""
        size = int(self.reader.info()["size"])
        since = max(0, size - BACKLOG)
        if size:
            for _, line in self.reader.records(since=since, until=size - 1, follow=False):
                self._records.put(line)
        if self.follow:
            threading.Thread(
                target=self._follow, args=(size,), name="tradetrail-top", daemon=True
            ).start()
        self._started = True

    def _follow(self, since: int) -> None:
        try:
            for _, line in self.reader.records(since=since, follow=True):
                self._records.put(line)
        except (TradetrailError, ValueError) as exc:  # shown on the board; metrics go on
            self._error = f"the stream stopped: {exc}"

    def poll(self, board: Board) -> None:
        if not self._started:
            self.start()
        while True:
            try:
                line = self._records.get_nowait()
            except queue.Empty:
                break
            board.add(orjson.loads(line))
        board.problems = [self._error] if self._error else []
        try:
            board.samples = Samples.parse(self.reader.metrics())
        except (TradetrailError, ValueError) as exc:  # the last scrape stays, said on the board
            board.problems.append(f"GET /metrics: {exc}")


__all__ = ["Board", "LocalSource", "RemoteSource", "Samples", "quantile", "render"]
