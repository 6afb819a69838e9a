"""What the writer measures about itself for monitoring (stats(), exported by
tradetrail.metrics): bytes, fsync latency and batch histograms, failures by errno, spill bytes."""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import JournalFault, wait_until
from tradetrail.writer.telemetry import Buckets


def test_buckets_are_cumulative_with_an_inf_bucket() -> None:
    b = Buckets((1.0, 2.0))
    for value in (0.5, 1.0, 1.5, 3.0):
        b.observe(value)
    snap = b.snapshot()
    assert snap["buckets"] == [[1.0, 2], [2.0, 3], ["+Inf", 4]]
    assert snap["count"] == 4 and snap["sum"] == 6.0


def test_stats_count_bytes_fsyncs_and_batches(open_trail: Callable[..., Any], home: Path) -> None:
    trail = open_trail(durability="fsync")
    before = trail.stats()
    for n in range(10):
        trail.record("order.accepted", {"n": n}).wait(timeout=10)
    stats = trail.stats()
    journal_bytes = sum(p.stat().st_size for p in (home / "journal").glob("audit-*"))
    # every journal byte this writer wrote (the trail's own records at open included)
    assert stats["bytes_written"] == journal_bytes
    assert stats["bytes_written"] > before["bytes_written"]
    assert stats["batch_records"]["count"] >= before["batch_records"]["count"] + 1
    assert stats["batch_records"]["sum"] >= before["batch_records"]["sum"] + 10
    fsyncs = stats["fsync_seconds"]
    assert fsyncs["count"] >= before["fsync_seconds"]["count"] + 1
    assert fsyncs["buckets"][-1] == ["+Inf", fsyncs["count"]]
    assert fsyncs["sum"] > 0
    assert stats["queue_capacity"] > 0 and stats["disk_free_bytes"] > 0
    assert stats["spill_bytes"] == 0 and stats["write_failures"] == {}


def test_stats_count_write_failures_by_errno_and_spill_bytes(
    open_trail: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    trail = open_trail()
    trail.record("order.accepted", {"n": 0}).wait(timeout=10)
    fault = JournalFault(monkeypatch, errno.ENOSPC)
    fault.active = True
    receipts = [trail.record("order.accepted", {"n": n}) for n in range(1, 4)]
    assert wait_until(lambda: all(r.spilled for r in receipts), timeout=5)
    stats = trail.stats()
    assert stats["write_failures"]["journal"]["ENOSPC"] >= 1
    assert set(stats["write_failures"]["journal"]) == {"ENOSPC"}
    assert stats["spill_bytes"] > 0
    fault.active = False
    for r in receipts:
        r.wait(timeout=15)
    assert trail.stats()["spill_bytes"] == 0
