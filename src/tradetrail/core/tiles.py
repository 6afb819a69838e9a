"""C2SP tlog-tiles hash-tile layout, pure: paths and the builder that turns leaves into tiles.

A tile at level L holds up to 256 hashes of tree nodes at height 8*L; tile N covers node
indices [256*N, 256*N + W). Full tiles never change; the partial tile `N.p/W` of each level
describes the tree at one checkpoint size.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from .merkle import HASH_SIZE

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
_TILE_BYTES = TILE_WIDTH * HASH_SIZE


def encode_index(index: int) -> str:
    """Tile index as zero-padded 3-digit path elements, `x` before all but the last."""
    if index < 0:
        raise ValueError(f"tile index {index} is negative")
    parts = []
    while True:
        index, digits = divmod(index, 1000)
        parts.append(f"{digits:03d}")
        if index == 0:
            break
    parts.reverse()
    return "/".join([f"x{p}" for p in parts[:-1]] + [parts[-1]])


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """`tile/<L>/<N>[.p/<W>]` relative to the tiles root."""
    if not 1 <= width <= TILE_WIDTH:
        raise ValueError(f"tile width {width} is outside 1..{TILE_WIDTH}")
    path = f"tile/{level}/{encode_index(index)}"
    return path if width == TILE_WIDTH else f"{path}.p/{width}"


_TILE_PATH = re.compile(
    r"^tile/(0|[1-9][0-9]?)/((?:x[0-9]{3}/)*[0-9]{3})(?:\.p/([1-9][0-9]{0,2}))?$"
)


def parse_tile_path(path: str) -> tuple[int, int, int]:
    """(level, index, width) of a tile path, strictly as C2SP tlog-tiles writes it (so that
    `tile_path` is its inverse); ValueError otherwise."""
    text = path.strip("/")
    m = _TILE_PATH.fullmatch(text)
    if m is None:
        raise ValueError(f"not a hash tile path: {path!r}")
    level = int(m.group(1))
    index = int(m.group(2).replace("x", "").replace("/", ""))
    width = int(m.group(3)) if m.group(3) else TILE_WIDTH
    if (
        level > 63
        or width >= TILE_WIDTH + (m.group(3) is None)
        or tile_path(level, index, width) != text
    ):
        raise ValueError(f"not a canonical hash tile path: {path!r}")
    return level, index, width


def tiles_for_size(size: int) -> list[tuple[int, int, int]]:
    """Every tile (level, index, width) that describes a tree of `size` leaves."""
    out: list[tuple[int, int, int]] = []
    level = 0
    count = size
    while count > 0:
        full, partial = divmod(count, TILE_WIDTH)
        out.extend((level, n, TILE_WIDTH) for n in range(full))
        if partial:
            out.append((level, full, partial))
        count >>= TILE_HEIGHT
        level += 1
    return out


class TileBuilder:
    """Collects the nodes a `Frontier` completes into tiles.

    `add(height, index, hash)` takes each node from `Frontier.append`; nodes at heights that
    are multiples of 8 are tile entries. Completed full tiles are returned for the caller to
    store; the unfinished tile of each level stays in memory until `partial_tiles()`.

    Each level's unfinished tile is kept as its bytes (a bytearray the entries are appended
    to), so that the compiled writer loop can take and give back the whole state cheaply
    (`partials`, `restore`).
    """

    __slots__ = ("_buffers", "_counts")

    def __init__(self) -> None:
        self._buffers: list[bytearray] = []
        self._counts: list[int] = []

    def copy(self) -> TileBuilder:
        clone = TileBuilder()
        clone._buffers = [bytearray(b) for b in self._buffers]
        clone._counts = list(self._counts)
        return clone

    def restore_level(self, level: int, count: int, entries: Iterable[bytes]) -> None:
        """Set one level's state: `count` entries so far, the last `count % 256` given."""
        while len(self._buffers) <= level:
            self._buffers.append(bytearray())
            self._counts.append(0)
        buf = list(entries)
        if len(buf) != count % TILE_WIDTH:
            raise ValueError(f"level {level}: {len(buf)} entries for a count of {count}")
        for i, entry in enumerate(buf):
            if len(entry) != HASH_SIZE:
                raise ValueError(f"level {level}: entry {i} has {len(entry)} bytes, not 32")
        self._buffers[level] = bytearray(b"".join(buf))
        self._counts[level] = count

    def add(self, nodes: Sequence[tuple[int, int, bytes]]) -> list[tuple[int, int, bytes]]:
        """Feed the nodes one `Frontier.append` completed (heights 0, 1, 2, ... in order);
        return the full tiles (level, index, data) they complete."""
        done: list[tuple[int, int, bytes]] = []
        buffers, counts = self._buffers, self._counts
        for height, index, digest in nodes[::TILE_HEIGHT] if len(nodes) > 1 else nodes:
            if height % TILE_HEIGHT:
                raise ValueError(f"node heights must run 0, 1, 2, ... (got {height})")
            level = height // TILE_HEIGHT
            if level == len(buffers):
                buffers.append(bytearray())
                counts.append(0)
            if index != counts[level]:
                raise ValueError(
                    f"tile level {level}: node {index} arrived, expected {counts[level]}"
                )
            buf = buffers[level]
            buf += digest
            counts[level] += 1
            if len(buf) == _TILE_BYTES:
                done.append((level, index // TILE_WIDTH, bytes(buf)))
                buf.clear()
        return done

    def partial_tiles(self) -> list[tuple[int, int, int, bytes]]:
        """(level, index, width, data) of every unfinished tile, for the current size."""
        return [
            (level, self._counts[level] // TILE_WIDTH, len(buf) // HASH_SIZE, bytes(buf))
            for level, buf in enumerate(self._buffers)
            if buf
        ]

    def entries(self, level: int) -> list[bytes]:
        """The unfinished tile's entries at `level` (a copy)."""
        if level >= len(self._buffers):
            return []
        buf = self._buffers[level]
        return [bytes(buf[i : i + HASH_SIZE]) for i in range(0, len(buf), HASH_SIZE)]

    def partials(self) -> list[bytearray]:
        """Every level's unfinished tile as its bytes, level 0 first: the builder's state for
        a tree of the size its counts say (the builder's own buffers: read, do not change)."""
        return self._buffers

    def restore(self, size: int, partials: Sequence[bytes | bytearray]) -> None:
        """Take the state `partials` describes for a tree of `size` leaves (as the compiled
        writer loop gives it back): level L has seen `size >> 8L` nodes, the last
        `(size >> 8L) % 256` of which are in `partials[L]`."""
        buffers: list[bytearray] = []
        counts: list[int] = []
        for level, data in enumerate(partials):
            count = size >> (TILE_HEIGHT * level)
            want = count % TILE_WIDTH * HASH_SIZE
            if len(data) != want:
                raise ValueError(
                    f"tile level {level}: {len(data)} bytes of entries for a tree of size "
                    f"{size}, want {want}"
                )
            buffers.append(bytearray(data))
            counts.append(count)
        if size >> (TILE_HEIGHT * len(partials)):
            raise ValueError(
                f"a tree of size {size} has nodes at tile level {len(partials)}, "
                f"but only {len(partials)} level(s) were given"
            )
        self._buffers, self._counts = buffers, counts


def split_tile(data: bytes, path: str = "") -> list[bytes]:
    """The hashes of a tile's bytes; ValueError when the length is not a multiple of 32."""
    if len(data) % HASH_SIZE or not data:
        raise ValueError(f"tile {path or '?'} has {len(data)} bytes, not a multiple of 32")
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]
