"""Offline verification of a whole trail, streaming the journal in constant memory.

Checks every line (canonical JSON, envelope, seq continuity, prev chain, ts order, day file),
recomputes the Merkle tree and compares it with every stored checkpoint (signatures verified)
and every stored tile, and holds the trail against external checkpoints (an auditor's copy),
which is how truncation and rewritten history are caught.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .canonical import EVENT_ID_PATTERN, SORT, TYPE_PATTERN, is_canonical
from .checkpoint import Checkpoint, parse_checkpoint_body
from .errors import CheckpointError, ConfigError, JournalFormatError, NoteError, TileError
from .journal import (
    FILE_PATTERN,
    JOURNAL_DIR,
    PRUNED_FILE,
    ZERO_HASH,
    PrunedDay,
    file_day,
    lines_from_seq,
    pruned_days,
    pruned_gap,
)
from .keyhistory import HISTORY_FILE, ROTATION_TYPE, KeySpan, read_history
from .keys import VKEY_FILE, read_vkey
from .merkle import Frontier
from .note import Verifier, open_note
from .tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    TileBuilder,
    parse_tile_path,
    tile_path,
    tiles_for_size,
)
from .tilestore import TileStore
from .timefmt import RFC3339_UTC

REMOVAL_EVENT = "compliance.records_removed"

HEX64 = re.compile(r"^[0-9a-f]{64}$")
_seen_types: set[str] = set()  # valid event types already checked: most records repeat a few


@dataclass
class Fault:
    """One thing wrong, with where it is."""

    message: str
    file: str | None = None
    line: int | None = None
    seq: int | None = None

    def __str__(self) -> str:
        where = self.file or ""
        if self.line is not None:
            where += f":{self.line}"
        if self.seq is not None:
            where += f" (seq {self.seq})"
        return f"{where}: {self.message}" if where else self.message


class FaultReport:
    """What every verification report shares: ok when nothing was at fault, and its JSON."""

    fault_count: int

    @property
    def ok(self) -> bool:
        return self.fault_count == 0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = asdict(self)  # type: ignore[call-overload]
        out["ok"] = self.ok
        return out


@dataclass
class VerifyReport(FaultReport):
    home: str
    size: int = 0
    files: int = 0
    bytes: int = 0
    checkpoints_checked: int = 0
    external_checkpoints_checked: int = 0
    tiles_checked: int = 0
    faults: list[Fault] = field(default_factory=list)
    fault_count: int = 0
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    latest_checkpoint: dict[str, Any] | None = None


class _Checker:
    def __init__(self, report: VerifyReport, max_faults: int) -> None:
        self.report = report
        self.max_faults = max_faults

    def fault(
        self, message: str, file: str | None = None, line: int | None = None, seq: int | None = None
    ) -> None:
        self.report.fault_count += 1
        if len(self.report.faults) < self.max_faults:
            self.report.faults.append(Fault(message, file, line, seq))


class _KeyRing:
    """The keys a checkpoint may be signed by, each for the tree sizes it was valid at. Without
    a key history (the key was never rotated) the given keys are valid at every size; with
    one, the given keys are the roots of trust and a key counts only if verified rotations
    join it to one of them (see keyhistory)."""

    def __init__(self, home: Path, roots: Sequence[Verifier], check: _Checker) -> None:
        self.keys = list(roots)
        self.spans: list[KeySpan] | None = None
        try:
            history = read_history(home)
        except ConfigError as exc:
            check.fault(f"key history does not parse: {exc}", HISTORY_FILE)
            return
        if history is None:
            return
        for _index, problem in history.broken:
            check.fault(f"key rotation does not verify: {problem}", HISTORY_FILE)
        self.spans = history.trusted(roots)
        if not self.spans:
            check.fault(
                "none of the verifier keys given is in the key history, so no key of it is "
                "trusted: " + ", ".join(v.vkey() for v in roots),
                HISTORY_FILE,
            )
        vkey_path = home / VKEY_FILE
        if vkey_path.exists() and read_vkey(vkey_path) != history.current:
            check.fault(f"{VKEY_FILE} is not the current key of {HISTORY_FILE}", VKEY_FILE)
        self.keys = list(dict.fromkeys([*roots, *(s.verifier for s in self.spans)]))
        for span in self.spans:
            if span.rotation is not None:
                _check_rotation_record(home, span, check)

    def open(self, text: str) -> Checkpoint:
        """Verify a signed checkpoint: by a known key, and one valid at its size."""
        note, verified = open_note(text, self.keys)
        cp = parse_checkpoint_body(note.text)
        if self.spans is None:
            return cp
        if not any(s.verifier in verified and s.covers(cp.size) for s in self.spans):
            ranges = "; ".join(
                f"{s.verifier.name}+{s.verifier.key_id.hex()} signs sizes {s.first}.."
                f"{'' if s.last is None else s.last}"
                for s in self.spans
                if s.verifier in verified
            )
            raise NoteError(
                f"signed at size {cp.size} by a key not valid at that size ({ranges}; "
                f"{HISTORY_FILE})"
            )
        return cp


def _check_rotation_record(home: Path, span: KeySpan, check: _Checker) -> None:
    """The rotation that vouches for `span` must be journaled as record first-1, the last
    record under the old key alone (unless that record was removed under retention)."""
    assert span.rotation is not None
    seq = span.first - 1
    for path, line in lines_from_seq(home, seq):
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            return  # the record checks report it
        if type(record) is not dict or record.get("seq") != seq:
            return
        data = record.get("data")
        if record.get("type") != ROTATION_TYPE or not isinstance(data, dict):
            check.fault(
                f"{HISTORY_FILE} says the key changed at size {span.first}, but record {seq} is "
                f"not a {ROTATION_TYPE} record",
                f"{JOURNAL_DIR}/{path.name}",
                seq=seq,
            )
        elif data.get("note") != span.rotation.note:
            check.fault(
                f"the {ROTATION_TYPE} record does not carry the rotation note of {HISTORY_FILE}",
                f"{JOURNAL_DIR}/{path.name}",
                seq=seq,
            )
        return


def _load_checkpoints(
    home: Path, verifiers: _KeyRing, check: _Checker
) -> tuple[dict[int, list[tuple[str, bytes]]], Checkpoint | None, str | None]:
    """Stored checkpoints by size, the newest, and the origin they agree on."""
    wanted: dict[int, list[tuple[str, bytes]]] = {}
    origin: str | None = None
    newest: Checkpoint | None = None
    paths: list[Path] = []
    cp_dir = home / "checkpoints"
    if cp_dir.is_dir():
        paths = sorted(
            (p for p in cp_dir.iterdir() if not p.name.startswith(".")),
            key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit() else 0, p.name),
        )
    latest = home / "checkpoint"
    if latest.exists():
        paths.append(latest)
    for path in paths:
        rel = str(path.relative_to(home))
        try:
            cp = verifiers.open(path.read_text(encoding="utf-8"))
        except (NoteError, CheckpointError, UnicodeDecodeError) as exc:
            check.fault(f"checkpoint does not verify: {exc}", rel)
            continue
        if path.parent == cp_dir and path.name != str(cp.size):
            check.fault(f"checkpoint file name does not match its size {cp.size}", rel)
        if origin is None:
            origin = cp.origin
        elif cp.origin != origin:
            check.fault(f"checkpoint origin {cp.origin!r} differs from {origin!r}", rel)
        wanted.setdefault(cp.size, []).append((rel, cp.root))
        if path != latest and (newest is None or cp.size > newest.size):
            newest = cp
        check.report.checkpoints_checked += 1
    if latest.exists() and newest is not None:
        try:
            current = verifiers.open(latest.read_text(encoding="utf-8"))
            if current.size < newest.size:
                check.report.warnings.append(
                    f"checkpoint (size {current.size}) is older than checkpoints/{newest.size}"
                )
        except (NoteError, CheckpointError, UnicodeDecodeError):
            pass
    return wanted, newest, origin


def _stored_partials(tiles_root: Path) -> dict[int, list[tuple[int, int, Path]]]:
    """Stored partial tiles keyed by the tree size at which the level's count reaches them."""
    triggers: dict[int, list[tuple[int, int, Path]]] = {}
    base = tiles_root / "tile"
    if not base.is_dir():
        return triggers
    for dirpath, _dirnames, filenames in os.walk(base):
        if not dirpath.endswith(".p"):
            continue
        for name in filenames:
            path = Path(dirpath) / name
            try:
                level, index, width = parse_tile_path(str(path.relative_to(tiles_root)))
            except ValueError:
                continue
            size = (index * TILE_WIDTH + width) << (TILE_HEIGHT * level)
            triggers.setdefault(size, []).append((level, width, path))
    return triggers


def verify_trail(
    home: Path,
    *,
    checkpoints: Sequence[Path] = (),
    vkeys: Sequence[Verifier] | None = None,
    max_faults: int = 100,
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Verify the trail at `home`; every fault is reported with file, line and seq."""
    home = Path(home)
    report = VerifyReport(home=str(home))
    check = _Checker(report, max_faults)
    if not (home / JOURNAL_DIR).is_dir():
        raise ConfigError(f"{home} is not a trail (no {JOURNAL_DIR}/ directory)")
    if vkeys is None:
        vkey_path = home / VKEY_FILE
        if not vkey_path.exists():
            raise ConfigError(f"no verifier key: {vkey_path} is missing and no --vkey was given")
        vkeys = [read_vkey(vkey_path)]
        report.notes.append(
            "checkpoint signatures were checked with the trail's own trail.vkey; pass --vkey "
            "with a copy kept elsewhere to also catch a trail re-signed with another key"
        )
    keys = _KeyRing(home, vkeys, check)
    wanted, newest, origin = _load_checkpoints(home, keys, check)
    if newest is not None:
        report.latest_checkpoint = {
            "origin": newest.origin,
            "size": newest.size,
            "root": newest.root.hex(),
        }
    for path in checkpoints:
        name = str(path)
        try:
            cp = keys.open(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read checkpoint {path}: {exc.strerror}") from None
        except (NoteError, CheckpointError, UnicodeDecodeError) as exc:
            check.fault(f"external checkpoint does not verify: {exc}", name)
            continue
        if origin is not None and cp.origin != origin:
            check.fault(f"external checkpoint is for log {cp.origin!r}, not {origin!r}", name)
            continue
        wanted.setdefault(cp.size, []).append((name, cp.root))
        report.external_checkpoints_checked += 1
    if 0 in wanted:
        empty = hashlib.sha256(b"").digest()
        for source, root in wanted.pop(0):
            if root != empty:
                check.fault("checkpoint at size 0 does not have the empty-tree root", source)

    tiles_root = home / "tiles"
    partial_triggers = _stored_partials(tiles_root)
    journal_dir = home / JOURNAL_DIR
    names = sorted(p.name for p in journal_dir.iterdir())
    files = [journal_dir / n for n in names if FILE_PATTERN.match(n)]
    for n in names:
        if not FILE_PATTERN.match(n) and not n.startswith("."):
            report.warnings.append(f"{JOURNAL_DIR}/{n}: not a journal day file; ignored")

    frontier = Frontier()
    builder = TileBuilder()
    sha = hashlib.sha256
    loads, dumps = orjson.loads, orjson.dumps
    expected_seq = 0
    prev_hex = ZERO_HASH
    last_ts = ""
    done_bytes = 0
    pruned = _pruned(home, check)
    signed_size = max(wanted, default=0)  # every size in `wanted` has a verified signature
    gaps: list[tuple[int, int, str]] = []
    removals: list[tuple[Any, Any, str, int]] = []

    def settle(leaf: bytes) -> None:
        """Fold one leaf into the tree and check every tile and checkpoint it completes."""
        full = builder.add(frontier.append(leaf))
        for level, index, data in full:
            _check_tile(tiles_root, level, index, TILE_WIDTH, data, check)
        size = frontier.size
        if size in wanted:
            _check_roots(size, frontier.root(), wanted.pop(size), check)
        if size in partial_triggers:
            for level, width, tpath in partial_triggers.pop(size):
                entries = builder.entries(level)
                _check_tile(
                    tiles_root,
                    level,
                    size >> (TILE_HEIGHT * (level + 1)),
                    width,
                    b"".join(entries[:width]),
                    check,
                    tpath,
                )
        if progress is not None and not size & 0x3FFF:
            progress(done_bytes)

    for file_index, path in enumerate(files):
        rel = f"{JOURNAL_DIR}/{path.name}"
        day = file_day(path)
        report.files += 1
        if file_index < len(files) - 1 and path.stat().st_mode & 0o222:
            report.warnings.append(f"{rel}: a finished day file is still writable")
        with open(path, "rb") as fh:
            for lineno, raw in enumerate(fh, start=1):
                done_bytes += len(raw)
                if raw[-1:] != b"\n":
                    check.fault(
                        "torn last line (an incomplete write; the writer quarantines it on open)",
                        rel,
                        lineno,
                    )
                    break
                line = raw[:-1]
                leaf = sha(b"\x00" + line).digest()
                try:
                    record = loads(line)
                except orjson.JSONDecodeError as exc:
                    check.fault(f"not valid JSON ({exc})", rel, lineno, expected_seq)
                    record = None
                seq: Any = None
                if type(record) is dict:
                    seq = record.get("seq")
                    if record.get("type") == REMOVAL_EVENT:
                        removals.append((seq, record, rel, lineno))
                    if lineno == 1 and type(seq) is int and seq > expected_seq:
                        # records before this file are missing: deliberate only when pruned
                        # under retention, and then their leaf hashes come from the tiles
                        got = _pruned_leaves(tiles_root, pruned, expected_seq, seq, rel, check)
                        for pruned_leaf in got or ():
                            settle(pruned_leaf)
                        if got:
                            gaps.append((expected_seq, seq, rel))
                            expected_seq, prev_hex = seq, got[-1].hex()
                    state = (expected_seq, prev_hex, last_ts)
                    last_ts = _check_record(record, line, dumps, state, day, check, rel, lineno)
                elif record is not None:
                    check.fault("not a JSON object", rel, lineno, expected_seq)
                expected_seq = (seq if type(seq) is int else expected_seq) + 1
                prev_hex = leaf.hex()
                settle(leaf)
    if progress is not None:
        progress(done_bytes)
    if gaps:
        _check_removals(gaps, removals, tiles_root, signed_size, keys.keys, origin, check)
    report.size = frontier.size
    report.bytes = done_bytes
    for size in sorted(wanted):
        for source, _root in wanted[size]:
            check.fault(
                f"checkpoint covers {size} records but the journal holds only {frontier.size}: "
                "records were removed from the end (truncation) or the journal was replaced",
                source,
            )
    for size, items in sorted(partial_triggers.items()):
        if size > frontier.size:
            for _level, _width, tpath in items:
                check.fault(
                    f"tile describes {size} records but the journal holds {frontier.size}",
                    str(tpath.relative_to(home)),
                )
    _check_extra_full_tiles(tiles_root, frontier.size, home, check)
    if newest is not None and newest.size <= frontier.size:
        _check_tiles_present(tiles_root, newest.size, check)
        unsigned = frontier.size - newest.size
        if unsigned:
            report.warnings.append(
                f"{unsigned} record(s) after the latest signed checkpoint (size {newest.size}) "
                "are not yet covered by any signature (normal while a writer runs or after a "
                "crash; the next open signs them)"
            )
    quarantine = home / "quarantine" / "quarantine.jsonl"
    if quarantine.exists():
        count = sum(1 for _ in quarantine.open("rb"))
        report.notes.append(
            f"{count} torn line(s) from crashes were set aside in quarantine/ (never acknowledged)"
        )
    return report


def _pruned(home: Path, check: _Checker) -> list[PrunedDay]:
    """The days removed under retention (pruned.json), noted in the report."""
    try:
        pruned = pruned_days(home)
    except JournalFormatError as exc:
        check.fault(str(exc), PRUNED_FILE)
        return []
    if pruned:
        first, last = pruned[0].first_seq, pruned[-1].last_seq
        check.report.notes.append(
            f"{len(pruned)} day file(s) between seq {first} and {last} were removed under the "
            f"retention policy ({PRUNED_FILE}): their records are checked from the level-0 "
            "tiles (existence and order stay committed in every checkpoint; the content is "
            "only in their daily packs)"
        )
    return pruned


def _pruned_leaves(
    tiles_root: Path, pruned: list[PrunedDay], start: int, end: int, rel: str, check: _Checker
) -> list[bytes] | None:
    """Leaf hashes [start, end) from the level-0 tiles when pruned.json lists exactly those
    records; None (after a fault) when the gap is not a deliberate one."""
    if not pruned_gap(pruned, start, end):
        check.fault(
            f"records {start}..{end - 1} are missing: no day file holds them and {PRUNED_FILE} "
            "does not list them as pruned (a day file was deleted?)",
            rel,
            1,
            end,
        )
        return None
    try:
        return tile_leaves(tiles_root, start, end)
    except (TileError, OSError) as exc:
        check.fault(f"pruned records {start}..{end - 1}: their leaf tile is unreadable: {exc}")
        return None


def tile_leaves(tiles_root: Path, start: int, end: int) -> list[bytes]:
    """Leaf hashes [start, end) from the level-0 tiles."""
    store = TileStore(tiles_root)
    leaves: list[bytes] = []
    for index in range(start // TILE_WIDTH, (end - 1) // TILE_WIDTH + 1):
        base = index * TILE_WIDTH
        entries = store.read_entries(0, index, min(end - base, TILE_WIDTH))
        leaves.extend(entries[max(start - base, 0) : end - base])
    return leaves


def _spans_cover(spans: Any, start: int, end: int) -> bool:
    """Whether seq spans [[first, last], ...] (merged, ascending) hold all of [start, end)."""
    if not isinstance(spans, list):
        return False
    for span in spans:
        if (
            isinstance(span, list)
            and len(span) == 2
            and all(type(x) is int for x in span)
            and span[0] <= start
            and end - 1 <= span[1]
        ):
            return True
    return False


def removal_statement(origin: str, seq: int, event_id: str, data: dict[str, Any]) -> str:
    """The text the trail's key signs to authorize a removal under retention: the log, the
    position and event id of the record that carries it, and everything that record says
    (canonical JSON of its data without the seal: every record pruned so far, the root of
    their leaf hashes, the removal before it, the batch). Bound to its own seq, a seal is
    worthless anywhere else, so a copied record counts for nothing. Only `retention apply`
    holds the key and makes it."""
    body = {k: v for k, v in data.items() if k != "seal" and v is not None}  # as journaled
    return (
        f"tradetrail records removed\n{origin}\n{seq}\n{event_id}\n"
        f"{orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode()}\n"
    )


def removal_authorized(record: Any, verifiers: Sequence[Verifier], origin: str | None) -> bool:
    """Whether a removal record's `seal` is the trail key's signature over this very record
    (its seq, event id and data)."""
    data = record.get("data") if isinstance(record, dict) else None
    if not isinstance(data, dict) or origin is None or not isinstance(data.get("seal"), str):
        return False
    seq, event_id = record.get("seq"), record.get("event_id")
    if type(seq) is not int or not isinstance(event_id, str):
        return False
    try:
        note, _ = open_note(data["seal"], verifiers)
    except (NoteError, ValueError):
        return False
    return note.text == removal_statement(origin, seq, event_id, data)


def _check_removals(
    gaps: list[tuple[int, int, str]],
    removals: list[tuple[Any, Any, str, int]],
    tiles_root: Path,
    signed_size: int,
    verifiers: Sequence[Verifier],
    origin: str | None,
    check: _Checker,
) -> None:
    """pruned.json alone proves nothing (whoever can delete a file can write it), and neither
    does a removal record anyone could have recorded or copied: every gap must lie within the
    spans of the newest removal record sealed at its own position (see removal_statement),
    which must be under a signed checkpoint. Each record lists every record pruned so far,
    so the newest one decides; its `pruned_root` must be the root of exactly the leaves the
    tiles hold for its spans."""
    head = None
    for seq, record, where, lineno in removals:
        if type(seq) is not int or not isinstance(record, dict):
            continue
        if removal_authorized(record, verifiers, origin):
            head = (seq, record, where, lineno)
        else:
            check.report.warnings.append(
                f"{where}:{lineno} (seq {seq}): a {REMOVAL_EVENT} record the trail's key did not "
                "seal at this position: it excuses no missing record"
            )
    if not gaps:
        return
    if head is not None and head[0] >= signed_size:
        check.fault(
            f"the newest removal is recorded at seq {head[0]}, which no signed checkpoint covers "
            "yet (sign one: tradetrail checkpoint)",
            head[2],
            head[3],
            head[0],
        )
        return
    data = head[1]["data"] if head is not None else {}
    for start, end, rel in gaps:
        if head is None or head[0] < end or not _spans_cover(data.get("pruned_spans"), start, end):
            check.fault(
                f"records {start}..{end - 1} are missing: {PRUNED_FILE} lists them as pruned but "
                f"the newest sealed {REMOVAL_EVENT} record does not record their removal",
                rel,
                1,
                end,
            )
    if head is None:
        return
    seq, _record, where, lineno = head
    tree = Frontier()
    try:
        for first, last in data["pruned_spans"]:
            for leaf in tile_leaves(tiles_root, first, last + 1):
                tree.append(leaf)
    except (TileError, OSError, TypeError, ValueError) as exc:
        check.fault(f"the removed records' leaf tiles are unreadable: {exc}", where, lineno, seq)
        return
    if data.get("pruned_root") != tree.root().hex():
        check.fault(
            "pruned_root is not the root of the removed records' leaf hashes in the tiles: the "
            "tiles were altered",
            where,
            lineno,
            seq,
        )


def _check_record(
    record: dict[str, Any],
    line: bytes,
    dumps: Callable[..., bytes],
    state: tuple[int, str, str],
    day: str,
    check: _Checker,
    rel: str,
    lineno: int,
) -> str:
    """Check one parsed record against its neighbours; returns the newest ts seen."""
    expected_seq, prev_hex, last_ts = state
    seq = record.get("seq")
    if dumps(record, option=SORT) != line and not is_canonical(line, record):
        check.fault("not canonical JSON (keys, spacing or number form changed)", rel, lineno, seq)
    if type(seq) is not int:
        check.fault("seq missing or not an integer", rel, lineno, expected_seq)
        seq = None
    elif seq != expected_seq:
        check.fault(
            f"seq {seq} where {expected_seq} was expected "
            "(a record was deleted, inserted, duplicated or moved)",
            rel,
            lineno,
            seq,
        )
    prev = record.get("prev")
    if prev != prev_hex:
        what = "missing, not" if prev is None else "does not match"
        check.fault(
            f"prev {what} the leaf hash of the record before ({prev_hex[:16]}…): "
            "the chain is broken here",
            rel,
            lineno,
            seq,
        )
    ts = record.get("ts")
    if type(ts) is not str or not RFC3339_UTC.match(ts):
        check.fault(f"ts {ts!r} is not RFC 3339 UTC with microseconds", rel, lineno, seq)
    else:
        if ts < last_ts:
            check.fault(f"ts {ts} goes back before {last_ts}", rel, lineno, seq)
        else:
            last_ts = ts
        if ts[0:4] + ts[5:7] + ts[8:10] != day:
            check.fault(f"record of day {ts[0:10]} in the file of day {day}", rel, lineno, seq)
    event_id = record.get("event_id")
    if type(event_id) is not str or not EVENT_ID_PATTERN.match(event_id):
        check.fault("event_id missing or not a UUID", rel, lineno, seq)
    kind = record.get("type")
    if kind not in _seen_types:
        if type(kind) is not str or not TYPE_PATTERN.match(kind):
            check.fault(f"type {kind!r} is not a dotted event type", rel, lineno, seq)
        elif len(_seen_types) < 4096:
            _seen_types.add(kind)
    return last_ts


def _check_roots(
    size: int, root: bytes, expected: list[tuple[str, bytes]], check: _Checker
) -> None:
    for source, want in expected:
        if want != root:
            check.fault(
                f"the journal's Merkle root at size {size} differs from this signed checkpoint: "
                "history before it was altered or rewritten",
                source,
            )


def _check_tile(
    root: Path,
    level: int,
    index: int,
    width: int,
    data: bytes,
    check: _Checker,
    path: Path | None = None,
) -> None:
    path = path or root / tile_path(level, index, width)
    rel = f"tiles/{tile_path(level, index, width)}"
    try:
        stored = path.read_bytes()
    except FileNotFoundError:
        check.fault("tile missing (proofs need it; reopening the writer rebuilds it)", rel)
        return
    check.report.tiles_checked += 1
    if stored != data:
        check.fault("tile differs from the hashes recomputed from the journal", rel)


def _check_tiles_present(root: Path, size: int, check: _Checker) -> None:
    """Every tile a proof at the latest checkpoint needs must be stored: the full tile, or a
    partial at least as wide (contents were compared while streaming)."""
    for level, index, width in tiles_for_size(size):
        if (root / tile_path(level, index)).exists():
            continue
        if width == TILE_WIDTH:
            continue  # a missing full tile is reported when the stream completes it
        partial_dir = root / (tile_path(level, index) + ".p")
        widths = (
            [int(p.name) for p in partial_dir.iterdir() if p.name.isdigit()]
            if partial_dir.is_dir()
            else []
        )
        if not any(w >= width for w in widths):
            check.fault(
                f"tile missing: proofs at the latest checkpoint (size {size}) need it",
                f"tiles/{tile_path(level, index, width)}",
            )


def _check_extra_full_tiles(root: Path, size: int, home: Path, check: _Checker) -> None:
    level = 0
    count = size
    while True:
        first_missing = count // TILE_WIDTH
        path = root / tile_path(level, first_missing)
        if path.exists():
            check.fault(
                f"full tile beyond the journal's {size} records (the journal was truncated?)",
                str(path.relative_to(home)),
            )
        if count == 0:
            break
        count >>= TILE_HEIGHT
        level += 1
