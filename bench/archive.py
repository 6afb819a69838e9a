"""Archive benchmarks (issue 18): `archive push` of a 1M-event UTC day to a real S3 server with
Object Lock (SeaweedFS `weed mini` on loopback, as the tests start it) against a plain
`upload_file` of the same bytes to the same server, the compression ratio, and restore + verify
of that day.

    python bench/archive.py                    # a 1,000,000-event day (built once, kept)
    python bench/archive.py --events 200000    # smaller
    python bench/archive.py --markdown         # also print a table for BENCHMARKS.md

The trail is bench/export.py's (bench/results/export-demo-<N>/, one sealed day), built once.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
sys.path.insert(0, str(BENCH.parent / "tests"))  # the S3 test server (tests/s3_server.py)
sys.path.insert(0, str(BENCH))

from export import DAY, demo_day  # noqa: E402
from s3_server import ACCESS_KEY, SECRET_KEY, S3Server  # noqa: E402
from tradetrail.compliance.archive import push, restore_day  # noqa: E402
from tradetrail.compliance.retention import load_policy  # noqa: E402
from tradetrail.store.objectstore import ArchiveLocation, ObjectStore, day_rel  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    home = demo_day(args.events, args.seed)
    day_file = home / "journal" / f"audit-{DAY.replace('-', '')}.jsonl"
    raw_bytes = day_file.stat().st_size
    records = sum(1 for _ in day_file.open("rb"))
    os.environ.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    work = RESULTS / "archive-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    with S3Server() as server:
        client = server.client()
        plain = server.bucket(lock=False)
        t0 = time.perf_counter()
        client.upload_file(str(day_file), plain, "day.jsonl")
        upload_s = time.perf_counter() - t0

        bucket = server.bucket()
        store = ObjectStore(ArchiveLocation.parse(f"s3://{bucket}/desk"), client=client)
        t0 = time.perf_counter()
        pushed = push(home, store, load_policy(home))
        push_s = time.perf_counter() - t0
        assert pushed.ok and pushed.days, pushed.to_json()
        stored = client.head_object(Bucket=bucket, Key=f"desk/{day_rel(DAY)}")["ContentLength"]

        t0 = time.perf_counter()
        path, _, _ = restore_day(store, DAY, work / "restored", home=home)
        restore_s = time.perf_counter() - t0
        assert path.read_bytes() == day_file.read_bytes()
    mb = 1024 * 1024
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "records": records,
        "journal_bytes": raw_bytes,
        "upload_file_s": round(upload_s, 2),
        "upload_file_mb_per_s": round(raw_bytes / mb / upload_s, 1),
        "push_s": round(push_s, 2),
        "push_objects": len(pushed.uploaded),
        "push_mb_per_s": round(raw_bytes / mb / push_s, 1),
        "push_events_per_s": round(records / push_s),
        "push_vs_upload_file": round(push_s / upload_s, 2),
        "archived_day_bytes": stored,
        "compression_ratio": round(stored / raw_bytes, 4),
        "restore_verify_s": round(restore_s, 2),
    }
    (RESULTS / "archive.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    shutil.rmtree(work, ignore_errors=True)
    if args.markdown:
        ratio = stored / raw_bytes
        print(
            f"\n| {records:,}-event day, {raw_bytes / mb:.0f} MB of journal | time | rate | "
            "target |\n|---|---:|---:|---|\n"
            f"| (a) `upload_file` of the raw day file, same server | {upload_s:.2f} s | "
            f"{raw_bytes / mb / upload_s:.0f} MB/s | — |\n"
            f"| `archive push` (zstd, SHA-256, Object Lock, {len(pushed.uploaded)} objects) | "
            f"{push_s:.2f} s | {raw_bytes / mb / push_s:.0f} MB/s, {records / push_s:,.0f} "
            f"events/s | — |\n"
            f"| archived size of the day | {stored / mb:.1f} MB | {ratio:.3f}x the raw journal "
            f"| ≤ 0.15x: **{'met' if ratio <= 0.15 else 'not met'}** |\n"
            f"| `restore` + proof of the day | {restore_s:.2f} s | | < 10 s: "
            f"**{'met' if restore_s < 10 else 'not met'}** |"
        )


if __name__ == "__main__":
    main()
