"""Rules files and the rule engine, on an injected clock: exact decimal conditions, rates over
windows, absences, dedup, repeat, quiet hours, escalation, resolution, summaries."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from helpers import ROOT
from tradetrail.alerts.engine import Alert, Engine
from tradetrail.alerts.rules import Condition, RulesError, load_rules, parse_rules, resolve_env
from tradetrail.core.timefmt import format_ns

S = 1_000_000_000
T0 = 1_709_540_000 * S  # 2024-03-04T08:13:20Z, a Monday
CHANNELS = {
    "slack": {"type": "slack", "url": "http://127.0.0.1:9/x"},
    "pager": {"type": "pagerduty", "routing_key": "k"},
    "sms": {"type": "sms", "url": "http://127.0.0.1:9/sms", "to": ["+15550100"]},
}


def ruleset(*rules: dict[str, Any], **top: Any) -> Any:
    return parse_rules({"channels": CHANNELS, "defaults": {"routes": ["slack"]}, **top,
                        "rules": list(rules)})  # fmt: skip


class Clock:
    def __init__(self, ns: int = T0) -> None:
        self.ns = ns

    def __call__(self) -> int:
        return self.ns


class Feed:
    """An engine and a journal of records it is fed, `ts` from the clock."""

    def __init__(self, *rules: dict[str, Any], **top: Any) -> None:
        self.clock = Clock()
        self.engine = Engine(ruleset(*rules, **top), self.clock)
        self.seq = 0

    def at(self, seconds: float) -> Feed:
        self.clock.ns = T0 + int(seconds * S)
        return self

    def record(
        self, event_type: str, data: dict[str, Any] | None = None, **env: Any
    ) -> list[Alert]:
        record = {"seq": self.seq, "ts": format_ns(self.clock.ns), "type": event_type, **env}
        if data is not None:
            record["data"] = data
        self.seq += 1
        return self.engine.feed(record)

    def tick(self) -> list[Alert]:
        return self.engine.tick()


# --------------------------------------------------------------------------- rules files


def test_the_shipped_example_is_valid_and_uses_real_event_types() -> None:
    from tradetrail.model.events import DEFAULT_MODEL

    rules = load_rules(ROOT / "examples" / "alerts.yaml")
    assert {r.kind for r in rules.rules} == {"event", "rate", "absent", "summary"}
    types = {t for r in rules.rules for t in r.match.types}
    assert types <= set(DEFAULT_MODEL.types()), types - set(DEFAULT_MODEL.types())
    assert {c["type"] for c in rules.channels.values()} == {
        "webhook", "slack", "email", "pagerduty", "sms"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"name": "a", "severity": "urgent", "match": {"type": "x.y"}},
         "rules[0] 'a'.severity: 'urgent' is not one of"),
        ({"name": "slow", "severity": "info", "match": {"type": "x.y"}, "rate": {"window": "1m"}},
         "rules[0] 'slow'.rate: 'more_than' is a required property"),
        ({"name": "b", "severity": "info", "match": {"type": "x", "where": ["data.qty >"]}},
         "rules[0] 'b'.match.where[0]"),
        ({"name": "c", "severity": "info", "match": {"type": "x"}, "routes": ["slak"]},
         "rules[0] 'c'.routes[0]: no channel 'slak'"),
        ({"name": "d", "severity": "info", "match": {"type": "x", "where": ["data.side > buy"]}},
         "rules[0] 'd'.match.where[0]: 'data.side > buy': > compares decimals only"),
        ({"name": "e", "severity": "info", "match": {"type": "x"}, "absent": {"by": 420}},
         'rules[0] \'e\'.absent.by: 420 is not of type \'string\' (quote times of day'),
        ({"name": "f", "severity": "info", "match": {"type": "x"},
          "escalate": [{"after": "5m", "routes": ["sms"]}]},
         "rules[0] 'f'.escalate: an event rule escalates only when it has `resolve`"),
        ({"name": "g", "severity": "info", "match": {"type": "x"}, "dedup": "5 minutes"},
         "rules[0] 'g'.dedup: '5 minutes' does not match"),
    ],
)  # fmt: skip
def test_a_bad_rule_is_named_with_its_field(rule: dict[str, Any], message: str) -> None:
    with pytest.raises(RulesError) as info:
        ruleset(rule)
    assert message in str(info.value)


def test_a_bad_channel_is_named_with_its_field() -> None:
    rule = {"name": "a", "severity": "info", "match": {"type": "x"}, "routes": ["ops"]}
    doc = {"channels": {"ops": {"type": "pagerduty"}}, "rules": [rule]}
    with pytest.raises(RulesError, match=r"channels\.ops: 'routing_key' is a required property"):
        parse_rules(doc)


def test_yaml_errors_say_where(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("rules:\n  - name: [a\n")
    with pytest.raises(RulesError, match=r"r\.yaml: line 3, column 1: not YAML"):
        load_rules(path)


def test_secrets_come_from_the_environment() -> None:
    conf = {"url": "https://hooks.slack.com/${SLACK_PATH}", "headers": {"A": "${TOKEN}"}}
    assert resolve_env(conf, "channels.ops", {"SLACK_PATH": "T/B/x", "TOKEN": "t"}) == {
        "url": "https://hooks.slack.com/T/B/x", "headers": {"A": "t"}
    }  # fmt: skip
    with pytest.raises(RulesError, match=r"channels\.ops\.headers\.A: environment variable TOKEN"):
        resolve_env(conf, "channels.ops", {"SLACK_PATH": "x"})


# --------------------------------------------------------------------------- conditions


def test_decimal_comparisons_are_exact() -> None:
    cond = Condition.parse("data.slippage_bps > 20")
    assert not cond.holds({"data": {"slippage_bps": "20"}})
    assert not cond.holds({"data": {"slippage_bps": "20.000000000000000000000000000000"}})
    assert cond.holds({"data": {"slippage_bps": "20.000000000000000000000000000001"}})
    assert cond.holds({"data": {"slippage_bps": 21}})
    assert not cond.holds({"data": {"slippage_bps": "twenty"}})
    assert not cond.holds({"data": {}})
    assert not cond.holds({"data": {"slippage_bps": True}})
    # 0.1 + 0.2 as a float is 0.30000000000000004: exactly above 0.3, as the journal holds it
    assert Condition.parse("data.x > 0.3").holds({"data": {"x": 0.1 + 0.2}})
    assert Condition.parse("data.x == 0.30").holds({"data": {"x": "0.3"}})
    assert Condition.parse("data.engaged == true").holds({"data": {"engaged": True}})
    assert not Condition.parse("data.engaged == true").holds({"data": {"engaged": "true"}})
    assert Condition.parse("venue != 'BINANCE'").holds({"venue": "SIMX"})
    assert Condition.parse("data.rule == max_notional").holds({"data": {"rule": "max_notional"}})
    assert Condition.parse("context.slippage_bps exists").holds({"context": {"slippage_bps": 1}})
    assert Condition.parse("data.reason missing").holds({"data": {}})


decimals = st.decimals(allow_nan=False, allow_infinity=False, places=12, min_value=-10**9,
                       max_value=10**9)  # fmt: skip


@given(value=decimals, threshold=decimals)
def test_comparisons_agree_with_decimal_arithmetic(value: Decimal, threshold: Decimal) -> None:
    record = {"data": {"v": str(value)}}
    for op, expected in [(">", value > threshold), (">=", value >= threshold),
                         ("<", value < threshold), ("<=", value <= threshold),
                         ("==", value == threshold), ("!=", value != threshold)]:  # fmt: skip
        assert Condition.parse(f"data.v {op} {threshold}").holds(record) is expected


# --------------------------------------------------------------------------- the engine


def test_event_rule_fires_with_its_seq_and_dedups_then_sends_what_it_held_back() -> None:
    f = Feed({"name": "fail", "severity": "error", "match": {"type": "trade.execution_failed"},
              "group_by": ["venue"], "dedup": "5m"})  # fmt: skip
    [first] = f.record("trade.execution_failed", {"reason": "x"}, venue="SIMX")
    assert (first.rule, first.seqs, first.key, first.action) == (
        "fail",
        (0,),
        "fail/SIMX",
        "trigger",
    )
    assert f.at(60).record("trade.execution_failed", {"reason": "y"}, venue="SIMX") == []
    assert len(f.at(61).record("trade.execution_failed", {"reason": "z"}, venue="OTHER")) == 1
    assert f.at(200).tick() == []
    [held] = f.at(300).tick()
    assert held.seqs == (1,) and held.key == "fail/SIMX"


def test_rate_over_a_window_fires_once_then_resolves() -> None:
    f = Feed({"name": "api", "severity": "error", "match": {"type": "venue.api_error"},
              "rate": {"more_than": 5, "window": "1m"}, "group_by": ["venue"]})  # fmt: skip
    fired = [a for i in range(5) for a in f.at(i * 10).record("venue.api_error", venue="V")]
    assert fired == []  # five in a minute is not more than five
    [alert] = f.at(55).record("venue.api_error", venue="V")
    assert alert.seqs == (0, 1, 2, 3, 4, 5) and alert.action == "trigger"
    assert f.at(56).record("venue.api_error", venue="V") == []  # firing: not again
    assert f.at(59).tick() == []
    assert f.at(61).tick() == []  # seq 0 left the window: six are left, still more than five
    [resolved] = f.at(71).tick()  # seq 1 too: five
    assert resolved.action == "resolve" and resolved.key == "api/V"


def test_rate_counts_only_inside_the_window() -> None:
    f = Feed({"name": "api", "severity": "error", "match": {"type": "venue.api_error"},
              "rate": {"more_than": 2, "window": "1m"}})  # fmt: skip
    fired = [a for t in (0, 61, 122, 183) for a in f.at(t).record("venue.api_error")]
    assert fired == []


def test_absence_fires_after_its_time_and_resolves_on_the_next_record() -> None:
    f = Feed({"name": "hb", "severity": "critical", "match": {"type": "system.heartbeat"},
              "absent": {"for": "5m"}, "repeat_interval": "1h"})  # fmt: skip
    assert f.at(299).tick() == []
    [alert] = f.at(301).tick()
    assert alert.message == "no system.heartbeat for 5m" and alert.seqs == ()
    assert f.at(600).tick() == []  # firing; the repeat is an hour away
    [again] = f.at(301 + 3600).tick()
    assert again.action == "trigger"
    [resolved] = f.at(4000).record("system.heartbeat")
    assert resolved.action == "resolve" and resolved.seqs == (0,)
    assert f.at(4200).tick() == []
    [late] = f.at(4301).tick()
    assert late.seqs == (0,)  # the last one seen


def test_absence_by_a_time_of_day() -> None:
    f = Feed({"name": "pack", "severity": "error", "match": {"type": "compliance.export_made"},
              "absent": {"by": "09:00"}})  # fmt: skip
    assert f.at(0).tick() == []  # 08:13
    [alert] = f.at(48 * 60).tick()  # 09:01
    assert alert.message == "no compliance.export_made by 09:00 UTC"
    assert f.at(50 * 60).tick() == []
    [resolved] = f.record("compliance.export_made", {"kind": "daily_pack"})
    assert resolved.action == "resolve"
    assert f.at(86400 + 48 * 60).tick() != []  # the next day, nothing again by 09:00
    f.at(2 * 86400).record("compliance.export_made", {"kind": "daily_pack"})  # 08:13, in time
    assert f.at(2 * 86400 + 48 * 60).tick() == []


def test_quiet_hours_mute_below_their_severity() -> None:
    quiet = {"start": "22:00", "end": "06:00", "except": "critical"}
    f = Feed({"name": "w", "severity": "warning", "match": {"type": "order.rejected"},
              "quiet_hours": quiet},
             {"name": "c", "severity": "critical", "match": {"type": "order.rejected"},
              "quiet_hours": quiet})  # fmt: skip
    day = [a.muted for a in f.at(0).record("order.rejected", {"reason": "x"})]
    night = {a.rule: a.muted for a in f.at(15 * 3600).record("order.rejected", {"reason": "x"})}
    assert day == [False, False]
    assert night == {"w": True, "c": False}  # 23:13: quiet, but critical goes out
    f.at(22 * 3600 + 60)  # 06:14 the next day
    assert [a.muted for a in f.record("order.rejected", {"reason": "x"})] == [False, False]


def test_escalation_until_resolved() -> None:
    f = Feed({"name": "kill", "severity": "critical", "match": {"type": "risk.kill_switch",
              "where": ["data.engaged == true"]}, "routes": ["pager"],
              "resolve": {"type": "risk.kill_switch", "where": ["data.engaged == false"]},
              "escalate": [{"after": "15m", "routes": ["sms"]}]})  # fmt: skip
    [alert] = f.record("risk.kill_switch", {"engaged": True, "reason": "loss"})
    assert alert.routes == ("pager",)
    assert f.at(899).tick() == []
    [escalated] = f.at(900).tick()
    assert escalated.routes == ("sms",) and escalated.escalation == 1
    assert f.at(2000).tick() == []  # once per step
    [resolved] = f.at(2100).record("risk.kill_switch", {"engaged": False, "reason": "ok"})
    assert resolved.action == "resolve" and resolved.key == alert.key
    f.at(3000).record("risk.kill_switch", {"engaged": True, "reason": "again"})
    assert f.at(3000 + 899).tick() == []  # escalation counts from the new alert


def test_alert_records_do_not_feed_rules_that_do_not_name_them() -> None:
    f = Feed({"name": "all", "severity": "info", "match": {"type": "*"}},
             {"name": "alerts", "severity": "info", "match": {"type": "alert.failed"}})  # fmt: skip
    assert [a.rule for a in f.record("alert.sent", {})] == []
    assert [a.rule for a in f.record("alert.failed", {})] == ["alerts"]
    assert [a.rule for a in f.at(400).record("order.rejected", {})] == ["all"]


def test_summary_at_a_time_of_day_counts_what_matched() -> None:
    f = Feed({"name": "daily", "severity": "info", "match": {"category": ["order", "risk"]},
              "summary": {"at": "17:00"}})  # fmt: skip
    for _ in range(3):
        f.record("order.submitted", {})
    f.record("risk.rejected", {"rule": "x"})
    f.record("venue.api_error", {"error": "x"})
    assert f.at(8 * 3600).tick() == []  # 16:13
    [summary] = f.at(9 * 3600).tick()  # 17:13
    assert summary.message == (
        "4 order.* or risk.* since the last summary: order.submitted 3, risk.rejected 1"
    )
    assert f.at(9 * 3600 + 60).tick() == []


def test_message_templates_fill_record_fields() -> None:
    f = Feed({"name": "k", "severity": "critical", "match": {"type": "risk.kill_switch"},
              "message": "kill switch on {venue}: {data.reason} ({data.nope})"})  # fmt: skip
    [alert] = f.record("risk.kill_switch", {"engaged": True, "reason": "loss"}, venue="SIMX")
    assert alert.message == "kill switch on SIMX: loss ({data.nope})"
    assert alert.title == "[CRITICAL] k: kill switch on SIMX: loss ({data.nope})"


def test_yaml_times_need_quotes_and_say_so(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"channels": CHANNELS, "rules": [
        {"name": "s", "severity": "info", "match": {"type": "x"}, "routes": ["slack"],
         "summary": {"at": 420}}]}))  # fmt: skip
    with pytest.raises(RulesError, match="quote times of day"):
        load_rules(path)
