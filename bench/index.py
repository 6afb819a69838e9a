"""Index benchmarks (issue 5, section 4): on a demo trail of N events (default 1,000,000),
for SQLite (and PostgreSQL with --postgres): indexing rate, index size per event, order
lineage p50/p99, full-text query, a one-day range query, and PostgreSQL COPY ingest rate.

    python bench/index.py                   # SQLite, 1M-event demo trail (built once, kept)
    python bench/index.py --postgres        # also PostgreSQL (a throw-away local cluster)
    python bench/index.py --events 200000   # smaller

The demo trail is built once in bench/results/demo-<N>/ and kept; delete it to rebuild it.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"

from tradetrail.demo import run_demo  # noqa: E402
from tradetrail.index import IndexBackend, Query, SqliteIndex, lineage, update_index  # noqa: E402
from tradetrail.index.feed import trail_origin  # noqa: E402


def demo_trail(events: int, seed: int) -> Path:
    home = RESULTS / f"demo-{events}"
    if not (home / "checkpoint").exists():
        shutil.rmtree(home, ignore_errors=True)
        print(f"building a {events:,}-event demo trail in {home} ...", flush=True)
        t0 = time.perf_counter()
        run_demo(home, events=events, days=2, seed=seed)
        print(f"  built in {time.perf_counter() - t0:.0f} s", flush=True)
    return home


def timed(fn: Callable[[], Any], runs: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times, result


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(
    name: str, home: Path, index: IndexBackend, size_bytes: Callable[[], int]
) -> dict[str, Any]:
    origin = trail_origin(home)
    t0 = time.perf_counter()
    result = update_index(home, index)
    elapsed = time.perf_counter() - t0
    total = result.last_seq + 1
    rng = random.Random(5)
    orders = [
        r.order_id
        for r in index.search(Query(types=("order.submitted",), origin=origin, limit=None))
        if r.order_id
    ]
    sample = rng.sample(orders, min(200, len(orders)))
    lineage_ms = [timed(lambda o=o: lineage(index, o, origin), 1)[0][0] for o in sample]
    order_ms = [
        timed(lambda o=o: index.search(Query(equals={"order_id": o}, origin=origin)), 1)[0][0]
        for o in sample
    ]
    text_ms, hits = timed(
        lambda: index.search(Query(text="insufficient margin", origin=origin, limit=100)), 20
    )
    first = index.search(Query(origin=origin, limit=1))[0].ts[:10]
    day_ms, day_rows = timed(
        lambda: index.search(
            Query(
                since=f"{first}T00:00:00.000000Z",
                until=f"{first}T23:59:59.999999Z",
                types=("risk.rejected",),
                origin=origin,
                limit=None,
            )
        ),
        5,
    )
    full_day_ms, full_day = timed(
        lambda: index.search(
            Query(
                since=f"{first}T00:00:00.000000Z",
                until=f"{first}T23:59:59.999999Z",
                origin=origin,
                limit=None,
            )
        ),
        3,
    )
    size = size_bytes()
    out = {
        "backend": name,
        "events": total,
        "index_seconds": elapsed,
        "index_rate": total / elapsed if elapsed else None,
        "bytes_per_event": size / total if total else None,
        "lineage_ms": {"p50": pct(lineage_ms, 0.5), "p99": pct(lineage_ms, 0.99), "n": len(sample)},
        "order_id_ms": {"p50": pct(order_ms, 0.5), "p99": pct(order_ms, 0.99)},
        "fulltext_ms": {"p50": pct(text_ms, 0.5), "p99": pct(text_ms, 0.99), "hits": len(hits)},
        "day_risk_rejected_ms": {"p50": statistics.median(day_ms), "rows": len(day_rows)},
        "day_all_ms": {"p50": statistics.median(full_day_ms), "rows": len(full_day)},
    }
    print(
        f"{name}: indexed {total:,} events in {elapsed:.1f} s ({out['index_rate']:,.0f}/s), "
        f"{out['bytes_per_event']:.0f} bytes/event; lineage p50 {out['lineage_ms']['p50']:.2f} ms "
        f"p99 {out['lineage_ms']['p99']:.2f} ms; order_id p50 {out['order_id_ms']['p50']:.2f} ms; "
        f"full text p50 {out['fulltext_ms']['p50']:.2f} ms ({len(hits)} hits); one day of "
        f"risk.rejected {out['day_risk_rejected_ms']['p50']:.1f} ms ({len(day_rows)} rows), "
        f"whole day {out['day_all_ms']['p50']:.0f} ms ({len(full_day):,} rows)",
        flush=True,
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", action="store_true", help="also PostgreSQL")
    parser.add_argument("--out", type=Path, default=RESULTS / "index.json")
    args = parser.parse_args(argv)
    home = demo_trail(args.events, args.seed)
    results: dict[str, Any] = {
        "events": args.events,
        "journal_bytes": sum(p.stat().st_size for p in (home / "journal").glob("*.jsonl")),
    }
    path = RESULTS / f"bench-index-{args.events}.sqlite"
    for leftover in path.parent.glob(path.name + "*"):
        leftover.unlink()
    sqlite = SqliteIndex(path)
    results["sqlite"] = measure(
        "sqlite",
        home,
        sqlite,
        lambda: sum(p.stat().st_size for p in path.parent.glob(path.name + "*")),
    )
    sqlite.close()
    if args.postgres:
        results["postgres"] = bench_postgres(home)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results written to {args.out}")
    return 0


def bench_postgres(home: Path) -> dict[str, Any]:
    """A throw-away local cluster (tests/postgres_server.py: fsync off, Unix socket)."""
    sys.path.insert(0, str(BENCH.parent / "tests"))
    import psycopg

    from postgres_server import PostgresServer
    from tradetrail.index.postgres import PostgresIndex, migrate

    def size(dsn: str) -> int:
        with psycopg.connect(dsn) as db:
            row = db.execute(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'tradetrail' AND c.relkind = 'r'"
            ).fetchone()
        return int(row[0]) if row else 0

    with PostgresServer() as server:
        dsns = server.create_database("bench")
        migrate(dsns.owner, dsns.app_role)
        index = PostgresIndex(dsns.app)
        try:
            return measure("postgres", home, index, lambda: size(dsns.superuser))
        finally:
            index.close()


if __name__ == "__main__":
    sys.exit(main())
