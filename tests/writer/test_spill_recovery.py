"""Recovery from a full or read-only disk (issue 11): the spill merge goes in bounded chunks so
that a disk with room for part of the backlog takes that part, new records follow the backlog
as soon as there is room, `spill_pending` counts what waits (after a reopen too), and a flush
on a read-only disk is a disk fault, not a writer error."""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import tradetrail
import tradetrail.writer.merge as merge_mod
import tradetrail.writer.sequencer as sequencer_mod
import tradetrail.writer.trail as trail_mod
from conftest import (
    JournalFault,
    JournalSpace,
    SimClock,
    check_chain,
    journal_records,
    wait_until,
)

PAD = "p" * 300  # ~600 bytes a record


def _ids(home: Path) -> Counter[str]:
    return Counter(r["event_id"] for r in check_chain(home))


def _backlog_bytes(receipts: list[Any]) -> int:
    return sum(
        len(r.event.p0) + len(r.event.p1) + len(r.event.p2) + len(r.event.p3) + 100
        for r in receipts
    )


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> int:
    """Chunks of 4 KiB, so a backlog of a few hundred records takes many of them."""
    monkeypatch.setattr(merge_mod, "MERGE_CHUNK_BYTES", 4096)  # read where the merge runs
    return 4096


def test_partial_space_merges_part_of_the_backlog_then_the_rest_and_new_records(
    open_trail: Callable[..., Any],
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    verify_ok: Any,
    small_chunks: int,
) -> None:
    trail = open_trail()
    for n in range(10):
        trail.record("order.accepted", {"n": n})
    assert trail.flush(timeout=10)
    disk = JournalSpace(monkeypatch)
    full = disk.fill(home)
    first = trail.record("order.accepted", {"n": 10, "pad": PAD})
    assert wait_until(lambda: first.spilled, timeout=5)
    backlog = [
        first,
        *(trail.record("order.accepted", {"n": n, "pad": PAD}) for n in range(11, 300)),
    ]
    assert wait_until(lambda: all(r.spilled for r in backlog), timeout=5)
    assert trail.stats()["spill_pending"] == 290
    size = _backlog_bytes(backlog)
    fsyncs = trail.stats()["fsyncs"]

    disk.capacity = full + size * 4 // 10  # room for about 40% of the backlog
    assert wait_until(lambda: trail.stats()["merged"] > 0, timeout=10), trail.stats()
    assert wait_until(lambda: disk.refused > 0 and trail.stats()["merged"] > 50, timeout=10)
    stats = trail.stats()
    merged = stats["merged"]
    assert 50 < merged < 290, stats
    assert stats["degraded"] is not None
    assert stats["spill_pending"] == 290 - merged
    assert stats["fsyncs"] - fsyncs >= 2, "one fsync for the whole merge: not chunked"
    journaled = [r for r in backlog if r.journaled]
    assert len(journaled) == merged
    assert journaled == backlog[:merged]  # the backlog goes in order
    # a chunk refused for space was cut off: the journal holds whole lines only, chained
    assert len(check_chain(home)) == 10 + merged

    new = [trail.record("order.accepted", {"n": n}) for n in range(300, 400)]
    assert wait_until(lambda: all(r.spilled or r.journaled for r in new), timeout=5)
    assert not any(r.journaled for r in new)  # no room for them yet: the disk is still full

    disk.capacity = 10**9
    seqs = [r.wait(timeout=20) for r in [*backlog, *new]]
    assert seqs == list(range(10, 400))  # the backlog first, then the new records, in order
    assert wait_until(lambda: trail.stats()["degraded"] is None, timeout=5)
    assert trail.stats()["spill_pending"] == 0
    assert trail.flush(timeout=5) is True
    trail.close()
    counts = _ids(home)
    assert len(counts) == 400 and max(counts.values()) == 1
    assert not list((home / "spill").glob("spill-*"))
    verify_ok(home)


def test_new_records_are_journaled_when_the_backlog_fits_although_it_was_too_big_at_first(
    open_trail: Callable[..., Any],
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    verify_ok: Any,
    small_chunks: int,
) -> None:
    """With room for the backlog and a little more, the records recorded meanwhile are journaled
    at once after it, though the backlog alone was larger than the room at first."""
    trail = open_trail()
    trail.record("order.accepted", {"n": 0}).wait(timeout=10)
    disk = JournalSpace(monkeypatch)
    full = disk.fill(home)
    backlog = [trail.record("order.accepted", {"n": n, "pad": PAD}) for n in range(1, 200)]
    assert wait_until(lambda: all(r.spilled for r in backlog), timeout=5)
    size = _backlog_bytes(backlog)
    disk.capacity = full + size // 2
    assert wait_until(lambda: trail.stats()["merged"] > 0, timeout=10)
    new = [trail.record("order.accepted", {"n": n}) for n in range(200, 220)]
    disk.capacity = full + size * 2
    assert [r.wait(timeout=20) for r in new] == list(range(200, 220))
    assert all(r.journaled for r in backlog)
    trail.close()
    assert max(_ids(home).values()) == 1
    verify_ok(home)


def test_partial_merge_then_reopens_keep_every_event_exactly_once(
    open_trail: Callable[..., Any],
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    verify_ok: Any,
    small_chunks: int,
) -> None:
    trail = open_trail()
    trail.record("order.accepted", {"n": 0}).wait(timeout=10)
    disk = JournalSpace(monkeypatch)
    full = disk.fill(home)
    backlog = [trail.record("order.accepted", {"n": n, "pad": PAD}) for n in range(1, 301)]
    assert wait_until(lambda: all(r.spilled for r in backlog), timeout=5)
    size = _backlog_bytes(backlog)
    trail.close()  # the disk is still full: the whole backlog stays in the spill files
    ids = {r.event_id for r in backlog}

    trail = open_trail()  # nothing fits: the reopened trail still knows what waits
    stats = trail.stats()
    assert stats["merged"] == 0 and stats["degraded"] is not None
    assert stats["spill_pending"] == 300
    assert trail.flush(timeout=5) is False
    trail.close()

    disk.capacity = full + size // 3  # as after an fsck that freed a third of what is needed
    trail = open_trail()
    first_merge = trail.stats()["merged"]
    assert 0 < first_merge < 300
    assert trail.stats()["spill_pending"] == 300 - first_merge
    trail.close()
    assert len(check_chain(home)) == 1 + first_merge

    disk.capacity = full + size * 2 // 3
    trail = open_trail()
    second_merge = trail.stats()["merged"]
    assert second_merge > 0  # no event of the first merge is written again
    assert trail.stats()["spill_pending"] == 300 - first_merge - second_merge
    trail.close()

    disk.active = False
    trail = open_trail()
    assert trail.stats()["merged"] == 300 - first_merge - second_merge
    assert trail.stats()["spill_pending"] == 0
    assert trail.record("order.accepted", {"n": 301}).wait(timeout=10) == 301
    trail.close()
    counts = _ids(home)
    assert ids <= set(counts) and len(counts) == 302 and max(counts.values()) == 1
    assert not list((home / "spill").glob("spill-*"))
    verify_ok(home)


def test_spill_pending_counts_an_event_held_in_memory_once(
    open_trail: Callable[..., Any], home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    trail = open_trail(spill_dir=blocker / "spill")  # the spill directory fails too: memory
    trail.record("order.accepted", {"n": 0}).wait(timeout=10)
    fault = JournalFault(monkeypatch, errno.ENOSPC)
    fault.active = True
    receipts = [trail.record("order.accepted", {"n": n}) for n in range(1, 6)]
    assert wait_until(lambda: all(r.spilled for r in receipts), timeout=5)
    stats = trail.stats()
    assert stats["stderr_spilled"] == 5
    assert stats["spill_pending"] == 5
    fault.active = False
    assert [r.wait(timeout=15) for r in receipts] == [1, 2, 3, 4, 5]
    assert trail.stats()["spill_pending"] == 0


def test_flush_on_a_read_only_disk_is_a_disk_fault_not_a_writer_error(
    open_trail: Callable[..., Any],
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    verify_ok: Any,
) -> None:
    trail = open_trail()
    trail.record("order.accepted", {"n": 0}).wait(timeout=10)
    # a read-only remount: writes fail, and so do the truncate that would cut a failed write
    # off and the fsync of the rescan that follows it
    fault = JournalFault(monkeypatch, errno.EROFS, ("write", "ftruncate", "fsync", "fdatasync"))
    fault.active = True
    with caplog.at_level(logging.WARNING, logger="tradetrail"):
        first = trail.record("order.accepted", {"n": 1})
        assert wait_until(lambda: first.spilled, timeout=5)
        receipts = [first, *(trail.record("order.accepted", {"n": n}) for n in range(2, 20))]
        assert wait_until(lambda: all(r.spilled for r in receipts), timeout=5)
        assert trail.flush(timeout=5) is False
        assert trail.flush(timeout=5) is False
        stats = trail.stats()
        assert stats["degraded"] is not None and "EROFS" in stats["degraded"]
        assert stats["spill_pending"] == 19
        assert "internal" not in (stats["last_error"] or "")
        fault.active = False
        assert [r.wait(timeout=20) for r in receipts] == list(range(1, 20))
    ours = [r for r in caplog.records if r.name == "tradetrail"]
    assert not [r for r in ours if r.exc_info], "a traceback was logged"
    text = "\n".join(r.getMessage() for r in ours)
    assert "internal error" not in text and "writer error" not in text
    assert sum("cannot write the journal" in r.getMessage() for r in ours) == 1
    trail.close()
    records = check_chain(home)
    assert all("EROFS" in r["spill"]["reason"] for r in records[1:])
    verify_ok(home)


# --------------------------------------------------------------------------- a real small disk


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs mounted for the test (needs root and a kernel that lets us mount)."""
    mount_point = tmp_path / f"disk-{uuid.uuid4().hex[:8]}"
    mount_point.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount_point)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot mount a small tmpfs: {exc}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs: {done.stderr.strip() or done.returncode}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, timeout=30)


def _fill(path: Path) -> None:
    """Write zeros until the disk is full, to the last page."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        block = b"\0" * 65536
        while True:
            try:
                os.write(fd, block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                if len(block) == 4096:
                    break
                block = block[: len(block) // 2]
    finally:
        os.close(fd)


def test_real_full_disk_partial_room_then_all(
    small_disk: Path, tmp_path: Path, verify_ok: Any, small_chunks: int
) -> None:
    home = small_disk / "trail"
    trail = tradetrail.open(
        home,
        clock=SimClock(),
        min_free_bytes=0,
        spill_dir=tmp_path / "spill",  # on another filesystem, as the README advises
        checkpoint_every=10**6,
    )
    try:
        trail.record("order.accepted", {"n": 0}).wait(timeout=10)
        filler = small_disk / "filler"
        _fill(filler)
        n = 1
        while True:  # the journal's last page may still have room for a record or two
            first = trail.record("order.accepted", {"n": n, "pad": PAD})
            n += 1
            assert wait_until(lambda r=first: r.spilled or r.journaled, timeout=5)
            if first.spilled:
                break
            assert n < 50, "the disk never filled"
        backlog = [
            first,
            *(trail.record("order.accepted", {"n": m, "pad": PAD}) for m in range(n, n + 999)),
        ]
        assert wait_until(lambda: all(r.spilled for r in backlog), timeout=10)
        assert trail.stats()["spill_pending"] == 1000
        size = _backlog_bytes(backlog)  # ~650 KB; free about 40% of it
        os.truncate(filler, max(0, filler.stat().st_size - size * 4 // 10))
        assert wait_until(lambda: trail.stats()["merged"] > 0, timeout=15), trail.stats()
        wait_until(lambda: trail.stats()["merged"] > 100, timeout=5)
        stats = trail.stats()
        assert 0 < stats["merged"] < 1000, stats
        assert stats["spill_pending"] == 1000 - stats["merged"]
        new = [trail.record("order.accepted", {"n": m}) for m in range(n + 999, n + 1099)]
        filler.unlink()
        seqs = [r.wait(timeout=30) for r in [*backlog, *new]]
        assert seqs == list(range(n - 1, n + 1099))
        assert trail.flush(timeout=10) is True
        assert trail.stats()["spill_pending"] == 0
    finally:
        trail.close(timeout=30)
    counts = _ids(home)
    assert len(counts) == n + 1099 and max(counts.values()) == 1
    verify_ok(home)


@pytest.mark.embedded
def test_a_spill_entry_of_tradetrail_0_1_is_merged_once_in_jcs_form(tmp_path: Path) -> None:
    """0.1 wrote spill entries with orjson's floats ({"px": 1.0}); the journal line is JCS
    ({"px": 1}). A merge retried after a crash between the durable merge and the unlink must
    know them for the same event."""
    import hashlib

    import jcs
    import orjson

    home = tmp_path / "trail"
    with tradetrail.open(home, min_free_bytes=0) as trail:
        trail.record("x.note", {"a": 1}).wait(timeout=10)
        origin, spill_dir, size = trail.origin, trail.spill.directory, trail.size
    event_id = "01900000-0000-7000-8000-000000000001"
    event = {
        "event_id": event_id,
        "type": "x.note",
        "data": {"px": 1.0, "z": -0.0, "e": 1e16, "big": 2**53 + 1},
        "source": {"host": "h", "pid": 1, "service": "s"},
    }
    entry = {"after_seq": size, "at": "2024-03-01T00:00:00.000000Z", "reason": "disk full"}
    line = orjson.dumps({**entry, "event": event}, option=orjson.OPT_SORT_KEYS) + b"\n"
    name = f"spill-{hashlib.sha256(origin.encode()).hexdigest()[:16]}-1-1-0.jsonl"
    spill_dir.mkdir(parents=True, exist_ok=True)
    for _ in range(2):  # merged; then the file is back, as a crash before the unlink leaves it
        (spill_dir / name).write_bytes(line)
        tradetrail.open(home, min_free_bytes=0).close()
    assert _ids(home)[event_id] == 1
    raw = next(
        ln
        for p in sorted((home / "journal").iterdir())
        for ln in p.read_bytes().splitlines()
        if event_id.encode() in ln
    )
    record = orjson.loads(raw)
    assert record["data"] == {"px": 1, "z": 0, "e": 10**16, "big": 2**53 + 1}
    del record["data"]["big"]  # what 0.1 wrote; beyond I-JSON, so not JCS-comparable
    assert b'"px":1,' in raw and b'"z":0}' in raw and b'"e":10000000000000000,' in raw
    assert jcs.canonicalize(record)  # the rest is plain JSON an independent JCS reads
    check_chain(home)


@pytest.mark.embedded
def test_events_held_in_memory_survive_a_failed_merge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Journal and spill directory both fail: memory holds the events. If the merge's journal
    scan then fails once, they must stay held (not dropped) and be journaled later."""
    home = tmp_path / "trail"
    trail = tradetrail.open(home, min_free_bytes=0, durability="write")
    trail.record("x.note", {"n": 0}).wait(timeout=10)
    fault = JournalFault(monkeypatch, errno.EIO)
    monkeypatch.setattr(
        trail.spill, "append", lambda *a, **k: (_ for _ in ()).throw(OSError(errno.EIO, "EIO"))
    )
    fault.active = True
    receipts = [trail.record("x.note", {"n": n}) for n in (1, 2, 3)]
    wait_until(lambda: len(trail._held) == 3)
    real_scan = trail_mod.Trail._journaled_since
    calls = {"n": 0}

    def flaky(self: Any, seq: int) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(errno.EIO, "Input/output error")
        return real_scan(self, seq)

    monkeypatch.setattr(trail_mod.Trail, "_journaled_since", flaky)
    fault.active = False
    for receipt in receipts:
        assert receipt.wait(timeout=30) is not None
    assert calls["n"] >= 2
    trail.close()
    notes = sorted(r["data"]["n"] for r in journal_records(home) if r["type"] == "x.note")
    assert notes == [0, 1, 2, 3]
    check_chain(home)


def test_a_full_disk_across_midnight_leaves_the_day_sealed_by_its_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seal checkpoint of a day fails on a full disk at midnight; when space returns, it is
    signed before any record of the next day is written, so the day ends at a checkpoint as
    the verifier and the next open expect (no false 'deleted checkpoint', no refused tail)."""
    from tradetrail.verify.trail import verify_trail

    home = tmp_path / "trail"
    clock = SimClock("2024-03-01T23:50:00")
    trail = tradetrail.open(
        home,
        clock=clock,
        spill_dir=str(tmp_path / "spill"),
        checkpoint_every=1_000_000,
        checkpoint_interval=3600,
        min_free_bytes=0,
    )
    for i in range(5):
        trail.record("order.note", {"i": i}).wait(timeout=10)
    fault = JournalFault(monkeypatch, errno.ENOSPC)
    real_write = sequencer_mod.write_atomic  # what signs the checkpoints
    monkeypatch.setattr(sequencer_mod, "write_atomic", _failing_while(fault, real_write))
    fault.active = True
    clock.set("2024-03-01T23:59:30")
    spilled = [trail.record("order.note", {"late": i}) for i in range(3)]
    wait_until(lambda: trail.stats()["spilled"] >= 3)
    clock.set("2024-03-02T00:00:10")
    spilled += [trail.record("order.note", {"after_midnight": i}) for i in range(3)]
    day1 = home / "journal" / "audit-20240301.jsonl"
    assert wait_until(lambda: not day1.stat().st_mode & 0o222, timeout=10)  # sealed at midnight
    assert wait_until(lambda: "checkpoint" in str(trail.stats().get("last_error")), timeout=10)
    fault.active = False
    clock.set("2024-03-02T00:00:20")
    for receipt in spilled:
        assert receipt.wait(timeout=30) is not None
    trail.record("order.note", {"after": 1}).wait(timeout=10)
    trail.close()
    assert (home / "checkpoints" / "5").is_file()  # day 2024-03-01 ends at seq 4
    report = verify_trail(home)
    assert report.ok, [str(f) for f in report.faults]
    tradetrail.open(home, clock=clock, min_free_bytes=0).close()


def _failing_while(fault: JournalFault, real: Callable[..., Any]) -> Callable[..., Any]:
    """write_atomic that fails with ENOSPC while the fault is on (the same full disk)."""

    def call(*args: Any, **kwargs: Any) -> Any:
        if fault.active:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(*args, **kwargs)

    return call
