"""The service benchmarks of issue 16 run end to end on tiny counts, so that they do not rot
between the runs quoted in BENCHMARKS.md: a real `tradetrail serve --listen`, the remote
client, the local channel and, for the fleet, a real PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[2] / "bench"


def bench(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        # the defaults a benchmark measures, not the test session's TRADETRAIL_* settings
        env={k: v for k, v in os.environ.items() if not k.startswith("TRADETRAIL_")},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_http_ingest_measures_every_mode_and_batch_size(tmp_path: Path) -> None:
    out = tmp_path / "http.json"
    done = bench(
        "http_ingest.py", "--quick", "--reps", "1", "--events", "5", "200", "1000",
        "--workdir", str(tmp_path / "work"), "--out", str(out),
    )  # fmt: skip
    result = json.loads(out.read_text())
    assert set(result["modes"]) == {"http", "remote", "local"}
    for mode in result["modes"].values():
        assert set(mode) == {"1", "100", "1000"}
        for figures in mode.values():
            assert figures["median_events_per_s"] > 0
            assert 0 < figures["ack_p50_ms"] <= figures["ack_p99_ms"]
    # every event of the three modes journaled (the run checks each exactly once)
    assert result["journal_records"] >= 3 * (5 + 200 + 1000)
    assert "| 1,000 | local |" in done.stdout
    assert not (tmp_path / "work").exists()


def test_fleet_feeds_postgresql_and_reports_the_lag(tmp_path: Path) -> None:
    out = tmp_path / "fleet.json"
    done = bench(
        "fleet.py", "--quick", "--sizes", "2", "--start-rate", "400", "--step-seconds", "2",
        "--max-steps", "1", "--out", str(out),
    )  # fmt: skip
    result = json.loads(out.read_text())
    (fleet,) = result["fleets"]
    (step,) = fleet["steps"]
    assert fleet["n"] == 2 and fleet["monitor_error"] is None
    assert step["errors"] == 0, step["last_error"]
    assert step["achieved_per_s"] > 0 and step["max_index_lag_s"] >= 0
    assert set(step["cpu_cores"]) == {"services", "postgres", "sender", "machine"}
    assert "N=2: highest sustained" in done.stdout


def test_alerts_measures_the_engine_and_the_webhook_latency(tmp_path: Path) -> None:
    out = tmp_path / "alerts.json"
    done = bench(
        "alerts.py", "--quick", "--reps", "1", "--events", "500", "--alerts", "5",
        "--latency-rules", "10", "--workdir", str(tmp_path / "work"), "--out", str(out),
    )  # fmt: skip
    result = json.loads(out.read_text())
    assert set(result["engine"]) == {"10", "100", "1000", "1000-990-elsewhere"}
    assert all(figures["median_events_per_s"] > 0 for figures in result["engine"].values())
    assert sum(figures["alerts"] for figures in result["engine"].values()) > 0
    latency = result["latency"]
    assert latency["alerts"] == 5 and latency["rules"] == 11
    assert 0 < latency["from_ack_ms"]["p50"] <= latency["from_ack_ms"]["p99"]
    assert "| 1,000 |" in done.stdout
    assert not (tmp_path / "work").exists()


def test_accel_compares_both_paths() -> None:
    out = json.loads(bench("accel.py", "--events", "300", "--reps", "1").stdout)
    assert set(out["writer_us"]) == {"python", "c", "python 2", "c 2"}
    assert "python" in out["loop_us"]


def test_writer_process_throughput_compares_every_path(tmp_path: Path) -> None:
    """bench/writer_process.py's throughput part on a tiny stream: structlog, the socket, the
    ring, the embedded writer and the pure-Python fallback, each with its CPU figures."""
    out = tmp_path / "wp.json"
    bench(
        "writer_process.py", "--events", "3000", "--reps", "1", "--only", "throughput",
        "--out", str(out), timeout=300,
    )  # fmt: skip
    result = json.loads(out.read_text())
    throughput = result["throughput"]
    assert set(throughput) == {"a", "b", "r", "c", "p"}
    assert throughput["a"]["ratio_to_structlog"] == 1.0
    for key in "brcp":
        assert throughput[key]["events_per_s"] > 0
        assert throughput[key]["caller_cpu_us"] > 0
        assert throughput[key]["writer_cpu_us"] > 0
    assert "latency" not in result
