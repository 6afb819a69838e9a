"""Reports (`tradetrail report`, issue 6 §5) from real trails: a demo trail for every kind in
every format, determinism (same bytes twice, and in a fresh process), self-contained HTML with
charts; and a small hand-made trail whose latencies and slippage are known exactly."""

from __future__ import annotations

import hashlib
import itertools
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from conftest import SimClock
from helpers import run
from tradetrail.errors import TradetrailError
from tradetrail.reports import (
    REPORT_KINDS,
    Report,
    ReportError,
    build_report,
    build_reports,
    render,
)
from tradetrail.reports.model import percentile

TODAY = datetime(2024, 3, 6, tzinfo=UTC)
DAY1, DAY2, OPEN_DAY = "2024-03-04", "2024-03-05", "2024-03-06"
FORMATS = ("html", "md", "json")


@pytest.fixture(scope="module")
def demo(demo_trail_template: Path) -> Path:
    """The session's demo trail: reports only read it."""
    return demo_trail_template


def as_json(report: Report) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(render(report, "json"))
    return data


def table(doc: dict[str, Any], title: str) -> list[dict[str, Any]]:
    for section in doc["sections"]:
        for t in section["tables"]:
            if t["title"] == title:
                return [dict(zip(t["columns"], row, strict=True)) for row in t["rows"]]
    raise AssertionError(f"no table {title!r}")


# ------------------------------------------------------------------------------ the demo trail


@pytest.mark.parametrize("kind", REPORT_KINDS)
def test_every_kind_in_every_format(demo: Path, kind: str) -> None:
    report = build_report(demo, kind, DAY1, DAY2)
    assert not report.empty
    records = sum(
        (demo / "journal" / f"audit-{day.replace('-', '')}.jsonl").read_bytes().count(b"\n")
        for day in (DAY1, DAY2)
    )
    doc = as_json(report)
    assert doc["kind"] == kind and doc["format"] == "tradetrail.report/1"
    head = doc["header"]
    assert head["origin"] == "demo.tradetrail.local/simulated-desk"
    assert head["records"] == records
    assert head["seq"] == {"first": 0, "last": records - 1}
    assert head["checkpoint"]["signature_verified"] is True
    assert head["checkpoint"]["size"] >= records
    assert head["open_days"] == []
    md = render(report, "md").decode()
    assert md.startswith(f"# {report.title}\n")
    assert "0 – " + str(records - 1) in md and "<svg" not in md
    html = render(report, "html").decode()
    assert html.startswith("<!DOCTYPE html>") and html.endswith("</html>\n")
    assert html.count("<svg") >= 1, "HTML reports carry charts"
    assert "demo.tradetrail.local/simulated-desk" in html
    for fmt in FORMATS:  # same figures in each: every key figure appears
        text = render(report, fmt).decode()
        assert str(records - 1) in text


def test_html_is_self_contained(demo: Path) -> None:
    for kind in REPORT_KINDS:
        html = render(build_report(demo, kind, DAY1, OPEN_DAY), "html").decode()
        urls = set(re.findall(r"(?:https?:)?//[^\s\"'<>)]+", html))
        assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}, urls
        assert not re.search(r"<(script|link|img|iframe)\b", html)
        assert "@import" not in html and "url(http" not in html
        ids = re.findall(r'\bid="([^"]+)"', html)
        assert len(ids) == len(set(ids)), "charts share one document: ids must not clash"
        for ref in re.findall(r'url\(#([^)]+)\)|href="#([^"]+)"', html):
            assert (ref[0] or ref[1]) in ids
        assert "includes days still open" in html.lower()  # OPEN_DAY is still open


def test_demo_figures_match_the_journal(demo: Path) -> None:
    records = [
        orjson.loads(line)
        for day in (DAY1, DAY2)
        for line in (demo / "journal" / f"audit-{day.replace('-', '')}.jsonl")
        .read_bytes()
        .splitlines()
    ]
    count = lambda kind: sum(r["type"] == kind for r in records)  # noqa: E731
    daily = as_json(build_report(demo, "daily", DAY1, DAY2))["summary"]
    assert daily["orders"] == count("order.submitted")
    assert daily["rejects"] == count("order.rejected")
    assert daily["risk_rejects"] == count("risk.rejected")
    assert daily["executions"] == count("order.filled") + count("order.partially_filled")
    risk = as_json(build_report(demo, "risk", DAY1, DAY2))["summary"]
    assert risk["rejections"] == count("risk.rejected")
    assert risk["risk_events"] == sum(r["type"].startswith("risk.") for r in records)
    access = as_json(build_report(demo, "access", DAY1, DAY2))["summary"]
    assert access["logins"] == count("auth.login")
    assert access["login_failures"] == count("auth.login_failed")
    assert access["permission_changes"] == count("auth.permission_changed")
    config = as_json(build_report(demo, "config", DAY1, DAY2))["summary"]
    assert config["changes"] == count("config.changed")
    assert config["keys_changed"] == ["risk.max_order_notional"]
    execution = as_json(build_report(demo, "execution", DAY1, DAY2))["summary"]
    assert execution["orders"] == count("order.submitted")
    assert execution["acknowledged"] == count("order.accepted")
    assert execution["slippage_bps"]["signal"]["executions"] == daily["executions"]


def test_one_day_is_a_subset_of_the_range(demo: Path) -> None:
    one = as_json(build_report(demo, "daily", DAY1, DAY1))
    both = as_json(build_report(demo, "daily", DAY1, DAY2))
    assert one["header"]["journal_days"] == [DAY1]
    assert 0 < one["summary"]["orders"] < both["summary"]["orders"]
    by_day = table(both, "By day")
    assert [r["day"] for r in by_day] == [DAY1, DAY2]
    assert by_day[0]["orders"] == one["summary"]["orders"]


# ------------------------------------------------------------------------------ determinism


def test_one_pass_for_every_kind_gives_each_report_as_alone(demo: Path) -> None:
    start, end = DAY1, DAY2
    together = build_reports(demo, REPORT_KINDS, start, end)
    for kind, report in zip(REPORT_KINDS, together, strict=True):
        alone = build_report(demo, kind, start, end)
        assert report.kind == kind
        for fmt in ("html", "json"):
            assert render(report, fmt) == render(alone, fmt), (kind, fmt)
    with pytest.raises(ReportError, match="unknown report 'weekly'"):
        build_reports(demo, ("daily", "weekly"), start, end)


def test_same_bytes_twice(demo: Path) -> None:
    for kind in REPORT_KINDS:
        for fmt in FORMATS:
            a = render(build_report(demo, kind, DAY1, DAY2), fmt)
            b = render(build_report(demo, kind, DAY1, DAY2), fmt)
            assert a == b, (kind, fmt)


def test_same_bytes_in_a_fresh_process(demo: Path) -> None:
    script = (
        "import hashlib, sys\n"
        "from pathlib import Path\n"
        "from tradetrail.reports import REPORT_KINDS, build_report, render\n"
        "for kind in REPORT_KINDS:\n"
        "    for fmt in ('html', 'md', 'json'):\n"
        f"        data = render(build_report(Path(sys.argv[1]), kind, {DAY1!r}, {DAY2!r}), fmt)\n"
        "        print(kind, fmt, hashlib.sha256(data).hexdigest())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(demo)], capture_output=True, text=True, check=True
    )
    here = [
        f"{kind} {fmt} "
        + hashlib.sha256(render(build_report(demo, kind, DAY1, DAY2), fmt)).hexdigest()
        for kind in REPORT_KINDS
        for fmt in FORMATS
    ]
    assert done.stdout.splitlines() == here


def test_importing_tradetrail_does_not_import_matplotlib() -> None:
    code = (
        "import sys, tradetrail, tradetrail.reports, tradetrail.cli.report\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported eagerly'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------------------ exact figures


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 21))
    assert [percentile(values, p) for p in (50, 95, 99)] == [10, 19, 20]
    assert percentile([7], 99) == 7 and percentile([], 50) is None
    assert [percentile(list(range(1, 101)), p) for p in (50, 95, 99)] == [50, 95, 99]


def ts(base: str, ms: int) -> str:
    """An RFC 3339 time `ms` milliseconds after `base` (HH:MM:SS on 2024-03-01)."""
    total = int(base[:2]) * 3_600_000 + int(base[3:5]) * 60_000 + int(base[6:8]) * 1000 + ms
    h, rest = divmod(total, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, milli = divmod(rest, 1000)
    return f"2024-03-01T{h:02d}:{m:02d}:{s:02d}.{milli:03d}000Z"


@pytest.fixture
def small(home: Path, open_trail: Callable[..., Any], clock: SimClock) -> Path:
    """Day 2024-03-01: venue XA gets 20 market orders, acked after 1..20 ms and filled after
    101..120 ms; venue XB two limit orders with signals and known slippage; risk, config and
    access events. Day 2024-03-02: one login."""
    trail = open_trail()
    rec = trail.record
    for i in range(1, 21):
        base = f"09:{i:02d}:00"
        ids = {"order_id": f"A-{i}", "symbol": "AAA", "venue": "XA", "strategy": "s1"}
        rec("order.submitted", {"side": "buy", "qty": "1"}, event_ts=ts(base, 0), **ids)
        rec("order.accepted", {}, event_ts=ts(base, i), **ids)
        fill = {"fill_qty": "1", "fill_price": "10", "side": "buy", "trade_id": f"T{i}"}
        rec("order.filled", fill, event_ts=ts(base, 100 + i), **ids)
    # XB: buy 1 @ limit 100.20, signal 100, filled at 100.10: +10 bps vs signal, -9.98 vs limit
    rec(
        "signal.received",
        {"price": "100", "side": "buy"},
        signal_id="G1",
        event_ts=ts("10:00:00", 0),
    )
    b1 = {
        "order_id": "B-1",
        "client_order_id": "CB-1",
        "symbol": "BBB",
        "venue": "XB",
        "strategy": "s2",
    }
    rec(
        "order.submitted",
        {"side": "buy", "qty": "1", "price": "100.20"},
        signal_id="G1",
        event_ts=ts("10:00:00", 5),
        **b1,
    )
    # the ack carries only the client order id: linked through the submission
    rec("order.accepted", {}, client_order_id="CB-1", venue="XB", event_ts=ts("10:00:00", 7))
    rec(
        "order.filled",
        {"fill_qty": "1", "fill_price": "100.10", "trade_id": "U1"},
        event_ts=ts("10:00:00", 55),
        **b1,
    )
    # XB: sell 3 @ limit 99.90, signal 100, filled 99.98: +2 bps vs signal, -8.01 vs limit
    rec(
        "signal.received",
        {"price": "100", "side": "sell"},
        signal_id="G2",
        event_ts=ts("11:00:00", 0),
    )
    b2 = {"order_id": "B-2", "symbol": "BBB", "venue": "XB", "strategy": "s2"}
    rec(
        "order.submitted",
        {"side": "sell_short", "qty": "3", "price": "99.90"},
        signal_id="G2",
        event_ts=ts("11:00:00", 0),
        **b2,
    )
    rec("order.accepted", {}, event_ts=ts("11:00:00", 3), **b2)
    fill2 = {"fill_qty": "3", "fill_price": "99.98", "trade_id": "U2", "side": "sell_short"}
    rec("order.partially_filled", fill2, event_ts=ts("11:00:00", 40), **b2)
    rec("trade.executed", {"side": "sell", "qty": "3", "price": "99.98", "trade_id": "U2"}, **b2)
    rec(
        "order.rejected",
        {"reason": "price band", "rejected_by": "venue"},
        order_id="B-3",
        symbol="BBB",
        strategy="s2",
        venue="XB",
    )
    rec(
        "risk.rejected",
        {"rule": "max_position", "limit": "1000", "observed": "1200", "reason": "too big"},
        symbol="AAA",
        strategy="s1",
    )
    rec("risk.limit_breached", {"rule": "max_position", "limit": "1000", "observed": "1100"})
    rec("risk.passed", {"checks": ["max_position"]})
    rec("alert.sent", {"channel": "slack:#risk", "rule": "max_position", "severity": "warning"})
    rec("alert.sent", {"channel": "pagerduty:ops", "rule": "venue_down", "severity": "error"})
    rec(
        "config.snapshot",
        {
            "hash": "sha256:" + "a" * 64,
            "path": "desk.toml",
            "content": {"risk": {"max": "1"}, "x": 1},
        },
        actor="system",
    )
    rec(
        "config.changed",
        {
            "path": "desk.toml",
            "new_hash": "sha256:" + "b" * 64,
            "old_value": {"risk": {"max": "1"}, "x": 1},
            "new_value": {"risk": {"max": "2"}, "x": 1},
            "reason": "vol",
        },
        actor="j.smith",
    )
    rec(
        "config.snapshot",
        {
            "hash": "sha256:" + "b" * 64,
            "path": "desk.toml",
            "content": {"risk": {"max": "2"}, "x": 1},
        },
        actor="system",
    )
    rec("auth.login", {"remote_addr": "10.0.0.1", "mfa": True}, actor="alice")
    rec("auth.login", {"remote_addr": "10.0.0.2"}, actor="alice")
    rec(
        "auth.login_failed",
        {"reason": "bad password", "username": "bob", "remote_addr": "203.0.113.9", "attempts": 3},
        actor="anonymous",
    )
    rec(
        "auth.login_failed",
        {"reason": "bad password", "username": "bob", "remote_addr": "203.0.113.9"},
    )
    rec(
        "auth.permission_changed",
        {"subject": "bob", "granted": ["trade:BBB"], "role": "trader"},
        actor="alice",
    )
    trail.flush()
    clock.set("2024-03-02T08:00:00")
    rec("auth.login", {"remote_addr": "10.0.0.1"}, actor="carol")
    trail.flush()
    return home


def test_exact_latency_percentiles(small: Path) -> None:
    doc = as_json(build_report(small, "execution", "2024-03-01", "2024-03-01"))
    rows = {r["venue"]: r for r in table(doc, "Latency by venue (milliseconds)")}
    xa = rows["XA"]
    assert (xa["orders"], xa["acked"], xa["filled"]) == (20, 20, 20)
    assert (xa["ack p50 ms"], xa["ack p95 ms"], xa["ack p99 ms"]) == ("10.000", "19.000", "20.000")
    assert (xa["fill p50 ms"], xa["fill p95 ms"], xa["fill p99 ms"]) == (
        "110.000",
        "119.000",
        "120.000",
    )
    xb = rows["XB"]
    assert (xb["orders"], xb["acked"], xb["filled"]) == (2, 2, 2)
    assert (xb["ack p50 ms"], xb["ack p99 ms"]) == ("2.000", "3.000")  # 2 ms (CB-1), 3 ms
    assert (xb["fill p50 ms"], xb["fill p99 ms"]) == ("40.000", "50.000")
    # all 22 orders: 1..20 ms and 2, 3 ms; the 11th smallest is 9 ms
    assert doc["summary"]["submit_to_ack_ms"] == {"p50": "9.000", "p95": "19.000", "p99": "20.000"}


def test_exact_slippage(small: Path) -> None:
    doc = as_json(build_report(small, "execution", "2024-03-01", "2024-03-01"))
    rows = {
        (r["venue"], r["benchmark"]): r
        for r in table(doc, "Slippage by venue (bps, positive = worse)")
    }
    signal = rows[("XB", "signal")]
    assert signal["executions"] == 2  # the trade.executed repeating U2 is not counted again
    assert signal["notional"] == "400.04"  # 1 x 100.10 + 3 x 99.98; no currency recorded
    # weighted by notional: (10 x 100.10 + 2 x 299.94) / 400.04 = 4.0018
    assert signal["mean bps (notional-weighted)"] == "4.00"
    assert "quantity" not in signal  # venues trade several instruments: no summed quantity
    by_symbol = {
        r["symbol"]: r for r in table(doc, "Slippage against the signal price by symbol (bps)")
    }
    assert by_symbol["BBB"]["quantity"] == "4"  # one instrument: its quantity adds up
    assert (signal["p50 bps"], signal["worst bps"]) == ("2.00", "10.00")
    limit = rows[("XB", "limit")]
    assert (limit["p50 bps"], limit["worst bps"]) == ("-9.98", "-8.01")  # price improvement
    assert ("XA", "signal") not in rows  # market orders without a signal: no benchmark
    assert doc["summary"]["unlinked"]["executions_without_benchmark"] == 20
    assert doc["summary"]["slippage_bps"]["arrival"] is None


def test_small_trail_other_kinds(small: Path) -> None:
    daily = as_json(build_report(small, "daily", "2024-03-01", "2024-03-01"))
    s = daily["summary"]
    assert (s["orders"], s["executions"], s["rejects"], s["risk_rejects"]) == (22, 22, 1, 1)
    assert s["notional"] == "600.04" and s["sell_notional"] == "299.94"
    sym = {r["symbol"]: r for r in table(daily, "By symbol")}
    assert sym["AAA"]["filled qty"] == "20" and sym["BBB"]["venue/OMS rejects"] == 1
    strat = {r["strategy"]: r for r in table(daily, "By strategy")}
    assert strat["s1"]["risk rejects"] == 1 and strat["s2"]["orders"] == 2

    risk = as_json(build_report(small, "risk", "2024-03-01", "2024-03-01"))
    assert risk["summary"]["by_type"] == {
        "alert.sent (risk)": 1,
        "risk.limit_breached": 1,
        "risk.passed": 1,
        "risk.rejected": 1,
    }
    assert [r["type"] for r in table(risk, "Notable risk events")] == [
        "risk.rejected",
        "risk.limit_breached",
    ]
    assert [r["rule"] for r in table(risk, "Risk alerts")] == ["max_position"]

    config = as_json(build_report(small, "config", "2024-03-01", "2024-03-01"))
    (change,) = table(config, "config.changed")
    assert change["who"] == "j.smith" and change["keys"] == "risk.max"
    snaps = table(config, "config.snapshot")
    assert [r["keys changed"] for r in snaps] == ["first in range", "risk.max"]

    access = as_json(build_report(small, "access", "2024-03-01", "2024-03-02"))
    a = access["summary"]
    assert (a["logins"], a["login_failures"], a["failed_attempts"]) == (3, 2, 4)
    users = {r["user"]: r for r in table(access, "By user")}
    assert users["alice"]["logins"] == 2 and users["alice"]["with MFA"] == 1
    assert users["bob"]["failed attempts"] == 4 and users["carol"]["logins"] == 1
    sources = {r["source"]: r for r in table(access, "By source")}
    assert sources["203.0.113.9"]["failure events"] == 2
    (perm,) = table(access, "Permission changes")
    assert (perm["changed by"], perm["subject"], perm["granted"]) == ("alice", "bob", "trade:BBB")


# ------------------------------------------------------------------------------ empty and errors


def test_a_range_without_data_still_renders(demo: Path) -> None:
    for kind in REPORT_KINDS:
        report = build_report(demo, kind, "2024-02-01", "2024-02-03")
        assert report.empty and report.header.records == 0
        assert report.header.first_seq is None and report.header.checkpoint is None
        for fmt in FORMATS:
            text = render(report, fmt).decode()
            assert "No journal records in this range" in text or fmt == "json"
        assert "in this range" in render(report, "md").decode()


def test_a_kind_without_events_says_so(small: Path) -> None:
    report = build_report(small, "config", "2024-03-02", "2024-03-02")
    assert report.header.records == 1 and report.empty
    assert "No configuration events in this range." in render(report, "html").decode()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("weekly", "2024-03-04", "2024-03-04"), "unknown report 'weekly'"),
        (("daily", "2024-3-4", "2024-03-04"), "expected a date YYYY-MM-DD"),
        (("daily", "2024-02-30", "2024-03-04"), "2024-02-30"),
        (("daily", "2024-03-05", "2024-03-04"), "is after --to"),
    ],
)
def test_bad_arguments(demo: Path, args: tuple[str, str, str], message: str) -> None:
    with pytest.raises(ReportError, match=re.escape(message)) as info:
        build_report(demo, *args)
    assert isinstance(info.value, TradetrailError)


def test_missing_trail_and_bad_format(tmp_path: Path, demo: Path) -> None:
    with pytest.raises(ReportError, match="not a trail"):
        build_report(tmp_path / "nowhere", "daily", DAY1, DAY1)
    with pytest.raises(ReportError, match="unknown format 'pdf'"):
        render(build_report(demo, "daily", DAY1, DAY1), "pdf")


# ------------------------------------------------------------------------------ the command


def test_cli_writes_a_file_and_stdout(demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "risk.html"
    result = run("report", "risk", "--home", demo, "--from", DAY1, "--to", DAY2, "--out", out)
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == render(build_report(demo, "risk", DAY1, DAY2), "html")
    md = tmp_path / "access.md"
    result = run("report", "access", "--home", demo, "--date", DAY1, "--out", md)
    assert result.exit_code == 0, result.output
    assert md.read_text().startswith("# Access summary")
    result = run("report", "execution", "--home", demo, "--date", DAY1, "--format", "json")
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout_bytes)["kind"] == "execution"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("report", "daily", "--date", "2024-13-01"), "2024-13-01"),
        (("report", "daily", "--from", DAY2, "--to", DAY1), "is after --to"),
        (("report", "daily"), "give --date"),
        (("report", "daily", "--date", DAY1, "--from", DAY1), "either --date or --from/--to"),
        (("report", "weekly", "--date", DAY1), "weekly"),
    ],
)
def test_cli_errors_exit_2(demo: Path, args: tuple[str, ...], message: str) -> None:
    result = run(*args, "--home", demo)
    assert result.exit_code == 2
    assert message in result.output


def test_cli_missing_trail(tmp_path: Path) -> None:
    result = run("report", "daily", "--home", tmp_path / "none", "--date", DAY1)
    assert result.exit_code == 2 and "is not a trail" in result.output


# ------------------------------------------------------------------------------ readable (issue 15)


def test_money_and_counts_carry_separators_and_units(demo: Path) -> None:
    report = build_report(demo, "daily", DAY1, DAY2)
    doc = as_json(report)
    assert doc["summary"]["currency"] == "USD"  # data.currency of the demo's orders
    notional = doc["summary"]["notional"]
    assert "," not in notional  # JSON keeps the exact decimal
    whole, _, cents = notional.partition(".")
    shown = f"{int(whole):,}.{cents}"
    assert len(whole) > 6 and shown.count(",") >= 2
    html = render(report, "html").decode()
    assert f'<div class="v">{shown}<span class="u">USD</span></div>' in html
    assert "<th>notional (USD)</th>" in html
    assert f"{shown} USD" in render(report, "md").decode()
    # seq numbers are identifiers: never grouped
    risk = render(build_report(demo, "risk", DAY1, DAY2), "html").decode()
    seqs = re.findall(r'<td class="t"><time[^>]*>[^<]*</time></td><td class="n">([^<]*)</td>', risk)
    assert seqs and any(len(s) >= 4 for s in seqs) and not any("," in s for s in seqs)


def test_cards_are_figures_not_sentences(demo: Path) -> None:
    html = render(build_report(demo, "execution", DAY1, DAY2), "html").decode()
    values = re.findall(r'<div class="v">(.*?)</div>', html)
    assert values
    for value in values:
        number = re.sub(r'<span class="u">[^<]*</span>$', "", value)
        assert re.fullmatch(r"[-0-9,.]+|—", number), value


def test_quantities_of_different_instruments_are_never_added(demo: Path) -> None:
    execution = as_json(build_report(demo, "execution", DAY1, DAY2))
    for figures in execution["summary"]["slippage_bps"].values():
        assert "quantity" not in figures and figures["notional"]
    venues = table(execution, "Slippage by venue (bps, positive = worse)")
    assert "quantity" not in venues[0] and "notional (USD)" in venues[0]
    by_symbol = table(execution, "Slippage against the signal price by symbol (bps)")
    assert {r["symbol"] for r in by_symbol} == {"AAPL", "BTC-USD", "ETH-USD", "SOL-USD"}
    assert all(r["quantity"] for r in by_symbol)
    daily = as_json(build_report(demo, "daily", DAY1, DAY2))
    assert "filled qty" in table(daily, "By symbol")[0]
    assert "filled qty" not in table(daily, "By strategy")[0]
    assert "filled qty" not in table(daily, "By day")[0]


def test_timeline_keeps_empty_hours(demo: Path) -> None:
    """The risk timeline is drawn on a time axis spanning the whole range: the night between
    the two demo days stays as wide as it was, instead of 20:00 sitting beside 08:00."""
    from tradetrail.reports.charts import svg

    report = build_report(demo, "risk", DAY1, DAY2)
    chart = next(c for s in report.sections for c in s.charts if c.kind == "timeline")
    assert chart.span == (DAY1, DAY2)
    hours = sorted({label[11:13] for label in chart.labels})
    assert len(hours) < 24  # the demo trades by day: some hours have no event
    drawn = svg(chart, 1)
    bars = re.findall(r'<g id="c1-patch_\d+">\s*<path d="M ([0-9.]+) ', drawn)
    xs = sorted({float(x) for x in bars})
    gaps = [b - a for a, b in itertools.pairwise(xs)]
    assert max(gaps) > 8 * min(gaps)  # the overnight gap is drawn as one


def test_charts_name_title_and_axes(demo: Path) -> None:
    for kind in REPORT_KINDS:
        html = render(build_report(demo, kind, DAY1, DAY2), "html").decode()
        charts = re.findall(r"<svg .*?</svg>", html, flags=re.S)
        assert charts, kind
        for chart in charts:
            assert re.search(r"<title>[^<]+</title>", chart), kind
            for part in ("title", "xlabel", "ylabel"):
                assert re.search(rf'<g id="c\d+-{part}">\s*<text[^>]*>[^<]+</text>', chart), (
                    kind,
                    part,
                )
            texts = re.findall(r"<text[^>]*>([^<]*)</text>", chart)
            assert not [t for t in texts if re.search(r"1e[-+]?\d|×10", t)], (kind, texts)


def test_timestamps_are_compact_in_html_exact_in_json(demo: Path) -> None:
    report = build_report(demo, "config", DAY1, DAY2)
    exact = table(as_json(report), "config.changed")[0]["time"]
    html = render(report, "html").decode()
    cut = exact[:10] + " " + exact[11:23]
    assert f'<td class="t"><time datetime="{exact}">{cut}</time></td>' in html


def test_amounts_in_different_currencies_are_never_added(
    home: Path, open_trail: Callable[..., Any], clock: SimClock
) -> None:
    clock.set("2024-03-01T09:00:00")
    trail = open_trail()
    for n, (symbol, currency, price) in enumerate((("AAA", "USD", "10"), ("EEE", "EUR", "20"))):
        ids = {"order_id": f"O-{n}", "symbol": symbol, "venue": "XV", "strategy": "s"}
        submitted = {"side": "buy", "qty": "5", "price": price, "currency": currency}
        trail.record("order.submitted", submitted, **ids)
        fill = {"fill_qty": "5", "fill_price": price, "side": "buy", "trade_id": f"T{n}"}
        trail.record("order.filled", fill, **ids)
    trail.flush()
    day = "2024-03-01"
    daily = as_json(build_report(home, "daily", day, day))
    assert daily["summary"]["currency"] is None and daily["summary"]["notional"] is None
    rows = {r["symbol"]: r for r in table(daily, "By symbol")}
    assert (rows["AAA"]["currency"], rows["AAA"]["notional"]) == ("USD", "50.00")
    assert (rows["EEE"]["currency"], rows["EEE"]["notional"]) == ("EUR", "100.00")
    assert table(daily, "By strategy")[0]["notional"] is None  # 50 USD + 100 EUR: no sum
    execution = as_json(build_report(home, "execution", day, day))
    assert execution["summary"]["slippage_bps"]["limit"]["notional"] is None
    html = render(build_report(home, "daily", day, day), "html").decode()
    assert "Notional by symbol" not in html  # one axis cannot carry two currencies


def test_html_without_matplotlib_names_the_extra_in_one_line(small: Path, tmp_path: Path) -> None:
    """matplotlib is the extra tradetrail[reports] (a trading process need not install it): an
    HTML report without it is one line naming what to install, exit 2, no traceback; the other
    formats need nothing more."""
    code = (
        "import sys\n"
        "sys.modules['matplotlib'] = None  # as if not installed\n"
        "from tradetrail.cli import main\n"
        "main(sys.argv[1:], prog_name='tradetrail')\n"
    )
    args = ["report", "daily", "--home", str(small), "--date", "2024-03-01"]
    html = subprocess.run(
        [sys.executable, "-c", code, *args, "--out", str(tmp_path / "r.html")],
        capture_output=True,
        text=True,
    )
    assert html.returncode == 2, html.stderr
    assert len(html.stderr.strip().splitlines()) == 1
    assert "HTML reports need matplotlib" in html.stderr
    assert "pip install 'tradetrail[reports]'" in html.stderr
    md = subprocess.run(
        [sys.executable, "-c", code, *args, "--format", "md"], capture_output=True, text=True
    )
    assert md.returncode == 0, md.stderr
