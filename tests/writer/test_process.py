"""The writer process with real processes: many clients, one trail; kill -9 of the writer and
of a client; a hostile client; fork; spilling while no writer can run; `tradetrail serve`."""

from __future__ import annotations

import importlib.util
import os
import signal
import struct
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
from tradetrail.core import layout
from tradetrail.writer import wire
from tradetrail.writer.client import probe
from tradetrail.writer.process import EX_TEMPFAIL, GC_THRESHOLDS

pytestmark = pytest.mark.slow

WORKER = Path(__file__).with_name("process_worker.py")


@pytest.fixture(autouse=True)
def _attached(monkeypatch: pytest.MonkeyPatch) -> None:
    """open() as users get it: attached to a writer process (the suite's default is the
    embedded writer, see conftest)."""
    monkeypatch.setenv("TRADETRAIL_WRITER", "auto")


def journal_records(home: Path) -> list[dict[str, Any]]:
    records = []
    for path in sorted((home / layout.JOURNAL_DIR).glob("audit-*.jsonl")):
        for line in path.read_bytes().splitlines():
            records.append(orjson.loads(line))
    return records


def wait_for_no_writer(home: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while probe(home, timeout=0.5) is not None:
        assert time.monotonic() < deadline, "the writer process did not exit"
        time.sleep(0.05)
    # the lock is released once the process is gone
    while True:
        try:
            fd = os.open(home / layout.LOCK_FILE, os.O_RDWR)
        except FileNotFoundError:
            return
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            assert time.monotonic() < deadline, "the writer lock is still held"
            time.sleep(0.05)
        finally:
            os.close(fd)


def closed_by_writer(sock: Any) -> bool:
    try:
        return bool(sock.recv(100) == b"")
    except ConnectionResetError:
        return True


def verify_ok(home: Path) -> None:
    report = tradetrail.verify(home)
    assert report.ok, report


def child_env() -> dict[str, str]:
    """The environment of a process a test starts: this tradetrail on its path, and open()'s
    default writer (a process), as a user's program gets it."""
    env = {k: v for k, v in os.environ.items() if k != "TRADETRAIL_WRITER"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


def start_workers(home: Path, count: int, events: int, threads: int, mode: str = "ack") -> list:
    env = child_env()
    return [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(home), f"p{n}", str(events), str(threads), mode],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for n in range(count)
    ]


def acknowledged(procs: list) -> dict[str, int]:
    acks: dict[str, int] = {}
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err.decode()[-3000:]
        for line in out.decode().splitlines():
            row = orjson.loads(line)
            if "id" in row:
                acks[row["id"]] = row["seq"]
    return acks


def test_eight_processes_record_into_one_trail(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    tradetrail.open(home, writer="embedded", serve=False).close()
    procs = start_workers(home, 8, 400, 2)
    acks = acknowledged(procs)
    wait_for_no_writer(home)  # the writer exits when its last client leaves
    records = journal_records(home)
    by_id = {r["event_id"]: r["seq"] for r in records}
    assert len(acks) == 8 * 2 * 400
    assert all(by_id[event_id] == seq for event_id, seq in acks.items())
    counts = Counter(r.get("account") for r in records)
    assert all(counts[f"p{n}"] == 800 for n in range(8))
    assert [r["seq"] for r in records] == list(range(len(records)))
    verify_ok(home)


def test_open_starts_a_writer_that_leaves_with_its_last_client(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    trail = tradetrail.open(home)
    assert type(trail).__name__ == "AttachedTrail"
    info = probe(home)
    assert info is not None and info["pid"] != os.getpid()
    stats = trail.stats()
    assert stats["accelerator"] == info["accelerator"]
    built = importlib.util.find_spec("tradetrail.core._shape") is not None
    compiled = built and os.environ.get("TRADETRAIL_ACCELERATOR") != "off"
    assert stats["shaper"] == info["shaper"] == ("compiled" if compiled else "python")
    # a process that is the writer and nothing else tunes its cycle collector
    assert stats["collector"]["thresholds"] == list(GC_THRESHOLDS)
    assert stats["collector"]["frozen"] > 1000
    seq = trail.record("order.accepted", {"status": "accepted"}, order_id="O-1").wait(10)
    assert seq == 0 and trail.size == 1
    trail.checkpoint(10)
    assert trail.inclusion_proof(0)["tree_size"] == 1
    trail.close()
    wait_for_no_writer(home)
    assert [r["order_id"] for r in journal_records(home)] == ["O-1"]
    verify_ok(home)


def test_a_writer_racing_to_start_leaves_the_one_that_won_serving(tmp_path: Path) -> None:
    """Clients that find no writer each start one; the losers must not evict the winner
    before its first client has attached (it would leave a late writer waiting for clients
    that went elsewhere, holding the lock)."""
    home = tmp_path / "trail"
    command = [sys.executable, "-m", "tradetrail.writer.process", "--home", str(home)]
    first = subprocess.Popen(
        [*command, "--exit-when-idle"],
        env=child_env(),
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while (info := probe(home, timeout=0.5)) is None:
            assert time.monotonic() < deadline and first.poll() is None, "no writer started"
            time.sleep(0.05)
        assert info["pid"] == first.pid
        second = subprocess.run(
            [*command, "--exit-when-idle"],
            env=child_env(),
            capture_output=True,
            timeout=60,
        )
        assert second.returncode == EX_TEMPFAIL, second.stderr.decode()
        assert b"already open for writing" in second.stderr
        info = probe(home, timeout=2)
        assert info is not None and info["pid"] == first.pid and first.poll() is None
    finally:
        first.terminate()
        first.wait(30)


def kill_writer(home: Path) -> int:
    info = probe(home)
    assert info is not None
    os.kill(info["pid"], signal.SIGKILL)
    return int(info["pid"])


@pytest.mark.parametrize("trial", range(4))
def test_kill_9_of_the_writer_loses_and_duplicates_nothing(tmp_path: Path, trial: int) -> None:
    home = tmp_path / "trail"
    trail = tradetrail.open(home)
    receipts = []
    stop = threading.Event()

    def produce() -> None:
        i = 0
        while not stop.is_set():
            receipts.append(trail.record("order.accepted", order_id=f"O-{i}"))
            i += 1
            if i % 100 == 0:
                time.sleep(0.001)

    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(0.05 + 0.07 * trial)
    first = kill_writer(home)
    time.sleep(0.05 + 0.03 * trial)
    stop.set()
    producer.join()
    seqs = [r.wait(30) for r in receipts]
    stats = trail.stats()
    assert stats["writer_pid"] != first and stats["client"]["reconnects"] >= 1
    trail.close()
    wait_for_no_writer(home)
    records = journal_records(home)
    ids = Counter(r["event_id"] for r in records)
    assert all(ids[r.event_id] == 1 for r in receipts), "an event was journaled twice or lost"
    by_id = {r["event_id"]: r["seq"] for r in records}
    assert [by_id[r.event_id] for r in receipts] == seqs
    verify_ok(home)


def test_kill_9_of_a_client_keeps_what_it_handed_over(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    tradetrail.open(home, writer="embedded", serve=False).close()
    (proc,) = start_workers(home, 1, 2000, 1, "handover")
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line == b"handed-over\n", proc.stderr.read().decode() if proc.stderr else ""
    proc.kill()
    proc.wait()
    wait_for_no_writer(home)
    records = journal_records(home)
    assert len({r["order_id"] for r in records}) == 2000
    verify_ok(home)


def test_a_hostile_client_cannot_crash_the_writer_or_reach_the_journal(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    trail = tradetrail.open(home)
    addr = wire.address(home)
    # 1. a client that skips HELLO and sends garbage: dropped, quarantined
    bad = wire.connect(addr)
    bad.sendall(b"\x00\x00\x00\x05\x63garbage and more")
    assert closed_by_writer(bad)
    # 2. a polite client whose events do not splice into canonical records
    evil = wire.connect(addr)
    evil.sendall(wire.json_frame(wire.HELLO, {"wire": wire.WIRE_VERSION, "pid": 1}))
    reader = wire.FrameReader(evil, "test")
    assert reader.read()[0] == wire.WELCOME  # type: ignore[index]
    forged = (b'{"event_id":"x","seq":5,"prev":"', b'","seq":', b',"ts":"', b'","type":"a.b"}')
    evil.sendall(wire.events_frame(0, [forged, (b"{", b"", b"", b"")]))
    kinds = [reader.read()[0] for _ in range(2)]  # type: ignore[index]
    assert kinds == [wire.REJECTED, wire.REJECTED]
    # 3. a frame that claims to be enormous
    evil.sendall(struct.pack("!IB", wire.MAX_FRAME + 1, wire.EVENTS))
    assert closed_by_writer(evil)
    # the writer still serves its real client
    assert trail.record("order.accepted", order_id="O-1").wait(10) == 0
    trail.close()
    wait_for_no_writer(home)
    assert [r["order_id"] for r in journal_records(home)] == ["O-1"]
    quarantined = (home / layout.QUARANTINE_DIR / layout.CHANNEL_QUARANTINE_FILE).read_text()
    assert quarantined.count("\n") == 4, quarantined  # garbage, 2 events, the huge frame
    assert "unknown frame kind" in quarantined and "exceeds" in quarantined
    assert "event 0: " in quarantined and "event 1: not JSON" in quarantined
    verify_ok(home)


def test_a_peer_of_another_user_is_refused(tmp_path: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to connect as another user")
    import shutil
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="tradetrail-uid-", dir="/tmp"))
    request_cleanup = shutil.rmtree
    home = base / "trail"
    os.chmod(base, 0o755)
    trail = tradetrail.open(home)
    os.chmod(home / layout.SOCKET_FILE, 0o777)
    os.chmod(home, 0o755)
    code = (
        "import os, socket, sys\n"
        "os.setuid(65534)\n"
        "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
        "try:\n"
        "    s.sendall(b'x' * 10)\n"  # (the writer may have hung up already: refused too)
        "    print(repr(s.recv(10)))\n"
        "except (BrokenPipeError, ConnectionResetError): print(repr(b''))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(home / layout.SOCKET_FILE)],
        capture_output=True,
        timeout=20,
    )
    assert out.stdout.strip() == b"b''", out
    assert trail.record("order.accepted", order_id="O-1").wait(10) == 0
    trail.close()
    text = (home / layout.QUARANTINE_DIR / layout.CHANNEL_QUARANTINE_FILE).read_text()
    request_cleanup(base)
    assert "uid 65534" in text


def test_after_fork_the_child_attaches_anew(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    trail = tradetrail.open(home)
    trail.record("order.accepted", order_id="parent-1").wait(10)
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            seq = trail.record("order.accepted", order_id="child-1").wait(10)
            trail.flush(10)
            code = 0 if seq >= 1 else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    trail.record("order.accepted", order_id="parent-2").wait(10)
    trail.close()
    wait_for_no_writer(home)
    assert sorted(r["order_id"] for r in journal_records(home)) == [
        "child-1",
        "parent-1",
        "parent-2",
    ]
    verify_ok(home)


def test_no_writer_can_run_so_the_client_spills_then_it_is_merged_once(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    trail = tradetrail.open(home)
    trail.record("order.accepted", order_id="before").wait(10)
    holder = None

    # the writer dies and, meanwhile, something else holds the trail without serving it
    # (here: an embedded writer kept to its process, as retention apply does)
    kill_writer(home)
    wait_for_no_writer(home)
    holder = tradetrail.open(home, writer="embedded", serve=False)
    receipts = [trail.record("order.accepted", order_id=f"O-{i}") for i in range(50)]
    deadline = time.monotonic() + 20
    while not all(r.spilled for r in receipts):
        assert time.monotonic() < deadline, trail.stats()["client"]
        time.sleep(0.05)
    assert list((home / layout.SPILL_DIR).glob("spill-*"))
    holder.close()  # the holder goes; the client's next attempt starts a writer
    seqs = [r.wait(30) for r in receipts]
    assert trail.flush(20)
    trail.close()
    wait_for_no_writer(home)
    records = journal_records(home)
    ids = Counter(r["event_id"] for r in records)
    assert all(ids[r.event_id] == 1 for r in receipts)
    by_id = {r["event_id"]: r["seq"] for r in records}
    assert [by_id[r.event_id] for r in receipts] == seqs
    assert not list((home / layout.SPILL_DIR).glob("spill-*"))
    verify_ok(home)


def test_commands_record_through_a_running_writer(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    trail = tradetrail.open(home)  # a trading process
    env = child_env()
    done = subprocess.run(
        [sys.executable, "-m", "tradetrail", "record", "--home", str(home), "--type",
         "config.changed", "--data", '{"key": "max_qty", "old": "1", "new": "2"}', "--json"],
        capture_output=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert orjson.loads(done.stdout) == {"seq": 0}
    assert trail.record("order.accepted", order_id="O-1").wait(10) == 1
    trail.close()
    wait_for_no_writer(home)
    assert [r["type"] for r in journal_records(home)] == ["config.changed", "order.accepted"]
    assert not (home / layout.SPILL_DIR).exists() or not any((home / layout.SPILL_DIR).iterdir())


def test_an_embedded_writer_serves_other_processes(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    embedded = tradetrail.open(home, writer="embedded")
    procs = start_workers(home, 2, 200, 1)
    acks = acknowledged(procs)
    assert len(acks) == 400
    embedded.record("order.accepted", order_id="mine").wait(10)
    embedded.close()
    records = journal_records(home)
    assert len(records) == 401
    verify_ok(home)


def test_serve_runs_the_writer_until_sigterm(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    tradetrail.open(home, writer="embedded", serve=False).close()
    server = start_serve(home, stderr=subprocess.PIPE)
    trail = tradetrail.open(home)
    trail.record("order.accepted", order_id="O-1").wait(10)
    trail.close()
    time.sleep(1.0)  # a served writer stays when its last client leaves
    assert probe(home) is not None
    server.send_signal(signal.SIGTERM)
    _, err = server.communicate(timeout=30)
    assert server.returncode == 0, err.decode()
    assert b"stopped at 1 records" in err
    assert (home / layout.CLOSED_FILE).exists()  # a clean close, signed
    assert not (home / layout.SOCKET_FILE).exists()
    verify_ok(home)


def test_socket_of_a_long_home_is_abstract(tmp_path: Path) -> None:
    home = tmp_path / ("x" * 120)
    addr = wire.address(home)
    assert isinstance(addr, bytes) and addr.startswith(b"\0tradetrail-")
    trail = tradetrail.open(home)
    assert trail.record("order.accepted", order_id="O-1").wait(10) == 0
    trail.close()
    wait_for_no_writer(home)


def test_wire_runs_merge_consecutive_acknowledgements() -> None:
    runs = wire.runs([(0, 10, 1), (1, 11, 1), (2, 15, 1), (3, 0, 2), (4, 0, 2), (6, 16, 1)])
    assert runs == [(0, 10, 2, 1), (2, 15, 1, 1), (3, 0, 2, 2), (6, 16, 1, 1)]
    frame = wire.ack_frame(runs)
    assert list(wire.parse_acks(frame[5:])) == runs


def test_a_writer_of_another_wire_version_refuses_clearly(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    trail = tradetrail.open(home)
    sock = wire.connect(wire.address(home))
    sock.sendall(wire.json_frame(wire.HELLO, {"wire": 1, "pid": 1}))
    kind, payload = wire.FrameReader(sock, "test").read()  # type: ignore[misc]
    assert kind == wire.WELCOME
    assert (
        f"speaks wire version {wire.WIRE_VERSION}, the client 1" in orjson.loads(payload)["refused"]
    )
    assert closed_by_writer(sock)
    assert trail.record("order.accepted", order_id="O-1").wait(10) == 0
    trail.close()


def test_a_client_no_writer_takes_spills_backs_off_and_replays_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "trail"
    trail = tradetrail.open(home)
    trail.record("order.accepted", order_id="first").wait(10)
    info = probe(home)
    assert info is not None
    monkeypatch.setattr(wire, "WIRE_VERSION", 99)  # every writer refuses this client now
    os.kill(info["pid"], signal.SIGKILL)
    receipts = [trail.record("order.accepted", order_id=f"O-{i}") for i in range(20)]
    deadline = time.monotonic() + 20
    while not all(r.spilled for r in receipts):
        assert time.monotonic() < deadline, trail.stats()["client"]
        time.sleep(0.05)
    attempts = trail.stats()["client"]["writers_started"]
    time.sleep(1.0)
    assert trail.stats()["client"]["writers_started"] - attempts <= 2  # backing off
    monkeypatch.setattr(wire, "WIRE_VERSION", 2)
    seqs = [r.wait(30) for r in receipts]
    trail.close()
    wait_for_no_writer(home)
    records = journal_records(home)
    ids = Counter(r["event_id"] for r in records)
    assert all(ids[r.event_id] == 1 for r in receipts)
    assert sorted(seqs) == seqs == list(range(1, 21))
    verify_ok(home)


@pytest.fixture
def small_disk(tmp_path: Path) -> Any:
    """A 4 MiB tmpfs of its own (needs root and mount rights; skipped otherwise)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(mount)], capture_output=True)
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    return filler


def test_disk_full_under_the_writer_process_spills_then_merges_once(
    small_disk: Path, tmp_path: Path
) -> None:
    home = small_disk / "trail"
    trail = tradetrail.open(home, spill_dir=tmp_path / "spill", min_free_bytes=0)
    trail.record("order.accepted", order_id="before").wait(10)
    filler = fill(small_disk)
    receipts = [trail.record("order.accepted", order_id=f"O-{i}", data=None) for i in range(300)]
    deadline = time.monotonic() + 20
    while not all(r.spilled or r.journaled for r in receipts):
        assert time.monotonic() < deadline, trail.stats()
        time.sleep(0.05)
    assert trail.stats()["degraded"]
    filler.unlink()  # room again: the writer merges its spill and tells us the seqs
    seqs = [r.wait(60) for r in receipts]
    assert trail.flush(30)
    trail.close()
    wait_for_no_writer(home)
    records = journal_records(home)
    ids = Counter(r["event_id"] for r in records)
    assert all(ids[r.event_id] == 1 for r in receipts)
    assert len(set(seqs)) == 300
    verify_ok(home)


@pytest.fixture(scope="module")
def process_trail(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A trail written by a writer process (300 records, checkpoints every 50) and a copy of
    its checkpoint kept elsewhere, as an auditor keeps it."""
    import shutil as _shutil

    home = tmp_path_factory.mktemp("process-trail") / "trail"
    env = dict(os.environ, TRADETRAIL_WRITER="auto")
    old = os.environ.copy()
    os.environ.update(env)
    try:
        trail = tradetrail.open(home, checkpoint_every=50)
        receipts = [
            trail.record("order.accepted", {"status": "accepted"}, order_id=f"O-{i}")
            for i in range(300)
        ]
        assert [r.wait(30) for r in receipts] == list(range(300))
        trail.checkpoint(10)
        trail.close()
        wait_for_no_writer(home)
    finally:
        os.environ.clear()
        os.environ.update(old)
    kept = home.parent / "kept-checkpoint"
    _shutil.copy(home / layout.CHECKPOINT_FILE, kept)
    return home, kept


@pytest.mark.parametrize("tamper", ["alter", "delete", "swap", "truncate"])
def test_tampering_with_a_trail_the_writer_process_wrote_is_found(
    process_trail: tuple[Path, Path], tmp_path: Path, tamper: str
) -> None:
    import shutil as _shutil

    template, kept = process_trail
    home = tmp_path / "trail"
    _shutil.copytree(template, home)
    assert tradetrail.verify(home, checkpoints=[kept]).ok
    (day,) = sorted((home / layout.JOURNAL_DIR).glob("audit-*.jsonl"))
    day.chmod(0o644)
    lines = day.read_bytes().splitlines(keepends=True)
    if tamper == "alter":
        lines[120] = lines[120].replace(b"O-120", b"O-999")
    elif tamper == "delete":
        del lines[77]
    elif tamper == "swap":
        lines[10], lines[11] = lines[11], lines[10]
    else:  # cut the last records, and the checkpoints that cover them
        del lines[280:]
        for path in (home / layout.CHECKPOINTS_DIR).iterdir():
            if int(path.name) > 280:
                path.unlink()
        newest = max(int(p.name) for p in (home / layout.CHECKPOINTS_DIR).iterdir())
        _shutil.copy(home / layout.CHECKPOINTS_DIR / str(newest), home / layout.CHECKPOINT_FILE)
        (home / layout.CLOSED_FILE).unlink()
    day.write_bytes(b"".join(lines))
    report = tradetrail.verify(home, checkpoints=[kept])
    assert not report.ok, tamper


def test_every_record_of_a_process_written_trail_proves_its_inclusion(
    process_trail: tuple[Path, Path],
) -> None:
    from tradetrail.store.proofs import inclusion_proof_json

    home, _ = process_trail
    vkey = (home / layout.VKEY_FILE).read_text().strip()
    for seq in range(0, 300, 7):
        proof = inclusion_proof_json(home, seq, None)
        assert tradetrail.verify_proof(proof, [vkey])


def start_serve(home: Path, stderr: int = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    """`tradetrail serve` in a process of its own, once its writer answers."""
    env = child_env()
    server = subprocess.Popen(
        [sys.executable, "-m", "tradetrail", "serve", "--home", str(home)],
        stderr=stderr,
        env=env,
    )
    deadline = time.monotonic() + 20
    while probe(home) is None:
        assert time.monotonic() < deadline and server.poll() is None
        time.sleep(0.05)
    return server


def test_clients_of_a_supervised_writer_wait_for_its_supervisor(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    tradetrail.open(home, writer="embedded", serve=False).close()
    server = start_serve(home)
    trail = tradetrail.open(home)
    trail.record("order.accepted", order_id="before").wait(10)
    server.kill()  # the supervised writer dies; its supervisor restarts it a little later
    server.wait()
    receipts = [trail.record("order.accepted", order_id=f"O-{i}") for i in range(20)]
    deadline = time.monotonic() + 20
    while not all(r.spilled for r in receipts):
        assert time.monotonic() < deadline, trail.stats()["client"]
        time.sleep(0.05)
    assert trail.stats()["client"]["writers_started"] == 0  # none of its own
    server = start_serve(home)
    try:
        seqs = [r.wait(30) for r in receipts]
        trail.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    ids = Counter(r["event_id"] for r in journal_records(home))
    assert all(ids[r.event_id] == 1 for r in receipts) and len(set(seqs)) == 20
    verify_ok(home)


def test_a_batch_larger_than_the_writers_queue_is_taken(tmp_path: Path) -> None:
    """Back-pressure must not wait for room the queue can never have (queue_size=1 here):
    the writer would hang on that client and never leave."""
    home = tmp_path / "trail"
    trail = tradetrail.open(home, queue_size=1)
    receipts = [trail.record("order.accepted", order_id=f"O-{i}") for i in range(500)]
    assert [r.wait(30) for r in receipts] == list(range(500))
    trail.close()
    wait_for_no_writer(home)


def test_the_warnings_of_a_writer_process_reach_the_process_that_opened_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "trail"
    with caplog.at_level("WARNING", logger="tradetrail"):
        trail = tradetrail.open(home, min_free_bytes=2**62)
    trail.close()
    assert "generated a signing key" in caplog.text and "free" in caplog.text


def test_a_schema_mismatch_the_writer_finds_is_told_to_the_caller(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "trail"
    trail = tradetrail.open(home)
    trail.record("order.accepted", {"status": "accepted"}, order_id="O-1").wait(10)
    with caplog.at_level("WARNING", logger="tradetrail"):
        receipt = trail.record("order.accepted", {"qty": 1}, order_id="O-2")  # goes raw
        receipt.wait(10)
        assert type(receipt.event).__name__ == "RawEvent"
        deadline = time.monotonic() + 10
        while "recorded with schema_error" not in caplog.text:
            assert time.monotonic() < deadline, caplog.text
            time.sleep(0.02)
        trail.record("order.accepted", {"qty": 2}, order_id="O-3").wait(10)
    assert caplog.text.count("order.accepted: recorded with schema_error") == 1  # once a type
    assert trail.stats()["schema_errors"] == 2
    trail.close()
