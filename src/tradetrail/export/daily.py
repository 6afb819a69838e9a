"""The daily pack: everything an examiner needs about one UTC day, checkable offline.

`export_daily(home, "2024-03-04")` writes `<home>/exports/daily/2024-03-04/`:

    events.jsonl          the day's journal lines, byte for byte
    orders.csv ... corrections.csv, alerts.jsonl ... config.diff   derived (core/packtables.py)
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
of the day where it is rather than calling it "something else". Verifying is verify-pack's, a
sibling layer: the use case `tradetrail.compliance.export.export_daily` passes it in
(`check_pack`); without it an older pack is neither kept unverified nor overwritten.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

import orjson

from ..core import layout
from ..core.checkpoint import Checkpoint, open_checkpoint
from ..core.documents import DocumentError, Manifest, decode_manifest
from ..core.merkle import subtree_decomposition
from ..core.note import Signer, Verifier, parse_note, sign_note
from ..core.pack import (
    CHECKPOINT_FILE,
    EVENTS_FILE,
    FORMAT,
    FORMATS,
    HISTORY_FILE,
    MANIFEST_FILE,
    PROOFS_FILE,
    README_FILE,
    SIGNATURE_FILE,
    SUMS_FILE,
    build_manifest,
    embedded_document_ok,
    fold,
    format_name,
    format_version,
    manifest_bytes,
    parse_date,
    render_readme,
    sha256sums,
)
from ..core.packscan import ScanResult, read_blocks, run_passes
from ..core.packtables import (
    PACK_VERSION,
    PRETTY,
    DayTables,
    FileInfo,
)
from ..errors import ConfigError, NoteError, PackError, TrailCorruptError
from ..store.checkpoints import covering_checkpoint
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
from ..store.keyhistory import trail_keys
from ..store.keys import DEFAULT_KEY_FILE, VKEY_FILE, load_or_create_signer, read_vkey
from ..store.proofs import consistency_proof_json, inclusion_proof_json
from ..store.tilestore import TileStore
from ..writer.config import resolve as resolve_settings

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


_CONFIG_NEEDLES: Final = (b',"type":"config.snapshot"', b',"type":"config.changed"')


# ------------------------------------------------------------------------------ the day


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


_HEX64: Final = re.compile(r"[0-9a-f]{64}")


def stored_documents(home: Path) -> Callable[[str], Any]:
    """The loader of snapshot documents from `<home>/snapshots/<first 16 hex>.json`, each
    checked against its hash (tradetrail.compliance.snapshots stores them so)."""

    def load(digest: str) -> Any:
        if not _HEX64.fullmatch(digest):
            return None
        try:
            data = (home / layout.SNAPSHOTS_DIR / f"{digest[:16]}.json").read_bytes()
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


def frontier_hashes(home: Path, size: int) -> list[bytes]:
    """The compact range [0, size): the roots of its perfect subtrees, largest first."""
    store = TileStore(home / layout.TILES_DIR)
    return [store.node(h, i) for h, i in subtree_decomposition(0, size)]


def _config_lines_in(path: Path, limit: int | None = None) -> list[tuple[int, str, bytes]]:
    """(seq, type, line) of the config.snapshot and config.changed records of one day file
    (seq < limit when given), found by a byte search rather than by parsing every line."""
    found: dict[int, tuple[int, str, bytes]] = {}
    with open(path, "rb") as fh:
        for whole, lines in read_blocks(fh, None, split=False):
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
        for whole, lines in read_blocks(fh, None, split=False):
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
        pack = layout.daily_pack(home, f"{gone.day[:4]}-{gone.day[4:6]}-{gone.day[6:]}")
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
        for whole, lines in read_blocks(fh, None, split=False):
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
        pack = layout.daily_pack(home, f"{gone.day[:4]}-{gone.day[4:6]}-{gone.day[6:]}")
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


PackCheck = Callable[[Path, Sequence[Verifier]], Sequence[str]]
"""Checks a pack directory against the keys that may sign packs: its faults, none when it
verifies (verify-pack; `tradetrail.compliance.export` passes it to export_daily)."""


def _older_pack(
    existing: Path, new: Path, vkeys: Sequence[Verifier], check_pack: PackCheck | None
) -> Manifest | None:
    """The manifest of `existing` when it is the pack of the same day and records as `new` in
    an older pack format, and it verifies (`check_pack`, with the keys that may sign packs);
    None when it is no such pack. PackError when it is one that does not verify, or that
    cannot be checked (no `check_pack`)."""
    try:
        manifest = decode_manifest((existing / MANIFEST_FILE).read_bytes())
        made = decode_manifest((new / MANIFEST_FILE).read_bytes())
    except (OSError, DocumentError):
        return None
    version = format_version(manifest.format)
    if version is None or version >= PACK_VERSION:
        return None

    def events(m: Manifest) -> str | None:
        return next((f.sha256 for f in m.files if f.name == EVENTS_FILE), None)

    if (
        manifest.date != made.date
        or manifest.partial != made.partial
        or events(manifest) != events(made)
    ):
        return None
    made_date, old_format = made.date, manifest.format
    if check_pack is None:
        raise PackError(
            f"{existing} holds a pack of {made_date} in format {old_format}, which "
            "is kept only once verified and nothing here verifies it; not overwriting it (export "
            "with tradetrail.compliance.export.export_daily or `tradetrail export daily`, move "
            "it away, or choose another --out)"
        )
    found = check_pack(existing, vkeys)
    if found:
        faults = "; ".join(found)
        raise PackError(
            f"{existing} holds a pack of {made_date} in format {old_format} that does "
            f"not verify ({faults}); not overwriting it (run `tradetrail verify-pack`, move it "
            "away, or choose another --out)"
        )
    return manifest


def _install(
    tmp: Path,
    target: Path,
    replace_partial: bool,
    vkeys: Sequence[Verifier],
    check_pack: PackCheck | None,
) -> tuple[bool, Manifest | None]:
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
    older = _older_pack(target, tmp, vkeys, check_pack) if target.is_dir() else None
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
    check_pack: PackCheck | None = None,
) -> PackResult:
    """Write the daily pack of UTC day `day` (YYYY-MM-DD); see the module docstring.

    A sealed day gets a pack covered by the checkpoint signed at its seal: byte-identical
    whenever it is made. An open day is refused (PackError) unless `partial`, which packs the
    day's records up to the newest checkpoint and says so. A day before the trail's first
    record is refused unless `before_trail` (an exam range that starts before the trail, whose
    empty packs chain to the first). `check_pack` verifies a pack of the day in an older
    format found at the target, to keep it (see the module docstring). `today` (UTC) is for
    tests."""
    home = Path(home)
    day = parse_date(day)
    if not (home / JOURNAL_DIR).is_dir():
        raise ConfigError(f"{home} is not a trail (no journal/ directory)")
    if not before_trail:
        check_not_before_trail(home, day)
    vkey = read_vkey(home / VKEY_FILE)
    keys = trail_keys(home)  # a day sealed before a key rotation is signed by an earlier key
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
        cp_path = home / layout.CHECKPOINT_FILE
        if not cp_path.is_file():
            raise PackError(f"{home} has no signed checkpoint yet")
        cp_text = cp_path.read_text(encoding="utf-8")
        at_seal = False
    try:
        checkpoint = open_checkpoint(cp_text, keys)
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
            previous = open_checkpoint(prev[1], keys)
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
        else layout.daily_pack(home, f"{day}.partial" if partial else day)
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
        created, older = _install(
            tmp, target, replace_partial=partial, vkeys=keys, check_pack=check_pack
        )
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result.path = target
    result.created = created
    result.warnings = warnings
    if older is not None:
        _as_kept(result, older)
    return result


def _as_kept(result: PackResult, manifest: Manifest) -> None:
    """Describe the older pack left in place rather than the one made and dropped."""
    old = format_version(manifest.format)
    result.files = [FileInfo(f.name, f.sha256, f.size, f.rows) for f in manifest.files]
    result.first_seq = manifest.seq.first if manifest.seq is not None else None
    result.last_seq = manifest.seq.last if manifest.seq is not None else None
    result.checkpoint_size = manifest.checkpoint.size
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
    if (home / HISTORY_FILE).is_file():  # after a key rotation: what chains its keys
        files.append(_write(tmp, HISTORY_FILE, (home / HISTORY_FILE).read_bytes()))

    def manifest_for(listed: list[FileInfo]) -> Manifest:
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
