"""Commands on the trail itself: demo, init, record, tail, verify, checkpoint, proof, keygen,
schema, info."""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn

import click
import orjson
from rich.markup import escape
from rich.table import Table

from ..core import layout
from ..core.canonical import SORT
from ..core.chain import ACCELERATOR
from ..core.checkpoint import open_checkpoint
from ..core.note import Signer, Verifier
from ..errors import ConfigError, ProofError, TrailLockedError
from ..store.journal import journal_files
from ..store.keys import VKEY_FILE, read_vkey, write_private
from ..writer.config import DEFAULT_HOME, check_origin

if TYPE_CHECKING:
    from ..writer.admin_events import QueuedRecorder
    from ..writer.trail import Trail

from .common import (
    DEMO_HOME,
    HOME_OPTION,
    JSON_OPTION,
    emit_json,
    err,
    fail,
    load_verifiers,
    out,
    progress_bar,
    require_trail,
)


@click.command()
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="TRADETRAIL_HOME",
    default=DEMO_HOME,
    show_default=True,
    help="Demo trail directory (env TRADETRAIL_HOME); only ever one the demo made.",
)
@click.option("--events", default=5000, show_default=True, type=click.IntRange(50, None))
@click.option("--days", default=2, show_default=True, type=click.IntRange(1, 366))
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--fresh/--keep", default=True, help="Start from an empty trail (default).")
def demo(home: Path, events: int, days: int, seed: int, fresh: bool) -> None:
    """Simulate a trading session into an embedded trail, then verify it.

    \b
    Example:
      tradetrail demo --events 100000 --days 3 --home ./demo-trail
    """
    from ..demo import prepare_demo_home, run_demo
    from ..verify.trail import verify_trail

    prepare_demo_home(home, fresh=fresh)
    started = time.perf_counter()
    with progress_bar(events, "simulating") as update:
        summary = run_demo(home, events=events, days=days, seed=seed, progress=update)
    elapsed = time.perf_counter() - started
    size = sum(p.stat().st_size for p in journal_files(home))
    with progress_bar(size, "verifying") as update:
        report = verify_trail(home, progress=update)
    out.print(
        f"[bold]Simulated {summary.events} events[/] in {elapsed:.1f}s into [cyan]{home}[/]: "
        f"trading days {', '.join(summary.days)} (sealed) and a closing record today"
    )
    table = Table(title="events by type", show_lines=False)
    table.add_column("type")
    table.add_column("count", justify="right")
    for kind, count in sorted(summary.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:14]:
        table.add_row(kind, str(count))
    out.print(table)
    status = "[green]intact[/]" if report.ok else f"[red]{report.fault_count} fault(s)[/]"
    out.print(
        f"verify: {status}: {report.size} records in {report.files} day files, "
        f"{report.checkpoints_checked} signed checkpoints, {report.tiles_checked} tiles"
    )
    q, vkey = shlex.quote(str(home)), shlex.quote(str(home / VKEY_FILE))
    out.print(
        "\nNext, try:\n"
        f"  tradetrail --help\n"
        f"  tradetrail info --home {q}\n"
        f"  tradetrail tail --home {q} -n 5\n"
        f"  tradetrail verify --home {q} --json\n"
        f"  tradetrail proof inclusion --home {q} --seq 42 > proof.json\n"
        f"  tradetrail proof verify proof.json --vkey {vkey}\n"
        "compliance outputs of the simulated days:\n"
        f"  tradetrail export daily --home {q} --date {summary.days[0]}\n"
        f"  tradetrail report execution --home {q} --date {summary.days[0]} "
        "--out execution.html\n"
        f"  tradetrail export exam --home {q} --from {summary.days[0]} --to {summary.days[-1]} "
        "--out exam.zip\n"
        f"  tradetrail verify-pack exam.zip --vkey {vkey}"
    )
    if not report.ok:
        sys.exit(1)


@click.command()
@HOME_OPTION
@click.option("--origin", envvar="TRADETRAIL_ORIGIN", help="The log's name, fixed for its life.")
@JSON_OPTION
def init(home: Path, origin: str | None, as_json: bool) -> None:
    """Create a trail: its journal, a signing key (unless TRADETRAIL_SIGNING_KEY names one) and
    its first signed checkpoint. Every other command refuses a directory that is not a trail.

    \b
    Example:
      tradetrail init --home ./trail --origin trail.example.com/desk-1
    """
    from ..store.journal import is_trail
    from ..writer.trail import open as open_trail

    existed = is_trail(home)
    with open_trail(home, origin=origin) as trail:
        summary = {
            "home": str(home),
            "origin": trail.origin,
            "records": trail.size,
            "vkey": trail.verifier.vkey(),
            "created": not existed,
        }
    if as_json:
        emit_json(summary)
        return
    verb = "created" if not existed else "already a trail:"
    out.print(f"{verb} [cyan]{home}[/] (origin {trail.origin}, {summary['records']} records)")
    out.print(f"verifier key ({home / VKEY_FILE}): {summary['vkey']}")


def _parse_fields(pairs: tuple[str, ...]) -> dict[str, str]:
    fields = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--field {pair!r}: expected NAME=VALUE, e.g. --field order_id=O-1")
        fields[key] = value
    return fields


@click.command()
@HOME_OPTION
@click.argument("stdin", required=False, type=click.Choice(["-"]))
@click.option("--type", "event_type", help="Event type, e.g. order.accepted.")
@click.option("--data", default=None, help="Event data as a JSON object (numbers kept exact).")
@click.option("--field", "fields", multiple=True, help="Envelope field NAME=VALUE (repeatable).")
@JSON_OPTION
def record(
    home: Path,
    stdin: str | None,
    event_type: str | None,
    data: str | None,
    fields: tuple[str, ...],
    as_json: bool,
) -> None:
    """Record one event, or JSON lines from stdin with `-`.

    \b
    Examples:
      tradetrail record --type order.accepted --data '{"price": "64250.10"}' --field order_id=O-1
      cat events.jsonl | tradetrail record -
    Each stdin line is an object with "type", optional "data" and envelope fields. JSON numbers
    are read exactly (never through a binary float). A bad line stops the run with its line
    number; the lines before it are recorded, none after it.
    """
    from ..core.canonical import build_envelope
    from ..core.exactjson import loads_event_line, loads_exact
    from ..writer.config import resolve
    from ..writer.trail import Trail

    if stdin is None and not event_type:
        fail("give --type (one event) or '-' (JSON lines on stdin)")
    if stdin is not None and (event_type or data or fields):
        fail("'-' reads events from stdin; do not combine it with --type/--data/--field")
    if stdin is None:
        assert event_type is not None
        try:
            payload = loads_exact(data) if data else None
        except ValueError as exc:
            fail(f"--data: {exc}")
        envelope = _parse_fields(fields)
        try:  # refuse a bad event before opening; names the field at fault
            build_envelope(event_type, payload, envelope)
        except (ValueError, TypeError) as exc:
            fail(str(exc))
        with _recorder(home) as sink:
            try:
                receipt = sink.record(event_type, payload, **envelope)
            except (ValueError, TypeError) as exc:  # what only the trail's config refuses
                fail(str(exc))
            seq = receipt.wait()
            queue_files = [] if isinstance(sink, Trail) else sink.files
        if as_json:
            emit_json({"seq": seq, "queued": str(queue_files[0])} if queue_files else {"seq": seq})
        elif queue_files:
            out.print(f"queued in {queue_files[0]}: {QUEUED_NOTE}")
        else:
            out.print(f"recorded seq {seq}")
        return
    max_bytes = resolve(home).max_event_bytes
    limit = 2 * max_bytes  # room for whitespace around the largest event
    with _recorder(home) as sink:
        trail = sink if isinstance(sink, Trail) else None
        count = lineno = 0
        verb = "recorded" if trail is not None else "queued"

        def stop(message: str, code: int) -> NoReturn:
            sink.flush()
            err.print(f"[bold red]tradetrail: error:[/] {message}", soft_wrap=True)
            sys.exit(code)

        try:
            while raw := sys.stdin.buffer.readline(limit + 1):
                lineno += 1
                if len(raw) > limit and not raw.endswith(b"\n"):
                    stop(
                        f"stdin line {lineno}: longer than {limit} bytes (an event is at most "
                        f"max_event_bytes = {max_bytes}); {count} event(s) before it were "
                        f"{verb}, nothing from line {lineno} on",
                        1,
                    )
                if not raw.strip():
                    continue
                try:
                    kind, payload, envelope = loads_event_line(raw)
                    sink.record(kind, payload, **envelope)
                except (ValueError, TypeError) as exc:
                    stop(
                        f"stdin line {lineno}: {exc}; {count} event(s) before it were "
                        f"{verb}, nothing from line {lineno} on",
                        1,
                    )
                count += 1
                if trail is None and count % QUEUE_BATCH == 0:
                    sink.flush()  # one spill file per batch: memory stays bounded
        except KeyboardInterrupt:
            stop(f"interrupted at stdin line {lineno + 1}: {count} event(s) were {verb}", 130)
        ok = sink.flush()
        if isinstance(sink, Trail):
            summary: dict[str, Any] = {"recorded": count, "size": sink.size, "all_journaled": ok}
            text = f"recorded {count} event(s); the trail now holds {sink.size} records"
        else:
            summary = {"queued": count, "files": [str(f) for f in sink.files]}
            text = f"queued {count} event(s) in {len(sink.files)} spill file(s): {QUEUED_NOTE}"
        if as_json:
            emit_json(summary)
        else:
            out.print(text)


QUEUE_BATCH: Final = 10_000
QUEUED_NOTE: Final = (
    "another process holds the trail; its writer journals the events within seconds, or the "
    "next open does (they carry a `spill` field saying so)"
)


@contextmanager
def _recorder(home: Path) -> Iterator[Trail | QueuedRecorder]:
    """The trail opened for writing, or, while another process holds it, a queue into its
    spill directory: every command that records works the same way while trading runs."""
    from ..errors import TrailLockedError
    from ..writer.admin_events import QueuedRecorder
    from ..writer.config import resolve
    from ..writer.trail import open as open_trail

    try:
        trail = open_trail(home, create=False)
    except TrailLockedError:
        yield QueuedRecorder(home, strict=resolve(home).strict)
        return
    with trail:
        yield trail


def _tail_lines(home: Path, count: int) -> list[bytes]:
    from ..store.journal import tail_lines

    lines: list[bytes] = []
    for path in reversed(journal_files(home)):
        got, _ = tail_lines(path, count - len(lines))
        lines[:0] = got
        if len(lines) >= count:
            break
    return lines


def _show(line: bytes, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(line.decode() + "\n")
        return
    rec = orjson.loads(line)
    ids = " ".join(f"{k}={rec[k]}" for k in ("order_id", "symbol", "account", "actor") if k in rec)
    data = orjson.dumps(rec.get("data", {}), option=SORT).decode()
    if len(data) > 120:
        data = data[:117] + "..."
    out.print(
        f"[dim]{rec.get('seq'):>8}[/] {rec.get('ts')} [bold]{rec.get('type')}[/] {ids} {data}",
        soft_wrap=True,
        markup=True,
        highlight=False,
    )


@click.command()
@HOME_OPTION
@click.option("-n", "count", default=10, show_default=True, type=click.IntRange(0, None))
@click.option("-f", "follow", is_flag=True, help="Keep printing new records as they arrive.")
@click.option(
    "--url",
    metavar="URL",
    help="Read the trail a `tradetrail serve --listen` service serves, not --home.",
)
@click.option(
    "--token",
    envvar="TRADETRAIL_TOKEN",
    help="With --url: a bearer token with read scope (env TRADETRAIL_TOKEN).",
)
@click.option(
    "--type",
    "types",
    multiple=True,
    metavar="TYPE",
    help="With --url: only this type, or prefix like order.*; repeatable.",
)
@click.option("--symbol", help="With --url: only records of this symbol.")
@click.option("--account", help="With --url: only records of this account.")
@click.option("--venue", help="With --url: only records of this venue.")
@JSON_OPTION
def tail(
    home: Path,
    count: int,
    follow: bool,
    url: str | None,
    token: str | None,
    types: tuple[str, ...],
    symbol: str | None,
    account: str | None,
    venue: str | None,
    as_json: bool,
) -> None:
    """Print the last records (the raw journal lines with --json); -f follows the trail,
    Ctrl-C ends it. With --url, of a service's trail: -f resumes after a dropped connection
    or a restarted service without a record lost or repeated.

    \b
    Examples:
      tradetrail tail -n 20 -f
      tradetrail tail --url https://trail.example.com:8750 -f --type order.*
    """
    if url is not None:
        from ..writer.stream import StreamFilter

        filters = StreamFilter(types, symbol, account, venue)
        _tail_url(url, token, count, follow, filters, as_json)
        return
    local_only = [
        name
        for name, given in (
            ("--token", _given("token")),
            ("--type", bool(types)),
            ("--symbol", symbol is not None),
            ("--account", account is not None),
            ("--venue", venue is not None),
        )
        if given
    ]
    if local_only:
        verb = "needs" if len(local_only) == 1 else "need"
        fail(
            f"{', '.join(local_only)} {verb} --url (search a local trail with `tradetrail search`)"
        )
    require_trail(home)
    for line in _tail_lines(home, count):
        _show(line, as_json)
    if not follow:
        return
    files = journal_files(home)
    path = files[-1] if files else None
    offset = path.stat().st_size if path else 0
    try:
        while True:
            files = journal_files(home)
            if files and files[-1] != path:
                if path is not None:
                    offset = _follow(path, offset, as_json)
                path, offset = files[-1], 0
            if path is not None:
                offset = _follow(path, offset, as_json)
            sys.stdout.flush()
            time.sleep(0.2)
    except KeyboardInterrupt:
        return


def _given(name: str) -> bool:
    """Whether option `name` was typed (not taken from the environment or its default)."""
    source = click.get_current_context().get_parameter_source(name)
    return source is click.core.ParameterSource.COMMANDLINE


def _tail_url(
    url: str, token: str | None, count: int, follow: bool, filters: Any, as_json: bool
) -> None:
    """tail of a service's trail: the last `count` matching records and, with `follow`, every
    one after them, on one stream (so none falls between the two)."""
    from ..writer.stream import ServiceReader

    def note(message: str) -> None:
        err.print(f"tradetrail: {url}: {escape(message)}", soft_wrap=True)

    with ServiceReader(url, token, notify=note) as reader:
        size = int(reader.info()["size"])
        since, until = size, None
        if count and filters.empty and size:
            since, until = max(0, size - count), size - 1
        elif count:
            found = reader.last_seqs(count, filters)
            if found is not None:
                since, until = found
        if until is None and not follow:
            return
        try:
            for _seq, line in reader.records(
                filters, since=since, until=None if follow else until, follow=follow
            ):
                _show(line, as_json)
                sys.stdout.flush()
        except KeyboardInterrupt:
            return


def _follow(path: Path, offset: int, as_json: bool) -> int:
    with open(path, "rb") as fh:
        fh.seek(offset)
        while True:
            raw = fh.readline()
            if not raw.endswith(b"\n"):
                return offset
            offset += len(raw)
            _show(raw[:-1], as_json)


@click.command()
@HOME_OPTION
@click.option(
    "--checkpoint",
    "checkpoints",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A checkpoint kept outside the trail (an auditor's copy) to hold it against.",
)
@click.option("--vkey", "vkeys", multiple=True, help="Verifier key (text or file); repeatable.")
@click.option("--max-faults", default=100, show_default=True, type=click.IntRange(1, None))
@click.option(
    "--index", "with_index", is_flag=True, help="Also check every index row against the journal."
)
@click.option(
    "--database-url",
    "url",
    envvar="TRADETRAIL_DATABASE_URL",
    default=None,
    help="The index to check with --index (env TRADETRAIL_DATABASE_URL).",
)
@click.option(
    "--from",
    "start",
    metavar="SEQ|TIME",
    help="Report only records from this seq, date (YYYY-MM-DD) or RFC 3339 time on.",
)
@click.option(
    "--to",
    "end",
    metavar="SEQ|TIME",
    help="Report only records up to this seq, date (the whole day) or RFC 3339 time.",
)
@JSON_OPTION
def verify(
    home: Path,
    checkpoints: tuple[Path, ...],
    vkeys: tuple[str, ...],
    max_faults: int,
    with_index: bool,
    url: str | None,
    start: str | None,
    end: str | None,
    as_json: bool,
) -> None:
    """Verify the whole trail: chain, seq, times, day files, Merkle roots, signatures, tiles.

    Exit 0 when intact, 1 when a fault is found, 2 on a usage error. Each FAULT names its
    cause (the altered record, else the tile or checkpoint) with what follows from it, and the
    last line sums up. What a crash leaves (a torn last line, tiles and checkpoints behind the
    journal) and a running writer's unfinished tail are warnings. Truncation is caught only
    against a checkpoint kept elsewhere: pass it with --checkpoint, and the verifier key kept
    elsewhere with --vkey. --from/--to limit the report to a range of records; the whole
    journal is still hashed, and a fault before the range fails it too.

    \b
    Examples:
      tradetrail verify
      tradetrail verify --from 2026-11-19 --to 2026-11-20
      tradetrail verify --checkpoint auditor/checkpoint-2026-11-20 --vkey auditor/trail.vkey --json
    """
    from ..verify.trail import verify_trail

    require_trail(home)
    verifiers = load_verifiers(vkeys)
    size = sum(p.stat().st_size for p in journal_files(home))
    with progress_bar(size, "verifying") as update:
        report = verify_trail(
            home,
            checkpoints=checkpoints,
            vkeys=verifiers,
            max_faults=max_faults,
            progress=update,
            start=start,
            end=end,
        )
    index_ok = True
    if with_index:
        from .search import verify_index

        index_ok = verify_index(home, url, as_json)
    if as_json:
        emit_json(report.to_json())
    else:
        for fault in report.faults:
            out.print(f"[red]FAULT[/] {escape(str(fault))}", soft_wrap=True, markup=True)
            if fault.consequence_count:
                named = ", ".join(
                    f"{f.file}:{f.line}" if f.line is not None else str(f.file)
                    for f in fault.consequences[:4]
                )
                more = " ..." if fault.consequence_count > 4 else ""
                out.print(
                    f"  and {fault.consequence_count} checkpoint(s), tile(s) or link(s) that "
                    f"depend on it ({named}{more})",
                    soft_wrap=True,
                    markup=False,
                )
        if report.fault_count > len(report.faults):
            out.print(f"... and {report.fault_count - len(report.faults)} more fault(s)")
        for warning in report.warnings:
            out.print(f"[yellow]warning[/] {escape(warning)}", soft_wrap=True)
        for note in report.notes:
            out.print(f"[dim]note: {escape(note)}[/]", soft_wrap=True)
        colour = "green" if report.ok else "red"
        out.print(f"[{colour}]{escape(report.summary)}[/]", soft_wrap=True)
    sys.exit(0 if report.ok and index_ok else 1)


@click.command()
@HOME_OPTION
@JSON_OPTION
@click.option("--show", is_flag=True, help="Print the latest checkpoint without signing a new one.")
def checkpoint(home: Path, as_json: bool, show: bool) -> None:
    """Sign a checkpoint of the trail now (or --show the latest) and print it.

    Keep copies outside the trail (an auditor, object storage with retention lock): they are
    what make truncation visible. Signing needs the writer lock: when your application holds
    the trail open, it signs checkpoints itself; use --show.
    """
    from ..writer.trail import open as open_trail

    require_trail(home)
    if show:
        text = (home / layout.CHECKPOINT_FILE).read_text()
    else:
        with open_trail(home, create=False) as trail:
            text = trail.checkpoint()
    if as_json:
        cp = open_checkpoint(text, [read_vkey(home / VKEY_FILE)])
        emit_json({"origin": cp.origin, "size": cp.size, "root": cp.root.hex(), "note": text})
    else:
        sys.stdout.write(text)


@click.group()
def proof() -> None:
    """Inclusion and consistency proofs (RFC 9162), and their offline check."""


@proof.command("inclusion")
@HOME_OPTION
@click.option("--seq", required=True, type=click.IntRange(0, None), help="Record to prove.")
@click.option(
    "--size", type=click.IntRange(1, None), help="Tree size (default: latest checkpoint)."
)
def proof_inclusion(home: Path, seq: int, size: int | None) -> None:
    """Print the inclusion proof of record SEQ as JSON.

    \b
    Example:
      tradetrail proof inclusion --seq 42 > proof.json
    """
    from ..store.proofs import inclusion_proof_json

    require_trail(home)
    emit_json(inclusion_proof_json(home, seq, size))


@proof.command("consistency")
@HOME_OPTION
@click.option("--old-size", required=True, type=click.IntRange(1, None))
@click.option("--new-size", type=click.IntRange(1, None), help="Default: latest checkpoint.")
def proof_consistency(home: Path, old_size: int, new_size: int | None) -> None:
    """Print the consistency proof between two tree sizes as JSON.

    \b
    Example:
      tradetrail proof consistency --old-size 1000
    """
    from ..store.proofs import consistency_proof_json

    require_trail(home)
    emit_json(consistency_proof_json(home, old_size, new_size))


@proof.command("verify")
@click.argument("file", type=click.File("rb"))
@click.option(
    "--vkey",
    "vkeys",
    multiple=True,
    required=True,
    help="Verifier key (text or file), or a key history file (trail.vkeys); repeatable.",
)
@click.option(
    "--unsigned-ok",
    is_flag=True,
    help="Accept a proof without a signed checkpoint (it then proves only self-consistency).",
)
@JSON_OPTION
def proof_verify(file: Any, vkeys: tuple[str, ...], unsigned_ok: bool, as_json: bool) -> None:
    """Check a proof offline against a verifier key. Exit 0 valid, 1 invalid.

    After a key rotation, give the key history (trail.vkeys): the checkpoint must then be
    signed by the key valid at its size. With a key as well (--vkey original.vkey --vkey
    trail.vkeys), that key is where trust starts and the history's rotations carry it on.

    \b
    Examples:
      tradetrail proof verify proof.json --vkey trail.vkey
      tradetrail proof verify proof.json --vkey auditor/original.vkey
    (after a rotation: add --vkey trail.vkeys)
    """
    from ..store.keyhistory import KeyHistory, parse_key_spec
    from ..store.proofs import verify_proof_json

    verifiers: list[Verifier] = []
    histories: list[KeyHistory] = []
    for spec in vkeys:
        key = parse_key_spec(spec, "--vkey")
        if isinstance(key, KeyHistory):
            histories.append(key)
        else:
            verifiers.append(key)
    if len(histories) > 1:
        fail("--vkey: give one key history (trail.vkeys) at most")
    try:
        obj = orjson.loads(file.read())
    except orjson.JSONDecodeError as exc:
        fail(f"{file.name}: not JSON: {exc}")
    try:
        said = verify_proof_json(
            obj,
            verifiers,
            require_signed=not unsigned_ok,
            history=histories[0] if histories else None,
        )
    except ProofError as exc:
        if as_json:
            emit_json({"ok": False, "error": str(exc)})
        else:
            err.print(f"[red]INVALID[/] {file.name}: {exc}", soft_wrap=True)
        sys.exit(1)
    if as_json:
        emit_json({"ok": True, "established": said})
    else:
        for line in said:
            out.print(f"[green]ok[/] {line}", soft_wrap=True)


@click.command()
@click.option(
    "--name",
    help="Key name: the log origin (e.g. trail.example.com/desk-1), or a compliance "
    "officer's name for `attest` (e.g. cco.jane.roe; no spaces or '+'). With --rotate it "
    "defaults to the trail's origin.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
)
@click.option(
    "--rotate",
    is_flag=True,
    help="Replace the signing key of the trail at --home (needs the writer lock).",
)
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="TRADETRAIL_HOME",
    help="With --rotate: the trail (env TRADETRAIL_HOME; default as for other commands).",
)
@click.option(
    "--new-key",
    "new_key",
    help="With --rotate: the new private key (file or text) instead of generating one.",
)
@click.option("--reason", help="With --rotate: why, recorded in the trail.key_rotated record.")
def keygen(
    name: str | None,
    out_dir: Path,
    rotate: bool,
    home: Path | None,
    new_key: str | None,
    reason: str | None,
) -> None:
    """Make an Ed25519 signing key pair in signed-note format, or rotate a trail's key.

    Writes NAME.key (private, mode 0600) and NAME.vkey (verifier key) with '/' in the name
    replaced by '_'. Keep the private key away from the trail (a secrets manager, an HSM, another
    host) and point TRADETRAIL_SIGNING_KEY at it; give the .vkey to your auditors.

    With --rotate, the trail's current key (TRADETRAIL_SIGNING_KEY, or <home>/signing.key)
    signs a key change to the new one, which signs from then on; older checkpoints keep
    verifying (trail.vkeys holds every key with the sizes it signs). A running application
    holds the writer lock: rotate from it with trail.rotate_key(Signer.from_skey(...)).

    \b
    Examples:
      tradetrail keygen --name trail.example.com/desk-1 --out /secure/keys
      tradetrail keygen --rotate --home ./trail --new-key /secure/keys/desk-1-2027.key
    """
    if rotate:
        _rotate_key(home, name, out_dir, new_key, reason)
        return
    if new_key is not None or reason is not None:
        fail("--new-key and --reason go with --rotate")
    if name is None:
        fail("--name is required (the key's name)")
    try:
        check_origin(name, "--name")
    except ConfigError as exc:
        fail(str(exc))
    _write_key_pair(Signer.generate(name), out_dir)


def _write_key_pair(signer: Signer, out_dir: Path) -> None:
    if out_dir.resolve().name == layout.JOURNAL_DIR:
        fail("refusing to write a private key inside a journal/ directory")
    stem = signer.name.replace("/", "_")
    key_path = out_dir / f"{stem}.key"
    vkey_path = out_dir / f"{stem}.vkey"
    if key_path.exists() or vkey_path.exists():
        fail(f"{key_path} or {vkey_path} already exists; not overwriting a key")
    write_private(key_path, signer.skey())
    vkey_path.write_text(signer.verifier().vkey() + "\n")
    out.print(f"private key: {key_path} (0600; set TRADETRAIL_SIGNING_KEY={key_path})")
    out.print(f"verifier key: {vkey_path}\n{signer.verifier().vkey()}")


def _rotate_key(
    home: Path | None, name: str | None, out_dir: Path, new_key: str | None, reason: str | None
) -> None:
    from ..store.keys import parse_signer
    from ..writer.trail import open as open_trail

    home = Path(DEFAULT_HOME) if home is None else home
    require_trail(home)
    if new_key is not None and name is not None:
        fail("--name names a generated key; --new-key brings its own name")
    if name is not None:
        try:
            check_origin(name, "--name")
        except ConfigError as exc:
            fail(str(exc))
    new = parse_signer(new_key, "--new-key") if new_key is not None else None
    try:
        trail = open_trail(home, create=False)
    except TrailLockedError as exc:
        fail(
            f"{exc}; a key rotation needs the writer lock: stop that process, or rotate from it "
            "with trail.rotate_key(tradetrail.core.note.Signer.from_skey(<new key>))"
        )
    with trail:
        beside = not trail.settings.signing_key
        if new is None:
            new = Signer.generate(name or trail.origin)
            if not beside:  # the operator keeps keys elsewhere: hand over the new one
                _write_key_pair(new, out_dir)
        old = trail.verifier
        trail.rotate_key(new, reason=reason)
        size = trail.size
    out.print(f"rotated the signing key of {home} at tree size {size}:")
    out.print(f"  retired  {old.vkey()} (signs sizes up to {size})")
    out.print(f"  current  {new.verifier().vkey()}")
    out.print(f"the key history is in {home / layout.HISTORY_FILE}; give it to your auditors")
    if beside:
        out.print(f"{home / layout.SIGNING_KEY_FILE} now holds the new key")
    else:
        out.print(
            "[yellow]point TRADETRAIL_SIGNING_KEY at the new key before the next open: the old "
            "key is refused from now on[/]",
            markup=True,
        )


@click.command()
@click.option("--type", "event_type", help="Only this event type.")
@click.option("--list", "as_list", is_flag=True, help="List the event types, one per line.")
def schema(event_type: str | None, as_list: bool) -> None:
    """Print the JSON Schema of every event type (the envelope included).

    \b
    Examples:
      tradetrail schema > tradetrail-events.schema.json
      tradetrail schema --list
      tradetrail schema --type order.submitted
    """
    from ..model.events import DEFAULT_MODEL

    if as_list:
        for name in DEFAULT_MODEL.types():
            sys.stdout.write(name + "\n")
        return
    document = DEFAULT_MODEL.json_schema()
    if event_type is not None:
        if DEFAULT_MODEL.get(event_type) is None:
            fail(f"--type {event_type!r}: not a known event type (see tradetrail schema --list)")
        document = {
            "type": event_type,
            "schema": _schema_for(document, event_type),
            "$defs": document.get("$defs", {}),
        }
    emit_json(document)


def _schema_for(document: dict[str, Any], event_type: str) -> Any:
    for key in ("types", "events", "$defs", "definitions"):
        part = document.get(key)
        if isinstance(part, dict) and event_type in part:
            return part[event_type]
    return document


def _pruned_summary(home: Path) -> tuple[list[dict[str, Any]], str | None]:
    """The days removed under retention, and the error when pruned.json cannot be read."""
    from ..errors import JournalFormatError
    from ..store.journal import pruned_days

    try:
        days = pruned_days(home)
    except JournalFormatError as exc:
        return [], str(exc)
    rows = [
        {"day": d.day, "first_seq": d.first_seq, "last_seq": d.last_seq, "state": d.state}
        for d in days
    ]
    return rows, None


def _writer_summary(home: Path) -> dict[str, Any] | None:
    """The writer process serving the trail, as it describes itself (None: none runs)."""
    from ..writer.client import probe

    welcome = probe(home)
    if welcome is None:
        return None
    keys = ("pid", "channel", "size", "durability", "accelerator", "shaper")
    return {k: welcome.get(k) for k in keys}


@click.command()
@HOME_OPTION
@JSON_OPTION
def info(home: Path, as_json: bool) -> None:
    """Summarise a trail: origin, size, days, latest checkpoint, key, spill and quarantine."""
    require_trail(home)
    files = journal_files(home)
    vkey = (home / VKEY_FILE).read_text().strip() if (home / VKEY_FILE).exists() else None
    latest: dict[str, Any] | None = None
    if vkey and (home / layout.CHECKPOINT_FILE).exists():
        cp = open_checkpoint(
            (home / layout.CHECKPOINT_FILE).read_text(), [Verifier.from_vkey(vkey)]
        )
        latest = {"origin": cp.origin, "size": cp.size, "root": cp.root.hex()}
    spill_dir = home / layout.SPILL_DIR
    spill = sorted(p.name for p in spill_dir.iterdir()) if spill_dir.is_dir() else []
    lock_pid = None
    lock = home / layout.LOCK_FILE
    if lock.exists():
        raw = lock.read_text().strip()
        lock_pid = int(raw) if raw.isdigit() else None
    pruned, pruned_error = _pruned_summary(home)
    days = [
        {
            "file": f"{layout.JOURNAL_DIR}/{p.name}",
            "bytes": p.stat().st_size,
            "sealed": not p.stat().st_mode & 0o222,
        }
        for p in files
    ]
    summary: dict[str, Any] = {
        "home": str(home),
        "checkpoint": latest,
        "vkey": vkey,
        "days": days,
        "checkpoints": len(list((home / layout.CHECKPOINTS_DIR).iterdir()))
        if (home / layout.CHECKPOINTS_DIR).is_dir()
        else 0,
        "spill_files": spill,
        "quarantined": (home / layout.QUARANTINE_DIR / "quarantine.jsonl").exists(),
        "signing_key_beside_trail": (home / layout.SIGNING_KEY_FILE).exists(),
        "writer_pid": lock_pid,
        "writer": _writer_summary(home),
        # what a writer this installation starts would run (a running one says its own above)
        "accelerator": ACCELERATOR,
        "channel_quarantine": (
            home / layout.QUARANTINE_DIR / layout.CHANNEL_QUARANTINE_FILE
        ).exists(),
        "pruned": pruned,
        "pruned_error": pruned_error,
        "daily_packs": sorted(p.name for p in layout.daily_packs(home).glob("????-??-??")),
        "checked_at": datetime.now(UTC).isoformat(),
    }
    if as_json:
        emit_json(summary)
        return
    out.print(f"[bold]{home}[/]")
    if latest:
        out.print(f"  log        {latest['origin']}")
        out.print(f"  size       {latest['size']} records at the latest checkpoint")
        out.print(f"  root       {latest['root']}")
    out.print(f"  vkey       {vkey}")
    for day in days:
        state = "sealed" if day["sealed"] else "open"
        out.print(f"  {day['file']}  {day['bytes']:>12} bytes  {state}")
    for gone in summary["pruned"]:
        out.print(
            f"  journal/audit-{gone['day']}.jsonl  removed under retention ({gone['state']}), "
            f"seq {gone['first_seq']}-{gone['last_seq']}"
        )
    if pruned_error:
        out.print(f"  [red]{pruned_error}[/]", soft_wrap=True)
    if summary["daily_packs"]:
        packs = summary["daily_packs"]
        out.print(f"  daily packs {len(packs)}: {packs[0]} .. {packs[-1]}")
    writer = summary["writer"]
    if writer is not None:
        out.print(
            f"  writer     process {writer['pid']} on {writer['channel']} "
            f"({writer['durability']}; accelerator: {writer['accelerator']}; "
            f"raw events shaped in {'C' if writer['shaper'] == 'compiled' else 'Python'})"
        )
    else:
        out.print("  writer     none running (tradetrail.open() or `tradetrail serve` starts one)")
        out.print(f"  accelerator {summary['accelerator']}")
    if spill:
        out.print(f"  [yellow]spill files waiting: {', '.join(spill)}[/]")
    if summary["channel_quarantine"]:
        out.print(
            "  [red]the writer quarantined bytes a client sent on its channel: "
            f"{layout.QUARANTINE_DIR}/{layout.CHANNEL_QUARANTINE_FILE}[/]"
        )
    if summary["signing_key_beside_trail"]:
        out.print(
            "  [yellow]the signing key lives beside the trail (signing.key): fine for a demo; in "
            "production keep it elsewhere and set TRADETRAIL_SIGNING_KEY[/]"
        )
