"""The compiled accelerator (issue 14) against the pure-Python reference, in one run.

    python bench/accel.py            # 100k events of bench/run.py's stream, 5 repetitions

(1) the splice-and-hash loop alone, in batches of 4096 (the writer's MAX_BATCH); (2) the
embedded writer journaling the same pre-shaped events (`record_shaped`, durability=write, so
the disk does not hide the loop), each path in a fresh process (TRADETRAIL_ACCELERATOR=off for
the reference), as process CPU time: on a shared 2-core machine wall time is too noisy to
show a 1 us difference. Medians, microseconds per event.
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
from pathlib import Path

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


def writer_run(n: int, reps: int) -> float:
    """In this process: the embedded writer journaling n pre-shaped events, us of CPU (all
    threads: the queueing caller's share is the same either way) per event."""
    import tradetrail

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
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
