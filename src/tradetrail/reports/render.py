"""`render(report, fmt)`: the same figures as HTML (with charts), Markdown or JSON bytes.

Deterministic by construction: nothing depends on the clock, the host or dict creation order
(tables are built sorted, JSON keys are sorted, charts are reproducible SVG), so the same
journal and range always give the same bytes."""

from __future__ import annotations

from html import escape
from typing import Any, Final

import orjson

from .. import __version__
from .model import Cell, Header, Report, ReportError, Table

__all__ = ["FORMATS", "render"]

FORMATS: Final = ("html", "md", "json")
_DASH: Final = "—"

_CSS: Final = """
:root{--ink:#1f2933;--muted:#5f6b7a;--line:#d9dee5;--band:#f5f7fa;--accent:#2f6db5}
*{box-sizing:border-box}
body{margin:0;background:#fff;color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",
Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1120px;margin:0 auto;padding:24px 28px 48px}
header.top{border-bottom:3px solid var(--accent);padding-bottom:12px;margin-bottom:20px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:18px;margin:32px 0 8px;padding-bottom:4px;border-bottom:1px solid var(--line)}
h3{font-size:14px;margin:18px 0 6px;color:var(--muted)}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:8px 0 0}
dl.meta dt{color:var(--muted)}dl.meta dd{margin:0;font-family:ui-monospace,Menlo,Consolas,monospace;
word-break:break-all}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0}
.card{border:1px solid var(--line);border-radius:6px;padding:8px 12px;min-width:140px;
background:var(--band)}
.card .k{color:var(--muted);font-size:12px}.card .v{font-size:17px;font-weight:600}
.warn{background:#fff6e0;border:1px solid #f0d28a;border-radius:6px;padding:8px 12px}
.empty{color:var(--muted);font-style:italic}
.scroll{overflow-x:auto}
table{border-collapse:collapse;margin:6px 0 14px;font-size:13px}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:var(--band);font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums}
tr:nth-child(even) td{background:#fbfcfd}
figure{margin:8px 0 16px}figure svg{max-width:100%;height:auto}
footer{margin-top:36px;color:var(--muted);font-size:12px;border-top:1px solid var(--line);
padding-top:10px}
@media print{main{max-width:none}h2{break-after:avoid}}
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


def _flat_summary(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """Key figures as (label, text), nested figures as `a · b`, in key order."""
    out: list[tuple[str, str]] = []
    for key in sorted(summary):
        if key == "empty":
            continue
        value = summary[key]
        name = key.replace("_", " ")
        if isinstance(value, dict):
            if not value:
                out.append((name, _DASH))
            for sub in sorted(value):
                inner = value[sub]
                if isinstance(inner, dict):
                    text = ", ".join(f"{k} {_text(inner[k])}" for k in sorted(inner))
                else:
                    text = _text(inner)
                out.append((f"{name} · {sub.replace('_', ' ')}", text))
        else:
            out.append((name, _text(value)))
    return out


def _meta(h: Header) -> list[tuple[str, str]]:
    seq = _DASH if h.first_seq is None else f"{h.first_seq} – {h.last_seq}"
    rows = [
        ("trail origin", h.origin or "(unknown: no trail.vkey)"),
        ("date range (UTC)", h.start if h.start == h.end else f"{h.start} to {h.end}"),
        ("journal days read", ", ".join(h.days) or "none"),
        ("records", str(h.records)),
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


def _numeric(value: Cell) -> bool:
    if type(value) is int:
        return True
    if type(value) is not str or not value:
        return False
    return value.lstrip("+-").replace(".", "", 1).isdigit()


# ------------------------------------------------------------------------------ Markdown


def _md_cell(value: Cell) -> str:
    return _text(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _md_table(table: Table) -> list[str]:
    lines = [f"**{table.title}**", ""]
    lines.append("| " + " | ".join(_md_cell(c) for c in table.columns) + " |")
    lines.append(
        "|"
        + "|".join("---:" if _right(table, i) else "---" for i in range(len(table.columns)))
        + "|"
    )
    for row in table.rows:
        lines.append("| " + " | ".join(_md_cell(c) for c in row) + " |")
    if table.total is not None:
        lines.append("")
        lines.append(f"_First {len(table.rows)} of {table.total} rows shown._")
    lines.append("")
    return lines


def _right(table: Table, column: int) -> bool:
    values = [row[column] for row in table.rows if row[column] is not None]
    return bool(values) and all(_numeric(v) for v in values)


def _markdown(report: Report) -> str:
    lines = [f"# {report.title}", ""]
    for name, value in _meta(report.header):
        lines.append(f"- **{name}:** {_md_cell(value)}")
    lines.append("")
    for warning in _warnings(report):
        lines.append(f"> **Note:** {warning}")
        lines.append("")
    lines += ["## Key figures", "", "| figure | value |", "|---|---:|"]
    lines += [f"| {_md_cell(k)} | {_md_cell(v)} |" for k, v in _flat_summary(report.summary)]
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


def _html_table(table: Table) -> str:
    right = [_right(table, i) for i in range(len(table.columns))]
    parts = [f"<h3>{_h(table.title)}</h3>", '<div class="scroll"><table>', "<thead><tr>"]
    parts += [f"<th>{_h(c)}</th>" for c in table.columns]
    parts.append("</tr></thead><tbody>")
    for row in table.rows:
        cells = "".join(
            f'<td class="n">{_h(v)}</td>' if right[i] else f"<td>{_h(v)}</td>"
            for i, v in enumerate(row)
        )
        parts.append(f"<tr>{cells}</tr>")
    parts.append("</tbody></table></div>")
    if table.total is not None:
        parts.append(f'<p class="empty">First {len(table.rows)} of {table.total} rows shown.</p>')
    return "\n".join(parts)


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
    out += ["<h2>Key figures</h2>", '<div class="cards">']
    out += [
        f'<div class="card"><div class="k">{_h(k)}</div><div class="v">{_h(v)}</div></div>'
        for k, v in _flat_summary(report.summary)
    ]
    out.append("</div>")
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
        out.append("</ul></footer>")
    out += ["</main></body>", "</html>"]
    return "\n".join(out) + "\n"
