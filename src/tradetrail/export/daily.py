"""The daily pack: everything an examiner needs about one UTC day, checkable offline.

`export_daily(home, "2024-03-04")` writes `<home>/exports/daily/2024-03-04/`:

    events.jsonl          the day's journal lines, byte for byte
    orders.csv ... corrections.csv, alerts.jsonl ... config.diff   derived (tables.py)
    proofs.json           first and last record proven into the checkpoint, the consistency
                          proof from the previous day's checkpoint, and the compact range of
                          the tree before the day (so the root can be recomputed from
                          events.jsonl alone)
    checkpoint            the signed tree head that covers the day (the one signed at its seal)
    README.md             for examiners: the files, and how to check them without tradetrail
    manifest.json         every file with SHA-256, size and rows; the seq range; the tool version
    manifest.sig          manifest.json as a C2SP signed note
    SHA256SUMS            `sha256sum -c SHA256SUMS` checks every file and manifest.json

A pack of a sealed day is a function of the journal alone: making it again gives the same bytes.
Nothing in it says when it was made.

The manifest names the pack's format: packs are made in `tradetrail.daily-pack/3` (FORMAT);
packs of format /1 (no corrections.csv; nav.csv and positions.csv cells neutralised twice) and /2
(times and decimals as recorded, the blotter from the execution's event alone) stay valid
evidence: verify-pack checks them in their format, and export_daily leaves a verified older pack
of the day where it is rather than calling it "something else".
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import multiprocessing
import os
import re
import shutil
import sys
from binascii import hexlify
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any, Final

import orjson

from .. import __version__
from ..core.checkpoint import Checkpoint, open_checkpoint
from ..core.merkle import EMPTY_ROOT, subtree_decomposition
from ..core.note import Signer, Verifier, parse_note, sign_note
from ..errors import ConfigError, NoteError, TradetrailError, TrailCorruptError
from ..store.journal import (
    JOURNAL_DIR,
    day_file_name,
    file_day,
    first_seq,
    fsync_dir,
    journal_files,
    offset_of_seq,
    pruned_days,
    record_seq,
    tail_lines,
    torn_tail,
)
from ..store.keys import DEFAULT_KEY_FILE, VKEY_FILE, load_or_create_signer, read_vkey
from ..store.proofs import consistency_proof_json, inclusion_proof_json
from ..store.tilestore import TileStore
from ..writer.config import resolve as resolve_settings
from .tables import (
    PACK_VERSION,
    PACK_VERSIONS,
    PRETTY,
    SORT,
    VERSION_CSV_COLUMNS,
    DayTables,
    FileInfo,
    check_version,
)

__all__ = [
    "EVENTS_FILE",
    "FORMAT",
    "FORMATS",
    "PackError",
    "PackResult",
    "build_manifest",
    "day_bounds",
    "export_daily",
    "format_name",
    "format_version",
    "parse_date",
    "render_readme",
    "run_passes",
    "sha256sums",
]

FORMAT_PREFIX: Final = "tradetrail.daily-pack/"


def format_name(version: int) -> str:
    """The manifest's `format` of a pack format version: `tradetrail.daily-pack/<version>`."""
    return f"{FORMAT_PREFIX}{check_version(version)}"


FORMAT: Final = format_name(PACK_VERSION)
"""The format of the packs made now. /2 added corrections.csv and neutralises nav.csv and
positions.csv cells once; /3 joins the blotter with orders and instruments, writes CSV times in
microseconds and pads decimals; /1 and /2 packs stay verifiable (rebuilt in their format)."""
FORMATS: Final[dict[str, int]] = {format_name(v): v for v in PACK_VERSIONS}
"""Every pack format verify-pack checks, and its version."""


def format_version(value: Any) -> int | None:
    """The version of a manifest's `format`, or None when it is not a known pack format."""
    return FORMATS.get(value) if isinstance(value, str) else None


EVENTS_FILE: Final = "events.jsonl"
PROOFS_FILE: Final = "proofs.json"
CHECKPOINT_FILE: Final = "checkpoint"
README_FILE: Final = "README.md"
MANIFEST_FILE: Final = "manifest.json"
SIGNATURE_FILE: Final = "manifest.sig"
SUMS_FILE: Final = "SHA256SUMS"
UNLISTED: Final = (MANIFEST_FILE, SIGNATURE_FILE, SUMS_FILE)
"""Files of a pack that the manifest does not list (it cannot list itself or what signs it)."""

_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CONFIG_NEEDLES: Final = (b',"type":"config.snapshot"', b',"type":"config.changed"')
_BLOCK: Final = 1 << 22

CSV_RULE: Final = (
    "A cell starting with = + - @ tab, carriage return or ' gets one ' put in front, unless the "
    "whole cell is a plain number (sign, digits, optional fraction and exponent, e.g. -506.7); "
    "drop the first character of any cell that starts with ' to get the recorded value."
)


class PackError(TradetrailError):
    """A pack cannot be made as asked (an open day without --partial, a different pack in the
    way, a day in the future); nothing was written."""


# ------------------------------------------------------------------------------ the day


def parse_date(text: str) -> str:
    """`YYYY-MM-DD` checked to be a calendar date."""
    if not _DATE.fullmatch(text):
        raise ValueError(f"--date {text!r}: expected YYYY-MM-DD, e.g. 2024-03-04")
    try:
        date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"--date {text!r}: {exc}") from None
    return text


@dataclass(frozen=True)
class DayBounds:
    """Where a UTC day sits in the trail: records [start, end) so far, and whether it is over."""

    date: str
    path: Path | None
    start: int
    end: int
    sealed: bool
    future: bool


def _last_seq(path: Path) -> int | None:
    lines, _ = tail_lines(path, 1)
    return record_seq(lines[0], str(path)) if lines else None


def day_bounds(home: Path, day: str, today: date | None = None) -> DayBounds:
    """The records of `day` and whether it is finished: its file is sealed (read-only), or a
    later day has records, or it has no file and is before today (UTC)."""
    compact = day.replace("-", "")
    today = today or datetime.now(UTC).date()
    files = journal_files(home)
    earlier = [p for p in files if file_day(p) < compact]
    later = [p for p in files if file_day(p) > compact]
    path = home / JOURNAL_DIR / day_file_name(compact)
    start = 0
    for prev in reversed(earlier):
        last = _last_seq(prev)
        if last is not None:
            start = last + 1
            break
    gone = pruned_days(home)  # days removed under retention still hold their seq range
    start = max([start, *(d.last_seq + 1 for d in gone if d.day < compact)])
    future = date.fromisoformat(day) > today
    if path.is_file() and (first := first_seq(path)) is not None:
        last = _last_seq(path)
        end = (last + 1) if last is not None else first
        read_only = not path.stat().st_mode & 0o222
        return DayBounds(day, path, first, end, read_only or bool(later), future)
    later_pruned = [d.first_seq for d in gone if d.day > compact]
    if later or later_pruned:
        first_later = next((s for p in later if (s := first_seq(p)) is not None), None)
        candidates = [*later_pruned, *([first_later] if first_later is not None else [])]
        if candidates:
            start = min(candidates)
    before_today = date.fromisoformat(day) < today
    return DayBounds(day, None, start, start, bool(later or later_pruned) or before_today, future)


def covering_checkpoint(home: Path, size: int) -> tuple[int, str, bool] | None:
    """(size, text, exact) of the stored checkpoint at `size`, else of the smallest larger one;
    None when no checkpoint reaches that far."""
    exact = home / "checkpoints" / str(size)
    if exact.is_file():
        return size, exact.read_text(encoding="utf-8"), True
    best: tuple[int, Path] | None = None
    directory = home / "checkpoints"
    if directory.is_dir():
        for p in directory.iterdir():
            if p.name.isdigit() and int(p.name) >= size and (best is None or int(p.name) < best[0]):
                best = (int(p.name), p)
    latest = home / "checkpoint"
    if latest.is_file():
        lines = latest.read_text(encoding="utf-8").split("\n")
        if len(lines) > 1 and lines[1].isdigit():
            n = int(lines[1])
            if n >= size and (best is None or n < best[0]):
                best = (n, latest)
    if best is None:
        return None
    return best[0], best[1].read_text(encoding="utf-8"), best[0] == size


_HEX64: Final = re.compile(r"[0-9a-f]{64}")


def stored_documents(home: Path) -> Callable[[str], Any]:
    """The loader of snapshot documents from `<home>/snapshots/<first 16 hex>.json`, each
    checked against its hash (tradetrail.compliance.snapshots stores them so)."""

    def load(digest: str) -> Any:
        if not _HEX64.fullmatch(digest):
            return None
        try:
            data = (home / "snapshots" / f"{digest[:16]}.json").read_bytes()
        except OSError:
            return None
        if hashlib.sha256(data).hexdigest() != digest:
            return None
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError:
            return None
        return document if embedded_document_ok(document, digest) else None

    return load


def embedded_document_ok(document: Any, digest: str) -> bool:
    """Whether a document parsed from JSON hashes, in canonical form, to `digest`."""
    try:
        return hashlib.sha256(orjson.dumps(document, option=SORT)).hexdigest() == digest
    except (TypeError, orjson.JSONEncodeError):
        return False


def frontier_hashes(home: Path, size: int) -> list[bytes]:
    """The compact range [0, size): the roots of its perfect subtrees, largest first."""
    store = TileStore(home / "tiles")
    return [store.node(h, i) for h, i in subtree_decomposition(0, size)]


def fold(nodes: Sequence[bytes]) -> bytes:
    """The root of a compact range [0, n) from its subtree roots (largest first)."""
    if not nodes:
        return EMPTY_ROOT
    h = nodes[-1]
    for node in reversed(nodes[:-1]):
        h = hashlib.sha256(b"\x01" + node + h).digest()
    return h


def _config_lines_in(path: Path, limit: int | None = None) -> list[tuple[int, str, bytes]]:
    """(seq, type, line) of the config.snapshot and config.changed records of one day file
    (seq < limit when given), found by a byte search rather than by parsing every line."""
    found: dict[int, tuple[int, str, bytes]] = {}
    with open(path, "rb") as fh:
        for whole, lines in _blocks(fh, None, split=False):
            if not lines:
                break  # a torn last line is not a record
            for needle in _CONFIG_NEEDLES:
                pos = whole.find(needle)
                while pos >= 0:
                    begin = whole.rfind(b"\n", 0, pos) + 1
                    stop = whole.find(b"\n", pos)
                    line = whole[begin:stop]
                    try:
                        rec = orjson.loads(line)
                    except orjson.JSONDecodeError:
                        rec = None  # `tradetrail verify` names it; here it is no configuration
                    kind = rec.get("type") if type(rec) is dict else None
                    if kind in ("config.snapshot", "config.changed"):
                        seq = rec.get("seq")
                        if type(seq) is int and (limit is None or seq < limit):
                            found[seq] = (seq, kind, line)
                    pos = whole.find(needle, stop)
    return [found[seq] for seq in sorted(found)]


def _first_config_kind(path: Path, limit: int) -> str | None:
    """The type of the day's first config.snapshot or config.changed record (seq < limit);
    reads only as far as that record."""
    with open(path, "rb") as fh:
        for whole, lines in _blocks(fh, None, split=False):
            if not lines:
                return None
            starts = [p for p in (whole.find(needle) for needle in _CONFIG_NEEDLES) if p >= 0]
            while starts:
                pos = min(starts)
                begin = whole.rfind(b"\n", 0, pos) + 1
                stop = whole.find(b"\n", pos)
                try:
                    rec = orjson.loads(whole[begin:stop])
                except orjson.JSONDecodeError:
                    rec = None
                if type(rec) is dict and rec.get("type") in ("config.snapshot", "config.changed"):
                    seq = rec.get("seq")
                    if type(seq) is int and seq >= limit:
                        return None
                    return str(rec["type"])
                starts = [p for p in (whole.find(n, stop) for n in _CONFIG_NEEDLES) if p >= 0]
    return None


def prior_config(home: Path, day: str, start: int, end: int) -> list[tuple[int, bytes]]:
    """The journal lines before the day that the configuration in force at its end depends on:
    the newest config.snapshot before the day and every config.changed after it. Empty when the
    day opens its configuration records with a snapshot of its own."""
    compact = day.replace("-", "")
    path = home / JOURNAL_DIR / day_file_name(compact)
    if path.is_file() and _first_config_kind(path, end) == "config.snapshot":
        return []
    collected: list[tuple[int, str, bytes]] = []
    sources = [(file_day(p), p) for p in journal_files(home) if file_day(p) < compact]
    for gone in pruned_days(home):  # removed under retention: its lines live on in its pack
        pack = home / "exports" / "daily" / f"{gone.day[:4]}-{gone.day[4:6]}-{gone.day[6:]}"
        known = any(d == gone.day for d, _ in sources)
        if gone.day < compact and not known and (pack / EVENTS_FILE).is_file():
            sources.append((gone.day, pack / EVENTS_FILE))
    for _, earlier in sorted(sources, reverse=True):
        lines = [item for item in _config_lines_in(earlier) if item[0] < start]
        snapshots = [i for i, (_, kind, _) in enumerate(lines) if kind == "config.snapshot"]
        if snapshots:
            collected[:0] = lines[snapshots[-1] :]
            break
        collected[:0] = lines
    return [(seq, line) for seq, _, line in collected]


_REFERENCE_NEEDLES: Final = (
    b',"type":"order.submitted"',
    b',"type":"order.filled"',
    b',"type":"order.partially_filled"',
    b',"type":"trade.executed"',
    b',"type":"instrument.defined"',
)


def _typed_records(
    path: Path, needles: Sequence[bytes], limit: int | None = None
) -> Iterator[tuple[int, dict[str, Any], bytes]]:
    """(seq, record, line) of the lines of a day file that hold one of `needles` (seq < limit
    when given), in file order, found by a byte search rather than by parsing every line."""
    with open(path, "rb") as fh:
        for whole, lines in _blocks(fh, None, split=False):
            if not lines:
                break  # a torn last line is not a record
            hits: list[int] = []
            for needle in needles:
                pos = whole.find(needle)
                while pos >= 0:
                    hits.append(pos)
                    pos = whole.find(needle, whole.find(b"\n", pos))
            for pos in sorted(hits):
                begin = whole.rfind(b"\n", 0, pos) + 1
                line = whole[begin : whole.find(b"\n", pos)]
                try:
                    rec = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue  # `tradetrail verify` names it
                seq = rec.get("seq") if type(rec) is dict else None
                if type(seq) is int and (limit is None or seq < limit):
                    yield seq, rec, line


def prior_references(home: Path, day: str, start: int, end: int) -> list[tuple[int, bytes]]:
    """The journal lines before the day that its blotter joins (format 3): the order.submitted
    of each order executed on the day but submitted before it, and the newest instrument.defined
    before the day of each instrument executed on the day that the day does not define before
    its first execution. Earlier days are searched newest first until all are found (a pruned
    day through its pack); what the trail does not hold stays unfound."""
    compact = day.replace("-", "")
    path = home / JOURNAL_DIR / day_file_name(compact)
    orders: set[str] = set()
    submitted: set[str] = set()
    symbols: set[str] = set()
    defined: set[str] = set()
    if path.is_file():
        for _, rec, _ in _typed_records(path, _REFERENCE_NEEDLES, end):
            kind, order_id, symbol = rec.get("type"), rec.get("order_id"), rec.get("symbol")
            if kind == "order.submitted":
                if type(order_id) is str:
                    submitted.add(order_id)
            elif kind == "instrument.defined":
                if type(symbol) is str:
                    defined.add(symbol)
            elif kind in ("order.filled", "order.partially_filled", "trade.executed"):
                if type(order_id) is str and order_id not in submitted:
                    orders.add(order_id)
                if type(symbol) is str and symbol not in defined:
                    symbols.add(symbol)
    if not orders and not symbols:
        return []
    sources = [(file_day(p), p) for p in journal_files(home) if file_day(p) < compact]
    for gone in pruned_days(home):  # removed under retention: its lines live on in its pack
        pack = home / "exports" / "daily" / f"{gone.day[:4]}-{gone.day[4:6]}-{gone.day[6:]}"
        known = any(d == gone.day for d, _ in sources)
        if gone.day < compact and not known and (pack / EVENTS_FILE).is_file():
            sources.append((gone.day, pack / EVENTS_FILE))
    found: dict[int, bytes] = {}
    sources.sort(reverse=True)
    for kind, key_name, wanted in (
        ("order.submitted", "order_id", orders),
        ("instrument.defined", "symbol", symbols),  # with the symbols of the orders found
    ):
        needle = f',"type":"{kind}"'.encode()
        for _, earlier in sources:
            if not wanted:
                break
            newest: dict[str, tuple[int, dict[str, Any], bytes]] = {}
            for seq, rec, line in _typed_records(earlier, (needle,), start):
                key = rec.get(key_name)
                if type(key) is str and key in wanted and rec.get("type") == kind:
                    newest[key] = (seq, rec, line)  # the last one of the file wins
            for key, (seq, rec, line) in newest.items():
                found[seq] = line
                wanted.discard(key)
                symbol = rec.get("symbol")
                if kind == "order.submitted" and type(symbol) is str and symbol not in defined:
                    symbols.add(symbol)
    return sorted(found.items())


# ------------------------------------------------------------------------------ one pass


@dataclass
class ScanResult:
    """What the tree pass over a day's lines found."""

    count: int = 0
    first_line: bytes | None = None
    last_line: bytes | None = None
    first_seq: int | None = None
    last_seq: int | None = None
    root: bytes = EMPTY_ROOT
    size: int = 0
    bytes: int = 0
    sha256: str = ""
    faults: list[tuple[str, int | None]] = field(default_factory=list)
    chain_breaks: list[int] = field(default_factory=list)
    file_hashes: dict[str, tuple[str, int]] = field(default_factory=dict)


FaultFn = Callable[[str, int | None], None]
"""fault(message, line number): the exporter raises, verify-pack records and goes on."""


def _blocks(
    fh: IO[bytes], limit: int | None, *, split: bool = True
) -> Iterator[tuple[bytes, list[bytes]]]:
    """(bytes, lines) of consecutive runs of complete lines, reading at most `limit` bytes
    (lines [b""] when not `split`); a torn tail (bytes after the last newline) comes last, as
    (bytes, [])."""
    rest = b""
    remaining = limit
    while remaining is None or remaining > 0:
        chunk = fh.read(_BLOCK if remaining is None else min(_BLOCK, remaining))
        if not chunk:
            break
        if remaining is not None:
            remaining -= len(chunk)
        block = rest + chunk if rest else chunk
        cut = block.rfind(b"\n") + 1
        rest = block[cut:]
        if cut:
            whole = block[:cut]
            if split:
                lines = whole.split(b"\n")
                lines.pop()
                yield whole, lines
            else:
                yield whole, [b""]
    if rest:
        yield rest, []


def _slow_checks(
    line: bytes,
    lineno: int,
    seq_wanted: int,
    prev: bytes | None,
    day: str,
    result: ScanResult,
) -> None:
    """Parse a line whose bytes did not show the expected seq, prev and day at a glance, and
    say precisely what is wrong with it (perhaps nothing: a line need not be canonical)."""
    try:
        rec = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        result.faults.append((f"not valid JSON: {exc}", lineno))
        return
    if type(rec) is not dict:
        result.faults.append(("not a JSON object", lineno))
        return
    seq = rec.get("seq")
    if seq != seq_wanted:
        result.faults.append((f"seq {seq!r} where {seq_wanted} was expected", lineno))
    if prev is not None and rec.get("prev") != prev.decode():
        result.chain_breaks.append(lineno)
    ts = rec.get("ts")
    if type(ts) is not str or not ts.startswith(day):
        result.faults.append((f"ts {ts!r} is not on {day}", lineno))


def tree_pass(
    path: str,
    *,
    limit: int | None,
    start: int,
    frontier: Sequence[bytes],
    day: str,
    out: str | None = None,
    hash_files: Sequence[str] = (),
) -> ScanResult:
    """The tree pass over a day's lines (up to `limit` bytes): each line's seq, prev link and
    day; the Merkle tree from the compact range `frontier` = [0, start) extended by every
    line; the SHA-256 and size of the bytes (copied to `out` when given); then the SHA-256
    and size of each of `hash_files`. Faults are collected in the result. A module-level
    function: it may run in another process."""
    sha256 = hashlib.sha256
    result = ScanResult()
    nodes = list(frontier)
    n = start
    prev: bytes | None = None
    day_pattern = f',"ts":"{day}T'.encode()
    digest = sha256()
    lineno = 0
    with contextlib.ExitStack() as stack:
        fh = stack.enter_context(open(path, "rb"))
        sink = stack.enter_context(open(out, "wb")) if out is not None else None
        for whole, lines in _blocks(fh, limit):
            if not lines:  # a torn tail
                result.faults.append(("torn last line: no newline at its end", lineno + 1))
                break
            for line in lines:
                lineno += 1
                p = line.rfind(b',"prev":"')
                if (
                    p < 0
                    or (prev is not None and line[p + 9 : p + 73] != prev)
                    or line.find(b',"seq":%d,' % n, p) < 0
                    or line.find(day_pattern, p) < 0
                ):
                    _slow_checks(line, lineno, n, prev, day, result)
                leaf = sha256(b"\x00" + line).digest()
                prev = hexlify(leaf)
                h, k = leaf, n
                while k & 1:
                    h = sha256(b"\x01" + nodes.pop() + h).digest()
                    k >>= 1
                nodes.append(h)
                n += 1
            if result.first_line is None:
                result.first_line = lines[0]
            result.last_line = lines[-1]
            digest.update(whole)
            if sink is not None:
                sink.write(whole)
            result.bytes += len(whole)
    result.count = n - start
    result.size = n
    result.root = fold(nodes)
    result.sha256 = digest.hexdigest()
    if result.count:
        result.first_seq, result.last_seq = start, n - 1
    for name in hash_files:
        with contextlib.suppress(OSError):
            result.file_hashes[name] = file_sha256(name)
    return result


def file_sha256(path: str | Path) -> tuple[str, int]:
    """(hex SHA-256, size) of a file, read in blocks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_BLOCK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def tables_pass(
    path: Path,
    *,
    limit: int | None,
    tables: DayTables,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Feed every complete line (up to `limit` bytes) to the tables."""
    done = 0
    with open(path, "rb") as fh:
        for whole, lines in _blocks(fh, limit):
            tables.add_lines(lines)
            done += len(whole)
            if progress is not None:
                progress(done)


PARALLEL_BYTES: Final = 64 << 20
"""From this size on the two passes run in two processes (when there are two CPUs)."""


def run_passes(
    path: Path,
    *,
    limit: int | None,
    start: int,
    frontier: Sequence[bytes],
    day: str,
    tables: DayTables,
    out: Path | None = None,
    progress: Callable[[int], None] | None = None,
    parallel: bool | None = None,
    hash_files: Sequence[str] = (),
) -> ScanResult:
    """The tree pass (see `tree_pass`) and the tables pass over one file, side by side in two
    processes for a large day, else one after the other."""
    size = limit if limit is not None else path.stat().st_size
    if parallel is None:
        parallel = size >= PARALLEL_BYTES and (os.cpu_count() or 1) > 1
    args: dict[str, Any] = {
        "limit": limit,
        "start": start,
        "frontier": list(frontier),
        "day": day,
        "out": str(out) if out is not None else None,
        "hash_files": list(hash_files),
    }
    pool: ProcessPoolExecutor | None = None
    future: Future[ScanResult] | None = None
    if parallel and _can_spawn():
        try:
            pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn")
            )
            future = pool.submit(tree_pass, str(path), **args)
        except (OSError, RuntimeError):
            pool = future = None
    collecting = gc.isenabled()
    if future is not None:
        gc.disable()  # the tables keep few long-lived objects, and a whole day takes seconds
    try:
        tables_pass(path, limit=limit, tables=tables, progress=progress)
    except BaseException:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        if collecting:
            gc.enable()
    if pool is not None and future is not None:
        try:
            return future.result()
        except BrokenProcessPool:
            pass  # the worker could not start or died: do its part here
        finally:
            pool.shutdown()
    return tree_pass(str(path), **args)


def _can_spawn() -> bool:
    """Whether a spawned process can start: it re-imports the main module from its file, which
    a program read from stdin does not have."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return path is None or os.path.isfile(path)


# ------------------------------------------------------------------------------ manifest, README


def build_manifest(
    *,
    date: str,
    origin: str,
    partial: bool,
    at_seal: bool,
    scan: ScanResult,
    checkpoint: Checkpoint,
    previous: Checkpoint | None,
    tables: DayTables,
    files: Iterable[FileInfo],
    tool_version: str = __version__,
) -> dict[str, Any]:
    """The manifest of a pack (without its README entry when `files` lacks it), in the format
    that `tables` were written in."""
    notes = []
    if partial:
        notes.append(
            f"partial: {date} was still open when this pack was made; it covers the day's "
            f"records up to the checkpoint of size {checkpoint.size} and will differ from the "
            "pack made once the day is sealed"
        )
    if not scan.count:
        notes.append(f"no records: the trail holds no event on {date}")
    if not tables.trading:
        notes.append(f"no trading: no order, fill or trade event was recorded on {date}")
    if not at_seal and not partial:
        notes.append(
            f"the checkpoint (size {checkpoint.size}) was signed after the end of the day (no "
            "checkpoint was stored at the seal); proofs.json `extension` links the day to it"
        )
    return {
        "format": format_name(tables.version),
        "tool": {"name": "tradetrail", "version": tool_version},
        "origin": origin,
        "date": date,
        "status": "partial" if partial else "sealed",
        "partial": partial,
        "trading": tables.trading,
        "notes": notes,
        "records": scan.count,
        "seq": {"first": scan.first_seq, "last": scan.last_seq} if scan.count else None,
        "checkpoint": {
            "file": CHECKPOINT_FILE,
            "size": checkpoint.size,
            "root": checkpoint.root.hex(),
            "at_seal": at_seal,
        },
        "previous_checkpoint": (
            {"size": previous.size, "root": previous.root.hex()} if previous is not None else None
        ),
        "summary": {
            "orders": tables.orders,
            "executions": tables.executions,
            "events_by_type": dict(sorted(tables.counts.items())),
        },
        "csv": {"format": "RFC 4180, UTF-8 without BOM, CRLF", "neutralised": CSV_RULE},
        "files": [info.to_json() for info in sorted(files, key=lambda f: f.name)],
    }


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """Canonical JSON (sorted keys, no spaces) and a newline: the exact text that is signed."""
    return orjson.dumps(manifest, option=SORT | orjson.OPT_APPEND_NEWLINE)


def sha256sums(manifest: dict[str, Any], manifest_data: bytes) -> bytes:
    """`sha256sum -c` input for every listed file and manifest.json."""
    rows = [(f["sha256"], f["name"]) for f in manifest.get("files", []) if isinstance(f, dict)]
    rows.append((hashlib.sha256(manifest_data).hexdigest(), MANIFEST_FILE))
    return "".join(f"{sha}  {name}\n" for sha, name in sorted(rows, key=lambda r: r[1])).encode()


_FILE_ROLES: Final[tuple[tuple[str, str], ...]] = (
    (EVENTS_FILE, "the day's journal lines, byte for byte (one JSON record per line)"),
    ("orders.csv", "every order event (submitted, accepted, rejected, replaced, cancelled, ...)"),
    ("fills.csv", "every execution report (order.filled, order.partially_filled)"),
    (
        "blotter.csv",
        "the trade blotter: trade date and time, symbol, side, quantity, price, gross amount "
        "(quantity x price, exact), fees, account, venue or counterparty, order and execution "
        "ids; one row per execution",
    ),
    ("positions.csv", "end-of-day positions: the last snapshot of each account and symbol"),
    ("nav.csv", "every NAV computed during the day"),
    (
        "corrections.csv",
        "every compliance.record_corrected record of the day, one row per corrected field: "
        "earlier rows are never edited; apply a correction on top of the record it names "
        "(corrects_seq / corrects_event_id)",
    ),
    ("alerts.jsonl", "the day's alert.sent records (journal lines)"),
    ("risk_events.jsonl", "the day's risk.* records (journal lines)"),
    ("access.jsonl", "the day's auth.* records (journal lines)"),
    ("config_snapshot.json", "the configuration in force at the end of the day, and its source"),
    ("config.diff", "the configuration changes of the day, as unified diffs"),
    (
        PROOFS_FILE,
        "Merkle proofs: first and last record in the checkpoint, consistency with the previous "
        "day's checkpoint, and the tree before the day (`frontier`)",
    ),
    (CHECKPOINT_FILE, "the signed tree head (C2SP checkpoint) that covers the day"),
    (README_FILE, "this file"),
    (MANIFEST_FILE, "every file with SHA-256, size and rows; seq range; tool version"),
    (SIGNATURE_FILE, "manifest.json as a C2SP signed note (Ed25519); more signatures may follow"),
    (SUMS_FILE, "SHA-256 of every file and of manifest.json, for `sha256sum -c`"),
)
_FORMAT_2_FILES: Final = frozenset({"corrections.csv"})


def file_roles(version: int = PACK_VERSION) -> tuple[tuple[str, str], ...]:
    """The README's table of files of a pack format, in order: (name, what it is)."""
    if check_version(version) >= 2:
        return _FILE_ROLES
    return tuple(item for item in _FILE_ROLES if item[0] not in _FORMAT_2_FILES)


CHECK_SCRIPT: Final = """\
# check_pack.py: python3 check_pack.py PACK_DIR VKEY  (VKEY: the line of trail.vkey, or its file)
import base64, hashlib, json, pathlib, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

pack, vkey = pathlib.Path(sys.argv[1]), sys.argv[2].strip()
if pathlib.Path(vkey).is_file():
    vkey = pathlib.Path(vkey).read_text().strip()
name, key_id, key64 = vkey.split("+", 2)
raw = base64.b64decode(key64)
assert raw[0] == 1, "not an Ed25519 verifier key"
public = Ed25519PublicKey.from_public_bytes(raw[1:])
kid = hashlib.sha256(name.encode() + b"\\n\\x01" + raw[1:]).digest()[:4]
assert kid.hex() == key_id.lower(), "the key id does not match the key"


def read(file):
    return (pack / file).read_bytes()


def opened(note, label):  # the text of a C2SP signed note, once the key's signature verifies
    text, _, signatures = note.rpartition("\\n\\n")
    text += "\\n"
    for line in signatures.splitlines():
        signer, sig = line.removeprefix("\\u2014 ").split(" ")
        sig = base64.b64decode(sig)
        if signer == name and sig[:4] == kid:
            public.verify(sig[4:], text.encode())  # raises InvalidSignature if forged
            return text
    raise SystemExit(f"{label}: no signature by {name}")


def node(left, right):
    return hashlib.sha256(b"\\x01" + left + right).digest()


def fold(nodes):  # root of a compact range [0, n): its subtree roots, largest first
    h = nodes[-1] if nodes else hashlib.sha256(b"").digest()
    for left in reversed(nodes[:-1]):
        h = node(left, h)
    return h


# 1. the manifest is signed, and lists every file with its size and SHA-256
signed = opened(read("manifest.sig").decode(), "manifest.sig")
assert signed.encode() == read("manifest.json"), "manifest.json is not the signed text"
manifest = json.loads(signed)
for f in manifest["files"]:
    data = read(f["name"])
    assert len(data) == f["size"], f["name"] + ": size differs"
    assert hashlib.sha256(data).hexdigest() == f["sha256"], f["name"] + ": sha256 differs"

# 2. the checkpoint is signed, and is the one the manifest names
origin, size, root = opened(read("checkpoint").decode(), "checkpoint").split("\\n")[:3]
size, root = int(size), base64.b64decode(root)
assert size == manifest["checkpoint"]["size"] and root.hex() == manifest["checkpoint"]["root"]

# 3. events.jsonl: the seq and prev chain; and the tree before the day (proofs.json frontier)
#    extended by every line gives the checkpoint's root: nothing left out, added or changed
proofs = json.loads(read("proofs.json"))
nodes = [bytes.fromhex(h) for h in proofs["frontier"]["hashes"]]
n = proofs["frontier"]["size"]
before, prev = fold(nodes), None
lines = read("events.jsonl").split(b"\\n")[:-1]
for number, line in enumerate(lines, 1):
    record = json.loads(line)
    assert record["seq"] == n and prev in (None, record["prev"]), f"events.jsonl line {number}"
    leaf = hashlib.sha256(b"\\x00" + line).digest()
    prev, h, k = leaf.hex(), leaf, n
    while k & 1:
        h, k = node(nodes.pop(), h), k >> 1
    nodes.append(h)
    n += 1
if proofs.get("extension"):  # checkpoint signed after the day: the RFC 9162 consistency proof
    ext = proofs["extension"]  # proofs.json "extension" links this root to it (verify-pack)
    assert n == ext["old_size"] and fold(nodes).hex() == ext["old_root"], "events.jsonl"
else:
    assert n == size and fold(nodes) == root, "events.jsonl does not give the checkpoint root"

# 4. the previous day's signed checkpoint is the tree before the day: the packs chain
old = proofs.get("consistency")
if old and old.get("old_checkpoint") and old["old_size"] == proofs["frontier"]["size"]:
    _, old_size, old_root = opened(old["old_checkpoint"], "previous checkpoint").split("\\n")[:3]
    assert int(old_size) == old["old_size"] and base64.b64decode(old_root) == before, "chain"

# 5. the inclusion proofs of the first and last record (RFC 9162, section 2.1.3.2)
for which, line in (("first", lines[:1]), ("last", lines[-1:])):
    p = proofs.get(which)
    if p is None:
        continue
    assert [p["record"].encode()] == line, which + " record: not the line of events.jsonl"
    fn, sn = p["leaf_index"], p["tree_size"] - 1
    r = hashlib.sha256(b"\\x00" + p["record"].encode()).digest()
    for h in map(bytes.fromhex, p["hashes"]):
        if fn & 1 or fn == sn:
            r = node(h, r)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node(r, h)
        fn, sn = fn >> 1, sn >> 1
    assert sn == 0 and r == root and p["tree_size"] == size, which + " record: proof fails"
print(f"OK: {manifest['date']}: {manifest['records']} records, {len(manifest['files'])} files")
"""


def _csv_text_v2() -> list[str]:
    """How the CSV files of formats 1 and 2 are written (their README, unchanged)."""
    return [
        "CSV files follow RFC 4180 (CRLF line ends, quoted only when needed), UTF-8 without a "
        "BOM, with a header row and a fixed column order. Amounts are exact decimals as "
        "recorded (the blotter's gross amount is the exact product of quantity and price) and "
        "times are RFC 3339 UTC as recorded. Spreadsheet safety: "
        + CSV_RULE[0].lower()
        + CSV_RULE[1:],
        "",
        "In the blotter, `trade_time` is the execution's time at its source (the event's "
        "`event_ts`) when recorded, else the time of the record (`ts`, also in "
        "`recorded_at`); `trade_date` is the event's `trade_date` when given, else the date of "
        "`trade_time`. An execution reported twice (a fill and a `trade.executed` with the "
        "same order and execution id) is one row.",
    ]


def _csv_text_v3() -> list[str]:
    """How the CSV files of format 3 are written."""
    return [
        "CSV files follow RFC 4180 (CRLF line ends, quoted only when needed), UTF-8 without a "
        "BOM, with a header row and a fixed column order. Spreadsheet safety: "
        + CSV_RULE[0].lower()
        + CSV_RULE[1:],
        "",
        "- Times: every time column holds RFC 3339 times with exactly six fraction digits "
        "(microseconds, e.g. `2026-12-05T08:00:49.652745Z`), which Excel and LibreOffice "
        "parse. A recorded time with more digits is truncated to microseconds (never rounded, "
        "so rows keep their order), one with fewer is padded with zeros; the zone is as "
        "recorded. The exact recorded times (nanoseconds where given) are in events.jsonl.",
        "- Decimals: never rounded. Each decimal column is padded with trailing zeros to one "
        "scale per instrument (`symbol`; in nav.csv per `currency`): the most fraction digits "
        "any value of that instrument has in that column on this day (`724.0000`, `-67.5000`, "
        "`100302.2360`). The value is unchanged; a number in exponent form is left as "
        "recorded. The blotter's gross amount is the exact product of quantity and price.",
        "",
        "In the blotter, `trade_time` is the execution's time at its source (the event's "
        "`event_ts`) when recorded, else the time of the record (`ts`, also in "
        "`recorded_at`); `trade_date` is the event's `trade_date` when given, else the date of "
        "`trade_time`. An execution reported twice (a fill and a `trade.executed` with the "
        "same order and execution id) is one row. Each column comes from the execution's event "
        "when it holds it, else from its order (the `order.submitted` of its `order_id`: "
        "`client_order_id`, `exchange_order_id`, `account`, `strategy`, `symbol`, `venue`, "
        "`currency`), else from the instrument's newest `instrument.defined` (`currency`). An "
        "order or instrument recorded before this day is in proofs.json `reference_records`, "
        "proven into the checkpoint. `settlement_date` is the event's when it gives one, else "
        "the trade date plus the instrument's settlement cycle (`settlement_days` on its "
        "`settlement_calendar`, less its `holidays`). A value that no event gives stays empty: "
        "`counterparty` when the fill does not name one; `currency` when neither the order nor "
        "the instrument is on the trail; `settlement_date` when the instrument records no "
        "settlement cycle; `client_order_id`, `exchange_order_id` and `liquidity` when the "
        "firm or venue gave none; `fees` and `fee_currency` when no fee was reported. See "
        "docs/BLOTTER.md of tradetrail for each column's source and the rule that asks for it.",
    ]


def render_readme(manifest: dict[str, Any]) -> bytes:
    """The pack's README.md, from its manifest alone (so verify-pack can rebuild it), in the
    format the manifest names (the current one when it names none that is known)."""
    version = format_version(manifest.get("format")) or PACK_VERSION
    day = manifest.get("date")
    cp = manifest.get("checkpoint") or {}
    seq = manifest.get("seq")
    rows = {f.get("name"): f.get("rows") for f in manifest.get("files", []) if isinstance(f, dict)}
    summary = manifest.get("summary") or {}
    lines = [
        f"# Daily pack {day}",
        "",
        f"The audit trail `{manifest.get('origin')}` for the UTC day {day}, made by tradetrail "
        f"{(manifest.get('tool') or {}).get('version')} (format `{manifest.get('format')}`).",
        "",
    ]
    if manifest.get("partial"):
        lines += [
            "**Partial pack.** The day was still open when this pack was made: it covers the "
            f"day's records up to the checkpoint of size {cp.get('size')} only.",
            "",
        ]
    if seq:
        lines.append(
            f"- Records: {manifest.get('records')} (seq {seq.get('first')} to {seq.get('last')})."
        )
    else:
        lines.append("- Records: none. The trail holds no event on this day.")
    if manifest.get("trading"):
        lines.append(
            f"- Trading: {summary.get('orders')} order(s) submitted, "
            f"{summary.get('executions')} execution(s)."
        )
    else:
        lines.append("- Trading: none. No order, fill or trade event was recorded on this day.")
    lines.append(
        f"- Checkpoint: tree size {cp.get('size')}, root `{cp.get('root')}`"
        + (", signed when the day was sealed." if cp.get("at_seal") else ".")
    )
    previous = manifest.get("previous_checkpoint")
    if previous:
        lines.append(
            f"- Previous day's checkpoint: size {previous.get('size')}, root "
            f"`{previous.get('root')}`; proofs.json proves this tree extends it."
        )
    for note in manifest.get("notes") or []:
        lines.append(f"- Note: {note}.")
    lines += ["", "## Files", "", "| file | rows | what it is |", "|---|---|---|"]
    for name, role in file_roles(version):
        count = rows.get(name)
        lines.append(f"| `{name}` | {'' if count is None else count} | {role} |")
    lines += ["", *(_csv_text_v3() if version >= 3 else _csv_text_v2()), ""]
    lines += [
        "Every row of a derived file comes from the events in events.jsonl; "
        "`tradetrail verify-pack` rebuilds each one from events.jsonl and compares them. "
        "Columns, in order (`other`: the event's remaining data fields as JSON):",
        "",
        *[
            f"- `{name}`: {', '.join(columns)}"
            for name, columns in VERSION_CSV_COLUMNS[version].items()
        ],
        "",
        "## Checking this pack without tradetrail",
        "",
        "Get the verifier key of the trail (the line of `trail.vkey`, `<name>+<key id>+<key>`) "
        "from the firm through a channel other than this pack. Then:",
        "",
        "1. File integrity, with coreutils: `sha256sum -c SHA256SUMS` (every file and "
        "manifest.json).",
        "2. Signatures, chain and proofs, with Python 3 and the `cryptography` package only: "
        "save the script below as `check_pack.py` and run `python3 check_pack.py . "
        "'<verifier key>'` in this directory. It checks the Ed25519 signatures of manifest.sig "
        "(over manifest.json) and of the checkpoint, every file's size and SHA-256 against the "
        "manifest, the seq and prev chain of events.jsonl, that the tree before the day "
        "(proofs.json `frontier`) extended by the leaf hash of every line of events.jsonl "
        "(SHA-256 of 0x00 and the line) gives the checkpoint's root, that the tree before the "
        "day is the previous day's signed checkpoint, and the inclusion proofs of the first "
        "and last record.",
        "",
        "```python",
        CHECK_SCRIPT.rstrip("\n"),
        "```",
        "",
        "Signatures are C2SP signed notes: the text, a blank line, then lines "
        "`— <key name> <base64(4-byte key id, 64-byte Ed25519 signature)>`; signatures by other "
        "keys (an attestation, say) may follow and are ignored unless you trust those keys. "
        "Formats: RFC 6962/9162 Merkle trees, C2SP tlog-checkpoint and signed-note.",
        "",
    ]
    return "\n".join(lines).encode("utf-8")


# ------------------------------------------------------------------------------ writing


@dataclass
class PackResult:
    """What export_daily made (or found already made)."""

    path: Path
    date: str
    partial: bool
    records: int
    first_seq: int | None
    last_seq: int | None
    checkpoint_size: int
    trading: bool
    created: bool
    files: list[FileInfo]
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "date": self.date,
            "partial": self.partial,
            "records": self.records,
            "seq": {"first": self.first_seq, "last": self.last_seq} if self.records else None,
            "checkpoint_size": self.checkpoint_size,
            "trading": self.trading,
            "created": self.created,
            "files": [f.to_json() for f in self.files],
            "warnings": self.warnings,
        }


def resolve_signer(home: Path, spec: str | None, origin: str) -> Signer:
    """--signing-key, else TRADETRAIL_SIGNING_KEY, else <home>/signing.key; never creates one."""
    spec = spec or resolve_settings(home).signing_key
    if not spec and not (home / DEFAULT_KEY_FILE).is_file():
        raise ConfigError(
            "no signing key for the manifest: pass --signing-key, set TRADETRAIL_SIGNING_KEY, "
            f"or keep the trail's key in {home / DEFAULT_KEY_FILE}"
        )
    return load_or_create_signer(spec, home, origin)


def _write(directory: Path, name: str, data: bytes, rows: int | None = None) -> FileInfo:
    (directory / name).write_bytes(data)
    return FileInfo(name, hashlib.sha256(data).hexdigest(), len(data), rows)


def _fsync_tree(directory: Path) -> None:
    for path in directory.iterdir():
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    fsync_dir(directory)


def _same_pack(existing: Path, new: Path) -> bool:
    """Whether `existing` holds the pack in `new`: the same files and bytes, except that its
    manifest.sig may carry more signatures (an attestation) over the same manifest.json."""
    names = {p.name for p in existing.iterdir()}
    if names != {p.name for p in new.iterdir()}:
        return False
    for name in names:
        if name == SIGNATURE_FILE:
            continue
        if (existing / name).read_bytes() != (new / name).read_bytes():
            return False
    try:
        note = parse_note((existing / SIGNATURE_FILE).read_text(encoding="utf-8"))
    except (NoteError, UnicodeDecodeError):
        return False
    return note.text.encode("utf-8") == (new / MANIFEST_FILE).read_bytes()


def _is_partial_pack(path: Path) -> bool:
    try:
        return orjson.loads((path / MANIFEST_FILE).read_bytes()).get("partial") is True
    except (OSError, orjson.JSONDecodeError, AttributeError):
        return False


def _older_pack(existing: Path, new: Path, vkeys: Sequence[Verifier]) -> dict[str, Any] | None:
    """The manifest of `existing` when it is the pack of the same day and records as `new` in
    an older pack format, and it verifies (verify-pack, with the keys that may sign packs);
    None when it is no such pack. PackError when it is one that does not verify."""
    try:
        manifest = orjson.loads((existing / MANIFEST_FILE).read_bytes())
        made = orjson.loads((new / MANIFEST_FILE).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        return None
    version = format_version(manifest.get("format"))
    if version is None or version >= PACK_VERSION:
        return None

    def events(m: dict[str, Any]) -> Any:
        found = [f for f in m["files"] if isinstance(f, dict) and f.get("name") == EVENTS_FILE]
        return found[0].get("sha256") if found else None

    if (
        manifest.get("date") != made["date"]
        or manifest.get("partial") != made["partial"]
        or events(manifest) != events(made)
    ):
        return None
    from ..verify.pack import verify_pack  # imports this module

    report = verify_pack(existing, vkeys, max_faults=3)
    if not report.ok:
        faults = "; ".join(str(f) for f in report.faults)
        raise PackError(
            f"{existing} holds a pack of {made['date']} in format {manifest['format']} that does "
            f"not verify ({faults}); not overwriting it (run `tradetrail verify-pack`, move it "
            "away, or choose another --out)"
        )
    return manifest


def _install(
    tmp: Path, target: Path, replace_partial: bool, vkeys: Sequence[Verifier]
) -> tuple[bool, dict[str, Any] | None]:
    """Move the finished pack into place: (created, None), created False when an identical
    pack is already there; (False, its manifest) when a verified pack of the same day in an
    older format is there, which is left as it is (it may be the only copy of a pruned day,
    attested, or in an exam package)."""
    if target.exists() and target.is_dir() and not any(target.iterdir()):
        target.rmdir()
    if not target.exists():
        os.rename(tmp, target)
        fsync_dir(target.parent)
        return True, None
    if target.is_dir() and _same_pack(target, tmp):
        shutil.rmtree(tmp)
        return False, None
    if replace_partial and target.is_dir() and _is_partial_pack(target):
        old = target.with_name(f".{target.name}.{os.getpid()}.old")
        os.rename(target, old)
        os.rename(tmp, target)
        fsync_dir(target.parent)
        shutil.rmtree(old)
        return True, None
    older = _older_pack(target, tmp, vkeys) if target.is_dir() else None
    shutil.rmtree(tmp)
    if older is not None:
        return False, older
    raise PackError(
        f"{target} already exists and holds something else than this pack; not overwriting it "
        "(move it away, or choose another --out)"
    )


def first_record_day(home: Path) -> str | None:
    """The UTC day (YYYY-MM-DD) of the trail's first record, pruned days included; None when
    the trail has no record yet."""
    days = [d.day for d in pruned_days(home)]
    days += next(([file_day(p)] for p in journal_files(home) if first_seq(p) is not None), [])
    if not days:
        return None
    first = min(days)
    return f"{first[:4]}-{first[4:6]}-{first[6:]}"


def check_not_before_trail(home: Path, day: str) -> None:
    """A day before the trail's first record has no pack of its own: a 'no trading' pack of it
    would claim a checkpoint signed at a seal that never happened."""
    first = first_record_day(home)
    if first is None:
        raise PackError(f"{home} has no records yet: there is no day to pack")
    if day < first:
        raise PackError(
            f"{day} is before the trail's first record (its first day is {first}); "
            "there is nothing to pack"
        )


def export_daily(
    home: Path | str,
    day: str,
    *,
    out: Path | str | None = None,
    partial: bool = False,
    signing_key: str | None = None,
    today: date | None = None,
    progress: Callable[[int], None] | None = None,
    before_trail: bool = False,
) -> PackResult:
    """Write the daily pack of UTC day `day` (YYYY-MM-DD); see the module docstring.

    A sealed day gets a pack covered by the checkpoint signed at its seal: byte-identical
    whenever it is made. An open day is refused (PackError) unless `partial`, which packs the
    day's records up to the newest checkpoint and says so. A day before the trail's first
    record is refused unless `before_trail` (an exam range that starts before the trail, whose
    empty packs chain to the first). `today` (UTC) is for tests."""
    home = Path(home)
    day = parse_date(day)
    if not (home / JOURNAL_DIR).is_dir():
        raise ConfigError(f"{home} is not a trail (no journal/ directory)")
    if not before_trail:
        check_not_before_trail(home, day)
    vkey = read_vkey(home / VKEY_FILE)
    compact = day.replace("-", "")
    if not (home / JOURNAL_DIR / day_file_name(compact)).exists() and any(
        gone.day == compact for gone in pruned_days(home)
    ):  # a day whose removal is only intended (a crashed apply) is still there to pack
        raise PackError(
            f"{day} was removed under the retention policy (pruned.json); its pack, made before "
            f"the removal, is the record of that day (exports/daily/{day})"
        )
    bounds = day_bounds(home, day, today)
    if bounds.future:
        raise PackError(f"{day} has not begun yet (UTC); there is nothing to pack")
    if bounds.sealed:
        partial = False
        covering = covering_checkpoint(home, bounds.end)
        if covering is None:
            raise PackError(
                f"no signed checkpoint covers {day} (records up to seq {bounds.end - 1}) yet"
            )
        _, cp_text, at_seal = covering
    elif not partial:
        raise PackError(
            f"{day} is still open (its journal file is not sealed): a pack covers a finished "
            "UTC day; pass --partial for a pack of the day so far, marked partial"
        )
    else:
        cp_path = home / "checkpoint"
        if not cp_path.is_file():
            raise PackError(f"{home} has no signed checkpoint yet")
        cp_text = cp_path.read_text(encoding="utf-8")
        at_seal = False
    try:
        checkpoint = open_checkpoint(cp_text, [vkey])
    except (NoteError, ValueError) as exc:
        raise TrailCorruptError(f"the checkpoint covering {day} does not verify: {exc}") from None
    size = checkpoint.size
    if size < bounds.start:
        raise PackError(
            f"no signed checkpoint covers any record of {day} yet (the newest is at size "
            f"{size}); sign one (tradetrail checkpoint) and try again"
        )
    end = min(bounds.end, size) if partial else bounds.end
    previous: Checkpoint | None = None
    previous_size = 0
    if bounds.start > 0:
        prev = covering_checkpoint(home, bounds.start)
        if prev is not None and prev[0] <= size:
            previous = open_checkpoint(prev[1], [vkey])
            previous_size = previous.size
    origin = checkpoint.origin
    signer = resolve_signer(home, signing_key, origin)
    warnings = []
    if signer.verifier() != vkey:
        warnings.append(
            f"manifest.sig is signed with {signer.verifier().vkey()}, not the trail's key "
            f"{vkey.vkey()}: give examiners both"
        )
    target = (
        Path(out)
        if out is not None
        else (home / "exports" / "daily" / (f"{day}.partial" if partial else day))
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        result = _build(
            home,
            tmp,
            day=day,
            bounds=bounds,
            end=end,
            checkpoint=checkpoint,
            cp_text=cp_text,
            at_seal=at_seal,
            partial=partial,
            previous=previous,
            previous_size=previous_size,
            signer=signer,
            progress=progress,
        )
        _fsync_tree(tmp)
        keys = [vkey] if signer.verifier() == vkey else [vkey, signer.verifier()]
        created, older = _install(tmp, target, replace_partial=partial, vkeys=keys)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result.path = target
    result.created = created
    result.warnings = warnings
    if older is not None:
        _as_kept(result, older)
    return result


def _as_kept(result: PackResult, manifest: dict[str, Any]) -> None:
    """Describe the older pack left in place rather than the one made and dropped."""
    old = format_version(manifest.get("format"))
    seq, checkpoint = manifest.get("seq"), manifest.get("checkpoint")
    seq = seq if isinstance(seq, dict) else {}
    checkpoint = checkpoint if isinstance(checkpoint, dict) else {}
    result.files = [
        FileInfo(str(f.get("name")), str(f.get("sha256")), int(f.get("size", 0)), f.get("rows"))
        for f in manifest["files"]
        if isinstance(f, dict)
    ]
    result.first_seq, result.last_seq = seq.get("first"), seq.get("last")
    result.checkpoint_size = int(checkpoint.get("size", result.checkpoint_size))
    changes = [
        "adds corrections.csv and neutralises nav.csv and positions.csv cells once",
        "joins the blotter with orders and instruments, gives CSV times in microseconds and "
        "pads decimals to one scale",
    ][(old or 1) - 1 :]
    result.warnings.append(
        f"kept the existing pack of {result.date} in format /{old} ({result.path}); it still "
        f"verifies. Format /{PACK_VERSION} {'; '.join(changes)}; to make a /{PACK_VERSION} "
        "pack, export with --out elsewhere"
    )


def _build(
    home: Path,
    tmp: Path,
    *,
    day: str,
    bounds: DayBounds,
    end: int,
    checkpoint: Checkpoint,
    cp_text: str,
    at_seal: bool,
    partial: bool,
    previous: Checkpoint | None,
    previous_size: int,
    signer: Signer,
    progress: Callable[[int], None] | None,
) -> PackResult:
    start, size = bounds.start, checkpoint.size
    prior = prior_config(home, day, start, end)
    references = prior_references(home, day, start, end)
    frontier = frontier_hashes(home, start)
    tables = DayTables(
        tmp, day, [line for _, line in sorted(prior + references)], stored_documents(home)
    )
    try:
        if bounds.path is not None and end > start:
            rel = f"{JOURNAL_DIR}/{bounds.path.name}"
            limit = offset_of_seq(bounds.path, end)
            if limit is None:
                limit, _ = torn_tail(bounds.path)
            scan = run_passes(
                bounds.path,
                limit=limit,
                start=start,
                frontier=frontier,
                day=day,
                tables=tables,
                out=tmp / EVENTS_FILE,
                progress=progress,
            )
            problems = [f"line {line}: {message}" for message, line in scan.faults]
            problems += [f"line {line}: prev does not chain" for line in scan.chain_breaks]
            if problems:
                raise TrailCorruptError(
                    f"{rel}: {'; '.join(problems[:3])}; run `tradetrail verify`"
                )
            if scan.size != end:
                raise TrailCorruptError(
                    f"{rel} holds records up to seq {scan.size - 1}, expected {end - 1}"
                )
        else:
            (tmp / EVENTS_FILE).write_bytes(b"")
            scan = ScanResult(size=start, root=fold(frontier), sha256=hashlib.sha256().hexdigest())
        infos = tables.finish()
    except BaseException:
        tables.abort()
        raise
    files = [FileInfo(EVENTS_FILE, scan.sha256, scan.bytes, scan.count), *infos.values()]
    proofs: dict[str, Any] = {
        "tree_size": size,
        "frontier": {"size": start, "hashes": [h.hex() for h in frontier]},
        "first": inclusion_proof_json(home, start, size) if scan.count else None,
        "last": inclusion_proof_json(home, end - 1, size) if scan.count else None,
        "consistency": (
            consistency_proof_json(home, previous_size, size) if previous is not None else None
        ),
        "extension": None,
        "config_records": [
            {"record": line.decode("utf-8"), **inclusion_proof_json(home, seq, size)}
            for seq, line in prior  # the record comes from a pack when its day was pruned
        ],
        "reference_records": [
            {"record": line.decode("utf-8"), **inclusion_proof_json(home, seq, size)}
            for seq, line in references
        ],
    }
    if end == size:
        if scan.root != checkpoint.root:
            raise TrailCorruptError(
                f"the journal of {day} does not give the root of the checkpoint at size {size}; "
                "run `tradetrail verify`"
            )
    else:
        proofs["extension"] = consistency_proof_json(home, end, size) if end > 0 else None
        if end > 0 and proofs["extension"]["old_root"] != scan.root.hex():
            raise TrailCorruptError(
                f"the journal of {day} does not give the tree the tiles hold at size {end}; "
                "run `tradetrail verify`"
            )
    files.append(_write(tmp, PROOFS_FILE, orjson.dumps(proofs, option=PRETTY)))
    files.append(_write(tmp, CHECKPOINT_FILE, cp_text.encode("utf-8")))

    def manifest_for(listed: list[FileInfo]) -> dict[str, Any]:
        return build_manifest(
            date=day,
            origin=checkpoint.origin,
            partial=partial,
            at_seal=at_seal,
            scan=scan,
            checkpoint=checkpoint,
            previous=previous,
            tables=tables,
            files=listed,
        )

    files.append(_write(tmp, README_FILE, render_readme(manifest_for(files))))
    manifest = manifest_for(files)
    data = manifest_bytes(manifest)
    (tmp / MANIFEST_FILE).write_bytes(data)
    (tmp / SIGNATURE_FILE).write_text(sign_note(data.decode("utf-8"), signer), encoding="utf-8")
    (tmp / SUMS_FILE).write_bytes(sha256sums(manifest, data))
    return PackResult(
        path=tmp,
        date=day,
        partial=partial,
        records=scan.count,
        first_seq=scan.first_seq,
        last_seq=scan.last_seq,
        checkpoint_size=size,
        trading=tables.trading,
        created=True,
        files=sorted(files, key=lambda f: f.name),
    )
