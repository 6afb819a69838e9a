"""The signed checkpoints a trail stores: `<home>/checkpoint` (the latest) and
`<home>/checkpoints/<size>` (every one), read without verifying (the caller opens the note)."""

from __future__ import annotations

from pathlib import Path

from ..core import layout


def covering_checkpoint(home: Path, size: int) -> tuple[int, str, bool] | None:
    """(size, text, exact) of the stored checkpoint at `size`, else of the smallest larger one;
    None when no checkpoint reaches that far."""
    exact = home / layout.CHECKPOINTS_DIR / str(size)
    if exact.is_file():
        return size, exact.read_text(encoding="utf-8"), True
    best: tuple[int, Path] | None = None
    directory = home / layout.CHECKPOINTS_DIR
    if directory.is_dir():
        for p in directory.iterdir():
            if p.name.isdigit() and int(p.name) >= size and (best is None or int(p.name) < best[0]):
                best = (int(p.name), p)
    latest = home / layout.CHECKPOINT_FILE
    if latest.is_file():
        lines = latest.read_text(encoding="utf-8").split("\n")
        if len(lines) > 1 and lines[1].isdigit():
            n = int(lines[1])
            if n >= size and (best is None or n < best[0]):
                best = (n, latest)
    if best is None:
        return None
    return best[0], best[1].read_text(encoding="utf-8"), best[0] == size
