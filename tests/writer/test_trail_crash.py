"""The writer against real processes: kill -9 in the middle of a burst, a torn last line, the
lock seen from another process, and a real full disk (RLIMIT_FSIZE) that spills and recovers."""

from __future__ import annotations

import hashlib
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

import tradetrail
from conftest import SimClock, check_chain, file_mode, journal_lines, journal_records, leaf_hex

pytestmark = pytest.mark.slow

# A child's clock: 2024-03-01T12:00:00Z plus the time since it started, so every record of
# these tests lands in one known day file whatever the real date.
CHILD_PRELUDE = r"""
import json, os, sys, time
from pathlib import Path
import tradetrail
_T0 = time.monotonic_ns()
def clock():
    return 1709294400_000_000_000 + time.monotonic_ns() - _T0
def emit(**fields):
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()
"""


class Child:
    """A Python child process running `script`; its stdout lines are collected by a thread."""

    def __init__(self, script: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD_PRELUDE + script, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **(env or {})},
        )
        self.lines: queue.Queue[bytes | None] = queue.Queue()
        self.seen: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def next_line(self, timeout: float) -> bytes | None:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            pytest.fail(f"child printed nothing for {timeout}s; stderr:\n{self.stderr()}")
        if line is not None:
            self.seen.append(line)
        return line

    def expect(self, phase: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            line = self.next_line(max(0.1, deadline - time.monotonic()))
            if line is None:
                pytest.fail(f"child ended before {phase!r}; stderr:\n{self.stderr()}")
            message = json.loads(line)
            if message.get("phase") == phase:
                return dict(message)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self._reader.join(30)

    def drain(self) -> list[bytes]:
        """Lines printed but not read yet (call once the child has ended)."""
        self._reader.join(30)
        rest = []
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                rest.append(line)
        self.seen.extend(rest)
        return rest

    def finish(self, timeout: float = 60) -> int:
        code = self.proc.wait(timeout)
        self.drain()
        return code

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace")[-4000:]


def records_by_seq(home: Path) -> dict[int, dict[str, Any]]:
    return {r["seq"]: r for r in journal_records(home)}


# --------------------------------------------------------------------------- kill -9

BURST = r"""
home, durability = sys.argv[1], sys.argv[2]
trail = tradetrail.open(home, durability=durability, clock=clock, min_free_bytes=0,
                        checkpoint_every=500)
n = 0
while True:
    receipts = [trail.record("order.filled", {"n": n + k, "qty": "0.25"}, order_id=f"O-{n + k}")
                for k in range(64)]
    n += 64
    for r in receipts:
        seq = r.wait()
        sys.stdout.write(f"{seq} {r.event_id}\n")
        sys.stdout.flush()
"""


@pytest.mark.parametrize("durability", ["fsync", "write"])
def test_kill_9_mid_burst_loses_no_acknowledged_record(
    tmp_path: Path, durability: str, verify_ok: Any
) -> None:
    home = tmp_path / "trail"
    acknowledged: dict[int, str] = {}
    for round_, kill_after in enumerate((1500, 2300, 777)):
        child = Child(BURST, str(home), durability)
        start = len(acknowledged)
        while len(acknowledged) - start < kill_after:
            line = child.next_line(timeout=20)
            assert line is not None, child.stderr()
            seq, event_id = line.decode().split()
            acknowledged[int(seq)] = event_id
        child.kill()  # SIGKILL while the burst goes on
        for line in child.drain():  # printed before the kill, so acknowledged
            if line.endswith(b"\n"):
                seq, event_id = line.decode().split()
                acknowledged[int(seq)] = event_id
        # reopen: the chain resumes after whatever the killed writer left
        with tradetrail.open(home, min_free_bytes=0, clock=SimClock("2024-03-01T13:00")) as trail:
            assert trail.size >= max(acknowledged) + 1, f"round {round_}"
            resumed = trail.record("order.reopened", {"round": round_}).wait(timeout=10)
            assert resumed == trail.size - 1
        by_seq = records_by_seq(home)
        missing = {s: e for s, e in acknowledged.items() if by_seq.get(s, {}).get("event_id") != e}
        assert not missing, f"round {round_}: acknowledged records missing: {list(missing)[:10]}"
    records = check_chain(home)
    assert len({r["event_id"] for r in records}) == len(records)
    verify_ok(home)


# --------------------------------------------------------------------------- torn last line


def test_torn_last_line_is_quarantined_and_the_chain_resumes(
    tmp_path: Path, verify_ok: Any
) -> None:
    home = tmp_path / "trail"
    clock = SimClock("2024-03-01T12:00:00")
    with tradetrail.open(home, clock=clock, min_free_bytes=0) as trail:
        for n in range(10):
            trail.record("order.accepted", {"n": n})
    path = home / "journal" / "audit-20240301.jsonl"
    clean = path.read_bytes()
    last = clean.split(b"\n")[-2]
    torn = last[: len(last) // 2]  # half a line, as a crash mid-write leaves it
    with path.open("ab") as fh:
        fh.write(torn)
    with tradetrail.open(home, clock=clock, min_free_bytes=0) as trail:
        assert trail.size == 10
        assert trail.stats()["quarantined"] == 1
        assert path.read_bytes() == clean
        assert trail.record("order.accepted", {"n": 10}).wait(timeout=10) == 10
    records = check_chain(home)
    assert records[10]["prev"] == leaf_hex(last)
    qdir = home / "quarantine"
    saved = [p for p in qdir.iterdir() if p.name != "quarantine.jsonl"]
    assert len(saved) == 1 and saved[0].read_bytes() == torn
    (report,) = [json.loads(line) for line in (qdir / "quarantine.jsonl").read_text().splitlines()]
    assert report["offset"] == len(clean)
    assert report["bytes"] == len(torn)
    assert report["sha256"] == hashlib.sha256(torn).hexdigest()
    assert "audit-20240301.jsonl" in report["file"]
    verify_ok(home)


def test_torn_line_in_a_sealed_day_and_a_torn_only_file(tmp_path: Path, verify_ok: Any) -> None:
    """A crash right after midnight: the new day's file holds nothing but torn bytes; it is set
    aside and the sealed day before it stays as it was."""
    home = tmp_path / "trail"
    clock = SimClock("2024-03-01T23:59:58")
    with tradetrail.open(home, clock=clock, min_free_bytes=0) as trail:
        for n in range(5):
            trail.record("order.accepted", {"n": n}).wait(timeout=10)
    clock.set("2024-03-02T00:00:01")
    with tradetrail.open(home, clock=clock, min_free_bytes=0):
        pass
    day1 = home / "journal" / "audit-20240301.jsonl"
    assert file_mode(day1) == 0o444
    day2 = home / "journal" / "audit-20240302.jsonl"
    day2.write_bytes(b'{"data":{"n":5},"event_id":"0190')
    sealed = day1.read_bytes()
    with tradetrail.open(home, clock=clock, min_free_bytes=0) as trail:
        assert trail.size == 5
        assert trail.stats()["quarantined"] == 1
        assert day1.read_bytes() == sealed
        assert trail.record("order.accepted", {"n": 5}).wait(timeout=10) == 5
    assert [r["data"]["n"] for r in check_chain(home)] == list(range(6))
    assert file_mode(day1) == 0o444
    verify_ok(home)


# --------------------------------------------------------------------------- lock


LOCKED = r"""
try:
    trail = tradetrail.open(sys.argv[1], min_free_bytes=0)
except tradetrail.TrailLockedError as exc:
    emit(phase="done", error=type(exc).__name__, pid=exc.pid, message=str(exc))
else:
    trail.record("order.accepted", {"by": "child"}).wait(timeout=10)
    trail.close()
    emit(phase="done", error=None)
"""


@pytest.mark.embedded
def test_second_process_is_refused_by_the_lock(tmp_path: Path, verify_ok: Any) -> None:
    home = tmp_path / "trail"
    trail = tradetrail.open(home, min_free_bytes=0)
    trail.record("order.accepted", {"by": "parent"}).wait(timeout=10)
    child = Child(LOCKED, str(home))
    result = child.expect("done")
    assert child.finish() == 0
    assert result["error"] == "TrailLockedError"
    assert result["pid"] == os.getpid()
    assert str(os.getpid()) in result["message"]
    trail.record("order.accepted", {"by": "parent"}).wait(timeout=10)
    trail.close()
    child = Child(LOCKED, str(home))  # free once the parent closed
    assert child.expect("done")["error"] is None
    assert child.finish() == 0
    assert [r["data"]["by"] for r in check_chain(home)] == ["parent", "parent", "child"]
    verify_ok(home)


@pytest.mark.embedded
def test_lock_of_a_killed_writer_is_released(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    child = Child(
        r"""
trail = tradetrail.open(sys.argv[1], min_free_bytes=0)
trail.record("order.accepted").wait()
emit(phase="open")
time.sleep(60)
""",
        str(home),
    )
    child.expect("open")
    with pytest.raises(tradetrail.TrailLockedError) as info:
        tradetrail.open(home, min_free_bytes=0)
    assert info.value.pid == child.proc.pid
    child.kill()
    with tradetrail.open(home, min_free_bytes=0) as trail:
        assert trail.size == 1


# --------------------------------------------------------------------------- full disk

FULL_DISK = r"""
import resource, signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # a write past the limit fails with EFBIG
home, mode = Path(sys.argv[1]), sys.argv[2]
trail = tradetrail.open(home, clock=clock, min_free_bytes=0, checkpoint_every=10**6)
for n in range(300):
    trail.record("order.accepted", {"n": n, "pad": "p" * 200})
assert trail.flush(timeout=30)
day_file = sorted((home / "journal").glob("audit-*.jsonl"))[-1]
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
limit = day_file.stat().st_size + 100        # the journal is the file that hits the limit
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
first = trail.record("order.accepted", {"n": 300, "pad": "q" * 200})
deadline = time.monotonic() + 10
while not first.spilled and time.monotonic() < deadline:
    time.sleep(0.005)
receipts, raised = [first], None
try:
    for n in range(301, 400):
        receipts.append(trail.record("order.accepted", {"n": n, "pad": "r" * 200}))
except BaseException as exc:
    raised = repr(exc)
deadline = time.monotonic() + 10
while not all(r.spilled for r in receipts) and time.monotonic() < deadline:
    time.sleep(0.005)
emit(phase="failing", ids=[r.event_id for r in receipts], spilled=[r.spilled for r in receipts],
     journaled=[r.journaled for r in receipts], stats=trail.stats(), raised=raised,
     day_size=day_file.stat().st_size, limit=limit)
if mode == "recover":
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    t0 = time.monotonic()
    seqs = [r.wait(timeout=20) for r in receipts]
    emit(phase="recovered", seqs=seqs, seconds=time.monotonic() - t0, stats=trail.stats())
    trail.close()
    emit(phase="closed", stats=trail.stats())
elif mode == "exit":
    emit(phase="exiting")
    sys.exit(0)               # atexit closes the trail while the disk still fails
else:
    emit(phase="waiting")
    time.sleep(60)            # killed by the test
"""


def _check_failing_phase(failing: dict[str, Any]) -> None:
    assert failing["raised"] is None, failing["raised"]  # nothing reached the caller
    assert all(failing["spilled"]), failing["spilled"]
    assert not any(failing["journaled"])
    stats = failing["stats"]
    assert stats["degraded"] and "EFBIG" in stats["degraded"], stats
    assert stats["write_errors"] >= 1
    assert stats["spill_pending"] == 100
    assert stats["spilled"] >= 100
    assert failing["day_size"] <= failing["limit"]


def test_full_disk_spills_then_recovers_without_loss(tmp_path: Path, verify_ok: Any) -> None:
    home = tmp_path / "trail"
    child = Child(FULL_DISK, str(home), "recover")
    failing = child.expect("failing")
    _check_failing_phase(failing)
    recovered = child.expect("recovered")
    assert recovered["seconds"] < 15
    assert sorted(recovered["seqs"]) == list(range(300, 400))
    assert recovered["stats"]["spill_pending"] == 0
    child.expect("closed")
    assert child.finish() == 0, child.stderr()
    records = check_chain(home)
    assert len(records) == 400
    counts = Counter(r["event_id"] for r in records)
    assert max(counts.values()) == 1
    assert set(failing["ids"]) <= set(counts)
    spilled = [r for r in records if "spill" in r]
    assert {r["event_id"] for r in spilled} == set(failing["ids"])
    assert all("EFBIG" in r["spill"]["reason"] for r in spilled)
    by_id = {r["event_id"]: r for r in records}
    for event_id, seq in zip(failing["ids"], recovered["seqs"], strict=True):
        assert by_id[event_id]["seq"] == seq
    assert not list((home / "spill").glob("spill-*"))
    verify_ok(home)


@pytest.mark.parametrize("ending", ["exit", "kill"])
def test_spill_of_a_process_that_died_on_a_full_disk_is_merged_at_next_open(
    tmp_path: Path, ending: str, verify_ok: Any
) -> None:
    home = tmp_path / "trail"
    child = Child(FULL_DISK, str(home), ending)
    failing = child.expect("failing")
    _check_failing_phase(failing)
    if ending == "exit":
        child.expect("exiting")
        assert child.finish() == 0, child.stderr()
    else:
        child.expect("waiting")
        child.kill()
    assert list((home / "spill").glob("spill-*")), "no spill file left behind"
    assert len(journal_lines(home)) == 300
    with tradetrail.open(home, min_free_bytes=0, clock=SimClock("2024-03-01T13:00")) as trail:
        assert trail.size == 400
        assert trail.stats()["merged"] == 100
        assert trail.record("order.accepted", {"n": 400}).wait(timeout=10) == 400
    records = check_chain(home)
    counts = Counter(r["event_id"] for r in records)
    assert max(counts.values()) == 1
    assert set(failing["ids"]) <= set(counts)
    assert sorted(r["data"]["n"] for r in records) == list(range(401))
    merged = [r for r in records if "spill" in r]
    assert len(merged) == 100
    for record in merged:  # the original time of each event is kept
        assert record["spill"]["at"] <= record["ts"]
    assert not list((home / "spill").glob("spill-*"))
    verify_ok(home)


def test_killed_writer_journal_is_consistent_byte_for_byte(tmp_path: Path) -> None:
    """After kill -9 the journal holds only whole canonical lines (or one torn tail that the
    next open sets aside): nothing in the middle is half-written."""
    home = tmp_path / "trail"
    child = Child(BURST, str(home), "write")
    for _ in range(3000):
        assert child.next_line(timeout=20) is not None
    child.kill()
    data = b"".join(p.read_bytes() for p in sorted((home / "journal").glob("audit-*.jsonl")))
    body, _, _tail = data.rpartition(b"\n")
    for line in body.split(b"\n"):
        record = orjson.loads(line)
        assert orjson.dumps(record, option=orjson.OPT_SORT_KEYS) == line


def test_temp_files_left_by_a_killed_writer_do_not_break_verify(
    tmp_path: Path, verify_ok: Any
) -> None:
    """kill -9 inside write_atomic leaves '.<name>.<pid>.tmp' beside the tile or checkpoint it
    was replacing (seen in test_kill_9_mid_burst...); reopening and verifying must cope."""
    home = tmp_path / "trail"
    clock = SimClock("2024-03-01T12:00:00")
    with tradetrail.open(home, clock=clock, min_free_bytes=0) as trail:
        for n in range(300):
            trail.record("order.accepted", {"n": n})
    leftovers = [
        home / "tiles" / "tile" / "0" / "001.p" / ".45.99999.tmp",
        home / "tiles" / "tile" / "1" / "000.p" / ".2.99999.tmp",
        home / "tiles" / "tile" / "0" / ".001.99999.tmp",
        home / "checkpoints" / ".301.99999.tmp",
        home / ".checkpoint.99999.tmp",
    ]
    for path in leftovers:
        assert path.parent.is_dir(), path.parent
        path.write_bytes(b"\x00" * 17)  # a torn write
    with tradetrail.open(home, clock=clock, min_free_bytes=0) as trail:
        assert trail.size == 300
        assert trail.record("order.accepted", {"n": 300}).wait(timeout=10) == 300
    check_chain(home)
    verify_ok(home)


# --------------------------------------------------------------------------- clean close


REOPEN_AND_BURST = r"""
home = sys.argv[1]
with tradetrail.open(home, clock=clock, min_free_bytes=0) as trail:
    trail.record("order.accepted", {"n": -1}).wait(timeout=10)
emit(phase="closed", mark=(Path(home) / "closed").exists())
trail = tradetrail.open(home, clock=clock, min_free_bytes=0,
                        checkpoint_every=1_000_000, checkpoint_interval=3600)
emit(phase="open", mark=(Path(home) / "closed").exists())
n = 0
while True:
    receipts = [trail.record("order.filled", {"n": n + k}) for k in range(64)]
    n += 64
    for r in receipts:
        r.wait()
    emit(phase="acked", size=trail.size)
"""


def test_kill_9_after_a_clean_close_and_reopen_leaves_a_tail_that_is_signed(
    tmp_path: Path, verify_ok: Any
) -> None:
    """The clean-close mark goes before a reopened writer writes anything: its crash tail is
    a crash tail (checked, then signed), not records 'added after the close'."""
    home = tmp_path / "trail"
    child = Child(REOPEN_AND_BURST, str(home))
    assert child.expect("closed")["mark"] is True
    assert child.expect("open")["mark"] is False
    while child.expect("acked")["size"] < 2000:
        pass
    child.kill()
    assert not (home / "closed").exists()
    signed = open_checkpoint_size(home)
    on_disk = len(journal_lines(home))
    assert on_disk > signed  # an unsigned tail, left by the crash
    with tradetrail.open(home, min_free_bytes=0, clock=SimClock("2024-03-01T13:00")) as trail:
        assert trail.size == on_disk
    assert open_checkpoint_size(home) == on_disk  # the honest tail is signed at reopen
    assert (home / "closed").exists()
    check_chain(home)
    verify_ok(home)


def open_checkpoint_size(home: Path) -> int:
    return int((home / "checkpoint").read_text().split("\n")[1])


# ------------------------------------------------- verify straight after kill -9, and while live

FAST = r"""
home = sys.argv[1]
trail = tradetrail.open(home, durability="write", clock=clock, min_free_bytes=0,
                        checkpoint_every=int(sys.argv[2]), checkpoint_interval=0.2)
n = 0
while True:
    receipts = [trail.record("order.filled", {"n": n + k, "qty": "0.25"}, order_id=f"O-{n + k}")
                for k in range(256)]
    n += 256
    receipts[-1].wait()
    if n == 256:
        emit(phase="running")
"""


def _cli_verify(home: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "tradetrail", "verify", "--home", str(home), "--json"],
        capture_output=True,
        timeout=120,
    )


def test_verify_right_after_kill_9_is_not_a_fault(tmp_path: Path) -> None:
    """A crash campaign: a writer recording at full speed is killed at seeded random moments;
    `tradetrail verify`, run before anything reopens the trail, must exit 0 (a torn last line,
    tiles and checkpoints behind the journal are warnings saying what reopening repairs)."""
    rng = random.Random(12)
    warned = 0
    for trial in range(5):
        home = tmp_path / f"trail{trial}"
        child = Child(FAST, str(home), str(rng.choice([300, 1000, 5000])))
        child.expect("running")
        time.sleep(rng.uniform(0.05, 1.5))
        child.kill()
        result = _cli_verify(home)
        report = json.loads(result.stdout)
        assert result.returncode == 0, (trial, report["faults"][:5])
        assert report["size"] > 0 and report["fault_count"] == 0
        warned += bool(report["warnings"])
    assert warned  # the artefacts were there and were reported as warnings


def test_verify_of_a_live_trail_reads_a_fixed_size(tmp_path: Path) -> None:
    """verify while a writer records: no fault, and it stops at the size the files had when it
    started rather than chasing the growing end."""
    home = tmp_path / "trail"
    child = Child(FAST, str(home), "1000")
    child.expect("running")
    try:
        for _ in range(3):
            time.sleep(0.3)
            result = _cli_verify(home)
            report = json.loads(result.stdout)
            assert result.returncode == 0, report["faults"][:5]
            assert report["writer_running"] is True
    finally:
        child.kill()
