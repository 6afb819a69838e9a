"""`tradetrail retention plan|apply` (listed in the command table of
cli/main.py)."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click
from rich.table import Table

from ..compliance.retention import (
    Plan,
    Policy,
    PolicyError,
    RetentionError,
    apply_retention,
    load_policy,
    plan_retention,
)
from ..errors import TradetrailError
from ..store.objectstore import ArchiveLocation, ObjectStore
from .common import HOME_OPTION, JSON_OPTION, emit_json, err, fail, out
from .common import require_trail as _require_trail

POLICY_OPTION = click.option(
    "--policy",
    "policy_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Policy file (TOML; default <home>/retention.toml, else the built-in defaults).",
)
ARCHIVE_OPTION = click.option(
    "--archive",
    "archive_url",
    envvar="TRADETRAIL_ARCHIVE_URL",
    default=None,
    metavar="s3://BUCKET[/PREFIX]",
    help="Remove a day only once this archive holds it, read back and locked "
    "(env TRADETRAIL_ARCHIVE_URL; see tradetrail archive).",
)
ENDPOINT_OPTION = click.option(
    "--endpoint-url",
    envvar="TRADETRAIL_ARCHIVE_ENDPOINT",
    default=None,
    help="The archive's S3 endpoint (env TRADETRAIL_ARCHIVE_ENDPOINT); default AWS.",
)
AS_OF_OPTION = click.option(
    "--as-of",
    "as_of",
    default=None,
    help="Decide as at 00:00 UTC of this date, YYYY-MM-DD (default: now).",
)

_STYLE = {
    "removable": "bold red",
    "kept": "green",
    "held": "yellow",
    "open": "cyan",
    "pruned": "dim",
    "pending": "magenta",
}


@click.group()
def retention() -> None:
    """Retention and legal hold: which sealed days may be removed, and their removal."""


def _as_of(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"--as-of {text!r}: expected a date YYYY-MM-DD")


def _policy(home: Path, policy_path: Path | None) -> Policy:
    try:
        return load_policy(home, policy_path)
    except PolicyError as exc:
        fail(str(exc))


def _archive(archive_url: str | None, endpoint_url: str | None) -> ObjectStore | None:
    if archive_url is None:
        return None
    try:
        return ObjectStore(ArchiveLocation.parse(archive_url), endpoint_url=endpoint_url)
    except TradetrailError as exc:
        fail(str(exc))


def _show(plan: Plan) -> None:
    table = Table(title=f"retention as of {plan.as_of} — policy {plan.policy}")
    for column in ("day", "records", "seq", "decision", "why"):
        table.add_column(column, overflow="fold")
    for d in plan.days:
        seq = f"{d.first_seq}-{d.last_seq}" if d.first_seq is not None else ""
        style = _STYLE.get(d.decision, "")
        table.add_row(
            d.day, str(d.records or ""), seq, f"[{style}]{d.decision}[/]", "; ".join(d.reasons)
        )
    out.print(table)
    out.print(
        f"{len(plan.removable)} day file(s) removable; policy sha256 {plan.policy_sha256}",
        soft_wrap=True,
    )


@retention.command("plan")
@HOME_OPTION
@POLICY_OPTION
@AS_OF_OPTION
@ARCHIVE_OPTION
@ENDPOINT_OPTION
@JSON_OPTION
def plan_command(
    home: Path,
    policy_path: Path | None,
    as_of: str | None,
    archive_url: str | None,
    endpoint_url: str | None,
    as_json: bool,
) -> None:
    """Show every day file with its retention decision and why: kept (class X until DATE),
    held (by hold H), open, no pack, or removable. Changes nothing; safe while a writer runs.

    \b
    Examples:
      tradetrail retention plan
      tradetrail retention plan --policy retention.toml --as-of 2031-06-30 --json
    """
    _require_trail(home)
    policy = _policy(home, policy_path)
    try:
        plan = plan_retention(
            home, policy, as_of=_as_of(as_of), archive=_archive(archive_url, endpoint_url)
        )
    except TradetrailError as exc:
        fail(str(exc))
    if as_json:
        emit_json(plan.to_json())
    else:
        _show(plan)


@retention.command("apply")
@HOME_OPTION
@POLICY_OPTION
@AS_OF_OPTION
@ARCHIVE_OPTION
@ENDPOINT_OPTION
@click.option("--yes", is_flag=True, help="Remove without asking.")
@JSON_OPTION
def apply_command(
    home: Path,
    policy_path: Path | None,
    as_of: str | None,
    archive_url: str | None,
    endpoint_url: str | None,
    yes: bool,
    as_json: bool,
) -> None:
    """Remove the removable sealed day files, after recording the removal (pruned.json and a
    compliance.records_removed event). Tiles and checkpoints stay, so verify and proofs of
    kept records still pass. Needs the trail to itself (refused while a writer runs).

    \b
    Example:
      tradetrail retention apply --yes
    """
    _require_trail(home)
    policy = _policy(home, policy_path)
    when = _as_of(as_of)

    def confirm(plan: Plan) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            fail("retention apply removes journal files: pass --yes to confirm")
        _show(plan)
        days = ", ".join(d.day for d in plan.removable)
        return click.confirm(f"remove {len(plan.removable)} day file(s) ({days})?")

    try:
        result = apply_retention(
            home,
            policy,
            as_of=when,
            confirm=confirm,
            archive=_archive(archive_url, endpoint_url),
        )
    except (RetentionError, PolicyError) as exc:
        fail(str(exc))
    except TradetrailError as exc:
        fail(str(exc))
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    if as_json:
        emit_json(result.to_json())
        return
    if result.resumed:
        out.print(f"finished interrupted removal batch(es): {', '.join(result.resumed)}")
    if result.removed:
        out.print(
            f"removed {len(result.removed)} day file(s): {', '.join(result.removed)}; "
            f"recorded as seq {result.event_seqs[-1]} and in pruned.json",
            soft_wrap=True,
        )
    else:
        out.print("nothing removed")
