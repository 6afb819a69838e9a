"""The live view's arithmetic: quantiles from cumulative buckets, rates by record time."""

from __future__ import annotations

import pytest

from tradetrail.metrics.top import Board, quantile


def test_quantile_matches_prometheus_histogram_quantile() -> None:
    buckets = [(0.01, 0.0), (0.05, 10.0), (0.1, 20.0), (float("inf"), 20.0)]
    assert quantile(0.5, buckets) == pytest.approx(0.05)
    assert quantile(0.25, buckets) == pytest.approx(0.03)  # linear within (0.01, 0.05]
    assert quantile(0.99, buckets) == pytest.approx(0.099)
    assert quantile(0.99, [(0.1, 1.0), (float("inf"), 10.0)]) == 0.1  # rank in +Inf
    assert quantile(0.5, [(0.1, 0.0), (float("inf"), 0.0)]) is None


def test_rates_count_records_by_their_time_and_alerts_newest_first() -> None:
    now = 1_700_000_000.0
    board = Board("t", clock=lambda: now)

    def ts(ago: float) -> str:
        from datetime import UTC, datetime

        return datetime.fromtimestamp(now - ago, UTC).isoformat().replace("+00:00", "Z")

    for seq, (kind, ago) in enumerate(
        [("order.filled", 400), ("order.filled", 100), ("order.filled", 5), ("alert.sent", 1)]
    ):
        board.add({"seq": seq, "type": kind, "ts": ts(ago), "data": {"rule": f"r{seq}"}})
    board.add({"seq": 4, "type": "alert.failed", "ts": ts(0), "data": {"rule": "r4"}})
    frame = board.snapshot()
    filled = next(r for r in frame["events"] if r["type"] == "order.filled")
    assert (filled["seen"], filled["last_5_min"], filled["per_second"]) == (3, 2, 0.1)
    assert [a["rule"] for a in frame["alerts"]] == ["r4", "r3"]
    assert frame["last_seq"] == 4
