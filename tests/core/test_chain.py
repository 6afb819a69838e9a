"""The compiled accelerator against the pure-Python reference: the same bytes, leaves and next
prev for any batch, the same Merkle frontier and hash tiles after it, and the same journal,
tiles and checkpoints from a writer that uses it.

scripts/test runs this module once more against a build with AddressSanitizer and UBSan.

CI builds the extension (scripts/test sets TRADETRAIL_BUILD_ACCELERATOR=1), so there these
tests run; on an install without a compiler they skip, and only the reference runs.
"""

from __future__ import annotations

import gc
import hashlib
import itertools
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tradetrail
from tradetrail.core import chain
from tradetrail.core.canonical import Prepared
from tradetrail.core.merkle import Frontier, leaf_hash, root_of_leaves
from tradetrail.core.note import Signer
from tradetrail.core.tiles import TILE_WIDTH
from tradetrail.writer import sequencer
from tradetrail.writer.trail import Receipt

_chain = pytest.importorskip("tradetrail.core._chain", reason="the accelerator is not built")


def parts(p0: bytes, p1: bytes, p2: bytes, p3: bytes) -> Prepared:
    event = Prepared.__new__(Prepared)
    event.p0, event.p1, event.p2, event.p3 = p0, p1, p2, p3
    return event


# odd parts: empty, any bytes, UTF-8 of any text, now and then large (with newlines)
part = st.one_of(
    st.just(b""),
    st.binary(max_size=64),
    st.text(max_size=32).map(str.encode),
    st.integers(5_000, 70_000).map(lambda n: (b"\xe2\x9c\x93\n" * n)[:n]),
)
event = st.builds(parts, part, part, part, part)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=st.lists(event, max_size=12),
    prev=st.one_of(st.binary(max_size=80), st.just(b"0" * 64)),
    seq=st.one_of(st.integers(0, 2**64 - 100), st.sampled_from([0, 9, 10, 99, 2**64 - 13])),
    data=st.data(),
)
def test_same_bytes_as_the_reference(
    events: list[Prepared], prev: bytes, seq: int, data: st.DataObject
) -> None:
    stamps = data.draw(st.lists(st.binary(max_size=40), min_size=len(events), max_size=len(events)))
    want = chain.splice_and_hash_py(events, prev, seq, stamps)
    assert _chain.splice_and_hash(events, prev, seq, stamps) == want
    # the reference itself: the lines as Prepared.line() splices them, their RFC 6962 leaves
    lines, before = [], prev
    for i, (e, ts) in enumerate(zip(events, stamps, strict=True)):
        lines.append(e.line(before, seq + i, ts))
        before = leaf_hash(lines[-1]).hex().encode()
    assert want[0] == b"".join(line + b"\n" for line in lines)
    assert want[1] == [leaf_hash(line) for line in lines]
    assert want[2] == (want[1][-1].hex().encode() if events else prev)


def test_a_large_batch_of_real_events(tmp_path: Path) -> None:
    with tradetrail.open(tmp_path, writer="embedded", min_free_bytes=0) as trail:
        shaped = [
            trail.shape("order.accepted", {"qty": i, "note": "é✓" * (i % 7)}, {}, {})
            for i in range(5000)
        ]
    stamps = [b"2026-01-01T00:00:00.%06dZ" % i for i in range(5000)]
    got = _chain.splice_and_hash(shaped, b"", 0, stamps)
    assert got == chain.splice_and_hash_py(shaped, b"", 0, stamps)
    assert got[1][0] == hashlib.sha256(b"\x00" + got[0].split(b"\n", 1)[0]).digest()


def test_bad_arguments_are_named() -> None:
    good = parts(b"{", b"", b"", b"}")
    with pytest.raises(ValueError, match="stamps has 0 item"):
        _chain.splice_and_hash([good], b"", 0, [])
    with pytest.raises(TypeError, match=r"events\[1\]\.p2 must be bytes, not str"):
        _chain.splice_and_hash([good, parts(b"", b"", "x", b"")], b"", 0, [b"", b""])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"stamps\[0\] must be bytes"):
        _chain.splice_and_hash([good], b"", 0, [bytearray()])  # type: ignore[list-item]
    with pytest.raises(AttributeError):
        _chain.splice_and_hash([object()], b"", 0, [b""])  # type: ignore[list-item]
    with pytest.raises(OverflowError):
        _chain.splice_and_hash([good], b"", -1, [b""])
    with pytest.raises(OverflowError, match="seq overflows"):
        _chain.splice_and_hash([good, good], b"", 2**64 - 1, [b"", b""])
    assert _chain.splice_and_hash([], b"abc", 5, []) == (b"", [], b"abc")


class RecordClock:
    """250 ms per chunk stamped (the writer reads its clock once a chunk), from just before a
    UTC midnight (the run crosses the day). Any other reading (the writer's ticks, checkpoints)
    gets the last stamp again: so what the writer writes depends on its chunks alone (the
    test hands it one batch at a time), not on how often its thread happened to wake up."""

    def __init__(self) -> None:
        self._stamped = 0

    def __call__(self) -> int:
        if sys._getframe(1).f_code.co_name == "_stamp":
            self._stamped += 1
        return 1_767_225_600_000_000_000 - 600_000_000 + self._stamped * 250_000_000


def trail_files(home: Path) -> dict[str, bytes]:
    """Everything the writer wrote but its lock: journal, tiles, checkpoints, the closed mark."""
    return {
        str(p.relative_to(home)): p.read_bytes()
        for p in sorted(home.rglob("*"))
        if p.is_file() and p.name != "writer.lock"
    }


def run_writer(
    home: Path, shaped: list[Prepared], chunk: int, key: Signer, every: int | None = None
) -> None:
    with tradetrail.open(
        home,
        writer="embedded",
        clock=RecordClock(),
        min_free_bytes=0,
        origin=key.name,
        signing_key=key.skey(),
        checkpoint_every=10**9,
        checkpoint_interval=1e9,
        durability="write",
    ) as t:
        for start in range(0, len(shaped), chunk):
            # queued at once (record_shaped queues one by one): the writer takes each batch
            # whole, so both runs cut the same chunks and read the clock as often
            receipts = [Receipt(t, event) for event in shaped[start : start + chunk]]
            t.submit(receipts)
            for receipt in receipts:
                receipt.wait(60)
            if every and (start // chunk) % every == every - 1:
                t.checkpoint()  # at a size the test chooses: the same on both runs


def shape_events(home: Path, n: int) -> list[Prepared]:
    with tradetrail.open(home, writer="embedded", min_free_bytes=0) as trail:
        return [
            trail.shape("order.accepted", {"qty": i, "text": "ü" * (i % 5)}, {}, {"pid": 1})
            for i in range(n)
        ]


def test_the_writer_journals_the_same_bytes_either_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert sequencer.splice_hash_extend_c is _chain.splice_hash_extend or (
        chain.ACCELERATOR.endswith("=off)")
    )
    shaped = shape_events(tmp_path / "shaper", 3000)
    key = Signer.generate("example.com/accel")
    homes: dict[str, Any] = {}
    for name, fast in (("c", _chain.splice_hash_extend), ("py", None)):
        monkeypatch.setattr(sequencer, "splice_hash_extend_c", fast)
        home = tmp_path / name
        run_writer(home, shaped, 700, key, every=2)
        assert tradetrail.verify(home).ok
        homes[name] = trail_files(home)
    assert len([f for f in homes["c"] if f.startswith("journal/")]) == 2  # crossed midnight
    assert any(f.startswith("tiles/tile/0/011") for f in homes["c"])  # full level-0 tiles
    assert len([f for f in homes["c"] if f.startswith("checkpoints/")]) >= 3
    assert homes["c"] == homes["py"]


@pytest.mark.slow
def test_the_writer_writes_the_same_level_1_tiles_either_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past 65536 records: a full tile at level 1 and a partial one at level 2, in batches of
    the writer's MAX_BATCH that do not fall on tile boundaries."""
    shaped = shape_events(tmp_path / "shaper", 66_000)
    key = Signer.generate("example.com/accel")
    homes: dict[str, Any] = {}
    for name, fast in (("c", _chain.splice_hash_extend), ("py", None)):
        monkeypatch.setattr(sequencer, "splice_hash_extend_c", fast)
        home = tmp_path / name
        run_writer(home, shaped, sequencer.MAX_BATCH - 3, key, every=5)
        homes[name] = trail_files(home)
    assert "tiles/tile/1/000" in homes["c"]
    assert "tiles/tile/2/000.p/1" in homes["c"]
    assert homes["c"] == homes["py"]


# ------------------------------------------------------------------ frontier and tiles


def seeded(seed: int, i: int) -> bytes:
    return hashlib.sha256(b"%d:%d" % (seed, i)).digest()


def tree_state(size: int, seed: int, extra_levels: int = 0) -> tuple[list[bytes], list[bytes]]:
    """Some frontier and unfinished tiles for a tree of `size` leaves: any hashes do, both
    implementations only extend them."""
    nodes = [seeded(seed, i) for i in range(size.bit_count())]
    tiles, level = [], 0
    while size >> (8 * level):
        count = (size >> (8 * level)) % TILE_WIDTH
        tiles.append(b"".join(seeded(seed, 100 + 256 * level + j) for j in range(count)))
        level += 1
    return nodes, tiles + [b""] * extra_levels


def small_events(n: int, seed: int) -> tuple[list[Prepared], list[bytes]]:
    events = [
        parts(b'{"a":"', b'","seq":', b',"ts":"', b'","x":%d}' % (seed * 7 + i)) for i in range(n)
    ]
    return events, [b"2026-01-01T00:00:%02dZ" % (i % 60) for i in range(n)]


# tile boundaries at every level, and the top of the 64-bit range
BOUNDARIES = [0, 1, 255, 256, 257, 65_535, 65_536, 256**3, 256**4 - 1, 2**32, 2**56, 2**63]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from([*BOUNDARIES, 2**64 - 1]),
    offset=st.integers(-600, 600),
    n=st.one_of(st.integers(0, 3), st.integers(0, 700)),
    seed=st.integers(0, 2**32),
    extra_levels=st.sampled_from([0, 0, 0, 1, 9]),
    prev=st.sampled_from([b"", b"0" * 64]),
)
def test_frontier_and_tiles_same_as_the_reference(
    base: int, offset: int, n: int, seed: int, extra_levels: int, prev: bytes
) -> None:
    size = min(max(base + offset, 0), 2**64 - 1 - n)
    nodes, tiles = tree_state(size, seed, extra_levels)
    events, stamps = small_events(n, seed)
    want = chain.splice_hash_extend_py(events, prev, size, stamps, nodes, tiles)
    got = _chain.splice_hash_extend(events, prev, size, stamps, nodes, tiles)
    assert got == want
    # and the splice is splice_and_hash's
    assert want[:2] == chain.splice_and_hash_py(events, prev, size, stamps)[::2]
    # bytearrays as the TileBuilder keeps them, tuples as Frontier.nodes gives them
    assert _chain.splice_hash_extend(
        events, prev, size, stamps, tuple(nodes), [bytearray(t) for t in tiles]
    ) == tuple(want)
    after = size + n
    assert len(got[2]) == after.bit_count()
    assert [len(t) for t in got[3]][: len(tiles)] == [
        (after >> (8 * level)) % TILE_WIDTH * 32 if level < 8 else 0 for level in range(len(tiles))
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(0, 1400), max_size=8), seed=st.integers(0, 2**32))
def test_batches_from_empty_build_the_rfc_6962_tree(cuts: list[int], seed: int) -> None:
    """Any split into batches (empty ones too): both give the same state at every batch
    boundary, the root is MTH over all the leaves, the full tiles are the leaves'."""
    n = 1400
    events, stamps = small_events(n, seed)
    bounds = sorted({0, n, *cuts})
    cut_pairs = [(a, b) for a, b in itertools.pairwise(bounds)] + [(n, n)]
    state_c: tuple[bytes, list[bytes], list[bytes]] = (b"", [], [])
    state_py = state_c
    full: list[tuple[int, int, bytes]] = []
    data = b""
    for a, b in cut_pairs:
        got = _chain.splice_hash_extend(events[a:b], state_c[0], a, stamps[a:b], *state_c[1:])
        want = chain.splice_hash_extend_py(events[a:b], state_py[0], a, stamps[a:b], *state_py[1:])
        assert got == want
        state_c = state_py = (got[1], got[2], got[3])
        full.extend(got[4])
        data += got[0]
    leaves = chain.splice_and_hash_py(events, b"", 0, stamps)[1]
    assert data == chain.splice_and_hash_py(events, b"", 0, stamps)[0]
    assert Frontier(n, state_c[1]).root() == root_of_leaves(leaves)
    assert full == [(0, i, b"".join(leaves[256 * i : 256 * i + 256])) for i in range(n // 256)]
    assert state_c[2] == [
        b"".join(leaves[n - n % 256 :]),
        b"".join(root_of_leaves(leaves[256 * i : 256 * i + 256]) for i in range(n // 256)),
    ]


def test_a_full_level_1_tile_from_empty() -> None:
    """65536 + 300 leaves in MAX_BATCH batches: tile 1/000 holds the roots of the 256 level-0
    tiles before it, and tile 2's first entry is the root of them all."""
    n = 65_536 + 300
    events, stamps = small_events(n, 3)
    state: tuple[bytes, list[bytes], list[bytes]] = (b"", [], [])
    full: list[tuple[int, int, bytes]] = []
    for a in range(0, n, sequencer.MAX_BATCH):
        b = min(n, a + sequencer.MAX_BATCH)
        got = _chain.splice_hash_extend(events[a:b], state[0], a, stamps[a:b], *state[1:])
        if a in (0, 61_440):  # the batch that completes the level-1 tile, and one other
            assert got == chain.splice_hash_extend_py(
                events[a:b], state[0], a, stamps[a:b], *state[1:]
            )
        state = (got[1], got[2], got[3])
        full.extend(got[4])
    leaves = _chain.splice_and_hash(events, b"", 0, stamps)[1]
    roots = [root_of_leaves(leaves[256 * i : 256 * i + 256]) for i in range(256)]
    assert [(lv, i) for lv, i, _ in full] == [(0, i) for i in range(256)] + [(1, 0), (0, 256)]
    assert full[256][2] == b"".join(roots)
    assert state[2] == [
        b"".join(leaves[65_792:]),
        root_of_leaves(leaves[65_536:65_792]),
        root_of_leaves(leaves[:65_536]),
    ]
    assert Frontier(n, state[1]).root() == root_of_leaves(leaves)


@pytest.mark.parametrize("impl", ["c", "py"])
def test_bad_tree_states_are_named(impl: str) -> None:
    extend = _chain.splice_hash_extend if impl == "c" else chain.splice_hash_extend_py
    good = parts(b"{", b"", b"", b"}")
    nodes, tiles = tree_state(300, 1)
    with pytest.raises(ValueError, match="size 300 has 4 node"):
        extend([good], b"", 300, [b""], nodes[:1], tiles)
    with pytest.raises(ValueError, match="32 bytes, got 31"):
        extend([good], b"", 300, [b""], [*nodes[:3], nodes[3][:31]], tiles)
    with pytest.raises(TypeError):
        extend([good], b"", 300, [b""], [*nodes[:3], "x" * 32], tiles)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="level 1"):
        extend([good], b"", 300, [b""], nodes, [tiles[0], tiles[1] + b"x"])
    with pytest.raises(ValueError, match="level"):
        extend([good], b"", 300, [b""], nodes, tiles[:1])
    with pytest.raises(TypeError):
        extend([good], b"", 300, [b""], nodes, [tiles[0], 5])  # type: ignore[list-item]
    with pytest.raises(OverflowError):
        extend([good], b"", -1, [b""], [], [])
    with pytest.raises(OverflowError, match="seq overflows"):
        extend([good], b"", 2**64 - 1, [b""], *tree_state(2**64 - 1, 1))
    with pytest.raises(ValueError, match="stamps has 0 item"):
        extend([good], b"", 300, [], nodes, tiles)
    # the largest tree there can be: no leaf more, but an empty batch
    top = tree_state(2**64 - 1, 1)
    assert extend([], b"p", 2**64 - 1, [], *top) == (b"", b"p", top[0], top[1], [])


def test_no_references_or_memory_leak() -> None:
    """Many calls, through success and the early errors: no object kept, no memory kept (a
    reference leaked per call would keep 32 bytes or more each time)."""
    good = parts(b"{", b"", b"", b"}")
    events, stamps = small_events(600, 5)
    nodes, tiles = tree_state(65_400, 5)
    prev = b"q" * 64
    watched = [prev, good, *nodes, *tiles]
    calls: list[tuple[Any, ...]] = [
        (events, prev, 65_400, stamps, nodes, tiles),
        ([], prev, 65_400, [], nodes, tiles),
        ([good], prev, 65_400, [b""], nodes[:-1], tiles),
        ([good], prev, 65_400, [b""], nodes, tiles[:1]),
        ([good], prev, 65_400, [b""], nodes, [tiles[0], tiles[1], 5]),
        ([good, object()], prev, 65_400, [b"", b""], nodes, tiles),
        ([good], prev, 65_400, ["x"], nodes, tiles),
        ([good], prev, 65_400, [], nodes, tiles),
    ]

    def run(times: int) -> int:
        failed = 0
        for _ in range(times):
            for args in calls:
                try:
                    _chain.splice_hash_extend(*args)
                except (ValueError, TypeError, AttributeError):
                    failed += 1
        gc.collect()
        return failed

    before = [sys.getrefcount(o) for o in watched]
    assert run(20) == 20 * 6
    tracemalloc.start()
    try:
        run(5)
        start = tracemalloc.get_traced_memory()[0]
        run(1000)
        grown = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert grown < 8 * 1024
    assert [sys.getrefcount(o) for o in watched] == before
