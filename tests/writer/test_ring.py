"""The shared-memory ring between a client and its writer (writer/ring.py, writer/_ring.c): the
ring alone (FIFO, wrap-around, full, a consumer that never trusts the memory), then real
writer processes: events through it, the doorbell of a sleeping writer, and clients that put
garbage into it or pass something else than a sealed ring."""

from __future__ import annotations

import fcntl
import mmap
import os
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tradetrail
from tradetrail.core import layout
from tradetrail.writer import ring as shm
from tradetrail.writer import wire

pytestmark = pytest.mark.skipif(not shm.available(), reason="no shared-memory ring here")


@pytest.fixture(autouse=True)
def _ring_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """open() as users get it: attached to a writer process (the suite's default is the
    embedded writer, see conftest), with the ring (the default where it is available)."""
    monkeypatch.delenv(shm.RING_ENV, raising=False)
    monkeypatch.setenv("TRADETRAIL_WRITER", "auto")


from test_process import (  # noqa: E402
    closed_by_writer,
    journal_records,
    verify_ok,
    wait_for_no_writer,
)


class Slot:
    """Stands in for a receipt: the ring sets `_index` and `_result` on it."""

    _index: int = -1
    _result: Any = None


def pair(capacity: int = 4096) -> tuple[shm.Ring, shm.Ring, mmap.mmap]:
    memory = mmap.mmap(-1, shm.HEADER_BYTES + capacity)
    return shm.Ring(memory, True), shm.Ring(memory, False), memory


# ------------------------------------------------------------------ the ring alone


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1500), st.booleans()), max_size=60))
def test_what_is_put_is_taken_in_order_across_the_wrap(steps: list[tuple[int, bool]]) -> None:
    producer, consumer, _memory = pair()
    unacked: dict[int, Any] = {}
    put: list[tuple[int, bytes]] = []
    taken: list[tuple[int, bytes]] = []
    for size, take_now in steps:
        payload = os.urandom(size)
        got = producer.put(shm.RAW, 7, payload, unacked, slot := Slot())
        if got == -1:  # full: taking makes room, and then it fits
            taken += [(i, p) for _k, i, _s, p in consumer.take(1000, 1 << 30)]
            got = producer.put(shm.RAW, 7, payload, unacked, slot)
        assert got >= 0
        index = got >> 1
        assert unacked[index] is slot and slot._index == index and slot._result == 7
        put.append((index, payload))
        if take_now:
            taken += [(i, p) for _k, i, _s, p in consumer.take(1000, 1 << 30)]
    taken += [(i, p) for _k, i, _s, p in consumer.take(1000, 1 << 30)]
    assert taken == put
    assert [i for i, _ in put] == list(range(len(put)))
    assert not consumer.pending()


def test_a_full_ring_says_so_and_an_entry_larger_than_half_is_refused() -> None:
    producer, consumer, _memory = pair()
    unacked: dict[int, Any] = {}
    while producer.put(shm.RAW, 0, b"x" * 500, unacked, Slot()) >= 0:
        pass
    assert len(unacked) == 4096 // 528  # 24-byte header + 500, padded to 8
    with pytest.raises(ValueError, match="does not fit"):
        producer.put(shm.RAW, 0, b"x" * 2100, unacked, Slot())
    assert len(consumer.take(100, 1 << 30)) == len(unacked)


def test_the_doorbell_is_due_once_per_sleep() -> None:
    producer, consumer, _memory = pair()
    assert consumer.sleep() is True
    assert producer.put(shm.RAW, 0, b"a", {}, Slot()) & 1 == 1
    assert producer.put(shm.RAW, 0, b"b", {}, Slot()) & 1 == 0
    assert consumer.sleep() is False  # events wait: no sleeping now
    consumer.take(10, 1 << 20)
    assert consumer.sleep() is True


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4096 + 255), st.integers(0, 255)), min_size=1, max_size=8))
def test_a_consumer_never_trusts_the_memory(flips: list[tuple[int, int]]) -> None:
    """Any bytes a hostile client writes anywhere: entries or RingError, never a crash or a
    read outside the mapping."""
    producer, consumer, memory = pair()
    for n in range(6):
        producer.put(shm.RAW, 0, bytes([n]) * (100 * n), {}, Slot())
    for offset, value in flips:
        memory[offset] = value
    for _ in range(4):
        try:
            entries = consumer.take(100, 1 << 30)
        except shm.RingError as exc:
            assert "ring entry at byte" in str(exc) or "head" in str(exc)
            return
        for _kind, _index, _since, payload in entries:
            assert len(payload) <= 4096


def test_the_writer_refuses_memory_that_is_not_a_sealed_ring(tmp_path: Path) -> None:
    where = "test"
    plain = os.memfd_create("x")  # not sealed: the client could shrink it (SIGBUS)
    os.ftruncate(plain, shm.HEADER_BYTES + 4096)
    with pytest.raises(tradetrail.errors.ChannelError, match="not sealed"):
        shm.map_client_ring(plain, where)
    read, write = os.pipe()
    os.close(write)
    with pytest.raises(tradetrail.errors.ChannelError, match="not a memory file"):
        shm.map_client_ring(read, where)
    sealed = os.memfd_create("y", os.MFD_ALLOW_SEALING)
    os.ftruncate(sealed, shm.HEADER_BYTES + 4096)
    fcntl.fcntl(sealed, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW)
    with pytest.raises(tradetrail.errors.ChannelError, match="not a tradetrail ring"):
        shm.map_client_ring(sealed, where)  # sealed, but never set up as a ring


# ------------------------------------------------------------------ through a writer process


def test_events_go_through_the_ring_and_wrap_it_many_times(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    trail = tradetrail.open(home, writer="process")
    assert trail.stats()["client"]["transport"] == "shared-memory ring"
    receipts = [
        trail.record(
            "order.accepted", {"status": "new", "note": "n" * (i % 700)}, order_id=f"O-{i}"
        )
        for i in range(30_000)  # ~12 MB through an 8 MB ring
    ]
    assert trail.flush(60)
    assert [r.seq for r in receipts] == list(range(30_000))
    trail.close()
    wait_for_no_writer(home)
    assert [r["order_id"] for r in journal_records(home)] == [f"O-{i}" for i in range(30_000)]
    verify_ok(home)


def test_a_sleeping_writer_is_woken_by_the_doorbell(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    trail = tradetrail.open(home, writer="process")
    trail.record("order.accepted", order_id="O-0").wait(10)
    for n in range(1, 4):
        time.sleep(0.1)  # the writer naps ~2 ms, then sleeps on the doorbell (1 s at most)
        assert trail.record("order.accepted", order_id=f"O-{n}").wait(0.5) == n
    trail.close()


def test_garbage_in_a_ring_is_quarantined_and_only_that_client_dropped(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    trail = tradetrail.open(home, writer="process")
    assert trail.record("order.accepted", order_id="O-1").wait(10) == 0
    addr = wire.address(home)
    evil = wire.connect(addr)
    wire.handshake(evil, "test", {})
    ring, memory, fd = shm.create(1 << 16)
    request = wire.json_frame(wire.REQUEST, {"id": 1, "op": "ring", "args": {}})
    import socket

    socket.send_fds(evil, [request], [fd])
    os.close(fd)
    reader = wire.FrameReader(evil, "test")
    assert reader.read()[0] == wire.REPLY  # type: ignore[index]
    ring.put(shm.RAW, 0, b'["order.accepted","not an id",{}]', {}, Slot())  # a bad event
    assert reader.read()[0] == wire.REJECTED  # type: ignore[index]  (refused, with why)
    for offset in range(shm.HEADER_BYTES + 64, shm.HEADER_BYTES + 128):
        memory[offset] = 0xFF  # then garbage where the next entry goes
    memory[64:72] = (10**6).to_bytes(8, "little")  # and a head far past anything written
    evil.sendall(wire.DOORBELL_FRAME)
    assert closed_by_writer(evil)
    # the writer still serves its real client
    assert trail.record("order.accepted", order_id="O-2").wait(10) == 1
    trail.close()
    wait_for_no_writer(home)
    assert [r["order_id"] for r in journal_records(home)] == ["O-1", "O-2"]
    quarantined = (home / layout.QUARANTINE_DIR / layout.CHANNEL_QUARANTINE_FILE).read_text()
    assert "ring: ring entry at byte 64" in quarantined, quarantined
    verify_ok(home)


@pytest.mark.parametrize("settle", [shm.settle, shm.settle_py], ids=["as-run", "reference"])
def test_settle_resolves_a_run_and_names_what_it_did_not_hold(settle: shm.Settle) -> None:
    class Receipt:
        seq: int | None = None
        _state = 0

    unacked: dict[int, Any] = {i: Receipt() for i in (10, 11, 13)}
    receipts = dict(unacked)
    assert settle(unacked, 10, 500, 4, 3) == [12]
    assert unacked == {}
    assert [(receipts[i].seq, receipts[i]._state) for i in (10, 11, 13)] == [
        (500, 3),
        (501, 3),
        (503, 3),
    ]


def test_rings_can_be_kept_out_of_swap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(shm.LOCK_ENV, "1")
    if os.getuid() == 0:  # root may lock memory: the ring is locked
        ring, memory, fd = shm.create(1 << 16)
        os.close(fd)
        shm.close(ring, memory)
    if "libasan" in os.environ.get("LD_PRELOAD", ""):
        return  # AddressSanitizer makes mlock() a no-op that succeeds
    # a user whose memory-lock limit is 0 gets an error naming the setting and the way out
    code = (
        "import os, resource\n"
        "from tradetrail.writer import ring\n"  # (imported first: nobody may not read it)
        "resource.setrlimit(resource.RLIMIT_MEMLOCK, (0, 0))\n"
        "if os.getuid() == 0: os.setuid(65534)\n"
        "try: ring.create(1 << 16)\n"
        "except OSError as exc: print(exc)\n"
    )
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "TRADETRAIL_LOCK_RING=1: cannot lock" in out.stdout, out
    assert "ulimit -l" in out.stdout


def test_with_the_ring_switched_off_events_go_over_the_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(shm.RING_ENV, "off")
    trail = tradetrail.open(tmp_path / "trail", writer="process")
    assert trail.stats()["client"]["transport"] == "socket"
    assert trail.record("order.accepted", order_id="O-1").wait(10) == 0
    trail.close()


@pytest.mark.parametrize("trial", range(3))
def test_kill_9_of_the_writer_over_the_socket_loses_and_duplicates_nothing(
    tmp_path: Path, trial: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer-kill trials of test_process.py (through the ring, the default) once more
    with the ring switched off: both transports."""
    import test_process

    monkeypatch.setenv(shm.RING_ENV, "off")

    test_process.test_kill_9_of_the_writer_loses_and_duplicates_nothing(tmp_path, trial)
