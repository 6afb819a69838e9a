"""examples/bot.py: audited through a capture in a unit test, free with NullAuditor in a
backtest, and into a real trail that verifies, from Python and as a script."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from helpers import ROOT
from tradetrail.integrations.testing import capture
from tradetrail.verify.trail import verify_trail

EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def bot() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_bot", EXAMPLES / "bot.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def test_the_bot_audits_its_decisions(bot: ModuleType) -> None:
    with capture(strict=True) as events:
        summary = bot.Bot(events.auditor).run(bot.TAPE)
    assert (summary.signals, summary.orders, summary.refused) == (6, 5, 1)

    rejected = events.find("risk.rejected", rule="max_position_notional")
    assert rejected is not None
    assert rejected.fields["symbol"] == "BTC-USD"
    assert rejected.data["limit"] == "50000"
    assert rejected.data["observed"] == "60532.24"  # 0.918 BTC at 65939.26
    signal = events.find("signal.received", signal_id=rejected.fields["signal_id"])
    assert signal is not None and signal.data["side"] == "buy"
    refused = rejected.fields["signal_id"]
    assert not events.find_all("order.submitted", signal_id=refused)

    filled = events.find("order.filled", order_id="O-1")
    assert filled is not None
    assert filled.data == {
        "fill_qty": "0.155",
        "fill_price": "64640.00",
        "fee": "5.01",
        "fee_currency": "USD",
        "cum_qty": "0.309",
        "remaining_qty": "0.000",
        "side": "buy",
    }
    assert filled.fields["venue"] == "FAKEX" and filled.fields["exchange_order_id"] == "X-000001"
    assert events.types[:7] == [
        "signal.received",
        "risk.size_calculated",
        "risk.passed",
        "order.submitted",
        "order.accepted",
        "order.partially_filled",
        "order.filled",
    ]
    # bind() around each tick: every event carries the strategy and the account
    assert all(e.fields["strategy"] == "momentum" for e in events)
    assert all(e.fields["account"] == bot.ACCOUNT for e in events)


def test_a_backtest_runs_without_auditing(bot: ModuleType) -> None:
    with capture() as events:  # nothing reaches it: the default auditor is a NullAuditor
        summary = bot.Bot().run(bot.TAPE)
    assert (summary.signals, summary.orders, summary.refused) == (6, 5, 1)
    assert len(events) == 0


def test_the_bot_writes_a_trail_that_verifies(
    bot: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "trail"
    assert bot.main(["--home", str(home)]) == 0
    out = capsys.readouterr().out
    assert "6 signals, 5 orders, 1 refused by risk: 38 events recorded" in out
    report = verify_trail(home)
    assert report.ok and report.size == 38


def test_the_bot_runs_as_a_script(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "bot.py"), "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "events recorded" in result.stdout
    assert verify_trail(home).ok
