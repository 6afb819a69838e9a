"""The writer process (issue 14): what a trading process pays when it records through the
trail's writer process, against structlog writing JSON lines, in one run.

    python bench/writer_process.py            # 100k events, 5 interleaved repetitions
    python bench/writer_process.py --quick    # 20k events, 3 repetitions

Figures (each a median over the repetitions, runs interleaved a-b-r-c-p, p-c-r-b-a, ...; the
attached figures below for both transports, interleaved too):
- throughput: structlog (a), tradetrail attached to a writer process, fsync, events handed
  over on the socket (b) or in the shared-memory ring (r, TRADETRAIL_RING=on), tradetrail's
  embedded writer in the caller's process, fsync (c), and the pure-Python fallback (p: client
  and writer process with TRADETRAIL_ACCELERATOR=off, on the socket); first record() to
  flush() returning; with the caller's and the writer process's CPU per event;
- the caller's CPU per record() (thread CPU time of the recording thread / events) and its
  latency p50/p99/p99.9 at full load and at half of the attached rate;
- 8 client processes recording at once into one trail: total events/s, each one's p99;
- kill -9 of the writer under load: time to notice, to attach to a new writer, to catch up,
  records lost and journaled twice (both must be 0);
- spilling while no writer can run: the caller's cost per record() and the time until the
  events are durable in the spill file.
Results go to bench/results/writer_process.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

import tradetrail
from tradetrail.writer.client import probe

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import (  # the shared event stream and baseline of bench/run.py
    RESULTS_DIR,
    Event,
    generate_events,
    machine_info,
    percentile,
    quiesce,
    run_structlog,
    structlog_logger,
)

OUT = RESULTS_DIR / "writer_process.json"
RING_ENV = "TRADETRAIL_RING"


def transport(ring: bool) -> None:
    """Clients opened from now on (here, and the processes started from here) hand events over
    in the shared-memory ring, or on the socket."""
    os.environ[RING_ENV] = "on" if ring else "off"


def open_trail(home: Path, mode: str, n: int) -> tradetrail.Trail:
    return tradetrail.open(
        home, writer=mode, service="bench", queue_size=max(100_000, n + 1024), min_free_bytes=0
    )


def wait_writer_gone(home: Path) -> None:
    deadline = time.monotonic() + 30
    while probe(home, 0.5) is not None and time.monotonic() < deadline:
        time.sleep(0.02)


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used: the writer's, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_trail(events: list[Event], home: Path, mode: str) -> dict[str, float]:
    shutil.rmtree(home, ignore_errors=True)
    trail = open_trail(home, mode, len(events))
    try:
        trail.record("bench.warmup").wait(10)
        record = trail.record
        info = probe(home) if mode != "embedded" else None
        writer_pid = info["pid"] if info else os.getpid()
        quiesce()
        writer0 = process_cpu(writer_pid)
        cpu0 = time.thread_time()
        t0 = time.perf_counter()
        for ev in events:
            record(ev.type, ev.data, **ev.fields)
        t_sub = time.perf_counter()
        cpu1 = time.thread_time()
        ok = trail.flush()
        t1 = time.perf_counter()
        writer1 = process_cpu(writer_pid)
        size = trail.size
    finally:
        trail.close()
    if mode != "embedded":
        wait_writer_gone(home)
    if not ok or size != len(events) + 1:
        raise RuntimeError(f"not every event journaled: size {size}")
    return {
        "rate": len(events) / (t1 - t0),
        "submit_rate": len(events) / (t_sub - t0),
        "cpu_us": (cpu1 - cpu0) / len(events) * 1e6,
        # the writer process's CPU per event (for the embedded writer: the whole process's)
        "writer_cpu_us": (writer1 - writer0) / len(events) * 1e6,
    }


def python_fallback_run(n: int, home: Path) -> dict[str, float]:
    """run_trail in a new interpreter with TRADETRAIL_ACCELERATOR=off, so that the client and
    the writer process it starts both run the pure-Python reference: the fallback's figure."""
    env = dict(os.environ, TRADETRAIL_ACCELERATOR="off", TRADETRAIL_RING="off")
    done = subprocess.run(
        [sys.executable, __file__, "--python-run", str(home), "--events", str(n)],
        env=env,
        capture_output=True,
        check=True,
    )
    result: dict[str, float] = orjson.loads(done.stdout.splitlines()[-1])
    return result


def paced(
    events: list[Event], call: Any, rate: float | None, data_keyword: bool = False
) -> list[int]:
    """Each call's latency in ns, `call(type, data, **fields)` (`data=data` with
    `data_keyword`, as log.info takes it) at full speed (rate None) or paced at `rate`/s in
    bursts every 0.5 ms, as a trading loop that sleeps between market events. Only the call
    is timed."""
    lat: list[int] = []
    clock = time.perf_counter_ns
    append = lat.append
    start = clock()
    period = 1e9 / rate if rate else 0.0
    i, n = 0, len(events)
    while i < n:
        due = min(n, int((clock() - start) / period) + 1) if rate else n
        while i < due:
            ev = events[i]
            if data_keyword:
                s = clock()
                call(ev.type, data=ev.data, **ev.fields)
            else:
                s = clock()
                call(ev.type, ev.data, **ev.fields)
            append(clock() - s)
            i += 1
        if rate:
            time.sleep(0.0005)
    lat.sort()
    return lat


def latency_figures(lat: list[int]) -> dict[str, float]:
    return {
        "p50_us": percentile(lat, 50) / 1000,
        "p99_us": percentile(lat, 99) / 1000,
        "p999_us": percentile(lat, 99.9) / 1000,
        "max_us": lat[-1] / 1000,
    }


def latency_run(events: list[Event], home: Path, mode: str, rate: float | None) -> dict[str, Any]:
    """record() latency of each call, at full speed (rate None) or paced at `rate`/s."""
    shutil.rmtree(home, ignore_errors=True)
    trail = open_trail(home, mode, len(events))
    record = trail.record
    try:
        trail.record("bench.warmup").wait(10)
        quiesce()
        cpu0 = time.thread_time()
        start = time.perf_counter()
        lat = paced(events, record, rate)
        cpu = time.thread_time() - cpu0
        trail.flush()
        elapsed = time.perf_counter() - start
    finally:
        trail.close()
    if mode != "embedded":
        wait_writer_gone(home)
    return {
        **latency_figures(lat),
        "cpu_us": cpu / len(events) * 1e6,
        "achieved_rate": len(events) / elapsed,
    }


def structlog_latency_run(events: list[Event], path: Path, rate: float | None) -> dict[str, Any]:
    """The baseline's log.info() latency, paced as latency_run paces record(): what the
    logging that tradetrail replaces costs a trading loop at the same load."""
    import structlog

    with open(path, "wb") as fh:
        log = structlog_logger(fh)
        quiesce()
        lat = paced(events, log.info, rate, data_keyword=True)
    structlog.reset_defaults()
    return latency_figures(lat)


CLIENT = r"""
import sys, time, orjson, tradetrail
home, n = sys.argv[1], int(sys.argv[2])
trail = tradetrail.open(home, writer="process", service="bench", queue_size=n + 1024)
trail.record("bench.warmup").wait(30)
print("ready", flush=True)
sys.stdin.readline()
lat = []
clock = time.perf_counter_ns
t0 = time.perf_counter()
for i in range(n):
    s = clock()
    trail.record("order.accepted", {"status": "accepted", "price": "101.25"},
                 order_id=f"O-{i}", account="ACC-7", symbol="BTC-USD", venue="COINBASE")
    lat.append(clock() - s)
trail.flush()
t1 = time.perf_counter()
lat.sort()
print(orjson.dumps({"t0": t0, "t1": t1, "p99_us": lat[int(len(lat) * 0.99)] / 1000,
                    "rate": n / (t1 - t0)}).decode(), flush=True)
trail.close()
"""


def eight_clients(home: Path, n: int, clients: int = 8) -> dict[str, Any]:
    shutil.rmtree(home, ignore_errors=True)
    tradetrail.open(home, writer="embedded", serve=False, min_free_bytes=0).close()
    env = dict(os.environ)
    env.pop("TRADETRAIL_WRITER", None)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLIENT, str(home), str(n)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        for _ in range(clients)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline() == b"ready\n"
    wall0 = time.perf_counter()
    for p in procs:
        assert p.stdin is not None
        p.stdin.write(b"go\n")
        p.stdin.flush()
    results = []
    for p in procs:
        out, _ = p.communicate(timeout=600)
        results.append(orjson.loads(out.splitlines()[-1]))
    wall = time.perf_counter() - wall0
    wait_writer_gone(home)
    total = clients * n
    return {
        "clients": clients,
        "events": total,
        "events_per_s": total / wall,
        "p99_us_each": [round(r["p99_us"], 1) for r in results],
    }


def kill_writer_under_load(home: Path, n: int) -> dict[str, Any]:
    shutil.rmtree(home, ignore_errors=True)
    trail = open_trail(home, "process", n)
    receipts = []
    stop = threading.Event()
    trail.record("bench.warmup").wait(10)

    def produce() -> None:  # until the client is back on a new writer (however long)
        i = 0
        while not stop.is_set():
            receipts.append(trail.record("order.accepted", order_id=f"O-{i}"))
            i += 1
            if i % 200 == 0:
                time.sleep(0.0002)

    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(0.3)
    info = probe(home)
    assert info is not None
    killed = time.perf_counter()
    os.kill(info["pid"], signal.SIGKILL)
    client: Any = trail
    while client._lost_at is None:
        time.sleep(0.0002)
    noticed = time.perf_counter()
    while client._sock is None or client.welcome.get("pid") == info["pid"]:
        time.sleep(0.001)
    attached = time.perf_counter()
    time.sleep(0.1)  # records keep flowing through the new writer
    stop.set()
    producer.join()
    for r in receipts:
        r.wait(60)
    caught_up = time.perf_counter()
    trail.close()
    wait_writer_gone(home)
    ids: Counter[str] = Counter()
    for path in sorted((home / "journal").glob("audit-*.jsonl")):
        for line in path.read_bytes().splitlines():
            ids[orjson.loads(line)["event_id"]] += 1
    lost = sum(1 for r in receipts if ids[r.event_id or ""] == 0)
    twice = sum(1 for r in receipts if ids[r.event_id or ""] > 1)
    report = tradetrail.verify(home)
    return {
        "events": len(receipts),
        "notice_ms": (noticed - killed) * 1000,
        "reattach_ms": (attached - killed) * 1000,
        "catch_up_ms": (caught_up - killed) * 1000,
        "lost": lost,
        "duplicated": twice,
        "verify_ok": report.ok,
    }


def spill_cost(home: Path, n: int) -> dict[str, Any]:
    """Record while another process holds the trail without serving it: the client spills."""
    shutil.rmtree(home, ignore_errors=True)
    trail = open_trail(home, "process", n)
    trail.record("bench.warmup").wait(10)
    info = probe(home)
    assert info is not None
    os.kill(info["pid"], signal.SIGKILL)
    while probe(home, 0.2) is not None:
        time.sleep(0.01)
    time.sleep(0.2)
    holder = tradetrail.open(home, writer="embedded", serve=False, min_free_bytes=0)
    cpu0 = time.thread_time()
    t0 = time.perf_counter()
    receipts = [trail.record("order.accepted", order_id=f"O-{i}") for i in range(n)]
    t_rec = time.perf_counter()
    cpu = time.thread_time() - cpu0
    while not all(r.spilled for r in receipts[-1:]) or not all(r.spilled for r in receipts):
        time.sleep(0.005)
    t_spilled = time.perf_counter()
    holder.close()
    merged0 = time.perf_counter()
    for r in receipts:
        r.wait(120)
    merged = time.perf_counter() - merged0
    trail.close()
    wait_writer_gone(home)
    return {
        "events": n,
        "caller_us_per_event": (t_rec - t0) / n * 1e6,
        "caller_cpu_us_per_event": cpu / n * 1e6,
        "durable_in_spill_s": t_spilled - t0,
        "replayed_after_writer_returned_s": merged,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--events", type=int)
    parser.add_argument("--reps", type=int)
    parser.add_argument(
        "--only",
        choices=("throughput", "latency", "clients", "kill", "spill"),
        action="append",
        help="run only these parts (repeatable; the results file then holds only them)",
    )
    parser.add_argument("--out", type=Path, default=OUT, help=f"results file (default {OUT})")
    parser.add_argument("--python-run", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    n = args.events or (20_000 if args.quick else 100_000)
    if args.python_run is not None:  # one run of python_fallback_run, in its interpreter
        logging.getLogger("tradetrail").setLevel(logging.CRITICAL)
        os.environ.pop("TRADETRAIL_WRITER", None)
        events = generate_events(n, 20240601)
        gc.freeze()
        print(json.dumps(run_trail(events, args.python_run, "process")))
        return 0
    reps = args.reps or (3 if args.quick else 5)
    logging.getLogger("tradetrail").setLevel(logging.CRITICAL)
    os.environ.pop("TRADETRAIL_WRITER", None)
    work = RESULTS_DIR / f"tmp-wp-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    out: dict[str, Any] = {"machine": machine_info(), "events": n, "repetitions": reps}
    try:
        events = generate_events(n, 20240601)
        gc.freeze()
        parts = set(args.only or ("throughput", "latency", "clients", "kill", "spill"))
        rates: dict[str, list[float]] = {"a": [], "b": [], "r": [], "c": [], "p": []}
        if "throughput" in parts:
            extra: dict[str, list[dict[str, float]]] = {"b": [], "r": [], "c": [], "p": []}
            for rep in range(reps):
                order = ["a", "b", "r", "c", "p"] if rep % 2 == 0 else ["p", "c", "r", "b", "a"]
                for key in order:
                    if key == "a":
                        rates["a"].append(run_structlog(events, work / "structlog.jsonl"))
                    elif key == "p":
                        result = python_fallback_run(len(events), work / "trail-p")
                        rates["p"].append(result["rate"])
                        extra["p"].append(result)
                    else:
                        transport(key == "r")
                        mode = "embedded" if key == "c" else "process"
                        result = run_trail(events, work / f"trail-{key}", mode)
                        rates[key].append(result["rate"])
                        extra[key].append(result)
                print(
                    f"rep {rep + 1}/{reps}: "
                    + "  ".join(f"({k}) {rates[k][-1]:,.0f}/s" for k in "abrcp"),
                    flush=True,
                )
            base = statistics.median(rates["a"])
            out["throughput"] = {
                key: {
                    "events_per_s": round(statistics.median(rates[key])),
                    "ratio_to_structlog": round(statistics.median(rates[key]) / base, 3),
                    "runs": [round(r) for r in rates[key]],
                    **(
                        {
                            "caller_cpu_us": round(
                                statistics.median(r["cpu_us"] for r in extra[key]), 2
                            ),
                            "submit_events_per_s": round(
                                statistics.median(r["submit_rate"] for r in extra[key])
                            ),
                            "writer_cpu_us": round(
                                statistics.median(r["writer_cpu_us"] for r in extra[key]), 2
                            ),
                        }
                        if key in extra
                        else {}
                    ),
                }
                for key in "abrcp"
            }
        if "latency" in parts:
            # half load: half of what the socket sustains, measured above or here
            full = statistics.median(
                rates["b"] or [run_trail(events, work / "trail-b", "process")["rate"]]
            )
            latency: dict[str, Any] = {}
            for label, mode, rate in (
                ("attached_full", "process", None),
                ("attached_half", "process", full / 2),
                ("embedded_full", "embedded", None),
            ):
                runs: dict[str, list[dict[str, Any]]] = {}
                for rep in range(3):  # socket, ring and structlog interleaved
                    for ring in (False, True) if rep % 2 == 0 else (True, False):
                        if mode == "embedded" and ring:
                            continue
                        transport(ring)
                        key = label + ("_ring" if ring else "")
                        runs.setdefault(key, []).append(
                            latency_run(events, work / "lat", mode, rate)
                        )
                    if mode == "process":  # the baseline at the same load
                        key = label.replace("attached", "structlog")
                        runs.setdefault(key, []).append(
                            structlog_latency_run(events, work / "lat.jsonl", rate)
                        )
                for key, got in runs.items():
                    latency[key] = {
                        k: round(statistics.median(r[k] for r in got), 2) for k in got[0]
                    }
                    print(key, latency[key], flush=True)
            out["latency"] = latency
        if "clients" in parts:
            for ring in (False, True):
                transport(ring)
                key = "eight_clients" + ("_ring" if ring else "")
                out[key] = eight_clients(work / "eight", max(2000, n // 8))
                print(key, out[key], flush=True)
        if "kill" in parts:
            for ring in (False, True):
                transport(ring)
                key = "kill_9" + ("_ring" if ring else "")
                out[key] = [kill_writer_under_load(work / "kill", n) for _ in range(3)]
                print(key, out[key], flush=True)
        if "spill" in parts:
            transport(False)
            out["spill"] = spill_cost(work / "spill", max(2000, n // 10))
            print("spill", out["spill"], flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.only and args.out.exists():  # the parts run now replace theirs in the file
        out = {**json.loads(args.out.read_text()), **out}
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out.get("throughput"), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
