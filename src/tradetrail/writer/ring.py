"""The fast path between a client process and its writer on Linux: a ring in shared memory
(writer/_ring.c) into which the client's record() writes each event with one call and no
system call, and from which the writer takes them in batches. The Unix socket stays for the
handshake, calls, acknowledgements and the doorbell (one frame when the writer sleeps).

The client makes the memory: an anonymous memfd, sealed so that it can neither shrink nor grow
(the writer maps it and must never touch a page the client could take away: SIGBUS), passed to
the writer over the socket (SCM_RIGHTS) with a `ring` call. Nothing has a name in the file
system, and nothing outlives the two processes. Events may sit there unredacted: memory shared
between a client and its writer on one host, like their own heaps (docs/WRITER.md says how to
keep it out of swap).

An entry's kind: RAW (the caller's JSON: core.canonical.RawEvent) or PREPARED (the four parts
of an event the caller shaped), with REPLAY set for events re-sent after the client lost its
writer (the entry's `since` says from which seq the journal must be searched for them).
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import stat
import struct
import sys
from collections.abc import Callable
from typing import Any, Final

from ..core.chain import accelerator_wanted
from ..errors import ChannelError
from .wire import Parts

Settle = Callable[[dict[int, Any], int, int, int, object], list[int]]


def settle_py(
    unacked: dict[int, Any], first: int, seq: int, count: int, state: object
) -> list[int]:
    """The reference of the compiled `settle` (writer/_ring.c): the receipts of a run of
    journaled events numbered `first`.. popped from `unacked` and given their seq and `state`;
    returns the numbers it did not hold."""
    missing: list[int] = []
    for offset in range(count):
        receipt = unacked.pop(first + offset, None)
        if receipt is None:
            missing.append(first + offset)
            continue
        receipt.seq = seq + offset
        receipt._state = state
    return missing


settle: Settle
try:
    from ._ring import Ring, RingError
    from ._ring import settle as _settle
except ImportError:  # no accelerator: the socket carries the events
    Ring = None  # type: ignore[assignment,misc]
    RingError = ValueError  # type: ignore[assignment,misc]
    settle = settle_py
else:
    settle = _settle if accelerator_wanted() else settle_py
"""The client's settling of a run of journaled events: compiled, or its reference."""

RAW: Final = 1
PREPARED: Final = 2
REPLAY: Final = 0x80
HEADER_BYTES: Final = 256
DEFAULT_CAPACITY: Final = 8 * 1024 * 1024
MAX_CAPACITY: Final = 256 * 1024 * 1024
_SEALS: Final = getattr(fcntl, "F_SEAL_SHRINK", 2) | getattr(fcntl, "F_SEAL_GROW", 4)
_PARTS: Final = struct.Struct("<IIII")

__all__ = ["Ring", "RingError", "available", "capacity_for", "create", "map_client_ring"]


RING_ENV: Final = "TRADETRAIL_RING"
"""Set to off in a client to hand its events over on the socket even where a ring could."""


def available() -> bool:
    """True where a ring can carry events: Linux with the accelerator built and wanted. A
    writer takes a client's ring wherever this holds."""
    return (
        Ring is not None
        and sys.platform.startswith("linux")
        and hasattr(os, "memfd_create")
        and hasattr(fcntl, "F_ADD_SEALS")
        and accelerator_wanted()
    )


def wanted() -> bool:
    """True when this client offers its writer a ring: available, unless TRADETRAIL_RING=off."""
    off = os.environ.get(RING_ENV, "").strip().lower() in ("off", "0", "no", "false")
    return not off and available()


def capacity_for(max_event_bytes: int) -> int:
    """A power of two that holds at least 8 of the largest events (an entry may use at most
    half of it), and at least DEFAULT_CAPACITY."""
    want = max(DEFAULT_CAPACITY, 8 * (max_event_bytes + 64))
    return min(1 << (want - 1).bit_length(), MAX_CAPACITY)


LOCK_ENV: Final = "TRADETRAIL_LOCK_RING"
"""Set to 1 to keep rings out of swap (mlock); see docs/WRITER.md."""


def create(capacity: int) -> tuple[Ring, mmap.mmap, int]:
    """The client's side: (ring, its mapping, the sealed memfd to pass to the writer; the
    caller closes it once passed). With TRADETRAIL_LOCK_RING=1 its pages are locked in RAM;
    OSError when the memory-lock limit forbids, which the caller reports."""
    assert Ring is not None
    fd = os.memfd_create("tradetrail-ring", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        os.ftruncate(fd, HEADER_BYTES + capacity)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS | fcntl.F_SEAL_SEAL)
        memory = mmap.mmap(fd, HEADER_BYTES + capacity, mmap.MAP_SHARED)
    except BaseException:
        os.close(fd)
        raise
    ring = Ring(memory, True)
    if os.environ.get(LOCK_ENV, "").strip().lower() in ("1", "true", "yes", "on"):
        try:
            ring.lock()
        except OSError as exc:
            close(ring, memory)
            os.close(fd)
            raise OSError(
                exc.errno,
                f"{LOCK_ENV}=1: cannot lock {HEADER_BYTES + capacity} bytes of ring in RAM "
                f"({exc.strerror}; raise `ulimit -l` or grant CAP_IPC_LOCK)",
            ) from None
    return ring, memory, fd


def map_client_ring(fd: int, where: str) -> tuple[Ring, mmap.mmap]:
    """The writer's side: map the memory a client passed, after checking it is what `create`
    makes (a regular file, sealed against shrinking, of a sane size). Closes `fd`. Raises
    ChannelError naming what is wrong."""
    assert Ring is not None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ChannelError("the ring is not a memory file", where)
        seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
        if seals & _SEALS != _SEALS:
            raise ChannelError("the ring's memory is not sealed against resizing", where)
        size = info.st_size
        if not HEADER_BYTES + 4096 <= size <= HEADER_BYTES + MAX_CAPACITY:
            raise ChannelError(f"a ring of {size} bytes", where)
        memory = mmap.mmap(fd, size, mmap.MAP_SHARED)
    except OSError as exc:
        raise ChannelError(f"cannot map the ring: {exc}", where) from None
    finally:
        os.close(fd)
    try:
        return Ring(memory, False), memory
    except RingError as exc:
        memory.close()
        raise ChannelError(f"the ring: {exc}", where) from None


def pack_parts(parts: Parts) -> bytes:
    return _PARTS.pack(*(len(p) for p in parts)) + b"".join(parts)


def unpack_parts(payload: bytes) -> Parts:
    """The four parts of a PREPARED entry; ValueError when its lengths do not add up."""
    if len(payload) < _PARTS.size:
        raise ValueError("a prepared event shorter than its lengths")
    lengths = _PARTS.unpack_from(payload)
    if _PARTS.size + sum(lengths) != len(payload):
        raise ValueError("a prepared event whose part lengths do not add up")
    out: list[bytes] = []
    pos = _PARTS.size
    for n in lengths:
        out.append(payload[pos : pos + n])
        pos += n
    return out[0], out[1], out[2], out[3]


def close(ring: Ring | None, memory: mmap.mmap | None) -> None:
    """Let go of a ring and its mapping (its memory is freed when both processes have)."""
    if ring is not None:
        ring.release()
    if memory is not None:
        with contextlib.suppress(BufferError, ValueError):
            memory.close()
