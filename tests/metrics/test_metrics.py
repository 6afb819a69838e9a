"""The metrics of a trail in-process (tradetrail.metrics): values after real records, histograms
from correlated orders, bounded labels, the journal follower across a day boundary."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client import generate_latest

from conftest import wait_until
from tradetrail.metrics import IndexLag, TrailMetrics, Verification
from tradetrail.metrics.labels import LabelCap


@pytest.fixture
def metered(open_trail: Callable[..., Any]) -> Iterator[tuple[Any, TrailMetrics]]:
    trail = open_trail(writer="embedded")
    trail.record("system.service_started", {"version": "1"}).wait(timeout=10)  # before: not counted
    metrics = TrailMetrics.for_trail(trail, interval=0.02)
    yield trail, metrics
    metrics.close()


def settle(trail: Any, metrics: TrailMetrics) -> None:
    trail.flush(timeout=10)
    assert wait_until(lambda: metrics.follower.position == trail.size, timeout=10)


def value(metrics: TrailMetrics, name: str, **labels: str) -> float:
    got = metrics.registry.get_sample_value(name, labels)
    assert got is not None, f"{name}{labels} not exported"
    return got


def test_counts_by_type_start_with_the_process_and_follow_records(
    metered: tuple[Any, TrailMetrics],
) -> None:
    trail, metrics = metered
    for n in range(3):
        trail.record("venue.api_error", {"error": "timeout"}, venue="XNAS", order_id=f"E{n}")
    trail.record("venue.rate_limited", {}, venue="XNAS")
    trail.record("risk.rejected", {"rule": "max_notional"})
    trail.record("system.clock_sync", {"offset_us": "-250", "source": "ptp"})
    trail.record("alert.sent", {"channel": "slack", "rule": "r", "severity": "critical"})
    settle(trail, metrics)
    assert (
        value(
            metrics, "tradetrail_events_journaled_total", category="venue", type="venue.api_error"
        )
        == 3
    )
    assert (
        metrics.registry.get_sample_value(
            "tradetrail_events_journaled_total",
            {"category": "system", "type": "system.service_started"},
        )
        is None
    )
    assert value(metrics, "tradetrail_venue_api_errors_total", venue="XNAS") == 3
    assert value(metrics, "tradetrail_venue_rate_limits_total", venue="XNAS") == 1
    assert value(metrics, "tradetrail_risk_rejections_total", rule="max_notional") == 1
    offsets = [
        s.value
        for family in metrics.registry.collect()
        if family.name == "tradetrail_clock_offset_seconds"
        for s in family.samples
    ]
    assert offsets == [pytest.approx(-0.00025)]
    assert value(metrics, "tradetrail_alerts_sent_total", severity="critical") == 1
    assert value(metrics, "tradetrail_metrics_lag_records") == 0
    assert value(metrics, "tradetrail_journal_records") == trail.size


def test_latency_and_slippage_histograms_correlate_orders_by_id(
    metered: tuple[Any, TrailMetrics],
) -> None:
    trail, metrics = metered
    t0 = "2024-03-01T12:00:00.000000Z"
    trail.record(
        "order.submitted",
        {"side": "buy", "qty": "2", "arrival_price": "100"},
        order_id="A1",
        venue="XNAS",
        event_ts=t0,
    )
    trail.record(
        "order.accepted", {}, order_id="A1", venue="XNAS", event_ts="2024-03-01T12:00:00.020000Z"
    )
    trail.record(
        "order.partially_filled",
        {"fill_qty": "1", "fill_price": "100.05"},
        order_id="A1",
        event_ts="2024-03-01T12:00:01.500000Z",
    )
    trail.record(
        "order.filled",
        {"fill_qty": "1", "fill_price": "99.99"},
        order_id="A1",
        event_ts="2024-03-01T12:00:03.000000Z",
    )
    # a sell: paid less than arrival is worse; latency_us given by the venue wins
    trail.record(
        "order.submitted",
        {"side": "sell", "qty": "1", "arrival_price": "50"},
        order_id="B1",
        venue="XLON",
        event_ts=t0,
    )
    trail.record("order.accepted", {"latency_us": 700}, order_id="B1", venue="XLON")
    trail.record("order.rejected", {"reason": "insufficient margin"}, order_id="C1", venue="XLON")
    trail.record("trade.execution_failed", {"reason": "timeout"}, venue="XLON")
    trail.record("order.filled", {"fill_qty": "1", "fill_price": "49.95"}, order_id="B1")
    settle(trail, metrics)
    ack = "tradetrail_order_ack_latency_seconds"
    assert value(metrics, f"{ack}_count", venue="XNAS") == 1
    assert value(metrics, f"{ack}_sum", venue="XNAS") == pytest.approx(0.02)
    assert value(metrics, f"{ack}_bucket", venue="XNAS", le="0.025") == 1
    assert value(metrics, f"{ack}_bucket", venue="XNAS", le="0.01") == 0
    assert value(metrics, f"{ack}_sum", venue="XLON") == pytest.approx(0.0007)
    fill = "tradetrail_order_fill_latency_seconds"
    assert value(metrics, f"{fill}_count", venue="XNAS") == 1  # the first execution only
    assert value(metrics, f"{fill}_sum", venue="XNAS") == pytest.approx(1.5)
    slip = "tradetrail_fill_slippage_basis_points"
    assert value(metrics, f"{slip}_count", venue="XNAS") == 2  # venue from the order
    assert value(metrics, f"{slip}_bucket", venue="XNAS", le="5.0") == 2  # 5 bps and -1 bps
    assert value(metrics, f"{slip}_bucket", venue="XNAS", le="-1.0") == 1
    assert value(metrics, f"{slip}_bucket", venue="XLON", le="10.0") == 1  # sold 10 bps lower
    assert value(metrics, f"{slip}_bucket", venue="XLON", le="5.0") == 0
    assert value(metrics, "tradetrail_orders_submitted_total", venue="XNAS") == 1
    assert value(metrics, "tradetrail_order_fills_total", venue="XNAS") == 2
    assert value(metrics, "tradetrail_orders_filled_total", venue="XLON") == 1
    assert (
        value(
            metrics, "tradetrail_orders_rejected_total", venue="XLON", reason="insufficient margin"
        )
        == 1
    )
    assert value(metrics, "tradetrail_execution_failures_total", venue="XLON") == 1
    assert value(metrics, "tradetrail_metrics_open_orders") == 0  # filled orders are forgotten


def test_labels_stay_bounded_under_a_thousand_venues(metered: tuple[Any, TrailMetrics]) -> None:
    trail, metrics = metered
    for n in range(1000):
        trail.record("venue.api_error", {"error": "x"}, venue=f"V{n:04d}", order_id=f"O{n}")
        trail.record(
            "order.rejected", {"reason": f"reason {n}"}, venue=f"V{n:04d}", order_id=f"O{n}"
        )
    settle(trail, metrics)
    errors = [
        s
        for family in metrics.registry.collect()
        if family.name == "tradetrail_venue_api_errors"
        for s in family.samples
        if s.name.endswith("_total")
    ]
    assert len(errors) == 51  # 50 venues by name, the rest as "other"
    assert sum(s.value for s in errors) == 1000
    assert value(metrics, "tradetrail_venue_api_errors_total", venue="other") == 950
    rejects = [
        s
        for family in metrics.registry.collect()
        if family.name == "tradetrail_orders_rejected"
        for s in family.samples
        if s.name.endswith("_total")
    ]
    assert len({s.labels["reason"] for s in rejects}) == 21
    assert len(rejects) <= 51 * 21
    exposition = generate_latest(metrics.registry).decode()
    assert "O999" not in exposition  # order ids are never labels


def test_label_cap() -> None:
    cap = LabelCap(2)
    assert [cap(v) for v in ("a", "b", "c", "a", None, "")] == [
        "a",
        "b",
        "other",
        "a",
        "unknown",
        "unknown",
    ]
    assert cap("x" * 100) == "other"
    with pytest.raises(ValueError, match="limit"):
        LabelCap(0)


def test_follower_reads_on_across_a_new_day(open_trail: Callable[..., Any], clock: Any) -> None:
    trail = open_trail(writer="embedded")
    metrics = TrailMetrics.for_trail(trail, interval=0.02)
    try:
        trail.record("order.submitted", {"side": "buy", "qty": "1"}, venue="X").wait(timeout=10)
        clock.advance(86400)
        trail.record("order.submitted", {"side": "buy", "qty": "1"}, venue="X").wait(timeout=10)
        settle(trail, metrics)
        assert len(list((trail.home / "journal").glob("audit-*"))) == 2
        assert value(metrics, "tradetrail_orders_submitted_total", venue="X") == 2
    finally:
        metrics.close()


def test_injected_index_lag_and_verification(open_trail: Callable[..., Any]) -> None:
    trail = open_trail(writer="embedded")
    metrics = TrailMetrics.for_trail(
        trail,
        index_lag=lambda: [IndexLag("postgresql", 12, 3.5)],
        verification=lambda: Verification(ok=False, at=1_700_000_000.0),
    )
    try:
        assert value(metrics, "tradetrail_index_lag_records", backend="postgresql") == 12
        assert value(metrics, "tradetrail_index_lag_seconds", backend="postgresql") == 3.5
        assert value(metrics, "tradetrail_verification_ok") == 0
        assert value(metrics, "tradetrail_verification_last_timestamp_seconds") == 1.7e9
        assert value(metrics, "tradetrail_clients_attached") == 0
        assert value(metrics, "tradetrail_writer_degraded") == 0
    finally:
        metrics.close()
