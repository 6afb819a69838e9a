"""`tradetrail export exam`: the exam package (registered on the export group when cli.py
imports this module)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from .cli import HOME_OPTION, JSON_OPTION, emit_json, err, fail, out
from .cli import require_trail as _require_trail
from .cli_export import export, record_export


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
@click.option("--from", "start", required=True, help="First UTC day, YYYY-MM-DD.")
@click.option("--to", "end", required=True, help="Last UTC day, YYYY-MM-DD (inclusive, sealed).")
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
    from .errors import TrailCorruptError
    from .export.daily import PackError
    from .export.exam import export_exam

    _require_trail(home)
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
