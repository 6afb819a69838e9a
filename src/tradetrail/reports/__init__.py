"""Reports that people would rather look at than read (issue 6 §5): daily trading summary,
risk-event history, execution quality, configuration change history and access summary, over
any range of UTC days, as HTML with charts, Markdown or JSON.

    report = build_report(home, "execution", "2024-03-04", "2024-03-05")
    data = render(report, "html")  # bytes, byte-identical for the same journal and range

A report is a projection of the journal like the daily packs: its header names the log, the
seq range read and the signed checkpoint that covers it, so every figure can be traced back
to records an examiner can prove."""

from __future__ import annotations

from .build import REPORT_KINDS, build_report, build_reports
from .model import FORMAT, Chart, CheckpointInfo, Header, Report, ReportError, Section, Table
from .render import FORMATS, render

__all__ = [
    "FORMAT",
    "FORMATS",
    "REPORT_KINDS",
    "Chart",
    "CheckpointInfo",
    "Header",
    "Report",
    "ReportError",
    "Section",
    "Table",
    "build_report",
    "build_reports",
    "render",
]
