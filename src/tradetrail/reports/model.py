"""What a report is, independent of how it is shown: a header that ties it to the trail, key
figures, and sections of tables and charts. The renderers (render.py) only lay this out, so
HTML, Markdown and JSON always carry the same figures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final, Literal, TypeVar

from ..errors import ReportError

__all__ = [
    "FORMAT",
    "Cell",
    "Chart",
    "CheckpointInfo",
    "Header",
    "Report",
    "ReportError",
    "Section",
    "Table",
]

FORMAT: Final = "tradetrail.report/1"
"""The JSON rendering's format tag; bumped only when a field changes meaning."""

Cell = str | int | None
"""A table cell: text (decimals are exact decimal strings), a count, or absent."""


@dataclass(frozen=True)
class Table:
    """Rows under fixed columns. `total` says how many rows there were when only the first
    ones are kept (timelines of long ranges), so a truncated table says so."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    total: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "title": self.title,
            "columns": list(self.columns),
            "rows": [list(r) for r in self.rows],
        }
        if self.total is not None:
            out["total_rows"] = self.total
        return out


@dataclass(frozen=True)
class Chart:
    """A chart's data; drawn only in HTML (charts.py). `series` are (name, values) aligned with
    `labels`. Kinds: horizontal bars, vertical bars (grouped by series), stacked vertical bars,
    a histogram (the values of the single series are the observations) and a timeline: stacked
    bars on a real time axis, `labels` being UTC hours (`YYYY-MM-DDTHH`) or days
    (`YYYY-MM-DD`), so empty hours and days keep their width. `span` is the first and last
    UTC day the axis must show (the report's range); `integer` says the values are counts
    (whole-number ticks). Every chart names both axes, with the unit."""

    title: str
    kind: Literal["barh", "bar", "stack", "hist", "timeline"]
    labels: tuple[str, ...]
    series: tuple[tuple[str, tuple[float, ...]], ...]
    xlabel: str = ""
    ylabel: str = ""
    integer: bool = False
    span: tuple[str, str] | None = None


@dataclass(frozen=True)
class Section:
    title: str
    text: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()
    charts: tuple[Chart, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "text": list(self.text),
            "tables": [t.to_json() for t in self.tables],
        }


@dataclass(frozen=True)
class CheckpointInfo:
    """The signed tree head that covers the report's last record: with it, every record the
    report counts can be proven to be in the log the examiner holds."""

    size: int
    root: str | None
    verified: bool
    exact: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "root": self.root,
            "signature_verified": self.verified,
            "exact": self.exact,
        }


@dataclass(frozen=True)
class Header:
    """Where the figures come from: the log, the UTC days, the records read."""

    origin: str | None
    start: str
    end: str
    days: tuple[str, ...]
    records: int
    first_seq: int | None
    last_seq: int | None
    open_days: tuple[str, ...]
    checkpoint: CheckpointInfo | None

    def to_json(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "from": self.start,
            "to": self.end,
            "journal_days": list(self.days),
            "open_days": list(self.open_days),
            "records": self.records,
            "seq": None
            if self.first_seq is None
            else {"first": self.first_seq, "last": self.last_seq},
            "checkpoint": None if self.checkpoint is None else self.checkpoint.to_json(),
        }


@dataclass(frozen=True)
class Report:
    """One report: `summary` holds the key figures (JSON values), `sections` the detail."""

    kind: str
    title: str
    header: Header
    summary: dict[str, Any]
    sections: tuple[Section, ...] = field(default_factory=tuple)
    notes: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """True when the range holds no record of the kind the report is about."""
        return bool(self.summary.get("empty", False))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "kind": self.kind,
            "title": self.title,
            "header": self.header.to_json(),
            "summary": self.summary,
            "notes": list(self.notes),
            "sections": [s.to_json() for s in self.sections],
        }


# ------------------------------------------------------------------------------ numbers

_T = TypeVar("_T")
_MS: Final = Decimal(1_000_000)
_THOUSANDTH: Final = Decimal("0.001")
_HUNDREDTH: Final = Decimal("0.01")


def ms(ns: int | None) -> str | None:
    """Nanoseconds as milliseconds with three decimals (exact, half-even)."""
    if ns is None:
        return None
    return str((Decimal(ns) / _MS).quantize(_THOUSANDTH, rounding=ROUND_HALF_EVEN))


def bps(value: Decimal | None) -> str | None:
    """Basis points with two decimals (half-even)."""
    if value is None:
        return None
    shown = value.quantize(_HUNDREDTH, rounding=ROUND_HALF_EVEN)
    return str(shown if shown != 0 else abs(shown))  # no "-0.00"


def dec(value: Decimal) -> str:
    """An exact decimal as plain text (no exponent), trailing zeros kept as summed."""
    text = str(value)
    return text if "E" not in text else format(value, "f")


def percentile(sorted_values: Sequence[_T], p: int) -> _T | None:
    """Nearest-rank percentile (the smallest value with at least p% of the values at or below
    it): always an observed value, never an interpolation, so a test can state it exactly."""
    n = len(sorted_values)
    if n == 0:
        return None
    rank = max(1, (p * n + 99) // 100)
    return sorted_values[rank - 1]
