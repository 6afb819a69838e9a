"""A read-only remount of the trail's disk under a journaling writer (issue 14): a real ext4
on a loop device, mounted `errors=remount-ro`, which the kernel turns read-only at a moment the
test chooses (an ext4 error raised through /sys/fs/ext4/<dev>/trigger_fs_error, as an I/O error
of a failing disk would). record() must neither raise nor block meanwhile, what was acknowledged
before stays intact, what is recorded while the disk is read-only waits in the spill directory
(on another filesystem) and is journaled exactly once when a writer can write again.

A kernel that took the disk read-only after an error does not give it back on `mount -o
remount,rw` (its journal is aborted): as an operator would, the test stops the writer, unmounts,
runs `e2fsck -fy` and mounts the disk again. Needs root, loop devices and ext4; skipped without."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

import tradetrail
import tradetrail.writer.recovery as recovery_mod
import tradetrail.writer.sequencer as sequencer_mod
from conftest import check_chain, console_script, wait_until
from tradetrail.writer.client import probe

pytestmark = pytest.mark.slow

IMAGE_BYTES = 96 * 1024 * 1024
DISK_ERRORS = ("EROFS", "EIO")
"""How ext4 refuses writes once an error turned it read-only: EROFS, or EIO for an fsync
of data written just before (its journal was aborted under it)."""
RECORD_CALL_LIMIT = 0.25
"""Seconds one record() may take at most while the disk is read-only (it takes microseconds;
the margin is for a loaded CI machine, far below what would hold up trading)."""


def _run(*command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


class Ext4Disk:
    """A small ext4 on a loop device, mounted with errors=remount-ro."""

    def __init__(self, image: Path, mount_point: Path) -> None:
        self.image = image
        self.mount_point = mount_point
        self.device = ""
        self.mounted = False

    def mount(self) -> None:
        done = _run(
            "mount", "-t", "ext4", "-o", "errors=remount-ro", self.device, str(self.mount_point)
        )
        if done.returncode != 0:
            raise OSError(f"mount {self.device}: {done.stderr.strip()}")
        self.mounted = True

    def unmount(self, timeout: float = 30) -> None:
        """Unmount, waiting for processes that still hold files there (a writer started on
        demand exits a moment after its last client left) to let go."""
        deadline = time.monotonic() + timeout
        while (done := _run("umount", str(self.mount_point))).returncode != 0:
            if time.monotonic() > deadline:
                raise OSError(f"umount {self.mount_point}: {done.stderr.strip()}")
            time.sleep(0.1)
        self.mounted = False

    @property
    def error_trigger(self) -> Path:
        return Path("/sys/fs/ext4") / Path(self.device).name / "trigger_fs_error"

    def fail(self) -> None:
        """An ext4 error, as a failed metadata read would raise: errors=remount-ro turns the
        filesystem read-only (and aborts its journal) at once."""
        self.error_trigger.write_text("tradetrail test: simulated I/O error\n")

    def writable(self) -> bool:
        probe_file = self.mount_point / ".probe"
        try:
            fd = os.open(probe_file, os.O_WRONLY | os.O_CREAT, 0o600)
        except OSError as exc:
            assert exc.errno == errno.EROFS, exc
            return False
        os.close(fd)
        probe_file.unlink()
        return True

    def repair(self) -> str:
        """Make the disk writable again, as an operator would; says how. Call with no writer
        holding files on it."""
        _run("mount", "-o", "remount,rw", str(self.mount_point))
        if self.writable():
            return "remount,rw"
        self.unmount()
        done = _run("e2fsck", "-fy", self.device, timeout=300)
        if done.returncode not in (0, 1):  # 1: errors corrected
            raise OSError(f"e2fsck {self.device} exited {done.returncode}: {done.stdout}")
        self.mount()
        assert self.writable()
        return "umount, e2fsck -fy, mount"

    def cleanup(self) -> None:
        if self.mounted and _run("umount", str(self.mount_point)).returncode != 0:
            _run("umount", "-l", str(self.mount_point))  # a process still holds a file there
        if self.device:
            _run("losetup", "-d", self.device)


@pytest.fixture
def ext4_disk(tmp_path: Path) -> Iterator[Ext4Disk]:
    if os.geteuid() != 0:
        pytest.skip("needs root to set up a loop device and mount it")
    for tool in ("mkfs.ext4", "losetup", "mount", "umount", "e2fsck"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    image = tmp_path / "disk.img"
    with open(image, "wb") as fh:
        fh.truncate(IMAGE_BYTES)  # sparse
    done = _run("mkfs.ext4", "-q", "-F", str(image))
    if done.returncode != 0:
        pytest.skip(f"mkfs.ext4: {done.stderr.strip()}")
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    disk = Ext4Disk(image, mount_point)
    try:
        done = _run("losetup", "-f", "--show", str(image))
        if done.returncode != 0:
            pytest.skip(f"no loop device: {done.stderr.strip()}")
        disk.device = done.stdout.strip()
        try:
            disk.mount()
        except OSError as exc:
            pytest.skip(f"cannot mount ext4 here: {exc}")
        if not disk.error_trigger.exists():
            pytest.skip(f"this kernel has no {disk.error_trigger}")
        yield disk
    finally:
        disk.cleanup()


def _journal_ids(home: Path) -> dict[str, list[int]]:
    seqs: dict[str, list[int]] = {}
    for record in check_chain(home):
        seqs.setdefault(record["event_id"], []).append(record["seq"])
    return seqs


def _disk_error(text: str) -> bool:
    return any(name in text for name in DISK_ERRORS)


def _tradetrail_verify(home: Path) -> None:
    done = _run(str(console_script()), "verify", "--home", str(home), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


class Recorder:
    """Records into a trail from a thread of its own, as trading would, timing every call."""

    def __init__(self, trail: Any, prefix: str) -> None:
        self.trail = trail
        self.prefix = prefix
        self.receipts: list[Any] = []
        self.errors: list[BaseException] = []
        self.slowest = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        n = 0
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                receipt = self.trail.record("order.accepted", order_id=f"{self.prefix}-{n}")
            except BaseException as exc:  # the assertion is that this never happens
                self.errors.append(exc)
                return
            self.slowest = max(self.slowest, time.perf_counter() - started)
            self.receipts.append(receipt)
            n += 1
            time.sleep(0.002)

    def __enter__(self) -> Recorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive(), "record() hung"


def _start_serve(home: Path, log: Path) -> subprocess.Popen[bytes]:
    """`tradetrail serve`, its log on the test's (healthy) filesystem as a supervisor keeps it."""
    env = {k: v for k, v in os.environ.items() if k != "TRADETRAIL_WRITER"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    with open(log, "ab") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "tradetrail", "serve", "--home", str(home)],
            stdout=out,
            stderr=out,
            env=env,
        )
    deadline = time.monotonic() + 30
    while probe(home) is None:
        assert time.monotonic() < deadline and server.poll() is None, log.read_text()
        time.sleep(0.05)
    return server


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
            raise AssertionError("the writer did not stop on SIGTERM") from None


def test_writer_process_rides_out_a_read_only_remount(
    ext4_disk: Ext4Disk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = ext4_disk.mount_point / "trail"
    spill = tmp_path / "spill"  # on another filesystem, as the README advises
    monkeypatch.setenv("TRADETRAIL_SPILL_DIR", str(spill))
    monkeypatch.setenv("TRADETRAIL_MIN_FREE_BYTES", "0")
    monkeypatch.setenv("TRADETRAIL_WRITER", "auto")  # open() attaches to the writer process
    tradetrail.open(home, writer="embedded", serve=False).close()
    log = tmp_path / "writer.log"
    server = _start_serve(home, log)
    servers = [server]
    trail = tradetrail.open(home)
    try:
        before = [trail.record("order.accepted", order_id=f"B-{i}") for i in range(100)]
        acked = {r.event_id: r.wait(10) for r in before}
        with Recorder(trail, "D") as recorder:
            assert wait_until(lambda: len(recorder.receipts) > 50, timeout=10)
            for r in list(recorder.receipts[:20]):
                acked[r.event_id] = r.wait(10)
            ext4_disk.fail()
            failed_at = time.monotonic()
            journaled_then = {r.event_id: r.seq for r in list(recorder.receipts) if r.journaled}
            acked.update(journaled_then)
            assert not ext4_disk.writable()
            assert wait_until(lambda: trail.stats().get("degraded"), timeout=30), trail.stats()
            noticed = time.monotonic() - failed_at
            count = len(recorder.receipts)
            assert wait_until(lambda: len(recorder.receipts) > count + 200, timeout=10)
            assert wait_until(lambda: recorder.receipts[-50].spilled, timeout=10)
        assert not recorder.errors, recorder.errors
        assert recorder.slowest < RECORD_CALL_LIMIT, recorder.slowest
        stats = trail.stats()
        assert _disk_error(stats["degraded"]), stats
        assert set(stats["write_failures"]["journal"]) <= set(DISK_ERRORS), stats
        assert stats["spill_pending"] > 0 and stats["spill_bytes"] > 0, stats
        assert any(spill.iterdir())
        # the writer can do nothing for the disk: stop it (as an operator would), keep recording
        # while none runs, repair the disk and start the writer again
        _stop(server)
        written = log.read_text()
        assert "cannot write the journal" in written and _disk_error(written), written
        assert "Traceback" not in written, written
        gap = [trail.record("order.accepted", order_id=f"G-{i}") for i in range(50)]
        how = ext4_disk.repair()
        server = _start_serve(home, log)
        servers.append(server)
        receipts = [*before, *recorder.receipts, *gap]
        seqs = [r.wait(60) for r in receipts]
        assert trail.flush(timeout=30) is True
        trail.close(timeout=30)
    finally:
        for s in servers:
            _stop(s)
    journal = _journal_ids(home)
    for event_id, seq in acked.items():
        assert journal[event_id] == [seq], event_id
    counts = Counter({event_id: len(found) for event_id, found in journal.items()})
    assert all(counts[r.event_id] == 1 for r in receipts)
    assert len(set(seqs)) == len(receipts)
    spilled = [r for r in check_chain(home) if r.get("spill")]
    assert spilled and all(_disk_error(r["spill"]["reason"]) for r in spilled)
    _tradetrail_verify(home)
    report = {
        "noticed_after_seconds": round(noticed, 3),
        "slowest_record_call_seconds": round(recorder.slowest, 4),
        "acknowledged_before": len(acked),
        "recorded_while_read_only": len(recorder.receipts) - len(journaled_then) - 20,
        "repaired_by": how,
        "spill_reasons": Counter(str(r["spill"].get("reason")) for r in spilled),
    }
    print(orjson.dumps(report, default=str).decode())
    print(log.read_text())


def test_writer_started_on_demand_keeps_what_its_clients_hand_over(
    ext4_disk: Ext4Disk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As open() runs it by default: the writer a client starts logs to <home>/writer.log, on
    the disk that failed, and exits once its client closes; the next open() merges the spill."""
    home = ext4_disk.mount_point / "trail"
    monkeypatch.setenv("TRADETRAIL_SPILL_DIR", str(tmp_path / "spill"))
    monkeypatch.setenv("TRADETRAIL_MIN_FREE_BYTES", "0")
    monkeypatch.setenv("TRADETRAIL_WRITER", "auto")
    trail = tradetrail.open(home)
    assert trail.stats()["mode"] == "attached"
    before = [trail.record("order.accepted", order_id=f"B-{i}") for i in range(100)]
    acked = {r.event_id: r.wait(10) for r in before}
    with Recorder(trail, "D") as recorder:
        assert wait_until(lambda: len(recorder.receipts) > 50, timeout=10)
        ext4_disk.fail()
        acked.update({r.event_id: r.seq for r in list(recorder.receipts) if r.journaled})
        assert wait_until(lambda: trail.stats().get("degraded"), timeout=30), trail.stats()
        count = len(recorder.receipts)
        assert wait_until(lambda: len(recorder.receipts) > count + 200, timeout=10)
        assert wait_until(lambda: recorder.receipts[-50].spilled, timeout=10)
    assert not recorder.errors, recorder.errors
    assert recorder.slowest < RECORD_CALL_LIMIT, recorder.slowest
    assert _disk_error(trail.stats()["degraded"])
    started = time.monotonic()
    trail.close(timeout=10)  # nothing can be journaled: close hands over and returns
    closed_in = time.monotonic() - started
    assert closed_in < 30, closed_in
    how = ext4_disk.repair()  # once the writer has exited
    trail = tradetrail.open(home)
    try:
        assert trail.flush(timeout=30) is True
        late = trail.record("order.accepted", order_id="after")
        late.wait(10)
    finally:
        trail.close(timeout=30)
    journal = _journal_ids(home)
    missing = {e: s for e, s in acked.items() if journal.get(e) != [s]}
    assert not missing, (len(journal), sorted(missing.values()), (home / "writer.log").read_text())
    for r in [*before, *recorder.receipts, late]:
        assert len(journal.get(r.event_id, [])) == 1, r.event_id
    _tradetrail_verify(home)
    print(orjson.dumps({"close_seconds": round(closed_in, 3), "repaired_by": how}).decode())
    print((home / "writer.log").read_text())


@pytest.mark.embedded
def test_embedded_writer_rides_out_a_read_only_remount(
    ext4_disk: Ext4Disk, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = ext4_disk.mount_point / "trail"
    spill = tmp_path / "spill"
    trail = tradetrail.open(home, writer="embedded", spill_dir=spill, min_free_bytes=0)
    before = [trail.record("order.accepted", order_id=f"B-{i}") for i in range(100)]
    acked = {r.event_id: r.wait(10) for r in before}
    with caplog.at_level("WARNING", logger="tradetrail"):
        with Recorder(trail, "D") as recorder:
            assert wait_until(lambda: len(recorder.receipts) > 50, timeout=10)
            ext4_disk.fail()
            acked.update({r.event_id: r.seq for r in list(recorder.receipts) if r.journaled})
            assert wait_until(lambda: trail.stats()["degraded"], timeout=30)
            count = len(recorder.receipts)
            assert wait_until(lambda: len(recorder.receipts) > count + 200, timeout=10)
            assert wait_until(lambda: recorder.receipts[-50].spilled, timeout=10)
        assert not recorder.errors, recorder.errors
        assert recorder.slowest < RECORD_CALL_LIMIT, recorder.slowest
        stats = trail.stats()
        assert _disk_error(stats["degraded"]), stats
        assert set(stats["write_failures"]["journal"]) <= set(DISK_ERRORS), stats
        assert stats["spill_pending"] > 0 and any(spill.iterdir())
        assert trail.flush(timeout=5) is False
        started = time.monotonic()
        trail.close(timeout=10)
        closed_in = time.monotonic() - started
    assert "cannot write the journal" in caplog.text and _disk_error(caplog.text)
    ext4_disk.repair()
    with tradetrail.open(home, writer="embedded", spill_dir=spill, min_free_bytes=0) as again:
        assert again.stats()["spill_pending"] == 0
    journal = _journal_ids(home)
    for event_id, seq in acked.items():
        assert journal[event_id] == [seq], event_id
    for r in [*before, *recorder.receipts]:
        assert len(journal.get(r.event_id, [])) == 1, r.event_id
    assert not any(spill.iterdir())
    _tradetrail_verify(home)
    print(orjson.dumps({"close_seconds": round(closed_in, 3)}).decode())


@pytest.mark.embedded
def test_a_chunk_acknowledged_just_before_the_disk_failed_is_journaled_again_if_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the real disk above does now and then (an fdatasync racing with the error returns
    0, and e2fsck leaves the file without that chunk), made certain: the acknowledged record
    comes back at its seq from the spill, once."""
    from conftest import JournalFault

    home, spill = tmp_path / "trail", tmp_path / "spill"
    trail = tradetrail.open(home, writer="embedded", spill_dir=spill, min_free_bytes=0)
    first = [trail.record("order.accepted", order_id=f"A-{i}") for i in range(10)]
    [r.wait(10) for r in first]
    last = trail.record("order.accepted", order_id="acked-then-lost")
    assert last.wait(10) == 10
    journal_file = next((home / "journal").glob("audit-*.jsonl"))
    lost_from = journal_file.read_bytes().rindex(b"\n", 0, -1) + 1
    fault = JournalFault(monkeypatch, errno.EROFS, ("write", "ftruncate", "fsync", "fdatasync"))
    fault.active = True

    def read_only(*args: Any, **kwargs: Any) -> None:  # checkpoints and the closed mark too
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(sequencer_mod, "write_atomic", read_only)
    monkeypatch.setattr(recovery_mod, "write_atomic", read_only)
    after = trail.record("order.accepted", order_id="while-read-only")
    assert wait_until(lambda: after.spilled, timeout=10)
    trail.close(timeout=10)
    fault.active = False
    monkeypatch.undo()
    os.truncate(journal_file, lost_from)  # the disk lost the chunk it had acknowledged
    for tile in (home / "tiles").rglob("*.p/11"):  # and the partial tile written after it
        tile.unlink()
    with tradetrail.open(home, writer="embedded", spill_dir=spill, min_free_bytes=0):
        pass
    journal = _journal_ids(home)
    assert journal[last.event_id] == [10]
    assert len(journal[after.event_id]) == 1
    assert all(journal[r.event_id] == [r.seq] for r in first)
    _tradetrail_verify(home)
