"""The two passes over a day's journal lines that make and check a daily pack: the tree
pass (seq, prev link, day, Merkle root, SHA-256) and the tables pass (the derived files).
The exporter runs them over the journal, verify-pack over the pack's events.jsonl; both
read only the file their caller names."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import multiprocessing
import os
import sys
from binascii import hexlify
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

import orjson

from .merkle import EMPTY_ROOT
from .pack import fold
from .packtables import (
    DayTables,
)

_BLOCK: Final = 1 << 22


@dataclass
class ScanResult:
    """What the tree pass over a day's lines found."""

    count: int = 0
    first_line: bytes | None = None
    last_line: bytes | None = None
    first_seq: int | None = None
    last_seq: int | None = None
    root: bytes = EMPTY_ROOT
    size: int = 0
    bytes: int = 0
    sha256: str = ""
    faults: list[tuple[str, int | None]] = field(default_factory=list)
    chain_breaks: list[int] = field(default_factory=list)
    file_hashes: dict[str, tuple[str, int]] = field(default_factory=dict)


FaultFn = Callable[[str, int | None], None]
"""fault(message, line number): the exporter raises, verify-pack records and goes on."""


def read_blocks(
    fh: IO[bytes], limit: int | None, *, split: bool = True
) -> Iterator[tuple[bytes, list[bytes]]]:
    """(bytes, lines) of consecutive runs of complete lines, reading at most `limit` bytes
    (lines [b""] when not `split`); a torn tail (bytes after the last newline) comes last, as
    (bytes, [])."""
    rest = b""
    remaining = limit
    while remaining is None or remaining > 0:
        chunk = fh.read(_BLOCK if remaining is None else min(_BLOCK, remaining))
        if not chunk:
            break
        if remaining is not None:
            remaining -= len(chunk)
        block = rest + chunk if rest else chunk
        cut = block.rfind(b"\n") + 1
        rest = block[cut:]
        if cut:
            whole = block[:cut]
            if split:
                lines = whole.split(b"\n")
                lines.pop()
                yield whole, lines
            else:
                yield whole, [b""]
    if rest:
        yield rest, []


def _slow_checks(
    line: bytes,
    lineno: int,
    seq_wanted: int,
    prev: bytes | None,
    day: str,
    result: ScanResult,
) -> None:
    """Parse a line whose bytes did not show the expected seq, prev and day at a glance, and
    say precisely what is wrong with it (perhaps nothing: a line need not be canonical)."""
    try:
        rec = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        result.faults.append((f"not valid JSON: {exc}", lineno))
        return
    if type(rec) is not dict:
        result.faults.append(("not a JSON object", lineno))
        return
    seq = rec.get("seq")
    if seq != seq_wanted:
        result.faults.append((f"seq {seq!r} where {seq_wanted} was expected", lineno))
    if prev is not None and rec.get("prev") != prev.decode():
        result.chain_breaks.append(lineno)
    ts = rec.get("ts")
    if type(ts) is not str or not ts.startswith(day):
        result.faults.append((f"ts {ts!r} is not on {day}", lineno))


def tree_pass(
    path: str,
    *,
    limit: int | None,
    start: int,
    frontier: Sequence[bytes],
    day: str,
    out: str | None = None,
    hash_files: Sequence[str] = (),
) -> ScanResult:
    """The tree pass over a day's lines (up to `limit` bytes): each line's seq, prev link and
    day; the Merkle tree from the compact range `frontier` = [0, start) extended by every
    line; the SHA-256 and size of the bytes (copied to `out` when given); then the SHA-256
    and size of each of `hash_files`. Faults are collected in the result. A module-level
    function: it may run in another process."""
    sha256 = hashlib.sha256
    result = ScanResult()
    nodes = list(frontier)
    n = start
    prev: bytes | None = None
    day_pattern = f',"ts":"{day}T'.encode()
    digest = sha256()
    lineno = 0
    with contextlib.ExitStack() as stack:
        fh = stack.enter_context(open(path, "rb"))
        sink = stack.enter_context(open(out, "wb")) if out is not None else None
        for whole, lines in read_blocks(fh, limit):
            if not lines:  # a torn tail
                result.faults.append(("torn last line: no newline at its end", lineno + 1))
                break
            for line in lines:
                lineno += 1
                p = line.rfind(b',"prev":"')
                if (
                    p < 0
                    or (prev is not None and line[p + 9 : p + 73] != prev)
                    or line.find(b',"seq":%d,' % n, p) < 0
                    or line.find(day_pattern, p) < 0
                ):
                    _slow_checks(line, lineno, n, prev, day, result)
                leaf = sha256(b"\x00" + line).digest()
                prev = hexlify(leaf)
                h, k = leaf, n
                while k & 1:
                    h = sha256(b"\x01" + nodes.pop() + h).digest()
                    k >>= 1
                nodes.append(h)
                n += 1
            if result.first_line is None:
                result.first_line = lines[0]
            result.last_line = lines[-1]
            digest.update(whole)
            if sink is not None:
                sink.write(whole)
            result.bytes += len(whole)
    result.count = n - start
    result.size = n
    result.root = fold(nodes)
    result.sha256 = digest.hexdigest()
    if result.count:
        result.first_seq, result.last_seq = start, n - 1
    for name in hash_files:
        with contextlib.suppress(OSError):
            result.file_hashes[name] = file_sha256(name)
    return result


def file_sha256(path: str | Path) -> tuple[str, int]:
    """(hex SHA-256, size) of a file, read in blocks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_BLOCK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def tables_pass(
    path: Path,
    *,
    limit: int | None,
    tables: DayTables,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Feed every complete line (up to `limit` bytes) to the tables."""
    done = 0
    with open(path, "rb") as fh:
        for whole, lines in read_blocks(fh, limit):
            tables.add_lines(lines)
            done += len(whole)
            if progress is not None:
                progress(done)


PARALLEL_BYTES: Final = 64 << 20
"""From this size on the two passes run in two processes (when there are two CPUs)."""


def run_passes(
    path: Path,
    *,
    limit: int | None,
    start: int,
    frontier: Sequence[bytes],
    day: str,
    tables: DayTables,
    out: Path | None = None,
    progress: Callable[[int], None] | None = None,
    parallel: bool | None = None,
    hash_files: Sequence[str] = (),
) -> ScanResult:
    """The tree pass (see `tree_pass`) and the tables pass over one file, side by side in two
    processes for a large day, else one after the other."""
    size = limit if limit is not None else path.stat().st_size
    if parallel is None:
        parallel = size >= PARALLEL_BYTES and (os.cpu_count() or 1) > 1
    args: dict[str, Any] = {
        "limit": limit,
        "start": start,
        "frontier": list(frontier),
        "day": day,
        "out": str(out) if out is not None else None,
        "hash_files": list(hash_files),
    }
    pool: ProcessPoolExecutor | None = None
    future: Future[ScanResult] | None = None
    if parallel and _can_spawn():
        try:
            pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn")
            )
            future = pool.submit(tree_pass, str(path), **args)
        except (OSError, RuntimeError):
            pool = future = None
    collecting = gc.isenabled()
    if future is not None:
        gc.disable()  # the tables keep few long-lived objects, and a whole day takes seconds
    try:
        tables_pass(path, limit=limit, tables=tables, progress=progress)
    except BaseException:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        if collecting:
            gc.enable()
    if pool is not None and future is not None:
        try:
            return future.result()
        except BrokenProcessPool:
            pass  # the worker could not start or died: do its part here
        finally:
            pool.shutdown()
    return tree_pass(str(path), **args)


def _can_spawn() -> bool:
    """Whether a spawned process can start: it re-imports the main module from its file, which
    a program read from stdin does not have."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return path is None or os.path.isfile(path)
