"""What opening a trail does to find and check its state on disk before the writer signs
anything: the latest checkpoint, the clean-close mark, the journal's tail after a crash (a torn
last line is quarantined; unsigned records are checked line by line), and the Merkle tree
restored from the stored tiles plus the journal."""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import itertools
import logging
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final

import orjson

from ..core import layout
from ..core.canonical import EVENT_ID_PATTERN, SORT, TYPE_PATTERN, is_canonical
from ..core.checkpoint import Checkpoint, open_checkpoint
from ..core.closemark import (
    CLOSED_FILE,
    ClosedMark,
    read_closed_mark,
    records_after_close,
    sign_closed_mark,
)
from ..core.merkle import Frontier, range_hash, root_of_leaves, subtree_decomposition
from ..core.tiles import TILE_HEIGHT, TILE_WIDTH, TileBuilder
from ..core.timefmt import RFC3339_UTC, format_ns, parse_ts
from ..errors import CheckpointError, JournalFormatError, NoteError, TileError, TrailCorruptError
from ..store import journal
from ..store.journal import ZERO_HASH, journal_files
from ..store.keys import VKEY_FILE, read_vkey
from ..store.tilestore import write_atomic
from .state import CHECKPOINT_FILE, CHECKPOINTS_DIR, WriterState

logger = logging.getLogger("tradetrail")

TILES_DIR: Final = layout.TILES_DIR
QUARANTINE_DIR: Final = layout.QUARANTINE_DIR
TAIL_CLOCK_TOLERANCE_NS: Final = 3600 * 1_000_000_000
"""How far past the opening writer's clock a crash tail's last ts may lie (a clock stepped back
after a reboot); later than that, the tail is refused rather than signed and continued."""
MAX_NAMED: Final = 10
"""Records named in a refusal; the count covers the rest."""


class RecoveryMixin(WriterState):
    """The state of a Trail found, checked and restored from disk."""

    def _remove_stale_temp_files(self) -> None:
        """A writer killed inside an atomic write leaves `.<name>.<pid>.tmp` behind; we hold the
        lock, so none of them belongs to a live writer."""
        found = [*self.home.glob(".*.tmp"), *(self.home / CHECKPOINTS_DIR).glob(".*.tmp")]
        for dirpath, _dirs, names in os.walk(self.home / TILES_DIR):
            found.extend(
                Path(dirpath) / n for n in names if n.startswith(".") and n.endswith(".tmp")
            )
        for path in found:
            with contextlib.suppress(OSError):
                path.unlink()

    def _read_latest_checkpoint_body(self) -> Checkpoint | None:
        """The newest signed checkpoint: `checkpoint`, or a newer `checkpoints/<n>` (a crash
        between the two writes). A trail signs `checkpoints/0` when it is created, so records
        without it are refused: whoever deleted the checkpoints must not get them re-signed."""
        path = self.home / CHECKPOINT_FILE
        cp_dir = self.home / CHECKPOINTS_DIR
        sizes = sorted(
            int(p.name)
            for p in cp_dir.iterdir()
            if p.name.isdigit() and p.name.isascii() and str(int(p.name)) == p.name
        )
        if 0 not in sizes and self._journal_has_records():
            held = f"holds {len(sizes)} other checkpoint(s)" if sizes else "is empty"
            raise TrailCorruptError(
                f"the journal holds records but {cp_dir / '0'} is missing ({cp_dir} {held}): "
                "every trail signs checkpoints/0 when it is created, so checkpoints were "
                "deleted. The writer will not sign records that no checkpoint covers: restore "
                f"{cp_dir}/ and {path} from a backup or an auditor's copy, then run "
                "`tradetrail verify`"
            )
        candidates = ([path] if path.exists() else []) + (
            [cp_dir / str(sizes[-1])] if sizes else []
        )
        if not candidates:
            return None
        vkey_path = self.home / VKEY_FILE
        if not vkey_path.exists():
            raise TrailCorruptError(f"{candidates[0]} exists but {vkey_path} is missing")
        verifier = read_vkey(vkey_path)
        latest: Checkpoint | None = None
        for candidate in candidates:
            try:
                cp = open_checkpoint(candidate.read_text(), [verifier])
            except (NoteError, CheckpointError) as exc:
                raise TrailCorruptError(
                    f"{candidate}: the latest checkpoint does not verify with {vkey_path}: {exc}"
                ) from None
            if latest is not None and cp.origin != latest.origin:
                raise TrailCorruptError(
                    f"{candidate} is for origin {cp.origin!r}, {path} for {latest.origin!r}"
                )
            if latest is None or cp.size > latest.size:
                latest = cp
        return latest

    def _journal_has_records(self) -> bool:
        """Any journal bytes (a torn first line included) or a day pruned under retention."""
        if any(p.stat().st_size for p in journal_files(self.home)):
            return True
        return (self.home / journal.PRUNED_FILE).exists()

    def _read_closed_mark(self) -> ClosedMark | None:
        """The signed mark of a clean close. One that does not verify proves nothing (anyone
        could also delete it): it is set aside and the tail is checked as a crash tail."""
        self._bad_mark = False
        try:
            return read_closed_mark(self.home, [self.verifier], origin=self.origin)
        except (NoteError, CheckpointError) as exc:
            self._bad_mark = True
            logger.warning(
                "%s; it is set aside into %s/ and records after the latest checkpoint, if any, "
                "are checked as a crash would leave them",
                exc,
                QUARANTINE_DIR,
            )
            return None

    def _remove_closed_mark(self) -> None:
        """Durably drop the clean-close mark before anything is written: a crash of this
        writer must leave a tail that is checked as a crash tail, not refused."""
        path = self.home / CLOSED_FILE
        try:
            if self._bad_mark:  # kept: it may be evidence
                qdir = self.home / QUARANTINE_DIR
                qdir.mkdir(exist_ok=True)
                os.replace(path, qdir / f"{CLOSED_FILE}.{time.time_ns()}.invalid")
                journal.fsync_dir(qdir)
            else:
                path.unlink()
        except FileNotFoundError:
            return
        journal.fsync_dir(self.home)

    def _write_closed_mark(self) -> None:
        """Sign `closed` when everything journaled is under the final checkpoint."""
        if (
            self._degraded is not None
            or self._needs_rescan
            or self._unsynced
            or self._size != self._last_cp_size
        ):
            return
        mark = ClosedMark(self.origin, self._size, self._frontier.root())
        text = sign_closed_mark(mark, self.signer)
        write_atomic(self.home / CLOSED_FILE, text.encode(), sync=True)

    def _quarantine(self, path: Path, good: int, torn: bytes) -> None:
        qdir = self.home / QUARANTINE_DIR
        qdir.mkdir(exist_ok=True)
        ns = time.time_ns()
        name = f"{path.name}.{good}.{ns}.torn"
        write_atomic(qdir / name, torn, sync=True)
        report = {
            "at": self._fmt.format(ns),
            "file": f"{journal.JOURNAL_DIR}/{path.name}",
            "offset": good,
            "bytes": len(torn),
            "sha256": hashlib.sha256(torn).hexdigest(),
            "saved_as": f"{QUARANTINE_DIR}/{name}",
            "reason": "torn last line: a write cut short by a crash; it was never acknowledged",
        }
        with builtins.open(qdir / "quarantine.jsonl", "ab") as fh:
            fh.write(orjson.dumps(report, option=SORT | orjson.OPT_APPEND_NEWLINE))
            fh.flush()
            os.fsync(fh.fileno())
        mode = path.stat().st_mode
        if not mode & 0o200:
            os.chmod(path, mode | 0o200)
        with builtins.open(path, "r+b") as fh:
            fh.truncate(good)
            os.fsync(fh.fileno())
        if not mode & 0o200:
            os.chmod(path, mode)
        self._counters["quarantined"] += 1
        logger.warning(
            "quarantined a torn last line of %s (%d bytes at offset %d) into %s",
            path,
            len(torn),
            good,
            qdir / name,
        )

    def _load_state(self, signed: int | None = None, mark: ClosedMark | None = None) -> None:
        """Resume from disk: quarantine a torn tail, find the last record, rebuild the Merkle
        frontier and tile buffers from stored tiles plus the journal's tail.

        At open, `signed` is the latest signed checkpoint's size and `mark` the clean-close
        mark: records beyond the mark are refused, and records beyond `signed` after a crash
        are checked before anything signs them; both are rehashed from the journal."""
        files = journal_files(self.home)
        while files and files[-1].stat().st_size == 0:
            logger.warning("removing empty journal file %s left by an interrupted start", files[-1])
            files.pop().unlink()
        self._size = 0
        self._prev = ZERO_HASH
        self._last_ns = 0
        self._frontier = Frontier()
        self._tile_builder = TileBuilder()
        if not files:
            if mark is not None:
                self._refuse_after_close(mark, 0)
            return
        last_file = files[-1]
        good, torn = journal.torn_tail(last_file)
        if torn:
            self._quarantine(last_file, good, torn)
            if good == 0:
                last_file.unlink()
                self._load_state(signed, mark)
                return
        lines, _ = journal.tail_lines(last_file, 1)
        last = journal.parse_record(lines[0], str(last_file))
        seq, ts = last.get("seq"), last.get("ts")
        if type(seq) is not int or type(ts) is not str:
            raise TrailCorruptError(f"{last_file}: last record has no valid seq/ts; run verify")
        size = seq + 1
        if mark is not None:
            self._refuse_after_close(mark, size)
            signed = mark.size
        elif signed is not None and size > signed:
            self._check_crash_tail(signed)
        try:
            self._last_ns = parse_ts(ts)
        except ValueError as exc:
            raise TrailCorruptError(f"{last_file}: last record: {exc}; run verify") from None
        self._restore_tree(size, files, signed)
        if self._size != size:
            raise TrailCorruptError(f"rebuilt {self._size} records, expected {size}")

    def _numbered_lines(self, seq: int) -> Iterator[tuple[Path, int, bytes]]:
        """(day file, line number, line) of every complete journal line from record `seq` on."""
        pos, current, lineno = seq, None, 0
        for path, line in journal.lines_from_seq(self.home, seq):
            if path != current:
                current = path
                first = journal.first_seq(path)
                lineno = pos - first + 1 if first is not None and first <= pos else 1
            yield path, lineno, line
            pos += 1
            lineno += 1

    def _refuse_after_close(self, mark: ClosedMark, size: int) -> None:
        """Everything up to the mark was signed before the writer closed: anything after it was
        added by someone else, and is named, never signed. (A line ending exactly at the
        mark's size is the common case; any line slipped in before it breaks the seq chain,
        which rebuilding the tree checks.)"""
        if size == mark.size:
            return
        extra = list(itertools.islice(self._numbered_lines(mark.size), MAX_NAMED))
        count = sum(1 for _ in self._numbered_lines(mark.size)) if extra else 0
        problem = records_after_close(mark, mark.size + count if extra else size)
        if problem is None:
            return
        named = []
        for path, lineno, line in extra:
            try:
                record = journal.parse_record(line)
                what = f"seq {record.get('seq')!r}, event_id {record.get('event_id')!r}"
            except JournalFormatError:
                what = "not a JSON record"
            named.append(f"{journal.JOURNAL_DIR}/{path.name}:{lineno} ({what})")
        more = f" and {count - len(extra)} more" if count > len(extra) else ""
        where = f": {'; '.join(named)}{more}" if named else ""
        raise TrailCorruptError(
            f"{problem}{where}. The writer neither signs nor extends them: keep the trail as "
            "evidence, run `tradetrail verify`, and restore the journal from a backup (or set "
            "the named lines aside) before reopening"
        )

    def _check_crash_tail(self, signed: int) -> None:
        """Records after the latest signed checkpoint when the trail was not closed cleanly: a
        crash leaves them, and the writer signs them, but only when they are exactly what a
        writer writes (chain, seq, ts order, canonical form). They prove nothing more than
        their own consistency: only a checkpoint kept elsewhere can vouch for them."""
        problems: list[str] = []
        expected, prev, last_ns = signed, ZERO_HASH, 0
        now = self._clock()
        anchor = signed > 0  # the signed record before the tail: its hash and time go on
        if anchor and journal.pruned_days(self.home):
            with contextlib.suppress(TileError, OSError, ValueError):
                prev = self.tiles.node(0, signed - 1).hex()
        files = journal_files(self.home)
        newest = files[-1] if files else None
        sealed: str | None = None  # where the tail reaches into a day that was sealed
        for path, lineno, line in self._numbered_lines(max(signed - 1, 0)):
            leaf = hashlib.sha256(b"\x00" + line).hexdigest()
            try:
                record: Any = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                record, bad = None, f"not valid JSON ({exc})"
            if anchor:
                anchor = False
                if type(record) is dict and record.get("seq") == signed - 1:
                    prev = leaf
                    ts = record.get("ts")
                    with contextlib.suppress(TypeError, ValueError):
                        last_ns = parse_ts(ts) if type(ts) is str else 0
                    continue
            if record is not None:
                bad, ns = _tail_problem(record, line, expected, prev, last_ns, now, path)
                last_ns = max(last_ns, ns)
            if path != newest and sealed is None:
                sealed = f"{journal.JOURNAL_DIR}/{path.name}:{lineno} (seq {expected})"
            if bad:
                where = f"{journal.JOURNAL_DIR}/{path.name}:{lineno} (seq {expected})"
                problems.append(f"{where}: {bad}")
                if len(problems) >= MAX_NAMED:
                    break
            expected += 1
            prev = leaf
        if sealed is not None:  # a writer signs each day's last record when it seals the day
            problems.insert(
                0,
                f"{sealed} and what follows: records of a finished day that no checkpoint "
                "covers, although the writer signs one when it seals a day (checkpoints were "
                "deleted, or one failed to be written then: see the writer's log)",
            )
        if problems:
            raise TrailCorruptError(
                f"the record(s) after the latest signed checkpoint (size {signed}) are not what "
                "a crashed writer leaves behind, so the writer will not sign them: "
                + "; ".join(problems)
                + ". Run `tradetrail verify`; keep the trail as evidence and restore the journal "
                "from a backup (or set the named lines aside) before reopening"
            )

    def _entries(self, level: int, start: int, end: int) -> list[bytes]:
        """Tile entries [start, end) at `level` from stored full tiles, computing entries of an
        unfinished tile from the full tiles one level down."""
        out: list[bytes] = []
        i = start
        while i < end:
            tile_index = i // TILE_WIDTH
            stop = min(end, (tile_index + 1) * TILE_WIDTH)
            if self.tiles.exists(level, tile_index):
                data = self.tiles.read_entries(level, tile_index, TILE_WIDTH)
                out.extend(data[i - tile_index * TILE_WIDTH : stop - tile_index * TILE_WIDTH])
            elif level > 0:
                for j in range(i, stop):
                    out.append(root_of_leaves(self.tiles.read_entries(level - 1, j, TILE_WIDTH)))
            else:
                raise TileError("level-0 tile missing", f"tile/0/{tile_index}")
            i = stop
        return out

    def _tiles_complete_for(self, size: int) -> bool:
        level = 0
        count = size
        while count:
            full = count // TILE_WIDTH
            if full and not self.tiles.is_complete(level, full - 1):
                return False
            count >>= TILE_HEIGHT
            level += 1
        return True

    def _restore_tree(self, size: int, files: list[Path], signed: int | None = None) -> None:
        """`signed`: records from there on are rehashed from the journal, never taken from
        tiles, so that what gets signed is what the journal holds."""
        start = (min(size, size if signed is None else signed) // TILE_WIDTH) * TILE_WIDTH
        while start and not self._tiles_complete_for(start):
            start -= TILE_WIDTH
        frontier_nodes = []
        builder = TileBuilder()
        try:
            for height, index in subtree_decomposition(0, start) if start else []:
                level, rest = divmod(height, TILE_HEIGHT)
                entries = self._entries(level, index << rest, (index + 1) << rest)
                frontier_nodes.append(entries[0] if rest == 0 else root_of_leaves(entries))
            level, count = 0, start
            while count:
                full_start = (count // TILE_WIDTH) * TILE_WIDTH
                builder.restore_level(level, count, self._entries(level, full_start, count))
                count >>= TILE_HEIGHT
                level += 1
        except (TileError, OSError, ValueError) as exc:
            logger.warning("stored tiles unusable (%s); rebuilding them from the journal", exc)
            start, frontier_nodes, builder = 0, [], TileBuilder()
        self._frontier = Frontier(start, frontier_nodes)
        self._tile_builder = builder
        self._size = start
        self._prev = ZERO_HASH
        if start == size:
            lines, _ = journal.tail_lines(files[-1], 1)
            self._prev = hashlib.sha256(b"\x00" + lines[0]).hexdigest()
            return
        last_first = journal.first_seq(files[-1])
        if last_first is not None and last_first <= start - 1:
            lines, _ = journal.tail_lines(files[-1], size - start + 1)
            source: Iterable[bytes] = lines
        else:
            source = (line for _, line in journal.lines_from_seq(self.home, max(start - 1, 0)))
        if start and journal.pruned_days(self.home):  # seq start-1 may be in a pruned day
            self._prev = self.tiles.node(0, start - 1).hex()
        for line in source:
            record = journal.parse_record(line)
            seq = record.get("seq")
            if type(seq) is not int or seq < start - 1:
                continue
            leaf = hashlib.sha256(b"\x00" + line).digest()
            if seq == start - 1:
                self._prev = leaf.hex()
                continue
            if seq > self._size and journal.pruned_gap(
                journal.pruned_days(self.home), self._size, seq
            ):  # days removed under retention: their leaf hashes are in the tiles
                for pruned_seq in range(self._size, seq):
                    self._append_leaf(self.tiles.node(0, pruned_seq))
            if seq != self._size or record.get("prev") != self._prev:
                raise TrailCorruptError(
                    f"journal breaks at seq {seq} (expected seq {self._size} chained to "
                    f"{self._prev[:16]}...); run `tradetrail verify`"
                )
            self._append_leaf(leaf)
        self._write_pending_tiles()

    def _append_leaf(self, leaf: bytes) -> None:
        nodes = self._frontier.append(leaf)
        self._pending_tiles.extend(self._tile_builder.add(nodes))
        self._prev = leaf.hex()
        self._size += 1

    def _write_pending_tiles(self) -> None:
        pending = self._pending_tiles
        while pending:
            level, index, data = pending[0]
            self.tiles.write(level, index, data)
            self._counters["tiles_written"] += 1
            pending.pop(0)

    def _write_partial_tiles(self) -> None:
        self._write_pending_tiles()
        for level, index, _width, data in self._tile_builder.partial_tiles():
            # fsynced: a checkpoint is about to refer to them, and only the newest are rewritten
            self.tiles.write(level, index, data, sync=True)

    def _root_at(self, size: int) -> bytes:
        if size == self._size:
            return self._frontier.root()
        node = self._node_for_check
        return range_hash(0, size, node) if size else hashlib.sha256(b"").digest()

    def _node_for_check(self, height: int, index: int) -> bytes:
        level, rest = divmod(height, TILE_HEIGHT)
        start, end = index << rest, (index + 1) << rest
        if level < len(self._tile_builder._counts):
            done = self._tile_builder._counts[level] - len(self._tile_builder.entries(level))
            if start >= done:
                entries = self._tile_builder.entries(level)[start - done : end - done]
                return entries[0] if rest == 0 else root_of_leaves(entries)
        return self.tiles.node(height, index)

    def _check_against_checkpoint(self, checkpoint: Checkpoint | None) -> None:
        if checkpoint is None:
            return
        if checkpoint.size > self._size:
            raise TrailCorruptError(
                f"the journal holds {self._size} records but the signed checkpoint covers "
                f"{checkpoint.size}: records were removed; run `tradetrail verify`"
            )
        try:
            root = self._root_at(checkpoint.size)
        except (TileError, OSError, ValueError) as exc:
            raise TrailCorruptError(
                f"cannot recompute the root at the signed checkpoint ({exc}); run verify"
            ) from None
        if root != checkpoint.root:
            raise TrailCorruptError(
                f"the journal does not match its signed checkpoint at size {checkpoint.size}: "
                "history was altered; run `tradetrail verify`"
            )

    def _seal_stale_days(self, today: str) -> bool:
        """Make finished days read-only; True when any day file exists before `today`."""
        past = False
        for path in journal_files(self.home):
            day = journal.file_day(path)
            if day < today:
                past = True
                if path.stat().st_mode & 0o222:
                    self._make_read_only(path)
                    logger.info("sealed %s (its day ended while no writer ran)", path.name)
        return past


def _tail_problem(
    record: Any, line: bytes, seq: int, prev: str, last_ns: int, now: int, path: Path
) -> tuple[str, int]:
    """What makes one unsigned record other than the writer's next record ("" if nothing),
    and its time in ns (0 when unreadable)."""
    if type(record) is not dict:
        return "not a JSON object", 0
    bad: list[str] = []
    if not is_canonical(line, record):
        bad.append("not in canonical form (keys, spacing or number form changed)")
    if record.get("seq") != seq or type(record.get("seq")) is not int:
        bad.append(f"seq {record.get('seq')!r} where {seq} was expected")
    if record.get("prev") != prev:
        bad.append(f"prev does not chain to the record before ({prev[:16]}...)")
    ts, ns = record.get("ts"), 0
    if type(ts) is not str or not RFC3339_UTC.match(ts):
        bad.append(f"ts {ts!r} is not RFC 3339 UTC")
    else:
        ns = parse_ts(ts)
        if ns < last_ns:
            bad.append(f"ts {ts} goes back before {format_ns(last_ns)}")
        elif ns > now + TAIL_CLOCK_TOLERANCE_NS:  # a clock set back after a crash: say so
            logger.warning(
                "%s: ts %s lies more than an hour after this writer's clock (%s); check the "
                "system clock (or the clock= given to open()); new records continue from it",
                path.name,
                ts,
                format_ns(now),
            )
        if ts[0:4] + ts[5:7] + ts[8:10] != journal.file_day(path):
            bad.append(f"a record of day {ts[0:10]} in the file {path.name}")
    event_id = record.get("event_id")
    if type(event_id) is not str or not EVENT_ID_PATTERN.match(event_id):
        bad.append("event_id missing or not a UUID")
    kind = record.get("type")
    if type(kind) is not str or not TYPE_PATTERN.match(kind):
        bad.append(f"type {kind!r} is not a dotted event type")
    return "; ".join(bad), ns
