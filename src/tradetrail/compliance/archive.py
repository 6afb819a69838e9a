"""The archive: sealed days and what proves them, in object storage under WORM retention.

`push` uploads what is sealed and not yet archived, each object once, with its SHA-256 and an
Object Lock retention (COMPLIANCE by default) that lasts as long as the retention policy keeps
the day's records, plus an S3 legal hold on days a legal hold of the policy touches. It is
idempotent and resumable: an object already archived with the trail file's SHA-256 is skipped,
one that differs is a fault and is never overwritten (the server would keep both versions: an
archive holds one version per key, which `verify` checks). A day goes last, after the tiles and
checkpoints that prove it, so a push cut short never leaves a day that cannot be proven.

`verify` reads every archived object once and holds it against the local trail, or, with no
local trail, against the archived tiles and checkpoints and a verifier key the examiner brings.
`restore` brings a day back byte for byte and proves it the same way.
"""

from __future__ import annotations

import hashlib
import random
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from time import time_ns
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from ..core import layout
from ..core.checkpoint import open_checkpoint
from ..core.merkle import leaf_hash, node_hash, root_of_leaves
from ..core.note import Verifier
from ..core.tiles import TILE_HEIGHT, TILE_WIDTH, split_tile, tile_path
from ..errors import (
    ArchiveConflictError,
    ArchiveError,
    CheckpointError,
    JournalFormatError,
    NoteError,
    TileError,
)
from ..store.checkpoints import covering_checkpoint
from ..store.journal import ZERO_HASH, file_day, record_seq, tail_lines
from ..store.keyhistory import trail_keys
from ..store.objectstore import (
    KEYS_DIR,
    LOCK_MODES,
    Archived,
    LocalFile,
    ObjectStore,
    archive_rel,
    covering_size,
    day_rel,
    decode_object,
    encode_object,
    key_and_pack_files,
    proof_files,
    sealed_day_files,
    stored_checksum,
    trail_rel,
    write_restored,
)
from ..store.tilestore import TileStore
from .retention import UNCLASSIFIED, Policy, Tiers, day_terms

__all__ = [
    "DRILL_EVENT_TYPE",
    "EVENT_TYPE",
    "ArchiveReport",
    "DrillResult",
    "LifecycleResult",
    "PushResult",
    "lifecycle",
    "lifecycle_rules",
    "prove_day",
    "prove_records",
    "push",
    "record_drill",
    "record_push",
    "restore_day",
    "restore_drill",
    "verify_archive",
]

EVENT_TYPE: Final = "compliance.archive_pushed"
PARALLEL: Final = 8
"""Requests in flight at once: an object store answers each in milliseconds, most of which
is waiting, so tiles and pack files go up (and are read back by verify) eight at a time."""
NO_WORM_HINT: Final = (
    "create the bucket with Object Lock enabled (aws s3api create-bucket "
    "--object-lock-enabled-for-bucket), or pass --no-worm to archive without WORM retention"
)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def check_bucket(store: ObjectStore, *, worm: bool) -> None:
    """Refuse a bucket without Object Lock unless the user said --no-worm."""
    if worm and not store.lock_enabled():
        raise ArchiveError(
            f"{store.location.url}: the bucket {store.location.bucket!r} does not have Object "
            f"Lock enabled, so archived records could be rewritten or deleted; {NO_WORM_HINT}"
        )


@dataclass
class PushResult:
    location: str
    lock_mode: str
    uploaded: list[str] = field(default_factory=list)
    skipped: int = 0
    bytes: int = 0
    days: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    legal_holds: list[str] = field(default_factory=list)
    retain_until: str | None = None

    @property
    def ok(self) -> bool:
        return not self.conflicts

    def to_json(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "lock_mode": self.lock_mode,
            "ok": self.ok,
            "uploaded": len(self.uploaded),
            "skipped": self.skipped,
            "bytes": self.bytes,
            "days": self.days,
            "waiting": self.waiting,
            "conflicts": self.conflicts,
            "legal_holds": self.legal_holds,
            "retain_until": self.retain_until,
        }


def _last_seq(path: Path) -> int | None:
    lines, _ = tail_lines(path, 1)
    return record_seq(lines[-1], str(path)) if lines else None


def _support_until(policy: Policy, today: date) -> date | None:
    """Tiles, checkpoints, keys and packs serve every day: kept for the longest period."""
    return policy.expires(UNCLASSIFIED, today)


def push(
    home: Path,
    store: ObjectStore,
    policy: Policy,
    *,
    lock_mode: str = "COMPLIANCE",
    worm: bool = True,
    retain_days: int | None = None,
    storage_class: str | None = None,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> PushResult:
    """Upload every sealed, checkpointed day not yet archived and what proves it."""
    if lock_mode not in LOCK_MODES:
        raise ArchiveError(f"--mode: {lock_mode!r} is not one of {', '.join(LOCK_MODES)}")
    check_bucket(store, worm=worm)
    now = now or datetime.now(UTC)
    mode = lock_mode if worm else None
    result = PushResult(store.location.url, mode or "none")
    storage_class = storage_class or policy.tiers.warm_class
    existing = store.listing()
    fixed_until = now + timedelta(days=retain_days) if retain_days is not None else None
    support = _support_until(policy, now.date())
    support_until = fixed_until or (_midnight(support) if support else now + timedelta(36500))
    latest: datetime | None = None
    done: set[str] = set()
    lock = threading.Lock()

    def upload(item: LocalFile, until: datetime, hold: bool = False) -> bool:
        """Upload one file unless archived. An archived day or key is compared (the same:
        skipped; different: a conflict); an archived tile, checkpoint or pack file is skipped
        unread (write-once files: `archive verify` compares them)."""
        raw = item.path.read_bytes() if item.kind == "key" else None
        rel = archive_rel(item.trail_rel, raw or b"")
        with lock:
            if rel in done:
                return False
            done.add(rel)
        if rel in existing:
            if item.kind in ("day", "key"):
                _keep(store, rel, raw if raw is not None else item.path.read_bytes(), result)
            else:
                with lock:
                    result.skipped += 1
            return False
        raw = raw if raw is not None else item.path.read_bytes()
        # a date already past (a day archived after its retention ran out) is refused by S3:
        # such a day is kept a day more, its archive copy then following the policy
        until = max(until, now + timedelta(days=1))
        stored = encode_object(rel, raw)
        store.put(
            rel,
            stored,
            hashlib.sha256(raw).hexdigest(),
            lock_mode=mode,
            retain_until=until if mode else None,
            legal_hold=hold and mode is not None,
            storage_class=storage_class,
        )
        with lock:
            result.uploaded.append(rel)
            result.bytes += len(stored)
        if progress is not None:
            progress(rel)
        return True

    with ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="tt-archive") as pool:

        def upload_all(items: Iterable[LocalFile]) -> None:
            for _ in pool.map(lambda item: upload(item, support_until), items):
                pass

        upload_all(key_and_pack_files(home))
        for path in sealed_day_files(home):
            item = LocalFile(f"{layout.JOURNAL_DIR}/{path.name}", path, "day")
            last = _last_seq(path)
            size = covering_size(home, last + 1) if last is not None else None
            if size is None:
                result.waiting.append(item.trail_rel)  # no signed checkpoint covers it yet
                continue
            if day_rel(file_day(path)) in existing:
                upload(item, support_until)  # archived: only checked against the trail's bytes
                if policy.holds and mode is not None:
                    _hold_in_step(store, path, policy, result)
                continue
            upload_all(proof_files(home, size))  # what proves the day goes first
            terms = day_terms(path, policy)
            forever = terms.keep_until is None and fixed_until is None
            hold = bool(terms.holds) or forever
            if fixed_until is not None:
                until = fixed_until
            elif terms.keep_until is not None:
                until = _midnight(terms.keep_until)
            else:  # a class kept forever: the longest finite lock, and a legal hold
                until = support_until
            if upload(item, until, hold):
                result.days.append(item.trail_rel)
                latest = until if latest is None or until > latest else latest
                if hold:
                    result.legal_holds.append(terms.day)
    if latest is not None and mode:
        result.retain_until = latest.date().isoformat()
    return result


def _hold_in_step(store: ObjectStore, path: Path, policy: Policy, result: PushResult) -> None:
    """A hold added to the policy after a day was archived puts its S3 legal hold on. Lifting
    one is left to a person allowed to (the policy losing a hold does not lift it)."""
    terms = day_terms(path, policy)
    if not terms.holds:
        return
    rel = day_rel(terms.day)
    head = store.head(rel)
    if head is not None and not head.legal_hold:
        store.set_legal_hold(rel, True)
        result.legal_holds.append(terms.day)


def _keep(store: ObjectStore, rel: str, raw: bytes, result: PushResult) -> None:
    """An archived key: the same bytes are skipped, different ones are a fault (not overwritten)."""
    head = store.head(rel)
    want = hashlib.sha256(raw).hexdigest()
    if head is not None and head.raw_sha256 == want:
        result.skipped += 1
        return
    got = head.raw_sha256 if head is not None else "none"
    result.conflicts.append(
        f"{store.location.key(rel)}: archived object differs from the trail's file "
        f"(SHA-256 {got} archived, {want} local); not overwritten"
    )


def public_endpoint(endpoint_url: str | None) -> str | None:
    """The endpoint without any user:password part (never printed nor recorded)."""
    if not endpoint_url:
        return None
    parts = urlsplit(endpoint_url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def push_event(result: PushResult, endpoint: str | None) -> dict[str, Any]:
    """The data of the compliance.archive_pushed event of a push (the WORM copy on the
    record); `endpoint` as given: its credentials are left out."""
    days = [_day_of(rel) for rel in result.days]
    data: dict[str, Any] = {
        "location": result.location,
        "days": days,
        "objects": len(result.uploaded),
        "bytes": result.bytes,
        "lock_mode": result.lock_mode,
    }
    if result.retain_until:
        data["retain_until"] = result.retain_until
    if result.legal_holds:
        data["legal_holds"] = result.legal_holds
    shown = public_endpoint(endpoint)
    if shown:
        data["endpoint"] = shown
    return data


def record_push(home: Path, result: PushResult, endpoint: str | None) -> str:
    """Record the push as a compliance.archive_pushed event."""
    from ..writer.admin_events import record_admin_event

    return record_admin_event(home, EVENT_TYPE, push_event(result, endpoint)).describe()


def _day_of(rel: str) -> str:
    compact = Path(rel).name.removeprefix("audit-").split(".", 1)[0]
    return f"{compact[:4]}-{compact[4:6]}-{compact[6:]}"


# ------------------------------------------------------------------------------ the proof


NodeGetter = Callable[[int, int], bytes]


def prove_day(
    raw: bytes, proof_home: Path, verifiers: Sequence[Verifier], where: str
) -> tuple[int, int]:
    """Prove a day file's bytes against `proof_home`'s tiles and the smallest signed checkpoint
    in it covering the day (see prove_records). Returns (first seq, last seq)."""
    _, last, _ = _parse_day(raw, where)
    found = covering_checkpoint(proof_home, last + 1)
    if found is None:
        raise ArchiveError(f"{where}: no signed checkpoint covers seq {last}")
    tiles = TileStore(proof_home / layout.TILES_DIR)
    return prove_records(raw, found[1], tiles.node, verifiers, where)


def _parse_day(raw: bytes, where: str) -> tuple[int, int, list[bytes]]:
    if not raw.endswith(b"\n"):
        raise ArchiveError(f"{where}: the day file does not end with a newline (torn)")
    lines = raw[:-1].split(b"\n")
    try:
        first = record_seq(lines[0], where, 1)
        last = record_seq(lines[-1], where, len(lines))
    except JournalFormatError as exc:
        raise ArchiveError(f"{where}: {exc}") from None
    return first, last, lines


def prove_records(
    raw: bytes, checkpoint: str, node: NodeGetter, verifiers: Sequence[Verifier], where: str
) -> tuple[int, int]:
    """Prove a day file's bytes against a signed checkpoint: the seq run and the `prev` chain
    hold (the first `prev` against the tree's previous leaf), and the RFC 6962 root of the
    checkpoint's tree, with this day's leaf hashes in place and `node(height, index)` (tiles)
    for every other subtree, is the signed root. Returns (first seq, last seq); ArchiveError
    naming `where` and the record otherwise."""
    import orjson

    first, _, lines = _parse_day(raw, where)
    leaves: list[bytes] = []
    want = ZERO_HASH
    for i, line in enumerate(lines):
        try:
            record = orjson.loads(line)
            seq, prev = record["seq"], record["prev"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise ArchiveError(f"{where}: line {i + 1} is not a record with seq and prev") from None
        if seq != first + i:
            raise ArchiveError(f"{where}: line {i + 1} has seq {seq}, expected {first + i}")
        if i == 0 and first > 0:
            try:
                want = node(0, first - 1).hex()
            except TileError as exc:
                raise ArchiveError(
                    f"{where}: cannot read the leaf before seq {first}: {exc}"
                ) from None
        if prev != want:
            raise ArchiveError(f"{where}: seq {seq}: prev is not the leaf hash of seq {seq - 1}")
        leaf = leaf_hash(line)
        leaves.append(leaf)
        want = leaf.hex()
    last = first + len(leaves) - 1
    try:
        cp = open_checkpoint(checkpoint, verifiers)
    except (NoteError, CheckpointError) as exc:
        raise ArchiveError(f"{where}: the checkpoint does not verify: {exc}") from None
    try:
        root = _root_with(node, cp.size, first, leaves)
    except TileError as exc:
        raise ArchiveError(
            f"{where}: cannot rebuild the tree of checkpoint {cp.size}: {exc}"
        ) from None
    if root != cp.root:
        raise ArchiveError(
            f"{where}: records {first}..{last} are not the ones checkpoint {cp.size} signs "
            "(the Merkle root differs)"
        )
    return first, last


def _root_with(node: NodeGetter, size: int, first: int, leaves: list[bytes]) -> bytes:
    """MTH(D[0:size]) with leaves [first, first+len) from `leaves` and the rest from tiles."""
    end = first + len(leaves)

    def mth(lo: int, hi: int) -> bytes:
        n = hi - lo
        if lo >= first and hi <= end:
            return root_of_leaves(leaves[lo - first : hi - first])
        perfect = n & (n - 1) == 0 and lo % n == 0
        if perfect and (hi <= first or lo >= end):
            height = n.bit_length() - 1
            return node(height, lo >> height)
        k = 1 << ((n - 1).bit_length() - 1)
        return node_hash(mth(lo, lo + k), mth(lo + k, hi))

    if size < end:
        raise ArchiveError(f"checkpoint size {size} does not reach seq {end - 1}")
    return mth(0, size)


# ------------------------------------------------------------------------------ verify


@dataclass
class ArchiveReport:
    location: str
    objects: int = 0
    days: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.faults

    def to_json(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "ok": self.ok,
            "objects": self.objects,
            "days": self.days,
            "faults": self.faults,
            "notes": self.notes,
        }


def _checked_get(
    store: ObjectStore, rel: str, report: ArchiveReport
) -> tuple[bytes, Archived] | None:
    """GET one object and check its stored and raw SHA-256; None (with a fault) if they fail."""
    where = store.location.key(rel)
    try:
        stored, info = store.get(rel)
        raw = decode_object(rel, stored)
    except ArchiveError as exc:
        report.faults.append(str(exc))
        return None
    if info.checksum_sha256 is not None and info.checksum_sha256 != stored_checksum(stored):
        report.faults.append(f"{where}: stored bytes do not match their SHA-256 checksum")
        return None
    if info.raw_sha256 != hashlib.sha256(raw).hexdigest():
        report.faults.append(
            f"{where}: content does not match the SHA-256 recorded at push "
            f"({info.raw_sha256 or 'none recorded'})"
        )
        return None
    return raw, info


def _fetch_all(
    store: ObjectStore, rels: list[str], report: ArchiveReport
) -> Iterator[tuple[bytes, Archived] | None]:
    """GET and check objects PARALLEL at a time, in order, a bounded batch in memory."""
    batch = PARALLEL * 32
    with ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="tt-archive") as pool:
        for i in range(0, len(rels), batch):
            yield from pool.map(lambda rel: _checked_get(store, rel, report), rels[i : i + batch])


def verify_archive(
    store: ObjectStore,
    home: Path | None,
    verifiers: Sequence[Verifier] | None = None,
    *,
    worm: bool = True,
) -> ArchiveReport:
    """Read every archived object once and check it: one version per key, its checksums, its
    lock, equal to the local file where the trail still has it, and every day proven against
    a signed checkpoint (the local trail's, or the archive's own with the examiner's key)."""
    report = ArchiveReport(store.location.url)
    if home is not None:
        keys = list(verifiers) if verifiers else trail_keys(home)
    elif not verifiers:
        raise ArchiveError("verify without a local trail (--home) needs --vkey (the verifier key)")
    else:
        keys = list(verifiers)
    for rel, (versions, distinct, markers) in sorted(store.version_counts().items()):
        if distinct > 1 or markers:
            report.faults.append(
                f"{store.location.key(rel)}: {versions} versions ({distinct} different) and "
                f"{markers} delete markers (an archived object is written once: it was "
                "overwritten or deleted)"
            )
        elif versions > 1:
            report.notes.append(
                f"{store.location.key(rel)}: {versions} identical versions (a retried PUT)"
            )
    listing = sorted(store.listing())
    report.objects = len(listing)
    days = [r for r in listing if r.startswith(f"{layout.JOURNAL_DIR}/")]
    support = [r for r in listing if r not in days]
    with tempfile.TemporaryDirectory(prefix="tt-archive-") as scratch:
        proof_home = home if home is not None else Path(scratch)
        for got in _fetch_all(store, support, report):
            if got is None:
                continue
            raw, info = got
            rel = info.rel
            _check_lock(store, info, report, worm)
            local = home / trail_rel(rel) if home is not None else None
            if local is not None and local.is_file() and local.read_bytes() != raw:
                report.faults.append(
                    f"{store.location.key(rel)}: differs from the trail's {trail_rel(rel)}"
                )
            if home is None and not rel.startswith("keys/"):
                write_restored(proof_home, trail_rel(rel), raw)
        for rel in days:
            got = _checked_get(store, rel, report)
            if got is None:
                continue
            raw, info = got
            _check_lock(store, info, report, worm)
            where = store.location.key(rel)
            local = home / trail_rel(rel) if home is not None else None
            if local is not None and local.is_file() and local.read_bytes() != raw:
                report.faults.append(f"{where}: differs from the trail's {trail_rel(rel)}")
                continue
            try:
                prove_day(raw, proof_home, keys, where)
            except ArchiveError as exc:
                report.faults.append(str(exc))
                continue
            report.days.append(_day_of(rel))
    return report


def _check_lock(store: ObjectStore, info: Archived, report: ArchiveReport, worm: bool) -> None:
    if worm and (info.lock_mode is None or info.retain_until is None):
        report.faults.append(
            f"{store.location.key(info.rel)}: no Object Lock retention (it could be deleted)"
        )
    elif worm and info.retain_until is not None and info.retain_until < datetime.now(UTC):
        report.notes.append(
            f"{store.location.key(info.rel)}: retention ended {info.retain_until.date()}"
        )


# ------------------------------------------------------------------------------ restore


class ArchiveTiles:
    """The archive's tiles, read on demand: proving one day needs only the tiles of the
    subtrees beside it (the day's own leaves stand in for its level-0 tiles), so a restore
    reads a handful of objects, not the tree. Each tile read is checked like any object."""

    def __init__(self, store: ObjectStore, listing: set[str], report: ArchiveReport) -> None:
        self.store = store
        self.listing = listing
        self.report = report
        self.fetched: dict[str, bytes] = {}

    def _entries(self, level: int, index: int, needed: int) -> list[bytes]:
        full = f"{layout.TILES_DIR}/{tile_path(level, index)}"
        rel = full if full in self.listing else None
        if rel is None:
            partial_dir = full + ".p/"
            widths = sorted(
                int(k[len(partial_dir) :])
                for k in self.listing
                if k.startswith(partial_dir) and k[len(partial_dir) :].isdigit()
            )
            width = next((w for w in widths if w >= needed), None)
            if width is None:
                raise TileError(f"no archived tile holds {needed} entries", full)
            rel = f"{layout.TILES_DIR}/{tile_path(level, index, width)}"
        if rel not in self.fetched:
            got = _checked_get(self.store, rel, self.report)
            if got is None:
                raise TileError("; ".join(self.report.faults[-1:]), rel)
            self.fetched[rel] = got[0]
        return split_tile(self.fetched[rel], rel)

    def node(self, height: int, index: int) -> bytes:
        level, rest = divmod(height, TILE_HEIGHT)
        start, end = index << rest, (index + 1) << rest
        tile_index = start // TILE_WIDTH
        entries = self._entries(level, tile_index, end - tile_index * TILE_WIDTH)
        chunk = entries[start - tile_index * TILE_WIDTH : end - tile_index * TILE_WIDTH]
        return chunk[0] if rest == 0 else root_of_leaves(chunk)


def restore_day(
    store: ObjectStore,
    day: str,
    dest: Path,
    *,
    home: Path | None = None,
    verifiers: Sequence[Verifier] | None = None,
) -> tuple[Path, int, int]:
    """Bring the day file of `day` back into `dest/journal/` byte for byte, with the checkpoint
    and the tiles that prove it and the archived keys, and prove it (against `verifiers`, else
    the local trail's keys). Returns (path, first seq, last seq)."""
    rel = day_rel(day)
    where = store.location.key(rel)
    if home is not None:
        keys = list(verifiers) if verifiers else trail_keys(home)
    elif verifiers:
        keys = list(verifiers)
    else:
        raise ArchiveError("restore without a local trail (--home) needs --vkey")
    report = ArchiveReport(store.location.url)
    got = _checked_get(store, rel, report)
    if got is None:
        raise ArchiveError("; ".join(report.faults))
    raw = got[0]
    _, last, _ = _parse_day(raw, where)
    listing = set(store.listing())
    sizes = [
        int(name)
        for k in listing
        if k.startswith(f"{layout.CHECKPOINTS_DIR}/")
        and (name := k.rsplit("/", 1)[1]).isdigit()
        and int(name) > last
    ]
    if not sizes:
        raise ArchiveError(f"{where}: no archived checkpoint covers seq {last}")
    cp_rel = f"{layout.CHECKPOINTS_DIR}/{min(sizes)}"
    support = [cp_rel, *sorted(k for k in listing if k.startswith(f"{KEYS_DIR}/"))]
    fetched: dict[str, bytes] = {}
    for other in support:
        item = _checked_get(store, other, report)
        if item is not None:
            fetched[other] = item[0]
    if report.faults:
        raise ArchiveConflictError("; ".join(report.faults))
    tiles = ArchiveTiles(store, listing, report)
    first, last = prove_records(raw, fetched[cp_rel].decode("utf-8"), tiles.node, keys, where)
    for other, data in [*fetched.items(), *tiles.fetched.items()]:
        write_restored(dest, trail_rel(other), data)
    path = write_restored(dest, trail_rel(rel), raw)
    return path, first, last


# ------------------------------------------------------------------------------ the drill

DRILL_EVENT_TYPE: Final = "compliance.restore_drill"


@dataclass
class DrillResult:
    location: str
    days: list[str] = field(default_factory=list)
    passed: int = 0
    faults: list[str] = field(default_factory=list)
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return not self.faults and self.passed == len(self.days)

    def to_json(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "ok": self.ok,
            "days": self.days,
            "passed": self.passed,
            "failed": len(self.days) - self.passed,
            "faults": self.faults,
            "duration_ms": self.duration_ms,
        }


def restore_drill(
    store: ObjectStore,
    *,
    sample: int,
    home: Path | None = None,
    verifiers: Sequence[Verifier] | None = None,
    rng: random.Random | None = None,
) -> DrillResult:
    """Restore `sample` archived days picked at random into a scratch directory, prove each,
    and compare it with the trail's file where the trail still has it."""
    started = time_ns()
    result = DrillResult(store.location.url)
    archived = sorted(
        rel for rel in store.listing(f"{layout.JOURNAL_DIR}/") if rel.endswith(".jsonl.zst")
    )
    if not archived:
        raise ArchiveError(f"{store.location.url}: no archived day to restore")
    picked = sorted((rng or random.SystemRandom()).sample(archived, min(sample, len(archived))))
    with tempfile.TemporaryDirectory(prefix="tt-drill-") as scratch:
        for rel in picked:
            day = _day_of(rel)
            result.days.append(day)
            try:
                path, _, _ = restore_day(
                    store, day, Path(scratch) / day, home=home, verifiers=verifiers
                )
            except ArchiveError as exc:
                result.faults.append(str(exc))
                continue
            local = home / trail_rel(rel) if home is not None else None
            if local is not None and local.is_file() and local.read_bytes() != path.read_bytes():
                result.faults.append(f"{day}: the restored file differs from {local}")
                continue
            result.passed += 1
    result.duration_ms = (time_ns() - started) // 1_000_000
    return result


def record_drill(home: Path, result: DrillResult) -> str:
    """Record the drill as a compliance.restore_drill event (pass or fail: both are evidence)."""
    from ..writer.admin_events import record_admin_event

    data: dict[str, Any] = {
        "location": result.location,
        "days": result.days,
        "passed": result.passed,
        "failed": len(result.days) - result.passed,
        "duration_ms": result.duration_ms,
    }
    if result.faults:
        data["faults"] = result.faults
    return record_admin_event(home, DRILL_EVENT_TYPE, data).describe()


# ------------------------------------------------------------------------------ tiers

RULE_ID_PREFIX: Final = "tradetrail-tiers"


def lifecycle_rules(store: ObjectStore, tiers: Tiers) -> list[dict[str, Any]]:
    """The bucket lifecycle rule of the policy's tiers for this archive's prefix: objects go
    to the cold class `cold_after` their upload (they stay locked there: a transition changes
    the storage class, never the retention)."""
    prefix = store.location.prefix
    return [
        {
            "ID": f"{RULE_ID_PREFIX}:{prefix or '/'}"[:255],
            "Filter": {"Prefix": prefix},
            "Status": "Enabled",
            "Transitions": [{"Days": tiers.cold_after_days(), "StorageClass": tiers.cold_class}],
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        }
    ]


def _shape(rule: dict[str, Any]) -> dict[str, Any]:
    """What a rule means, whatever shape the server gives it back in."""
    prefix = rule.get("Filter", {}).get("Prefix", rule.get("Prefix", ""))
    transitions = sorted(
        (int(t.get("Days", -1)), str(t.get("StorageClass"))) for t in rule.get("Transitions", [])
    )
    abort = rule.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation")
    return {
        "id": rule.get("ID"),
        "prefix": prefix,
        "status": rule.get("Status"),
        "transitions": transitions,
        "abort_days": abort,
        "expires": "Expiration" in rule or "NoncurrentVersionExpiration" in rule,
    }


@dataclass
class LifecycleResult:
    location: str
    wanted: list[dict[str, Any]]
    found: list[dict[str, Any]]
    written: bool

    @property
    def ok(self) -> bool:
        return [_shape(r) for r in self.found] == [_shape(r) for r in self.wanted]

    def to_json(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "ok": self.ok,
            "written": self.written,
            "wanted": self.wanted,
            "found": self.found,
        }


def lifecycle(store: ObjectStore, tiers: Tiers, *, write: bool = True) -> LifecycleResult:
    """Write the tiers' lifecycle rule (keeping the bucket's other rules), read the rules back
    and compare; with write=False only read and compare."""
    wanted = lifecycle_rules(store, tiers)
    ours = {rule["ID"] for rule in wanted}
    current = store.get_lifecycle()
    if write:
        store.put_lifecycle([r for r in current if r.get("ID") not in ours] + wanted)
        current = store.get_lifecycle()
    found = [r for r in current if r.get("ID") in ours]
    return LifecycleResult(store.location.url, wanted, found, write)
