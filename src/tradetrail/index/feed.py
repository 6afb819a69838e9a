"""Feeding the index from the journal: incremental from the last indexed seq, or a full
rebuild, and the check of every row against the journal (`verify --index`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from ..core import layout
from ..errors import IndexStoreError
from ..store import journal
from ..store.keys import trail_origin
from ..store.tilestore import TileStore
from .base import IndexBackend
from .rows import IndexRow, leaf_hash_hex, row_from_line

BATCH: Final = 5000


@dataclass
class UpdateResult:
    origin: str
    added: int = 0
    last_seq: int = -1


def update_index(
    home: Path,
    index: IndexBackend,
    *,
    batch: int = BATCH,
    progress: Callable[[int], None] | None = None,
    start: int | None = None,
    upto: int | None = None,
) -> UpdateResult:
    """Index every journal record after the last indexed one. The chain is checked as rows are
    made (each `prev` must be the leaf hash before it), so a journal that was altered below
    the index is refused rather than indexed. `start=0` offers every record again (rows
    already stored are checked against them, never overwritten); `upto` stops before that seq
    (the writer's durable size, so a line written but not yet synced is never indexed)."""
    home = Path(home)
    origin = trail_origin(home)
    if start is None:
        start = index.last_seq(origin) + 1
    result = UpdateResult(origin, 0, start - 1)
    prev = index.leaf_hash(origin, start - 1) if start > 0 else None
    rows: list[IndexRow] = []
    expected = start
    pruned = journal.pruned_days(home)
    for path, line in journal.lines_from_seq(home, start):
        if upto is not None and expected >= upto:
            break
        row = row_from_line(origin, line, f"{path.name} seq {expected}")
        if row.seq > expected and journal.pruned_gap(pruned, expected, row.seq):
            # days removed under retention are skipped; the chain resumes from the tiles
            prev = TileStore(home / layout.TILES_DIR).node(0, row.seq - 1).hex()
            expected = row.seq
        if row.seq != expected:
            raise IndexStoreError(
                f"{path.name}: expected seq {expected}, found {row.seq} (run `tradetrail verify`)"
            )
        if prev is not None and row.prev != prev:
            raise IndexStoreError(
                f"{path.name} seq {row.seq}: prev does not match the leaf hash of seq "
                f"{row.seq - 1} in the index (run `tradetrail verify` and `verify --index`)"
            )
        prev = row.leaf_hash
        expected += 1
        rows.append(row)
        if len(rows) >= batch:
            result.added += index.add(rows)
            if progress is not None:
                progress(len(rows))
            rows = []
    if rows:
        result.added += index.add(rows)
        if progress is not None:
            progress(len(rows))
    result.last_seq = expected - 1
    return result


@dataclass
class IndexCheck:
    """What `verify --index` found: rows missing from the index, rows it has that the journal
    has not, and rows whose leaf hash differs from the journal line's."""

    origin: str
    checked: int = 0
    missing: list[int] = field(default_factory=list)
    extra: list[int] = field(default_factory=list)
    differ: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.differ)


def check_index(
    home: Path, index: IndexBackend, progress: Callable[[int], None] | None = None
) -> IndexCheck:
    """Hold every index row of this trail against the journal, by seq and leaf hash. Rows past
    the journal's end are extra; journal records the index has not reached are not missing
    (the index catches up later) unless a later row exists."""
    home = Path(home)
    origin = trail_origin(home)
    check = IndexCheck(origin)
    stored = index.hashes(origin)
    current = next(stored, None)
    last_indexed = index.last_seq(origin)
    pruned = journal.pruned_days(home)
    gone = [(d.first_seq, d.last_seq) for d in pruned]
    lines = journal.lines_from_seq(home, 0)
    numbered = (
        ((journal.record_seq(line), (p, line)) for p, line in lines) if pruned else enumerate(lines)
    )
    for seq, (_path, line) in numbered:
        if seq > last_indexed:
            break
        while current is not None and current[0] < seq:
            if not any(a <= current[0] <= b for a, b in gone):  # rows of pruned days may stay
                check.extra.append(current[0])
            current = next(stored, None)
        if current is None or current[0] != seq:
            check.missing.append(seq)
        else:
            if current[1] != leaf_hash_hex(line):
                check.differ.append(seq)
            current = next(stored, None)
        check.checked += 1
        if progress is not None:
            progress(1)
    while current is not None:
        check.extra.append(current[0])
        current = next(stored, None)
    return check
