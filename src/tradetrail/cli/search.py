"""`tradetrail search`, `lineage`, `index` and `db`: the index commands (listed in the
command table of cli/main.py)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import click
import orjson
from rich.tree import Tree

from ..core import layout
from ..index import (
    IndexBackend,
    IndexRow,
    Lineage,
    Query,
    QueryError,
    check_index,
    lineage,
    open_index,
    parse_when,
    trail_origin,
    update_index,
)
from ..index.query import FILTER_FIELDS, search_origins
from ..index.rows import ID_COLUMNS
from .common import (
    HOME_OPTION,
    JSON_OPTION,
    CliConsole,
    emit_json,
    err,
    fail,
    out,
    progress_bar,
)
from .common import require_trail as _require_trail

URL_OPTION = click.option(
    "--database-url",
    "url",
    envvar="TRADETRAIL_DATABASE_URL",
    default=None,
    help="Index database (env TRADETRAIL_DATABASE_URL); default SQLite in the trail.",
)
_CSV_COLUMNS = ("seq", "ts", "type", "actor", *ID_COLUMNS, "event_id", "data")


def _records_total(home: Path) -> int:
    """Records in the newest checkpoint: the progress bar's total (0 when unknown)."""
    cp = home / layout.CHECKPOINT_FILE
    if cp.exists():
        lines = cp.read_text().splitlines()
        if len(lines) > 1 and lines[1].isdigit():
            return int(lines[1])
    return 0


def _open(home: Path, url: str | None, update: bool = True) -> IndexBackend:
    _require_trail(home)
    index = open_index(home, url)
    if update:
        last = index.last_seq(trail_origin(home))
        total = max(0, _records_total(home) - last - 1)
        with progress_bar(total, "indexing") as bar:
            done = 0

            def step(n: int) -> None:
                nonlocal done
                done += n
                bar(done)

            update_index(home, index, progress=step)
    return index


@click.group()
def index() -> None:
    """Keep the search index in step with the journal (SQLite in the trail by default, or
    PostgreSQL with --database-url / TRADETRAIL_DATABASE_URL)."""


@index.command("update")
@HOME_OPTION
@URL_OPTION
def index_update(home: Path, url: str | None) -> None:
    """Index the records journaled since the last update."""
    _require_trail(home)
    idx = open_index(home, url)
    try:
        result = update_index(home, idx)
    finally:
        idx.close()
    out.print(f"indexed {result.added} new record(s); the index ends at seq {result.last_seq}")


@index.command("rebuild")
@HOME_OPTION
@URL_OPTION
def index_rebuild(home: Path, url: str | None) -> None:
    """Rebuild the index from the journal. SQLite: a new file replaces the old one.
    PostgreSQL (append-only, immutable rows): every record is offered again; existing rows
    are checked against the journal and any that differ are reported, never overwritten."""
    from ..index import index_url
    from ..index.rebuild import rebuild

    _require_trail(home)
    total = _records_total(home)
    with progress_bar(total, "rebuilding") as bar:
        done = 0

        def step(n: int) -> None:
            nonlocal done
            done += n
            bar(done)

        result = rebuild(home, index_url(home, url), progress=step)
    out.print(f"rebuilt: {result.added} row(s) added, the index ends at seq {result.last_seq}")


def _summary(row: IndexRow) -> str:
    data = row.parsed().get("data")
    if not data:
        return ""
    text = orjson.dumps(data).decode()
    return text if len(text) <= 80 else text[:77] + "..."


@click.command()
@HOME_OPTION
@URL_OPTION
@click.option("--type", "types", multiple=True, help="Event type, or a prefix like order.*.")
@click.option("--category", help="First segment of the type: order, risk, auth, ...")
@click.option("--symbol")
@click.option("--account")
@click.option("--order-id", help="Records whose order_id is exactly this (see `lineage`).")
@click.option("--actor")
@click.option("--strategy")
@click.option("--venue")
@click.option(
    "--field", "fields", multiple=True, metavar="NAME=VALUE", help="Any id field, exactly."
)
@click.option("--since", help="RFC 3339 time, date, or age such as 2h, 7d (inclusive).")
@click.option("--until", help="RFC 3339 time, date, or age (exclusive).")
@click.option("--text", help="Full-text words; all must appear.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, None))
@click.option("--desc", "descending", is_flag=True, help="Newest first.")
@click.option("--proof", is_flag=True, help="Attach each hit's inclusion proof.")
@JSON_OPTION
@click.option("--csv", "as_csv", is_flag=True, help="CSV (RFC 4180) on stdout.")
@click.option("--no-update", is_flag=True, help="Do not bring the index up to date first.")
@click.option(
    "--origin",
    "origins",
    multiple=True,
    help="Records of this trail (origin) in a shared index; repeat for several.",
)
@click.option("--all-origins", is_flag=True, help="Records of every trail in a shared index.")
def search(
    home: Path,
    url: str | None,
    types: tuple[str, ...],
    category: str | None,
    symbol: str | None,
    account: str | None,
    order_id: str | None,
    actor: str | None,
    strategy: str | None,
    venue: str | None,
    fields: tuple[str, ...],
    since: str | None,
    until: str | None,
    text: str | None,
    limit: int,
    descending: bool,
    proof: bool,
    as_json: bool,
    as_csv: bool,
    no_update: bool,
    origins: tuple[str, ...],
    all_origins: bool,
) -> None:
    """Search the trail's records (exit 0 with hits, 1 with none, 2 on a bad query).
    With --origin or --all-origins, the records of other trails feeding the same index
    (a fleet on one PostgreSQL); the home then need not be a trail.

    \b
    Examples:
      tradetrail search --order-id O-00000042
      tradetrail search --type risk.rejected --symbol ETH-USD --since 2026-11-17 --until 2026-11-18
      tradetrail search --category config --since 7d --json
      tradetrail search --text "failed logins" --type alert.*
      tradetrail search --all-origins --type risk.* --json
    """
    equals = {
        name: value
        for name, value in (
            ("category", category),
            ("symbol", symbol),
            ("account", account),
            ("order_id", order_id),
            ("actor", actor),
            ("strategy", strategy),
            ("venue", venue),
        )
        if value is not None
    }
    for spec in fields:
        name, sep, value = spec.partition("=")
        if not sep or not value:
            raise QueryError(f"--field {spec!r}: expected NAME=VALUE")
        if name not in FILTER_FIELDS:
            raise QueryError(
                f"--field {name!r}: unknown field (searchable: {', '.join(FILTER_FIELDS)})"
            )
        equals[name] = value
    if as_json and as_csv:
        raise QueryError("--json and --csv: choose one")
    since_at = parse_when(since, "--since") if since else None
    until_at = parse_when(until, "--until") if until else None
    if since_at is not None and until_at is not None and since_at >= until_at:
        raise QueryError(f"--since {since_at} is not before --until {until_at}: an empty range")
    query = Query(
        types=types,
        equals=equals,
        since=since_at,
        until=until_at,
        text=text,
        limit=limit,
        descending=descending,
    )
    if origins and all_origins:
        raise QueryError("--origin and --all-origins: choose one")
    fleet = bool(origins) or all_origins
    if fleet and proof:
        raise QueryError("--proof: proofs come from this trail's journal, not with --origin")
    is_trail = (home / layout.JOURNAL_DIR).is_dir()
    own = trail_origin(home) if is_trail else None
    if fleet and not is_trail:
        idx = open_index(home, url)  # another trail's index: its own indexer feeds it
    else:
        idx = _open(home, url, update=not no_update and (not fleet or own in origins))
    try:
        if not fleet:
            hits = idx.search(Query(**{**query.__dict__, "origin": own}))
        else:
            hits = search_origins(idx, query, None if all_origins else origins)
    finally:
        idx.close()
    proofs: dict[int, Any] = {}
    if proof:
        from ..store.proofs import inclusion_proof_json

        proofs = {row.seq: inclusion_proof_json(home, row.seq) for row in hits}
    if as_json:
        for row in hits:
            record = row.parsed()
            if proof:
                record = {**record, "inclusion_proof": proofs[row.seq]}
            if fleet:  # a record does not name its trail: the index row does
                record = {"origin": row.origin, **record}
            sys.stdout.write(orjson.dumps(record).decode() + "\n")
    elif as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\r\n")
        writer.writerow(_CSV_COLUMNS)
        for row in hits:
            record = row.parsed()
            writer.writerow(
                [
                    _cell(
                        orjson.dumps(record[c]).decode()
                        if c == "data" and c in record
                        else record.get(c, "")
                    )
                    for c in _CSV_COLUMNS
                ]
            )
    else:
        _table(hits, proof)
    sys.exit(0 if hits else 1)


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _table(hits: list[IndexRow], proof: bool) -> None:
    from rich.table import Table

    table = Table(show_lines=False)
    widest_type = max((len(r.type) for r in hits), default=4)
    table.add_column("seq", no_wrap=True, min_width=len(str(hits[-1].seq)) if hits else 3)
    table.add_column("ts", no_wrap=True, min_width=27)
    table.add_column("type", no_wrap=True, min_width=widest_type)
    table.add_column("ids", overflow="fold", min_width=12)
    table.add_column("data", no_wrap=True, overflow="ellipsis", min_width=20)
    for row in hits:
        ids = " ".join(
            v for v in (row.symbol, row.account, row.order_id, row.actor) if v is not None
        )
        table.add_row(str(row.seq), row.ts, row.type, ids, _summary(row))
    # a pipe gets the full width a terminal would: the lines are long by nature
    console = out if out.is_terminal else CliConsole(width=160, highlight=False, soft_wrap=False)
    console.print(table)
    note = " (each with an inclusion proof: use --json to see them)" if proof else ""
    err.print(f"{len(hits)} record(s){note}")


@click.command("lineage")
@HOME_OPTION
@URL_OPTION
@click.argument("order_id")
@JSON_OPTION
@click.option("--no-update", is_flag=True, help="Do not bring the index up to date first.")
def lineage_command(
    home: Path, url: str | None, order_id: str, as_json: bool, no_update: bool
) -> None:
    """The whole story of an order as a tree: signal, risk decisions and sizing, the order and
    its replaces and cancels (client, exchange and parent ids followed), fills, and the
    resulting position change. Exit 1 when no record names the order."""
    idx = _open(home, url, update=not no_update)
    try:
        story = lineage(idx, order_id, trail_origin(home))
    finally:
        idx.close()
    if not story.found:
        fail(f"no record has order_id {order_id!r}", 1)
    if as_json:
        emit_json(story.as_json())
        return
    tree = Tree(f"[bold]order {order_id}[/]")
    if story.signals:
        branch = tree.add("[cyan]decision[/]")
        for row in story.signals:
            branch.add(_line(row))
    _order_branch(tree, story, order_id, set())
    for oid in story.orders:
        if oid != order_id and not any(oid in kids for kids in story.children.values()):
            _order_branch(tree, story, oid, set())
    if story.positions:
        branch = tree.add("[cyan]position change[/]")
        for p in story.positions:
            branch.add(f"{p.account} {p.symbol}: {p.qty:+} ({p.fills} fill(s))")
        for row in story.snapshots:
            branch.add(_line(row))
    out.print(tree)


def _line(row: IndexRow) -> str:
    summary = _summary(row)
    return f"[dim]#{row.seq} {row.ts}[/] [bold]{row.type}[/] {summary}".rstrip()


def _order_branch(tree: Tree, story: Lineage, oid: str, shown: set[str]) -> None:
    if oid in shown:
        return
    shown.add(oid)
    branch = tree.add(f"[green]order {oid}[/]")
    for row in story.orders.get(oid, []):
        branch.add(_line(row))
    for child in story.children.get(oid, []):
        _order_branch(branch, story, child, shown)


def verify_index(home: Path, url: str | None, as_json: bool) -> bool:
    """The `verify --index` part: every index row against the journal."""
    idx = open_index(home, url)
    try:
        with progress_bar(
            max(0, idx.last_seq(trail_origin(home)) + 1), "checking the index"
        ) as bar:
            done = 0

            def step(n: int) -> None:
                nonlocal done
                done += n
                bar(done)

            check = check_index(home, idx, progress=step)
    finally:
        idx.close()
    if as_json:
        emit_json(
            {
                "index": {
                    "origin": check.origin,
                    "checked": check.checked,
                    "missing": check.missing,
                    "extra": check.extra,
                    "differ": check.differ,
                    "ok": check.ok,
                }
            }
        )
    else:
        for label, seqs in (
            ("missing from the index", check.missing),
            ("in the index, not in the journal", check.extra),
            ("differs from the journal", check.differ),
        ):
            for seq in seqs[:100]:
                out.print(f"[red]FAULT[/] index row seq {seq}: {label}")
            if len(seqs) > 100:
                out.print(f"... and {len(seqs) - 100} more row(s) {label}")
        verdict = "[green]OK[/]" if check.ok else "[red]FAULTS[/]"
        out.print(f"index {verdict}: {check.checked} rows checked against the journal")
    return check.ok


@click.group()
def db() -> None:
    """The PostgreSQL index database."""


@db.command("migrate")
@click.option(
    "--owner-url",
    envvar="TRADETRAIL_DATABASE_OWNER_URL",
    default=None,
    help="URL of the owner role, which owns the schema (env TRADETRAIL_DATABASE_OWNER_URL); "
    "without it, the database URL's role.",
)
@click.option(
    "--database-url",
    "url",
    envvar="TRADETRAIL_DATABASE_URL",
    default=None,
    help="Used as the owner URL when none is given (env TRADETRAIL_DATABASE_URL).",
)
@click.option(
    "--app-role",
    default=None,
    help="Role the application connects as: granted SELECT and INSERT only.",
)
def db_migrate(owner_url: str | None, url: str | None, app_role: str | None) -> None:
    """Apply the versioned schema migrations (idempotent) as the owner role.

    \b
    Example:
      tradetrail db migrate --owner-url postgresql://tt_owner@db/audit --app-role tt_app
    """
    from ..index.postgres import migrate

    if owner_url is None and url is None:
        fail("--owner-url (or TRADETRAIL_DATABASE_OWNER_URL, or TRADETRAIL_DATABASE_URL) is needed")
    applied = migrate(owner_url or url or "", app_role)
    if applied:
        out.print(f"applied migration(s): {', '.join(applied)}")
    else:
        out.print("the schema is up to date")
    if owner_url is None:
        role = unquote(urlsplit(url or "").username or "") or "its user"
        err.print(
            f"note: no --owner-url: the database URL's role ({role}) owns the schema; the "
            "triggers still keep records immutable, though an owner could drop them (keep the "
            "application on another role: --owner-url with --app-role)",
            soft_wrap=True,
            markup=False,
            highlight=False,
        )
