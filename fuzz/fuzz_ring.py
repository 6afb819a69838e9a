"""Coverage-guided fuzzing of the shared-memory ring's consumer (tradetrail.writer._ring, the
writer's `Ring.take()`) against a pure-Python parser of the layout in docs/FORMATS.md.

A client writes the ring's memory and may be hostile, so the fuzzer's bytes *are* that memory:
the first SIZE bytes (256 of header and 4 KiB of data, zero-padded when the input is shorter)
are laid over the ring before the writer's side maps it (magic, capacity, head and tail
included), and what follows is a script of further writes, each `sel (u8) | offset (u16 LE) |
n (u8) | n bytes`, written over the memory after a take, followed by a take whose limits `sel`
gives. The consumer must, for any bytes, raise RingError or return exactly the entries the
reference finds (kind, index, since, payload), leave the same tail behind and count the same
events; anything else raises `Mismatch`. The memory ends at an inaccessible page (and, under
AddressSanitizer, the bytes before it are poisoned), so a read outside it crashes the run.

The target runs without atheris (tests/writer/test_fuzz_ring_harness.py replays the seeds
through it); `python3 fuzz/fuzz_ring.py` runs it under atheris (libFuzzer), see fuzz/README.md.
"""

from __future__ import annotations

import ctypes
import mmap
import struct
import sys
from collections.abc import Callable
from typing import Any, Protocol

from tradetrail.writer import ring as shm
from tradetrail.writer.server import RING_BATCH_BYTES
from tradetrail.writer.wire import MAX_BATCH_EVENTS

CAPACITY = 4096
SIZE = shm.HEADER_BYTES + CAPACITY
MAGIC = 0x31474E4952545454  # "TTTRING1"
OFF_CAP, OFF_HEAD, OFF_TAIL = 8, 64, 128
ENTRY_HEAD = 24
WRAP = 0xFFFFFFFF
TOP = 1 << 64
MAX_OPS = 16
FIRST_TAKE = (MAX_BATCH_EVENTS, RING_BATCH_BYTES)  # as the writer takes

Entry = tuple[int, int, int, bytes]


class Mismatch(AssertionError):
    """The consumer answered otherwise than the layout says for one memory image."""


class Consumer(Protocol):
    @property
    def count(self) -> int: ...

    def take(self, max_events: int, max_bytes: int) -> list[Any]: ...


Make = Callable[[memoryview], Consumer]


class Corrupt(Exception):
    """The reference's RingError: the memory breaks the layout."""


WRAPS = 1 << 64  # positions are u64 counters


class Reference:
    """The writer's side of a ring as docs/FORMATS.md describes it, over a copy of the memory.
    Positions are byte counts (`bytes ever written/taken`) modulo 2^64, compared by their
    difference; entries and wrap marks start on 8 bytes."""

    def __init__(self, memory: bytes) -> None:
        magic, cap = struct.unpack_from("<QQ", memory, 0)
        if magic != MAGIC or cap != len(memory) - shm.HEADER_BYTES:
            raise Corrupt("magic or capacity")
        self.cap = cap
        self.tail: int = struct.unpack_from("<Q", memory, OFF_TAIL)[0]
        self.count = 0

    def take(self, memory: bytes, max_events: int, max_bytes: int) -> list[Entry]:
        head: int = struct.unpack_from("<Q", memory, OFF_HEAD)[0]
        tail, cap = self.tail, self.cap
        if (head - tail) % WRAPS > cap or head % 8:
            raise Corrupt(f"head {head} not within one capacity ahead of tail {tail}")
        if tail % 8:
            raise Corrupt(f"tail {tail} not on an 8-byte boundary")
        data = memory[shm.HEADER_BYTES :]
        out: list[Entry] = []
        taken = 0
        while tail != head and len(out) < max_events and taken < max_bytes:
            off = tail % cap
            if struct.unpack_from("<I", data, off)[0] == WRAP:
                if off == 0 or cap - off > (head - tail) % WRAPS:
                    raise Corrupt(f"a wrap mark at offset {off} (or past the head)")
                tail = (tail + cap - off) % WRAPS
                continue
            if cap - off < ENTRY_HEAD:
                raise Corrupt(f"an entry header split at offset {off}")
            length, kind, index, since = struct.unpack_from("<IIQQ", data, off)
            need = (ENTRY_HEAD + length + 7) & ~7
            if need > cap - off or need > (head - tail) % WRAPS:
                raise Corrupt(f"an entry of {length} bytes at offset {off} too long")
            out.append((kind, index, since, data[off + ENTRY_HEAD : off + ENTRY_HEAD + length]))
            taken += length
            tail = (tail + need) % WRAPS
        self.tail = tail
        self.count += len(out)
        return out


class Arena:
    """SIZE bytes of shared memory, 64-aligned, ending where an inaccessible page starts."""

    def __init__(self) -> None:
        page = mmap.PAGESIZE
        pages = -(-SIZE // page)
        self.map = mmap.mmap(-1, (pages + 1) * page)
        start = pages * page - SIZE
        assert start % 64 == 0
        self.memory = memoryview(self.map)[start : start + SIZE]
        base = ctypes.addressof(ctypes.c_char.from_buffer(self.map))
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        if libc.mprotect(base + pages * page, page, 0) != 0:  # PROT_NONE
            raise OSError(ctypes.get_errno(), "mprotect of the guard page")
        poison = getattr(libc, "__asan_poison_memory_region", None)  # only under ASan
        if poison is not None and start:
            poison.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
            poison(base, start)


_arena: Arena | None = None


def arena() -> Arena:
    global _arena
    if _arena is None:
        _arena = Arena()
    return _arena


def installed(memory: memoryview) -> Consumer:
    """The writer's consumer over the memory, as map_client_ring makes it."""
    if shm.Ring is None:
        raise RuntimeError("the ring's accelerator is not built")
    ring: Consumer = shm.Ring(memory, False)
    return ring


def script(data: bytes) -> list[tuple[int, int, bytes]]:
    """The writes and takes after the first: (sel, offset, bytes), at most MAX_OPS."""
    ops: list[tuple[int, int, bytes]] = []
    pos = SIZE
    while pos + 4 <= len(data) and len(ops) < MAX_OPS:
        sel, offset, n = struct.unpack_from("<BHB", data, pos)
        pos += 4
        ops.append((sel, offset % SIZE, data[pos : pos + n]))
        pos += n
    return ops


def limits(sel: int) -> tuple[int, int]:
    """max_events 1..15 (0: the writer's batch), max_bytes 256..3840 (0: unlimited)."""
    return (sel & 15) or 4096, ((sel >> 4) * 256) or (1 << 30)


def check(data: bytes, make: Make = installed) -> None:
    """Lay the input over a ring's memory, take from it as the writer does (`make` builds the
    consumer; by default the installed extension) and raise Mismatch unless every answer is the
    reference's."""
    memory = arena().memory
    memory[:] = data[:SIZE].ljust(SIZE, b"\0")
    image = bytes(memory)
    try:
        ref: Reference | None = Reference(image)
    except Corrupt:
        ref = None
    try:
        ring = make(memory)
    except shm.RingError:
        if ref is not None:
            raise Mismatch(f"refused a well-formed header: {image[:16].hex()}") from None
        return
    except Exception as exc:
        raise Mismatch(f"the consumer's constructor raised {exc!r}") from exc
    try:
        if ref is None:
            raise Mismatch(f"took a ring whose header is wrong: {image[:16].hex()}")
        steps = [(FIRST_TAKE, b"", 0), *((limits(s), b, o) for s, o, b in script(data))]
        for n, ((max_events, max_bytes), write, offset) in enumerate(steps):
            memory[offset : offset + len(write)] = write[: SIZE - offset]
            if not one_take(ring, ref, bytes(memory), max_events, max_bytes, n):
                return
    finally:
        release = getattr(ring, "release", None)
        if release is not None:
            release()


def one_take(
    ring: Consumer, ref: Reference, image: bytes, max_events: int, max_bytes: int, n: int
) -> bool:
    """One take compared; False after the RingError that ends the ring."""
    head = struct.unpack_from("<Q", image, OFF_HEAD)[0]
    where = f"take {n} ({max_events}, {max_bytes}), tail {ref.tail}, head {head}"
    try:
        want: list[Entry] | None = ref.take(image, max_events, max_bytes)
    except Corrupt as exc:
        want, why = None, str(exc)
    try:
        got = ring.take(max_events, max_bytes)
    except shm.RingError:
        if want is not None:
            raise Mismatch(f"{where}: RingError for well-formed entries {want!r:.500}") from None
        return False
    except Exception as exc:
        raise Mismatch(f"{where}: the consumer raised {exc!r}") from exc
    if want is None:
        raise Mismatch(f"{where}: {len(got)} entries {got!r:.300} where the reference finds {why}")
    if not isinstance(got, list) or [tuple(e) for e in got] != want:
        raise Mismatch(f"{where}: {got!r:.500} != reference {want!r:.500}")
    tail = struct.unpack_from("<Q", arena().memory, OFF_TAIL)[0]
    if tail != ref.tail or ring.count != ref.count:
        raise Mismatch(
            f"{where}: tail {tail} and count {ring.count} != reference {ref.tail}, {ref.count}"
        )
    return True


def main() -> None:
    import atheris  # type: ignore[import-untyped]

    from tradetrail.writer import _ring

    arena()  # the guard page before the first input
    print(f"fuzzing {_ring.__file__}", file=sys.stderr)

    def one_input(data: bytes) -> None:
        check(data)

    # the extension's coverage comes from its -fsanitize=fuzzer-no-link build (fuzz/README.md);
    # the harness's own adds which of its outcomes an input reached
    atheris.instrument_func(check)
    atheris.instrument_func(one_take)
    atheris.instrument_func(Reference.take)
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
