"""The demo desk: a strict, verifiable, deterministic trail that uses the event model's real
types and fields, sealed past days, decimal amounts, NAVs that add up, and integrations (bind,
AuditHandler) that behave as a real bot's would."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from msgspec import inspect as mi

from conftest import ENV_VARS, journal_records
from tradetrail import demo
from tradetrail.demo import DEMO_MODEL, run_demo
from tradetrail.verify.trail import verify_trail

TODAY = datetime(2024, 3, 5, 16, 30, tzinfo=UTC)
EVENTS = 1500

EXPECTED_TYPES = [
    "demo.session_started",
    "demo.session_finished",
    "system.service_started",
    "system.service_stopped",
    "system.clock_sync",
    "config.snapshot",
    "config.changed",
    "auth.login",
    "auth.login_failed",
    "auth.logout",
    "auth.permission_changed",
    "alert.sent",
    "signal.received",
    "signal.processed",
    "risk.size_calculated",
    "risk.size_capped",
    "risk.passed",
    "risk.rejected",
    "order.submitted",
    "order.accepted",
    "order.rejected",
    "order.replaced",
    "order.cancel_requested",
    "order.cancelled",
    "order.partially_filled",
    "order.filled",
    "order.expired",
    "venue.rate_limited",
    "venue.retry",
    "venue.api_error",
    "venue.connectivity_lost",
    "venue.connectivity_restored",
    "venue.position_queried",
    "venue.balance_queried",
    "portfolio.fee_charged",
    "portfolio.position_snapshot",
    "portfolio.nav_computed",
]

DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")
UNSTABLE = frozenset({"event_id", "ts", "prev", "seq", "source"})  # ids, keys, writer time


def _run(home: Path, seed: int) -> tuple[demo.DemoSummary, list[dict[str, Any]]]:
    with pytest.MonkeyPatch.context() as mp:  # module-scoped: the autouse env cleaner is not
        for name in ENV_VARS:
            mp.delenv(name, raising=False)
        summary = run_demo(home, events=EVENTS, days=2, seed=seed, today=TODAY)
    return summary, journal_records(home)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, demo.DemoSummary, list[Any]]:
    home = tmp_path_factory.mktemp("demo") / "trail"
    summary, records = _run(home, seed=7)
    return home, summary, records


def _stable(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in UNSTABLE} for r in records]


def _floats(value: Any) -> Iterator[float]:
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        for v in value:
            yield from _floats(v)
    elif isinstance(value, float):
        yield value


def _check_amounts(value: Any, t: mi.Type, path: str, seen: set[str]) -> None:
    """Every value of a Decimal field (by the model, at any depth) is a decimal string; the
    model's only floats are durations; nothing else holds a float."""
    if isinstance(t, mi.UnionType):
        members = [m for m in t.types if not isinstance(m, mi.NoneType)]
        t = members[0] if len(members) == 1 else mi.AnyType()
    if isinstance(t, mi.DecimalType):
        assert isinstance(value, str) and DECIMAL.match(value), (path, value)
        seen.add(path.rsplit(".", 1)[-1])
    elif isinstance(t, mi.ListType):
        for i, item in enumerate(value):
            _check_amounts(item, t.item_type, f"{path}[{i}]", seen)
    elif isinstance(t, mi.StructType):
        fields = {f.encode_name: f.type for f in t.fields}
        for name, item in value.items():
            _check_amounts(item, fields[name], f"{path}.{name}", seen)
    elif not isinstance(t, mi.FloatType):
        assert list(_floats(value)) == [], path


def test_the_trail_verifies_and_every_event_matches_the_model(run: Any) -> None:
    home, summary, records = run
    report = verify_trail(home)
    assert report.ok, [f.message for f in report.faults[:5]]
    assert report.size == len(records) == summary.events
    assert not [r for r in records if "schema_error" in r or "redacted" in r]
    for record in records:  # what strict=True already enforced on the way in
        DEMO_MODEL.validate(record["type"], record.get("data"), strict=True)


def test_every_kind_of_event_appears(run: Any) -> None:
    _, summary, records = run
    types = {r["type"] for r in records}
    assert [t for t in EXPECTED_TYPES if t not in types] == []
    assert summary.counts == {t: sum(r["type"] == t for r in records) for t in sorted(types)}
    assert abs(summary.events - EVENTS) <= 30


def test_the_trail_says_it_is_simulated(run: Any) -> None:
    _, _, records = run
    first, last = records[0], records[-1]
    assert first["type"] == "demo.session_started"
    assert first["data"] == {
        "simulated": True,
        "seed": 7,
        "days": ["2024-03-03", "2024-03-04"],
        "requested_events": EVENTS,
    }
    assert last["type"] == "demo.session_finished" and last["data"]["simulated"] is True
    assert last["ts"].startswith("2024-03-05T00:00:05")
    started = [r for r in records if r["type"] == "system.service_started"]
    assert len(started) == 2 and all(r["data"]["mode"] == "simulated" for r in started)
    assert all(r["source"]["service"] == "tradetrail-demo" for r in records)


def test_past_days_are_sealed_and_today_holds_the_closing_record(run: Any) -> None:
    home, _, records = run
    files = sorted((home / "journal").glob("audit-*.jsonl"))
    assert [f.name for f in files] == [
        "audit-20240303.jsonl",
        "audit-20240304.jsonl",
        "audit-20240305.jsonl",
    ]
    for past in files[:2]:
        assert os.stat(past).st_mode & 0o222 == 0, f"{past.name} is still writable"
    assert files[2].read_bytes().count(b"\n") == 1
    assert [r["type"] for r in records if r["ts"] >= "2024-03-05"] == ["demo.session_finished"]


def test_amounts_are_decimal_strings(run: Any) -> None:
    _, _, records = run
    seen: set[str] = set()
    for record in records:
        struct = DEMO_MODEL.get(record["type"])
        assert struct is not None
        _check_amounts(record.get("data", {}), mi.type_info(struct), record["type"], seen)
    assert {"qty", "fill_price", "fee", "nav", "limit", "observed", "market_value"} <= seen


def test_nav_is_cash_plus_positions_at_mark_plus_accruals(run: Any) -> None:
    _, _, records = run
    snapshots: dict[str, dict[str, Any]] = {}
    navs = 0
    for record in records:
        if record["type"] == "portfolio.position_snapshot":
            snapshots[record["account"]] = record["data"]
        elif record["type"] == "portfolio.nav_computed":
            d = {k: Decimal(v) for k, v in record["data"].items() if DECIMAL.match(str(v))}
            assert d["nav"] == d["cash"] + d["positions_at_mark"] + d["accruals"]
            # fees were paid out of cash: shown for the report, not subtracted a second time
            assert d["fees"] > 0
            positions = snapshots.pop(record["account"])["positions"]
            assert d["positions_at_mark"] == sum(Decimal(p["market_value"]) for p in positions)
            for p in positions:
                assert Decimal(p["market_value"]) == (
                    Decimal(p["qty"]) * Decimal(p["mark_price"])
                ).quantize(Decimal("0.01"))
            navs += 1
    assert navs == 4  # two accounts, two days


def test_strategy_work_is_bound_to_its_strategy_and_account(run: Any) -> None:
    _, _, records = run
    accounts = {"momentum-1": "ACC-PROP-01", "meanrev-2": "ACC-PROP-02"}
    traded = [r for r in records if r["type"].split(".")[0] in ("signal", "risk", "order")]
    assert traded
    for record in traded:
        assert accounts[record["strategy"]] == record["account"], record
    orders = [r for r in records if r["type"].startswith("order.")]
    assert all(r["order_id"].startswith("O-") and r["venue"] == "SIMX" for r in orders)


def test_logged_events_come_through_the_audit_handler(run: Any) -> None:
    _, _, records = run
    lost = [r for r in records if r["type"] == "venue.connectivity_lost"]
    restored = [r for r in records if r["type"] == "venue.connectivity_restored"]
    assert len(lost) == len(restored) >= 1
    assert all(r["priority"] == "high" and r["venue"] == "SIMX" for r in lost)
    assert all(r["data"]["resynced"] is True for r in restored)
    syncs = [r for r in records if r["type"] == "system.clock_sync"]
    assert syncs and all(r["actor"] == "clock-monitor" for r in syncs)
    # dated by the simulated clock, not the host's
    assert all(r["event_ts"].startswith(("2024-03-03", "2024-03-04")) for r in lost + syncs)
    # the handler is gone after the run, and the logger is as it was
    assert logging.getLogger("simdesk").handlers == []
    assert logging.getLogger("simdesk").propagate is True


def test_same_seed_same_trail_other_seed_other_trail(
    run: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    _, _, records = run
    _, again = _run(tmp_path_factory.mktemp("again") / "trail", seed=7)
    assert _stable(again) == _stable(records)
    assert [r["event_id"] for r in again] != [r["event_id"] for r in records]
    _, other = _run(tmp_path_factory.mktemp("other") / "trail", seed=8)
    assert _stable(other) != _stable(records)


def test_a_bad_event_fails_the_demo_even_through_logging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """strict=True, and the demo's AuditHandler re-raises: a mismatch cannot go unnoticed."""

    def bad_check(self: demo.ClockMonitor) -> None:
        self.log.info("clock", extra={"audit_type": "system.clock_sync", "audit_data": {}})

    monkeypatch.setattr(demo.ClockMonitor, "check", bad_check)
    with pytest.raises(ValueError, match="offset_us"):
        run_demo(tmp_path / "trail", events=100, days=1, today=TODAY)
    assert logging.getLogger("simdesk").handlers == []


def test_a_tiny_run_still_has_a_whole_day(tmp_path: Path) -> None:
    summary = run_demo(tmp_path / "trail", events=50, days=1, today=TODAY)
    assert summary.days == ["2024-03-04"]
    assert 40 <= summary.events <= 70
    for kind in ("system.service_started", "order.submitted", "portfolio.nav_computed"):
        assert summary.counts.get(kind), kind
    assert verify_trail(tmp_path / "trail").ok
