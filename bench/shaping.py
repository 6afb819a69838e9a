"""What typing and redaction cost in `record()`, and the logging-handler path (issue 4, §5).

    python bench/shaping.py             # 100k events per run, 5 interleaved repetitions
    python bench/shaping.py --quick     # 20k events, 3 repetitions

The caller's CPU time per `record()` call is measured with `time.thread_time_ns()` around the
loop, so the writer thread's work (which runs meanwhile and competes for the GIL) is not
counted: what is compared is what the trading thread pays. Same event stream as bench/run.py.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

import tradetrail
from tradetrail.integrations.logging_handler import AuditHandler
from tradetrail.model.events import DEFAULT_MODEL

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as harness

RESULTS = harness.RESULTS_DIR


def caller_ns(body: Callable[[], None]) -> int:
    """CPU time of the calling thread for `body`."""
    gc.collect()
    t0 = time.thread_time_ns()
    body()
    return time.thread_time_ns() - t0


def with_trail(home: Path, n: int, body: Callable[[tradetrail.Trail], None], **opts: Any) -> int:
    shutil.rmtree(home, ignore_errors=True)
    opts.setdefault("writer", "embedded")  # the caller's shaping cost is what this measures
    trail = tradetrail.open(home, durability="write", queue_size=n + 1024, min_free_bytes=0, **opts)
    try:
        spent = caller_ns(lambda: body(trail))
        trail.flush()
        assert trail.stats()["schema_errors"] == 0, trail.stats()
        return spent
    finally:
        trail.close()


def bench_logger() -> logging.Logger:
    logger = logging.getLogger("bench.shaping")
    logger.handlers.clear()
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def plain_logging(events: list[harness.Event], work: Path) -> int:
    """What trading code does without tradetrail: JSON lines through a FileHandler."""
    logger = bench_logger()
    handler = logging.FileHandler(work / "plain.log", mode="w")
    handler.setFormatter(harness.OrjsonFormatter())
    logger.addHandler(handler)

    def body() -> None:
        for e in events:
            logger.info(e.type, extra={"fields": e.fields, "data": e.data})
        handler.flush()

    try:
        return caller_ns(body)
    finally:
        logger.removeHandler(handler)
        handler.close()


def audit_logging(events: list[harness.Event], trail: tradetrail.Trail) -> None:
    """The same calls carrying an audit event, recorded through AuditHandler."""
    logger = bench_logger()
    audit = AuditHandler(trail)
    logger.addHandler(audit)
    try:
        for e in events:
            logger.info(e.type, extra={"audit_type": e.type, "audit_data": e.data, **e.fields})
    finally:
        logger.removeHandler(audit)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int)
    parser.add_argument("--reps", type=int)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--out", type=Path, default=RESULTS / "shaping.json")
    args = parser.parse_args(argv)
    n = args.events or (20_000 if args.quick else 100_000)
    reps = args.reps or (3 if args.quick else 5)

    events = harness.generate_events(n, args.seed)
    structs = [msgspec.convert(e.data, DEFAULT_MODEL.get(e.type), strict=False) for e in events]
    secret = {"venue_auth": {"api_key": "Kq7Lm2Np9Rt4Vx8Zb1Cd", "note": "rotated"}}
    with_secret = [{**e.data, **secret} for e in events]
    gc.freeze()

    work = RESULTS / f"tmp-shaping-{__import__('os').getpid()}"
    work.mkdir(parents=True, exist_ok=True)

    def plain(trail: tradetrail.Trail) -> None:
        record = trail.record
        for e in events:
            record("bench.plain", e.data, **e.fields)

    def typed_dict(trail: tradetrail.Trail) -> None:
        record = trail.record
        for e in events:
            record(e.type, e.data, **e.fields)

    def typed_struct(trail: tradetrail.Trail) -> None:
        record = trail.record
        for e, s in zip(events, structs, strict=True):
            record(e.type, s, **e.fields)

    def free_with_secret(trail: tradetrail.Trail) -> None:
        record = trail.record
        for e, d in zip(events, with_secret, strict=True):
            record("bench.secret", d, **e.fields)

    configs: dict[str, tuple[Callable[[tradetrail.Trail], None], dict[str, Any]]] = {
        "plain dict, no model, no redaction": (plain, {"model": None, "redactor": None}),
        "plain dict, free-form type, redaction": (plain, {}),
        "typed dict (decimal strings) + redaction": (typed_dict, {}),
        "typed Struct + redaction": (typed_struct, {}),
        "free-form dict with a secret (redacted)": (free_with_secret, {}),
    }
    runs: dict[str, list[float]] = {name: [] for name in configs}
    order = list(configs)
    for rep in range(reps):
        for name in order if rep % 2 == 0 else reversed(order):
            body, opts = configs[name]
            runs[name].append(with_trail(work / "trail", n, body, **opts) / n / 1000)

    # logging: plain stdlib JSON lines vs the same calls going to a trail through AuditHandler
    log_runs: dict[str, list[float]] = {"plain logging (JSON lines file)": [], "AuditHandler": []}
    for _ in range(reps):
        log_runs["plain logging (JSON lines file)"].append(plain_logging(events, work) / n / 1000)
        spent = with_trail(work / "trail", n, lambda trail: audit_logging(events, trail))
        log_runs["AuditHandler"].append(spent / n / 1000)
    shutil.rmtree(work, ignore_errors=True)

    medians = {k: statistics.median(v) for k, v in runs.items()}
    log_medians = {k: statistics.median(v) for k, v in log_runs.items()}
    base = medians["plain dict, no model, no redaction"]
    result = {
        "events": n,
        "reps": reps,
        "machine": harness.machine_info(),
        "record_us": runs,
        "record_us_median": medians,
        "extra_us_vs_plain": {k: v - base for k, v in medians.items()},
        "logging_us": log_runs,
        "logging_us_median": log_medians,
    }
    print(f"record(): caller CPU per event, median of {reps} runs of {n} events")
    for name, v in medians.items():
        print(f"  {name:45s} {v:6.2f} us  (+{v - base:5.2f} us)")
    print("logging path: caller CPU per event")
    plain_log = log_medians["plain logging (JSON lines file)"]
    for name, v in log_medians.items():
        print(f"  {name:45s} {v:6.2f} us  ({v / plain_log:4.2f}x plain logging)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
