"""`build_report`: read the journal days of a range once and make one report kind."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from .access import AccessCollector
from .common import Collector
from .config import ConfigCollector
from .execution import ExecutionCollector
from .model import Report, ReportError
from .risk import RiskCollector
from .scan import header, parse_range, scan_range
from .trading import TradingCollector

__all__ = ["REPORT_KINDS", "build_report", "build_reports"]

REPORT_KINDS: Final = ("daily", "risk", "execution", "config", "access")
"""Every report kind, in the order the CLI lists them."""

_FACTORIES: Final[dict[str, Callable[[int], Collector]]] = {
    "daily": lambda days: TradingCollector(),
    "risk": lambda days: RiskCollector(13 if days <= 3 else 10),
    "execution": lambda days: ExecutionCollector(),
    "config": lambda days: ConfigCollector(),
    "access": lambda days: AccessCollector(),
}


def build_report(home: Path, kind: str, start: str, end: str | None = None) -> Report:
    """The `kind` report over the UTC days `start`..`end` (YYYY-MM-DD, inclusive; `end`
    defaults to `start`). Streams the day files line by line; only lines that can hold the
    kind's event types are parsed. Raises ReportError for an unknown kind, a bad date or
    range, or a directory that is not a trail; JournalFormatError for an unreadable line."""
    return build_reports(home, (kind,), start, end)[0]


def build_reports(
    home: Path, kinds: Sequence[str], start: str, end: str | None = None
) -> list[Report]:
    """Several report kinds from ONE pass over the range (the exam package makes all five):
    each line is handed to the collectors whose event types it can hold."""
    for kind in kinds:
        if kind not in _FACTORIES:
            raise ReportError(f"unknown report {kind!r}; choose one of: {', '.join(REPORT_KINDS)}")
    end = start if end is None else end
    days = parse_range(start, end)
    home = Path(home)
    collectors = [_FACTORIES[kind](len(days)) for kind in kinds]
    matched: list[Collector] = []
    by_type: dict[bytes, list[Collector]] = {}

    def wanted(line: bytes) -> bool:
        # the top-level type, read from the bytes of a canonical line (data sorts before it)
        i = line.rfind(b',"type":"') + 9
        j = line.find(b'"', i) if i >= 9 else -1
        if j < 0 or b"\\" in line[i:j]:
            matched[:] = [c for c in collectors if any(n in line for n in c.needles)]
            return bool(matched)
        key = line[i:j]
        hit = by_type.get(key)
        if hit is None:
            quoted = b'"' + key + b'"'
            hit = by_type[key] = [c for c in collectors if any(n in quoted for n in c.needles)]
        matched[:] = hit
        return bool(hit)

    def handle(rec: dict[str, Any]) -> None:
        for collector in matched:  # those that `wanted` matched on this very line
            collector.add(rec)

    scan = scan_range(home, days, wanted, handle)
    head = header(home, scan, start, end)
    reports = []
    for kind, collector in zip(kinds, collectors, strict=True):
        title, summary, sections, notes = collector.finish(head)
        reports.append(Report(kind, title, head, summary, sections, notes))
    return reports
