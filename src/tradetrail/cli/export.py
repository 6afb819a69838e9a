"""`tradetrail export daily|exam` and `tradetrail verify-pack` (listed in the command table of
cli/main.py)."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from ..core.note import Verifier
from .common import DAY, HOME_OPTION, JSON_OPTION, emit_json, err, fail, out, progress_bar
from .common import day_range as _day_range
from .common import load_verifiers as _load_verifiers
from .common import require_trail as _require_trail


def record_export(
    home: Path,
    *,
    kind: str,
    start: str,
    end: str,
    digest: str,
    records: int,
    path: Path,
    query: str | None = None,
) -> str | None:
    """Record a new export as a compliance.export_made event (it falls after the exported
    days, so packs stay byte-identical). A failure to record is a warning, not a failed export:
    the files are made and valid; the operator is told to record it by hand."""
    from ..errors import TradetrailError
    from ..writer.admin_events import record_admin_event

    data = {
        "kind": kind,
        "period_start": start,
        "period_end": end,
        "digest": f"sha256:{digest}",
        "records": records,
        "path": str(path),
    }
    if query is not None:
        data["query"] = query
    try:
        return record_admin_event(home, "compliance.export_made", data).describe()
    except (TradetrailError, OSError) as exc:
        err.print(
            f"[yellow]warning:[/] the export was made but could not be recorded in the trail "
            f"({exc}); record it with `tradetrail record --type compliance.export_made`",
            soft_wrap=True,
        )
        return None


@click.group()
def export() -> None:
    """Exports for examiners: the daily pack."""


@export.command("daily")
@HOME_OPTION
@click.option("--date", "day", required=True, type=DAY, help="The UTC day: YYYY-MM-DD, yesterday.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Pack directory (default <home>/exports/daily/YYYY-MM-DD).",
)
@click.option(
    "--partial",
    is_flag=True,
    help="Pack a day that is still open, up to the newest checkpoint (marked partial).",
)
@click.option(
    "--signing-key",
    default=None,
    help="Key that signs manifest.json (skey text or file; default TRADETRAIL_SIGNING_KEY, "
    "else <home>/signing.key).",
)
@click.option("--no-record", is_flag=True, help="Do not record the export in the trail.")
@JSON_OPTION
def export_daily_command(
    home: Path,
    day: str,
    out_dir: Path | None,
    partial: bool,
    signing_key: str | None,
    no_record: bool,
    as_json: bool,
) -> None:
    """Write the daily pack of one sealed UTC day: events, orders, fills, blotter, positions,
    NAV, alerts, risk and access events, configuration, proofs, the checkpoint, and a signed
    manifest. Making it again gives the same bytes.

    \b
    Examples:
      tradetrail export daily --date 2024-03-04
      tradetrail export daily --date 2024-03-04 --out /evidence/2024-03-04
      tradetrail verify-pack /evidence/2024-03-04 --vkey trail.vkey
    """
    from ..compliance.export import export_daily
    from ..errors import TrailCorruptError
    from ..export.daily import PackError, day_bounds, parse_date

    _require_trail(home)
    try:
        day = parse_date(day)
    except ValueError as exc:
        fail(str(exc))
    bounds = day_bounds(home, day)
    total = bounds.path.stat().st_size if bounds.path is not None else 0
    try:
        with progress_bar(total, "exporting") as update:
            result = export_daily(
                home, day, out=out_dir, partial=partial, signing_key=signing_key, progress=update
            )
    except PackError as exc:
        fail(str(exc))
    except TrailCorruptError as exc:
        fail(str(exc), 1)
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    recorded = None
    if result.created and not no_record:
        digest = hashlib.sha256((result.path / "manifest.json").read_bytes()).hexdigest()
        recorded = record_export(
            home,
            kind="daily_pack",
            start=result.date,
            end=result.date,
            digest=digest,
            records=result.records,
            path=result.path,
        )
    if as_json:
        emit_json({**result.to_json(), "recorded": recorded})
        return
    state = "partial pack" if result.partial else "pack"
    verb = "wrote" if result.created else "already up to date:"
    seq = f" (seq {result.first_seq}-{result.last_seq})" if result.records else ""
    out.print(
        f"{verb} {state} of {result.date}: [cyan]{result.path}[/] — {result.records} "
        f"record(s){seq}, checkpoint size {result.checkpoint_size}"
        + ("" if result.trading else ", no trading"),
        soft_wrap=True,
    )
    if recorded:
        out.print(f"the export is {recorded}", soft_wrap=True)


@contextmanager
def phase_progress() -> Iterator[Callable[[str, int, int], None]]:
    """One bar per phase on stderr (days packed, then bytes zipped), when it is a terminal."""
    if not err.is_terminal:
        yield lambda _phase, _done, _total: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=err, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield update


@export.command("exam")
@HOME_OPTION
@click.option("--from", "start", required=True, type=DAY, help="First UTC day, YYYY-MM-DD.")
@click.option(
    "--to", "end", required=True, type=DAY, help="Last UTC day, YYYY-MM-DD (inclusive, sealed)."
)
@click.option(
    "--out",
    "out_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The package to write, a .zip file.",
)
@click.option(
    "--query",
    default=None,
    help="Also select records: NAME=VALUE terms such as 'account=ACC-1 type=order.*' "
    "(names: type, text, since, until and the search filters); each comes with a proof.",
)
@click.option(
    "--database-url",
    "url",
    envvar="TRADETRAIL_DATABASE_URL",
    default=None,
    help="Index used by --query (env TRADETRAIL_DATABASE_URL; default SQLite in the trail).",
)
@click.option(
    "--signing-key",
    default=None,
    help="Key that signs the manifests (default TRADETRAIL_SIGNING_KEY, else <home>/signing.key).",
)
@click.option("--no-record", is_flag=True, help="Do not record the export in the trail.")
@JSON_OPTION
def export_exam_command(
    home: Path,
    start: str,
    end: str,
    out_file: Path,
    query: str | None,
    url: str | None,
    signing_key: str | None,
    no_record: bool,
    as_json: bool,
) -> None:
    """Write the exam package of a range of sealed UTC days: the daily pack of every day (made
    when missing), the reports, an index of contents and an examiner README, in one
    deterministic zip that `tradetrail verify-pack` (or standard tools) checks offline.

    \b
    Examples:
      tradetrail export exam --from 2024-03-01 --to 2024-03-31 --out exam-2024-03.zip
      tradetrail export exam --from 2024-03-01 --to 2024-03-31 --out acc1.zip \\
          --query 'account=ACC-1'
      tradetrail verify-pack exam-2024-03.zip --vkey trail.vkey
    """
    from ..compliance.exam import export_exam
    from ..errors import TrailCorruptError
    from ..export.daily import PackError

    _require_trail(home)
    first, last = _day_range(start, end)
    assert first is not None and last is not None
    start, end = first, last
    with phase_progress() as progress:
        try:
            result = export_exam(
                home,
                start,
                end,
                out=out_file,
                query=query,
                signing_key=signing_key,
                database_url=url,
                progress=progress,
            )
        except PackError as exc:
            fail(str(exc))
        except TrailCorruptError as exc:
            fail(str(exc), 1)
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    recorded = None
    if result.created and not no_record:
        recorded = record_export(
            home,
            kind="exam_package",
            start=result.start,
            end=result.end,
            digest=result.manifest_sha256,
            records=result.records,
            path=out_file,
            query=query,
        )
    if as_json:
        emit_json({**result.to_json(), "recorded": recorded})
        return
    verb = "wrote" if result.created else "already up to date:"
    selected = "" if result.query_records is None else f", {result.query_records} selected"
    out.print(
        f"{verb} exam package [cyan]{result.path}[/] — {result.days} day(s), {result.records} "
        f"record(s){selected}, {len(result.made_packs)} pack(s) made, {result.bytes} bytes, "
        f"checkpoint size {result.checkpoint_size}",
        soft_wrap=True,
    )
    if recorded:
        out.print(f"the export is {recorded}", soft_wrap=True)


@click.command("verify-pack")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--vkey", "vkeys", multiple=True, required=True, help="Verifier key (text or file).")
@click.option(
    "--attester",
    "attester_keys",
    multiple=True,
    help="A compliance officer's verifier key (text or file): their attestation signature on "
    "manifest.sig must be there and verify. Repeatable.",
)
@click.option("--max-faults", default=200, show_default=True, type=click.IntRange(1, None))
@JSON_OPTION
def verify_pack_command(
    path: Path,
    vkeys: tuple[str, ...],
    attester_keys: tuple[str, ...],
    max_faults: int,
    as_json: bool,
) -> None:
    """Check a daily pack offline with nothing but the verifier key: file hashes and sizes,
    the manifest and checkpoint signatures, the chain in events.jsonl, the proofs, and every
    derived row against the events. With --attester, the officers' attestation signatures too
    (kept apart from --vkey: an officer's key never stands in for the trail's); signatures by
    keys not given are listed as not checked. A pack made after a key rotation carries the
    trail's key history (trail.vkeys): --vkey may then be any key of the trail, the first one
    say. Exit 0 intact, 1 faults (each with its file and row or line), 2 usage error.

    \b
    Example:
      tradetrail verify-pack exports/daily/2024-03-04 --vkey trail.vkey
      tradetrail verify-pack exports/daily/2024-03-04 --vkey trail.vkey --attester cco.vkey
    """
    from ..compliance.attest import AttestKeyError, load_verifier
    from ..verify.pack import PackUsageError, verify_pack

    verifiers = _load_verifiers(vkeys)
    assert verifiers is not None
    try:
        attesters = [load_verifier(spec, "--attester") for spec in attester_keys]
    except AttestKeyError as exc:
        fail(str(exc))
    if not path.exists():
        fail(f"{path}: no such file or directory")
    from ..compliance.verify_exam import is_exam_package

    if is_exam_package(path):
        _verify_exam(path, verifiers, attesters, max_faults, as_json)
    events = path / "events.jsonl"
    total = events.stat().st_size if events.is_file() else 0
    try:
        with progress_bar(total, "verifying") as update:
            report = verify_pack(
                path, verifiers, attesters=attesters, max_faults=max_faults, progress=update
            )
    except PackUsageError as exc:
        fail(str(exc))
    if as_json:
        emit_json(report.to_json())
    else:
        _print_faults(report.faults, report.fault_count, report.warnings)
        for sig in report.signatures:
            if sig["role"] == "trail":
                continue
            label = f"{sig['name']} (key id {sig['key_id']})"
            if sig["role"] == "attester":
                colour = "green" if sig["status"] == "verified" else "red"
                out.print(f"[{colour}]attestation[/] {label}: {sig['status']}", soft_wrap=True)
            else:
                out.print(
                    f"signature by {label}: not checked (key not given; --attester checks it)",
                    soft_wrap=True,
                    highlight=False,
                )
        verdict = "[green]OK[/]" if report.ok else f"[red]{report.fault_count} FAULT(S)[/]"
        seq = f" (seq {report.seq['first']}-{report.seq['last']})" if report.seq else ""
        kind = "partial pack" if report.partial else "pack"
        out.print(
            f"{verdict}: {kind} {report.date}, {report.records} record(s){seq}, "
            f"{report.files_checked} file(s), checkpoint size {report.checkpoint_size}",
            soft_wrap=True,
        )
    sys.exit(0 if report.ok else 1)


def _verify_exam(
    path: Path,
    verifiers: list[Verifier],
    attesters: list[Verifier],
    max_faults: int,
    as_json: bool,
) -> NoReturn:
    """verify-pack on an exam package (a zip, or the folder it unzips to)."""
    from ..compliance.verify_exam import verify_exam
    from ..verify.pack import PackUsageError

    total = path.stat().st_size if path.is_file() else 0
    try:
        with progress_bar(total, "verifying") as update:
            report = verify_exam(
                path, verifiers, attesters=attesters, max_faults=max_faults, progress=update
            )
    except PackUsageError as exc:
        fail(str(exc))
    if as_json:
        emit_json(report.to_json())
        sys.exit(0 if report.ok else 1)
    _print_faults(report.faults, report.fault_count, report.warnings)
    verdict = "[green]OK[/]" if report.ok else f"[red]{report.fault_count} FAULT(S)[/]"
    if report.period is None:  # not even its manifest could be read
        out.print(f"{verdict}: {path} could not be checked as an exam package", soft_wrap=True)
        sys.exit(0 if report.ok else 1)
    period = report.period
    selected = "" if report.query_records is None else f", {report.query_records} selected"
    out.print(
        f"{verdict}: exam package {period.get('from')} to {period.get('to')}, "
        f"{report.packs_checked} pack(s), {report.records} record(s){selected}, "
        f"{report.reports_checked} report(s) rebuilt, "
        f"{report.files_checked} file(s), checkpoint size {report.checkpoint_size}",
        soft_wrap=True,
    )
    sys.exit(0 if report.ok else 1)


def _print_faults(faults: list[Any], count: int, warnings: list[str]) -> None:
    for fault in faults:
        out.print(f"[red]FAULT[/] {fault}", soft_wrap=True, markup=True, highlight=False)
    if count > len(faults):
        out.print(f"... and {count - len(faults)} more fault(s)")
    for warning in warnings:
        out.print(f"[yellow]warning[/] {warning}", soft_wrap=True)
