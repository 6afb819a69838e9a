"""Micro-benchmark of building one day's derived tables (core/packtables.py) in process.

    python bench/tables.py --events 60000                 # median of 7 builds per format
    python bench/tables.py --save bench/results/tables-ref   # keep the files as a reference
    python bench/tables.py --check bench/results/tables-ref  # compare bytes with it
    python bench/tables.py --profile 3                    # cProfile one format-3 build
    python bench/tables.py --against /tmp/tables_old.py   # also time a saved copy, interleaved

The demo day is built once (fixed today and seed) in bench/results/tables-demo-<N>/; the
journal lines are read into memory, then each pack format's tables are built in turn, the
formats interleaved so that a busy machine slows them alike. Only the tables are timed: no
Merkle tree, no checkpoint, no manifest. `--save`/`--check` write every format's files to a
directory so an optimisation can be shown to change no output byte, and `--against` times a
copy of tables.py from before a change (it imports nothing of tradetrail) in the same run.
"""

from __future__ import annotations

import argparse
import cProfile
import filecmp
import importlib.util
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tradetrail.core.packtables import PACK_VERSIONS, DayTables
from tradetrail.demo import run_demo

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
TODAY = datetime(2024, 3, 6, tzinfo=UTC)
DAY = (TODAY - timedelta(days=1)).date().isoformat()


def demo_lines(events: int, seed: int) -> list[bytes]:
    home = RESULTS / f"tables-demo-{events}-{seed}"
    if not (home / "checkpoint").exists():
        shutil.rmtree(home, ignore_errors=True)
        print(f"building a {events:,}-event one-day demo trail in {home} ...", flush=True)
        run_demo(home, events=events, days=1, seed=seed, today=TODAY)
    day_file = home / "journal" / f"audit-{DAY.replace('-', '')}.jsonl"
    return day_file.read_bytes().splitlines(keepends=True)


def build(lines: list[bytes], version: int, out: Path | None, maker: Any = DayTables) -> float:
    """Seconds to build the day's tables of one format (written to `out`, or only hashed)."""
    t0 = time.perf_counter()
    tables = maker(out, DAY, version=version)
    tables.add_lines(lines)
    tables.finish()
    return time.perf_counter() - t0


def write_all(lines: list[bytes], root: Path) -> None:
    for version in PACK_VERSIONS:
        out = root / f"v{version}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        build(lines, version, out)


def check(lines: list[bytes], reference: Path) -> bool:
    with tempfile.TemporaryDirectory(prefix="tables-check-") as tmp:
        write_all(lines, Path(tmp))
        same = True
        for version in PACK_VERSIONS:
            ref, now = reference / f"v{version}", Path(tmp) / f"v{version}"
            names = sorted(p.name for p in ref.iterdir())
            if names != sorted(p.name for p in now.iterdir()):
                print(f"format {version}: the files differ in name")
                same = False
            match, mismatch, errors = filecmp.cmpfiles(ref, now, names, shallow=False)
            for name in mismatch + errors:
                print(f"format {version}: {name} differs")
                same = False
            print(f"format {version}: {len(match)} of {len(names)} files byte-identical")
    return same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=7, help="builds per format (median)")
    parser.add_argument("--save", type=Path, help="write every format's files here")
    parser.add_argument("--check", type=Path, help="compare every format's files with these")
    parser.add_argument("--profile", type=int, choices=PACK_VERSIONS, help="cProfile a build")
    parser.add_argument("--against", type=Path, help="a copy of tables.py to time as well")
    args = parser.parse_args()
    lines = demo_lines(args.events, args.seed)
    print(f"{len(lines):,} journal lines of {DAY}")
    if args.save:
        write_all(lines, args.save)
        print(f"saved to {args.save}")
    if args.check and not check(lines, args.check):
        raise SystemExit("output differs from the reference")
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(build, lines, args.profile, None)
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)
        return
    makers: dict[str, Any] = {"": DayTables}
    if args.against:
        spec = importlib.util.spec_from_file_location("tables_against", args.against)
        assert spec is not None and spec.loader is not None
        module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        makers = {f" ({args.against.name})": module.DayTables, " (this tree)": DayTables}
    times: dict[tuple[str, int], list[float]] = {
        (label, v): [] for label in makers for v in PACK_VERSIONS
    }
    for maker in makers.values():
        build(lines, 3, None, maker)  # warm up
    for _ in range(max(5, args.repeat)):
        for label, maker in makers.items():
            for version in PACK_VERSIONS:
                times[(label, version)].append(build(lines, version, None, maker))
    for (label, version), got in times.items():
        print(
            f"format {version}{label}: median {statistics.median(got):.3f} s "
            f"(min {min(got):.3f}, max {max(got):.3f}, n={len(got)}), "
            f"{len(lines) / statistics.median(got):,.0f} lines/s"
        )


if __name__ == "__main__":
    main()
