"""The typed event model (tradetrail.model.events): every type validates a realistic event, bad data
fails naming the field, money is exact, times are aware, user types get the same checks, unknown
types stay free-form, and the JSON Schema covers everything."""

import json
import re
import timeit
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from types import MappingProxyType
from typing import Any, ClassVar

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec import inspect as mi

from helpers import ROOT
from tradetrail.core import canonical
from tradetrail.model.events import (
    BUILTIN_TYPES,
    DEFAULT_MODEL,
    AwareDatetime,
    Envelope,
    EventData,
    EventModel,
)

T0 = datetime(2024, 3, 1, 14, 30, 5, 123456, tzinfo=UTC)
EID = "018e0b5c-7a3e-7cde-8f00-3b2a1c0d9e8f"

# One realistic `data` per built-in type (identifiers such as order_id, symbol and account are
# envelope fields, so they do not appear here).
EXAMPLES: dict[str, dict[str, Any]] = {
    "signal.received": {
        "origin": "tradingview-webhook",
        "side": "buy",
        "action": "enter_long",
        "strength": Decimal("0.82"),
        "price": Decimal("64210.5"),
        "timeframe": "15m",
        "payload": {"alert": "ema_cross", "fast": 9, "slow": 21},
    },
    "signal.processed": {"outcome": "accepted", "orders_created": 1, "latency_us": 412},
    "risk.size_calculated": {
        "qty": Decimal("0.125"),
        "method": "fixed_fractional",
        "equity": Decimal("250000.00"),
        "risk_fraction": Decimal("0.01"),
        "stop_distance": Decimal("1250.0"),
        "price": Decimal("64210.5"),
        "leverage": Decimal("3"),
    },
    "risk.size_capped": {
        "requested_qty": Decimal("0.5"),
        "capped_qty": Decimal("0.25"),
        "rule": "max_position_notional",
        "limit": Decimal("20000"),
        "reason": "notional 32105.25 USD above 20000 USD",
    },
    "order.submitted": {
        "side": "buy",
        "order_type": "limit",
        "qty": Decimal("0.25"),
        "price": Decimal("64200.0"),
        "arrival_price": Decimal("64212.5"),
        "time_in_force": "gtc",
        "post_only": True,
        "stop_loss": Decimal("62950.0"),
        "take_profit": Decimal("66700.0"),
        "algo_id": "ema-cross-v3",
        "capacity": "principal",
        "expire_at": T0 + timedelta(hours=8),
    },
    "order.accepted": {"status": "NEW", "remaining_qty": Decimal("0.25"), "latency_us": 18250},
    "order.rejected": {
        "reason": "insufficient margin",
        "code": -2019,
        "rejected_by": "venue",
    },
    "order.replaced": {
        "new_order_id": "o-20240301-0008",
        "orig_client_order_id": "c-20240301-0007",
        "old_price": Decimal("64200.0"),
        "new_price": Decimal("64150.0"),
        "old_qty": Decimal("0.25"),
        "new_qty": Decimal("0.20"),
        "reason": "reprice to touch",
    },
    "order.cancel_requested": {"reason": "signal reversed"},
    "order.cancelled": {
        "reason": "user",
        "cancelled_by": "trader",
        "remaining_qty": Decimal("0.15"),
        "filled_qty": Decimal("0.10"),
    },
    "order.expired": {
        "time_in_force": "day",
        "remaining_qty": Decimal("100"),
        "filled_qty": Decimal("0"),
    },
    "order.stop_updated": {
        "stop_loss": Decimal("63500"),
        "old_stop_loss": Decimal("62950.0"),
        "trailing_distance": Decimal("700"),
        "reason": "trail",
    },
    "order.partially_filled": {
        "fill_qty": Decimal("0.10"),
        "fill_price": Decimal("64150.0"),
        "cum_qty": Decimal("0.10"),
        "remaining_qty": Decimal("0.10"),
        "side": "buy",
        "fee": Decimal("0.0000100"),
        "fee_currency": "BTC",
        "trade_id": "t-88120345",
        "liquidity": "maker",
    },
    "order.filled": {
        "fill_qty": Decimal("0.10"),
        "fill_price": Decimal("64145.0"),
        "cum_qty": Decimal("0.20"),
        "remaining_qty": Decimal("0"),
        "avg_price": Decimal("64147.5"),
        "trade_id": "t-88120377",
        "fee": Decimal("2.56590"),
        "fee_currency": "USDT",
        "liquidity": "taker",
    },
    "instrument.defined": {
        "currency": "USD",
        "settlement_days": 1,
        "settlement_calendar": "weekdays",
        "holidays": [date(2024, 7, 4)],
        "asset_class": "equity",
        "description": "Apple Inc. common stock",
        "isin": "US0378331005",
        "tick_size": Decimal("0.01"),
        "lot_size": Decimal("1"),
    },
    "trade.executed": {
        "side": "sell_short",
        "qty": Decimal("300"),
        "price": Decimal("187.4312"),
        "trade_id": "T-55102",
        "notional": Decimal("56229.36"),
        "currency": "USD",
        "fee": Decimal("1.05"),
        "fee_currency": "USD",
        "counterparty": "NSDQ",
        "trade_date": date(2024, 3, 1),
        "settlement_date": date(2024, 3, 4),
    },
    "trade.execution_failed": {
        "reason": "timeout waiting for venue ack",
        "side": "buy",
        "qty": Decimal("0.25"),
        "retryable": True,
    },
    "risk.passed": {
        "checks": ["max_notional", "price_collar", "restricted_list", "fat_finger"],
        "notional": Decimal("16050.00"),
        "exposure_after": Decimal("48150.00"),
        "latency_us": 35,
    },
    "risk.rejected": {
        "rule": "price_collar",
        "limit": Decimal("0.05"),
        "observed": Decimal("0.083"),
        "unit": "fraction from last",
        "reason": "limit price 8.3% through last trade",
    },
    "risk.limit_breached": {
        "rule": "daily_loss",
        "limit": Decimal("-5000"),
        "observed": Decimal("-5231.77"),
        "unit": "USD",
        "action": "kill_switch",
    },
    "risk.leverage_set": {"leverage": Decimal("5"), "old_leverage": Decimal("10")},
    "risk.margin_type_set": {"margin_type": "isolated", "old_margin_type": "cross"},
    "risk.kill_switch": {
        "engaged": True,
        "reason": "daily loss limit",
        "scope": "account",
        "trigger": "automatic:daily_loss",
        "orders_cancelled": 7,
        "positions_flattened": True,
    },
    "venue.api_error": {
        "error": "Timestamp for this request is outside of the recvWindow.",
        "operation": "place_order",
        "endpoint": "/fapi/v1/order",
        "method": "POST",
        "status": 400,
        "code": -1021,
        "retryable": True,
    },
    "venue.retry": {
        "attempt": 2,
        "max_attempts": 5,
        "delay": 0.4,
        "operation": "place_order",
        "error": "HTTP 503",
    },
    "venue.rate_limited": {
        "operation": "place_order",
        "limit": "1200 weight/min",
        "used": 1200,
        "retry_after": 2.5,
        "scope": "ip",
    },
    "venue.connectivity_lost": {
        "channel": "websocket",
        "endpoint": "wss://fstream.example.com/ws",
        "reason": "ping timeout",
        "last_message_at": T0 - timedelta(seconds=31),
    },
    "venue.connectivity_restored": {
        "channel": "websocket",
        "downtime_ms": 4210,
        "resynced": True,
    },
    "venue.position_queried": {
        "positions": [
            {
                "symbol": "BTCUSDT",
                "qty": Decimal("0.20"),
                "avg_price": Decimal("64147.5"),
                "mark_price": Decimal("64302.1"),
                "unrealized_pnl": Decimal("30.92"),
                "leverage": Decimal("5"),
                "margin_type": "isolated",
            },
            {"symbol": "ETHUSDT", "qty": Decimal("-1.5"), "avg_price": Decimal("3410.2")},
        ],
        "as_of": T0,
    },
    "venue.balance_queried": {
        "balances": [
            {"asset": "USDT", "total": Decimal("250310.55"), "available": Decimal("233100.1")},
            {"asset": "BNB", "total": Decimal("1.204"), "locked": Decimal("0")},
        ],
        "as_of": T0,
    },
    "portfolio.position_snapshot": {
        "positions": [
            {
                "symbol": "AAPL",
                "qty": Decimal("-300"),
                "avg_price": Decimal("187.4312"),
                "mark_price": Decimal("186.90"),
                "market_value": Decimal("-56070.00"),
                "currency": "USD",
            }
        ],
        "as_of": T0,
        "currency": "USD",
    },
    "portfolio.nav_computed": {
        "cash": Decimal("1204331.17"),
        "positions_at_mark": Decimal("-56070.00"),
        "fees": Decimal("1.05"),
        "accruals": Decimal("212.40"),
        "nav": Decimal("1148472.52"),
        "currency": "USD",
        "as_of": T0.replace(hour=21, minute=0, second=0, microsecond=0),
        "shares_outstanding": Decimal("100000"),
        "nav_per_share": Decimal("11.4847252"),
        "pricing_source": "consolidated close",
    },
    "portfolio.fee_charged": {
        "amount": Decimal("1.05"),
        "currency": "USD",
        "fee_type": "commission",
        "rate": Decimal("0.0035"),
        "trade_id": "T-55102",
    },
    "config.changed": {
        "path": "risk.max_position_notional",
        "old_hash": "sha256:" + "1f" * 32,
        "new_hash": "sha256:" + "a0" * 32,
        "keys": ["max_position_notional"],
        "old_value": "20000",
        "new_value": "25000",
        "reason": "desk head approval",
        "approved_by": "j.doe",
        "ticket": "RISK-1142",
    },
    "config.snapshot": {
        "hash": "sha256:" + "a0" * 32,
        "path": "/etc/bot/config.yaml",
        "version": "2024.03.01-2",
        "content": {"risk": {"max_position_notional": "25000"}, "venues": ["binance"]},
    },
    "auth.login": {
        "method": "sso",
        "session_id": "s-7f3a",
        "remote_addr": "203.0.113.7",
        "user_agent": "Mozilla/5.0",
        "mfa": True,
    },
    "auth.logout": {"session_id": "s-7f3a", "reason": "timeout"},
    "auth.login_failed": {
        "reason": "bad password",
        "username": "jdoe",
        "method": "password",
        "remote_addr": "198.51.100.23",
        "attempts": 3,
    },
    "auth.permission_changed": {
        "subject": "asmith",
        "granted": ["orders:submit"],
        "revoked": ["config:write"],
        "role": "trader",
        "old_role": "admin",
        "reason": "quarterly access review",
        "approved_by": "ciso",
    },
    "auth.api_key_created": {
        "key_id": "ak_3f9c",
        "subject": "bot-eu-1",
        "permissions": ["trade", "read"],
        "ip_allowlist": ["203.0.113.0/24"],
        "expires_at": T0 + timedelta(days=90),
    },
    "auth.api_key_revoked": {"key_id": "ak_3f9c", "reason": "rotation"},
    "alert.sent": {
        "channel": "pagerduty",
        "rule": "daily_loss_80pct",
        "severity": "critical",
        "message": "Daily loss at 82% of limit",
        "recipients": ["risk-desk"],
        "value": Decimal("-4100.12"),
        "threshold": Decimal("-4000"),
        "seqs": [4051, 4077],
        "action": "trigger",
        "attempts": 1,
    },
    "alert.failed": {
        "channel": "slack:ops",
        "rule": "venue_api_errors",
        "severity": "error",
        "error": "HTTP 503 from hooks.slack.com after 3 attempts",
        "alert_id": "venue_api_errors/BINANCE",
        "seqs": [811, 812, 815, 816, 820, 823],
        "action": "trigger",
        "attempts": 3,
    },
    "system.service_started": {
        "version": "1.8.2",
        "config_hash": "sha256:" + "a0" * 32,
        "mode": "live",
    },
    "system.service_stopped": {
        "reason": "deploy",
        "exit_code": 0,
        "uptime_ms": 86_400_000,
        "clean": True,
    },
    "log.record": {
        "message": "venue reconnected",
        "logger": "oms.venue",
        "level": "WARNING",
        "exc": "Traceback (most recent call last): ...",
        "stack": "Stack (most recent call last): ...",
    },
    "log.fallback": {
        "intended_type": "order.submitted",
        "reason": "ValueError: data.qty: required by order.submitted but missing",
    },
    "system.clock_sync": {
        "offset_us": Decimal("-37.5"),
        "source": "ntp:time.example.net",
        "max_divergence_us": Decimal("100"),
        "within_tolerance": True,
        "stratum": 2,
    },
    "compliance.attestation": {
        "statement": "I reviewed the daily pack and found no exceptions.",
        "subject": "daily_pack:2024-03-01",
        "period_start": date(2024, 3, 1),
        "period_end": date(2024, 3, 1),
        "digest": "sha256:" + "c4" * 32,
        "signer_key": "cco.jane.roe+2f0a6a1c+AWwC1BVj9vyWwp66sGUFMhqWGl4sJGu5Xn0XYyIxfRy6",
    },
    "compliance.exception_noted": {
        "description": "Order submitted before pre-trade risk check completed",
        "exception_id": "EX-2024-031",
        "rule": "SEC 15c3-5",
        "severity": "error",
        "remediation": "await risk.passed before submit",
        "due": date(2024, 3, 15),
        "related_event_ids": [EID],
    },
    "compliance.approval_granted": {
        "subject": "raise max_position_notional to 25000",
        "scope": "desk-1",
        "ticket": "RISK-1142",
        "request_event_id": EID,
        "expires_at": T0 + timedelta(days=30),
    },
    "compliance.record_corrected": {
        "reason": "fee misbooked: venue rebate applied late",
        "corrects_event_id": EID,
        "corrects_seq": 18842,
        "corrections": {"fee": "0.95"},
        "approved_by": "ops-lead",
    },
    "compliance.export_made": {
        "kind": "daily_pack",
        "period_start": date(2024, 3, 1),
        "period_end": date(2024, 3, 1),
        "digest": "sha256:" + "c4" * 32,
        "records": 18842,
        "path": "exports/daily/2024-03-01",
    },
    "compliance.records_removed": {
        "reason": "past retention: system 90 days",
        "days": [date(2024, 3, 1), date(2024, 3, 2)],
        "first_seq": 0,
        "last_seq": 18841,
        "policy_digest": "sha256:" + "d5" * 32,
        "pack_digests": {"2024-03-01": "sha256:" + "e6" * 32},
        "range_root": "f7" * 32,
    },
    "compliance.archive_pushed": {
        "location": "s3://records/trail.example.com/desk-1/",
        "days": [date(2024, 3, 1), date(2024, 3, 2)],
        "objects": 41,
        "bytes": 1_882_410,
        "lock_mode": "COMPLIANCE",
        "retain_until": date(2031, 3, 3),
        "legal_holds": [date(2024, 3, 1)],
        "endpoint": "https://s3.eu-west-1.amazonaws.com",
    },
    "compliance.restore_drill": {
        "location": "s3://records/trail.example.com/desk-1/",
        "days": [date(2024, 3, 1), date(2024, 11, 7)],
        "passed": 2,
        "failed": 0,
        "duration_ms": 1840,
    },
    "compliance.verification_run": {
        "ok": True,
        "size": 18843,
        "faults": 0,
        "first_seq": 18000,
        "last_seq": 18842,
        "warnings": 0,
        "sampled_days": [date(2024, 2, 12)],
        "duration_ms": 412,
    },
    "alert.raised": {
        "rule": "tradetrail.job_failed",
        "severity": "error",
        "message": "job daily-pack failed: no signed checkpoint covers 2024-03-01",
        "alert_id": "tradetrail.job_failed/daily-pack",
        "job": "daily-pack",
        "days": [date(2024, 3, 1)],
    },
    "trail.key_rotated": {
        "old_vkey": "desk+0a1b2c3d+AXx6WJ0FZ3fd5CRSsXQm3ky/qQnG0lnBWCmFEPHUjuGH",
        "new_vkey": "desk+4e5f6a7b+ARXkEyYDIBQWzZnmPTQbQmEmoVcmm1bZm5M9gm9A0PLm",
        "from_size": 18843,
        "note": "tradetrail key rotation v1\ndesk\n18843\n...\n",
        "reason": "scheduled yearly rotation",
    },
}

REQUIRED_BY_BRIEF = {
    "signal.received", "signal.processed", "risk.size_calculated", "risk.size_capped",
    "order.submitted", "order.accepted", "order.rejected", "order.replaced",
    "order.cancel_requested", "order.cancelled", "order.expired", "order.stop_updated",
    "order.partially_filled", "order.filled", "trade.executed", "trade.execution_failed",
    "risk.passed", "risk.rejected", "risk.limit_breached", "risk.leverage_set",
    "risk.margin_type_set", "risk.kill_switch", "venue.api_error", "venue.retry",
    "venue.rate_limited", "venue.connectivity_lost", "venue.connectivity_restored",
    "venue.position_queried", "venue.balance_queried", "portfolio.position_snapshot",
    "portfolio.nav_computed", "portfolio.fee_charged", "config.changed", "config.snapshot",
    "auth.login", "auth.logout", "auth.login_failed", "auth.permission_changed",
    "auth.api_key_created", "auth.api_key_revoked", "alert.sent", "system.service_started",
    "system.service_stopped", "system.clock_sync", "compliance.attestation",
    "compliance.exception_noted", "compliance.approval_granted", "compliance.record_corrected",
}  # fmt: skip

TYPES = sorted(EXAMPLES)


def struct_of(event_type: str) -> type[msgspec.Struct]:
    cls = DEFAULT_MODEL.get(event_type)
    assert cls is not None
    return cls


def fields_of(event_type: str) -> tuple[mi.Field, ...]:
    info = mi.type_info(struct_of(event_type))
    assert isinstance(info, mi.StructType)
    return info.fields


def members(t: mi.Type) -> tuple[mi.Type, ...]:
    return t.types if isinstance(t, mi.UnionType) else (t,)


def fields_where(kind: type) -> Iterator[tuple[str, str]]:
    """(type, field) for every top-level field whose type is (optionally) `kind`."""
    for event_type in TYPES:
        for f in fields_of(event_type):
            if any(isinstance(m, kind) for m in members(f.type)):
                yield event_type, f.encode_name


def encode(data: dict[str, Any] | None) -> bytes:
    return canonical.encode_value(data, "data")


# --------------------------------------------------------------------------- coverage


REVISED = {
    "alert.sent": 2,
    "compliance.attestation": 2,
    "order.submitted": 2,
    "order.partially_filled": 2,
    "order.filled": 2,
}
"""Types revised since their first version (a revision only adds optional fields)."""

TRADETRAIL_OWN = {
    "alert.failed",
    "alert.raised",
    "compliance.verification_run",
    "trail.key_rotated",
    "instrument.defined",
    "compliance.export_made",
    "compliance.records_removed",
    "compliance.archive_pushed",
    "compliance.restore_drill",
    "log.record",
    "log.fallback",
}
"""Types that tradetrail's own commands (exports, retention) and integrations record, and the
reference data its daily pack's blotter joins (instrument.defined)."""


def test_every_type_of_the_brief_is_built_in_and_has_an_example() -> None:
    assert set(DEFAULT_MODEL.types()) == REQUIRED_BY_BRIEF | TRADETRAIL_OWN
    assert set(EXAMPLES) == REQUIRED_BY_BRIEF | TRADETRAIL_OWN
    assert DEFAULT_MODEL.types() == sorted(DEFAULT_MODEL.types())


@pytest.mark.parametrize("cls", BUILTIN_TYPES, ids=lambda c: c.TYPE)
def test_builtin_structs_follow_the_conventions(cls: type[EventData]) -> None:
    assert canonical.TYPE_PATTERN.match(cls.TYPE)
    assert REVISED.get(cls.TYPE, 1) == cls.VERSION
    assert cls.__doc__
    # class name is the CamelCase of the type name: OrderSubmitted <-> order.submitted
    camel = "".join(p.capitalize() for p in re.split(r"[._]", cls.TYPE))
    assert cls.__name__ == camel
    config = cls.__struct_config__
    assert config.forbid_unknown_fields and config.omit_defaults and config.frozen
    assert cls.__match_args__ == ()  # every field keyword-only
    for name in ("order_id", "client_order_id", "symbol", "account", "venue", "strategy"):
        assert name not in cls.__struct_fields__, f"{name} belongs in the envelope"
    assert DEFAULT_MODEL.type_of(cls) == cls.TYPE


_MODULE_OF_CATEGORY = {"instrument": "trade", "alert": "system"}
"""Categories that share a module with a related one; every other has a module of its name."""


@pytest.mark.parametrize("cls", BUILTIN_TYPES, ids=lambda c: c.TYPE)
def test_builtin_struct_lives_in_its_category_module_and_keeps_the_old_path(
    cls: type[EventData],
) -> None:
    """tradetrail.model.events was one module: every name it defined stays importable from it."""
    from tradetrail.model import events

    category = cls.TYPE.split(".", 1)[0]
    assert (
        cls.__module__ == f"tradetrail.model.events.{_MODULE_OF_CATEGORY.get(category, category)}"
    )
    assert getattr(events, cls.__name__) is cls
    assert cls.__name__ in events.__all__


def test_shared_names_of_the_former_single_module_stay_importable() -> None:
    from tradetrail.model import events

    former = [
        "AwareDatetime",
        "BalanceEntry",
        "Capacity",
        "DEFAULT_MODEL",
        "Envelope",
        "EventData",
        "EventId",
        "EventModel",
        "FloatCheck",
        "Ident",
        "Liquidity",
        "MarginType",
        "PositionEntry",
        "Seq",
        "Severity",
        "Side",
        "Source",
        "Spill",
        "BUILTIN_TYPES",
    ]
    assert [name for name in former if not hasattr(events, name)] == []
    assert set(former) <= set(events.__all__)


# --------------------------------------------------------------------------- valid events


@pytest.mark.parametrize("event_type", TYPES)
def test_realistic_example_validates_and_encodes(event_type: str) -> None:
    data = EXAMPLES[event_type]
    out = DEFAULT_MODEL.validate(event_type, data)
    assert out is not None
    assert None not in out.values()
    # exact: Decimals stay Decimal (the encoder writes decimal strings), datetimes stay aware
    for key, value in data.items():
        if isinstance(value, Decimal | datetime | date):
            assert out[key] == value and type(out[key]) is type(value)
    line = encode(out)
    parsed = orjson.loads(line)
    for key, value in out.items():
        if isinstance(value, Decimal):
            assert parsed[key] == format(value, "f")  # a plain decimal string, never a float
    prepared = canonical.prepare(event_type, out, {"symbol": "BTCUSDT"}, None, 1 << 20)
    assert prepared.fields()["data"] == orjson.loads(line)


@pytest.mark.parametrize("event_type", TYPES)
def test_json_sourced_data_validates_to_the_same_bytes(event_type: str) -> None:
    """Data read back from the journal (decimal strings, RFC 3339 times) is valid too."""
    first = encode(DEFAULT_MODEL.validate(event_type, EXAMPLES[event_type]))
    parsed = orjson.loads(first)
    again = DEFAULT_MODEL.validate(event_type, parsed)
    assert encode(again) == first
    # the fast path's result is exactly what the general path (to_builtins) gives
    converted = msgspec.convert(parsed, struct_of(event_type))
    assert again == msgspec.to_builtins(converted, builtin_types=(Decimal, datetime, date))


@pytest.mark.parametrize("event_type", TYPES)
def test_struct_instance_is_accepted(event_type: str) -> None:
    cls = struct_of(event_type)
    out = DEFAULT_MODEL.validate(event_type, EXAMPLES[event_type])
    instance = msgspec.convert(out, cls)
    assert DEFAULT_MODEL.type_of(instance) == event_type
    from_struct = DEFAULT_MODEL.validate(event_type, instance)
    assert from_struct == out
    assert encode(from_struct) == encode(out)


def test_struct_built_in_code() -> None:
    from tradetrail.model.events import OrderSubmitted, VenuePositionQueried

    order = OrderSubmitted(side="sell", order_type="market", qty=Decimal("2"), reduce_only=True)
    assert DEFAULT_MODEL.validate("order.submitted", order) == {
        "side": "sell",
        "order_type": "market",
        "qty": Decimal("2"),
        "reduce_only": True,
    }
    bad = OrderSubmitted(side="buy", order_type="market", qty=2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^data\.qty: expected a decimal, got float"):
        DEFAULT_MODEL.validate("order.submitted", bad)
    naive = OrderSubmitted(side="buy", order_type="limit", qty=Decimal(1), expire_at=datetime.now())
    with pytest.raises(ValueError, match=r"^data\.expire_at: naive datetime"):
        DEFAULT_MODEL.validate("order.submitted", naive)
    with pytest.raises(TypeError, match=r"data: OrderSubmitted is not the data of 'order\.filled'"):
        DEFAULT_MODEL.validate("order.filled", order)
    with pytest.raises(TypeError, match=r"is the data of 'order\.submitted'"):
        DEFAULT_MODEL.validate("order.custom_thing", order)
    nested = VenuePositionQueried(positions=[])
    assert DEFAULT_MODEL.validate("venue.position_queried", nested) == {"positions": []}


def test_decimal_inputs_ints_and_strings_give_the_same_record() -> None:
    as_decimal = {
        "side": "buy",
        "order_type": "limit",
        "qty": Decimal("3"),
        "price": Decimal("1.50"),
    }
    as_text = {"side": "buy", "order_type": "limit", "qty": "3", "price": "1.50"}
    as_int = {"side": "buy", "order_type": "limit", "qty": 3, "price": "1.50"}
    outs = [DEFAULT_MODEL.validate("order.submitted", d) for d in (as_decimal, as_text, as_int)]
    assert outs[0] == outs[1] == outs[2]
    assert {encode(o) for o in outs} == {
        b'{"order_type":"limit","price":"1.50","qty":"3","side":"buy"}'
    }
    assert all(type(o["qty"]) is Decimal for o in outs if o)


def test_none_fields_are_omitted_and_input_is_not_mutated() -> None:
    data = {"side": "buy", "order_type": "market", "qty": Decimal("1"), "price": None}
    out = DEFAULT_MODEL.validate("order.submitted", data)
    assert out == {"side": "buy", "order_type": "market", "qty": Decimal("1")}
    assert data["price"] is None and len(data) == 4
    nested = {"positions": [{"symbol": "X", "qty": "1", "avg_price": None}]}
    assert DEFAULT_MODEL.validate("venue.position_queried", nested) == {
        "positions": [{"symbol": "X", "qty": Decimal("1")}]
    }


def test_other_timezones_and_string_times_are_accepted() -> None:
    tz = timezone(timedelta(hours=-5))
    for when in (T0.astimezone(tz), "2024-03-01T09:30:05.123456-05:00", "2024-03-01T14:30:05Z"):
        out = DEFAULT_MODEL.validate("venue.connectivity_lost", {"last_message_at": when})
        assert out is not None and out["last_message_at"].utcoffset() is not None


def test_mappings_and_none() -> None:
    proxy = MappingProxyType({"reason": "halted"})
    assert DEFAULT_MODEL.validate("order.rejected", proxy) == {"reason": "halted"}
    assert DEFAULT_MODEL.validate("order.accepted", None) is None  # nothing required
    assert DEFAULT_MODEL.validate("order.accepted", {}) == {}
    with pytest.raises(ValueError, match=r"^data\.reason: required by order\.rejected"):
        DEFAULT_MODEL.validate("order.rejected", None)
    with pytest.raises(TypeError, match=r"^data: expected a mapping"):
        DEFAULT_MODEL.validate("order.rejected", ["reason"])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- refused data


@pytest.mark.parametrize(
    ("event_type", "field"),
    [(t, f.encode_name) for t in TYPES for f in fields_of(t) if f.required],
)
def test_missing_required_field_is_named(event_type: str, field: str) -> None:
    data = dict(EXAMPLES[event_type])
    del data[field]
    with pytest.raises(ValueError, match=rf"^data\.{field}: required by {re.escape(event_type)}"):
        DEFAULT_MODEL.validate(event_type, data)


@pytest.mark.parametrize(
    ("event_type", "field", "value"),
    [
        ("order.rejected", "reason", 42),
        ("order.submitted", "order_type", ["limit"]),
        ("order.submitted", "reduce_only", "yes"),
        ("venue.retry", "attempt", "3"),
        ("venue.retry", "attempt", 2.0),
        ("venue.retry", "delay", "0.4"),
        ("order.rejected", "code", 1.5),
        ("venue.api_error", "status", True),
        ("auth.api_key_created", "permissions", "trade"),
        ("portfolio.nav_computed", "nav", True),
        ("portfolio.nav_computed", "as_of", 1709303405),
        ("signal.received", "payload", ["not", "an", "object"]),
    ],
)
def test_wrong_type_is_named(event_type: str, field: str, value: Any) -> None:
    data = {**EXAMPLES[event_type], field: value}
    with pytest.raises(TypeError, match=rf"^data\.{field}: expected "):
        DEFAULT_MODEL.validate(event_type, data)


@pytest.mark.parametrize(
    ("event_type", "field", "value", "message"),
    [
        ("order.submitted", "side", "long", r"invalid enum value 'long' \(expected one of: buy, "),
        ("order.partially_filled", "liquidity", "MAKER", "expected one of: maker, taker"),
        ("order.submitted", "qty", "1,5", "invalid decimal string"),
        ("order.submitted", "expire_at", "tomorrow", "invalid RFC3339"),
        ("compliance.record_corrected", "corrects_seq", -1, ">= 0"),
        ("compliance.record_corrected", "corrects_event_id", "not-a-uuid", "matching regex"),
    ],
)
def test_invalid_value_is_named(event_type: str, field: str, value: Any, message: str) -> None:
    data = {**EXAMPLES[event_type], field: value}
    with pytest.raises(ValueError, match=rf"^data\.{field}: .*{message}"):
        DEFAULT_MODEL.validate(event_type, data)


@pytest.mark.parametrize(("event_type", "field"), list(fields_where(mi.DecimalType)))
def test_float_for_money_is_refused(event_type: str, field: str) -> None:
    data = {**EXAMPLES[event_type], field: 0.1}
    with pytest.raises(TypeError, match=rf"^data\.{field}: expected a decimal, got float"):
        DEFAULT_MODEL.validate(event_type, data)


class NumpyLikeFloat(float):
    """numpy.float64 subclasses float: it must be refused too."""


@pytest.mark.parametrize(
    ("event_type", "data", "path"),
    [
        ("order.filled", {"fill_qty": NumpyLikeFloat(1), "fill_price": "1"}, "data.fill_qty"),
        (
            "venue.position_queried",
            {"positions": [{"symbol": "A", "qty": "1"}, {"symbol": "B", "qty": 1.0}]},
            r"data.positions\[1\].qty",
        ),
        (
            "venue.balance_queried",
            {"balances": [{"asset": "USD", "total": "1", "available": 0.5}]},
            r"data.balances\[0\].available",
        ),
        (
            "alert.sent",
            {"channel": "c", "rule": "r", "severity": "info", "value": 2.5},
            "data.value",
        ),
    ],
)
def test_float_is_refused_at_any_depth(event_type: str, data: dict[str, Any], path: str) -> None:
    with pytest.raises(TypeError, match=rf"^{path}: expected a decimal, got float"):
        DEFAULT_MODEL.validate(event_type, data)


def test_floats_stay_allowed_for_durations_only() -> None:
    out = DEFAULT_MODEL.validate("venue.retry", {"attempt": 2, "delay": 0.25})
    assert out == {"attempt": 2, "delay": 0.25}
    out = DEFAULT_MODEL.validate("venue.rate_limited", {"retry_after": 1})
    assert out is not None and type(out["retry_after"]) is float  # as msgspec converts it
    float_fields = [
        (t, f.encode_name)
        for t in TYPES
        for f in fields_of(t)
        if any(isinstance(m, mi.FloatType) for m in members(f.type))
    ]
    assert float_fields == [("venue.rate_limited", "retry_after"), ("venue.retry", "delay")]


@pytest.mark.parametrize(("event_type", "field"), list(fields_where(mi.DateTimeType)))
def test_naive_datetime_is_refused(event_type: str, field: str) -> None:
    for naive in (datetime(2024, 3, 1, 12, 0), "2024-03-01T12:00:00"):
        data = {**EXAMPLES[event_type], field: naive}
        with pytest.raises(ValueError, match=rf"^data\.{field}: naive datetime refused"):
            DEFAULT_MODEL.validate(event_type, data)


@pytest.mark.parametrize("event_type", TYPES)
def test_unknown_field_is_named(event_type: str) -> None:
    data = {**EXAMPLES[event_type], "order_id": "o-1"}
    with pytest.raises(
        ValueError, match=rf"^data\.order_id: not a field of {re.escape(event_type)}"
    ):
        DEFAULT_MODEL.validate(event_type, data)


def test_unknown_nested_field_is_named() -> None:
    data = {"positions": [{"symbol": "A", "qty": "1", "pnl": "3"}]}
    with pytest.raises(ValueError, match=r"^data\.positions\[0\]\.pnl: not a field"):
        DEFAULT_MODEL.validate("venue.position_queried", data)
    with pytest.raises(ValueError, match=r"^data\.positions\[0\]\.qty: required"):
        DEFAULT_MODEL.validate("venue.position_queried", {"positions": [{"symbol": "A"}]})


def test_non_string_key_and_wrong_container_are_named() -> None:
    with pytest.raises(TypeError, match=r"^data: keys must be str"):
        DEFAULT_MODEL.validate("order.rejected", {1: "x", "reason": "r"})  # type: ignore[dict-item]
    with pytest.raises(
        TypeError, match=r"^data\.positions\[0\]: expected an object, got an integer"
    ):
        DEFAULT_MODEL.validate("venue.position_queried", {"positions": [1]})


@pytest.mark.parametrize("value", ["NaN", Decimal("Infinity"), "-inf", Decimal("sNaN")])
def test_non_finite_decimal_is_refused_by_the_encoder(value: Any) -> None:
    """validate() leaves NaN/Infinity to the encoder's check, which record() always runs."""
    data = {"side": "buy", "order_type": "limit", "qty": value}
    out = DEFAULT_MODEL.validate("order.submitted", data)
    with pytest.raises(ValueError, match=r"^data\.qty: Decimal .* is not finite"):
        canonical.prepare("order.submitted", out, {}, None, 1 << 20)


def test_correction_must_reference_the_corrected_record() -> None:
    with pytest.raises(ValueError, match="corrects_event_id or corrects_seq is required"):
        DEFAULT_MODEL.validate("compliance.record_corrected", {"reason": "typo"})
    for ref in ({"corrects_event_id": EID}, {"corrects_seq": 0}):
        assert DEFAULT_MODEL.validate("compliance.record_corrected", {"reason": "x", **ref})


# --------------------------------------------------------------------------- unknown types


def test_unknown_type_is_free_form_unless_strict() -> None:
    data = {"anything": 1.5, "nested": {"x": [1, 2]}}
    assert DEFAULT_MODEL.validate("desk.custom_note", data) is data
    assert DEFAULT_MODEL.validate("desk.custom_note", None) is None
    assert DEFAULT_MODEL.validate("desk.custom_note", MappingProxyType(data)) == data
    with pytest.raises(ValueError, match=r"^type: unknown event type 'desk\.custom_note'"):
        DEFAULT_MODEL.validate("desk.custom_note", data, strict=True)
    with pytest.raises(ValueError, match=r"did you mean 'order\.submitted'\?"):
        DEFAULT_MODEL.validate("order.submited", {}, strict=True)
    # strict changes nothing for known types
    assert DEFAULT_MODEL.validate("auth.logout", {}, strict=True) == {}


def test_unregistered_struct_is_free_form() -> None:
    class Note(msgspec.Struct, omit_defaults=True):
        text: str
        amount: Decimal | None = None

    note = Note(text="hi", amount=Decimal("1.0"))
    assert DEFAULT_MODEL.validate("desk.note", note) == {"text": "hi", "amount": Decimal("1.0")}
    with pytest.raises(ValueError, match="not a registered event type"):
        DEFAULT_MODEL.type_of(note)


# --------------------------------------------------------------------------- user-defined types


class GridLevelPlaced(EventData, kw_only=True, frozen=True):
    """A grid bot placed a level (a user-defined type)."""

    TYPE: ClassVar[str] = "grid.level_placed"
    VERSION: ClassVar[int] = 2
    level: int
    price: Decimal
    spacing: Decimal | None = None
    placed_at: AwareDatetime | None = None
    tags: list[str] | None = None


class PlainStructEvent(
    msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True
):
    """A user type not derived from EventData but with the same configuration."""

    TYPE: ClassVar[str] = "desk.plain"
    VERSION: ClassVar[int] = 1
    note: str


def fresh_model() -> EventModel:
    return EventModel(BUILTIN_TYPES)


def test_user_type_gets_the_same_validation() -> None:
    model = fresh_model()
    model.register(GridLevelPlaced)
    model.register(PlainStructEvent)
    assert model.get("grid.level_placed") is GridLevelPlaced
    assert "grid.level_placed" in model.types() and "desk.plain" in model.types()
    assert model.version_of("grid.level_placed") == 2
    assert model.type_of(GridLevelPlaced(level=1, price=Decimal(1))) == "grid.level_placed"
    out = model.validate("grid.level_placed", {"level": 3, "price": "101.5", "tags": ["a"]})
    assert out == {"level": 3, "price": Decimal("101.5"), "tags": ["a"]}
    with pytest.raises(TypeError, match=r"^data\.price: expected a decimal, got float"):
        model.validate("grid.level_placed", {"level": 3, "price": 101.5})
    with pytest.raises(ValueError, match=r"^data\.placed_at: naive datetime"):
        model.validate("grid.level_placed", {"level": 3, "price": "1", "placed_at": datetime.now()})
    with pytest.raises(ValueError, match=r"^data\.extra: not a field of grid\.level_placed"):
        model.validate("grid.level_placed", {"level": 3, "price": "1", "extra": 1})
    assert "grid.level_placed" in model.json_schema()["events"]
    # the default model is untouched
    assert DEFAULT_MODEL.get("grid.level_placed") is None


def test_registration_refuses_duplicates() -> None:
    model = fresh_model()
    model.register(GridLevelPlaced)
    with pytest.raises(ValueError, match="already registered"):
        model.register(GridLevelPlaced)

    class Other(EventData, kw_only=True, frozen=True):
        TYPE: ClassVar[str] = "order.submitted"
        VERSION: ClassVar[int] = 1

    with pytest.raises(
        ValueError, match=r"'order\.submitted' is already registered by OrderSubmitted"
    ):
        model.register(Other)


def _struct(type_name: Any = "desk.thing", version: Any = 1, **config: Any) -> type[msgspec.Struct]:
    options = {"kw_only": True, "forbid_unknown_fields": True, "omit_defaults": True, **config}
    return msgspec.defstruct(
        "Thing", [("x", int)], namespace={"TYPE": type_name, "VERSION": version}, **options
    )


@pytest.mark.parametrize(
    ("make", "exc", "message"),
    [
        (lambda: _struct("Order.Submitted"), ValueError, "not a dotted lower-case event type"),
        (lambda: _struct("nodot"), ValueError, "not a dotted lower-case event type"),
        (lambda: _struct(None), ValueError, r"TYPE: None"),
        (lambda: _struct(version=0), ValueError, "VERSION: 0 must be an int >= 1"),
        (lambda: _struct(version="1"), ValueError, "VERSION"),
        (lambda: _struct(forbid_unknown_fields=False), TypeError, "forbid_unknown_fields"),
        (lambda: _struct(omit_defaults=False), TypeError, "omit_defaults"),
        (lambda: _struct(array_like=True), TypeError, "array_like"),
        (lambda: dict, TypeError, "not a msgspec Struct"),
    ],
)
def test_registration_refuses_bad_declarations(
    make: Any, exc: type[Exception], message: str
) -> None:
    with pytest.raises(exc, match=message):
        fresh_model().register(make())


class NaiveField(EventData, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "desk.naive"
    VERSION: ClassVar[int] = 1
    at: datetime


class NestedNaive(EventData, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "desk.nested_naive"
    VERSION: ClassVar[int] = 1
    items: list[dict[str, datetime]]


class FloatOrDecimal(EventData, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "desk.float_or_decimal"
    VERSION: ClassVar[int] = 1
    px: float | Decimal


class NonNoneDefault(EventData, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "desk.defaulted"
    VERSION: ClassVar[int] = 1
    flag: bool = False


class BytesField(EventData, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "desk.bytes"
    VERSION: ClassVar[int] = 1
    blob: bytes


class SetField(EventData, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "desk.set"
    VERSION: ClassVar[int] = 1
    tags: frozenset[str]


class IntKeys(EventData, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "desk.int_keys"
    VERSION: ClassVar[int] = 1
    by_level: dict[int, str]


class Loose(msgspec.Struct, kw_only=True, omit_defaults=True):
    x: int


class LooseNested(EventData, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "desk.loose_nested"
    VERSION: ClassVar[int] = 1
    inner: Loose


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (NaiveField, r"NaiveField\.at: datetime fields must be AwareDatetime"),
        (NestedNaive, r"items\[\]\.\*: datetime fields must be AwareDatetime"),
        (FloatOrDecimal, "both Decimal and float"),
        (NonNoneDefault, r"flag: optional fields must default to None"),
        (BytesField, "binary values"),
        (SetField, "sets have no canonical order"),
        (IntKeys, "dict keys must be str"),
        (LooseNested, r"inner: needs forbid_unknown_fields"),
    ],
)
def test_registration_refuses_unsafe_field_types(cls: type[msgspec.Struct], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        fresh_model().register(cls)


class RenamedFields(EventData, kw_only=True, frozen=True, rename="camel"):
    TYPE: ClassVar[str] = "desk.renamed"
    VERSION: ClassVar[int] = 1
    order_qty: Decimal
    limit_price: Decimal | None = None


def test_user_type_with_renamed_fields() -> None:
    model = fresh_model()
    model.register(RenamedFields)
    out = model.validate("desk.renamed", {"orderQty": "2", "limitPrice": None})
    assert out == {"orderQty": Decimal("2")}
    with pytest.raises(TypeError, match=r"^data\.limitPrice: expected a decimal, got float"):
        model.validate("desk.renamed", {"orderQty": "2", "limitPrice": 1.5})
    with pytest.raises(
        ValueError, match=r"^data\.order_qty: not a .*\(fields: orderQty, limitPrice\)"
    ):
        model.validate("desk.renamed", {"order_qty": "2"})
    with pytest.raises(ValueError, match=r"^data\.orderQty: required"):
        model.validate("desk.renamed", {})


def test_struct_without_type_is_refused() -> None:
    class NoType(EventData, kw_only=True, frozen=True):
        x: int

    with pytest.raises(ValueError, match=r"NoType\.TYPE: None"):
        fresh_model().register(NoType)


# --------------------------------------------------------------------------- JSON Schema


def test_json_schema_covers_every_type_and_is_json() -> None:
    schema = DEFAULT_MODEL.json_schema()
    text = json.dumps(schema)
    assert json.loads(text) == schema
    assert set(schema["events"]) == set(DEFAULT_MODEL.types())
    defs = schema["$defs"]
    assert "Envelope" in defs and schema["$ref"] == "#/$defs/Envelope"
    consts = {rule["if"]["properties"]["type"]["const"] for rule in schema["allOf"]}
    assert consts == set(DEFAULT_MODEL.types())
    for name, entry in schema["events"].items():
        assert entry["category"] == name.split(".")[0]
        assert entry["version"] == REVISED.get(name, 1)
        assert entry["description"]
        ref = entry["data"]["$ref"]
        component = defs[ref.removeprefix("#/$defs/")]
        assert component["additionalProperties"] is False
        expected = {f.encode_name for f in fields_of(name)}
        assert set(component["properties"]) == expected
    # every $ref resolves
    for ref in re.findall(r'"\$ref": "([^"]+)"', text):
        assert ref.removeprefix("#/$defs/") in defs, ref
    # money is a decimal string; an omitted optional field is never null
    order = defs["OrderSubmitted"]
    assert order["properties"]["qty"] == {"type": "string", "format": "decimal"}
    assert order["properties"]["price"] == {"type": "string", "format": "decimal"}
    assert order["required"] == ["side", "qty"]
    assert "null" not in json.dumps(order)


def test_envelope_schema_matches_the_encoder() -> None:
    fields = set(Envelope.__struct_fields__)
    assert fields == (
        canonical.ENVELOPE_FIELDS
        | canonical.WRITER_FIELDS
        | canonical.LIBRARY_FIELDS
        | {"type", "data"}
    )
    info = mi.type_info(Envelope)
    assert isinstance(info, mi.StructType)
    priority = next(f for f in info.fields if f.name == "priority")
    literal = next(m for m in members(priority.type) if isinstance(m, mi.LiteralType))
    assert set(literal.values) == canonical.PRIORITIES


def _records() -> list[dict[str, Any]]:
    records = []
    for seq, event_type in enumerate(TYPES):
        out = DEFAULT_MODEL.validate(event_type, EXAMPLES[event_type])
        prepared = canonical.prepare(
            event_type, out, {"account": "acc-1", "priority": "normal"}, None, 1 << 20
        )
        line = prepared.line(b"ab" * 32, seq, b"2024-03-01T14:30:05.123456Z")
        records.append(orjson.loads(line))
    return records


def test_journal_records_validate_against_the_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = DEFAULT_MODEL.json_schema()
    validator = jsonschema.Draft202012Validator(schema)
    jsonschema.Draft202012Validator.check_schema(schema)
    for record in _records():
        validator.validate(record)
    bad = _records()[0]
    bad["data"]["unexpected"] = 1
    assert not validator.is_valid(bad)
    free_form = {**_records()[0], "type": "desk.note", "data": {"anything": [1, 2.5]}}
    assert validator.is_valid(free_form)
    flagged = {**bad, "schema_error": "data.unexpected: not a field of ..."}
    assert validator.is_valid(flagged)  # recorded as given, and says so
    assert not validator.is_valid({**flagged, "schema_error": 5})
    redacted = {**_records()[0], "redacted": ["data.venue.api_key"]}
    assert validator.is_valid(redacted)


def test_a_real_trail_with_flags_validates_against_the_schema(tmp_path: Any) -> None:
    """Records written by a trail, flagged and redacted ones included, match the schema."""
    jsonschema = pytest.importorskip("jsonschema")
    import tradetrail

    validator = jsonschema.Draft202012Validator(DEFAULT_MODEL.json_schema())
    with tradetrail.open(tmp_path / "t", min_free_bytes=0) as trail:
        trail.record("order.filled", {"fill_qty": "1", "fill_price": "2", "password": "x"})
        trail.record("order.filled", {"fill_qty": 1.5, "fill_price": "2"})
        trail.record("desk.note", {"api_key": "Kq7Lm2Np9Rt4Vx8Zb1Cd"})
    lines = (tmp_path / "t" / "journal").glob("*.jsonl")
    records = [orjson.loads(line) for path in lines for line in path.read_bytes().splitlines()]
    assert [("schema_error" in r, "redacted" in r) for r in records] == [
        (True, True),
        (True, False),
        (False, True),
    ]
    for record in records:
        validator.validate(record)


def test_records_read_back_with_the_envelope_struct() -> None:
    """The envelope struct decodes every record the encoder writes (schema and code agree)."""
    for record in _records():
        envelope = msgspec.convert(record, Envelope)
        assert envelope.type in EXAMPLES
        assert DEFAULT_MODEL.validate(envelope.type, envelope.data, strict=True) is not None


# --------------------------------------------------------------------------- round trips

money = st.one_of(
    st.decimals(
        allow_nan=False, allow_infinity=False, places=8, min_value=-(10**12), max_value=10**12
    ),
    st.decimals(allow_nan=False, allow_infinity=False).filter(lambda d: abs(d.adjusted()) < 40),
)
aware = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


def _round_trip(event_type: str, data: dict[str, Any]) -> None:
    out = DEFAULT_MODEL.validate(event_type, data)
    line = encode(out)
    back = DEFAULT_MODEL.validate(event_type, orjson.loads(line))
    assert back == out  # exact: no value moved
    assert encode(back) == line  # canonical: the same bytes again
    assert msgspec.convert(back, struct_of(event_type)) == msgspec.convert(
        out, struct_of(event_type)
    )
    for key, value in data.items():
        if isinstance(value, Decimal):
            assert isinstance(orjson.loads(line)[key], str)
            assert Decimal(orjson.loads(line)[key]) == value


@settings(max_examples=150)
@given(
    side=st.sampled_from(["buy", "sell", "sell_short"]),
    qty=money,
    price=st.none() | money,
    expire_at=st.none() | aware,
    tif=st.none() | st.sampled_from(["gtc", "ioc", "fok", "day"]),
)
def test_round_trip_order_submitted(
    side: str, qty: Decimal, price: Decimal | None, expire_at: datetime | None, tif: str | None
) -> None:
    data = {"side": side, "order_type": "limit", "qty": qty, "price": price}
    data |= {"expire_at": expire_at, "time_in_force": tif}
    _round_trip("order.submitted", data)


@settings(max_examples=150)
@given(values=st.lists(money, min_size=6, max_size=6), as_of=aware)
def test_round_trip_nav(values: list[Decimal], as_of: datetime) -> None:
    keys = ("cash", "positions_at_mark", "fees", "accruals", "nav", "shares_outstanding")
    _round_trip(
        "portfolio.nav_computed",
        {**dict(zip(keys, values, strict=True)), "currency": "EUR", "as_of": as_of},
    )


@settings(max_examples=100)
@given(
    positions=st.lists(
        st.fixed_dictionaries(
            {"symbol": st.text("ABCDEFXYZ", min_size=1, max_size=6), "qty": money},
            optional={
                "avg_price": money,
                "mark_price": money,
                "margin_type": st.sampled_from(["cross", "isolated"]),
            },
        ),
        max_size=5,
    )
)
def test_round_trip_position_snapshot(positions: list[dict[str, Any]]) -> None:
    _round_trip("portfolio.position_snapshot", {"positions": positions, "currency": "USD"})


@settings(max_examples=100)
@given(offset=money, within=st.none() | st.booleans(), stratum=st.none() | st.integers(0, 16))
def test_round_trip_clock_sync(offset: Decimal, within: bool | None, stratum: int | None) -> None:
    data = {"offset_us": offset, "source": "ptp", "within_tolerance": within, "stratum": stratum}
    _round_trip("system.clock_sync", data)


# --------------------------------------------------------------------------- speed


def test_validate_is_fast() -> None:
    """validate() runs in every record(): print what it costs (run with -s)."""
    typical = {
        "side": "buy",
        "order_type": "limit",
        "qty": Decimal("0.25"),
        "price": Decimal("64200.0"),
        "time_in_force": "gtc",
    }
    names = {
        "convert": msgspec.convert,
        "validate": DEFAULT_MODEL.validate,
        "cls": struct_of("order.submitted"),
        "typical": typical,
        "as_text": {**typical, "qty": "0.25", "price": "64200.0"},
    }
    n = 20_000

    def per_call(stmt: str) -> float:
        return min(timeit.repeat(stmt, globals=names, number=n, repeat=7)) / n * 1e6

    convert = per_call("convert(typical, cls)")
    validate = per_call("validate('order.submitted', typical)")
    convert_text = per_call("convert(as_text, cls)")
    validate_text = per_call("validate('order.submitted', as_text)")
    unknown = per_call("validate('desk.note', typical)")
    print(
        f"\norder.submitted per call: msgspec.convert {convert:.2f} us, validate {validate:.2f} us "
        f"(Decimal values); convert {convert_text:.2f} us, validate {validate_text:.2f} us "
        f"(decimal strings); unknown type {unknown:.2f} us"
    )
    assert validate < 20  # generous: shared CI machines; the figures above are the measure


def test_docs_list_every_type() -> None:

    text = (ROOT / "docs" / "EVENTS.md").read_text()
    rows = {
        line.split(" | ")[0][3:-1]: line for line in text.splitlines() if line.startswith("| `")
    }
    for event_type in DEFAULT_MODEL.types():
        row = rows[event_type]
        required, optional = row.split(" | ")[1:3]
        for f in fields_of(event_type):
            assert f"`{f.encode_name}`" in (required if f.required else row), (event_type, f.name)
            if not f.required:
                assert f"`{f.encode_name}`" in required + optional, (event_type, f.name)


def test_literal_aliases_have_expected_values() -> None:
    from tradetrail.model.events import Severity, Side

    assert Side.__args__ == ("buy", "sell", "sell_short", "sell_short_exempt")  # type: ignore[attr-defined]
    assert "critical" in Severity.__args__  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- integrations


class _Capture:
    """A Recorder that keeps what the Auditor would record."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, dict[str, Any]]] = []

    def record(self, event_type: str, data: Any = None, **fields: Any) -> None:
        self.calls.append((event_type, data, fields))


def test_auditor_helpers_emit_data_the_model_accepts() -> None:
    """The typed helpers of tradetrail.integrations.auditor and this model must agree field for
    field."""
    from tradetrail.integrations.auditor import TrailAuditor

    capture = _Capture()
    a = TrailAuditor(capture)
    d = Decimal
    a.signal_received("sig-1", "BTCUSDT", side="buy", strength=d("0.7"), strategy="ema")
    a.size_calculated("BTCUSDT", d("0.5"), notional=d("32000"), method="fixed_fractional")
    a.size_capped("BTCUSDT", d("0.5"), d("0.25"), rule="max_notional", limit=d("20000"))
    a.risk_passed("BTCUSDT", checks=("notional", "collar"), order_id="o-1")
    a.risk_rejected("price_collar", d("0.05"), d("0.08"), reason="through last", order_id="o-1")
    a.order_submitted("o-1", "BTCUSDT", "buy", d("0.25"), d("64000"), order_type="limit")
    a.order_submitted("o-2", "BTCUSDT", "sell", d("0.25"), time_in_force="ioc")
    a.order_accepted("o-1", exchange_order_id="x-1")
    a.order_rejected("o-2", "insufficient margin", code=-2019)
    a.order_replaced("o-1", new_order_id="o-3", old_price=d("64000"), new_price=d("63950"))
    a.cancel_requested("o-3", reason="signal reversed")
    a.order_cancelled("o-3", reason="user", remaining_qty=d("0.15"))
    a.order_partially_filled("o-1", d("0.1"), d("64000"), d("0.64"), fee_currency="USDT",
                             trade_id="t-1", cum_qty=d("0.1"), remaining_qty=d("0.15"),
                             side="buy", liquidity="maker")  # fmt: skip
    a.order_filled("o-1", d("0.15"), d("64001"), trade_id="t-2", cum_qty=d("0.25"),
                   remaining_qty=d("0"), side="buy", liquidity="taker")  # fmt: skip
    a.api_error("SIMX", "place_order", "HTTP 503", status=503, code="E503", retryable=True)
    a.rate_limited("SIMX", operation="place_order", retry_after=1.5, limit="10/s")
    a.retry("SIMX", "place_order", 2, delay=0.4, max_attempts=5, error="HTTP 503")
    a.config_changed("risk.max_notional", "sha256:aa", "sha256:bb", actor="j.doe", keys=["max"])
    a.login("j.doe", method="sso", remote_addr="10.0.0.1")
    a.logout("j.doe", reason="end of day")
    a.login_failed("j.doe", "bad password", method="password", remote_addr="10.0.0.1", attempts=2)
    a.alert_sent("slack:#risk", "daily_loss", "warning", message="80% of limit")
    a.kill_switch("daily loss limit", scope="account", account="ACC-1")
    a.kill_switch("reset by risk officer", engaged=False, actor="risk.lead")
    assert len(capture.calls) == 24
    for event_type, data, fields in capture.calls:
        out = DEFAULT_MODEL.validate(event_type, data, strict=True)
        canonical.prepare(event_type, out, fields, None, 1 << 20)
