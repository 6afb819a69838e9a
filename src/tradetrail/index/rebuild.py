"""Rebuilding the index from the journal."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from .feed import UpdateResult, update_index
from .sqlite import SqliteIndex


def rebuild(home: Path, url: str, progress: Callable[[int], None] | None = None) -> UpdateResult:
    """SQLite: build a fresh file beside the old one and swap it in (readers see the old index
    until then). PostgreSQL rows are immutable: every record is offered again, from seq 0, so
    missing rows are added and differing ones are reported (IndexTamperError)."""
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        fresh = path.with_name(path.name + ".rebuild")
        for leftover in (fresh, *_sidecars(fresh)):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
        index = SqliteIndex(fresh)
        try:
            result = update_index(home, index, progress=progress)
        finally:
            index.close()
        for sidecar in _sidecars(path):
            with contextlib.suppress(FileNotFoundError):
                sidecar.unlink()
        os.replace(fresh, path)
        return result
    from . import open_index

    backend = open_index(home, url)
    try:
        return update_index(home, backend, progress=progress, start=0)
    finally:
        backend.close()


def _sidecars(path: Path) -> tuple[Path, Path]:
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")
