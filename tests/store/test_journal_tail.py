"""store.journal.JournalTail, the reader the live trail's followers share (domain metrics, the
alert runner, the service's ingest ledger and stream): it reads on from its place across day
files, and a caller that stops at a line gets that line again at the next read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from tradetrail.store.journal import JournalTail


def seqs(tail: JournalTail, seq: int, stop_at: int | None = None) -> list[int]:
    got = []
    for _, line in tail.lines(seq):
        record = orjson.loads(line)
        if record["seq"] < seq:
            continue
        if stop_at is not None and record["seq"] >= stop_at:
            break
        got.append(record["seq"])
    return got


def test_reads_on_across_days_and_gives_back_the_line_it_stopped_at(
    open_trail: Any, home: Path, clock: Any
) -> None:
    trail = open_trail()
    for _ in range(3):
        for _ in range(4):
            trail.record("order.accepted", {"status": "new"})
        clock.advance(86_400)
    trail.flush()
    tail = JournalTail(home)
    assert seqs(tail, 5, stop_at=7) == [5, 6]  # found by seq in the second day file
    assert seqs(tail, 7) == [7, 8, 9, 10, 11]  # on from 7 (not consumed), into the third day
    assert seqs(tail, 12) == []
    trail.record("order.accepted", {"status": "new"})
    trail.flush()
    assert seqs(tail, 12) == [12]  # only what was added
    tail.reset()
    assert seqs(tail, 3) == list(range(3, 13))  # found again after a reset
    assert seqs(JournalTail(home / "nothing"), 0) == []
