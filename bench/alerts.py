"""Alert rules (issue 17): what evaluating the rules costs per event, and how long an alert
takes from its record being journaled to its notification reaching a receiver.

    python bench/alerts.py            # engine: 10, 100, 1,000 rules, 5 reps; latency: 300 alerts
    python bench/alerts.py --quick    # a smoke run

Engine: the rule engine alone (alerts.engine.Engine, as the runner drives it) over bench/run.py's
order lifecycle stream turned into journal records (seq, ts 500 us apart, prev, event_id,
source), with a system.heartbeat every 2,000 records and an occasional venue.api_error. The rules
are a mix of ten kinds, repeated with other thresholds up to N: field comparisons on exact
decimals, a string equality, a type-only match, a type glob, rate windows, an absence, a daily
summary, most grouped. Every rule looks at types the stream holds (the pessimistic case: the
engine indexes rules by type, so rules about other types cost nothing). `tick()` runs every
1,000 records (a runner step at 2,000 events/s and the default poll). Two figures per N: feed()
on parsed records, and orjson.loads + feed() on the journal lines (what a runner step does).
Interleaved (10-100-1000, 1000-100-10, ...), median of --reps.

Latency: a real `tradetrail serve --alerts RULES` process; a client attached to it over its
Unix socket records, every ~20 ms (jittered), one `bench.trigger` event that a rule (dedup 0s)
sends to a webhook on a loopback HTTP receiver in this process, among stream events that the
100-rule mix evaluates. Measured from `record(...).wait()` returning (the record is durable) to
the receiver having read the POST, and from the record's journal `ts`; p50/p99 over every alert.
Results go to bench/results/alerts.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson

import tradetrail
from tradetrail.alerts.engine import Engine
from tradetrail.alerts.rules import RuleSet, parse_rules
from tradetrail.core.timefmt import format_ns, parse_ts

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import RESULTS_DIR, generate_events, machine_info, percentile
from serving import child_env, cpu_seconds

OUT = RESULTS_DIR / "alerts.json"
T0_NS = parse_ts("2026-12-07T09:00:00.000000Z")
STEP_NS = 500_000  # 2,000 events/s
TICK_EVERY = 1000


# --------------------------------------------------------------------------- the rules


def rule_mix(n: int, url: str = "http://127.0.0.1:9/hook", elsewhere: int = 0) -> dict[str, Any]:
    """A rules document of `n` rules: ten kinds, repeated with other thresholds; the first
    `elsewhere` of them match a type the stream does not hold."""
    rules: list[dict[str, Any]] = []
    for i in range(n):
        k, copy = i % 10, i // 10
        name = f"r{i:04d}"
        kinds: list[dict[str, Any]] = [
            {"match": {"type": "order.filled", "where": [f"data.fill_qty > {400 + copy}"]},
             "group_by": ["symbol"]},
            {"match": {"type": ["order.filled", "order.partially_filled"],
                       "where": [f"data.fee > {20 + copy}.5"]}},
            {"match": {"type": "order.cancelled",
                       "where": ["data.reason == risk_off", f"data.remaining_qty >= {copy}"]},
             "group_by": ["venue"]},
            {"match": {"type": "order.rejected"}, "group_by": ["venue"]},
            {"match": {"type": "order.rejected"}, "rate": {"more_than": 3 + copy, "window": "1m"},
             "group_by": ["venue"]},
            {"match": {"type": "venue.api_error"},
             "rate": {"more_than": 5 + copy, "window": "1m"}, "group_by": ["venue"]},
            {"match": {"type": "system.heartbeat"}, "absent": {"for": f"{5 + copy}m"}},
            {"match": {"category": ["order", "risk"]}, "summary": {"at": "17:00"}},
            {"match": {"type": "risk.passed", "where": [f"data.notional > {250000 + 1000 * copy}"]},
             "group_by": ["account"]},
            {"match": {"type": "order.*", "where": [f"data.price >= {60000 + 100 * copy}"]},
             "group_by": ["symbol"], "message": "{type} {order_id} at {data.price}"},
        ]  # fmt: skip
        rule = {"name": name, "severity": "warning", **kinds[k]}
        if i < elsewhere:
            where = rule["match"].get("where")
            rule["match"] = {"type": f"desk.unseen_{i}", **({"where": where} if where else {})}
        rules.append(rule)
    return {
        "version": 1,
        "defaults": {"routes": ["hook"], "dedup": "5m", "repeat_interval": "1h"},
        "channels": {"hook": {"type": "webhook", "url": url}},
        "rules": rules,
    }


def stream_records(n: int, seed: int = 17) -> list[dict[str, Any]]:
    """bench/run.py's stream as journal records, 500 us apart, with heartbeats and api errors."""
    rng = random.Random(seed)
    venues = ["COINBASE", "BINANCE", "XNAS", "XCME", "LMAX", "XLON"]
    records: list[dict[str, Any]] = []
    prev = "0" * 64
    for seq, event in enumerate(generate_events(n, seed)):
        event_type, data, fields = event.type, event.data, event.fields
        if seq % 2000 == 1999:
            event_type, data, fields = "system.heartbeat", {"uptime_s": seq // 2000}, {}
        elif rng.random() < 0.002:
            event_type, fields = "venue.api_error", {"venue": rng.choice(venues)}
            data = {"status": 503, "endpoint": "/orders"}
        record = {
            "seq": seq,
            "ts": format_ns(T0_NS + seq * STEP_NS),
            "prev": prev,
            "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "type": event_type,
            "source": {"host": "bench", "pid": 4242, "service": "oms"},
            **fields,
            "data": data,
        }
        prev = f"{rng.getrandbits(256):064x}"
        records.append(record)
    return records


def run_engine(
    ruleset: RuleSet, records: list[dict[str, Any]], lines: list[bytes] | None
) -> tuple[float, int]:
    """(events/s, alerts) of one pass: feed() every record, tick() every TICK_EVERY."""
    now = [T0_NS]
    engine = Engine(ruleset, lambda: now[0])
    alerts = 0
    gc.collect()
    t = time.perf_counter()
    if lines is None:
        for i, record in enumerate(records):
            alerts += len(engine.feed(record))
            if i % TICK_EVERY == 0:
                now[0] = T0_NS + i * STEP_NS
                alerts += len(engine.tick())
    else:
        loads = orjson.loads
        for i, line in enumerate(lines):
            alerts += len(engine.feed(loads(line)))
            if i % TICK_EVERY == 0:
                now[0] = T0_NS + i * STEP_NS
                alerts += len(engine.tick())
    elapsed = time.perf_counter() - t
    return len(records) / elapsed, alerts


ENGINE_RUNS = {"10": (10, 0), "100": (100, 0), "1000": (1000, 0), "1000-990-elsewhere": (1000, 990)}


def bench_engine(args: argparse.Namespace) -> dict[str, Any]:
    """Each rule set over the same records, interleaved; the 1,000-rule mix on a fifth of them.
    `1000-990-elsewhere`: 1,000 rules of which 990 name types the stream does not hold."""
    counts = {k: max(1, args.events // 5) if k == "1000" else args.events for k in ENGINE_RUNS}
    records = stream_records(max(counts.values()))
    lines = [orjson.dumps(r) for r in records]
    rulesets = {
        k: parse_rules(rule_mix(n, elsewhere=e), f"mix-{k}") for k, (n, e) in ENGINE_RUNS.items()
    }
    keys = list(ENGINE_RUNS)
    fed: dict[str, list[float]] = {k: [] for k in keys}
    parsed: dict[str, list[float]] = {k: [] for k in keys}
    alerts: dict[str, int] = {}
    gc.freeze()
    for rep in range(args.reps):
        for k in keys if rep % 2 == 0 else keys[::-1]:
            rate, alerts[k] = run_engine(rulesets[k], records[: counts[k]], None)
            fed[k].append(rate)
            rate, _ = run_engine(rulesets[k], records[: counts[k]], lines[: counts[k]])
            parsed[k].append(rate)
            print(f"  {k:>18} rules: {fed[k][-1]:>9,.0f} events/s, with parsing {rate:>9,.0f}")
    gc.unfreeze()
    return {
        k: {
            "rules": ENGINE_RUNS[k][0],
            "on_other_types": ENGINE_RUNS[k][1],
            "events": counts[k],
            "events_per_s": fed[k],
            "median_events_per_s": statistics.median(fed[k]),
            "us_per_event": 1e6 / statistics.median(fed[k]),
            "with_parse_events_per_s": parsed[k],
            "median_with_parse_events_per_s": statistics.median(parsed[k]),
            "alerts": alerts[k],
        }
        for k in keys
    }


# --------------------------------------------------------------------------- end to end


class Receiver:
    """A loopback HTTP server that notes when each webhook POST was read, and its body."""

    def __init__(self) -> None:
        self.got: list[tuple[int, dict[str, Any]]] = []
        got = self.got

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                at = time.time_ns()
                got.append((at, json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.01)


def bench_latency(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    home = work / "trail"
    tradetrail.open(home, writer="embedded", serve=False).close()
    receiver = Receiver()
    doc = rule_mix(args.latency_rules, receiver.url)
    doc["rules"].append(
        {"name": "trigger", "severity": "critical", "match": {"type": "bench.trigger"},
         "dedup": "0s", "message": "trigger {data.i}"}
    )  # fmt: skip
    rules = work / "rules.yaml"
    rules.write_text(json.dumps(doc))
    state_home = work / "state"
    command = [sys.executable, "-m", "tradetrail", "serve", "--home", str(home)]
    command += ["--alerts", str(rules)]
    log = work / "serve.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            command, env=child_env(XDG_STATE_HOME=str(state_home)), stdout=out, stderr=out
        )
    rng = random.Random(5)
    stream = generate_events(args.alerts * args.between + 1, seed=23)
    acked: dict[int, int] = {}
    ack_ms: list[float] = []
    try:
        wait_for(lambda: any(state_home.rglob("alerts-*.json")), 120, "the alerts runner")
        trail = tradetrail.open(home)
        cpu0, wall0 = cpu_seconds(proc.pid), time.monotonic()
        try:
            for i in range(args.alerts):
                for event in stream[i * args.between : (i + 1) * args.between]:
                    trail.record(event.type, event.data, **event.fields)
                t = time.perf_counter()
                seq = trail.record("bench.trigger", {"i": i}).wait(60)
                acked[seq] = time.time_ns()
                ack_ms.append((time.perf_counter() - t) * 1e3)
                time.sleep(args.interval * rng.uniform(0.5, 1.5))
            wait_for(
                lambda: sum(b["rule"] == "trigger" for _, b in receiver.got) >= args.alerts,
                120,
                "the trigger alerts",
            )
            serve_cores = (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - wall0)
        finally:
            trail.close()
    finally:
        proc.terminate()
        proc.wait(120)
        receiver.close()
    ts = {}
    for path in sorted((home / "journal").glob("audit-*.jsonl")):
        for line in path.read_bytes().splitlines():
            record = orjson.loads(line)
            if record["type"] == "bench.trigger":
                ts[record["seq"]] = parse_ts(record["ts"])
    from_ack: list[float] = []
    from_ts: list[float] = []
    for at, body in receiver.got:
        if body["rule"] == "trigger":
            (seq,) = body["seqs"]
            from_ack.append((at - acked[seq]) / 1e6)
            from_ts.append((at - ts[seq]) / 1e6)
    from_ack.sort()
    from_ts.sort()
    other = sum(b["rule"] != "trigger" for _, b in receiver.got)
    ack_ms.sort()
    return {
        "rules": args.latency_rules + 1,
        "alerts": len(from_ack),
        "other_alerts": other,
        "stream_events_between": args.between,
        "serve_cpu_cores": serve_cores,
        "record_ack_ms": {"p50": percentile(ack_ms, 50), "p99": percentile(ack_ms, 99)},
        "from_ack_ms": {"p50": percentile(from_ack, 50), "p99": percentile(from_ack, 99),
                        "max": from_ack[-1]},
        "from_ts_ms": {"p50": percentile(from_ts, 50), "p99": percentile(from_ts, 99),
                       "max": from_ts[-1]},
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--events", type=int, help="records per engine pass (1,000 rules: 1/5)")
    parser.add_argument("--reps", type=int, help="interleaved repetitions (default 5)")
    parser.add_argument("--alerts", type=int, help="alerts of the latency run (default 300)")
    parser.add_argument("--between", type=int, default=10, help="stream events between two")
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between alerts")
    parser.add_argument("--latency-rules", type=int, default=100, help="rule mix beside")
    parser.add_argument("--only", choices=("engine", "latency"), help="run one part")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    args.events = args.events or (2_000 if args.quick else 50_000)
    args.reps = args.reps or (2 if args.quick else 5)
    args.alerts = args.alerts or (20 if args.quick else 300)
    load_start = os.getloadavg()
    work = Path(args.workdir or RESULTS_DIR / f"tmp-alerts-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        engine: dict[str, Any] = {}
        latency: dict[str, Any] = {}
        if args.only != "latency":
            print("engine (alerts.engine.Engine), events/s:")
            engine = bench_engine(args)
        if args.only != "engine":
            print("end to end (serve --alerts, webhook on loopback):")
            latency = bench_latency(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "machine": machine_info(),
        "load_average": {"start": load_start, "end": os.getloadavg()},
        "engine": engine,
        "latency": latency,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(markdown(result))
    return 0


def markdown(r: dict[str, Any]) -> str:
    rows = ["| rules | events/s (median) | µs/event | with orjson.loads | alerts | runs |",
            "|---:|---:|---:|---:|---:|---|"]  # fmt: skip
    for e in r["engine"].values():
        runs = " / ".join(f"{v:,.0f}" for v in e["events_per_s"])
        label = f"{e['rules']:,}" + (
            f" ({e['on_other_types']} on other types)" if e["on_other_types"] else ""
        )
        rows.append(
            f"| {label} | {e['median_events_per_s']:,.0f} | {e['us_per_event']:.1f} | "
            f"{e['median_with_parse_events_per_s']:,.0f} | {e['alerts']} | {runs} |"
        )
    lat = r["latency"]
    if not lat:
        return "\n".join(rows)
    rows += [
        "",
        f"{lat['alerts']} alerts ({lat['rules']} rules, {lat['other_alerts']} other alerts sent):",
        "| from | p50 | p99 | max |",
        "|---|---:|---:|---:|",
    ]
    for key, label in (("from_ack_ms", "record().wait() returned"), ("from_ts_ms", "journal ts")):
        v = lat[key]
        rows.append(f"| {label} | {v['p50']:.1f} ms | {v['p99']:.1f} ms | {v['max']:.1f} ms |")
    ack = lat["record_ack_ms"]
    rows.append(
        f"\nrecord() to durable: p50 {ack['p50']:.2f} ms, p99 {ack['p99']:.2f} ms; "
        f"serve process CPU {lat['serve_cpu_cores']:.2f} cores"
    )
    return "\n".join(rows)


if __name__ == "__main__":
    raise SystemExit(main())
