"""What operations ask of the trading itself, derived from journaled records: orders, fills,
rejects, risk rejections, submit-to-ack and submit-to-fill latency and slippage by venue, venue
API errors and throttling, clock offset, alerts. Labels are bounded (labels.LabelCap; never an
order id) and orders are correlated through a bounded LRU, so memory and series stay flat
whatever the records hold."""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from .labels import LabelCap

MAX_LABEL_VALUES: Final = 50
"""Distinct values each bounded label keeps (venues, hosts, risk rules) before "other"."""
MAX_TYPES: Final = 256
"""Distinct event types counted by name (the built-in model has about 100)."""
MAX_REASONS: Final = 20
"""Distinct reject reasons counted by text (free text: kept small)."""
MAX_OPEN_ORDERS: Final = 100_000
"""Orders remembered for latency and slippage until their ack/fill (least recent dropped)."""

ACK_BUCKETS: Final = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
FILL_BUCKETS: Final = (
    0.001,
    0.01,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    900.0,
    3600.0,
)
SLIPPAGE_BUCKETS: Final = (
    -50.0,
    -20.0,
    -10.0,
    -5.0,
    -2.0,
    -1.0,
    0.0,
    1.0,
    2.0,
    5.0,
    10.0,
    20.0,
    50.0,
    100.0,
)
"""Basis points; positive is worse than the arrival price (paid more, or sold for less)."""

_TERMINAL: Final = frozenset({"order.filled", "order.rejected", "order.cancelled", "order.expired"})


@dataclass
class _Open:
    at: float
    venue: str
    side: str | None
    arrival: Decimal | None
    acked: bool = False
    filled: bool = False


def _seconds(record: dict[str, Any]) -> float | None:
    """The event's time by its source's clock when given, else the writer's (Unix seconds)."""
    text = record.get("event_ts") or record.get("ts")
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


class DomainMetrics:
    """Counters and histograms of the trading events, registered in `registry`; `observe(rec)`
    takes one journal record (a dict) at a time, from one thread."""

    def __init__(
        self, registry: CollectorRegistry, *, max_label_values: int = MAX_LABEL_VALUES
    ) -> None:
        self.venue = LabelCap(max_label_values)
        self.host = LabelCap(max_label_values)
        self.rule = LabelCap(max_label_values)
        self.severity = LabelCap(16)
        self.category = LabelCap(64)
        self.type = LabelCap(MAX_TYPES)
        self.reason = LabelCap(MAX_REASONS)
        self._orders: OrderedDict[str, _Open] = OrderedDict()
        self._lock = threading.Lock()
        self.followed: int | None = None  # the next seq to read (set by the follower)
        r = registry
        self.events = Counter(
            "tradetrail_events_journaled",
            "Journaled records by category and type.",
            ["category", "type"],
            registry=r,
        )
        self.last_event = Gauge(
            "tradetrail_last_event_timestamp_seconds",
            "The journal time (ts) of the newest record read.",
            registry=r,
        )
        self.submitted = Counter(
            "tradetrail_orders_submitted",
            "Orders submitted (order.submitted).",
            ["venue"],
            registry=r,
        )
        self.accepted = Counter(
            "tradetrail_orders_accepted",
            "Orders acknowledged (order.accepted).",
            ["venue"],
            registry=r,
        )
        self.rejected = Counter(
            "tradetrail_orders_rejected",
            "Orders rejected (order.rejected) by reason.",
            ["venue", "reason"],
            registry=r,
        )
        self.fills = Counter(
            "tradetrail_order_fills",
            "Executions (order.partially_filled and order.filled).",
            ["venue"],
            registry=r,
        )
        self.filled = Counter(
            "tradetrail_orders_filled",
            "Orders completely filled (order.filled).",
            ["venue"],
            registry=r,
        )
        self.failed = Counter(
            "tradetrail_execution_failures",
            "Attempted executions that failed (trade.execution_failed).",
            ["venue"],
            registry=r,
        )
        self.risk_rejected = Counter(
            "tradetrail_risk_rejections",
            "Actions a risk control blocked (risk.rejected) by rule.",
            ["rule"],
            registry=r,
        )
        self.ack_latency = Histogram(
            "tradetrail_order_ack_latency_seconds",
            "From order.submitted to order.accepted (the event's latency_us when given).",
            ["venue"],
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self.fill_latency = Histogram(
            "tradetrail_order_fill_latency_seconds",
            "From order.submitted to the order's first execution.",
            ["venue"],
            buckets=FILL_BUCKETS,
            registry=r,
        )
        self.slippage = Histogram(
            "tradetrail_fill_slippage_basis_points",
            "Execution price against the order's arrival_price (data.slippage_bps when given), "
            "in basis points; positive is worse.",
            ["venue"],
            buckets=SLIPPAGE_BUCKETS,
            registry=r,
        )
        self.api_errors = Counter(
            "tradetrail_venue_api_errors",
            "Venue API calls that failed (venue.api_error).",
            ["venue"],
            registry=r,
        )
        self.rate_limits = Counter(
            "tradetrail_venue_rate_limits",
            "Times a venue throttled us (venue.rate_limited).",
            ["venue"],
            registry=r,
        )
        self.clock_offset = Gauge(
            "tradetrail_clock_offset_seconds",
            "The last clock offset from the reference a host reported (system.clock_sync).",
            ["host"],
            registry=r,
        )
        self.alerts = Counter(
            "tradetrail_alerts_sent",
            "Alerts sent to supervisors (alert.sent) by severity.",
            ["severity"],
            registry=r,
        )
        self.alerts_failed = Counter(
            "tradetrail_alerts_failed", "Alerts that could not be sent (alert.failed).", registry=r
        )
        self.orders_tracked = Gauge(
            "tradetrail_metrics_open_orders",
            "Orders remembered for latency and slippage (bounded).",
            registry=r,
        )
        self.orders_tracked.set_function(lambda: len(self._orders))

    def observe(self, rec: dict[str, Any]) -> None:
        kind = rec.get("type")
        if not isinstance(kind, str):
            return
        self.events.labels(self.category(kind.split(".", 1)[0]), self.type(kind)).inc()
        at = _seconds(rec)
        ts = rec.get("ts")
        if isinstance(ts, str):
            with contextlib.suppress(ValueError):
                self.last_event.set(datetime.fromisoformat(ts).timestamp())
        data = rec.get("data")
        if not isinstance(data, dict):
            data = {}
        if kind.startswith("order.") or kind.startswith("trade."):
            self._order(kind, rec, data, at)
        elif kind == "risk.rejected":
            self.risk_rejected.labels(self.rule(data.get("rule"))).inc()
        elif kind == "venue.api_error":
            self.api_errors.labels(self.venue(rec.get("venue"))).inc()
        elif kind == "venue.rate_limited":
            self.rate_limits.labels(self.venue(rec.get("venue"))).inc()
        elif kind == "system.clock_sync":
            offset = _decimal(data.get("offset_us"))
            source = rec.get("source")
            host = source.get("host") if isinstance(source, dict) else None
            if offset is not None:
                self.clock_offset.labels(self.host(host)).set(float(offset) / 1e6)
        elif kind == "alert.sent":
            self.alerts.labels(self.severity(data.get("severity"))).inc()
        elif kind == "alert.failed":
            self.alerts_failed.inc()

    def _order(
        self, kind: str, rec: dict[str, Any], data: dict[str, Any], at: float | None
    ) -> None:
        key = rec.get("order_id") or rec.get("client_order_id")
        key = key if isinstance(key, str) else None
        known = self._orders.get(key) if key is not None else None
        venue = rec.get("venue") or (known.venue if known is not None else None)
        label = self.venue(venue)
        if kind == "order.submitted":
            self.submitted.labels(label).inc()
            if key is not None and at is not None:
                side = data.get("side")
                arrival = _decimal(data.get("arrival_price"))
                self._orders[key] = _Open(
                    at, str(venue or ""), side if isinstance(side, str) else None, arrival
                )
                self._orders.move_to_end(key)
                while len(self._orders) > MAX_OPEN_ORDERS:
                    self._orders.popitem(last=False)
        elif kind == "order.accepted":
            self.accepted.labels(label).inc()
            latency_us = data.get("latency_us")
            if isinstance(latency_us, int) and not isinstance(latency_us, bool) and latency_us >= 0:
                self.ack_latency.labels(label).observe(latency_us / 1e6)
            elif known is not None and not known.acked and at is not None:
                self.ack_latency.labels(label).observe(max(0.0, at - known.at))
            if known is not None:
                known.acked = True
        elif kind == "order.rejected":
            self.rejected.labels(label, self.reason(data.get("reason"))).inc()
        elif kind in ("order.partially_filled", "order.filled"):
            self.fills.labels(label).inc()
            if kind == "order.filled":
                self.filled.labels(label).inc()
            if known is not None and not known.filled and at is not None:
                self.fill_latency.labels(label).observe(max(0.0, at - known.at))
                known.filled = True
            bps = self._slippage(data, known)
            if bps is not None:
                self.slippage.labels(label).observe(bps)
        elif kind == "trade.execution_failed":
            self.failed.labels(label).inc()
        if kind in _TERMINAL and key is not None:
            self._orders.pop(key, None)

    @staticmethod
    def _slippage(data: dict[str, Any], known: _Open | None) -> float | None:
        given = _decimal(data.get("slippage_bps"))
        if given is not None:
            return float(given)
        price = _decimal(data.get("fill_price"))
        if known is None or known.arrival is None or price is None or known.arrival == 0:
            return None
        side = data.get("side") or known.side
        if not isinstance(side, str) or not side.startswith(("buy", "sell")):
            return None
        move = (price - known.arrival) / known.arrival * 10_000
        return float(move if side == "buy" else -move)  # sell, sell_short, sell_short_exempt
