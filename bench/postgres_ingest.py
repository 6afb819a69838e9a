"""PostgreSQL ingest (issue 16): the indexer's events/s (`update_index` from the journal into
a migrated database: row building, COPY, indexes) against a raw COPY of the same rows into a
plain table without indexes, in the same run, interleaved, median of --reps runs.

    python bench/postgres_ingest.py                        # 300k-event demo trail (built once)
    python bench/postgres_ingest.py --home TRAIL --reps 5  # an existing trail
    python bench/postgres_ingest.py --against /tmp/old/src  # also another tree's indexer

Each indexer runs in a fresh process; `--against` runs another source tree's the same way
(say `git archive COMMIT src | tar -x -C /tmp/old`), interleaved, so a change is measured
against what it replaced under the same load. Besides events/s, each run reports CPU time per
event of the indexer's process and of the server process serving it: on a shared machine
those move far less than wall time.

Each run gets a fresh database on one throw-away local cluster (tests/postgres_server.py:
fsync off, Unix socket). Also measured once: the Python side alone (journal lines to COPY
rows), which bounds the indexer whatever the server does.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "tests"))

import psycopg  # noqa: E402

from index import demo_trail  # noqa: E402
from postgres_server import PostgresServer  # noqa: E402
from tradetrail.index.postgres import (  # noqa: E402
    _COPY_TYPES,
    _STAGE_COLUMNS,
    _stage_tuple,
)
from tradetrail.index.rows import row_from_line  # noqa: E402
from tradetrail.store import journal  # noqa: E402
from tradetrail.store.keys import trail_origin  # noqa: E402


def journal_rows(home: Path) -> list[tuple[Any, ...]]:
    origin = trail_origin(home)
    return [
        _stage_tuple(row, row.ts)
        for row in (row_from_line(origin, line) for _, line in journal.lines_from_seq(home, 0))
    ]


_INDEXER = """
import json, os, sys, time
from pathlib import Path
from tradetrail.index.feed import update_index
from tradetrail.index.postgres import PostgresIndex, migrate
owner, role, app, home = sys.argv[1:]
migrate(owner, role)
index = PostgresIndex(app)
stat = Path(f"/proc/{index._conn().info.backend_pid}/stat")
def server_cpu():  # utime + stime of the server process serving this connection
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
s0, c0, t0 = server_cpu(), time.process_time(), time.perf_counter()
result = update_index(Path(home), index)
elapsed, client, server = time.perf_counter() - t0, time.process_time() - c0, server_cpu() - s0
n = result.last_seq + 1
rates = {"rate": n / elapsed, "client_us": client / n * 1e6, "server_us": server / n * 1e6}
print(json.dumps(rates))
index.close()
"""


def run_indexer(server: PostgresServer, home: Path, src: Path) -> dict[str, float]:
    """The indexer of the source tree `src` in a fresh process (its own imports, so another
    tree's can run the same way): events/s, and CPU time per event of the indexer's process
    (all its threads) and of the server process serving it, which load elsewhere on the
    machine disturbs far less than wall time."""
    dsns = server.create_database()
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run(
        [sys.executable, "-c", _INDEXER, dsns.owner, dsns.app_role, dsns.app, str(home)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found: dict[str, float] = json.loads(out.splitlines()[-1])
    return found


def run_raw_copy(server: PostgresServer, values: list[tuple[Any, ...]]) -> float:
    dsns = server.create_database()
    columns = ", ".join(f"{c} {'bigint' if c == 'seq' else 'text'}" for c in _STAGE_COLUMNS)
    with psycopg.connect(dsns.superuser) as db:
        db.execute(f"CREATE TABLE plain ({columns})")
        db.commit()
        gc.collect()
        t0 = time.perf_counter()
        with db.cursor() as cur, cur.copy("COPY plain FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(_COPY_TYPES)
            for value in values:
                copy.write_row(value)
        db.commit()
        elapsed = time.perf_counter() - t0
    return len(values) / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--home", type=Path, help="an existing trail (default: a demo trail)")
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS / "postgres_ingest.json")
    parser.add_argument("--against", type=Path, help="another tree's src/ to time as well")
    args = parser.parse_args(argv)
    home = args.home or demo_trail(args.events, 7)
    t0 = time.perf_counter()
    values = journal_rows(home)
    python_rate = len(values) / (time.perf_counter() - t0)
    print(f"{len(values):,} records; Python alone (lines to COPY rows): {python_rate:,.0f}/s")
    trees = {"indexer": BENCH.parent / "src"}
    if args.against:
        trees["against"] = args.against
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    raw: list[float] = []
    kinds = ["raw", *trees]
    with PostgresServer() as server:
        for rep in range(args.reps):
            for kind in kinds if rep % 2 == 0 else reversed(kinds):
                if kind == "raw":
                    raw.append(run_raw_copy(server, values))
                else:
                    runs[kind].append(run_indexer(server, home, trees[kind]))
            print(
                f"  run {rep + 1}: raw COPY {raw[-1]:,.0f}/s"
                + "".join(
                    f", {k} {v[-1]['rate']:,.0f}/s (CPU {v[-1]['client_us']:.1f} us client,"
                    f" {v[-1]['server_us']:.1f} us server)"
                    for k, v in runs.items()
                )
            )
    result: dict[str, Any] = {
        "records": len(values),
        "reps": args.reps,
        "python_rows_per_s": python_rate,
        "raw_copy_per_s": raw,
        "raw_copy_median": statistics.median(raw),
    }
    for name, found in runs.items():
        result[name] = {"tree": str(trees[name]), "runs": found} | {
            f"median_{key}": statistics.median(r[key] for r in found)
            for key in ("rate", "client_us", "server_us")
        }
    print(f"median of {args.reps}: raw COPY {result['raw_copy_median']:,.0f} rows/s")
    for name in runs:
        r = result[name]
        print(
            f"  {name}: {r['median_rate']:,.0f} events/s "
            f"({r['median_rate'] / result['raw_copy_median']:.2f}x raw COPY), CPU per event "
            f"{r['median_client_us']:.1f} us indexer + {r['median_server_us']:.1f} us server"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
