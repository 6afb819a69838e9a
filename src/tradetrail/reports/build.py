"""`build_report`: read the journal days of a range once and make one report kind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Final

from .access import AccessCollector
from .common import Collector
from .config import ConfigCollector
from .execution import ExecutionCollector
from .model import Report, ReportError
from .risk import RiskCollector
from .scan import header, parse_range, scan_range
from .trading import TradingCollector

__all__ = ["REPORT_KINDS", "build_report"]

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
    if kind not in _FACTORIES:
        raise ReportError(f"unknown report {kind!r}; choose one of: {', '.join(REPORT_KINDS)}")
    end = start if end is None else end
    days = parse_range(start, end)
    home = Path(home)
    collector = _FACTORIES[kind](len(days))
    needles = collector.needles

    def wanted(line: bytes) -> bool:
        return any(n in line for n in needles)

    scan = scan_range(home, days, wanted, collector.add)
    head = header(home, scan, start, end)
    title, summary, sections, notes = collector.finish(head)
    return Report(kind, title, head, summary, sections, notes)
