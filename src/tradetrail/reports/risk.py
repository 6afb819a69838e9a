"""Risk-event history: every `risk.*` event counted by type and by rule, the notable ones
(rejections, breaches, caps, kill switch, leverage and margin changes) on a timeline, and the
alerts that concern risk. Routine evidence (`risk.passed`, `risk.size_calculated`) is counted,
not listed: it would drown the events a reviewer looks for."""

from __future__ import annotations

from typing import Any, Final

from .common import Finished, label
from .model import Cell, Chart, Header, Section, Table
from .scan import event_ns

__all__ = ["MAX_TIMELINE", "RiskCollector", "is_risk_alert"]

MAX_TIMELINE: Final = 2000
"""Rows kept on the timeline; the table says how many there were in all."""

ROUTINE: Final = frozenset({"risk.passed", "risk.size_calculated"})
_RISK_WORDS: Final = (
    "risk",
    "limit",
    "exposure",
    "drawdown",
    "loss",
    "margin",
    "leverage",
    "kill",
    "notional",
    "position",
)
_TIMELINE_COLUMNS: Final = (
    "time",
    "seq",
    "type",
    "rule",
    "symbol",
    "strategy",
    "account",
    "limit",
    "observed",
    "detail",
)


def is_risk_alert(data: dict[str, Any]) -> bool:
    """An `alert.sent` about risk: its rule or channel names a risk subject (risk, limit,
    exposure, drawdown, loss, margin, leverage, kill switch, notional, position)."""
    text = f"{data.get('rule', '')} {data.get('channel', '')}".lower()
    return any(word in text for word in _RISK_WORDS)


def _when(rec: dict[str, Any]) -> str:
    value = rec.get("event_ts") or rec.get("ts")
    return value if type(value) is str else ""


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if type(value) is str else str(value)


def _detail(kind: str, data: dict[str, Any]) -> str:
    if kind == "risk.size_capped":
        return f"qty {data.get('requested_qty')} → {data.get('capped_qty')}"
    if kind == "risk.kill_switch":
        state = "engaged" if data.get("engaged") else "released"
        return f"{state}: {data.get('reason', '')}".rstrip(": ")
    if kind == "risk.leverage_set":
        return f"leverage {data.get('old_leverage', '?')} → {data.get('leverage')}"
    if kind == "risk.margin_type_set":
        return f"margin {data.get('old_margin_type', '?')} → {data.get('margin_type')}"
    parts = [str(data[k]) for k in ("reason", "action") if type(data.get(k)) is str]
    return "; ".join(parts)


class RiskCollector:
    """Counts per type and rule, a bounded timeline, and hourly (or daily) buckets."""

    needles: tuple[bytes, ...] = (b'"risk.', b'"alert.sent"')

    def __init__(self, bucket_chars: int) -> None:
        self.by_type: dict[str, int] = {}
        self.by_rule: dict[tuple[str, str], int] = {}
        self.timeline: list[tuple[Cell, ...]] = []
        self.timeline_total = 0
        self.alerts: list[tuple[Cell, ...]] = []
        self.alerts_total = 0
        self.buckets: dict[tuple[str, str], int] = {}
        self._bucket_chars = bucket_chars
        self.kill_switch = 0

    def add(self, rec: dict[str, Any]) -> None:
        kind = rec.get("type")
        data = rec.get("data")
        data = data if type(data) is dict else {}
        if kind == "alert.sent":
            if not is_risk_alert(data):
                return
            self.by_type["alert.sent (risk)"] = self.by_type.get("alert.sent (risk)", 0) + 1
            self.alerts_total += 1
            if len(self.alerts) < MAX_TIMELINE:
                self.alerts.append(
                    (
                        _when(rec),
                        rec.get("seq") if type(rec.get("seq")) is int else None,
                        label(data.get("rule")),
                        label(data.get("severity")),
                        label(data.get("channel")),
                        _text(data.get("message")),
                    )
                )
            self._bucket(rec, "risk alert")
            return
        if type(kind) is not str or not kind.startswith("risk."):
            return
        self.by_type[kind] = self.by_type.get(kind, 0) + 1
        rule = data.get("rule")
        if kind == "risk.kill_switch":
            rule = "kill_switch"
            if data.get("engaged") is True:
                self.kill_switch += 1
        key = (label(rule), kind)
        if kind not in ROUTINE:
            self.by_rule[key] = self.by_rule.get(key, 0) + 1
            self.timeline_total += 1
            if len(self.timeline) < MAX_TIMELINE:
                self.timeline.append(
                    (
                        _when(rec),
                        rec.get("seq") if type(rec.get("seq")) is int else None,
                        kind,
                        label(rule),
                        _text(rec.get("symbol")),
                        _text(rec.get("strategy")),
                        _text(rec.get("account")),
                        _text(data.get("limit")),
                        _text(data.get("observed")),
                        _detail(kind, data) or None,
                    )
                )
            self._bucket(rec, kind)

    def _bucket(self, rec: dict[str, Any], kind: str) -> None:
        at = event_ns(rec)
        when = _when(rec)
        if at is None or not when:
            return
        key = (when[: self._bucket_chars], kind)
        self.buckets[key] = self.buckets.get(key, 0) + 1

    def finish(self, header: Header) -> Finished:
        total = sum(self.by_type.values())
        notable = sum(self.by_rule.values())
        summary: dict[str, Any] = {
            "empty": total == 0,
            "risk_events": total - self.alerts_total,
            "notable_events": notable,
            "rejections": self.by_type.get("risk.rejected", 0),
            "limit_breaches": self.by_type.get("risk.limit_breached", 0),
            "size_caps": self.by_type.get("risk.size_capped", 0),
            "kill_switch_engaged": self.kill_switch,
            "risk_alerts": self.alerts_total,
            "by_type": dict(sorted(self.by_type.items())),
        }
        unit = "hour" if self._bucket_chars == 13 else "day"
        notes = (
            "Notable events are every risk.* event but the routine risk.passed and "
            "risk.size_calculated, which are counted only.",
            "Risk alerts are alert.sent events whose rule or channel names a risk subject "
            "(risk, limit, exposure, drawdown, loss, margin, leverage, kill, notional, position).",
            f"The timeline chart counts notable events per {unit} (UTC) of event time, on a real "
            f"time axis: a {unit} without events is an empty slot.",
        )
        if summary["empty"]:
            return (
                "Risk-event history",
                summary,
                (Section("Risk events", text=("No risk events in this range.",)),),
                notes,
            )
        type_rows = tuple((k, v) for k, v in sorted(self.by_type.items()))
        rule_rows = tuple((rule, kind, n) for (rule, kind), n in sorted(self.by_rule.items()))
        rules = sorted({rule for rule, _ in self.by_rule})
        rule_totals = tuple(
            float(sum(n for (r, _), n in self.by_rule.items() if r == rule)) for rule in rules
        )
        slots = sorted({slot for slot, _ in self.buckets})
        kinds = sorted({kind for _, kind in self.buckets})
        timeline_chart = Chart(
            f"Notable risk events and risk alerts per {unit}",
            "timeline",
            tuple(slots),
            tuple(
                (kind, tuple(float(self.buckets.get((s, kind), 0)) for s in slots))
                for kind in kinds
            ),
            xlabel="time (UTC)",
            ylabel=f"events per {unit}",
            integer=True,
            span=(header.start, header.end),
        )
        sections = [
            Section(
                "Counts",
                tables=(
                    Table("Events by type", ("type", "count"), type_rows),
                    Table("Notable events by rule", ("rule", "type", "count"), rule_rows),
                ),
                charts=(
                    Chart(
                        "Notable events by rule",
                        "barh",
                        tuple(rules),
                        (("events", rule_totals),),
                        xlabel="events",
                        ylabel="rule",
                        integer=True,
                    ),
                )
                if rules
                else (),
            ),
            Section(
                "Timeline",
                text=() if self.timeline else ("Only routine risk checks in this range.",),
                tables=(
                    Table(
                        "Notable risk events",
                        _TIMELINE_COLUMNS,
                        tuple(self.timeline),
                        self.timeline_total if self.timeline_total > len(self.timeline) else None,
                    ),
                )
                if self.timeline
                else (),
                charts=(timeline_chart,) if slots else (),
            ),
            Section(
                "Risk alerts",
                text=() if self.alerts else ("No risk alerts in this range.",),
                tables=(
                    Table(
                        "Risk alerts",
                        ("time", "seq", "rule", "severity", "channel", "message"),
                        tuple(self.alerts),
                        self.alerts_total if self.alerts_total > len(self.alerts) else None,
                    ),
                )
                if self.alerts
                else (),
            ),
        ]
        return "Risk-event history", summary, tuple(sections), notes
