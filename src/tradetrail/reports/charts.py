"""Charts as inline SVG, drawn with matplotlib only when an HTML report is rendered (so
`import tradetrail` stays fast and no GUI backend is ever touched: a Figure is drawn straight
onto the SVG canvas, without pyplot).

The SVG is byte-for-byte reproducible: a fixed `svg.hashsalt` per chart (so the clip-path and
glyph ids are stable), no date or creator metadata, text kept as text with a generic font
fallback, and every id prefixed with the chart's number so several charts can share one
HTML document without id clashes."""

from __future__ import annotations

import io
import itertools
import re
from datetime import UTC, datetime, timedelta
from typing import Any, Final, cast

from ..errors import missing_extra
from .model import Chart

__all__ = ["PALETTE", "svg"]

PALETTE: Final = ("#2f6db5", "#e08a2c", "#3d9a5b", "#c2423f", "#7d5fb2", "#8c6d4f", "#4fa3b8")
_RC: Final[dict[str, Any]] = {
    "svg.fonttype": "none",
    "font.family": ["sans-serif"],
    "font.sans-serif": ["DejaVu Sans", "Helvetica", "Arial"],
    "font.size": 9.0,
    "axes.edgecolor": "#9aa4b1",
    "axes.labelcolor": "#27313d",
    "axes.titlesize": 10.0,
    "axes.titleweight": "bold",
    "xtick.color": "#4a5563",
    "ytick.color": "#4a5563",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.image_inline": True,
    "path.simplify": True,
}
_ID: Final = re.compile(r'\bid="([^"]+)"')
_REF: Final = re.compile(r'(url\(#|href="#)([^)"]+)')
_MAX_LABELS: Final = 40


def svg(chart: Chart, number: int) -> str:
    """The chart as an `<svg>` element (no XML prolog or DOCTYPE), ready to inline. It carries
    a `<title>`, an `aria-label` and a `<desc>` naming the axes, and its title and axis labels
    are text in groups with the ids `c<number>-title`, `-xlabel` and `-ylabel`, so a reader
    (and a test) can find them."""
    try:
        import matplotlib
        from matplotlib.backends.backend_svg import FigureCanvasSVG
        from matplotlib.figure import Figure
    except ModuleNotFoundError as exc:  # an extra since 0.2: a trading process need not carry it
        if (exc.name or "").partition(".")[0] != "matplotlib":
            raise
        raise missing_extra(exc, "HTML reports", "reports") from None

    rc = dict(_RC)
    rc["svg.hashsalt"] = f"tradetrail-chart-{number}"
    with matplotlib.rc_context(cast(Any, rc)):
        rows = len(chart.labels)
        if chart.kind == "barh":
            height = min(9.0, 1.4 + 0.32 * max(rows, 1) * max(1, len(chart.series)) ** 0.5)
        else:
            height = 3.2
        width = 9.5 if chart.kind == "timeline" else 7.5
        fig = Figure(figsize=(width, height), dpi=72)
        FigureCanvasSVG(fig)
        ax = fig.add_subplot()
        _draw(ax, chart)
        ax.set_title(chart.title, loc="left").set_gid("title")
        ax.set_xlabel(chart.xlabel)
        ax.set_ylabel(chart.ylabel)
        ax.xaxis.label.set_gid("xlabel")
        ax.yaxis.label.set_gid("ylabel")
        _value_axis(ax, chart)
        ax.grid(axis="x" if chart.kind == "barh" else "y", color="#e3e7ec", linewidth=0.8)
        ax.set_axisbelow(True)
        if len(chart.series) > 1:
            ax.legend(frameon=False, fontsize=8)
        fig.tight_layout()
        out = io.BytesIO()
        fig.savefig(
            out,
            format="svg",
            metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
        )
    text = out.getvalue().decode("utf-8")
    text = text[text.index("<svg") :].rstrip() + "\n"
    prefix = f"c{number}-"
    text = _ID.sub(lambda m: f'id="{prefix}{m.group(1)}"', text)
    text = _REF.sub(lambda m: f"{m.group(1)}{prefix}{m.group(2)}", text)
    head = text.index(">", text.index("<svg")) + 1
    desc = f"x axis: {chart.xlabel}; y axis: {chart.ylabel}"
    text = (
        text[:head]
        + f"\n <title>{_attr(chart.title)}</title>\n <desc>{_attr(desc)}</desc>"
        + text[head:]
    )
    return text.replace("<svg ", f'<svg role="img" aria-label="{_attr(chart.title)}" ', 1)


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _grouped() -> Any:
    """A tick formatter with thousands separators and just the decimals the tick spacing
    needs: never matplotlib's offset or `1e7` multiplier, which an officer reads past."""
    from matplotlib.ticker import Formatter

    class Grouped(Formatter):
        def format_ticks(self, values: Any) -> list[str]:
            ticks = sorted(float(v) for v in values)
            steps = [b - a for a, b in itertools.pairwise(ticks) if b > a]
            step = min(steps) if steps else 1.0
            places = 0
            while places < 6 and abs(step * 10**places - round(step * 10**places)) > 1e-6:
                places += 1
            return [_tick(float(v), places) for v in values]

        def __call__(self, x: float, pos: int | None = None) -> str:
            return _tick(x, 2)

    return Grouped()


def _tick(x: float, places: int) -> str:
    text = f"{x:,.{places}f}"
    return "0" if not text.lstrip("-").strip("0.,") else text


def _value_axis(ax: Any, chart: Chart) -> None:
    from matplotlib.ticker import MaxNLocator

    axes = [ax.xaxis] if chart.kind == "barh" else [ax.yaxis]
    if chart.kind == "hist":
        axes.append(ax.xaxis)
    for n, axis in enumerate(axes):
        axis.set_major_formatter(_grouped())
        if chart.integer and n == 0:
            axis.set_major_locator(MaxNLocator(integer=True))


def _bucket(label: str) -> datetime:
    if "T" in label:
        return datetime.strptime(label[:13], "%Y-%m-%dT%H").replace(tzinfo=UTC)
    return datetime.strptime(label[:10], "%Y-%m-%d").replace(tzinfo=UTC)


def _timeline(ax: Any, chart: Chart) -> None:
    """Stacked bars at their real time: an empty hour or day is an empty slot, not skipped."""
    from matplotlib import dates

    mdates: Any = dates  # untyped functions
    hourly = any("T" in label for label in chart.labels)
    width = timedelta(hours=1) if hourly else timedelta(days=1)
    starts = [_bucket(label) for label in chart.labels]
    xs = [mdates.date2num(s) for s in starts]
    step = mdates.date2num(starts[0] + width) - xs[0] if starts else 1.0
    if not hourly:  # a day's bar stands over its noon, under its date
        xs = [x + step / 2 for x in xs]
    base = [0.0] * len(xs)
    for i, (name, values) in enumerate(chart.series):
        ax.bar(
            xs,
            values,
            width=step * 0.9,
            bottom=base,
            align="edge" if hourly else "center",
            label=name,
            color=PALETTE[i % len(PALETTE)],
        )
        base = [b + v for b, v in zip(base, values, strict=True)]
    days = 1
    if chart.span is not None:
        first = _bucket(chart.span[0])
        last = _bucket(chart.span[1]) + timedelta(days=1)
        days = (last - first).days
        ax.set_xlim(mdates.date2num(first), mdates.date2num(last))
    if hourly:
        locator = mdates.AutoDateLocator(tz=UTC, minticks=4, maxticks=12)
        ax.xaxis.set_major_locator(locator)
        concise = mdates.ConciseDateFormatter(
            locator,
            tz=UTC,
            formats=["%Y", "%Y-%m", "%Y-%m-%d", "%H:%M", "%H:%M", "%H:%M:%S"],
            zero_formats=["", "%Y", "%Y-%m", "%Y-%m-%d", "%H:%M", "%H:%M"],
            show_offset=False,
        )
        ax.xaxis.set_major_formatter(concise)
        return
    every = max(1, -(-days // 12))
    rule = mdates.rrulewrapper(mdates.DAILY, interval=every, byhour=12, byminute=0, bysecond=0)
    ax.xaxis.set_major_locator(mdates.RRuleLocator(rule, tz=UTC))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d", tz=UTC))


def _draw(ax: Any, chart: Chart) -> None:
    if chart.kind == "timeline":
        _timeline(ax, chart)
        return
    if chart.kind == "hist":
        values = chart.series[0][1] if chart.series else ()
        ax.hist(values, bins=min(40, max(5, len(values) // 5)), color=PALETTE[0])
        ax.axvline(0, color="#27313d", linewidth=0.8)
        return
    labels = list(chart.labels)
    count = len(chart.series)
    width = 0.8 / max(count, 1)
    positions = list(range(len(labels)))
    if chart.kind == "stack":
        base = [0.0] * len(labels)
        for i, (name, values) in enumerate(chart.series):
            ax.bar(
                positions,
                values,
                width=0.7,
                bottom=base,
                label=name,
                color=PALETTE[i % len(PALETTE)],
            )
            base = [b + v for b, v in zip(base, values, strict=True)]
    for i, (name, values) in enumerate(chart.series if chart.kind != "stack" else ()):
        offset = [p - 0.4 + width * (i + 0.5) for p in positions]
        color = PALETTE[i % len(PALETTE)]
        if chart.kind == "barh":
            ax.barh(offset, values, height=width, label=name, color=color)
        else:
            ax.bar(offset, values, width=width, label=name, color=color)
    if chart.kind == "barh":
        ax.set_yticks(positions, labels)
        ax.invert_yaxis()
    else:
        step = max(1, len(labels) // _MAX_LABELS + (len(labels) % _MAX_LABELS > 0))
        shown = positions[::step]
        ax.set_xticks(shown, [labels[p] for p in shown])
        if len(labels) > 6 or max((len(t) for t in labels), default=0) > 10:
            for tick in ax.get_xticklabels():
                tick.set_rotation(45)
                tick.set_horizontalalignment("right")
