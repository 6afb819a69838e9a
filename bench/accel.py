"""The compiled accelerator (issue 14) against the pure-Python reference, in one run.

    python bench/accel.py            # 100k events of bench/run.py's stream, 5 repetitions

(1) `loop_us`: the splice-and-hash loop alone, in batches of 4096 (the writer's MAX_BATCH);
(2) `writer_us`: the embedded writer journaling the same pre-shaped events (`record_shaped`,
durability=write, so the disk does not hide the loop), each path in a fresh process
(TRADETRAIL_ACCELERATOR=off for the reference), as process CPU time: on a shared 2-core machine
wall time is too noisy to show a 1 us difference. Medians, microseconds per event.

(3) `batch_loop_us`: the writer's whole per-batch loop (splice, leaf hashes, Merkle frontier,
hash tiles) with the frontier and tile state carried from batch to batch as the writer does:
pure Python, the C splice and hash with the tree in Python (the fast path before the tree moved
into C), and the one C call `splice_hash_extend`. (4) `writer_cpu_us`: (2) for those three
paths, one fresh process per path and repetition, the paths interleaved. Medians.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import generate_events


def shaped(n: int) -> list[object]:
    from tradetrail.core import canonical

    source = orjson.Fragment(
        orjson.dumps({"host": "vm", "pid": 1, "service": "bench"}, option=canonical.SORT)
    )
    return [
        canonical.prepare(e.type, e.data, e.fields, source, canonical.DEFAULT_MAX_EVENT_BYTES)
        for e in generate_events(n, 20240601)
    ]


def loop_alone(n: int, reps: int) -> dict[str, float]:
    from tradetrail.core import chain

    events = shaped(n)
    stamps = [b"2026-01-01T00:00:00.%06dZ" % (i % 1_000_000) for i in range(n)]
    out = {}
    funcs = {"python": chain.splice_and_hash_py, "c": chain.splice_and_hash_c}
    for name, fn in funcs.items():
        if fn is None:
            continue
        times = []
        for _ in range(reps):
            gc.collect()
            t0 = time.perf_counter()
            for i in range(0, n, 4096):
                fn(events[i : i + 4096], b"0" * 64, i, stamps[i : i + 4096])  # type: ignore[arg-type]
            times.append(time.perf_counter() - t0)
        out[name] = statistics.median(times) / n * 1e6
    return out


def tree_in_python(
    events: list[Any],
    prev: bytes,
    seq: int,
    stamps: list[bytes],
    nodes: Sequence[bytes],
    tiles: Sequence[bytes | bytearray],
) -> tuple[bytes, bytes, list[bytes], list[bytes], list[tuple[int, int, bytes]]]:
    """splice_hash_extend as the writer did it before the tree moved into C: the compiled
    splice and hash, then Frontier.append and TileBuilder.add per leaf."""
    from tradetrail.core import chain
    from tradetrail.core.merkle import Frontier
    from tradetrail.core.tiles import TileBuilder

    assert chain.splice_and_hash_c is not None
    data, leaves, prev = chain.splice_and_hash_c(events, prev, seq, stamps)
    frontier, builder = Frontier(seq, nodes), TileBuilder()
    builder.restore(seq, tiles)
    full: list[tuple[int, int, bytes]] = []
    for leaf in leaves:
        done = builder.add(frontier.append(leaf))
        if done:
            full.extend(done)
    return data, prev, list(frontier.nodes), list(builder.partials()), full


def batch_loop(n: int, reps: int) -> dict[str, float]:
    """The per-batch loop with its tree state carried over, each path in turn per repetition."""
    from tradetrail.core import chain

    events = shaped(n)
    stamps = [b"2026-01-01T00:00:00.%06dZ" % (i % 1_000_000) for i in range(n)]
    funcs: dict[str, Any] = {"python": chain.splice_hash_extend_py}
    if chain.splice_hash_extend_c is not None:
        funcs["c splice+hash, tree in Python"] = tree_in_python
        funcs["c"] = chain.splice_hash_extend_c
    times: dict[str, list[float]] = {name: [] for name in funcs}
    roots = set()
    for _ in range(reps):
        for name, fn in funcs.items():
            gc.collect()
            prev, nodes, tiles = b"0" * 64, [], []
            t0 = time.perf_counter()
            for i in range(0, n, 4096):
                _, prev, nodes, tiles, _ = fn(
                    events[i : i + 4096], prev, i, stamps[i : i + 4096], nodes, tiles
                )
            times[name].append(time.perf_counter() - t0)
            roots.add((prev, tuple(nodes)))
    assert len(roots) == 1, "the paths disagree"
    return {name: statistics.median(t) / n * 1e6 for name, t in times.items()}


def writer_run(n: int, reps: int) -> float:
    """In this process: the embedded writer journaling n pre-shaped events, us of CPU (all
    threads: the queueing caller's share is the same either way) per event."""
    import tradetrail
    from tradetrail.writer import sequencer

    if os.environ.get("BENCH_TREE_IN_PYTHON") == "1":  # the C fast path as it was before
        sequencer.splice_hash_extend_c = tree_in_python  # type: ignore[assignment]
    events = shaped(n)
    times = []
    for _ in range(reps):
        home = Path(tempfile.mkdtemp(prefix="tradetrail-accel-"))
        trail = tradetrail.open(
            home, writer="embedded", durability="write", queue_size=n + 1024, min_free_bytes=0
        )
        gc.collect()
        t0 = time.process_time()
        trail.record_shaped(events)  # type: ignore[arg-type]
        trail.flush()
        times.append(time.process_time() - t0)
        trail.close()
        shutil.rmtree(home)
    return statistics.median(times) / n * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--writer-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer_only:
        print(json.dumps(writer_run(args.events, args.reps)))
        return 0
    from tradetrail.core.chain import ACCELERATOR

    result: dict[str, object] = {
        "accelerator": ACCELERATOR,
        "loop_us": loop_alone(args.events, args.reps),
    }
    writer: dict[str, float] = {}
    for name, value in (("python", "off"), ("c", ""), ("python 2", "off"), ("c 2", "")):
        env = dict(os.environ, TRADETRAIL_ACCELERATOR=value)
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--writer-only",
                "--events",
                str(args.events),
                "--reps",
                str(args.reps),
            ],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        writer[name] = json.loads(done.stdout)
    result["writer_us"] = writer
    result["batch_loop_us"] = batch_loop(args.events, args.reps)
    paths = {"python": {"TRADETRAIL_ACCELERATOR": "off"}}
    if ACCELERATOR.startswith("C"):
        paths["c splice+hash, tree in Python"] = {"BENCH_TREE_IN_PYTHON": "1"}
        paths["c"] = {}
    cpu: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(args.reps):
        for name, extra in paths.items():
            env = {**os.environ, "TRADETRAIL_ACCELERATOR": "", "BENCH_TREE_IN_PYTHON": "", **extra}
            command = [sys.executable, __file__, "--writer-only", "--events", str(args.events)]
            done = subprocess.run(
                [*command, "--reps", "1"],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            cpu[name].append(json.loads(done.stdout))
    result["writer_cpu_us"] = {name: statistics.median(v) for name, v in cpu.items()}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
