"""`render(report, fmt)`: the same figures as HTML (with charts), Markdown or JSON bytes.

Deterministic by construction: nothing depends on the clock, the host or dict creation order
(tables are built sorted, JSON keys are sorted, charts are reproducible SVG), so the same
journal and range always give the same bytes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from typing import Any, Final

import orjson

from .._version import __version__
from .model import Cell, Header, Report, ReportError, Table

__all__ = ["FORMATS", "render"]

FORMATS: Final = ("html", "md", "json")
_DASH: Final = "—"

_CSS: Final = """
:root{--ink:#1f2933;--muted:#5f6b7a;--line:#d9dee5;--band:#f5f7fa;--accent:#2f6db5}
*{box-sizing:border-box}
body{margin:0;background:#fff;color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",
Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1320px;margin:0 auto;padding:24px 24px 48px}
header.top{border-bottom:3px solid var(--accent);padding-bottom:12px;margin-bottom:20px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:18px;margin:32px 0 8px;padding-bottom:4px;border-bottom:1px solid var(--line)}
h3{font-size:14px;margin:18px 0 6px;color:var(--muted)}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:8px 0 0}
dl.meta dt{color:var(--muted)}dl.meta dd{margin:0;font-family:ui-monospace,Menlo,Consolas,monospace;
overflow-wrap:anywhere}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0}
.card{border:1px solid var(--line);border-radius:6px;padding:8px 14px;min-width:120px;
max-width:100%;background:var(--band)}
.card .v{font-size:22px;font-weight:650;line-height:1.2;white-space:nowrap;
font-variant-numeric:tabular-nums}
.card .u{font-size:13px;font-weight:500;color:var(--muted);margin-left:4px}
.card .k{color:var(--muted);font-size:12px}
.card .s{color:var(--muted);font-size:11px;max-width:40ch;overflow-wrap:anywhere}
.warn{background:#fff6e0;border:1px solid #f0d28a;border-radius:6px;padding:8px 12px}
.empty{color:var(--muted);font-style:italic}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:6px 0 14px;font-size:13px}
th,td{border:1px solid var(--line);padding:4px 7px;text-align:left;vertical-align:top}
th{background:var(--band);font-weight:600;vertical-align:bottom}
td{overflow-wrap:anywhere}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.t,td.k{white-space:nowrap}
td.t{font-variant-numeric:tabular-nums}
tr:nth-child(even) td{background:#fbfcfd}
figure{margin:8px 0 16px}figure svg{max-width:100%;height:auto}
footer{margin-top:36px;color:var(--muted);font-size:12px;border-top:1px solid var(--line);
padding-top:10px}
@page{size:landscape;margin:12mm}
@media print{
body{font-size:11px}main{max-width:none;padding:0}
h1{font-size:18px}h2{font-size:14px;margin:18px 0 6px;break-after:avoid}
h3{font-size:11px;break-after:avoid}
.card{padding:4px 8px;min-width:90px}.card .v{font-size:15px}
.scroll{overflow:visible}
table{font-size:10px}th,td{padding:2px 4px}thead{display:table-header-group}
tr,figure,.card{break-inside:avoid}
figure svg{max-width:100%;max-height:110mm}
}
"""


def render(report: Report, fmt: str) -> bytes:
    """The report as `fmt` ("html", "md" or "json") bytes (UTF-8)."""
    if fmt == "json":
        return (
            orjson.dumps(report.to_json(), option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)
            + b"\n"
        )
    if fmt == "md":
        return _markdown(report).encode("utf-8")
    if fmt == "html":
        return _html(report).encode("utf-8")
    raise ReportError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")


# ------------------------------------------------------------------------------ shared


def _text(value: Any) -> str:
    if value is None:
        return _DASH
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, list):
        return ", ".join(map(_text, value)) if value else _DASH
    return str(value)


@dataclass(frozen=True)
class _Figure:
    label: str
    value: str
    unit: str = ""
    sub: str = ""


_Group = tuple[str, "list[_Figure] | Table"]


def _unit(key: str, summary: dict[str, Any]) -> tuple[str, str]:
    """(label, unit) of a key figure: `_ms`/`_bps` suffixes become the unit, money figures
    take the report's currency."""
    if key.endswith("_ms"):
        return key[:-3].replace("_", " "), "ms"
    if key.endswith("_bps"):
        return key[:-4].replace("_", " "), "bps"
    currency = summary.get("currency")
    unit = currency if key in _MONEY and type(currency) is str else ""
    return key.replace("_", " "), unit


def _figure(label: str, value: Any, unit: str) -> _Figure:
    if isinstance(value, list):
        return _Figure(label, f"{len(value):,}", "", ", ".join(map(_text, value)))
    return _Figure(label, grouped(value), unit if value is not None else "")


def _figures(summary: dict[str, Any]) -> list[_Group]:
    """Key figures as groups of cards (a number, its unit, a short label), in the order the
    report made them; a figure per venue or benchmark becomes a small table."""
    top: list[_Figure] = []
    groups: list[_Group] = [("", top)]
    for key, value in summary.items():
        if key in ("empty", "currency"):
            continue
        label, unit = _unit(key, summary)
        if not isinstance(value, dict):
            top.append(_figure(label, value, unit))
            continue
        title = f"{label} ({unit})" if unit else label
        if any(isinstance(v, dict) for v in value.values()):
            columns = sorted({k for v in value.values() if isinstance(v, dict) for k in v})
            rows = tuple(
                (sub.replace("_", " "), *(inner.get(c) if inner else None for c in columns))
                for sub, inner in value.items()
            )
            currency = summary.get("currency")
            cols = tuple(
                f"{c} ({currency})" if c in _MONEY and type(currency) is str else c
                for c in (c.replace("_", " ") for c in columns)
            )
            groups.append((title, Table(title, ("", *cols), rows)))
        else:
            groups.append(
                (title, [_figure(sub.replace("_", " "), v, unit) for sub, v in value.items()])
            )
    return groups


def _meta(h: Header) -> list[tuple[str, str]]:
    seq = _DASH if h.first_seq is None else f"{h.first_seq} – {h.last_seq}"
    rows = [
        ("trail origin", h.origin or "(unknown: no trail.vkey)"),
        ("date range (UTC)", h.start if h.start == h.end else f"{h.start} to {h.end}"),
        ("journal days read", ", ".join(h.days) or "none"),
        ("records", f"{h.records:,}"),
        ("seq range", seq),
    ]
    cp = h.checkpoint
    if cp is None:
        cover = "none covers this range yet" if h.records else _DASH
        rows.append(("checkpoint", cover))
    else:
        state = "signature verified" if cp.verified else "signature NOT verified"
        rows.append(("checkpoint", f"tree size {cp.size} ({state})"))
        if cp.root is not None:
            rows.append(("checkpoint root", cp.root))
    rows.append(("made by", f"tradetrail {__version__}"))
    return rows


def _warnings(report: Report) -> list[str]:
    out = []
    if report.header.open_days:
        out.append(
            "Includes days still open for writing ("
            + ", ".join(report.header.open_days)
            + "): figures may change as records arrive."
        )
    if report.header.records == 0:
        out.append("No journal records in this range.")
    return out


_TIME: Final = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d{1,3})?\d*Z")
_PLAIN: Final = ("seq",)
"""Columns of identifiers, never grouped by thousands."""
_MONEY: Final = frozenset({"notional", "buy_notional", "sell_notional", "fees"})


def grouped(value: Any) -> str:
    """A number with thousands separators (`12,174,522.11`), digits otherwise unchanged;
    any other value as `_text` gives it."""
    if type(value) is int:
        return f"{value:,}"
    text = _text(value)
    if not _numeric(text):
        return text
    sign = text[0] if text[0] in "+-" else ""
    whole, dot, frac = text.lstrip("+-").partition(".")
    return f"{sign}{int(whole):,}{dot}{frac}"


def short_time(value: str) -> str | None:
    """A recorded UTC timestamp as `YYYY-MM-DD HH:MM:SS.mmm` (cut, not rounded, to the
    millisecond): one line in a table cell. None for text that is not such a timestamp."""
    m = _TIME.fullmatch(value)
    if m is None:
        return None
    return f"{m.group(1)} {m.group(2)}{m.group(3) or ''}"


def _numeric(value: Cell) -> bool:
    if type(value) is int:
        return True
    if type(value) is not str or not value:
        return False
    return value.lstrip("+-").replace(".", "", 1).isdigit()


def _cell(table: Table, column: int, value: Cell) -> str:
    """A cell's text: numbers grouped by thousands, except in identifier columns."""
    if table.columns[column] in _PLAIN:
        return _text(value)
    return grouped(value)


# ------------------------------------------------------------------------------ Markdown


def _md(value: Any) -> str:
    return _text(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _md_table(table: Table, heading: bool = True) -> list[str]:
    lines = [f"**{table.title}**", ""] if heading else []
    lines.append("| " + " | ".join(_md(c) for c in table.columns) + " |")
    lines.append(
        "|"
        + "|".join("---:" if _right(table, i) else "---" for i in range(len(table.columns)))
        + "|"
    )
    for row in table.rows:
        lines.append("| " + " | ".join(_md(_cell(table, i, c)) for i, c in enumerate(row)) + " |")
    if table.total is not None:
        lines.append("")
        lines.append(f"_First {len(table.rows):,} of {table.total:,} rows shown._")
    lines.append("")
    return lines


def _right(table: Table, column: int) -> bool:
    values = [row[column] for row in table.rows if row[column] is not None]
    return bool(values) and all(_numeric(v) for v in values)


def _md_value(f: _Figure) -> str:
    text = f"{f.value} {f.unit}" if f.unit else f.value
    return f"{text} ({f.sub})" if f.sub else text


def _markdown(report: Report) -> str:
    lines = [f"# {report.title}", ""]
    for name, value in _meta(report.header):
        lines.append(f"- **{name}:** {_md(value)}")
    lines.append("")
    for warning in _warnings(report):
        lines.append(f"> **Note:** {warning}")
        lines.append("")
    lines += ["## Key figures", ""]
    for title, body in _figures(report.summary):
        if isinstance(body, Table):
            lines += [f"**{title}**", "", *_md_table(body, heading=False)]
            continue
        if not body:
            continue
        if title:
            lines += [f"**{title}**", ""]
        lines += ["| figure | value |", "|---|---:|"]
        lines += [f"| {_md(f.label)} | {_md(_md_value(f))} |" for f in body]
        lines.append("")
    for section in report.sections:
        lines += [f"## {section.title}", ""]
        for paragraph in section.text:
            lines += [f"_{paragraph}_", ""]
        for table in section.tables:
            lines += _md_table(table)
    if report.notes:
        lines += ["## How these figures are made", ""]
        lines += [f"- {note}" for note in report.notes]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


# ------------------------------------------------------------------------------ HTML


def _h(value: Any) -> str:
    return escape(_text(value), quote=True)


def _td(table: Table, column: int, value: Cell, right: bool) -> str:
    if right:
        return f'<td class="n">{escape(_cell(table, column, value))}</td>'
    if type(value) is str:
        shown = short_time(value)
        if shown is not None:
            return f'<td class="t"><time datetime="{_h(value)}">{_h(shown)}</time></td>'
        if len(value) <= 24 and " " not in value:
            return f'<td class="k">{_h(value)}</td>'
    return f"<td>{_h(value)}</td>"


def _html_table(table: Table, heading: bool = True) -> str:
    right = [_right(table, i) for i in range(len(table.columns))]
    parts = [f"<h3>{_h(table.title)}</h3>"] if heading else []
    parts += ['<div class="scroll"><table>', "<thead><tr>"]
    parts += [f"<th>{_h(c)}</th>" for c in table.columns]
    parts.append("</tr></thead><tbody>")
    for row in table.rows:
        cells = "".join(_td(table, i, v, right[i]) for i, v in enumerate(row))
        parts.append(f"<tr>{cells}</tr>")
    parts.append("</tbody></table></div>")
    if table.total is not None:
        parts.append(
            f'<p class="empty">First {len(table.rows):,} of {table.total:,} rows shown.</p>'
        )
    return "\n".join(parts)


def _card(f: _Figure) -> str:
    unit = f'<span class="u">{_h(f.unit)}</span>' if f.unit else ""
    sub = f'<div class="s">{_h(f.sub)}</div>' if f.sub else ""
    value = f'<div class="v">{_h(f.value)}{unit}</div>'
    return f'<div class="card">{value}<div class="k">{_h(f.label)}</div>{sub}</div>'


def _html_figures(report: Report) -> list[str]:
    out = ["<h2>Key figures</h2>"]
    for title, body in _figures(report.summary):
        if isinstance(body, Table):
            out += [f"<h3>{_h(title)}</h3>", _html_table(body, heading=False)]
            continue
        if not body:
            continue
        if title:
            out.append(f"<h3>{_h(title)}</h3>")
        out += ['<div class="cards">', *(_card(f) for f in body), "</div>"]
    return out


def _html(report: Report) -> str:
    from .charts import svg

    h = report.header
    title = f"{report.title} · {h.start}" + ("" if h.start == h.end else f" to {h.end}")
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_h(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body><main>",
        '<header class="top">',
        f"<h1>{_h(report.title)}</h1>",
        '<dl class="meta">',
    ]
    out += [f"<dt>{_h(k)}</dt><dd>{_h(v)}</dd>" for k, v in _meta(h)]
    out += ["</dl>", "</header>"]
    out += [f'<p class="warn">{_h(w)}</p>' for w in _warnings(report)]
    out += _html_figures(report)
    number = 0
    for section in report.sections:
        out.append(f"<section><h2>{_h(section.title)}</h2>")
        out += [f'<p class="empty">{_h(p)}</p>' for p in section.text]
        for chart in section.charts:
            number += 1
            out.append(f"<figure>{svg(chart, number)}</figure>")
        out += [_html_table(t) for t in section.tables]
        out.append("</section>")
    if report.notes:
        out.append("<footer><strong>How these figures are made</strong><ul>")
        out += [f"<li>{_h(n)}</li>" for n in report.notes]
        out.append(
            "<li>Times are UTC, shown to the millisecond; the JSON rendering and each time "
            "cell's datetime attribute hold the recorded value.</li>"
        )
        out.append("</ul></footer>")
    out += ["</main></body>", "</html>"]
    return "\n".join(out) + "\n"
