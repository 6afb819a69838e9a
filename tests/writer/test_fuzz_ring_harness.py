"""The ring consumer's fuzz harness (fuzz/fuzz_ring.py) without atheris: its target over the
seed corpus, so the harness cannot rot between fuzz runs, proof that it reports a consumer that
answers wrong, and the two findings of its first runs against writer/_ring.c."""

from __future__ import annotations

import signal
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import FUZZ, fuzz_harness
from tradetrail.writer import ring as shm

pytestmark = pytest.mark.skipif(shm.Ring is None, reason="the ring's accelerator is not built")

harness, SEEDS = fuzz_harness("ring")


def seed(name: str) -> bytes:
    return (FUZZ / "corpus" / "ring" / name).read_bytes()


def image(tail: int, head: int, marks: dict[int, int] | None = None) -> bytes:
    """A ring's memory with the right magic and capacity, these counters, and u32s at these
    offsets of the data."""
    memory = bytearray(harness.SIZE)
    struct.pack_into("<QQ", memory, 0, harness.MAGIC, harness.CAPACITY)
    struct.pack_into("<Q", memory, harness.OFF_HEAD, head)
    struct.pack_into("<Q", memory, harness.OFF_TAIL, tail)
    for offset, value in (marks or {}).items():
        struct.pack_into("<I", memory, shm.HEADER_BYTES + offset, value)
    return bytes(memory)


class Wrapped:
    """The installed consumer, its answers passed through `alter` (a consumer gone wrong)."""

    def __init__(self, memory: memoryview, alter: Any = None) -> None:
        self.ring = harness.installed(memory)
        self.alter = alter
        self.answers: list[list[Any] | str] = []

    @property
    def count(self) -> int:
        count: int = self.ring.count
        return count

    def take(self, max_events: int, max_bytes: int) -> list[Any]:
        try:
            got: list[Any] = self.ring.take(max_events, max_bytes)
        except shm.RingError as exc:
            self.answers.append(str(exc))
            if self.alter is None:
                raise
            got = self.alter(None, exc)
            return got
        self.answers.append(got)
        return got if self.alter is None else self.alter(got, None)

    def release(self) -> None:
        self.ring.release()


def outcomes(data: bytes) -> list[list[Any] | str]:
    spies: list[Wrapped] = []

    def make(memory: memoryview) -> Wrapped:
        spies.append(Wrapped(memory))
        return spies[-1]

    harness.check(data, make=make)
    return spies[0].answers if spies else []


@pytest.mark.parametrize("path", SEEDS, ids=[p.name for p in SEEDS])
def test_the_seed_corpus_passes(path: Path) -> None:
    harness.check(path.read_bytes())


def test_the_seeds_reach_entries_of_each_kind_and_every_refusal() -> None:
    """Mutation starts from rings the producer wrote (raw, prepared, replayed, across the wrap,
    full, near the top of 64 bits, more published by a script) and from each RingError."""
    taken = {p.name: outcomes(p.read_bytes()) for p in SEEDS}
    entries = [e for answers in taken.values() for a in answers if isinstance(a, list) for e in a]
    assert {kind for kind, *_ in entries} >= {shm.RAW, shm.PREPARED, shm.RAW | shm.REPLAY}
    assert [len(a) for a in taken["five_events_then_more"]] == [5, 0, 1, 0]
    assert [len(a) for a in taken["wrapped_near_the_top"]] == [5]
    refusals = " ".join(a for answers in taken.values() for a in answers if isinstance(a, str))
    for reason in (
        "head is not within one capacity",
        "an entry longer than what was published",
        "a wrap mark at the start",
        "a wrap mark past the published head",
        "an entry header split",
    ):
        assert reason in refusals
    assert taken["broken_magic"] == taken["broken_capacity"] == []  # refused when mapped


def test_every_input_is_a_ring() -> None:
    for data in (b"", b"\xff" * 64, bytes(range(256)) * 20, seed("five_events") + b"\x00" * 9):
        harness.check(data)


def test_a_payload_cut_short_is_a_mismatch() -> None:
    def cut(got: list[Any] | None, exc: Exception | None) -> list[Any]:
        assert got is not None
        return [(k, i, s, p[:-1]) for k, i, s, p in got]

    with pytest.raises(harness.Mismatch, match="!= reference"):
        harness.check(seed("five_events"), make=lambda memory: Wrapped(memory, cut))


def test_a_consumer_that_stopped_checking_is_a_mismatch() -> None:
    """One that answers no entries where it should raise RingError (the writer would wait for
    a ring it must drop), and one that raises for well-formed entries."""

    def swallow(got: list[Any] | None, exc: Exception | None) -> list[Any]:
        return [] if got is None else got

    def refuse(got: list[Any] | None, exc: Exception | None) -> list[Any]:
        raise shm.RingError("no")

    with pytest.raises(harness.Mismatch, match=r"0 entries .* where the reference finds an entry"):
        harness.check(seed("broken_entry_too_long"), make=lambda m: Wrapped(m, swallow))
    with pytest.raises(harness.Mismatch, match="RingError for well-formed entries"):
        harness.check(seed("wrapped"), make=lambda m: Wrapped(m, refuse))


def test_another_exception_is_a_mismatch() -> None:
    def broken(got: list[Any] | None, exc: Exception | None) -> list[Any]:
        raise IndexError("past the end")

    with pytest.raises(harness.Mismatch, match="raised IndexError"):
        harness.check(seed("five_events"), make=lambda m: Wrapped(m, broken))


def test_a_consumer_that_leaves_the_wrong_tail_is_a_mismatch() -> None:
    def forget(got: list[Any] | None, exc: Exception | None) -> list[Any]:
        harness.arena().memory[harness.OFF_TAIL : harness.OFF_TAIL + 8] = bytes(8)
        return got or []

    with pytest.raises(harness.Mismatch, match="tail 0 and count 5 != reference 320, 5"):
        harness.check(seed("five_events"), make=lambda m: Wrapped(m, forget))


def test_a_consumer_that_takes_a_wrong_header_is_a_mismatch() -> None:
    class Lenient:
        count = 0

        def __init__(self, memory: memoryview) -> None:
            pass

        def take(self, max_events: int, max_bytes: int) -> list[Any]:
            return []

    with pytest.raises(harness.Mismatch, match="took a ring whose header is wrong"):
        harness.check(seed("broken_magic"), make=Lenient)


def run_check(data: bytes) -> subprocess.CompletedProcess[str]:
    """The harness over `data` in a child: a read past the memory kills it, not the suite."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import fuzz_ring; "
        "fuzz_ring.check(bytes.fromhex(sys.argv[2]))"
    )
    return subprocess.run(
        [sys.executable, "-c", code, str(FUZZ), data.hex()],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_read_past_the_memory_faults() -> None:
    """The memory ends where an inaccessible page starts: one byte beyond is a crash, not a
    quiet read of a neighbour's bytes."""
    code = (
        "import ctypes, sys; sys.path.insert(0, sys.argv[1]); import fuzz_ring; "
        "m = fuzz_ring.arena().memory; "
        "end = ctypes.addressof(ctypes.c_char.from_buffer(m)) + len(m); "
        "ctypes.string_at(end - 1, 1); print('inside'); ctypes.string_at(end, 1)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(FUZZ)], capture_output=True, text=True, timeout=60
    )
    assert done.stdout == "inside\n" and done.returncode != 0


def test_finding_an_unaligned_tail_3_bytes_before_the_end_is_refused_in_bounds() -> None:
    """A client that sets the tail 3 bytes before the end of the data (and a head 8 bytes past
    the end): take() read the 4-byte wrap mark at data + 4093, 1 byte past the memory (found
    by this harness); an unaligned tail is now refused before anything is read."""
    done = run_check(image(tail=4093, head=4104))
    crashed = done.returncode == -signal.SIGSEGV or "AddressSanitizer: SEGV" in done.stderr
    if done.returncode != 0 and not crashed:
        raise RuntimeError(f"not the finding: {done.returncode} {done.stderr[-2000:]}")
    assert done.returncode == 0, "take() read past the memory"


def test_finding_a_wrap_mark_just_below_2_64_is_refused() -> None:
    """Tail 2^64-16, head 2^64-8 (8 bytes published) and a wrap mark in the last 16 bytes:
    the skip took tail past 2^64 to 0, then take() read 4096 entries of never-published
    memory instead of raising RingError (found by this harness); a wrap mark that skips past
    what was published is now refused."""
    done = run_check(image(tail=(1 << 64) - 16, head=(1 << 64) - 8, marks={4080: 0xFFFFFFFF}))
    finding = "4096 entries [(0, 0, 0, b'')"
    if done.returncode != 0 and finding not in done.stderr:
        raise RuntimeError(f"not the finding: {done.returncode} {done.stderr[-2000:]}")
    assert done.returncode == 0, done.stderr[-500:]
