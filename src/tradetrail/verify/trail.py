"""Offline verification of a whole trail, streaming the journal in constant memory.

Checks every line (canonical JSON, envelope, seq continuity, prev chain, ts order, day file),
recomputes the Merkle tree and compares it with every stored checkpoint (signatures verified)
and every stored tile, and holds the trail against external checkpoints (an auditor's copy),
which is how truncation and rewritten history are caught.
"""

from __future__ import annotations

import bisect
import hashlib
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from ..core import layout
from ..core.canonical import EVENT_ID_PATTERN, SORT, TYPE_PATTERN, is_canonical
from ..core.checkpoint import Checkpoint, parse_checkpoint_body
from ..core.closemark import CLOSED_FILE, read_closed_mark, records_after_close
from ..core.merkle import Frontier
from ..core.note import Verifier, open_note
from ..core.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    TileBuilder,
    parse_tile_path,
    split_tile,
    tile_path,
    tiles_for_size,
)
from ..core.timefmt import RFC3339_UTC, parse_time, parse_ts
from ..errors import CheckpointError, ConfigError, JournalFormatError, NoteError, TileError
from ..store.journal import (
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
from ..store.keyhistory import (
    HISTORY_FILE,
    ROTATION_TYPE,
    KeySpan,
    check_signed_at,
    open_rotation,
    read_history,
)
from ..store.keys import VKEY_FILE, read_vkey
from ..store.tilestore import TileStore

REMOVAL_EVENT = "compliance.records_removed"
LOCK_FILE = layout.LOCK_FILE

HEX64 = re.compile(r"^[0-9a-f]{64}$")
_seen_types: set[str] = set()  # valid event types already checked: most records repeat a few


@dataclass
class Fault:
    """One thing wrong, with where it is, and what else is wrong because of it."""

    message: str
    file: str | None = None
    line: int | None = None
    seq: int | None = None
    consequences: list[Fault] = field(default_factory=list)
    consequence_count: int = 0

    def __str__(self) -> str:
        where = self.file or ""
        if self.line is not None:
            where += f":{self.line}"
        if self.seq is not None:
            where += f" (seq {self.seq})"
        return f"{where}: {self.message}" if where else self.message

    def walk(self) -> list[Fault]:
        """This fault and every consequence listed under it."""
        return [self, *self.consequences]


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
    """`faults` lists causes (a record, else a tile or checkpoint), each with the faults that
    follow from it as `consequences`; `fault_count` counts causes."""

    home: str
    size: int = 0
    files: int = 0
    bytes: int = 0
    checkpoints_checked: int = 0
    external_checkpoints_checked: int = 0
    tiles_checked: int = 0
    faults: list[Fault] = field(default_factory=list)
    fault_count: int = 0
    consequence_count: int = 0
    faults_outside_range: int = 0
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    latest_checkpoint: dict[str, Any] | None = None
    range: dict[str, Any] | None = None
    records_checked: int = 0
    writer_running: bool = False
    summary: str = ""

    def all_faults(self) -> list[Fault]:
        """Every listed fault, causes and their consequences, flat."""
        return [f for cause in self.faults for f in cause.walk()]


@dataclass
class _Raw:
    """A fault as found while streaming, before it is grouped under its cause."""

    fault: Fault
    kind: str  # "record" (of the record at pos), "link" (its prev), "derived", "other"
    pos: int | None = None
    lo: int = 0  # derived: the leaves [lo, hi) the tile or checkpoint depends on
    hi: int = 0
    order: int = 0
    root: bool = False  # a Merkle root that differs from a signed checkpoint
    anchor: int | None = None  # where it sorts when no record causes it (default: lo)


_MAX_RAW = 200_000  # faults kept for grouping; beyond, they are counted as causes
_MAX_SUSPECTS = 10_000  # leaves that differ from their tile entry: only the first ones matter


class _Checker:
    def __init__(self, report: VerifyReport, max_faults: int) -> None:
        self.report = report
        self.max_faults = max_faults
        self.raw: list[_Raw] = []
        self.overflow = 0
        self.streaming = False

    def _add(self, raw: _Raw) -> None:
        if len(self.raw) >= _MAX_RAW:
            self.overflow += 1
            return
        raw.order = len(self.raw) + (1 << 40 if self.streaming else 0)
        self.raw.append(raw)

    def fault(
        self, message: str, file: str | None = None, line: int | None = None, seq: int | None = None
    ) -> None:
        """A fault with no place in the tree (a checkpoint that does not verify, ...)."""
        self._add(_Raw(Fault(message, file, line, seq), "other"))

    def record(
        self, pos: int, message: str, file: str, line: int, seq: int | None, kind: str = "record"
    ) -> None:
        """A fault of the record at leaf position `pos` (kind "link": its prev)."""
        self._add(_Raw(Fault(message, file, line, seq), kind, pos))

    def derived(
        self,
        message: str,
        file: str,
        lo: int,
        hi: int,
        root: bool = False,
        anchor: int | None = None,
    ) -> None:
        """A tile or checkpoint that disagrees with the journal over leaves [lo, hi): a
        consequence of the first record at fault among them, if any."""
        self._add(_Raw(Fault(message, file), "derived", None, lo, hi, root=root, anchor=anchor))


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
        given = read_vkey(vkey_path) if vkey_path.exists() else None
        previous = history.spans[-2].verifier if len(history.spans) > 1 else None
        if given is not None and given != history.current:
            if given == previous:  # the writer writes trail.vkeys, then trail.vkey
                check.report.warnings.append(
                    f"{VKEY_FILE} still holds the key before the last rotation in "
                    f"{HISTORY_FILE}: a rotation was interrupted by a crash; reopening the "
                    "trail with the new key finishes it"
                )
            else:
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
        check_signed_at(self.spans, verified, cp.size)
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
    latest = home / layout.CHECKPOINT_FILE
    texts: dict[Path, bytes] = {}
    if latest.exists():  # before listing checkpoints/: a writer writes checkpoints/<size> first
        texts[latest] = latest.read_bytes()
    cp_dir = home / layout.CHECKPOINTS_DIR
    if cp_dir.is_dir():
        paths = sorted(
            (p for p in cp_dir.iterdir() if not p.name.startswith(".")),
            key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit() else 0, p.name),
        )
    if latest in texts:
        paths.append(latest)
    for path in paths:
        rel = str(path.relative_to(home))
        try:
            raw = texts[path] if path in texts else path.read_bytes()
            cp = verifiers.open(raw.decode("utf-8"))
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
    if latest in texts and newest is not None:
        try:
            current = verifiers.open(texts[latest].decode("utf-8"))
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


@dataclass
class _Rec:
    """Where a record is and the hashes that locate an alteration of it."""

    pos: int
    seq: int | None
    file: str
    line: int
    leaf: bytes
    committed: bytes | None  # its entry in the stored level-0 tile, when one is stored
    prev: str | None = None  # its own prev field


class _Committed:
    """The stored level-0 tile entries, one tile at a time, to hold each leaf against."""

    def __init__(self, tiles_root: Path) -> None:
        self.root = tiles_root
        self.index = -1
        self.entries: list[bytes] = []

    def get(self, pos: int) -> bytes | None:
        index, offset = divmod(pos, TILE_WIDTH)
        if index != self.index:
            self.index, self.entries = index, self._load(index)
        return self.entries[offset] if offset < len(self.entries) else None

    def _load(self, index: int) -> list[bytes]:
        full = self.root / tile_path(0, index)
        try:
            data = full.read_bytes()
            if len(data) == TILE_WIDTH * 32:
                return split_tile(data)
        except OSError:
            pass
        partial_dir = full.with_name(full.name + ".p")
        try:
            widths = sorted(int(p.name) for p in partial_dir.iterdir() if p.name.isdigit())
        except OSError:
            return []
        for width in reversed(widths):
            try:
                data = (partial_dir / str(width)).read_bytes()
            except OSError:
                continue
            if len(data) == width * 32 and 0 < width < TILE_WIDTH:
                return split_tile(data)
        return []


def writer_running(home: Path) -> bool:
    """Whether a process holds the trail's writer lock now (without taking it, which could
    make a writer starting at this instant fail): /proc/locks on Linux, else the pid the
    writer leaves in the lock file."""
    lock = home / LOCK_FILE
    try:
        st = lock.stat()
    except OSError:
        return False
    try:
        text = Path("/proc/locks").read_text()
    except OSError:
        text = None
    if text is not None:
        dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
        return any(" FLOCK " in f" {ln} " and dev in ln.split() for ln in text.splitlines())
    try:
        raw = lock.read_text().strip()
        if not raw.isdigit():
            return False
        os.kill(int(raw), 0)
    except PermissionError:
        return True
    except (OSError, ValueError):
        return False
    return True


def _day_bounds(text: str, end: bool) -> int:
    """Nanoseconds of a --from/--to time: RFC 3339, or a date (its whole day)."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        day = datetime.fromisoformat(text).replace(tzinfo=UTC)
        if end:
            day += timedelta(days=1)
            return int(day.timestamp()) * 1_000_000_000 - 1
        return int(day.timestamp()) * 1_000_000_000
    try:
        moment = parse_time(text)
    except ValueError:
        raise ConfigError(
            f"{'--to' if end else '--from'} {text!r}: not a seq, a date (YYYY-MM-DD) or an "
            "RFC 3339 time"
        ) from None
    ns = int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000
    return ns + 999 if end else ns


@dataclass
class _Range:
    """The records an examiner asked about: --from/--to as seq numbers or times."""

    seq_lo: int = 0
    seq_hi: int | None = None
    ns_lo: int | None = None
    ns_hi: int | None = None
    first: int | None = None  # the range found in the journal, in seq
    last: int | None = None
    first_ts: str | None = None
    last_ts: str | None = None

    @classmethod
    def parse(cls, start: int | str | None, end: int | str | None) -> _Range | None:
        if start is None and end is None:
            return None
        out = cls()
        for value, is_end in ((start, False), (end, True)):
            if value is None:
                continue
            if isinstance(value, int) or value.isdigit():
                if is_end:
                    out.seq_hi = int(value)
                else:
                    out.seq_lo = int(value)
            elif is_end:
                out.ns_hi = _day_bounds(value, True)
            else:
                out.ns_lo = _day_bounds(value, False)
        return out

    def take(self, seq: int, ts: Any) -> None:
        if seq < self.seq_lo or (self.seq_hi is not None and seq > self.seq_hi):
            return
        if self.ns_lo is not None or self.ns_hi is not None:
            try:
                ns = parse_ts(ts) if isinstance(ts, str) else None
            except ValueError:
                ns = None
            if ns is None:
                return
            if (self.ns_lo is not None and ns < self.ns_lo) or (
                self.ns_hi is not None and ns > self.ns_hi
            ):
                return
        if self.first is None:
            self.first, self.first_ts = seq, ts if isinstance(ts, str) else None
        self.last, self.last_ts = seq, ts if isinstance(ts, str) else None


def verify_trail(
    home: Path,
    *,
    checkpoints: Sequence[Path] = (),
    vkeys: Sequence[Verifier] | None = None,
    max_faults: int = 100,
    progress: Callable[[int], None] | None = None,
    start: int | str | None = None,
    end: int | str | None = None,
) -> VerifyReport:
    """Verify the trail at `home`; every fault is reported with file, line and seq, grouped
    under the record (else tile or checkpoint) that causes it.

    `start`/`end` (a seq, a date or an RFC 3339 time, both inclusive) limit what is reported
    to a range of records; the whole journal is still hashed, since the signed roots cover
    everything before. A trail a writer is appending to is verified up to the size its files
    had when verification started."""
    home = Path(home)
    report = VerifyReport(home=str(home))
    check = _Checker(report, max_faults)
    wanted_range = _Range.parse(start, end)
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
    live = writer_running(home)
    wanted, newest, origin = _load_checkpoints(home, keys, check)
    mark = None  # the signed clean-close mark: records beyond it were added after the close
    if not live:
        try:
            mark = read_closed_mark(home, keys.keys, origin=origin)
        except (NoteError, CheckpointError) as exc:
            report.warnings.append(f"{exc} (the next writer sets it aside; it proves nothing)")
        if mark is not None and mark.size not in wanted:  # its checkpoint was deleted
            wanted[mark.size] = [(CLOSED_FILE, mark.root)]
    after_close_at: tuple[str, int] | None = None
    if newest is not None:
        report.latest_checkpoint = {
            "origin": newest.origin,
            "size": newest.size,
            "root": newest.root.hex(),
        }
    stored_signed = max(wanted, default=-1)  # the writer wrote every tile below this size
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
    checkpoint_sizes = set(wanted)
    matched: set[int] = {0}
    mismatched: set[int] = set()

    tiles_root = home / layout.TILES_DIR
    partial_triggers = _stored_partials(tiles_root)
    signed_at = {  # the writer writes level-0 partial tiles only when it signs a checkpoint
        size: str(path.relative_to(home))
        for size, items in partial_triggers.items()
        for level, _width, path in items
        if level == 0
    }
    journal_dir = home / JOURNAL_DIR
    names = sorted(p.name for p in journal_dir.iterdir())
    files = [journal_dir / n for n in names if FILE_PATTERN.match(n)]
    for n in names:
        if not FILE_PATTERN.match(n) and not n.startswith("."):
            report.warnings.append(f"{JOURNAL_DIR}/{n}: not a journal day file; ignored")
    # every file is read up to its size now, so a running writer is not chased
    limits = {path: path.stat().st_size for path in files}
    report.writer_running = live

    frontier = Frontier()
    builder = TileBuilder()
    committed = _Committed(tiles_root)
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
    rotations: list[tuple[Any, Any, str, int]] = []
    lagging: list[str] = []  # tiles of the unsigned tail not written yet
    links: dict[int, tuple[_Rec, _Rec]] = {}  # broken prev at pos: (record before, record)
    suspects: dict[int, _Rec] = {}  # leaf differs from its stored tile entry
    structural: int | None = None  # first pos where records were deleted/inserted/moved
    shifted = 0  # leaf/tile mismatches after it: consequences of the shift
    located: dict[int, tuple[str, int, int | None]] = {}  # record at each checkpoint size
    day_ends: list[tuple[str, int]] = []  # (day file, size after its last record)
    check.streaming = True

    def settle(leaf: bytes) -> None:
        """Fold one leaf into the tree and check every tile and checkpoint it completes."""
        full = builder.add(frontier.append(leaf))
        size = frontier.size
        for level, index, data in full:
            lo = (index * TILE_WIDTH) << (TILE_HEIGHT * level)
            hi = ((index + 1) * TILE_WIDTH) << (TILE_HEIGHT * level)
            _check_tile(
                tiles_root, level, index, TILE_WIDTH, data, check, lo, hi, stored_signed, lagging
            )
        if size in wanted:
            root = frontier.root()
            entries = wanted.pop(size)
            if all(want == root for _, want in entries):
                matched.add(size)
            else:
                mismatched.add(size)
            _check_roots(size, root, entries, check)
        if size in partial_triggers:
            for level, width, tpath in partial_triggers.pop(size):
                entries_ = builder.entries(level)
                index = size >> (TILE_HEIGHT * (level + 1))
                lo = (index * TILE_WIDTH) << (TILE_HEIGHT * level)
                _check_tile(
                    tiles_root,
                    level,
                    index,
                    width,
                    b"".join(entries_[:width]),
                    check,
                    lo,
                    size,
                    stored_signed,
                    lagging,
                    tpath,
                )
        if progress is not None and not size & 0x3FFF:
            progress(done_bytes)

    before: _Rec | None = None
    torn_at: str | None = None
    for file_index, path in enumerate(files):
        rel = f"{JOURNAL_DIR}/{path.name}"
        day = file_day(path)
        report.files += 1
        is_last = file_index == len(files) - 1
        if not is_last and path.stat().st_mode & 0o222:
            report.warnings.append(f"{rel}: a finished day file is still writable")
        with open(path, "rb") as fh:
            budget = limits[path]
            lineno = 0
            while budget > 0:
                raw = fh.readline(budget)
                if not raw:
                    break
                budget -= len(raw)
                lineno += 1
                done_bytes += len(raw)
                if raw[-1:] != b"\n":
                    if is_last:
                        torn_at = f"{rel}:{lineno}"
                    else:
                        check.record(
                            frontier.size,
                            "torn line (an incomplete write) in a day file that is not the "
                            "newest: the writer quarantines a torn line when it reopens, so "
                            "something cut or edited this file",
                            rel,
                            lineno,
                            None,
                        )
                    break
                line = raw[:-1]
                leaf = sha(b"\x00" + line).digest()
                pos = frontier.size
                if mark is not None and pos == mark.size:
                    after_close_at = (rel, lineno)
                try:
                    record = loads(line)
                except orjson.JSONDecodeError as exc:
                    check.record(pos, f"not valid JSON ({exc})", rel, lineno, expected_seq)
                    record = None
                seq: Any = None
                if type(record) is dict:
                    seq = record.get("seq")
                    if record.get("type") == REMOVAL_EVENT:
                        removals.append((seq, record, rel, lineno))
                    elif record.get("type") == ROTATION_TYPE:
                        rotations.append((seq, record, rel, lineno))
                    if lineno == 1 and type(seq) is int and seq > expected_seq:
                        # records before this file are missing: deliberate only when pruned
                        # under retention, and then their leaf hashes come from the tiles
                        got = _pruned_leaves(tiles_root, pruned, expected_seq, seq, rel, check, pos)
                        for pruned_leaf in got or ():
                            settle(pruned_leaf)
                        if got:
                            gaps.append((expected_seq, seq, rel))
                            expected_seq, prev_hex = seq, got[-1].hex()
                            before = None
                            pos = frontier.size
                    state = (expected_seq, prev_hex, last_ts, pos)
                    last_ts = _check_record(record, line, dumps, state, day, check, rel, lineno)
                    if structural is None and type(seq) is int and seq not in (expected_seq, pos):
                        structural = pos
                    if wanted_range is not None and type(seq) is int:
                        wanted_range.take(seq, record.get("ts"))
                elif record is not None:
                    check.record(pos, "not a JSON object", rel, lineno, expected_seq)
                rec = _Rec(
                    pos,
                    seq if type(seq) is int else None,
                    rel,
                    lineno,
                    leaf,
                    committed.get(pos),
                    record.get("prev") if type(record) is dict else None,
                )
                if before is not None and rec.prev != before.leaf.hex():
                    links[pos] = (before, rec)
                if rec.committed is not None and rec.committed != leaf:
                    if structural is not None and pos >= structural:
                        shifted += 1
                    elif len(suspects) < _MAX_SUSPECTS:
                        suspects[pos] = rec
                if pos in checkpoint_sizes:
                    located[pos] = (rel, lineno, rec.seq)
                before = rec
                expected_seq = (seq if type(seq) is int else expected_seq) + 1
                prev_hex = leaf.hex()
                settle(leaf)
        day_ends.append((rel, frontier.size))
    check.streaming = False
    if progress is not None:
        progress(done_bytes)
    if torn_at is not None:
        report.warnings.append(
            f"{torn_at}: unterminated last line ("
            + ("being written now" if live else "an incomplete write from a crash")
            + "; it holds no acknowledged record and the writer sets it aside in quarantine/ "
            "when it reopens)"
        )
    if gaps:
        _check_removals(gaps, removals, tiles_root, signed_size, keys.keys, origin, check)
    _check_journaled_rotations(rotations, keys, frontier.size, check)
    report.size = frontier.size
    report.bytes = done_bytes
    for size in sorted(wanted):
        for source, _root in wanted[size]:
            check.derived(
                f"checkpoint covers {size} records but the journal holds only {frontier.size}: "
                "records were removed from the end (truncation) or the journal was replaced",
                source,
                0,
                size,
                anchor=frontier.size,
            )
    beyond = []
    for size, items in sorted(partial_triggers.items()):
        if size > frontier.size:
            for _level, _width, tpath in items:
                rel_tile = str(tpath.relative_to(home))
                message = f"tile describes {size} records but the journal holds {frontier.size}"
                if live:
                    beyond.append(rel_tile)
                else:
                    check.derived(message, rel_tile, 0, size, anchor=frontier.size)
    beyond.extend(_check_extra_full_tiles(tiles_root, frontier.size, home, check, live))
    if beyond:
        report.warnings.append(
            f"{len(beyond)} tile(s) describe records written after verification started (a "
            f"writer is running): {', '.join(beyond[:3])}{' ...' if len(beyond) > 3 else ''}"
        )
    if lagging:
        report.warnings.append(
            f"{len(lagging)} tile(s) of records after the latest signed checkpoint are not "
            f"written yet ({', '.join(lagging[:3])}{' ...' if len(lagging) > 3 else ''}): "
            + (
                "the running writer writes them as it goes"
                if live
                else "the writer was stopped before writing them (a crash); reopening the "
                "trail rebuilds them"
            )
        )
    if mark is not None and after_close_at is not None:
        problem = records_after_close(mark, frontier.size)
        earlier = any(
            r.kind in ("record", "link") and r.pos is not None and r.pos < mark.size
            for r in check.raw
        )
        if problem and earlier:  # e.g. a duplicated line: the extra record is its consequence
            check.derived(problem, CLOSED_FILE, 0, mark.size)
        elif problem:
            check.record(mark.size, problem, *after_close_at, mark.size)
    if newest is not None and newest.size <= frontier.size:
        _check_tiles_present(tiles_root, newest.size, check)
        unsigned = frontier.size - newest.size
        if unsigned and after_close_at is None:
            report.warnings.append(
                f"{unsigned} record(s) after the latest signed checkpoint (size {newest.size}) "
                "are not yet covered by any signature (normal while a writer runs or after a "
                "crash; until the next open checks their chain, seq, times and form and signs "
                "them, they prove nothing)"
            )
    _check_checkpoint_history(home, frontier.size, day_ends, signed_at, keys, check)
    quarantine = home / layout.QUARANTINE_DIR / "quarantine.jsonl"
    if quarantine.exists():
        count = sum(1 for _ in quarantine.open("rb"))
        report.notes.append(
            f"{count} torn line(s) from crashes were set aside in quarantine/ (never acknowledged)"
        )
    grouped = _group(
        check, frontier.size, links, suspects, structural, shifted, (matched, mismatched), located
    )
    _finish_report(report, check, grouped, wanted_range, max_faults)
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
    tiles_root: Path,
    pruned: list[PrunedDay],
    start: int,
    end: int,
    rel: str,
    check: _Checker,
    pos: int,
) -> list[bytes] | None:
    """Leaf hashes [start, end) from the level-0 tiles when pruned.json lists exactly those
    records; None (after a fault) when the gap is not a deliberate one."""
    if not pruned_gap(pruned, start, end):
        check.record(
            pos,
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
    state: tuple[int, str, str, int],
    day: str,
    check: _Checker,
    rel: str,
    lineno: int,
) -> str:
    """Check one parsed record against its neighbours; returns the newest ts seen."""
    expected_seq, prev_hex, last_ts, pos = state

    def fault(message: str, seq: Any, kind: str = "record") -> None:
        check.record(pos, message, rel, lineno, seq, kind)

    seq = record.get("seq")
    if dumps(record, option=SORT) != line and not is_canonical(line, record):
        fault("not canonical JSON (keys, spacing or number form changed)", seq)
    if type(seq) is not int:
        fault("seq missing or not an integer", expected_seq)
        seq = None
    elif seq != expected_seq and seq != pos:  # the record after a changed seq is fine
        fault(
            f"seq {seq} where {expected_seq} was expected "
            "(a record was deleted, inserted, duplicated or moved)",
            seq,
        )
    prev = record.get("prev")
    if prev != prev_hex:
        what = "missing, not" if prev is None else "does not match"
        fault(
            f"prev {what} the leaf hash of the record before ({prev_hex[:16]}…): "
            "the chain is broken here",
            seq,
            "link",
        )
    ts = record.get("ts")
    if type(ts) is not str or not RFC3339_UTC.match(ts):
        fault(f"ts {ts!r} is not RFC 3339 UTC with microseconds", seq)
    else:
        if ts < last_ts:
            fault(f"ts {ts} goes back before {last_ts}", seq)
        else:
            last_ts = ts
        if ts[0:4] + ts[5:7] + ts[8:10] != day:
            fault(f"record of day {ts[0:10]} in the file of day {day}", seq)
    event_id = record.get("event_id")
    if type(event_id) is not str or not EVENT_ID_PATTERN.match(event_id):
        fault("event_id missing or not a UUID", seq)
    kind = record.get("type")
    if kind not in _seen_types:
        if type(kind) is not str or not TYPE_PATTERN.match(kind):
            fault(f"type {kind!r} is not a dotted event type", seq)
        elif len(_seen_types) < 4096:
            _seen_types.add(kind)
    return last_ts


def _check_roots(
    size: int, root: bytes, expected: list[tuple[str, bytes]], check: _Checker
) -> None:
    for source, want in expected:
        if want != root:
            check.derived(
                f"the journal's Merkle root at size {size} differs from this signed checkpoint: "
                "history before it was altered or rewritten",
                source,
                0,
                size,
                root=True,
            )


def _check_journaled_rotations(
    rotations: list[tuple[Any, Any, str, int]], keys: _KeyRing, size: int, check: _Checker
) -> None:
    """A key rotation signed by both keys binds: from its size on, only the new key signs. The
    key history must list each one; a history that lacks a journaled rotation was removed or
    rewritten (by someone holding the retired, perhaps compromised, key), unless the rotation
    is the last record and the crash came before the writer stored the history."""
    listed = {(s.verifier, s.first) for s in keys.spans or ()}
    for seq, record, rel, lineno in rotations:
        data = record.get("data")
        try:
            rotation = open_rotation(str(data.get("note")) if isinstance(data, dict) else "", rel)
        except NoteError:
            continue  # not a verified rotation: vouches for nothing (the history check says so)
        if (rotation.new, rotation.size) in listed:
            continue
        if seq == size - 1:
            check.report.warnings.append(
                f"{rel}:{lineno} (seq {seq}): a key rotation to {rotation.new.vkey()} that a "
                "crash interrupted; opening the trail with the new key finishes it"
            )
            continue
        check.record(
            seq if type(seq) is int else 0,
            f"rotates the key to {rotation.new.vkey()} from size {rotation.size} (signed by "
            f"both keys), but {HISTORY_FILE} does not list that rotation: the key history was "
            "removed or rewritten, and records from there on may have been re-signed with the "
            "retired key",
            rel,
            lineno,
            seq if type(seq) is int else None,
        )


def _check_tile(
    root: Path,
    level: int,
    index: int,
    width: int,
    data: bytes,
    check: _Checker,
    lo: int,
    hi: int,
    signed: int,
    lagging: list[str],
    path: Path | None = None,
) -> None:
    """Compare a stored tile covering leaves [lo, hi) with the recomputed one. The writer
    writes every tile below a checkpoint before signing it; tiles beyond the latest signed
    size lag the journal after a crash or while it runs, so their absence is no fault."""
    path = path or root / tile_path(level, index, width)
    rel = f"{layout.TILES_DIR}/{tile_path(level, index, width)}"
    try:
        stored = path.read_bytes()
    except FileNotFoundError:
        if hi > signed:
            lagging.append(rel)
        else:
            check.derived(
                "tile missing (proofs need it; reopening the writer rebuilds it)", rel, lo, hi
            )
        return
    check.report.tiles_checked += 1
    if stored != data:
        if hi > signed and len(stored) != len(data):
            lagging.append(rel)  # cut short by a crash; rewritten when the writer reopens
        else:
            check.derived("tile differs from the hashes recomputed from the journal", rel, lo, hi)


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
                f"{layout.TILES_DIR}/{tile_path(level, index, width)}",
            )


def _check_extra_full_tiles(
    root: Path, size: int, home: Path, check: _Checker, live: bool
) -> list[str]:
    """Full tiles beyond the journal: a fault (tiles are written after the journal), unless a
    writer is running, which may have written them since verification started."""
    found = []
    level = 0
    count = size
    while True:
        first_missing = count // TILE_WIDTH
        path = root / tile_path(level, first_missing)
        if path.exists():
            rel = str(path.relative_to(home))
            if live:
                found.append(rel)
            else:
                check.derived(
                    f"full tile beyond the journal's {size} records (the journal was truncated?)",
                    rel,
                    0,
                    size + 1,
                    anchor=size,
                )
        if count == 0:
            break
        count >>= TILE_HEIGHT
        level += 1
    return found


def _altered(rec: _Rec, tile: bool, next_seq: int | None) -> Fault:
    """The fault that names an altered record by the commitments its leaf no longer matches."""
    if tile:
        what = f"the one committed in tiles/{tile_path(0, rec.pos // TILE_WIDTH)}"
        if next_seq is not None:
            what += f" and from the prev of the next record (seq {next_seq})"
    else:
        what = f"the prev of the next record (seq {next_seq})"
    return Fault(
        f"its leaf hash differs from {what}; the record was altered after it was written",
        rec.file,
        rec.line,
        rec.seq,
    )


def _group(
    check: _Checker,
    size: int,
    links: dict[int, tuple[_Rec, _Rec]],
    suspects: dict[int, _Rec],
    structural: int | None,
    shifted: int,
    roots: tuple[set[int], set[int]],
    located: dict[int, tuple[str, int, int | None]],
) -> list[tuple[tuple[int, int], Fault]]:
    """Turn the faults found into causes, each with the faults that follow from it: an
    altered record breaks the next prev, its tile and every later checkpoint; only the record
    is the cause. `roots` are the signed sizes whose roots matched and did not. Returns
    (sort key, cause) pairs."""
    matched, mismatched = roots
    by_pos: dict[int, list[_Raw]] = {}
    link_raw: dict[int, _Raw] = {}
    derived: list[_Raw] = []
    others: list[_Raw] = []
    for raw in check.raw:
        if raw.kind == "record" and raw.pos is not None:
            by_pos.setdefault(raw.pos, []).append(raw)
        elif raw.kind == "link" and raw.pos is not None:
            link_raw[raw.pos] = raw
        elif raw.kind == "derived":
            derived.append(raw)
        else:
            others.append(raw)
    causes: dict[int, Fault] = {}
    for pos, items in by_pos.items():
        causes[pos] = items[0].fault
        causes[pos].consequences.extend(i.fault for i in items[1:])

    def attach(pos: int, fault: Fault) -> None:
        if pos in causes:
            causes[pos].consequences.append(fault)
        else:
            causes[pos] = fault

    consumed: set[int] = set()
    for k in sorted(link_raw):
        if k in consumed:
            continue
        broken = link_raw[k].fault
        pair = links.get(k)
        if pair is None:  # the first record, or the first after pruned days
            attach(k, broken)
            continue
        a, b = pair
        a_tile = a.committed is not None and a.committed.hex() == b.prev
        if a.pos in causes or a_tile:
            if a.pos not in causes:
                causes[a.pos] = _altered(a, True, b.seq)
            suspects.pop(a.pos, None)
            causes[a.pos].consequences.append(broken)
        elif b.pos in causes:
            causes[b.pos].consequences.append(broken)
        elif k + 1 in link_raw and k + 1 in links:
            # its prev changed, and with it its own hash: the next link breaks too
            consumed.add(k + 1)
            tile = " and from its tile entry" if b.pos in suspects else ""
            causes[b.pos] = Fault(
                broken.message.replace(": the chain is broken here", "")
                + f"; its own leaf hash differs from the next record's prev{tile}: the record "
                "was altered after it was written",
                b.file,
                b.line,
                b.seq,
                [link_raw[k + 1].fault],
            )
            suspects.pop(b.pos, None)
        elif a.committed is not None and a.committed == a.leaf:
            causes[b.pos] = broken  # the record before is as committed: this prev was changed
        elif b.pos < size - 1:
            # the next link holds: this record is as written, so the one before was altered
            causes[a.pos] = _altered(a, False, b.seq)
            causes[a.pos].consequences.append(broken)
        else:
            broken.message += (
                " (the record before or this prev was altered; no stored tile says which)"
            )
            causes[b.pos] = broken
    first: int | None = None
    for pos in sorted(suspects):
        rec = suspects[pos]
        if pos in causes:
            continue
        if any(s > pos for s in matched):
            continue  # a signed root confirms the record: its tile is what differs
        if first is None:
            first = pos
            fault = _altered(rec, True, None)
            if not any(s > pos for s in mismatched):
                fault.message = fault.message.replace(
                    "; the record was altered after it was written",
                    "; no signed checkpoint covers it yet: the record or the tile was altered",
                )
            else:
                fault.message += " (every later prev was re-linked to hide it)"
            causes[pos] = fault
        else:
            causes[first].consequence_count += 1
    if structural is not None and shifted:
        cause = causes.get(structural)
        if cause is not None:
            cause.consequence_count += shifted
    # a cause that changes every later leaf: records moved, or every later prev re-linked
    sweeps = [p for p in (structural, first) if p is not None and p in causes]
    sweep = min(sweeps) if sweeps else None
    positions = sorted(causes)
    for raw in derived:
        index = bisect.bisect_left(positions, raw.lo)
        if index < len(positions) and positions[index] < raw.hi:
            causes[positions[index]].consequences.append(raw.fault)
            continue
        if sweep is not None and sweep < raw.hi:
            causes[sweep].consequences.append(raw.fault)  # every later leaf changed with it
            continue
        pos = raw.lo if raw.anchor is None else raw.anchor
        if raw.root:
            start = max((s for s in matched if s < raw.hi), default=0)
            pos = start
            where = located.get(start)
            raw.fault.message += (
                f"; the first altered record is between seq {start} and {raw.hi - 1}"
                + (f" (from {where[0]}:{where[1]})" if where else "")
                + ": every later prev and the tiles were rewritten to match, so no stored hash "
                "of the original says which"
            )
            raw.fault.seq = start
        causes[pos] = raw.fault
        bisect.insort(positions, pos)
    out = [((1, pos), fault) for pos, fault in causes.items()]
    for raw in others:
        out.append(((0 if raw.order < 1 << 40 else 2, raw.order), raw.fault))
    out.sort(key=lambda item: item[0])
    return out


def _finish_report(
    report: VerifyReport,
    check: _Checker,
    grouped: list[tuple[tuple[int, int], Fault]],
    wanted: _Range | None,
    max_faults: int,
) -> None:
    """Keep the causes within the range asked for, count them, and write the summary."""
    kept = []
    hi = wanted.last if wanted is not None else None
    for (phase, pos), fault in grouped:
        if hi is not None and phase == 1 and pos > hi:
            report.faults_outside_range += 1
            continue
        kept.append(fault)
    for fault in kept:
        if len(fault.consequences) > 20:
            fault.consequence_count += len(fault.consequences) - 20
            del fault.consequences[20:]
        fault.consequence_count += len(fault.consequences)
    report.fault_count = len(kept) + check.overflow
    report.consequence_count = sum(f.consequence_count for f in kept)
    report.faults = kept[:max_faults]
    if wanted is not None:
        report.range = {
            "from_seq": wanted.first,
            "to_seq": wanted.last,
            "from_ts": wanted.first_ts,
            "to_ts": wanted.last_ts,
        }
        if wanted.first is None:
            report.warnings.append("no record of the journal lies in the range asked for")
        report.records_checked = (
            wanted.last - wanted.first + 1
            if wanted.first is not None and wanted.last is not None
            else 0
        )
    else:
        report.records_checked = report.size
    if wanted is not None and wanted.first is not None:
        span = f"seq {wanted.first}..{wanted.last} ({wanted.first_ts} .. {wanted.last_ts})"
    elif wanted is not None:
        span = "no records in range"
    else:
        span = f"seq 0..{report.size - 1}" if report.size else "no records"
    verdict = "OK" if report.ok else f"{report.fault_count} FAULT(S)"
    extra = (
        f" (+{report.consequence_count} that follow from them)" if report.consequence_count else ""
    )
    outside = (
        f"; {report.faults_outside_range} fault(s) after the range not counted"
        if report.faults_outside_range
        else ""
    )
    report.summary = (
        f"{verdict}: {report.records_checked} records checked, {span}; "
        f"{report.fault_count} fault(s){extra}, {len(report.warnings)} warning(s){outside}; "
        f"whole trail: {report.size} records in {report.files} day files, "
        f"{report.checkpoints_checked} checkpoints (+{report.external_checkpoints_checked} "
        f"external), {report.tiles_checked} tiles"
    )


def _check_checkpoint_history(
    home: Path,
    size: int,
    day_ends: list[tuple[str, int]],
    signed_at: dict[int, str],
    keys: _KeyRing,
    check: _Checker,
) -> None:
    """Checkpoints the writer always signs, whose absence means they were deleted: the one
    at size 0 (signed when the trail is created), one at the end of every sealed day (signed
    when the day is sealed, before the next day's file exists), one at every size a level-0
    partial tile describes (the writer writes those just before signing), and the copy in
    checkpoints/ of the latest `checkpoint` (written before it). A checkpoint at a multiple
    of 256 records whose partial tiles were deleted with it leaves no trace: only a format
    that chains each checkpoint to the one before could show that."""
    latest = home / layout.CHECKPOINT_FILE
    try:  # before listing checkpoints/: a running writer writes checkpoints/<size> first
        current: Checkpoint | None = keys.open(latest.read_text(encoding="utf-8"))
    except (OSError, NoteError, CheckpointError, UnicodeDecodeError):
        current = None  # reported where the checkpoints are loaded
    cp_dir = home / layout.CHECKPOINTS_DIR
    names = (
        {int(p.name) for p in cp_dir.iterdir() if p.name.isdigit()} if cp_dir.is_dir() else set()
    )
    if not names and not latest.exists():
        if size:
            check.fault(
                f"the journal holds {size} records but there is no signed checkpoint at all "
                "(checkpoints/ and checkpoint are gone): a trail signs checkpoints/0 when it is "
                "created, so they were deleted, and nothing here is signed any more",
                f"{layout.CHECKPOINTS_DIR}/0",
            )
        return
    if 0 not in names:
        check.fault(
            "checkpoints/0 is missing: the writer signs it when it creates the trail, so it was "
            "deleted",
            f"{layout.CHECKPOINTS_DIR}/0",
        )
    top = max(names, default=0)
    for rel, end in day_ends[:-1]:
        if end and end not in names and end < top:
            check.derived(
                f"checkpoints/{end} is missing: the writer signs a checkpoint when it seals a "
                f"day, covering exactly its last record ({rel}), so it was deleted (or could "
                "not be written: the writer logs that error)",
                f"{layout.CHECKPOINTS_DIR}/{end}",
                end - 1,
                end + 1,
                anchor=end,
            )
    for end, tile in sorted(signed_at.items()):
        if end not in names and end < top:
            check.fault(
                f"checkpoints/{end} is missing: the writer signed a checkpoint at size {end} "
                f"(it wrote {tile} just before), so it was deleted (or could not be written: "
                "the writer logs that error)",
                f"{layout.CHECKPOINTS_DIR}/{end}",
            )
    if current is not None and current.size not in names:
        check.fault(
            f"checkpoint (size {current.size}) has no copy checkpoints/{current.size}: the "
            "writer writes that copy first, so it was deleted",
            "checkpoint",
        )
