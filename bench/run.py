"""tradetrail benchmark harness (issue 3, section 6). Not a test: it measures and reports.

    python bench/run.py                 # full run (200k events, 5 interleaved repetitions)
    python bench/run.py --quick         # under a minute: 20k events, 3 reps, 100k proof trail
    python bench/run.py --markdown      # also print a section ready to paste into BENCHMARKS.md

Everything is measured in one process on the same pre-generated, deterministic stream of order
lifecycle events. See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import hashlib
import json
import logging
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import structlog

import tradetrail

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_OUT = RESULTS_DIR / "latest.json"

# --------------------------------------------------------------------------- the event stream

SYMBOLS = [
    # symbol, venue, reference price, price decimals, quantity decimals
    ("BTC-USD", "COINBASE", Decimal("64012.50"), 2, 4),
    ("ETH-USD", "COINBASE", Decimal("3150.25"), 2, 3),
    ("SOL-USDT", "BINANCE", Decimal("148.310"), 3, 2),
    ("AAPL", "XNAS", Decimal("191.42"), 2, 0),
    ("MSFT", "XNAS", Decimal("415.07"), 2, 0),
    ("ESZ5", "XCME", Decimal("5412.25"), 2, 0),
    ("EURUSD", "LMAX", Decimal("1.08415"), 5, 0),
    ("VOD.L", "XLON", Decimal("71.84"), 2, 0),
]
ACCOUNTS = [f"ACC-{n:03d}" for n in (7, 12, 17, 23, 31, 44)]
STRATEGIES = ["mm-btc-3", "twap-exec", "stat-arb-2", "momo-fx", "vwap-eq"]
TIFS = ["GTC", "IOC", "DAY"]


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    data: dict[str, Any]
    fields: dict[str, str]


def _qty(rng: random.Random, qty_dp: int) -> Decimal:
    if qty_dp == 0:
        return Decimal(rng.choice((1, 5, 10, 25, 50, 100, 200, 500)))
    return Decimal(rng.randint(1, 5000)).scaleb(-qty_dp)


def generate_events(n: int, seed: int) -> list[Event]:
    """A deterministic stream of order lifecycle events: new, accepted, partial fills, fills,
    cancels, amends, rejects and pre-trade risk checks, interleaved over ~40 live orders.
    Amounts are decimal strings, as the event model requires."""
    rng = random.Random(seed)
    events: list[Event] = []
    live: list[dict[str, Any]] = []
    next_order = 100_000
    while len(events) < n:
        if len(live) < 40 and (not live or rng.random() < 0.3):
            sym, venue, ref, px_dp, qty_dp = rng.choice(SYMBOLS)
            next_order += 1
            px = (ref * Decimal(1 + rng.uniform(-0.01, 0.01))).quantize(Decimal(1).scaleb(-px_dp))
            order = {
                "order_id": f"O-{next_order}",
                "client_order_id": f"c{seed:x}-{next_order:07d}",
                "symbol": sym,
                "account": rng.choice(ACCOUNTS),
                "venue": venue,
                "strategy": rng.choice(STRATEGIES),
                "side": rng.choice(("buy", "sell")),
                "qty": _qty(rng, qty_dp),
                "px": px,
                "filled": Decimal(0),
                "qty_dp": qty_dp,
                "accepted": False,
            }
            ids = {k: order[k] for k in ("order_id", "client_order_id", "symbol", "account")}
            events.append(
                Event(
                    "risk.passed",
                    {"checks": ["notional", "position"], "notional": str(order["qty"] * px)},
                    {**ids, "strategy": order["strategy"]},
                )
            )
            events.append(
                Event(
                    "order.submitted",
                    {
                        "side": order["side"],
                        "qty": str(order["qty"]),
                        "price": str(px),
                        "time_in_force": rng.choice(TIFS),
                        "order_type": "limit",
                    },
                    {**ids, "venue": venue, "strategy": order["strategy"]},
                )
            )
            live.append(order)
            continue
        order = rng.choice(live)
        ids = {k: order[k] for k in ("order_id", "symbol", "account", "venue")}
        if "exchange_order_id" in order:
            ids["exchange_order_id"] = order["exchange_order_id"]
        if not order["accepted"]:
            order["accepted"] = True
            if rng.random() < 0.03:
                live.remove(order)
                events.append(
                    Event("order.rejected", {"reason": "price outside collar", "code": "PX"}, ids)
                )
            else:
                ids["exchange_order_id"] = order["exchange_order_id"] = (
                    f"X{rng.getrandbits(40):010x}"
                )
                events.append(Event("order.accepted", {"status": "new"}, ids))
            continue
        roll = rng.random()
        leaves = order["qty"] - order["filled"]
        if roll < 0.6:
            fill = leaves if rng.random() < 0.4 else max(leaves / 2, Decimal(1).scaleb(-6))
            fill = fill.quantize(Decimal(1).scaleb(-order["qty_dp"])) or leaves
            order["filled"] += fill
            leaves = order["qty"] - order["filled"]
            done = leaves <= 0
            fee = (fill * order["px"] * Decimal("0.0002")).quantize(Decimal("0.0001"))
            events.append(
                Event(
                    "order.filled" if done else "order.partially_filled",
                    {
                        "fill_qty": str(fill),
                        "fill_price": str(order["px"]),
                        "remaining_qty": str(max(leaves, Decimal(0))),
                        "fee": str(fee),
                        "liquidity": rng.choice(("maker", "taker")),
                    },
                    {**ids, "strategy": order["strategy"]},
                )
            )
            if done:
                live.remove(order)
        elif roll < 0.8:
            live.remove(order)
            events.append(
                Event(
                    "order.cancelled",
                    {
                        "reason": rng.choice(("user", "ioc_expired", "risk_off")),
                        "remaining_qty": str(leaves),
                    },
                    ids,
                )
            )
        else:
            order["px"] = (order["px"] * Decimal("1.0005")).quantize(order["px"])
            events.append(
                Event(
                    "order.replaced",
                    {"new_price": str(order["px"]), "new_qty": str(order["qty"])},
                    ids,
                )
            )
    return events[:n]


# --------------------------------------------------------------------------- helpers


def percentile(sorted_values: list[int] | list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return float(sorted_values[rank - 1])


def dir_bytes(path: Path) -> tuple[int, int, int]:
    """(apparent bytes, allocated bytes, files) of everything under `path`."""
    apparent = allocated = files = 0
    for p in path.rglob("*"):
        if p.is_file() and not p.is_symlink():
            st = p.stat()
            apparent += st.st_size
            allocated += st.st_blocks * 512
            files += 1
    return apparent, allocated, files


def journal_paths(home: Path) -> list[Path]:
    return sorted((home / "journal").glob("audit-*.jsonl"))


def quiesce() -> None:
    """Start every timed run from the same state: no dirty pages of the previous run being
    written back behind our back, and no garbage from it."""
    os.sync()
    gc.collect()


def fs_type(path: Path) -> str:
    best, kind = "", "unknown"
    target = str(path.resolve())
    try:
        with open("/proc/mounts") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) < 3:
                    continue
                mount = parts[1].replace("\\040", " ")
                if (target == mount or target.startswith(mount.rstrip("/") + "/")) and len(
                    mount
                ) >= len(best):
                    best, kind = mount, parts[2]
    except OSError:
        pass
    return kind


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    mem = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gib": mem,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "kernel": platform.release(),
        "filesystem": fs_type(RESULTS_DIR),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "tradetrail": tradetrail.__version__,
        "structlog": structlog.__version__,
        "orjson": orjson.__version__,
        "switch_interval_ms": sys.getswitchinterval() * 1000,
        "source": source_info(),
    }


def source_info() -> dict[str, Any]:
    """Which code was measured: git HEAD (read only), uncommitted changes under src/, and a
    digest of the package's sources, since the figures belong to one exact version."""
    root = BENCH_DIR.parent
    src = root / "src" / "tradetrail"
    digest = hashlib.sha256()
    for path in sorted(src.rglob("*.py")):
        digest.update(path.relative_to(src).as_posix().encode() + b"\0" + path.read_bytes())
    out: dict[str, Any] = {"src_sha256": digest.hexdigest()[:16]}
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if head.returncode == 0:
            out["git_head"] = head.stdout.strip()
            out["src_uncommitted_files"] = len(dirty.stdout.splitlines())
    except (OSError, subprocess.SubprocessError):
        pass
    return out


# --------------------------------------------------------------------------- (a) structlog


def structlog_logger(fh: Any) -> Any:
    """The baseline's logger: TimeStamper(ISO, UTC) + JSONRenderer(orjson) into `fh`
    (structlog.reset_defaults() undoes it)."""
    structlog.configure(
        processors=[
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        logger_factory=structlog.BytesLoggerFactory(file=fh),
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        cache_logger_on_first_use=True,
    )
    return structlog.get_logger()


def run_structlog(events: list[Event], path: Path, latencies: list[int] | None = None) -> float:
    """structlog: TimeStamper(ISO, UTC) + JSONRenderer(orjson) into a BytesLogger file."""
    with open(path, "wb") as fh:
        log = structlog_logger(fh)
        quiesce()
        if latencies is None:
            t0 = time.perf_counter()
            for ev in events:
                log.info(ev.type, data=ev.data, **ev.fields)
            fh.flush()
            elapsed = time.perf_counter() - t0
        else:
            clock = time.perf_counter_ns
            append = latencies.append
            t0 = time.perf_counter()
            for ev in events:
                s = clock()
                log.info(ev.type, data=ev.data, **ev.fields)
                append(clock() - s)
            fh.flush()
            elapsed = time.perf_counter() - t0
    structlog.reset_defaults()
    return len(events) / elapsed


# --------------------------------------------------------------------------- (b) stdlib logging


class OrjsonFormatter(logging.Formatter):
    """A JSON-lines formatter like python-json-logger's, with orjson."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "timestamp": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            out.update(fields)
        data = getattr(record, "data", None)
        if data is not None:
            out["data"] = data
        return orjson.dumps(out).decode()


def run_stdlib(events: list[Event], path: Path) -> float:
    logger = logging.getLogger("bench.stdlib")
    logger.handlers.clear()
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(OrjsonFormatter())
    logger.addHandler(handler)
    try:
        quiesce()
        t0 = time.perf_counter()
        for ev in events:
            logger.info(ev.type, extra={"fields": ev.fields, "data": ev.data})
        handler.flush()
        elapsed = time.perf_counter() - t0
    finally:
        logger.removeHandler(handler)
        handler.close()
    return len(events) / elapsed


# --------------------------------------------------------------------------- (c)/(d) tradetrail


@dataclass
class TrailRun:
    rate: float  # events/s, first record() to flush() returning
    submit_rate: float  # events/s of the record() loop alone (caller side)
    fsyncs: int
    spilled: int
    checkpoints: int


def open_trail(home: Path, durability: str, n: int, **options: Any) -> tradetrail.Trail:
    # a queue that holds the whole burst: the throughput runs measure the writer, not the
    # spill path (a full queue spills to the emergency file, by design)
    options.setdefault("queue_size", max(100_000, n + 1024))
    # the embedded writer, as every run of this harness before the writer process measured
    # it; bench/writer_process.py measures a client attached to a writer process
    options.setdefault("writer", "embedded")
    return tradetrail.open(home, durability=durability, service="bench", **options)


def run_tradetrail(
    events: list[Event], home: Path, durability: str, latencies: list[int] | None = None
) -> TrailRun:
    trail = open_trail(home, durability, len(events))
    try:
        record = trail.record
        quiesce()
        if latencies is None:
            t0 = time.perf_counter()
            for ev in events:
                record(ev.type, ev.data, **ev.fields)
            t_sub = time.perf_counter()
            ok = trail.flush()
            t1 = time.perf_counter()
        else:
            clock = time.perf_counter_ns
            append = latencies.append
            t0 = time.perf_counter()
            for ev in events:
                s = clock()
                record(ev.type, ev.data, **ev.fields)
                append(clock() - s)
            t_sub = time.perf_counter()
            ok = trail.flush()
            t1 = time.perf_counter()
        stats = trail.stats()
    finally:
        trail.close()
    if not ok or stats["size"] != len(events):
        raise RuntimeError(f"tradetrail did not journal every event: {stats}")
    return TrailRun(
        rate=len(events) / (t1 - t0),
        submit_rate=len(events) / (t_sub - t0),
        fsyncs=stats["fsyncs"],
        spilled=stats["spilled"],
        checkpoints=stats["checkpoints"],
    )


def run_tradetrail_paced(
    events: list[Event], home: Path, rate: float, latencies: list[int]
) -> dict[str, Any]:
    """Record at a fixed offered rate: every ~0.5 ms the caller records the events that are
    due and sleeps (releasing the GIL), like a trading loop reacting to market data."""
    trail = open_trail(home, "fsync", len(events))
    clock = time.perf_counter_ns
    append = latencies.append
    record = trail.record
    period_ns = 1e9 / rate
    try:
        quiesce()
        i, n = 0, len(events)
        start = clock()
        while i < n:
            due = min(n, int((clock() - start) / period_ns) + 1)
            while i < due:
                ev = events[i]
                s = clock()
                record(ev.type, ev.data, **ev.fields)
                append(clock() - s)
                i += 1
            time.sleep(0.0005)
        ok = trail.flush()
        elapsed = (clock() - start) / 1e9
        stats = trail.stats()
    finally:
        trail.close()
    if not ok or stats["size"] != len(events):
        raise RuntimeError(f"tradetrail did not journal every event: {stats}")
    return {"offered_rate": rate, "achieved_rate": n / elapsed, "fsyncs": stats["fsyncs"]}


def latency_summary(runs: list[list[int]]) -> dict[str, float]:
    """Median over repetitions of each run's percentiles, in microseconds."""
    per_run: dict[str, list[float]] = {"p50": [], "p99": [], "p99.9": [], "max": []}
    for lat in runs:
        lat.sort()
        per_run["p50"].append(percentile(lat, 50) / 1000)
        per_run["p99"].append(percentile(lat, 99) / 1000)
        per_run["p99.9"].append(percentile(lat, 99.9) / 1000)
        per_run["max"].append(lat[-1] / 1000)
    return {k: round(statistics.median(v), 2) for k, v in per_run.items()}


# --------------------------------------------------------------------------- verify


def bench_verify(home: Path, n: int, reps: int) -> dict[str, Any]:
    files = journal_paths(home)
    total_bytes = sum(p.stat().st_size for p in files)
    for p in files:  # warm the page cache for every contender alike
        p.read_bytes()

    def per_line() -> None:
        sha = hashlib.sha256
        for p in files:
            with open(p, "rb") as fh:
                for line in fh:
                    sha(b"\x00" + line[:-1]).digest()

    def one_pass() -> None:
        h = hashlib.sha256()
        for p in files:
            h.update(p.read_bytes())
        h.digest()

    out: dict[str, Any] = {"records": n, "journal_bytes": total_bytes}
    contenders: list[tuple[str, Callable[[], Any]]] = [("sha256_per_line", per_line)]
    contenders.append(("sha256_one_pass", one_pass))
    try:
        from tradetrail.verify.trail import verify_trail
    except ImportError as exc:
        out["verify_error"] = f"tradetrail.verify.trail.verify_trail is not available yet ({exc})"
        verify_trail = None
    if verify_trail is not None:
        checked: dict[str, Any] = {}

        def run_verify() -> None:
            report = verify_trail(home)
            checked["ok"] = bool(report.ok)
            if not report.ok:
                checked["report"] = repr(report)[:2000]

        contenders.insert(0, ("verify_trail", run_verify))
    times: dict[str, list[float]] = {name: [] for name, _ in contenders}
    for _ in range(reps):
        for name, fn in contenders:
            gc.collect()
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    for name, ts in times.items():
        med = statistics.median(ts)
        out[name] = {
            "seconds": round(med, 4),
            "records_per_s": round(n / med),
            "mb_per_s": round(total_bytes / med / 1e6, 1),
        }
    if verify_trail is not None:
        out["verify_ok"] = checked.get("ok")
        if "report" in checked:
            out["verify_report"] = checked["report"]
        v = out["verify_trail"]["records_per_s"]
        out["ratio_to_per_line"] = round(v / out["sha256_per_line"]["records_per_s"], 3)
        out["ratio_to_one_pass"] = round(v / out["sha256_one_pass"]["records_per_s"], 3)
    return out


# --------------------------------------------------------------------------- inclusion proofs


def checkpoint_size(home: Path) -> int | None:
    try:
        lines = (home / "checkpoint").read_text().split("\n")
        return int(lines[1])
    except (OSError, ValueError, IndexError):
        return None


def cycle_events(n: int, seed: int) -> Iterator[Event]:
    base = generate_events(min(n, 50_000), seed)
    for i in range(n):
        yield base[i % len(base)]


def build_proof_trail(home: Path, size: int, seed: int) -> tuple[bool, float]:
    """Build (once) a trail of `size` records in write mode with one final checkpoint; cached
    across runs. Returns (built now, seconds)."""
    if checkpoint_size(home) == size and journal_paths(home):
        return False, 0.0
    tmp = home.with_name(home.name + ".building")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(home, ignore_errors=True)
    print(f"building a {size:,}-record trail for the proof benchmark in {home} ...", flush=True)
    t0 = time.perf_counter()
    chunk = 50_000
    trail = tradetrail.open(
        tmp,
        durability="write",
        checkpoint_every=size * 10,
        checkpoint_interval=3600,
        queue_size=chunk * 2,
        service="bench",
        writer="embedded",
    )
    try:
        for i, ev in enumerate(cycle_events(size, seed), 1):
            trail.record(ev.type, ev.data, **ev.fields)
            if i % chunk == 0:
                trail.flush()
                if sys.stdout.isatty():
                    print(f"  {i:,} / {size:,}", end="\r", flush=True)
        trail.flush()
    finally:
        trail.close()
    if checkpoint_size(tmp) != size:
        raise RuntimeError(f"proof trail has checkpoint size {checkpoint_size(tmp)}, not {size}")
    tmp.rename(home)
    elapsed = time.perf_counter() - t0
    print(f"  built in {elapsed:.1f} s{' ' * 20}", flush=True)
    return True, elapsed


def bench_proofs(home: Path, size: int, seed: int, count: int = 200) -> dict[str, Any]:
    built, build_s = build_proof_trail(home, size, seed)
    out: dict[str, Any] = {"tree_size": size, "proofs": count, "trail": str(home)}
    if built:
        out["build_seconds"] = round(build_s, 1)
    try:
        from tradetrail.store.proofs import inclusion_proof_json
    except ImportError as exc:
        out["error"] = f"tradetrail.store.proofs.inclusion_proof_json is not available yet ({exc})"
        return out
    rng = random.Random(seed ^ 0x5EED)
    indices = [rng.randrange(size) for _ in range(count)]
    times: list[float] = []
    for index in indices:
        t0 = time.perf_counter_ns()
        proof = inclusion_proof_json(home, index)
        times.append((time.perf_counter_ns() - t0) / 1e6)
        if proof.get("leaf_index") != index or proof.get("tree_size") != size:
            raise RuntimeError(f"unexpected proof for {index}: {proof}")
    first = times[0]
    times.sort()
    out.update(
        first_ms=round(first, 3),
        p50_ms=round(percentile(times, 50), 3),
        p99_ms=round(percentile(times, 99), 3),
        max_ms=round(times[-1], 3),
        hashes=len(proof["hashes"]),
    )
    return out


# --------------------------------------------------------------------------- the whole run


def run(args: argparse.Namespace) -> dict[str, Any]:
    n = args.events
    reps = args.reps
    work = RESULTS_DIR / f"tmp-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    logging.getLogger("tradetrail").setLevel(logging.ERROR)  # no storage warnings in tables
    results: dict[str, Any] = {
        "machine": machine_info(),
        "config": {
            "events": n,
            "repetitions": reps,
            "seed": args.seed,
            "quick": args.quick,
            "proof_trail_size": args.proof_size,
        },
    }
    try:
        print(f"generating {n:,} events (seed {args.seed}) ...", flush=True)
        events = generate_events(n, args.seed)
        gc.freeze()  # the pre-generated stream is not garbage: keep it out of every collection

        paths = {
            "structlog": work / "structlog.jsonl",
            "stdlib": work / "stdlib.jsonl",
        }
        rates: dict[str, list[float]] = {k: [] for k in ("a", "b", "c", "d")}
        extra: dict[str, list[TrailRun]] = {"c": [], "d": []}
        kept_c = work / "trail-c-kept"
        for rep in range(reps):
            order = ["a", "b", "c", "d"]
            if rep % 2:
                order.reverse()  # interleave, and alternate who goes first
            for key in order:
                if key == "a":
                    rates["a"].append(run_structlog(events, paths["structlog"]))
                elif key == "b":
                    rates["b"].append(run_stdlib(events, paths["stdlib"]))
                else:
                    home = work / f"trail-{key}"
                    shutil.rmtree(home, ignore_errors=True)
                    durability = "fsync" if key == "c" else "write"
                    tr = run_tradetrail(events, home, durability)
                    rates[key].append(tr.rate)
                    extra[key].append(tr)
                    if key == "c" and rep == reps - 1:
                        shutil.rmtree(kept_c, ignore_errors=True)
                        home.rename(kept_c)
                    else:
                        shutil.rmtree(home, ignore_errors=True)
            print(
                f"  rep {rep + 1}/{reps}: "
                + "  ".join(f"({k}) {rates[k][-1]:,.0f}/s" for k in ("a", "b", "c", "d")),
                flush=True,
            )
        base = statistics.median(rates["a"])
        names = {
            "a": "structlog + orjson JSONRenderer -> file (no fsync)",
            "b": "stdlib logging + orjson JSON formatter -> FileHandler",
            "c": "tradetrail durability=fsync (group commit), record() to flush()",
            "d": "tradetrail durability=write, record() to flush()",
        }
        throughput: dict[str, Any] = {}
        for key in ("a", "b", "c", "d"):
            med = statistics.median(rates[key])
            row: dict[str, Any] = {
                "name": names[key],
                "events_per_s": round(med),
                "ratio_to_a": round(med / base, 3),
                "runs": [round(r) for r in rates[key]],
            }
            if key in extra:
                runs = extra[key]
                row["submit_events_per_s"] = round(statistics.median(r.submit_rate for r in runs))
                fsyncs = statistics.median(r.fsyncs for r in runs)
                row["fsyncs"] = fsyncs
                row["records_per_fsync"] = round(n / fsyncs, 1) if fsyncs else None
                row["checkpoints"] = statistics.median(r.checkpoints for r in runs)
                row["spilled"] = max(r.spilled for r in runs)
            throughput[key] = row
        results["throughput"] = throughput

        # ----- record() latency
        print("measuring record() latency ...", flush=True)
        c_rate = throughput["c"]["events_per_s"]
        lat_reps = max(1, min(3, reps))
        full_runs: list[list[int]] = []
        half_runs: list[list[int]] = []
        base_runs: list[list[int]] = []
        half_info: list[dict[str, Any]] = []
        full_rates: list[float] = []
        for _ in range(lat_reps):
            lat: list[int] = []
            home = work / "trail-lat-full"
            shutil.rmtree(home, ignore_errors=True)
            full_rates.append(run_tradetrail(events, home, "fsync", lat).rate)
            full_runs.append(lat)
            shutil.rmtree(home, ignore_errors=True)

            lat = []
            home = work / "trail-lat-half"
            half_info.append(run_tradetrail_paced(events, home, c_rate * 0.5, lat))
            half_runs.append(lat)
            shutil.rmtree(home, ignore_errors=True)

            lat = []
            run_structlog(events, paths["structlog"], lat)
            base_runs.append(lat)
        results["latency_us"] = {
            "tradetrail_fsync_half_load": {
                **latency_summary(half_runs),
                "offered_events_per_s": round(c_rate * 0.5),
                "achieved_events_per_s": round(
                    statistics.median(h["achieved_rate"] for h in half_info)
                ),
            },
            "tradetrail_fsync_full_load": {
                **latency_summary(full_runs),
                "events_per_s": round(statistics.median(full_rates)),
            },
            "structlog_full_load": latency_summary(base_runs),
        }
        del full_runs, half_runs, base_runs

        # ----- bytes per event
        j_app = sum(p.stat().st_size for p in journal_paths(kept_c))
        j_alloc = sum(p.stat().st_blocks * 512 for p in journal_paths(kept_c))
        t_app, t_alloc, t_files = dir_bytes(kept_c)
        tiles_app, tiles_alloc, tiles_files = dir_bytes(kept_c / "tiles")
        cps_app, cps_alloc, cps_files = dir_bytes(kept_c / "checkpoints")
        s_size = paths["structlog"].stat().st_size
        b_size = paths["stdlib"].stat().st_size
        results["bytes_per_event"] = {
            "structlog_file": round(s_size / n, 1),
            "stdlib_file": round(b_size / n, 1),
            "tradetrail_journal": round(j_app / n, 1),
            "tradetrail_trail_dir": round(t_app / n, 1),
            "tradetrail_trail_dir_allocated": round(t_alloc / n, 1),
            "tradetrail_tiles": round(tiles_app / n, 1),
            "tradetrail_checkpoints": round(cps_app / n, 1),
            "journal_ratio_to_structlog": round(j_app / s_size, 3),
            "trail_ratio_to_structlog": round(t_app / s_size, 3),
            "trail_files": t_files,
            "tile_files": tiles_files,
            "checkpoint_files": cps_files,
            "journal_allocated": round(j_alloc / n, 1),
            "tiles_allocated": round(tiles_alloc / n, 1),
            "checkpoints_allocated": round(cps_alloc / n, 1),
        }

        # ----- verify
        print("measuring verify ...", flush=True)
        results["verify"] = bench_verify(kept_c, n, max(3, min(reps, 5)) if n <= 500_000 else 3)

        # ----- inclusion proofs
        print("measuring inclusion proofs ...", flush=True)
        size = args.proof_size
        label = (
            f"trail-{size // 1_000_000}m"
            if size % 1_000_000 == 0
            else f"trail-{size // 1000}k"
            if size % 1000 == 0
            else f"trail-{size}"
        )
        results["inclusion_proof"] = bench_proofs(RESULTS_DIR / label, args.proof_size, args.seed)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


# --------------------------------------------------------------------------- output


def _fmt_rate(v: float) -> str:
    return f"{v:,.0f}"


def text_report(r: dict[str, Any]) -> str:
    m, c, t = r["machine"], r["config"], r["throughput"]
    lines = [
        "",
        f"tradetrail benchmark  {m['date']}  {m['cpu']}, {m['usable_cores']} cores, "
        f"Python {m['python']}, {m['filesystem']}",
        f"{c['events']:,} events x {c['repetitions']} interleaved runs (median), seed {c['seed']}",
        "",
        f"{'throughput':<70} {'events/s':>10} {'vs (a)':>8}",
    ]
    for key in ("a", "b", "c", "d"):
        row = t[key]
        lines.append(
            f"({key}) {row['name']:<66} {_fmt_rate(row['events_per_s']):>10} "
            f"{row['ratio_to_a']:>7.2f}x"
        )
    for key in ("c", "d"):
        row = t[key]
        lines.append(
            f"    ({key}) record() loop alone {_fmt_rate(row['submit_events_per_s'])}/s; "
            f"{row['fsyncs']:.0f} fsyncs ({row['records_per_fsync']} records each); "
            f"{row['checkpoints']:.0f} checkpoints; spilled {row['spilled']}"
        )
    lat = r["latency_us"]
    lines += ["", f"{'record() latency, us':<40} {'p50':>8} {'p99':>9} {'p99.9':>9} {'max':>9}"]
    for key, label in (
        ("tradetrail_fsync_half_load", "(c) half load"),
        ("tradetrail_fsync_full_load", "(c) full load (saturated)"),
        ("structlog_full_load", "(a) structlog log.info(), for scale"),
    ):
        row = lat[key]
        lines.append(
            f"{label:<40} {row['p50']:>8.1f} {row['p99']:>9.1f} {row['p99.9']:>9.1f} "
            f"{row['max']:>9.1f}"
        )
    half = lat["tradetrail_fsync_half_load"]
    lines.append(
        f"    half load offered {_fmt_rate(half['offered_events_per_s'])}/s, achieved "
        f"{_fmt_rate(half['achieved_events_per_s'])}/s"
    )
    b = r["bytes_per_event"]
    lines += [
        "",
        "bytes per event on disk",
        f"  structlog file {b['structlog_file']}, stdlib file {b['stdlib_file']}",
        f"  tradetrail journal {b['tradetrail_journal']} ({b['journal_ratio_to_structlog']}x), "
        f"whole trail {b['tradetrail_trail_dir']} ({b['trail_ratio_to_structlog']}x; tiles "
        f"{b['tradetrail_tiles']}, checkpoints {b['tradetrail_checkpoints']}); allocated "
        f"{b['tradetrail_trail_dir_allocated']}",
    ]
    v = r["verify"]
    lines += ["", f"verify over {v['records']:,} records ({v['journal_bytes'] / 1e6:.1f} MB)"]
    for key in ("verify_trail", "sha256_per_line", "sha256_one_pass"):
        if key in v:
            lines.append(
                f"  {key:<18} {_fmt_rate(v[key]['records_per_s']):>12} records/s "
                f"{v[key]['mb_per_s']:>8} MB/s"
            )
    if "verify_error" in v:
        lines.append(f"  verify_trail: {v['verify_error']}")
    else:
        lines.append(
            f"  verify ok={v['verify_ok']}; ratio to per-line SHA-256 {v['ratio_to_per_line']}x, "
            f"to one-pass SHA-256 {v['ratio_to_one_pass']}x"
        )
    p = r["inclusion_proof"]
    lines += ["", f"inclusion proof on a {p['tree_size']:,}-record trail"]
    if "error" in p:
        lines.append(f"  {p['error']}")
    else:
        lines.append(
            f"  {p['proofs']} random indices: p50 {p['p50_ms']} ms, p99 {p['p99_ms']} ms, "
            f"max {p['max_ms']} ms (first {p['first_ms']} ms), {p['hashes']} hashes"
        )
    return "\n".join(lines)


def _source_note(src: dict[str, Any]) -> str:
    if "git_head" not in src:
        return f" on sources {src.get('src_sha256', '?')}"
    dirty = src.get("src_uncommitted_files", 0)
    extra = f" + {dirty} uncommitted file(s) under src/" if dirty else ""
    return f" on commit {src['git_head']}{extra} (sources {src['src_sha256']})"


def markdown_report(r: dict[str, Any]) -> str:
    m, c, t = r["machine"], r["config"], r["throughput"]
    lat, b, v, p = r["latency_us"], r["bytes_per_event"], r["verify"], r["inclusion_proof"]
    out = [
        f"## Results ({m['date'][:10]})",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), "
        f"{m['memory_gib']} GiB RAM, Linux {m['kernel']}, {m['implementation']} {m['python']}, "
        f"bench directory on {m['filesystem']}; tradetrail {m['tradetrail']}, structlog "
        f"{m['structlog']}, orjson {m['orjson']}. Measured {m['date']}"
        + _source_note(m.get("source", {}))
        + ".",
        "",
        f"`python bench/run.py{' --quick' if c['quick'] else ''} --events {c['events']}`: "
        f"{c['events']:,} pre-generated order lifecycle events (seed {c['seed']}), every "
        f"measurement repeated {c['repetitions']} times interleaved, median reported.",
        "",
        "### Throughput",
        "",
        "| | writer | events/s | vs (a) |",
        "|---|---|---:|---:|",
    ]
    for key in ("a", "b", "c", "d"):
        row = t[key]
        out.append(
            f"| ({key}) | {row['name']} | {_fmt_rate(row['events_per_s'])} | "
            f"{row['ratio_to_a']:.2f}x |"
        )
    out += [""]
    for key in ("c", "d"):
        row = t[key]
        out.append(
            f"- ({key}): the `record()` loop alone submits {_fmt_rate(row['submit_events_per_s'])}"
            f" events/s; {row['fsyncs']:.0f} fsyncs ({row['records_per_fsync']} records per "
            f"fsync), {row['checkpoints']:.0f} signed checkpoints, {row['spilled']} spilled."
        )
    half = lat["tradetrail_fsync_half_load"]
    out += [
        "",
        "### `record()` latency (tradetrail, durability=fsync)",
        "",
        "| load | p50 (µs) | p99 (µs) | p99.9 (µs) | max (µs) |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, label in (
        (
            "tradetrail_fsync_half_load",
            f"half load ({_fmt_rate(half['offered_events_per_s'])} events/s offered)",
        ),
        ("tradetrail_fsync_full_load", "full load (saturated writer)"),
        ("structlog_full_load", "for scale: structlog `log.info()`, full load"),
    ):
        row = lat[key]
        out.append(
            f"| {label} | {row['p50']:.1f} | {row['p99']:.1f} | {row['p99.9']:.1f} | "
            f"{row['max']:.1f} |"
        )
    out += [
        "",
        "### Bytes per event on disk",
        "",
        "| file(s) | bytes/event | vs structlog |",
        "|---|---:|---:|",
        f"| structlog file (a) | {b['structlog_file']} | 1.00x |",
        f"| stdlib logging file (b) | {b['stdlib_file']} | "
        f"{b['stdlib_file'] / b['structlog_file']:.2f}x |",
        f"| tradetrail journal only | {b['tradetrail_journal']} | "
        f"{b['journal_ratio_to_structlog']:.2f}x |",
        f"| tradetrail whole trail directory (journal, tiles {b['tradetrail_tiles']}, "
        f"checkpoints {b['tradetrail_checkpoints']}, keys) | {b['tradetrail_trail_dir']} | "
        f"{b['trail_ratio_to_structlog']:.2f}x |",
        "",
        f"Allocated on disk (4 KiB blocks): whole trail {b['tradetrail_trail_dir_allocated']} "
        f"bytes/event, of which checkpoints {b['checkpoints_allocated']} "
        f"({b['checkpoint_files']} files) and tiles {b['tiles_allocated']} "
        f"({b['tile_files']} files).",
        "",
        f"### Verify ({v['records']:,} records, {v['journal_bytes'] / 1e6:.1f} MB, page cache "
        "warm)",
        "",
        "| | records/s | MB/s |",
        "|---|---:|---:|",
    ]
    labels = {
        "verify_trail": "`verify_trail` (everything `tradetrail verify` checks)",
        "sha256_per_line": "plain SHA-256 per line, Python loop (`sha256(b'\\x00' + line)`)",
        "sha256_one_pass": "plain SHA-256, one pass over the file",
    }
    for key in ("verify_trail", "sha256_per_line", "sha256_one_pass"):
        if key in v:
            out.append(
                f"| {labels[key]} | {_fmt_rate(v[key]['records_per_s'])} | {v[key]['mb_per_s']} |"
            )
    out.append("")
    if "verify_error" in v:
        out.append(f"verify not measured: {v['verify_error']}")
    else:
        out.append(
            f"verify / per-line SHA-256 = **{v['ratio_to_per_line']}x**; verify / one-pass "
            f"SHA-256 = {v['ratio_to_one_pass']}x (verify ok: {v['verify_ok']})."
        )
    out += ["", f"### Inclusion proof ({p['tree_size']:,}-record trail)", ""]
    if "error" in p:
        out.append(f"not measured: {p['error']}")
    else:
        out.append(
            f"`inclusion_proof_json` for {p['proofs']} random indices: p50 **{p['p50_ms']} ms**, "
            f"p99 **{p['p99_ms']} ms**, max {p['max_ms']} ms (first call {p['first_ms']} ms); "
            f"{p['hashes']} hashes per proof."
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark tradetrail against structlog and stdlib logging.",
        epilog="See bench/README.md for what each figure means.",
    )
    parser.add_argument("--events", type=int, help="events per run (default 200000; quick 20000)")
    parser.add_argument("--quick", action="store_true", help="a small run (about a minute)")
    parser.add_argument("--reps", type=int, help="interleaved repetitions (default 5; quick 3)")
    parser.add_argument("--seed", type=int, default=20240601, help="event stream seed")
    parser.add_argument(
        "--proof-size",
        type=int,
        help="records in the proof trail (default 1000000; quick 100000)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    parser.add_argument(
        "--markdown", action="store_true", help="also print a section for BENCHMARKS.md"
    )
    args = parser.parse_args(argv)
    args.events = args.events or (20_000 if args.quick else 200_000)
    args.reps = args.reps or (3 if args.quick else 5)
    args.proof_size = args.proof_size or (100_000 if args.quick else 1_000_000)
    if args.events < 1000:
        parser.error("--events must be at least 1000")
    results = run(args)
    print(text_report(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nresults written to {args.out}")
    if args.markdown:
        print("\n" + markdown_report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
