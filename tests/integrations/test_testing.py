"""tradetrail.integrations.testing: capture validates like a real trail, stores the stored form,
finds
events; the audit_events fixture, imported as users did before it came with the pytest plugin,
and from the plugin in a pytest session of a user's project."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from conftest import journal_records
from helpers import ROOT
from tradetrail.errors import TrailClosedError
from tradetrail.integrations.auditor import TrailAuditor
from tradetrail.integrations.testing import (
    CapturedEvent,
    CapturedEvents,
    CapturedReceipt,
    CaptureTrail,
    audit_events,  # noqa: F401 - the fixture, imported as users do in their conftest.py
    capture,
)
from tradetrail.model.context import bind


def test_capture_yields_events_with_a_trail_and_an_auditor() -> None:
    with capture() as events:
        assert isinstance(events, CapturedEvents) and len(events) == 0
        events.trail.record("order.accepted", {"remaining_qty": Decimal("0.5")}, order_id="O-1")
        events.auditor.order_cancelled("O-1", reason="user")
    assert events.types == ["order.accepted", "order.cancelled"]
    accepted = events[0]
    assert accepted.type == "order.accepted"
    assert accepted.data == {"remaining_qty": "0.5"}  # the stored form: Decimal as an exact string
    assert accepted.fields["order_id"] == "O-1"
    assert set(accepted.fields) == {"event_id", "order_id"}
    assert (accepted.seq, events[1].seq) == (0, 1)
    assert events[0:1] == [accepted]
    assert list(events) == [accepted, events[1]]
    assert events == [accepted, events[1]]


def test_recording_after_the_block_is_refused() -> None:
    with capture() as events:
        pass
    with pytest.raises(TrailClosedError):
        events.trail.record("order.accepted")


WHEN = datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(
            (
                "app.order_seen",  # free-form: any JSON shape, as given
                {"qty": Decimal("1.50"), "at": WHEN, "legs": [{"px": Decimal("10")}], "n": 3},
                {"order_id": "O-1", "event_ts": WHEN, "priority": "high", "signal_id": 7},
            ),
            id="free-form",
        ),
        pytest.param(
            (
                "order.filled",  # a model type: validated and normalised the same way
                {"fill_qty": Decimal("1.50"), "fill_price": 10, "fee": "0.010", "side": "buy"},
                {"order_id": "O-1", "event_ts": WHEN, "priority": "high", "signal_id": 7},
            ),
            id="model-type",
        ),
    ],
)
def test_the_stored_form_matches_the_real_journal(
    event: tuple[str, dict[str, Any], dict[str, Any]], open_trail: Callable[..., Any], home: Path
) -> None:
    real = open_trail()
    real.record(event[0], event[1], **event[2]).wait(5)
    [journaled] = journal_records(home)
    with capture() as events:
        events.trail.record(event[0], event[1], **event[2])
    captured = events[0].record
    for writer_only in ("seq", "ts", "prev", "source", "event_id"):
        journaled.pop(writer_only, None)
    captured.pop("event_id")
    assert captured == journaled


@pytest.mark.parametrize(
    ("args", "fields", "error", "match"),
    [
        (("Bad Type",), {}, ValueError, "^type:"),
        (("order.accepted", {"price": float("nan")}), {}, ValueError, "^data.price: nan"),
        (
            ("venue.connectivity_lost", {"last_message_at": datetime(2024, 1, 1)}),
            {},
            ValueError,
            "^data.last_message_at: naive",
        ),
        (("order.accepted", {"status": b"x"}), {}, TypeError, "^data.status: bytes"),
        (("order.accepted", {1: "x"}), {}, TypeError, "^data: key 1 is int"),
        (("order.accepted",), {"qty": 1}, TypeError, "^qty: unknown envelope field"),
        (("order.accepted",), {"seq": 1}, ValueError, "^seq: set by tradetrail"),
        (("order.accepted", ["x"]), {}, TypeError, "^data: expected a mapping"),
    ],
)
def test_bad_events_raise_what_a_trail_raises(
    args: tuple[Any, ...],
    fields: dict[str, Any],
    error: type[Exception],
    match: str,
    open_trail: Callable[..., Any],
) -> None:
    real = open_trail()
    with pytest.raises(error, match=match):
        real.record(*args, **fields)
    trail = CaptureTrail()
    with pytest.raises(error, match=match):
        trail.record(*args, **fields)
    assert len(trail.events) == 0


def test_max_event_bytes_is_enforced() -> None:
    trail = CaptureTrail(max_event_bytes=200)
    with pytest.raises(ValueError, match=r"exceeds the limit of 200 bytes"):
        trail.record("order.accepted", {"status": "x" * 300})


def test_receipts_are_immediately_durable() -> None:
    trail = CaptureTrail()
    receipt = trail.record("order.accepted", order_id="O-1")
    assert isinstance(receipt, CapturedReceipt)
    assert receipt.wait() == 0 and receipt.wait(timeout=0) == 0
    assert receipt.journaled and not receipt.spilled
    assert receipt.event_id == trail.events[0].event_id

    async def awaited() -> int:
        return await trail.record("order.filled", {"fill_qty": "1", "fill_price": "100"})

    assert asyncio.run(awaited()) == 1


def test_an_explicit_event_id_is_kept() -> None:
    trail = CaptureTrail()
    event_id = "0190c0de-0000-7000-8000-000000000001"
    assert trail.record("order.accepted", event_id=event_id).event_id == event_id
    assert trail.events[0].event_id == event_id


def test_bound_fields_are_merged_and_explicit_fields_win() -> None:
    trail = CaptureTrail()
    with bind(strategy="mom", account="ACC-1"):
        trail.record("order.accepted", order_id="O-1")
        trail.record("order.accepted", order_id="O-2", account="ACC-2")
    trail.record("order.accepted", order_id="O-3")
    one, two, three = trail.events
    assert (one.fields["strategy"], one.fields["account"]) == ("mom", "ACC-1")
    assert (two.fields["strategy"], two.fields["account"]) == ("mom", "ACC-2")
    assert "strategy" not in three.fields


def test_of_type_find_and_find_all() -> None:
    with capture() as events:
        a = events.auditor
        a.order_submitted("O-1", "BTC-USD", "buy", Decimal("1"), Decimal("100"))
        a.order_partially_filled("O-1", Decimal("0.4"), Decimal("100"))
        a.order_filled("O-1", Decimal("0.6"), Decimal("100.5"))
        a.order_submitted("O-2", "ETH-USD", "sell", Decimal("2"))
    assert [e.fields["order_id"] for e in events.of_type("order.submitted")] == ["O-1", "O-2"]
    assert events.of_type("order.cancelled") == []
    found = events.find("order.submitted", symbol="ETH-USD")
    assert found is not None and found.fields["order_id"] == "O-2"
    # data values match in their stored form: a Decimal is compared as its exact string
    assert events.find("order.filled", fill_price=Decimal("100.5")) is not None
    assert events.find("order.filled", fill_price="100.5") is not None
    assert events.find("order.filled", fill_price=Decimal("100.50")) is None  # not the same text
    assert events.find("order.filled", order_id="O-2") is None
    assert events.find("order.rejected") is None
    assert events.find(order_id="O-1") is events[0]  # any type
    assert len(events.find_all(None, order_id="O-1")) == 3
    assert events.find("order.submitted", event_type="x") is None  # a data key, not the type


def test_find_normalises_envelope_values() -> None:
    trail = CaptureTrail()
    when = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    trail.record("order.accepted", order_id=42, event_ts=when)
    assert trail.events.find("order.accepted", order_id=42, event_ts=when) is not None
    assert trail.events.find("order.accepted", order_id="42") is not None


def test_captured_event_repr_and_equality() -> None:
    trail = CaptureTrail()
    trail.record("order.accepted", {"remaining_qty": "1"}, order_id="O-1")
    event = trail.events[0]
    assert "order.accepted" in repr(event) and "order_id=O-1" in repr(event)
    assert event == CapturedEvent(0, dict(event.record))
    assert "1" in repr(trail.events)


def test_clear_keeps_counting() -> None:
    trail = CaptureTrail()
    trail.record("a.b")
    trail.events.clear()
    trail.record("a.c")
    assert [(e.type, e.seq) for e in trail.events] == [("a.c", 1)]


def test_thread_safe_capture() -> None:
    trail = CaptureTrail()

    def worker(i: int) -> None:
        for j in range(200):
            trail.record(
                "order.filled", {"fill_qty": "1", "fill_price": str(j)}, order_id=f"O{i}-{j}"
            )

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(trail.events) == 1600
    assert sorted(e.seq for e in trail.events) == list(range(1600))


def test_capture_trail_as_a_context_manager() -> None:
    with CaptureTrail() as trail:
        TrailAuditor(trail).login("alice")
        assert trail.flush() is True
    assert trail.closed
    assert trail.events.find("auth.login", actor="alice") is not None


def test_the_fixture(audit_events: CapturedEvents) -> None:  # noqa: F811
    assert len(audit_events) == 0
    audit_events.auditor.kill_switch("drill")
    assert audit_events.types == ["risk.kill_switch"]
    assert audit_events[0].fields["priority"] == "critical"


def test_the_fixture_is_fresh_per_test(audit_events: CapturedEvents) -> None:  # noqa: F811
    assert len(audit_events) == 0
    assert not audit_events.trail.closed


def test_simclock_is_shipped_for_users_tests(tmp_path: Path) -> None:
    """`tradetrail.testing.SimClock` (the clock this suite uses): days pass in no time, and a
    trail stamps its records with it."""
    import tradetrail
    from tradetrail.testing import SimClock

    clock = SimClock("2024-03-01T23:59:59")
    with tradetrail.open(tmp_path / "trail", clock=clock, durability="write") as trail:
        trail.record("desk.note", {"n": 1}).wait()  # stamped when journaled
        clock.advance(2)
        trail.record("desk.note", {"n": 2}).wait()
        clock.set("2024-03-05T09:00:00.5")
        trail.record("desk.note", {"n": 3}).wait()
    days = sorted(p.name for p in (tmp_path / "trail" / "journal").iterdir())
    assert days == ["audit-20240301.jsonl", "audit-20240302.jsonl", "audit-20240305.jsonl"]
    assert clock() == 1_709_629_200_500_000_000


# --------------------------------------------------------------------------- the pytest plugin

_USERS_TEST = """
from decimal import Decimal

from tradetrail.testing import SimClock


def test_audited(audit_events):
    audit_events.auditor.order_submitted("O-1", "BTC-USD", "buy", Decimal("0.5"))
    assert audit_events.types == ["order.submitted"]


def test_fresh_per_test(audit_events):
    assert len(audit_events) == 0
    assert SimClock("2024-03-01T00:00:00")() == 1_709_251_200 * 10**9
"""


def _pytest_in(project: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A user's project with no conftest.py: one test module and an empty pytest.ini, so the
    session takes nothing from this repository's configuration."""
    (project / "pytest.ini").write_text("[pytest]\n")
    (project / "test_users.py").write_text(_USERS_TEST)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_plugin_provides_the_fixture_without_a_conftest(tmp_path: Path) -> None:
    """`-p tradetrail.integrations.testing`: the fixture with no conftest.py and no import
    (plugin autoload off, so an installed entry point cannot register it a second time)."""
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = _pytest_in(tmp_path, "-p", "tradetrail.integrations.testing", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    without = _pytest_in(tmp_path, env=env)  # and it is the plugin that provides it
    assert without.returncode == 1 and "fixture 'audit_events' not found" in without.stdout


def test_the_entry_point_of_pyproject_loads_the_plugin(tmp_path: Path) -> None:
    """The `pytest11` entry point that pyproject.toml declares, as an installed distribution
    publishes it: pytest loads the plugin by itself (tested without installing the package
    again, through a distribution's metadata on the path that declares the same entry point)."""
    pyproject = ROOT / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("not run from a source checkout (no pyproject.toml)")
    declared = tomllib.loads(pyproject.read_text())["project"]["entry-points"]["pytest11"]
    assert declared == {"tradetrail": "tradetrail.integrations.testing"}
    site = tmp_path / "site"
    dist = site / "tradetrail_entry_point_probe-0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: tradetrail-entry-point-probe\nVersion: 0\n"
    )
    lines = "".join(f"{name} = {target}\n" for name, target in declared.items())
    (dist / "entry_points.txt").write_text(f"[pytest11]\n{lines}")
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    project = tmp_path / "project"
    project.mkdir()
    done = _pytest_in(project, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
