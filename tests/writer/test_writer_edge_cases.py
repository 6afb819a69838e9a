"""Regression tests from a review of the journal writer for lost or mis-acknowledged records."""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import tradetrail
import tradetrail.writer.sequencer as sequencer_mod
import tradetrail.writer.trail as trail_mod
from conftest import WRITER_THREAD_NAME, GateClock, SimClock, journal_records, wait_until


def _target(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


def _verify_faults(home: Path) -> list[str]:
    from tradetrail.verify.trail import verify_trail

    report = verify_trail(home)
    return [str(f) for f in report.faults]


# --------------------------------------------------------------------------- 1


@pytest.mark.parametrize("via", ["flush", "close"])
def test_failed_truncate_then_flush_keeps_the_chain(
    open_trail: Callable[..., Any], home: Path, monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    trail = open_trail()
    trail.record("order.accepted", {"n": 0}).wait(timeout=10)
    armed = {"sync": True, "trunc": True}
    real_fdatasync, real_ftruncate = os.fdatasync, os.ftruncate

    def fdatasync(fd: int) -> None:
        if armed["sync"] and "/journal/audit-" in _target(fd):
            armed["sync"] = False
            raise OSError(errno.EIO, "fdatasync failed")
        real_fdatasync(fd)

    def ftruncate(fd: int, size: int) -> None:
        if armed["trunc"] and "/journal/audit-" in _target(fd):
            armed["trunc"] = False
            raise OSError(errno.EIO, "ftruncate failed")
        real_ftruncate(fd, size)

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    monkeypatch.setattr(os, "ftruncate", ftruncate)
    r = trail.record("order.accepted", {"n": 1})
    assert wait_until(lambda: r.spilled, timeout=5)
    if via == "flush":
        trail.flush(timeout=5)  # merges the spill before the writer's own retry rescans
    trail.close(timeout=10)
    seqs = [rec["seq"] for rec in journal_records(home)]
    assert seqs == list(range(len(seqs))), seqs
    assert _verify_faults(home) == []


# --------------------------------------------------------------------------- 2


def test_rescan_does_not_acknowledge_lines_whose_fdatasync_failed(
    open_trail: Callable[..., Any], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trail = open_trail(checkpoint_interval=3600)
    trail.record("order.accepted", {"n": 0}).wait(timeout=10)
    armed = {"sync": True, "trunc": True}
    synced_after_fault: list[str] = []
    real_fdatasync, real_fsync, real_ftruncate = os.fdatasync, os.fsync, os.ftruncate

    def fdatasync(fd: int) -> None:
        if armed["sync"] and "/journal/audit-" in _target(fd):
            armed["sync"] = False
            raise OSError(errno.EIO, "fdatasync failed")
        real_fdatasync(fd)
        if not armed["sync"] and "/journal" in _target(fd):
            synced_after_fault.append(_target(fd))

    def fsync(fd: int) -> None:
        real_fsync(fd)
        if not armed["sync"] and "/journal" in _target(fd):
            synced_after_fault.append(_target(fd))

    def ftruncate(fd: int, size: int) -> None:
        if armed["trunc"] and "/journal/audit-" in _target(fd):
            armed["trunc"] = False
            raise OSError(errno.EIO, "ftruncate failed")
        real_ftruncate(fd, size)

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "ftruncate", ftruncate)
    r = trail.record("order.accepted", {"n": 1})
    seq = r.wait(timeout=15)  # the writer's retry: rescan, then "already journaled"
    assert seq == 1
    assert synced_after_fault, "acknowledged although no fsync succeeded after the failed one"


# --------------------------------------------------------------------------- 3


def test_record_racing_close_is_not_lost(
    open_trail: Callable[..., Any], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trail = open_trail()
    trail.record("order.accepted", {"n": 0}).wait(timeout=10)
    real_prepare = trail_mod.prepare
    armed = [True]

    def prepare(*args: Any, **kwargs: Any) -> Any:
        if armed[0]:  # another thread closes the trail while this caller encodes
            armed[0] = False
            closer = threading.Thread(target=trail.close, kwargs={"timeout": 10})
            closer.start()
            closer.join(15)
        return real_prepare(*args, **kwargs)

    monkeypatch.setattr(trail_mod, "prepare", prepare)
    try:
        r = trail.record("order.accepted", {"n": 1})
    except tradetrail.TrailClosedError:
        return  # refusing the event is fine: the caller knows
    spill_dir = home / "spill"
    in_spill = (
        any(r.event_id in p.read_text() for p in spill_dir.glob("spill-*"))
        if spill_dir.is_dir()
        else False
    )
    in_journal = any(rec["event_id"] == r.event_id for rec in journal_records(home))
    assert in_journal or in_spill, f"{r!r}: accepted, but neither journaled nor spilled"


# --------------------------------------------------------------------------- 4


def test_failed_spill_fsync_does_not_leave_a_stale_descriptor(
    open_trail: Callable[..., Any], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = GateClock()
    trail = open_trail(clock=clock, queue_size=1, checkpoint_interval=3600)
    clock.hold_writer()
    trail.record("order.accepted", {"n": 0})  # fills the queue
    first = trail.record("order.accepted", {"n": 1})  # spilled by the caller: opens the spill fd
    assert first.spilled
    stale = trail.spill._fd
    armed = [True]
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if armed[0] and sys._getframe(1).f_code.co_name == "take":
            armed[0] = False
            raise OSError(errno.EIO, "fsync failed")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    clock.release_writer()  # journals n=0, then the merge's take() fails in fsync
    assert wait_until(lambda: not armed[0], timeout=5)
    clock.set("2024-03-02T00:00:01")  # next day: the writer seals and opens a new day file
    receipts = [first, trail.record("order.accepted", {"n": 2})]
    receipts[-1].wait(timeout=10)
    clock.hold_writer()
    receipts.append(trail.record("order.accepted", {"n": 3}))  # fills the queue
    receipts.append(trail.record("order.accepted", {"n": 4}))  # spilled by the caller
    clock.release_writer()
    trail.flush(timeout=5)
    trail.close(timeout=10)
    by_seq = {rec["seq"]: rec["event_id"] for rec in journal_records(home)}
    acked_elsewhere = [r for r in receipts if r.journaled and by_seq.get(r.seq) != r.event_id]
    assert not acked_elsewhere, f"acknowledged but not in the journal (stale fd {stale})"
    assert _verify_faults(home) == []


# --------------------------------------------------------------------------- 5


def test_spill_entry_after_a_torn_spill_write_is_not_lost(
    open_trail: Callable[..., Any],
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    clock = GateClock()
    trail = open_trail(clock=clock, queue_size=1, checkpoint_interval=3600)
    clock.hold_writer()
    trail.record("order.accepted", {"n": 0})  # fills the queue
    calls = [0]
    real_write = os.write

    def write(fd: int, data: Any) -> int:
        if "/spill/spill-" in _target(fd) and calls[0] < 2:
            calls[0] += 1
            if calls[0] == 1:  # the disk fills up in the middle of the line
                return real_write(fd, bytes(data[: len(data) // 2]))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    torn = trail.record("order.accepted", {"n": 1})  # held in memory and printed to stderr
    assert trail.stats()["stderr_spilled"] == 1
    later = trail.record("order.accepted", {"n": 2})  # a little space again: appended
    assert trail.stats()["stderr_spilled"] == 1
    clock.release_writer()
    trail.flush(timeout=5)
    trail.close(timeout=10)
    capfd.readouterr()
    open_trail(clock=clock).close(timeout=10)  # the next open merges what is left: nothing
    journaled = {rec["data"]["n"] for rec in journal_records(home)}
    assert torn.journaled
    assert later.journaled and 2 in journaled, f"n=2 lost: journal holds {sorted(journaled)}"


# --------------------------------------------------------------------------- 6


def test_shared_spill_dir_keeps_trails_apart(
    open_trail: Callable[..., Any], tmp_path: Path
) -> None:
    shared = tmp_path / "spool"
    clock_b = GateClock()
    trail_b = open_trail(
        home=tmp_path / "desk-b",
        clock=clock_b,
        spill_dir=shared,
        queue_size=1,
        checkpoint_interval=3600,
    )
    clock_b.hold_writer()
    trail_b.record("order.accepted", {"desk": "b", "n": 0})
    spilled = trail_b.record("order.accepted", {"desk": "b", "n": 1})  # queue full: spilled
    assert spilled.spilled
    trail_a = open_trail(home=tmp_path / "desk-a", spill_dir=shared)  # merges at open
    clock_b.release_writer()
    trail_b.flush(timeout=5)
    trail_a.close(timeout=10)
    trail_b.close(timeout=10)
    in_a = [r["data"] for r in journal_records(tmp_path / "desk-a")]
    assert in_a == [], f"desk-a journaled desk-b's events: {in_a}"
    assert spilled.journaled


# --------------------------------------------------------------------------- 7


def test_spilled_event_sharing_an_event_id_is_not_dropped(
    open_trail: Callable[..., Any], home: Path
) -> None:
    clock = GateClock()
    trail = open_trail(clock=clock, queue_size=1, checkpoint_interval=3600)
    event_id = "01890a5d-ac96-774b-bcce-b302099a8057"
    clock.hold_writer()
    first = trail.record("order.accepted", {"qty": "100"}, event_id=event_id)  # queued
    second = trail.record("order.amended", {"qty": "50"}, event_id=event_id)  # queue full
    assert second.spilled
    clock.release_writer()
    flushed = trail.flush(timeout=5)
    first.wait(timeout=5)
    trail.close(timeout=10)
    records = journal_records(home)
    amended = [r for r in records if r["type"] == "order.amended"]
    assert amended, f"the amendment was dropped (flush() returned {flushed}, {second!r})"


# --------------------------------------------------------------------------- 8


class FlakyClock(GateClock):
    """Raises on the writer thread's next `fails` readings after `arm()`."""

    def __init__(self) -> None:
        super().__init__()
        self.fails = 0

    def __call__(self) -> int:
        now = super().__call__()
        if self.fails and threading.current_thread().name == WRITER_THREAD_NAME:
            self.fails -= 1
            raise RuntimeError("clock source unavailable")
        return now


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_writer_survives_a_clock_that_fails_twice(
    open_trail: Callable[..., Any], home: Path
) -> None:
    clock = FlakyClock()
    trail = open_trail(clock=clock, checkpoint_interval=3600)
    trail.record("order.accepted", {"n": 0}).wait(timeout=10)
    clock.hold_writer()
    batch = [trail.record("order.accepted", {"n": n}) for n in (1, 2)]
    clock.fails = 2
    clock.release_writer()
    time.sleep(0.5)
    later = trail.record("order.accepted", {"n": 3})
    with contextlib.suppress(TimeoutError):
        trail.flush(timeout=2)
    trail.close(timeout=10)
    lost = [r for r in [*batch, later] if not (r.journaled or r.spilled)]
    assert trail._thread.is_alive() or not lost, f"writer thread died; lost {lost}"
    assert not lost


# --------------------------------------------------------------------------- 9


def test_record_does_not_wait_for_the_writers_spill_fsync(
    open_trail: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = GateClock()
    trail = open_trail(clock=clock, queue_size=1, checkpoint_interval=3600)
    clock.hold_writer()
    trail.record("order.accepted", {"n": 0})
    trail.record("order.accepted", {"n": 1})  # spilled by the caller
    in_fsync = threading.Event()
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if threading.current_thread().name == WRITER_THREAD_NAME and "/spill/spill-" in _target(fd):
            in_fsync.set()
            time.sleep(1.5)  # a slow or failing spill disk
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    clock.release_writer()
    assert in_fsync.wait(5)
    took = 0.0
    for n in (2, 3):  # the queue is full (n=0 or n=2 waits in it): at least one spills
        started = time.monotonic()
        trail.record("order.accepted", {"n": n})
        took = max(took, time.monotonic() - started)
    assert took < 0.5, f"record() blocked {took:.2f}s on the writer's fsync"


# --------------------------------------------------------------------------- 10


def test_checkpoint_failure_is_not_returned_as_a_note(
    open_trail: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    trail = open_trail(checkpoint_interval=3600)
    trail.record("order.accepted", {"n": 0}).wait(timeout=10)

    def full_disk(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sequencer_mod, "write_atomic", full_disk)  # what signs checkpoints
    try:
        text = trail.checkpoint(timeout=5)
    except (OSError, tradetrail.TradetrailError):
        return
    assert text != "None" and "\n\n" in text, f"checkpoint() returned {text!r}"


# --------------------------------------------------------------------------- 11


class _BrokenStream:
    def write(self, text: str) -> int:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


def test_record_does_not_raise_when_stderr_fails_too(
    open_trail: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    clock = GateClock()
    trail = open_trail(
        clock=clock, queue_size=1, spill_dir=blocker / "spill", checkpoint_interval=3600
    )
    clock.hold_writer()
    try:
        trail.record("order.accepted", {"n": 0})  # fills the queue
        monkeypatch.setattr(sys, "__stderr__", _BrokenStream())
        trail.record("order.accepted", {"n": 1})  # must not raise: it is held in memory
    finally:
        monkeypatch.undo()
        clock.release_writer()
    assert trail.flush(timeout=5) is True


# --------------------------------------------------------------------------- 12


def test_failed_day_seal_is_retried(
    open_trail: Callable[..., Any], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = SimClock("2024-03-01T23:59:59")
    trail = open_trail(clock=clock, checkpoint_interval=3600)
    trail.record("order.accepted", {"n": 0}).wait(timeout=10)
    old = home / "journal" / "audit-20240301.jsonl"
    armed = [True]
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if armed[0] and sys._getframe(1).f_code.co_name == "_seal_current":
            armed[0] = False
            raise OSError(errno.EIO, "fsync failed")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    clock.set("2024-03-02T00:00:05")  # the idle writer's tick seals the day, and fails
    assert wait_until(lambda: not armed[0], timeout=5)
    trail.record("order.accepted", {"n": 1}).wait(timeout=10)
    leaked = [fd for fd in map(int, os.listdir("/proc/self/fd")) if _target(fd) == str(old)]
    assert not leaked, f"descriptor(s) {leaked} of the finished day are still open"
    assert not os.stat(old).st_mode & 0o222, "the finished day was never sealed"
