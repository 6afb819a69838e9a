"""PostgreSQL ingest (issue 16): the indexer's events/s (`update_index` from the journal into
a migrated database: row building, COPY, indexes) against a raw COPY of the same rows into a
plain table without indexes, in the same run, interleaved, median of --reps runs.

    python bench/postgres_ingest.py                        # 300k-event demo trail (built once)
    python bench/postgres_ingest.py --home TRAIL --reps 5  # an existing trail

Each run gets a fresh database on one throw-away local cluster (tests/postgres_server.py:
fsync off, Unix socket). Also measured once: the Python side alone (journal lines to COPY
rows), which bounds the indexer whatever the server does.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
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
from tradetrail.index.feed import update_index  # noqa: E402
from tradetrail.index.postgres import (  # noqa: E402
    _COPY_TYPES,
    _STAGE_COLUMNS,
    PostgresIndex,
    _stage_tuple,
    migrate,
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


def run_indexer(server: PostgresServer, home: Path) -> float:
    dsns = server.create_database()
    migrate(dsns.owner, dsns.app_role)
    index = PostgresIndex(dsns.app)
    try:
        gc.collect()
        t0 = time.perf_counter()
        result = update_index(home, index)
        elapsed = time.perf_counter() - t0
    finally:
        index.close()
    return (result.last_seq + 1) / elapsed


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
    args = parser.parse_args(argv)
    home = args.home or demo_trail(args.events, 7)
    t0 = time.perf_counter()
    values = journal_rows(home)
    python_rate = len(values) / (time.perf_counter() - t0)
    print(f"{len(values):,} records; Python alone (lines to COPY rows): {python_rate:,.0f}/s")
    indexer: list[float] = []
    raw: list[float] = []
    with PostgresServer() as server:
        for rep in range(args.reps):
            order = (0, 1) if rep % 2 == 0 else (1, 0)
            for which in order:
                if which == 0:
                    indexer.append(run_indexer(server, home))
                else:
                    raw.append(run_raw_copy(server, values))
            print(f"  run {rep + 1}: indexer {indexer[-1]:,.0f}/s, raw COPY {raw[-1]:,.0f}/s")
    result = {
        "records": len(values),
        "reps": args.reps,
        "python_rows_per_s": python_rate,
        "indexer_per_s": indexer,
        "raw_copy_per_s": raw,
        "indexer_median": statistics.median(indexer),
        "raw_copy_median": statistics.median(raw),
    }
    ratio = result["indexer_median"] / result["raw_copy_median"]
    print(
        f"median of {args.reps}: indexer {result['indexer_median']:,.0f} events/s, raw COPY "
        f"{result['raw_copy_median']:,.0f} rows/s ({ratio:.2f}x)"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
