"""Journal files: `journal/audit-YYYYMMDD.jsonl`, one per UTC day, records in seq order."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import orjson

from ..core import layout
from ..core.documents import DocumentError, decode_tombstone
from ..errors import JournalFormatError

JOURNAL_DIR = layout.JOURNAL_DIR
FILE_PATTERN = re.compile(r"^audit-(\d{8})\.jsonl$")
ZERO_HASH = "0" * 64
PRUNED_FILE = layout.PRUNED_FILE
PRUNED_FORMAT = "tradetrail-pruned/1"
_BLOCK = 1 << 16


def is_trail(home: Path) -> bool:
    """Whether `home` holds a trail: the writer makes journal/ when it creates one."""
    return (home / JOURNAL_DIR).is_dir()


def day_file_name(day: str) -> str:
    return f"audit-{day}.jsonl"


def journal_files(home: Path) -> list[Path]:
    """The day files in name (= day) order; other names are ignored here and flagged by verify."""
    directory = home / JOURNAL_DIR
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if FILE_PATTERN.match(p.name))


def file_day(path: Path) -> str:
    m = FILE_PATTERN.match(path.name)
    if m is None:
        raise ValueError(f"{path.name} is not a journal day file name")
    return m.group(1)


def iter_lines(path: Path, start: int = 0) -> Iterator[tuple[int, bytes, bool]]:
    """(offset, line without newline, complete) for each line from byte `start`."""
    with open(path, "rb") as fh:
        fh.seek(start)
        offset = start
        for raw in fh:
            complete = raw.endswith(b"\n")
            yield offset, raw[:-1] if complete else raw, complete
            offset += len(raw)


def tail_lines(path: Path, count: int) -> tuple[list[bytes], int]:
    """The last `count` complete lines of a file and the byte offset where the first begins.
    Reads backwards in blocks, so a large day file costs only its tail; torn bytes after the
    last newline are not returned (see `torn_tail`)."""
    good, _ = torn_tail(path)
    if good == 0 or count <= 0:
        return [], good
    with open(path, "rb") as fh:
        pos = good
        data = b""
        while pos > 0 and data.count(b"\n") <= count:
            step = min(_BLOCK, pos)
            pos -= step
            fh.seek(pos)
            data = fh.read(step) + data
    lines = data[:-1].split(b"\n")
    if pos > 0:
        lines = lines[1:]
    lines = lines[-count:]
    return lines, good - sum(len(line) + 1 for line in lines)


def torn_tail(path: Path) -> tuple[int, bytes]:
    """(size of the complete part, bytes after the last newline)."""
    size = path.stat().st_size
    if size == 0:
        return 0, b""
    with open(path, "rb") as fh:
        pos = size
        tail = b""
        while pos > 0:
            step = min(_BLOCK, pos)
            pos -= step
            fh.seek(pos)
            tail = fh.read(step) + tail
            nl = tail.rfind(b"\n")
            if nl >= 0:
                good = pos + nl + 1
                return good, tail[nl + 1 :]
    return 0, tail


def parse_record(
    line: bytes, file: str | None = None, lineno: int | None = None
) -> dict[str, object]:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise JournalFormatError(f"not valid JSON: {exc}", file, lineno) from None
    if type(record) is not dict:
        raise JournalFormatError("not a JSON object", file, lineno)
    return record


def record_seq(line: bytes, file: str | None = None, lineno: int | None = None) -> int:
    seq = parse_record(line, file, lineno).get("seq")
    if type(seq) is not int:
        raise JournalFormatError("record has no integer seq", file, lineno)
    return seq


def first_seq(path: Path) -> int | None:
    with open(path, "rb") as fh:
        line = fh.readline()
    if not line.endswith(b"\n"):
        return None
    return record_seq(line[:-1], str(path), 1)


def offset_of_seq(path: Path, seq: int) -> int | None:
    """Byte offset of the line holding record `seq` in one day file, by binary search over
    byte offsets (seq grows by one per line), so a proof for a 1M-record day costs a few
    reads, not a scan. None when the file does not hold it (or is not in seq order there)."""
    with open(path, "rb") as fh:
        lo, hi = 0, os.fstat(fh.fileno()).st_size  # the wanted line starts in [lo, hi)
        while hi - lo > _BLOCK:
            mid = (lo + hi) // 2
            fh.seek(mid - 1)
            fh.readline()
            start = fh.tell()
            line = fh.readline() if start < hi else b""
            if not line.endswith(b"\n"):
                hi = mid
                continue
            found = record_seq(line[:-1], str(path))
            if found == seq:
                return start
            if found < seq:
                lo = start + len(line)
            else:
                hi = start
        fh.seek(lo)
        pos = lo
        for raw in fh:
            if not raw.endswith(b"\n"):
                return None
            found = record_seq(raw[:-1], str(path))
            if found == seq:
                return pos
            if found > seq:
                return None
            pos += len(raw)
    return None


def lines_from_seq(home: Path, seq: int) -> Iterator[tuple[Path, bytes]]:
    """Every complete journal line from record `seq` on, across day files."""
    files = journal_files(home)
    start_index = 0
    for i, path in enumerate(files):
        first = first_seq(path)
        if first is not None and first <= seq:
            start_index = i
    for i, path in enumerate(files[start_index:]):
        offset = offset_of_seq(path, seq) if i == 0 else 0
        skip = 0
        if offset is None:  # not in order: fall back to counting lines from the start
            first = first_seq(path)
            offset, skip = 0, max(0, seq - first) if first is not None else 0
        for _, line, complete in iter_lines(path, offset):
            if not complete:
                break
            if skip:
                skip -= 1
                continue
            yield path, line


class JournalTail:
    """Reads a trail's journal on from a record, keeping its place (a day file and an offset)
    so that each read costs only what was added since the last, across day files: what the
    followers of a live trail (domain metrics, alert rules, the service's ingest ledger) share.
    Its place moves past a line only once the caller asks for the next one, so a caller that
    stops at a line (one not durable yet) gets it again next time."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._at: tuple[Path, int] | None = None

    def reset(self) -> None:
        """Look for the place again at the next read (a day file removed by retention)."""
        self._at = None

    def lines(
        self, seq: int, caught_up: Callable[[], bool] | None = None
    ) -> Iterator[tuple[Path, bytes]]:
        """Complete lines from the current place; the first read starts at the line of record
        `seq` (or the start of its day file: callers skip records below `seq`). With
        `caught_up`, a day file that yielded lines ends the read when it says so, rather than
        listing the day files to look for a later one."""
        if self._at is None and not self._find(seq):
            return
        assert self._at is not None
        path, offset = self._at
        try:
            while True:
                read = False
                for at, line, complete in iter_lines(path, offset):
                    if not complete:
                        return  # being written (or torn): read again from its start next time
                    yield path, line
                    self._at = (path, at + len(line) + 1)
                    read = True
                if read and caught_up is not None and caught_up():
                    return
                later = [p for p in journal_files(self.home) if p.name > path.name]
                if not later:
                    return
                # the writer seals a day before it starts the next: this file is complete
                path, offset = later[0], 0
                self._at = (path, 0)
        except FileNotFoundError:  # a day file removed under us: find the place again
            self._at = None

    def _find(self, seq: int) -> bool:
        """Place the reader at record `seq`: the day file that holds it (or the one before it,
        at its end), by binary search; from the file's start when it is not in seq order."""
        files = journal_files(self.home)
        if not files:
            return False
        for path in reversed(files):
            first = first_seq(path)
            if first is not None and first <= seq:
                break
        else:
            self._at = (files[0], 0)
            return True
        offset = offset_of_seq(path, seq)
        if offset is None and seq > 0:
            before = offset_of_seq(path, seq - 1)
            if before is not None:
                with open(path, "rb") as fh:
                    fh.seek(before)
                    fh.readline()
                    offset = fh.tell()
        self._at = (path, offset or 0)
        return True


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_DAY_FILE: Final = re.compile(r"audit-[0-9]{8}\.jsonl")


def remove_day_file(home: Path, name: str) -> None:
    """Remove one day file of the journal: only retention does, after recording the removal
    and writing pruned.json (compliance.retention). `name` must be a day file's name, so a
    damaged pruned.json cannot point this anywhere else."""
    if not _DAY_FILE.fullmatch(name):
        raise JournalFormatError(f"{name!r} is not the name of a journal day file")
    with contextlib.suppress(FileNotFoundError):  # already removed (a resumed batch)
        (home / layout.JOURNAL_DIR / name).unlink()


def write_pruned(home: Path, data: bytes) -> None:
    """Replace pruned.json (the record of the days removed) atomically and durably."""
    from .tilestore import write_atomic

    write_atomic(home / layout.PRUNED_FILE, data, sync=True)


def clear_trail(home: Path) -> None:
    """Remove everything under `home` but the writer lock (which the caller holds): only the
    demo does, and only to a trail it made itself (demo.prepare_home checks that first)."""
    import shutil

    for entry in list(home.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        elif entry.name != layout.LOCK_FILE:
            entry.unlink()


@dataclass(frozen=True)
class PrunedDay:
    """A day file removed (state "removed") or being removed ("intent") under the retention
    policy, as listed in `<home>/pruned.json`: its absence is deliberate, and its leaf hashes
    [first_seq, last_seq] are still in the tiles (see tradetrail.compliance.retention)."""

    day: str
    first_seq: int
    last_seq: int
    state: str


def pruned_days(home: Path) -> list[PrunedDay]:
    """The days listed in `<home>/pruned.json`, by seq; none when the file is absent. Every
    reader that finds a day file missing asks this before calling it a fault."""
    path = Path(home) / PRUNED_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    try:
        tombstone = decode_tombstone(data)
    except DocumentError as exc:
        raise JournalFormatError(f"{path}: not a valid list of pruned days ({exc})") from None
    if tombstone.format != PRUNED_FORMAT:
        raise JournalFormatError(f"{path}: format is not {PRUNED_FORMAT!r}")
    days = [PrunedDay(d.day, d.first_seq, d.last_seq, d.state) for d in tombstone.days]
    return sorted(days, key=lambda d: d.first_seq)


def pruned_gap(pruned: list[PrunedDay], start: int, end: int) -> bool:
    """Whether records [start, end) all lie in consecutive pruned days, the last of which ends
    at `end - 1` (a reader may start inside a pruned day, never stop inside one)."""
    at = start
    for day in pruned:
        if at >= end:
            break  # the days after the gap (listed, perhaps still on disk) are not part of it
        if day.first_seq <= at <= day.last_seq:
            at = day.last_seq + 1
    return at == end and end > start
