"""Export benchmarks (issue 6, section 8): a 1M-event UTC day exported as a daily pack,
verify-pack's rate, and the exam package's size against the raw journal.

    python bench/export.py                    # a 1,000,000-event day (built once, kept)
    python bench/export.py --events 200000    # smaller
    python bench/export.py --markdown         # also print a table for BENCHMARKS.md

The baseline (a) is reading the day file and hashing it with SHA-256 in the same process: the
least any exporter or verifier must do. Each figure is also given as a ratio to it, measured in
the same run, because this machine is noisy. The trail is built once in
bench/results/export-demo-<N>/ (one sealed day); delete it to rebuild it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"

from tradetrail.compliance.exam import export_exam  # noqa: E402
from tradetrail.compliance.verify_exam import verify_exam  # noqa: E402
from tradetrail.demo import run_demo  # noqa: E402
from tradetrail.export import export_daily  # noqa: E402
from tradetrail.store.keys import VKEY_FILE, read_vkey  # noqa: E402
from tradetrail.verify.pack import verify_pack  # noqa: E402

TODAY = datetime(2024, 3, 6, tzinfo=UTC)
DAY = (TODAY - timedelta(days=1)).date().isoformat()


def demo_day(events: int, seed: int) -> Path:
    home = RESULTS / f"export-demo-{events}"
    if not (home / "checkpoint").exists():
        shutil.rmtree(home, ignore_errors=True)
        print(f"building a {events:,}-event one-day demo trail in {home} ...", flush=True)
        t0 = time.perf_counter()
        run_demo(home, events=events, days=1, seed=seed, today=TODAY)
        print(f"  built in {time.perf_counter() - t0:.0f} s", flush=True)
    return home


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def baseline(path: Path) -> float:
    t0 = time.perf_counter()
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    home = demo_day(args.events, args.seed)
    day_file = home / "journal" / f"audit-{DAY.replace('-', '')}.jsonl"
    journal_bytes = day_file.stat().st_size
    records = sum(1 for _ in day_file.open("rb"))
    work = RESULTS / "export-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    vkeys = [read_vkey(home / VKEY_FILE)]

    base = baseline(day_file)
    t0 = time.perf_counter()
    pack = export_daily(home, DAY, out=work / "pack", today=TODAY.date())
    export_s = time.perf_counter() - t0
    export_peak = peak_mb()
    t0 = time.perf_counter()
    report = verify_pack(pack.path, vkeys)
    verify_s = time.perf_counter() - t0
    assert report.ok, [str(f) for f in report.faults[:5]]
    pack_bytes = sum(p.stat().st_size for p in pack.path.iterdir())
    # the exam package reuses the pack in <home>/exports/daily when there is one
    shutil.rmtree(home / "exports", ignore_errors=True)
    t0 = time.perf_counter()
    exam = export_exam(home, DAY, DAY, out=work / "exam.zip", today=TODAY.date())
    exam_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    checked = verify_exam(work / "exam.zip", vkeys)
    exam_verify_s = time.perf_counter() - t0
    assert checked.ok, [str(f) for f in checked.faults[:5]]
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "records": records,
        "journal_bytes": journal_bytes,
        "baseline_sha256_s": round(base, 3),
        "export_daily_s": round(export_s, 2),
        "export_ratio": round(export_s / base, 1),
        "export_peak_mb": round(export_peak),
        "pack_bytes": pack_bytes,
        "verify_pack_s": round(verify_s, 2),
        "verify_pack_records_per_s": round(records / verify_s),
        "verify_ratio": round(verify_s / base, 1),
        "exam_s": round(exam_s, 2),
        "exam_bytes": exam.bytes,
        "exam_to_journal": round(exam.bytes / journal_bytes, 3),
        "exam_verify_s": round(exam_verify_s, 2),
        "peak_mb": round(peak_mb()),
    }
    (RESULTS / "export.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if args.markdown:
        mb = 1024 * 1024
        print(
            f"\n| {records:,}-event day, {journal_bytes / mb:.0f} MB of journal | time | "
            "vs (a) | target |\n|---|---:|---:|---|\n"
            f"| (a) read + SHA-256 of the day file | {base:.2f} s | 1.0x | — |\n"
            f"| `export daily` | {export_s:.2f} s | {export_s / base:.1f}x | < 10 s: "
            f"**{'met' if export_s < 10 else 'not met'}** |\n"
            f"| `verify-pack` | {verify_s:.2f} s ({records / verify_s:,.0f} records/s) | "
            f"{verify_s / base:.1f}x | ≥ 200k records/s: "
            f"**{'met' if records / verify_s >= 200_000 else 'not met'}** |\n"
            f"| `export exam` (1 day, pack made, reports, zip) | {exam_s:.2f} s | "
            f"{exam_s / base:.1f}x | — |\n"
            f"| `verify-pack` of the exam package | {exam_verify_s:.2f} s | "
            f"{exam_verify_s / base:.1f}x | — |\n"
            f"\nPack {pack_bytes / mb:.0f} MB; exam package {exam.bytes / mb:.0f} MB = "
            f"{exam.bytes / journal_bytes:.2f}x the raw journal; peak RSS {peak_mb():.0f} MB."
        )


if __name__ == "__main__":
    main()
