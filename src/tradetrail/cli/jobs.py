"""`tradetrail jobs list|run`: the scheduled compliance jobs that `tradetrail serve --jobs`
runs, shown and run by hand (docs/JOBS.md). Listed in the command table of cli/main.py. Exit
codes: 0 ok, 1 the job ran and failed (its alert is journaled), 2 usage or configuration."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from ..compliance.jobs import JOB_NAMES, JobsConfig, Scheduler, load_jobs
from .common import HOME_OPTION, JSON_OPTION, emit_json, err, out, require_trail

JOBS_OPTION = click.option(
    "--jobs",
    "jobs_file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="TRADETRAIL_JOBS",
    default=None,
    help="Jobs file (TOML, or YAML by its .yaml name) with the schedules; the one `serve "
    "--jobs` runs (env TRADETRAIL_JOBS). Without it no job is scheduled.",
)


def jobs_config(path: Path | None) -> JobsConfig:
    return load_jobs(path) if path is not None else JobsConfig.defaults()


def _admin_record(home: Path) -> Any:
    """How a job run by hand records: through the running writer, else the trail's spill."""
    from ..writer.admin_events import record_admin_event

    def record(event_type: str, data: dict[str, Any]) -> None:
        record_admin_event(home, event_type, data, actor="tradetrail-jobs")

    return record


@click.group()
def jobs() -> None:
    """Scheduled compliance jobs: daily packs, verification sweeps, retention plan reports,
    attestation reminders (docs/JOBS.md).

    \b
    tradetrail jobs list [--jobs FILE] [--json]   each job, its schedule, last and next run
    tradetrail jobs run NAME [--jobs FILE]        run one now
    """


@jobs.command("list")
@HOME_OPTION
@JOBS_OPTION
@JSON_OPTION
def list_command(home: Path, jobs_file: Path | None, as_json: bool) -> None:
    """Show each job with its schedule, last run and result, and next run.

    A job is due when a slot of its schedule passed since the slot its last run covered; one
    that never ran is due at once. `serve --jobs` runs the due ones (a run missed while the
    service was down runs at its next start).

    \b
    Examples:
      tradetrail jobs list --jobs examples/jobs.toml
      tradetrail jobs list --jobs examples/jobs.toml --json
    """
    require_trail(home)
    scheduler = Scheduler(home, jobs_config(jobs_file), _admin_record(home))
    rows = scheduler.describe()
    if as_json:
        emit_json({"state": str(scheduler.state_path), "jobs": rows})
        return
    table = Table(title=f"jobs of {home}")
    for column in ("job", "schedule", "last run", "result", "next run"):
        table.add_column(column, overflow="fold")
    for row in rows:
        if row["last_ok"] is None:
            result = ""
        else:
            style = "green" if row["last_ok"] else "bold red"
            result = f"[{style}]{'ok' if row['last_ok'] else 'FAILED'}[/] {row['last_result']}"
        nxt = row["next_run"] or ""
        if row["due"]:
            nxt += " (due)"
        table.add_row(row["name"], row["schedule"], row["last_run"] or "never", result, nxt)
    out.print(table)
    err.print(f"state: {scheduler.state_path}", markup=False)


@jobs.command("run")
@click.argument("name", type=click.Choice(JOB_NAMES))
@HOME_OPTION
@JOBS_OPTION
@JSON_OPTION
def run_command(name: str, home: Path, jobs_file: Path | None, as_json: bool) -> None:
    """Run job NAME now, whether due or not; its result is kept as the service's would be
    (the run covers the current slot of its schedule). A failed job journals alert.raised
    and exits 1.

    \b
    Examples:
      tradetrail jobs run daily-pack --jobs examples/jobs.toml
      tradetrail jobs run verify-sweep --jobs examples/jobs.toml
      tradetrail jobs run retention-plan
    """
    require_trail(home)
    scheduler = Scheduler(home, jobs_config(jobs_file), _admin_record(home))
    result = scheduler.run_job(name)
    if as_json:
        emit_json({"job": name, "ok": result.ok, "summary": result.summary, **result.details})
    else:
        style = "green" if result.ok else "bold red"
        out.print(f"[{style}]{name}[/]: {result.summary}", soft_wrap=True)
    if not result.ok:
        sys.exit(1)
