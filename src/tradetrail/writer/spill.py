"""The emergency file: events that could not be journaled yet (queue full, failing disk).

Each line is canonical JSON `{"after_seq", "at", "reason", "event"}`: the event's fields as
`record()` built them (event id included), the time it was taken and why it spilled. The writer
merges spill files into the journal when it can, skipping event ids already journaled, and only
then deletes them.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from ..core.canonical import SORT

_counter = itertools.count()


class Spill:
    def __init__(self, directory: Path, origin: str) -> None:
        self.directory = directory
        # several trails may share one spill directory: each merges only its own files
        self.prefix = f"spill-{hashlib.sha256(origin.encode()).hexdigest()[:16]}-"
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._path: Path | None = None
        self._dirty = False

    def _open(self) -> int:
        if self._fd is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            name = f"{self.prefix}{os.getpid()}-{time.time_ns()}-{next(_counter)}.jsonl"
            self._path = self.directory / name
            self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return self._fd

    def append(self, entries: list[dict[str, Any]], *, sync: bool) -> None:
        """Append entries; raises OSError when the spill directory cannot take them either."""
        data = b"".join(orjson.dumps(e, option=SORT | orjson.OPT_APPEND_NEWLINE) for e in entries)
        with self._lock:
            fd = self._open()
            start = os.lseek(fd, 0, os.SEEK_END)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            except OSError:
                # never append after a fragment: cut it off if we can, and start a new file
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, start)
                self._drop_fd()
                raise
            if not sync:
                self._dirty = True
                return
            fd = os.dup(fd)  # take() may close the original meanwhile
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _drop_fd(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd = None

    def sync(self) -> None:
        """fsync outside the lock, so a caller spilling meanwhile is not held up by it."""
        with self._lock:
            fd = self._fd if self._dirty else None
            self._dirty = False
            if fd is not None:
                fd = os.dup(fd)
        if fd is not None:
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def take(self) -> list[Path]:
        """Close the current file (new spills start another) and list every spill file."""
        with self._lock:
            # list under the lock: a caller spilling right after must start a file that this
            # merge does not see (and so does not delete while it is being written)
            fd, self._fd, self._dirty = self._fd, None, False
            found = (
                sorted(p for p in self.directory.iterdir() if p.name.startswith(self.prefix))
                if self.directory.is_dir()
                else []
            )
        if fd is not None:
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        return found

    def has_files(self) -> bool:
        return self.directory.is_dir() and any(
            p.name.startswith(self.prefix) for p in self.directory.iterdir()
        )

    def pending_bytes(self) -> int:
        """Bytes in this trail's spill files (monitoring: growing means the journal is not
        taking records); files a merge deletes meanwhile count as empty."""
        total = 0
        try:
            with os.scandir(self.directory) as entries:
                for entry in entries:
                    if entry.name.startswith(self.prefix):
                        with contextlib.suppress(OSError):
                            total += entry.stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            return 0
        return total

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                with contextlib.suppress(OSError):
                    os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None

    def forget_fd(self) -> None:
        """After fork: the child must not write through the parent's descriptor."""
        self._fd = None
        self._lock = threading.Lock()


def read_spill(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Entries of one spill file and the count of unreadable lines (a torn last line)."""
    entries: list[dict[str, Any]] = []
    bad = 0
    with open(path, "rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                bad += 1
                continue
            try:
                entry = orjson.loads(raw)
            except orjson.JSONDecodeError:
                bad += 1
                continue
            if isinstance(entry, dict) and isinstance(entry.get("event"), dict):
                entries.append(entry)
            else:
                bad += 1
    return entries, bad
