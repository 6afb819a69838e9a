"""`tradetrail report` (listed in the command table of cli/main.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .common import DAY, HOME_OPTION, day_range, err, fail, require_trail

_KINDS = ("daily", "risk", "execution", "config", "access")  # = reports.REPORT_KINDS, kept
# literal here so `tradetrail --help` does not import the reports package
_SUFFIXES = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md", ".json": "json"}


@click.command("report")
@click.argument("kind", type=click.Choice(_KINDS))
@HOME_OPTION
@click.option("--date", "day", default=None, type=DAY, help="One UTC day: YYYY-MM-DD, today...")
@click.option("--from", "start", default=None, type=DAY, help="First UTC day of a range.")
@click.option("--to", "end", default=None, type=DAY, help="Last UTC day of a range (inclusive).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("html", "md", "json")),
    default=None,
    help="Output format (default: from the --out suffix, else html).",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file (default: standard output).",
)
def report_command(
    kind: str,
    home: Path,
    day: str | None,
    start: str | None,
    end: str | None,
    fmt: str | None,
    out_file: Path | None,
) -> None:
    """Make a report over one UTC day or a range of days: daily (trading summary), risk
    (risk-event history), execution (latency and slippage by venue), config (configuration
    change history) or access (logins, failures, permission changes). HTML carries charts and
    opens offline; the same journal and range always give the same bytes.

    \b
    Examples:
      tradetrail report daily --date 2024-03-04 --out daily.html
      tradetrail report execution --from 2024-03-01 --to 2024-03-31 --format md
      tradetrail report access --date 2024-03-04 --format json | jq .summary
    """
    from ..errors import JournalFormatError
    from ..reports import ReportError, build_report, render

    if day is not None and (start is not None or end is not None):
        fail("give either --date or --from/--to, not both")
    if day is not None:
        start = end = day
    elif start is None and end is None:
        fail("give --date YYYY-MM-DD, or --from YYYY-MM-DD and --to YYYY-MM-DD")
    start = start if start is not None else end
    end = end if end is not None else start
    if day is None:
        start, end = day_range(start, end)
    assert start is not None and end is not None
    if fmt is None:
        fmt = _SUFFIXES.get(out_file.suffix.lower(), "html") if out_file is not None else "html"
    require_trail(home)
    try:
        report = build_report(home, kind, start, end)
        data = render(report, fmt)
    except ReportError as exc:
        fail(str(exc))
    except JournalFormatError as exc:
        fail(str(exc), 1)
    if out_file is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    tmp = out_file.with_name(f".{out_file.name}.tmp{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, out_file)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        fail(f"{out_file}: cannot write ({exc.strerror or exc})")
    h = report.header
    seq = f", seq {h.first_seq}-{h.last_seq}" if h.first_seq is not None else ""
    err.print(
        f"wrote {kind} report ({fmt}) for {start}"
        + ("" if start == end else f" to {end}")
        + f": {out_file} — {h.records} record(s){seq}"
        + (", no data of this kind" if report.empty else ""),
        soft_wrap=True,
        highlight=False,
        markup=False,
    )
