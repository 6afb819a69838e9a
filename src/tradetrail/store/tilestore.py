"""Hash tiles on disk under `<home>/tiles/`, in the C2SP tlog-tiles layout."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from ..core.merkle import root_of_leaves
from ..core.tiles import TILE_HEIGHT, TILE_WIDTH, split_tile, tile_path
from ..errors import TileError


def write_atomic(
    path: Path, data: bytes, *, sync: bool = False, mode: int = 0o644, make_dirs: bool = True
) -> None:
    """Write a whole file so readers see the old content or the new, never a torn one."""
    if make_dirs:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if sync:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class TileStore:
    """Reads and writes tiles; `node()` gives any complete subtree hash in O(1) tile reads."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._dirs: set[Path] = set()
        self._read_full = lru_cache(maxsize=512)(self._read_full_uncached)

    def _read_full_uncached(self, level: int, index: int) -> bytes:
        """Full tiles never change once written, so they are cached; a missing one raises
        (and so is not cached: it may be written later)."""
        return self.path(level, index).read_bytes()

    def path(self, level: int, index: int, width: int = TILE_WIDTH) -> Path:
        return self.root / tile_path(level, index, width)

    def write(self, level: int, index: int, data: bytes, *, sync: bool = False) -> None:
        width = len(data) // 32
        path = self.path(level, index, width)
        parent = path.parent
        if parent not in self._dirs:
            parent.mkdir(parents=True, exist_ok=True)
            self._dirs.add(parent)
        write_atomic(path, data, make_dirs=False, sync=sync)

    def is_complete(self, level: int, index: int) -> bool:
        """A full tile of the right size (a power cut can leave an empty file behind)."""
        try:
            return self.path(level, index).stat().st_size == TILE_WIDTH * 32
        except FileNotFoundError:
            return False

    def exists(self, level: int, index: int, width: int = TILE_WIDTH) -> bool:
        return self.path(level, index, width).is_file()

    def read_entries(self, level: int, index: int, needed: int) -> list[bytes]:
        """At least `needed` entries of tile (level, index): the full tile, else a partial one
        wide enough. Raises TileError naming the tile when none is stored."""
        try:
            full: bytes | None = self._read_full(level, index)
        except FileNotFoundError:
            full = None
        if full is not None:
            path = tile_path(level, index)
            if len(full) != TILE_WIDTH * 32:
                raise TileError(f"full tile has {len(full)} bytes, expected 8192", path)
            return split_tile(full, path)
        partial_dir = self.path(level, index).with_name(self.path(level, index).name + ".p")
        widths = []
        if partial_dir.is_dir():
            widths = sorted(int(p.name) for p in partial_dir.iterdir() if p.name.isdigit())
        for width in widths:
            if width >= needed:
                path = tile_path(level, index, width)
                data = (self.root / path).read_bytes()
                if len(data) != width * 32:
                    raise TileError(
                        f"partial tile has {len(data)} bytes, expected {width * 32}", path
                    )
                return split_tile(data, path)
        raise TileError(
            f"no stored tile holds {needed} entries", tile_path(level, index, min(needed, 256))
        )

    def node(self, height: int, index: int) -> bytes:
        """Hash of the perfect subtree (height, index), from the tile that holds its leaves."""
        level, rest = divmod(height, TILE_HEIGHT)
        start = index << rest
        end = (index + 1) << rest
        tile_index = start // TILE_WIDTH
        offset = start - tile_index * TILE_WIDTH
        entries = self.read_entries(level, tile_index, end - tile_index * TILE_WIDTH)
        chunk = entries[offset : offset + (end - start)]
        return chunk[0] if rest == 0 else root_of_leaves(chunk)

    def clear_cache(self) -> None:
        self._read_full.cache_clear()
