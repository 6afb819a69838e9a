"""A fleet on PostgreSQL (issue 16): N writer services (`tradetrail serve --listen`, each its
own trail and origin) index into one PostgreSQL while a sender feeds each at a fixed rate over
HTTP; the offered total rate is raised step by step until a step is no longer sustained.

    python bench/fleet.py                  # N = 4, 8, 16; 10 s steps
    python bench/fleet.py --quick          # N = 2, 4 s steps, 3 steps at most (a smoke run)
    python bench/fleet.py --sizes 8 --start-rate 2000 --step-seconds 30

A step is sustained when the services acknowledged at least 95% of the offered events and the
index lag stayed under --max-lag seconds (5) on every trail throughout. Index lag of a trail:
how long ago the service acknowledged the oldest event PostgreSQL does not hold yet, from
`SELECT max(seq) FROM tradetrail.audit_log WHERE origin = ...` polled every 0.5 s against
the seqs the service answered (0 when the index holds every acknowledged event).

The sender is one asyncio process (one HTTP connection per service, one batch of --batch
events in flight per service, sent on a fixed schedule: a late answer delays the next batch,
the schedule does not wait). Per step it reports the CPU (cores) of the services, of
PostgreSQL, of the sender and of the whole machine, and, with --py-spy, how the GIL of one
service was shared between its threads in the first step not sustained. The PostgreSQL cluster
is the tests' throw-away one (tests/postgres_server.py: fsync off, Unix socket); the journals
are fsynced (durability fsync, the default). Results go to bench/results/fleet.json.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "tests"))

from postgres_server import PostgresServer  # noqa: E402
from run import RESULTS_DIR, generate_events, machine_info  # noqa: E402
from serving import Served, cpu_seconds, make_trail  # noqa: E402
from tradetrail.index.postgres import migrate  # noqa: E402

OUT = RESULTS_DIR / "fleet.json"


@dataclass
class Desk:
    """One service of the fleet, and what the sender and the lag monitor know of it."""

    origin: str
    served: Served
    secret: str
    acked: collections.deque[tuple[float, int]] = field(default_factory=collections.deque)
    events: int = 0
    errors: int = 0
    last_error: str = ""
    max_lag: float = 0.0
    max_lag_records: int = 0
    last_acked_seq: int = -1


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine (/proc/stat): other work on it shows here."""
    parts = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts) - idle, sum(parts)


def postgres_pids(server: PostgresServer) -> list[int]:
    """The postmaster and its children (backends, writer, WAL writer, ...)."""
    try:
        master = int((server.data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    pids = [master]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == master:
                pids.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return pids


class Monitor(threading.Thread):
    """Polls PostgreSQL for what it holds of each origin and keeps each desk's worst lag."""

    def __init__(self, dsn: str, desks: list[Desk], interval: float = 0.5) -> None:
        super().__init__(name="lag-monitor", daemon=True)
        self.dsn = dsn
        self.desks = desks
        self.interval = interval
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.error: str | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.dsn, autocommit=True) as db:
                while not self.stop.wait(self.interval):
                    for desk in self.desks:
                        row = db.execute(
                            "SELECT max(seq) FROM tradetrail.audit_log WHERE origin = %s",
                            (desk.origin,),
                        ).fetchone()
                        held = -1 if row is None or row[0] is None else int(row[0])
                        self.observe(desk, held)
        except psycopg.Error as exc:
            self.error = str(exc)

    def observe(self, desk: Desk, held: int) -> None:
        now = time.monotonic()
        with self.lock:
            while desk.acked and desk.acked[0][1] <= held:
                desk.acked.popleft()
            if desk.acked:
                desk.max_lag = max(desk.max_lag, now - desk.acked[0][0])
            desk.max_lag_records = max(desk.max_lag_records, desk.last_acked_seq - held)

    def reset(self) -> None:
        with self.lock:
            for desk in self.desks:
                desk.max_lag, desk.max_lag_records = 0.0, 0
                desk.events = desk.errors = 0


async def feed(
    desk: Desk, body: bytes, batch: int, period: float, until: float, monitor: Monitor
) -> None:
    headers = {"Authorization": f"Bearer {desk.secret}", "Content-Type": "application/x-ndjson"}
    async with httpx.AsyncClient(base_url=desk.served.url, headers=headers, timeout=60) as http:
        due = time.monotonic()
        while due < until:
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif time.monotonic() >= until:
                break  # behind schedule at the end of the step: what is missing is not sent
            due += period
            try:
                answer = await http.post("/v1/events", content=body)
            except httpx.HTTPError as exc:
                desk.errors += 1
                desk.last_error = repr(exc)
                continue
            if answer.status_code != 200:
                desk.errors += 1
                desk.last_error = f"{answer.status_code} {answer.text[:300]}"
                continue
            last = max(r["seq"] for r in answer.json()["results"])
            with monitor.lock:
                desk.acked.append((time.monotonic(), last))
                desk.last_acked_seq = max(desk.last_acked_seq, last)
                desk.events += batch


def run_step(
    desks: list[Desk],
    monitor: Monitor,
    server: PostgresServer,
    total_rate: float,
    batch: int,
    seconds: float,
    body: bytes,
) -> dict[str, Any]:
    period = batch * len(desks) / total_rate
    monitor.reset()
    pids = {"services": [d.served.proc.pid for d in desks], "postgres": postgres_pids(server)}
    cpu0 = {k: sum(cpu_seconds(p) for p in v) for k, v in pids.items()}
    own0, busy0, wall0 = time.process_time(), machine_busy(), time.monotonic()

    async def everyone() -> None:
        until = time.monotonic() + seconds
        await asyncio.gather(*(feed(d, body, batch, period, until, monitor) for d in desks))

    asyncio.run(everyone())
    fed = time.monotonic() - wall0  # until the last answer, a little over `seconds`
    time.sleep(monitor.interval * 2)  # the last answers' lag is seen too
    wall = time.monotonic() - wall0
    busy1 = machine_busy()
    cpu = {k: (sum(cpu_seconds(p) for p in v) - cpu0[k]) / wall for k, v in pids.items()}
    cpu["sender"] = (time.process_time() - own0) / wall
    cpu["machine"] = (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]) * (os.cpu_count() or 1)
    events = sum(d.events for d in desks)
    errors = sum(d.errors for d in desks)
    achieved = events / fed
    max_lag = max(d.max_lag for d in desks)
    return {
        "offered_per_s": total_rate,
        "achieved_per_s": achieved,
        "fed_seconds": fed,
        "max_index_lag_s": max_lag,
        "max_index_lag_records": max(d.max_lag_records for d in desks),
        "errors": errors,
        "last_error": next((d.last_error for d in desks if d.errors), ""),
        "cpu_cores": cpu,
        "load_average": os.getloadavg()[0],
    }


def gil_shares(pid: int, seconds: float) -> dict[str, float]:
    """How the GIL of one process was shared between its threads (py-spy record --gil)."""
    out = Path(f"/tmp/fleet-pyspy-{pid}.txt")
    try:
        subprocess.run(
            ["py-spy", "record", "--pid", str(pid), "--duration", str(int(seconds)),
             "--rate", "200", "--gil", "--threads", "--format", "raw", "--output", str(out)],
            capture_output=True, timeout=seconds + 60, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        return {"error": str(exc)}  # type: ignore[dict-item]
    counts: collections.Counter[str] = collections.Counter()
    for line in out.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        thread = stack.split(";", 1)[0].split(": ", 1)[-1].rstrip(")")
        counts[thread] += int(n)
    out.unlink(missing_ok=True)
    total = sum(counts.values()) or 1
    return {k: v / total for k, v in counts.most_common(6)}


def run_fleet(args: argparse.Namespace, server: PostgresServer, n: int, work: Path) -> Any:
    dsns = server.create_database(f"fleet_{n}")
    migrate(dsns.owner, dsns.app_role)
    desks: list[Desk] = []
    started: list[Served] = []
    try:
        for i in range(n):
            home = work / f"n{n}-desk-{i + 1}"
            origin = f"fleet.bench/desk-{i + 1}"
            secret = make_trail(home, origin)
            served = Served(home, "--rate", "1000000", TRADETRAIL_DATABASE_URL=dsns.app)
            started.append(served)
            desks.append(Desk(origin, served, secret))
        for desk in desks:
            desk.served.wait(300)
        events = generate_events(args.batch, seed=n)
        body = b"".join(
            orjson.dumps({"type": e.type, "data": e.data, **e.fields}, default=str) + b"\n"
            for e in events
        )
        monitor = Monitor(dsns.superuser, desks)
        monitor.start()
        steps: list[dict[str, Any]] = []
        rate = args.start_rate
        profile: dict[str, float] | None = None
        for _ in range(args.max_steps):
            step = run_step(desks, monitor, server, rate, args.batch, args.step_seconds, body)
            step["sustained"] = (
                step["achieved_per_s"] >= 0.95 * rate
                and step["max_index_lag_s"] < args.max_lag
                and not step["errors"]
                and monitor.error is None
            )
            steps.append(step)
            cpu = step["cpu_cores"]
            print(
                f"  N={n} offered {rate:,.0f}/s: achieved {step['achieved_per_s']:,.0f}/s, "
                f"max index lag {step['max_index_lag_s']:.2f} s "
                f"({step['max_index_lag_records']:,} records), errors {step['errors']}; CPU "
                f"services {cpu['services']:.2f}, postgres {cpu['postgres']:.2f}, sender "
                f"{cpu['sender']:.2f}, machine {cpu['machine']:.2f} cores"
                + ("" if step["sustained"] else "  <- not sustained"),
                flush=True,
            )
            if not step["sustained"]:
                if args.py_spy and shutil.which("py-spy"):
                    profile = profile_step(desks, monitor, server, rate, args, body)
                break
            rate *= args.factor
        monitor.stop.set()
        monitor.join(10)
        best = max((s["achieved_per_s"] for s in steps if s["sustained"]), default=0.0)
        return {
            "n": n,
            "steps": steps,
            "best_sustained_per_s": best,
            "gil_of_one_service": profile,
            "monitor_error": monitor.error,
        }
    finally:
        for served in started:
            served.stop()


def profile_step(
    desks: list[Desk],
    monitor: Monitor,
    server: PostgresServer,
    rate: float,
    args: argparse.Namespace,
    body: bytes,
) -> dict[str, float]:
    """Feed the fleet at `rate` again while py-spy watches one service's GIL."""
    result: dict[str, float] = {}
    seconds = max(3.0, args.step_seconds / 2)

    def spy() -> None:
        time.sleep(1)
        result.update(gil_shares(desks[0].served.proc.pid, seconds - 1.5))

    spying = threading.Thread(target=spy)
    spying.start()
    run_step(desks, monitor, server, rate, args.batch, seconds, body)
    spying.join()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N=2, 4 s steps, 3 steps at most")
    parser.add_argument("--sizes", type=int, nargs="+", help="fleet sizes (default 4 8 16)")
    parser.add_argument("--start-rate", type=float, default=2000.0, help="total events/s")
    parser.add_argument("--factor", type=float, default=1.5, help="rate multiplier per step")
    parser.add_argument("--step-seconds", type=float, help="seconds a step (default 10)")
    parser.add_argument("--max-steps", type=int, help="steps per fleet size (default 10)")
    parser.add_argument("--batch", type=int, default=100, help="events per POST")
    parser.add_argument("--max-lag", type=float, default=5.0, help="index lag bound, seconds")
    parser.add_argument("--py-spy", action="store_true", help="GIL shares of one service")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the services and PG stopped too
    args.sizes = args.sizes or ([2] if args.quick else [4, 8, 16])
    args.step_seconds = args.step_seconds or (4.0 if args.quick else 10.0)
    args.max_steps = args.max_steps or (3 if args.quick else 10)
    work = RESULTS_DIR / f"tmp-fleet-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    result: dict[str, Any] = {
        "machine": machine_info(),
        "load_average_start": os.getloadavg(),
        "batch": args.batch,
        "step_seconds": args.step_seconds,
        "max_lag_s": args.max_lag,
        "fleets": [],
    }
    try:
        with PostgresServer() as server:
            for n in args.sizes:
                result["fleets"].append(run_fleet(args, server, n, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for fleet in result["fleets"]:
        print(f"N={fleet['n']}: highest sustained {fleet['best_sustained_per_s']:,.0f} events/s")
        if fleet["gil_of_one_service"]:
            print(f"  GIL of one service: {fleet['gil_of_one_service']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
