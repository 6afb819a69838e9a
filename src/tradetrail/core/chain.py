"""The writer's per-batch hot loop: splice each record's line from its prepared parts and the
writer's prev, seq and ts, hash it as an RFC 6962 leaf and chain the next prev; then append the
leaves to the Merkle frontier and the hash tiles.

`splice_and_hash_py` and `splice_hash_extend_py` are the reference. The optional compiled
extension (`_chain.c`, built at install when a C compiler and OpenSSL's headers are there) must
give the same bytes; the differential tests in tests/core/test_chain.py hold it to that.
TRADETRAIL_ACCELERATOR=off runs the reference even when the extension is installed (to compare,
or to rule it out).
"""

from __future__ import annotations

import binascii
import hashlib
import importlib
import os
from collections.abc import Callable, Sequence
from typing import Final, Protocol

from .merkle import Frontier
from .tiles import TileBuilder


class Parts(Protocol):
    """What a prepared event offers the writer: its canonical line cut where prev, seq, ts go."""

    @property
    def p0(self) -> bytes: ...
    @property
    def p1(self) -> bytes: ...
    @property
    def p2(self) -> bytes: ...
    @property
    def p3(self) -> bytes: ...


SpliceAndHash = Callable[[list[Parts], bytes, int, list[bytes]], tuple[bytes, list[bytes], bytes]]
Extended = tuple[bytes, bytes, list[bytes], list[bytes], list[tuple[int, int, bytes]]]
SpliceHashExtend = Callable[
    [list[Parts], bytes, int, list[bytes], Sequence[bytes], Sequence[bytes | bytearray]], Extended
]


def splice_and_hash_py(
    events: Sequence[Parts], prev: bytes, seq: int, stamps: Sequence[bytes]
) -> tuple[bytes, list[bytes], bytes]:
    """(data, leaves, prev): the lines `p0 prev p1 seq p2 ts p3` of the events numbered from `seq`,
    each ending in a newline, their leaf hashes SHA-256(0x00 || line), and the last leaf in hex
    (the next record's prev; `prev` itself for no events)."""
    if len(stamps) != len(events):
        raise ValueError(
            f"splice_and_hash: stamps has {len(stamps)} item(s) for {len(events)} event(s)"
        )
    sha, hexlify = hashlib.sha256, binascii.hexlify
    lines: list[bytes] = []
    leaves: list[bytes] = []
    for event, ts in zip(events, stamps, strict=True):
        line = event.p0 + prev + event.p1 + b"%d" % seq + event.p2 + ts + event.p3
        leaf = sha(b"\x00" + line).digest()
        prev = hexlify(leaf)
        lines.append(line)
        leaves.append(leaf)
        seq += 1
    return b"".join(line + b"\n" for line in lines), leaves, prev


def accelerator_wanted() -> bool:
    """False when TRADETRAIL_ACCELERATOR=off asks for the pure-Python reference everywhere."""
    return os.environ.get("TRADETRAIL_ACCELERATOR", "").strip().lower() not in ("off", "0", "no")


def splice_hash_extend_py(
    events: Sequence[Parts],
    prev: bytes,
    seq: int,
    stamps: Sequence[bytes],
    nodes: Sequence[bytes],
    tiles: Sequence[bytes | bytearray],
) -> Extended:
    """(data, prev, nodes, tiles, full): `splice_and_hash_py`, its leaves appended to the tree
    of `seq` leaves whose frontier is `nodes` (highest first) and whose unfinished hash tiles
    are `tiles` (level 0 first, each the entries' bytes). Gives the new frontier and unfinished
    tiles (as many levels as given, or as the new size has) and the full tiles
    (level, index, data) completed, in the order `TileBuilder.add` completes them.

    Sizes stay below 2**64, as the compiled one's arithmetic does."""
    if not 0 <= seq <= 2**64 - 1 - len(events):
        raise OverflowError("splice_hash_extend: seq overflows 64 bits")
    frontier = Frontier(seq, nodes)
    builder = TileBuilder()
    builder.restore(seq, tiles)
    data, leaves, prev = splice_and_hash_py(events, prev, seq, stamps)
    full: list[tuple[int, int, bytes]] = []
    for leaf in leaves:
        done = builder.add(frontier.append(leaf))
        if done:
            full.extend(done)
    return data, prev, list(frontier.nodes), [bytes(b) for b in builder.partials()], full


def _load() -> tuple[SpliceAndHash | None, SpliceHashExtend | None, str]:
    if not accelerator_wanted():
        return None, None, "none (pure Python; TRADETRAIL_ACCELERATOR=off)"
    try:
        from . import _chain
    except ImportError:
        return None, None, "none (pure Python)"
    extend: SpliceHashExtend | None = getattr(_chain, "splice_hash_extend", None)
    if extend is None:  # an extension built from older sources (an editable install not rebuilt)
        return None, None, "none (pure Python; the compiled accelerator is out of date: reinstall)"
    names = ["_chain"]
    for name in ("_rawjson", "_shape"):  # the caller's encoder, the writer's shaper
        try:
            importlib.import_module(f"{__package__}.{name}")
        except ImportError:
            continue
        names.append(name)
    return _chain.splice_and_hash, extend, f"C (tradetrail.core.{', '.join(names)})"


splice_and_hash_c, splice_hash_extend_c, ACCELERATOR = _load()
"""The compiled splice_and_hash and splice_hash_extend, or None; and what `tradetrail info` and
`stats()` report."""

ACCELERATED: Final = splice_and_hash_c is not None
