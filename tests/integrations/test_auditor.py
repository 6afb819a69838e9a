"""The Auditor protocol: every helper's event type and envelope/data split, NullAuditor, and
TrailAuditor on a real trail."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from conftest import journal_records
from tradetrail.integrations.auditor import Auditor, NullAuditor, TrailAuditor
from tradetrail.integrations.testing import CapturedEvent, CapturedReceipt, CaptureTrail
from tradetrail.model.context import bind

D = Decimal

# method, args, kwargs, type, envelope fields, data
CASES: list[tuple[str, tuple[Any, ...], dict[str, Any], str, dict[str, Any], dict[str, Any]]] = [
    (
        "signal_received",
        ("SIG-1", "BTC-USD"),
        {"side": "buy", "strength": D("0.8"), "strategy": "mom"},
        "signal.received",
        {"signal_id": "SIG-1", "symbol": "BTC-USD", "strategy": "mom"},
        {"side": "buy", "strength": "0.8"},
    ),
    (
        "size_calculated",
        ("BTC-USD", D("0.25")),
        {"notional": D("16000.50"), "method": "vol-target", "signal_id": "SIG-1"},
        "risk.size_calculated",
        {"symbol": "BTC-USD", "signal_id": "SIG-1"},
        {"qty": "0.25", "notional": "16000.50", "method": "vol-target"},
    ),
    (
        "size_capped",
        ("BTC-USD", D("2"), D("1.5")),
        {"rule": "max_position", "limit": D("1.5"), "account": "ACC-1"},
        "risk.size_capped",
        {"symbol": "BTC-USD", "account": "ACC-1"},
        {"requested_qty": "2", "capped_qty": "1.5", "rule": "max_position", "limit": "1.5"},
    ),
    (
        "risk_passed",
        ("ETH-USD",),
        {"checks": ["max_position", "fat_finger"], "client_order_id": "C-1"},
        "risk.passed",
        {"symbol": "ETH-USD", "client_order_id": "C-1"},
        {"checks": ["max_position", "fat_finger"]},
    ),
    (
        "risk_rejected",
        ("max_open_orders", 5, 6),
        {"reason": "too many open orders", "symbol": "ETH-USD", "strategy": "mm"},
        "risk.rejected",
        {"symbol": "ETH-USD", "strategy": "mm"},
        # limit and observed are Decimal fields: an int is stored as its exact decimal string
        {
            "rule": "max_open_orders",
            "limit": "5",
            "observed": "6",
            "reason": "too many open orders",
        },
    ),
    (
        "order_submitted",
        ("O-1", "BTC-USD", "buy", D("0.5"), D("64250.10")),
        {"order_type": "limit", "time_in_force": "GTC", "client_order_id": "C-9", "venue": "x"},
        "order.submitted",
        {"order_id": "O-1", "symbol": "BTC-USD", "client_order_id": "C-9", "venue": "x"},
        {
            "side": "buy",
            "qty": "0.5",
            "price": "64250.10",
            "order_type": "limit",
            "time_in_force": "GTC",
        },
    ),
    (
        "order_accepted",
        ("O-1",),
        {"exchange_order_id": "X-77", "venue": "binance"},
        "order.accepted",
        {"order_id": "O-1", "exchange_order_id": "X-77", "venue": "binance"},
        {},
    ),
    (
        "order_rejected",
        ("O-2", "insufficient margin"),
        {"code": -2019, "symbol": "BTC-USD"},
        "order.rejected",
        {"order_id": "O-2", "symbol": "BTC-USD"},
        {"reason": "insufficient margin", "code": -2019},
    ),
    (
        "order_replaced",
        ("O-1",),
        {"new_order_id": "O-1b", "old_price": D("100"), "new_price": D("101.5")},
        "order.replaced",
        {"order_id": "O-1"},
        {"new_order_id": "O-1b", "old_price": "100", "new_price": "101.5"},
    ),
    (
        "cancel_requested",
        ("O-1",),
        {"reason": "stale quote"},
        "order.cancel_requested",
        {"order_id": "O-1"},
        {"reason": "stale quote"},
    ),
    (
        "order_cancelled",
        ("O-1",),
        {"remaining_qty": D("0.2"), "account": "ACC-1"},
        "order.cancelled",
        {"order_id": "O-1", "account": "ACC-1"},
        {"remaining_qty": "0.2"},
    ),
    (
        "order_partially_filled",
        ("O-1", D("0.1"), D("64250.1"), D("0.0643")),
        {"fee_currency": "USDT", "trade_id": "T-1", "cum_qty": D("0.1"), "liquidity": "maker"},
        "order.partially_filled",
        {"order_id": "O-1"},
        {
            "fill_qty": "0.1",
            "fill_price": "64250.1",
            "fee": "0.0643",
            "fee_currency": "USDT",
            "trade_id": "T-1",
            "cum_qty": "0.1",
            "liquidity": "maker",
        },
    ),
    (
        "order_filled",
        ("O-1", D("0.4"), D("64251")),
        {"remaining_qty": D("0"), "exchange_order_id": "X-77", "side": "buy"},
        "order.filled",
        {"order_id": "O-1", "exchange_order_id": "X-77"},
        {"fill_qty": "0.4", "fill_price": "64251", "remaining_qty": "0", "side": "buy"},
    ),
    (
        "api_error",
        ("binance", "POST /order", "502 Bad Gateway"),
        {"status": 502, "retryable": True, "order_id": "O-3"},
        "venue.api_error",
        {"venue": "binance", "order_id": "O-3"},
        {"operation": "POST /order", "error": "502 Bad Gateway", "status": 502, "retryable": True},
    ),
    (
        "rate_limited",
        ("binance",),
        {"operation": "POST /order", "retry_after": 1.5, "limit": "1200/min"},
        "venue.rate_limited",
        {"venue": "binance"},
        {"operation": "POST /order", "retry_after": 1.5, "limit": "1200/min"},
    ),
    (
        "retry",
        ("binance", "POST /order", 2),
        {"delay": 0.25, "max_attempts": 5, "error": "timeout"},
        "venue.retry",
        {"venue": "binance"},
        {"operation": "POST /order", "attempt": 2, "delay": 0.25, "max_attempts": 5},
    ),
    (
        "config_changed",
        ("risk.yaml", "a" * 64, "b" * 64),
        {"actor": "alice", "keys": ["max_position"]},
        "config.changed",
        {"actor": "alice"},
        {"path": "risk.yaml", "old_hash": "a" * 64, "new_hash": "b" * 64, "keys": ["max_position"]},
    ),
    (
        "login",
        ("alice",),
        {"method": "sso", "remote_addr": "10.0.0.7"},
        "auth.login",
        {"actor": "alice"},
        {"method": "sso", "remote_addr": "10.0.0.7"},
    ),
    (
        "logout",
        ("alice",),
        {"reason": "idle"},
        "auth.logout",
        {"actor": "alice"},
        {"reason": "idle"},
    ),
    (
        "login_failed",
        ("mallory", "bad password"),
        {"attempts": 3},
        "auth.login_failed",
        {"actor": "mallory"},
        {"reason": "bad password", "attempts": 3},
    ),
    (
        "alert_sent",
        ("pagerduty", "drawdown_5pct", "critical"),
        {"message": "drawdown 5.2%", "strategy": "mom"},
        "alert.sent",
        {"strategy": "mom"},
        {"channel": "pagerduty", "rule": "drawdown_5pct", "severity": "critical"},
    ),
    (
        "kill_switch",
        ("daily loss limit",),
        {"scope": "all", "actor": "risk-engine"},
        "risk.kill_switch",
        {"actor": "risk-engine", "priority": "critical"},
        {"reason": "daily loss limit", "engaged": True, "scope": "all"},
    ),
]

HELPERS = sorted(
    name for name, member in vars(Auditor).items() if callable(member) and not name.startswith("_")
)


def _last(trail: CaptureTrail) -> CapturedEvent:
    return trail.events[-1]


def test_every_helper_is_covered_by_a_case() -> None:
    assert sorted([*(case[0] for case in CASES), "event"]) == HELPERS


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_helper_records_its_type_envelope_and_data(case: tuple[Any, ...]) -> None:
    method, args, kwargs, event_type, envelope, data = case
    trail = CaptureTrail()
    receipt = getattr(TrailAuditor(trail), method)(*args, **kwargs)
    assert isinstance(receipt, CapturedReceipt)
    event = _last(trail)
    assert event.type == event_type
    assert receipt.event_id == event.event_id
    for name, value in envelope.items():
        assert event.fields[name] == value, name
    for name, value in data.items():
        assert event.data[name] == value, name
    # identifiers never leak into data, and no None is stored
    assert not set(event.data) & set(envelope)
    assert None not in event.data.values()


def test_none_arguments_are_left_out() -> None:
    trail = CaptureTrail()
    TrailAuditor(trail).order_submitted("O-1", "BTC-USD", "sell", D("1"))
    event = _last(trail)
    assert event.data == {"side": "sell", "qty": "1"}
    assert set(event.fields) == {"event_id", "order_id", "symbol"}


def test_extra_keywords_are_routed_by_name() -> None:
    trail = CaptureTrail()
    TrailAuditor(trail).order_accepted(
        "O-1",
        correlation_id="corr-1",
        actor="oms",
        priority="high",
        event_ts="2024-03-01T12:00:00.123456789Z",
        latency_us=412,
        status="NEW",
        ignored=None,
    )
    event = _last(trail)
    assert event.fields["correlation_id"] == "corr-1"
    assert event.fields["actor"] == "oms"
    assert event.fields["priority"] == "high"
    assert event.fields["event_ts"] == "2024-03-01T12:00:00.123456789Z"
    assert event.data == {"latency_us": 412, "status": "NEW"}


def test_an_event_without_details_has_no_data() -> None:
    trail = CaptureTrail()
    TrailAuditor(trail).order_accepted("O-1")
    assert "data" not in _last(trail).record


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda a: a.order_submitted("O-1", "BTC-USD", "buy", 0.1), "qty"),
        (lambda a: a.order_submitted("O-1", "BTC-USD", "buy", D("1"), 99.5), "price"),
        (lambda a: a.order_filled("O-1", D("1"), D("2"), 0.01), "fee"),
        (lambda a: a.risk_rejected("max_notional", D("1e6"), 1000000.5), "observed"),
        (lambda a: a.size_capped("BTC-USD", D("2"), 1.0), "capped_qty"),
    ],
)
def test_floats_are_refused_for_amounts(call: Callable[[TrailAuditor], Any], name: str) -> None:
    trail = CaptureTrail()
    with pytest.raises(TypeError, match=rf"^{name}: float .* is inexact; pass a Decimal"):
        call(TrailAuditor(trail))
    assert len(trail.events) == 0


def test_a_bad_event_raises_like_record() -> None:
    auditor = TrailAuditor(CaptureTrail())
    with pytest.raises(TypeError, match=r"^data.when: set is not JSON serialisable"):
        auditor.order_accepted("O-1", when={1})
    with pytest.raises(ValueError, match=r"^priority: 'urgent'"):
        auditor.order_accepted("O-1", priority="urgent")
    with pytest.raises(ValueError, match=r"^order_id: must be 1..512"):
        auditor.order_accepted("")


def test_kill_switch_priority_can_be_overridden() -> None:
    trail = CaptureTrail()
    TrailAuditor(trail).kill_switch("test drill", engaged=False, priority="normal")
    event = _last(trail)
    assert event.fields["priority"] == "normal"
    assert event.data["engaged"] is False


def test_generic_event_passes_straight_to_record() -> None:
    trail = CaptureTrail()
    TrailAuditor(trail).event("nav.computed", {"nav": D("1000.01")}, account="ACC-1")
    event = _last(trail)
    assert (event.type, event.data, event.fields["account"]) == (
        "nav.computed",
        {"nav": "1000.01"},
        "ACC-1",
    )
    with pytest.raises(TypeError, match=r"^nav: unknown envelope field"):
        TrailAuditor(trail).event("nav.computed", nav=1)


def test_bound_context_applies_and_none_does_not_hide_it() -> None:
    trail = CaptureTrail()
    with bind(strategy="mom", account="ACC-1"):
        TrailAuditor(trail).order_submitted("O-1", "BTC-USD", "buy", D("1"), account=None)
        TrailAuditor(trail).order_submitted("O-2", "BTC-USD", "buy", D("1"), account="ACC-2")
    first, second = trail.events
    assert (first.fields["strategy"], first.fields["account"]) == ("mom", "ACC-1")
    assert second.fields["account"] == "ACC-2"  # an explicit argument wins


def test_null_auditor_does_nothing() -> None:
    auditor = NullAuditor()
    for method, args, kwargs, *_ in CASES:
        assert getattr(auditor, method)(*args, **kwargs) is None
    assert auditor.event("anything.at_all", {"x": object()}) is None


def test_null_auditor_builds_nothing() -> None:
    """Its helpers are a no-op (one call in a backtest): not even a float amount is looked at,
    as before the helpers were written once."""
    auditor = NullAuditor()
    assert auditor.order_filled("O-1", 0.5, 64000.0, fee=0.1) is None  # type: ignore[arg-type]
    assert auditor.kill_switch("test") is None
    assert repr(auditor.order_filled).startswith("<bound method NullAuditor.order_filled of")
    assert NullAuditor.order_filled.__doc__ == Auditor.order_filled.__doc__


def test_a_subclass_that_implements_emit_gets_every_helper() -> None:
    """The helpers live on the Protocol and send what they build to `_emit`, the one method
    TrailAuditor implements; a user's auditor can do the same."""
    sent: list[tuple[str, Any, dict[str, Any]]] = []

    class Listing(Auditor):
        def _emit(self, event_type: str, data: Any, /, **fields: Any) -> None:
            sent.append((event_type, data, fields))

    auditor = Listing()
    auditor.order_rejected("O-2", "insufficient margin", code=-2019, symbol=None, actor="bot")
    auditor.event("nav.computed", {"nav": D("1")}, account="ACC-1")
    assert sent == [
        (
            "order.rejected",
            {"reason": "insufficient margin", "code": -2019},
            {"order_id": "O-2", "actor": "bot"},
        ),
        ("nav.computed", {"nav": D("1")}, {"account": "ACC-1"}),
    ]
    with pytest.raises(TypeError, match=r"^qty: float 0\.5 is inexact"):
        auditor.order_submitted("O-1", "BTC-USD", "buy", 0.5)  # type: ignore[arg-type]


def test_a_structural_auditor_needs_no_emit() -> None:
    """`_emit` is how the implementations here share the helpers, not a Protocol member."""

    class Own:
        pass

    for name in HELPERS:
        setattr(Own, name, lambda self, *args, **kwargs: None)
    assert isinstance(Own(), Auditor)


def test_implementations_have_the_protocol_signatures() -> None:
    for name in HELPERS:
        expected = inspect.signature(getattr(Auditor, name))
        for cls in (TrailAuditor, NullAuditor):
            assert inspect.signature(getattr(cls, name)) == expected, (cls.__name__, name)


def test_both_implementations_satisfy_the_protocol() -> None:
    assert isinstance(TrailAuditor(CaptureTrail()), Auditor)
    assert isinstance(NullAuditor(), Auditor)


class _Risk:
    """A component as users write them: the auditor is injected, optional."""

    def __init__(self, auditor: Auditor | None = None) -> None:
        self.auditor = auditor or NullAuditor()

    def check(self, symbol: str, qty: Decimal, limit: Decimal) -> bool:
        if qty > limit:
            self.auditor.risk_rejected("max_position", limit, qty, symbol=symbol)
            return False
        self.auditor.risk_passed(symbol, checks=["max_position"])
        return True


def test_dependency_injection_pattern() -> None:
    assert _Risk().check("BTC-USD", D("2"), D("1")) is False  # no auditor: nothing happens
    trail = CaptureTrail()
    risk = _Risk(TrailAuditor(trail))
    assert risk.check("BTC-USD", D("2"), D("1")) is False
    assert risk.check("BTC-USD", D("0.5"), D("1")) is True
    assert trail.events.types == ["risk.rejected", "risk.passed"]
    assert trail.events.find("risk.rejected", rule="max_position", observed=D("2")) is not None


def test_trail_auditor_on_a_real_trail(open_trail: Callable[..., Any], home: Any) -> None:
    trail = open_trail()
    auditor = TrailAuditor(trail)
    r1 = auditor.order_submitted("O-1", "BTC-USD", "buy", D("0.5"), D("64250.10"), venue="x")
    r2 = auditor.order_filled("O-1", D("0.5"), D("64250.10"), D("0.03"), fee_currency="USD")
    assert r1 is not None and r2 is not None
    assert (r1.wait(5), r2.wait(5)) == (0, 1)
    trail.flush(5)
    submitted, filled = journal_records(home)
    assert submitted["type"] == "order.submitted"
    assert submitted["order_id"] == "O-1" and submitted["venue"] == "x"
    assert submitted["data"] == {"side": "buy", "qty": "0.5", "price": "64250.10"}
    assert filled["type"] == "order.filled"
    assert filled["data"]["fee"] == "0.03"
