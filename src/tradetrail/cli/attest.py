"""`tradetrail attest` and `tradetrail attestations` (listed in the command table of
cli/main.py). The officer's key comes from `tradetrail keygen --name NAME --out DIR`."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table

from .common import (
    DAY,
    HOME_OPTION,
    JSON_OPTION,
    day_range,
    emit_json,
    err,
    fail,
    out,
    require_trail,
)


@click.command("attest")
@HOME_OPTION
@click.option(
    "--date", "day", required=True, type=DAY, help="The UTC day (YYYY-MM-DD or yesterday)."
)
@click.option(
    "--by", required=True, help="The attesting officer: the name of their key (keygen --name)."
)
@click.option(
    "--statement",
    default=None,
    help="What is certified (default: a review-and-certify sentence naming the day).",
)
@click.option(
    "--key",
    "key_spec",
    required=True,
    envvar="TRADETRAIL_ATTESTER_KEY",
    help="The officer's own private key: a 0600 file from `tradetrail keygen` "
    "(env TRADETRAIL_ATTESTER_KEY).",
)
@JSON_OPTION
def attest_command(
    home: Path, day: str, by: str, statement: str | None, key_spec: str, as_json: bool
) -> None:
    """Certify a day's pack: verify it, add the officer's signature to its manifest.sig (the
    rest of the pack stays byte for byte), and record a compliance.attestation event. Running
    it again for an attested day changes nothing (exit 0).

    \b
    Examples:
      tradetrail keygen --name cco.example.com/jane --out ~/.keys
      tradetrail export daily --date 2024-03-04
      tradetrail attest --date 2024-03-04 --by cco.example.com/jane \\
          --key ~/.keys/cco.example.com_jane.key
      tradetrail verify-pack exports/daily/2024-03-04 --vkey trail.vkey \\
          --attester ~/.keys/cco.example.com_jane.vkey
    """
    from ..compliance.attest import AttestError, PackInvalidError, attest, key_file_warning
    from ..errors import ConfigError
    from ..store.keys import parse_signer

    require_trail(home)
    try:
        signer = parse_signer(key_spec, "--key")
    except ConfigError as exc:
        fail(str(exc))
    warning = key_file_warning(key_spec)
    if warning is not None:
        err.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    try:
        result = attest(home, day, by=by, signer=signer, statement=statement)
    except PackInvalidError as exc:
        fail(str(exc), 1)
    except AttestError as exc:
        fail(str(exc))
    for note in result.warnings:
        err.print(f"[yellow]warning:[/] {note}", soft_wrap=True)
    if as_json:
        emit_json(result.to_json())
        return
    who = f"{result.by} (key id {result.key_id})"
    if result.already:
        where = f"recorded as seq {result.seq}" if result.seq is not None else "event queued"
        out.print(
            f"{result.date} is already attested by {who}: {where}, signature on the pack; "
            "nothing to do",
            soft_wrap=True,
        )
        return
    done = []
    if result.signed:
        done.append(f"signed [cyan]{result.pack / 'manifest.sig'}[/]")
    if result.queued:
        done.append(
            "event queued in the spill directory (another process holds the trail; its writer "
            "journals it)"
        )
    elif result.seq is not None:
        done.append(f"recorded as seq {result.seq}")
    out.print(f"attested {result.date} as {who}: {', '.join(done)}", soft_wrap=True)
    out.print(f"manifest sha256 {result.manifest_sha256}", highlight=False)
    out.print(f"give examiners the officer's verifier key: {result.vkey}", highlight=False)


@click.command("attestations")
@HOME_OPTION
@click.option(
    "--from", "start", default=None, type=DAY, help="First day (default: first journal day)."
)
@click.option("--to", "end", default=None, type=DAY, help="Last day (default: yesterday, UTC).")
@JSON_OPTION
def attestations_command(home: Path, start: str | None, end: str | None, as_json: bool) -> None:
    """List the attestations of each day, each checked against the signature on its pack, and
    flag sealed days without a valid one. Exit 1 when a day is flagged (for cron), 2 on a
    usage error.

    \b
    Examples:
      tradetrail attestations --from 2024-03-01 --to 2024-03-31
      tradetrail attestations --from 2024-03-04 --json || page-compliance
    """
    from ..compliance.attest import AttestError, list_attestations

    require_trail(home)
    start, end = day_range(start, end)
    try:
        report = list_attestations(home, start, end)
    except AttestError as exc:
        fail(str(exc))
    if as_json:
        emit_json(report.to_json())
        sys.exit(0 if report.ok else 1)
    if not report.days:
        out.print("no journal days yet: nothing to attest")
        return
    table = Table(title=f"attestations {report.start} .. {report.end}")
    for column in ("date", "status", "by", "seq"):
        table.add_column(column, no_wrap=True)
    table.add_column("notes", overflow="fold")
    for day in report.days:
        colour = "green" if not day.flagged else "red"
        if day.status in ("open", "before trail"):
            colour = "dim"
        by = "\n".join(f"{a.by or '?'}" for a in day.attestations)
        seqs = "\n".join(f"{a.seq} ({a.status})" for a in day.attestations)
        notes = day.problems + [f"unrecorded signature by {s}" for s in day.unrecorded]
        status = day.status if not (day.flagged and day.status == "attested") else "attested!"
        table.add_row(day.date, f"[{colour}]{status}[/]", by, seqs, "; ".join(notes))
    out.print(table)
    flagged = [d.date for d in report.days if d.flagged]
    if flagged:
        out.print(f"[red]{len(flagged)} day(s) flagged:[/] {', '.join(flagged)}", soft_wrap=True)
        sys.exit(1)
    out.print("[green]every sealed day in the range is attested[/]")
