"""Where does tradetrail's time go? A companion to bench/run.py for when (c) misses its target.

    python bench/profile_writer.py                  # per-step cost breakdown, us/event
    python bench/profile_writer.py --cprofile       # cProfile of the caller and writer threads
    py-spy record --threads -f speedscope -o bench/results/c.json -- \\
        python bench/profile_writer.py --workload   # the bare (c) workload, for a sampler

The breakdown times each step the caller (`record()`) and the writer thread do per event,
called directly in one thread on the same event stream as bench/run.py, so the parts can be
compared with the whole and with structlog's cost per event.
"""

from __future__ import annotations

import argparse
import binascii
import cProfile
import gc
import hashlib
import io
import pstats
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench
import tradetrail
from tradetrail.core import canonical
from tradetrail.core.merkle import Frontier
from tradetrail.core.tiles import TileBuilder
from tradetrail.core.timefmt import TimestampFormatter
from tradetrail.store.tilestore import TileStore


def per_event_us(fn: Callable[[], None], n: int, reps: int = 5) -> float:
    times = []
    for _ in range(reps):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) / n * 1e6


def breakdown(events: list[bench.Event], work: Path) -> None:
    n = len(events)
    source_bytes = orjson.dumps({"host": "vm", "pid": 1, "service": "bench"}, option=canonical.SORT)
    max_bytes = canonical.DEFAULT_MAX_EVENT_BYTES
    prepare = getattr(canonical, "prepare", None)
    rows: list[tuple[str, float]] = []

    def add(name: str, fn: Callable[[], None]) -> None:
        rows.append((name, per_event_us(fn, n)))

    # ----- caller side: what record() does before queueing
    def caller_check_value() -> None:
        for e in events:
            canonical.check_value(e.data, "data")

    def caller_encode_data() -> None:
        for e in events:
            orjson.dumps(e.data, option=canonical.DUMP_OPTIONS)

    def caller_uuid7() -> None:
        for _ in events:
            canonical.new_event_id()

    add("caller: check_value(data) (validation walk)", caller_check_value)
    add("caller: orjson.dumps(data) alone", caller_encode_data)
    add("caller: new_event_id() (UUIDv7 str)", caller_uuid7)
    prepared: list[Any] = []
    if prepare is not None:
        source = orjson.Fragment(source_bytes)

        def caller_prepare() -> None:
            for e in events:
                prepare(e.type, e.data, e.fields, source, max_bytes)

        add("caller: prepare() total (validate + encode 4 pieces)", caller_prepare)
        prepared = [prepare(e.type, e.data, e.fields, source, max_bytes) for e in events]
    else:

        def caller_envelope() -> None:
            for e in events:
                canonical.build_envelope(e.type, e.data, e.fields, source_bytes, max_bytes)

        add("caller: build_envelope() total", caller_envelope)

    def caller_record_stalled_writer() -> float:
        """record() cost with the writer parked (no GIL contention), us/event, loop only."""
        home = work / "trail-stalled"
        shutil.rmtree(home, ignore_errors=True)
        trail = bench.open_trail(home, "fsync", n)
        gate = threading.Event()
        original = trail._process

        def parked(batch: Any) -> None:
            gate.wait()
            original(batch)

        trail._process = parked  # type: ignore[method-assign]
        trail.record("bench.warmup", {})  # the writer takes it and parks
        time.sleep(0.05)
        record = trail.record
        gc.collect()
        t0 = time.perf_counter()
        for e in events:
            record(e.type, e.data, **e.fields)
        elapsed = time.perf_counter() - t0
        del trail._process
        gate.set()
        trail.flush()
        trail.close()
        shutil.rmtree(home, ignore_errors=True)
        return elapsed / n * 1e6

    # ----- writer side, step by step, as _write_entries does it
    fmt = TimestampFormatter()
    fmt_bytes = getattr(fmt, "format_bytes", None) or (lambda ns: fmt.format(ns).encode())

    def w_clock_ts() -> None:
        for _ in events:
            fmt_bytes(time.time_ns())

    prev = b"0" * 64
    ts = b"2026-01-01T00:00:00.000000Z"
    if prepared:

        def w_line() -> None:
            for p in prepared:
                p.p0 + prev + p.p1 + b"%d" % 123456 + p.p2 + ts + p.p3

        lines = [p.p0 + prev + p.p1 + b"%d" % i + p.p2 + ts + p.p3 for i, p in enumerate(prepared)]
        add_line = ("writer: assemble line (bytes concatenation)", w_line)
    else:
        envs = [
            canonical.build_envelope(e.type, e.data, e.fields, source_bytes, max_bytes)
            for e in events
        ]

        def w_dumps() -> None:
            for env in envs:
                rec = dict(env)
                rec.update(seq=1, ts=ts.decode(), prev=prev.decode())
                orjson.dumps(rec, option=canonical.SORT)

        lines = [orjson.dumps({**e.fields, "data": e.data}) for e in events]
        add_line = ("writer: dict + orjson.dumps(record)", w_dumps)

    def w_sha() -> None:
        sha = hashlib.sha256
        for line in lines:
            sha(b"\x00" + line).digest()

    leaves = [hashlib.sha256(b"\x00" + line).digest() for line in lines]

    def w_hex() -> None:
        for leaf in leaves:
            binascii.hexlify(leaf)

    def w_frontier() -> None:
        frontier = Frontier()
        for leaf in leaves:
            frontier.append(leaf)

    def w_merkle() -> None:
        frontier, builder = Frontier(), TileBuilder()
        for leaf in leaves:
            builder.add(frontier.append(leaf))

    def w_write() -> None:
        path = work / "raw.jsonl"
        with open(path, "wb") as fh:
            for i in range(0, n, 4000):
                fh.write(b"\n".join(lines[i : i + 4000]) + b"\n")
                fh.flush()
        path.unlink()

    def w_tiles() -> None:
        store = TileStore(work / "tiles")
        blob = bytes(8192)
        for i in range(n // 256 + n // 65536):
            store.write(0, i, blob)
        shutil.rmtree(work / "tiles")

    def w_tiles_flat() -> None:
        # for comparison: the same bytes appended to one file (no per-tile create/rename)
        with open(work / "tiles.bin", "wb") as fh:
            blob = bytes(8192)
            for _ in range(n // 256 + n // 65536):
                fh.write(blob)
        (work / "tiles.bin").unlink()

    add("writer: clock + timestamp", w_clock_ts)
    add(*add_line)
    add("writer: sha256(0x00 + line) leaf hash", w_sha)
    add("writer: hexlify(leaf) (next prev)", w_hex)
    add("writer: Merkle frontier append", w_frontier)
    add("writer: Merkle frontier + tile builder", w_merkle)
    add("writer: write() in 4000-line batches (no fsync)", w_write)
    add("writer: tile files (write_atomic per 256 records)", w_tiles)
    add("writer: same tile bytes appended to one file", w_tiles_flat)

    # ----- the whole thing, for comparison
    def whole(durability: str) -> Callable[[], None]:
        def go() -> None:
            home = work / "trail"
            shutil.rmtree(home, ignore_errors=True)
            trail = bench.open_trail(home, durability, n)
            for e in events:
                trail.record(e.type, e.data, **e.fields)
            trail.flush()
            trail.close()
            shutil.rmtree(home, ignore_errors=True)

        return go

    def structlog_whole() -> None:
        bench.run_structlog(events, work / "s.jsonl")

    stalled = [caller_record_stalled_writer() for _ in range(3)]
    rows.append(
        ("caller: record() loop, writer parked (no contention)", statistics.median(stalled))
    )
    add("whole: (a) structlog, per event", structlog_whole)
    add("whole: (c) open + record all + flush + close", whole("fsync"))
    add("whole: (d) open + record all + flush + close", whole("write"))

    print(f"\nper-event cost, median of 5 passes over {n:,} events (us/event)")
    for name, us in rows:
        print(f"  {name:<62} {us:7.2f}")


def workload(events: list[bench.Event], work: Path, rounds: int) -> None:
    for _ in range(rounds):
        home = work / "trail"
        shutil.rmtree(home, ignore_errors=True)
        trail = bench.open_trail(home, "fsync", len(events))
        for e in events:
            trail.record(e.type, e.data, **e.fields)
        trail.flush()
        trail.close()
        shutil.rmtree(home, ignore_errors=True)


def profile_threads(events: list[bench.Event], work: Path) -> None:
    writer_prof = cProfile.Profile()
    original = tradetrail.Trail._run

    def profiled_run(self: Any) -> None:
        writer_prof.enable()
        try:
            original(self)
        finally:
            writer_prof.disable()

    tradetrail.Trail._run = profiled_run  # type: ignore[method-assign]
    caller_prof = cProfile.Profile()
    home = work / "trail"
    trail = bench.open_trail(home, "fsync", len(events))
    caller_prof.enable()
    for e in events:
        trail.record(e.type, e.data, **e.fields)
    trail.flush()
    caller_prof.disable()
    trail.close()
    tradetrail.Trail._run = original  # type: ignore[method-assign]
    for name, prof in (("caller thread", caller_prof), ("writer thread", writer_prof)):
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(18)
        print(f"\n===== {name} (cProfile, sorted by own time; cProfile inflates small calls)")
        print(out.getvalue())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--workload", action="store_true", help="just run (c), for py-spy")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    import logging

    logging.getLogger("tradetrail").setLevel(logging.ERROR)
    events = bench.generate_events(args.events, args.seed)
    gc.freeze()
    work = bench.RESULTS_DIR / f"tmp-profile-{id(events)}"
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.workload:
            workload(events, work, args.rounds)
        elif args.cprofile:
            profile_threads(events, work)
        else:
            breakdown(events, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
