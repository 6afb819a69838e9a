"""Hash tiles in the C2SP tlog-tiles layout (c2sp.org/tlog-tiles): paths, the TileBuilder
against a naive computation straight from the spec's formula, the TileStore, and the tiles
the real writer leaves on disk."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tradetrail
from tradetrail.core.merkle import Frontier
from tradetrail.core.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    TileBuilder,
    encode_index,
    parse_tile_path,
    split_tile,
    tile_path,
    tiles_for_size,
)
from tradetrail.errors import TileError
from tradetrail.store.journal import journal_files
from tradetrail.store.tilestore import TileStore

# ------------------------------------------------------------------------------- naive model


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 MTH over leaf hashes, recursively (independent of tradetrail.core.merkle)."""
    n = len(leaves)
    if n == 0:
        return sha(b"")
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return sha(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def naive_level(leaves: list[bytes], level: int) -> list[bytes]:
    """Tile entries at `level`: MTH(D[i * 256**level : (i + 1) * 256**level]) for every
    complete span (the spec's formula)."""
    span = TILE_WIDTH**level
    return [mth(leaves[i * span : (i + 1) * span]) for i in range(len(leaves) // span)]


def naive_tiles(leaves: list[bytes]) -> tuple[dict[tuple[int, int], bytes], dict[int, bytes]]:
    """(full tiles by (level, index), the partial tile's bytes by level) for a tree."""
    full: dict[tuple[int, int], bytes] = {}
    partial: dict[int, bytes] = {}
    level = 0
    while len(leaves) >= TILE_WIDTH**level:
        entries = naive_level(leaves, level)
        if not entries:
            break
        for n in range(len(entries) // TILE_WIDTH):
            full[(level, n)] = b"".join(entries[n * TILE_WIDTH : (n + 1) * TILE_WIDTH])
        rest = len(entries) % TILE_WIDTH
        if rest:
            partial[level] = b"".join(entries[len(entries) - rest :])
        level += 1
    return full, partial


def leaves_of(n: int, salt: bytes = b"") -> list[bytes]:
    return [sha(salt + i.to_bytes(8, "big")) for i in range(n)]


def build(leaves: list[bytes]) -> tuple[dict[tuple[int, int], bytes], TileBuilder]:
    frontier, builder = Frontier(), TileBuilder()
    full: dict[tuple[int, int], bytes] = {}
    for leaf in leaves:
        for level, index, data in builder.add(frontier.append(leaf)):
            assert (level, index) not in full
            full[(level, index)] = data
    return full, builder


# ------------------------------------------------------------------------------- paths


@pytest.mark.parametrize(
    ("index", "encoded"),
    [
        (0, "000"),
        (1, "001"),
        (67, "067"),
        (999, "999"),
        (1000, "x001/000"),
        (1234, "x001/234"),
        (1234067, "x001/x234/067"),
        (1_000_000, "x001/x000/000"),
        (10**12 + 5, "x001/x000/x000/x000/005"),
    ],
)
def test_encode_index(index: int, encoded: str) -> None:
    assert encode_index(index) == encoded


def test_spec_examples() -> None:
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tile_path(0, 1234067, TILE_WIDTH) == "tile/0/x001/x234/067"
    assert tile_path(2, 1234067, 5) == "tile/2/x001/x234/067.p/5"
    assert tile_path(1, 0, 1) == "tile/1/000.p/1"
    assert tile_path(0, 0, 255) == "tile/0/000.p/255"
    assert parse_tile_path("tile/0/x001/x234/067") == (0, 1234067, 256)
    assert parse_tile_path("tile/3/x001/x234/067.p/17") == (3, 1234067, 17)
    assert parse_tile_path("/tile/0/000/") == (0, 0, 256)


@pytest.mark.parametrize("width", [0, -1, 257, 1000])
def test_tile_path_refuses_bad_width(width: int) -> None:
    with pytest.raises(ValueError, match="width"):
        tile_path(0, 0, width)


def test_encode_index_refuses_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        encode_index(-1)


@given(
    level=st.integers(0, 63),
    index=st.integers(0, 10**15),
    width=st.integers(1, TILE_WIDTH),
)
def test_parse_round_trip(level: int, index: int, width: int) -> None:
    path = tile_path(level, index, width)
    assert parse_tile_path(path) == (level, index, width)
    assert ("/x" in path) == (index >= 1000)
    assert path.endswith(".p/" + str(width)) == (width < TILE_WIDTH)
    for element in path.split("/")[2:]:
        body = element.removeprefix("x").removesuffix(".p")
        assert (len(body) == 3 and body.isdigit()) or element == str(width)


@given(st.text(alphabet="tile/0123456789x.p", max_size=30))
def test_parse_never_crashes(path: str) -> None:
    try:
        level, index, width = parse_tile_path(path)
    except ValueError:
        return
    assert level >= 0 and index >= 0 and 1 <= width <= TILE_WIDTH


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/1234",  # 4 digits in one element
        "tile/0/00",  # 2 digits
        "tile/0/x001/234/067",  # a middle element without x
        "tile/0/001/x234",  # x on the last element
        "tile/0/",
        "tile/x/000",
        "tiles/0/000",
        "tile/0/000.p/0",
        "tile/0/000.p/abc",
        "tile/0/000.p/",
        "tile/0/000.p/257",
        "tile/0",
        "",
    ],
)
def test_parse_rejects(path: str) -> None:
    with pytest.raises(ValueError):
        parse_tile_path(path)


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/000.p/256",
        "tile/00/000",
        "tile/0/000.p/07",
        "tile/64/000",
        "tile/\u0663/000",  # ARABIC-INDIC DIGIT THREE
        "tile/0/x000/001",
    ],
)
def test_parse_rejects_non_canonical_paths(path: str) -> None:
    with pytest.raises(ValueError):
        parse_tile_path(path)


# ------------------------------------------------------------------------------- sizes


def test_tiles_for_size_spec_examples() -> None:
    # "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial level 0
    # tile of width 112, one full level 1 tile, one partial level 1 tile of width 17, and one
    # partial level 2 tile of width 1"
    tiles = tiles_for_size(70_000)
    assert [t for t in tiles if t[0] == 0] == [(0, n, 256) for n in range(273)] + [(0, 273, 112)]
    assert [t for t in tiles if t[0] == 1] == [(1, 0, 256), (1, 1, 17)]
    assert [t for t in tiles if t[0] == 2] == [(2, 0, 1)]
    assert len(tiles) == 277
    # "a tree of size 256 will be represented by a full level 0 tile and a partial level 1
    # tile of width 1"
    assert tiles_for_size(256) == [(0, 0, 256), (1, 0, 1)]
    assert tiles_for_size(0) == []
    assert tiles_for_size(1) == [(0, 0, 1)]


@settings(deadline=None)
@given(st.integers(0, 2_000_000))
def test_tiles_for_size_widths(size: int) -> None:
    for level, index, width in tiles_for_size(size):
        if width < TILE_WIDTH:  # the partial tile has floor(s / 256**l) mod 256 entries
            assert width == (size // TILE_WIDTH**level) % TILE_WIDTH
            assert index == size // TILE_WIDTH ** (level + 1)
        else:
            assert index < size // TILE_WIDTH ** (level + 1)


# ------------------------------------------------------------------------------- builder


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 1500), st.binary(max_size=4))
def test_builder_matches_naive(n: int, salt: bytes) -> None:
    leaves = leaves_of(n, salt)
    full, builder = build(leaves)
    want_full, want_partial = naive_tiles(leaves)
    assert full == want_full
    got_partial = {level: data for level, _i, _w, data in builder.partial_tiles()}
    assert got_partial == want_partial
    for level, index, width, data in builder.partial_tiles():
        assert (level, index, width) in tiles_for_size(n)
        assert len(data) == 32 * width
        assert split_tile(data) == list(builder.entries(level))


def test_builder_matches_naive_with_full_level_one_tile() -> None:
    n = 65_536 + 300
    leaves = leaves_of(n)
    full, builder = build(leaves)
    assert sorted(k for k in full if k[0] == 1) == [(1, 0)]
    want_full, want_partial = naive_tiles(leaves)
    assert full.keys() == want_full.keys()
    assert full[(1, 0)] == want_full[(1, 0)]
    assert full[(0, 256)] == want_full[(0, 256)]
    got = {(lv, i, w): d for lv, i, w, d in builder.partial_tiles()}
    assert set(got) == {(0, 257, 44), (1, 1, 1), (2, 0, 1)}
    assert got[(2, 0, 1)] == mth(leaves[:65_536]) == want_partial[2]
    assert got[(1, 1, 1)] == want_partial[1]
    assert got[(0, 257, 44)] == want_partial[0]


def test_builder_copy_and_restore_continue_identically() -> None:
    leaves = leaves_of(800)
    frontier, builder = Frontier(), TileBuilder()
    for leaf in leaves[:600]:
        builder.add(frontier.append(leaf))
    clone = builder.copy()
    restored = TileBuilder()
    count = 600
    for level in range(2):
        restored.restore_level(level, count >> (TILE_HEIGHT * level), builder.entries(level))
    outs = []
    for b in (builder, clone, restored):
        f = frontier.copy()
        outs.append(
            ([t for leaf in leaves[600:] for t in b.add(f.append(leaf))], b.partial_tiles())
        )
    assert outs[0] == outs[1] == outs[2]
    assert [(lv, i) for lv, i, _d in outs[0][0]] == [(0, 2)]
    with pytest.raises(ValueError):
        TileBuilder().restore_level(0, 600, [b"\x00" * 32])


def test_builder_partials_and_restore_continue_identically() -> None:
    """The state the compiled writer loop takes and gives back (TileBuilder.partials/restore,
    Frontier.nodes/restore) continues exactly as the builder and frontier themselves."""
    leaves = leaves_of(70_000)
    frontier, builder = Frontier(), TileBuilder()
    for leaf in leaves[:65_700]:
        builder.add(frontier.append(leaf))
    partials = builder.partials()
    assert [len(p) for p in partials] == [(65_700 % 256) * 32, 0, 32]
    assert partials[0] == b"".join(builder.entries(0))
    restored, other = TileBuilder(), Frontier()
    restored.restore(65_700, [bytes(p) for p in partials])
    other.restore(65_700, frontier.nodes)
    outs = []
    for b, f in ((builder, frontier), (restored, other)):
        outs.append(
            ([t for leaf in leaves[65_700:] for t in b.add(f.append(leaf))], b.partial_tiles())
        )
    assert outs[0] == outs[1]
    assert other.root() == frontier.root() == mth(leaves)


def test_builder_restore_refuses_a_state_that_does_not_fit() -> None:
    builder = TileBuilder()
    with pytest.raises(ValueError, match=r"tile level 1: 0 bytes of entries .* want 32"):
        builder.restore(300, [b"\x00" * 32 * 44, b""])
    with pytest.raises(ValueError, match="nodes at tile level 1"):
        builder.restore(300, [b"\x00" * 32 * 44])
    with pytest.raises(ValueError, match="level 0: entry 1 has 31 bytes"):
        builder.restore_level(0, 2, [b"\x00" * 32, b"\x00" * 31])
    builder.restore(300, [b"\x00" * 32 * 44, b"\x01" * 32, b""])  # an empty level above is fine
    assert builder.partial_tiles() == [(0, 1, 44, b"\x00" * 32 * 44), (1, 0, 1, b"\x01" * 32)]
    with pytest.raises(ValueError, match="size 3 has 2 node"):
        Frontier().restore(3, [b"\x00" * 32])


def test_builder_refuses_nodes_out_of_order() -> None:
    builder = TileBuilder()
    builder.add([(0, 0, b"\x00" * 32)])
    with pytest.raises(ValueError, match="expected 1"):
        builder.add([(0, 5, b"\x00" * 32)])


def test_split_tile() -> None:
    assert split_tile(b"a" * 32 + b"b" * 32) == [b"a" * 32, b"b" * 32]
    for bad in (b"", b"x" * 31, b"x" * 33):
        with pytest.raises(ValueError, match="multiple of 32"):
            split_tile(bad, "tile/0/000")


# ------------------------------------------------------------------------------- store


def stored(tmp_path: Path, n: int, sizes: set[int]) -> tuple[TileStore, list[bytes]]:
    """A store holding full tiles and the partial tiles of each size in `sizes`."""
    store = TileStore(tmp_path / "tiles")
    leaves = leaves_of(n)
    frontier, builder = Frontier(), TileBuilder()
    for leaf in leaves:
        for level, index, data in builder.add(frontier.append(leaf)):
            store.write(level, index, data)
        if frontier.size in sizes:
            for level, index, _w, data in builder.partial_tiles():
                store.write(level, index, data)
    return store, leaves


def test_store_layout_and_nodes(tmp_path: Path) -> None:
    store, leaves = stored(tmp_path, 1000, {300, 1000})
    files = sorted(str(p.relative_to(store.root)) for p in store.root.rglob("*") if p.is_file())
    assert files == [
        "tile/0/000",
        "tile/0/001",
        "tile/0/001.p/44",
        "tile/0/002",
        "tile/0/003.p/232",
        "tile/1/000.p/1",
        "tile/1/000.p/3",
    ]
    assert not [p for p in store.root.rglob("*") if p.name.startswith(".")]
    for height in range(0, 10):
        for index in range(1000 >> height):
            span = 1 << height
            assert store.node(height, index) == mth(leaves[index * span : (index + 1) * span])


def test_store_picks_a_wide_enough_partial(tmp_path: Path) -> None:
    store, leaves = stored(tmp_path, 250, {10, 100, 250})
    assert len(store.read_entries(0, 0, 5)) == 10
    assert len(store.read_entries(0, 0, 11)) == 100
    assert store.node(7, 0) == mth(leaves[:128])
    assert store.node(5, 6) == mth(leaves[192:224])
    assert store.node(3, 30) == mth(leaves[240:248])
    with pytest.raises(TileError, match="no stored tile holds 251 entries"):
        store.read_entries(0, 0, 251)
    for height, index in [(8, 0), (7, 1), (1, 125)]:  # subtrees beyond the 250 stored leaves
        with pytest.raises(TileError):
            store.node(height, index)


def test_store_refuses_tiles_of_the_wrong_length(tmp_path: Path) -> None:
    store, _ = stored(tmp_path, 300, {300})
    full = store.path(0, 0)
    full.write_bytes(full.read_bytes()[:-1])
    store.clear_cache()
    with pytest.raises(TileError, match="8192"):
        store.node(0, 3)
    partial = store.path(0, 1, 44)
    partial.write_bytes(partial.read_bytes() + b"x")
    with pytest.raises(TileError, match="expected 1408"):
        store.node(0, 260)


def test_store_sees_a_full_tile_written_after_a_miss(tmp_path: Path) -> None:
    store, _ = stored(tmp_path, 200, {200})
    with pytest.raises(TileError):
        store.read_entries(0, 0, 256)
    more = leaves_of(256)
    frontier, builder = Frontier(), TileBuilder()
    for leaf in more:
        for level, index, data in builder.add(frontier.append(leaf)):
            store.write(level, index, data)
    assert len(store.read_entries(0, 0, 256)) == 256


# ------------------------------------------------------------------------------- the writer


def test_writer_tiles_match_naive(tmp_path: Path) -> None:
    """The tiles the real writer leaves: every full tile, and the partial tiles of every
    signed checkpoint size, byte for byte as the spec's formula gives them."""
    home = tmp_path / "trail"
    trail = tradetrail.open(
        home,
        origin="trail.example.com/tiles",
        checkpoint_every=97,
        checkpoint_interval=1e6,
        durability="write",
        min_free_bytes=0,
    )
    with trail:
        for i in range(700):
            trail.record("order.accepted", {"i": i})
            if i % 50 == 49:
                trail.flush()
    lines = [ln for p in journal_files(home) for ln in p.read_bytes().split(b"\n")[:-1]]
    assert [orjson.loads(ln)["seq"] for ln in lines] == list(range(700))
    leaves = [sha(b"\x00" + ln) for ln in lines]
    sizes = sorted(int(p.name) for p in (home / "checkpoints").iterdir())
    assert sizes[-1] == 700 and len(sizes) > 3
    want: dict[str, bytes] = {}
    for size in sizes:
        full, partial = naive_tiles(leaves[:size])
        for (level, index), data in full.items():
            want[tile_path(level, index)] = data
        for level, data in partial.items():
            index = size // TILE_WIDTH ** (level + 1)
            want[tile_path(level, index, len(data) // 32)] = data
    root = home / "tiles"
    got = {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert sorted(got) == sorted(want)
    assert got == want
