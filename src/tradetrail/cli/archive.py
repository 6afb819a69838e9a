"""`tradetrail archive push|list|verify|restore` (listed in the command table of cli/main.py):
sealed days in object storage under WORM retention (docs/FORMATS.md, "The archive")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.table import Table

from ..compliance.retention import PolicyError, load_policy
from ..errors import TradetrailError
from ..store.journal import is_trail
from .common import (
    DAY,
    HOME_OPTION,
    JSON_OPTION,
    emit_json,
    err,
    fail,
    load_verifiers,
    out,
    require_trail,
)

ARCHIVE_OPTION = click.option(
    "--archive",
    "archive_url",
    envvar="TRADETRAIL_ARCHIVE_URL",
    required=True,
    metavar="s3://BUCKET[/PREFIX]",
    help="Where the archive lives (env TRADETRAIL_ARCHIVE_URL).",
)
ENDPOINT_OPTION = click.option(
    "--endpoint-url",
    envvar="TRADETRAIL_ARCHIVE_ENDPOINT",
    default=None,
    help="S3 endpoint for MinIO, Ceph, SeaweedFS, Wasabi (env TRADETRAIL_ARCHIVE_ENDPOINT); "
    "default AWS. Credentials come from the standard AWS chain (environment, profile, role).",
)
NO_WORM_OPTION = click.option(
    "--no-worm",
    is_flag=True,
    help="Use a bucket without Object Lock (the archive can then be rewritten or deleted).",
)
VKEY_OPTION = click.option(
    "--vkey",
    "vkeys",
    multiple=True,
    help="Verifier key (text, a file, or a key history) to check checkpoints with; "
    "default the local trail's keys. Needed with no local trail.",
)


def _store(archive_url: str, endpoint_url: str | None) -> Any:
    from ..store.objectstore import ArchiveLocation, ObjectStore

    try:
        return ObjectStore(ArchiveLocation.parse(archive_url), endpoint_url=endpoint_url)
    except TradetrailError as exc:
        fail(str(exc))


@click.group()
def archive() -> None:
    """The archive: sealed days in object storage (S3) under Object Lock (WORM) retention."""


POLICY_OPTION = click.option(
    "--policy",
    "policy_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Retention policy (default <home>/retention.toml, else the built-in defaults): "
    "how long each day is locked, its legal holds, and the storage tiers ([archive]).",
)


@archive.command("push")
@HOME_OPTION
@ARCHIVE_OPTION
@ENDPOINT_OPTION
@POLICY_OPTION
@click.option(
    "--mode",
    type=click.Choice(["COMPLIANCE", "GOVERNANCE"]),
    default="COMPLIANCE",
    show_default=True,
    help="Object Lock mode: COMPLIANCE cannot be shortened or lifted by anyone.",
)
@click.option(
    "--retain-days",
    type=click.IntRange(min=1),
    default=None,
    help="Lock every object this many days from now instead of the policy's periods.",
)
@click.option(
    "--storage-class",
    default=None,
    help="S3 storage class on upload (default the policy's archive.warm_class, STANDARD).",
)
@NO_WORM_OPTION
@click.option("--no-record", is_flag=True, help="Do not record a compliance.archive_pushed event.")
@JSON_OPTION
def push_command(
    home: Path,
    archive_url: str,
    endpoint_url: str | None,
    policy_path: Path | None,
    mode: str,
    retain_days: int | None,
    storage_class: str | None,
    no_worm: bool,
    no_record: bool,
    as_json: bool,
) -> None:
    """Upload every sealed, checkpointed day not yet archived, and the tiles, checkpoints, keys
    and daily packs that prove it, each object once, with its SHA-256 and an Object Lock
    retention from the retention policy (legal hold on held days). Safe to run again, or after
    a crash: what is archived is skipped; an archived object that differs is a fault (exit 1),
    never overwritten. Records a compliance.archive_pushed event.

    \b
    Example:
      tradetrail archive push --archive s3://records/desk-1 --endpoint-url http://127.0.0.1:8333
    """
    from ..compliance.archive import push, record_push

    require_trail(home)
    try:
        policy = load_policy(home, policy_path)
    except PolicyError as exc:
        fail(str(exc))
    store = _store(archive_url, endpoint_url)
    result = push(
        home,
        store,
        policy,
        lock_mode=mode,
        worm=not no_worm,
        retain_days=retain_days,
        storage_class=storage_class,
    )
    recorded = None
    if result.uploaded and not no_record:
        try:
            recorded = record_push(home, result, endpoint_url)
        except (TradetrailError, OSError) as exc:
            err.print(
                f"[yellow]warning:[/] the push is done but could not be recorded in the trail "
                f"({exc}); record it with `tradetrail record --type compliance.archive_pushed`",
                soft_wrap=True,
            )
    if as_json:
        emit_json({**result.to_json(), "recorded": recorded})
    else:
        out.print(
            f"{result.location}: {len(result.uploaded)} object(s) uploaded "
            f"({result.bytes} bytes), {result.skipped} already archived; "
            f"days: {', '.join(Path(d).name for d in result.days) or 'none new'}; "
            f"lock {result.lock_mode}"
            + (f" until {result.retain_until}" if result.retain_until else ""),
            soft_wrap=True,
        )
        for day in result.waiting:
            out.print(f"not yet: {day} (no signed checkpoint covers it yet)", soft_wrap=True)
        if recorded:
            out.print(f"recorded as {recorded}", soft_wrap=True)
    for conflict in result.conflicts:
        err.print(f"[bold red]fault:[/] {conflict}", soft_wrap=True)
    if not result.ok:
        raise SystemExit(1)


@archive.command("list")
@ARCHIVE_OPTION
@ENDPOINT_OPTION
@JSON_OPTION
def list_command(archive_url: str, endpoint_url: str | None, as_json: bool) -> None:
    """The archived days, with their size, lock and legal hold.

    \b
    Example:
      tradetrail archive list --archive s3://records/desk-1 --json
    """
    from ..core import layout

    store = _store(archive_url, endpoint_url)
    rows = []
    for rel, size in sorted(store.listing(f"{layout.JOURNAL_DIR}/").items()):
        head = store.head(rel)
        rows.append(
            {
                "key": store.location.key(rel),
                "size": size,
                "lock_mode": head.lock_mode if head else None,
                "retain_until": head.retain_until.isoformat()
                if head and head.retain_until
                else None,
                "legal_hold": bool(head and head.legal_hold),
            }
        )
    if as_json:
        emit_json(rows)
        return
    table = Table(title=store.location.url)
    for column in ("key", "bytes", "lock", "until", "legal hold"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["key"],
            str(row["size"]),
            row["lock_mode"] or "none",
            (row["retain_until"] or "")[:10],
            "ON" if row["legal_hold"] else "",
        )
    out.print(table)


@archive.command("verify")
@HOME_OPTION
@ARCHIVE_OPTION
@ENDPOINT_OPTION
@VKEY_OPTION
@click.option(
    "--offline",
    is_flag=True,
    help="Ignore any local trail: check the archive against its own checkpoints and --vkey.",
)
@NO_WORM_OPTION
@JSON_OPTION
def verify_command(
    home: Path,
    archive_url: str,
    endpoint_url: str | None,
    vkeys: tuple[str, ...],
    offline: bool,
    no_worm: bool,
    as_json: bool,
) -> None:
    """Read every archived object once and check it: written once, its SHA-256, its lock, equal
    to the local trail's file, and every day proven against a signed checkpoint. With no local
    trail (or --offline) the archive's own tiles and checkpoints are used with --vkey. Exit 1
    on a fault.

    \b
    Example:
      tradetrail archive verify --archive s3://records/desk-1 --offline --vkey trail.vkey
    """
    from ..compliance.archive import verify_archive

    store = _store(archive_url, endpoint_url)
    local = None if offline or not is_trail(home) else home
    verifiers = load_verifiers(vkeys)
    if local is None and not verifiers:
        fail("no local trail to check against: give the verifier key with --vkey")
    report = verify_archive(store, local, verifiers, worm=not no_worm)
    if as_json:
        emit_json(report.to_json())
    else:
        against = f"the trail at {local}" if local else "the archive's own checkpoints"
        out.print(
            f"{report.location}: {report.objects} object(s), {len(report.days)} day(s) proven "
            f"against {against}",
            soft_wrap=True,
        )
        for note in report.notes:
            out.print(f"note: {note}", soft_wrap=True)
        for fault in report.faults:
            err.print(f"[bold red]fault:[/] {fault}", soft_wrap=True)
        out.print("OK" if report.ok else f"FAULTS: {len(report.faults)}")
    if not report.ok:
        raise SystemExit(1)


@archive.command("restore")
@HOME_OPTION
@ARCHIVE_OPTION
@ENDPOINT_OPTION
@click.option("--date", "day", required=True, type=DAY, help="The UTC day to restore.")
@click.option(
    "--to",
    "dest",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to restore into (not the trail itself): journal/, tiles/, checkpoints/.",
)
@VKEY_OPTION
@JSON_OPTION
def restore_command(
    home: Path,
    archive_url: str,
    endpoint_url: str | None,
    day: str,
    dest: Path,
    vkeys: tuple[str, ...],
    as_json: bool,
) -> None:
    """Bring a day back from the archive byte for byte, with what proves it, and prove it
    against a signed checkpoint (the local trail's keys, or --vkey).

    \b
    Example:
      tradetrail archive restore --archive s3://records/desk-1 --date 2024-03-04 --to restored
    """
    from ..compliance.archive import restore_day

    if is_trail(dest) and dest.resolve() == home.resolve():
        fail(f"--to {dest}: restore into a directory of its own, not the trail")
    store = _store(archive_url, endpoint_url)
    local = home if is_trail(home) else None
    verifiers = load_verifiers(vkeys)
    if local is None and not verifiers:
        fail("no local trail to take the keys from: give the verifier key with --vkey")
    path, first, last = restore_day(store, day, dest, home=local, verifiers=verifiers)
    if as_json:
        emit_json({"day": day, "path": str(path), "first_seq": first, "last_seq": last})
    else:
        out.print(
            f"restored {path} (seq {first}-{last}); proven against a signed checkpoint",
            soft_wrap=True,
        )


@archive.command("restore-drill")
@HOME_OPTION
@ARCHIVE_OPTION
@ENDPOINT_OPTION
@click.option(
    "--sample",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="How many archived days to restore, picked at random.",
)
@click.option("--seed", type=int, default=None, help="Seed of the random pick (repeatable).")
@VKEY_OPTION
@click.option("--no-record", is_flag=True, help="Do not record a compliance.restore_drill event.")
@JSON_OPTION
def restore_drill_command(
    home: Path,
    archive_url: str,
    endpoint_url: str | None,
    sample: int,
    seed: int | None,
    vkeys: tuple[str, ...],
    no_record: bool,
    as_json: bool,
) -> None:
    """Restore a random sample of archived days into a scratch directory, prove each against a
    signed checkpoint (and compare it with the trail's file where it still has one), and record
    the result as a compliance.restore_drill event: evidence that the backup works. Exit 1 when
    a day fails.

    \b
    Example:
      tradetrail archive restore-drill --archive s3://records/desk-1 --sample 5
    """
    import random

    from ..compliance.archive import record_drill, restore_drill

    store = _store(archive_url, endpoint_url)
    local = home if is_trail(home) else None
    verifiers = load_verifiers(vkeys)
    if local is None and not verifiers:
        fail("no local trail to take the keys from: give the verifier key with --vkey")
    rng = random.Random(seed) if seed is not None else None
    result = restore_drill(store, sample=sample, home=local, verifiers=verifiers, rng=rng)
    recorded = None
    if local is not None and not no_record:
        try:
            recorded = record_drill(local, result)
        except (TradetrailError, OSError) as exc:
            err.print(
                f"[yellow]warning:[/] the drill ran but could not be recorded in the trail "
                f"({exc}); record it with `tradetrail record --type compliance.restore_drill`",
                soft_wrap=True,
            )
    if as_json:
        emit_json({**result.to_json(), "recorded": recorded})
    else:
        out.print(
            f"{result.location}: restored and proved {result.passed} of {len(result.days)} "
            f"day(s) ({', '.join(result.days)}) in {result.duration_ms} ms",
            soft_wrap=True,
        )
        for fault in result.faults:
            err.print(f"[bold red]fault:[/] {fault}", soft_wrap=True)
        if recorded:
            out.print(f"recorded as {recorded}", soft_wrap=True)
    if not result.ok:
        raise SystemExit(1)


@archive.command("lifecycle")
@HOME_OPTION
@ARCHIVE_OPTION
@ENDPOINT_OPTION
@POLICY_OPTION
@click.option("--check", is_flag=True, help="Only read the bucket's rules and compare them.")
@JSON_OPTION
def lifecycle_command(
    home: Path,
    archive_url: str,
    endpoint_url: str | None,
    policy_path: Path | None,
    check: bool,
    as_json: bool,
) -> None:
    """Write the bucket lifecycle rule of the policy's storage tiers (objects move to
    archive.cold_class, GLACIER by default, archive.cold_after their upload, 2y by default),
    keeping the bucket's other rules, then read the rules back and check them. Exit 1 when the
    bucket's rule is not the policy's.

    \b
    Example:
      tradetrail archive lifecycle --archive s3://records/desk-1 --check
    """
    from ..compliance.archive import lifecycle

    try:
        policy = load_policy(home, policy_path)
    except PolicyError as exc:
        fail(str(exc))
    store = _store(archive_url, endpoint_url)
    result = lifecycle(store, policy.tiers, write=not check)
    if as_json:
        emit_json(result.to_json())
    else:
        tiers = policy.tiers
        out.print(
            f"{result.location}: upload in {tiers.warm_class}, to {tiers.cold_class} after "
            f"{tiers.cold_after_days()} days: "
            + ("rule in place" if result.ok else "the bucket's rule differs from the policy"),
            soft_wrap=True,
        )
    if not result.ok:
        raise SystemExit(1)
