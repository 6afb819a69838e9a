"""HTTP ingest (issue 16): events/s and ack latency through `POST /v1/events` of a real
`tradetrail serve --listen` on loopback, against the local channel into the same writer
process, in one run, interleaved, median of --reps runs.

    python bench/http_ingest.py            # batches of 1, 100 and 1,000; 5 repetitions
    python bench/http_ingest.py --quick    # small counts, 2 repetitions (a smoke run)

For each batch size B, three ways to hand B events over and wait until they are durable
(`durability=fsync`, the default), repeated until the run's events are in:
- http: one POST of a pre-built B-line NDJSON body with httpx on a reused connection, timed
  from the POST to the answer (the service answers once the batch is fsynced);
- remote: the remote client (`tradetrail.open("http://...", token=..., batch_size=B)`), B
  `record()` calls and `flush()`: shaping in the caller, its fsynced spool, then the POST;
- local: a client attached to the same writer process over its Unix socket
  (`tradetrail.open(home)`), B `record()` calls and `flush()`.
Ack latency is the time of one such hand-over, p50/p99 over every batch of every repetition.
Results go to bench/results/http_ingest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

import tradetrail

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import RESULTS_DIR, Event, generate_events, machine_info, percentile, quiesce
from serving import Served, make_trail

OUT = RESULTS_DIR / "http_ingest.json"
MODES = ("http", "remote", "local")
FULL_EVENTS = {1: 1_000, 100: 20_000, 1000: 50_000}
QUICK_EVENTS = {1: 50, 100: 1_000, 1000: 2_000}


def ndjson_line(event: Event) -> bytes:
    return orjson.dumps({"type": event.type, "data": event.data, **event.fields}, default=str)


def bodies(events: list[Event], size: int) -> list[bytes]:
    lines = [ndjson_line(e) + b"\n" for e in events]
    return [b"".join(lines[i : i + size]) for i in range(0, len(lines), size)]


def run_http(url: str, secret: str, payloads: list[bytes]) -> tuple[float, list[float]]:
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/x-ndjson"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        client.get("/healthz")  # the connection is open before the clock starts
        quiesce()
        t0 = time.perf_counter()
        for body in payloads:
            s = time.perf_counter()
            answer = client.post("/v1/events", content=body)
            latencies.append(time.perf_counter() - s)
            if answer.status_code != 200:
                raise RuntimeError(f"POST /v1/events: {answer.status_code} {answer.text[:500]}")
            results = answer.json()["results"]
            if len(results) != body.count(b"\n") or any(r["duplicate"] for r in results):
                raise RuntimeError(f"POST /v1/events: unexpected answer {results[:3]}")
        elapsed = time.perf_counter() - t0
    return sum(b.count(b"\n") for b in payloads) / elapsed, latencies


def run_trail(trail: tradetrail.Trail, events: list[Event], size: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    record = trail.record
    try:
        quiesce()
        t0 = time.perf_counter()
        for start in range(0, len(events), size):
            s = time.perf_counter()
            for ev in events[start : start + size]:
                record(ev.type, ev.data, **ev.fields)
            if not trail.flush(timeout=120):
                raise RuntimeError(f"{trail!r}: flush() did not complete: {trail.stats()}")
            latencies.append(time.perf_counter() - s)
        elapsed = time.perf_counter() - t0
    finally:
        trail.close()
    return len(events) / elapsed, latencies


def journal_size(home: Path) -> int:
    return sum(p.read_bytes().count(b"\n") for p in (home / "journal").glob("audit-*.jsonl"))


def run(args: argparse.Namespace) -> dict[str, Any]:
    counts = dict(QUICK_EVENTS if args.quick else FULL_EVENTS)
    for size, n in zip((1, 100, 1000), args.events or (), strict=False):
        counts[size] = n
    load_start = os.getloadavg()  # the machine is shared: say how busy it was
    work = Path(args.workdir or RESULTS_DIR / f"tmp-http-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    home = work / "trail"
    secret = make_trail(home)
    # no rate limit in the way (default 100 requests/s per token); batches up to 1,000
    served = Served(home, "--rate", "1000000", "--max-batch", "1000").wait()
    expected = journal_size(home)
    rates: dict[str, dict[int, list[float]]] = {m: {s: [] for s in counts} for m in MODES}
    lats: dict[str, dict[int, list[float]]] = {m: {s: [] for s in counts} for m in MODES}
    try:
        for size, n in counts.items():
            events = generate_events(n, seed=size)
            payloads = bodies(events, size)
            for rep in range(args.reps):
                order = MODES if rep % 2 == 0 else MODES[::-1]
                for mode in order:
                    if mode == "http":
                        rate, latencies = run_http(served.url, secret, payloads)
                    else:
                        trail = (
                            tradetrail.open(
                                served.url,
                                token=secret,
                                spool=work / f"spool-{size}-{rep}",
                                batch_size=size,
                            )
                            if mode == "remote"
                            else tradetrail.open(home, service="bench", writer="auto")  # attach
                        )
                        rate, latencies = run_trail(trail, events, size)
                    expected += n
                    rates[mode][size].append(rate)
                    lats[mode][size].extend(latencies)
                line = ", ".join(f"{m} {rates[m][size][-1]:,.0f}/s" for m in MODES)
                print(f"  batch {size:>5}, run {rep + 1}: {line}", flush=True)
    finally:
        served.stop()
    size_now = journal_size(home)
    # every acknowledged event on disk exactly once (the service's own auth.* events aside)
    if size_now < expected or not tradetrail.verify(home).ok:
        raise RuntimeError(f"journal holds {size_now} records, expected >= {expected}")
    ids = [
        orjson.loads(line)["event_id"]
        for p in sorted((home / "journal").glob("audit-*.jsonl"))
        for line in p.read_bytes().splitlines()
    ]
    if len(ids) != len(set(ids)):
        raise RuntimeError("an event was journaled twice")
    result: dict[str, Any] = {
        "machine": machine_info(),
        "load_average": {"start": load_start, "end": os.getloadavg()},
        "durability": "fsync",
        "reps": args.reps,
        "events": {str(s): n for s, n in counts.items()},
        "journal_records": size_now,
        "modes": {},
    }
    for mode in MODES:
        result["modes"][mode] = {}
        for size in counts:
            ordered = sorted(lats[mode][size])
            result["modes"][mode][str(size)] = {
                "events_per_s": rates[mode][size],
                "median_events_per_s": statistics.median(rates[mode][size]),
                "ack_p50_ms": percentile(ordered, 50) * 1000,
                "ack_p99_ms": percentile(ordered, 99) * 1000,
                "batches": len(ordered),
            }
    shutil.rmtree(work, ignore_errors=True)
    return result


def report(result: dict[str, Any]) -> str:
    machine = result["machine"]
    lines = [
        f"{machine['cpu']}, {machine['usable_cores']} cores, {machine['filesystem']}, "
        f"Python {machine['python']}; durability fsync; median of {result['reps']}; load "
        f"average {result['load_average']['start'][0]:.1f} at the start, "
        f"{result['load_average']['end'][0]:.1f} at the end",
        "",
        "| batch | mode | events/s (median) | vs local | ack p50 | ack p99 | runs |",
        "|---:|---|---:|---:|---:|---:|---|",
    ]
    for size in result["events"]:
        local = result["modes"]["local"][size]["median_events_per_s"]
        for mode in MODES:
            m = result["modes"][mode][size]
            runs = " / ".join(f"{r:,.0f}" for r in m["events_per_s"])
            lines.append(
                f"| {int(size):,} | {mode} | {m['median_events_per_s']:,.0f} | "
                f"{m['median_events_per_s'] / local:.2f}x | {m['ack_p50_ms']:.2f} ms | "
                f"{m['ack_p99_ms']:.2f} ms | {runs} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, 2 repetitions")
    parser.add_argument("--reps", type=int, help="interleaved repetitions (default 5; quick 2)")
    parser.add_argument(
        "--events",
        type=int,
        nargs=3,
        metavar=("N1", "N100", "N1000"),
        help="events per run for batches of 1, 100 and 1,000 (default 1k 20k 50k)",
    )
    parser.add_argument("--workdir", type=Path, help="where the trail goes (removed at the end)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    args.reps = args.reps or (2 if args.quick else 5)
    result = run(args)
    print(report(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
