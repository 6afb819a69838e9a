"""The rule engine: records in, alerts out. Pure (no I/O, no threads), its clock injected, so
a replay of a past day and a unit test see exactly what the live runner would."""

from __future__ import annotations

import re
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, Literal

from ..core.timefmt import Clock, parse_ts
from .rules import MISSING, Rule, RuleSet, Severity, lookup

__all__ = ["Alert", "Engine"]

_FIELD: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\}")
_NS: Final = 1_000_000_000


@dataclass(frozen=True)
class Alert:
    """One notification to send: to `routes`, about `key` (the PagerDuty dedup key and the
    `alert_id` of its `alert.sent` record)."""

    rule: str
    severity: Severity
    action: Literal["trigger", "resolve"]
    key: str
    message: str
    seqs: tuple[int, ...]
    routes: tuple[str, ...]
    fallback: tuple[str, ...]
    at_ns: int
    group: dict[str, str] = field(default_factory=dict)
    escalation: int = 0
    muted: bool = False

    @property
    def title(self) -> str:
        state = "RESOLVED" if self.action == "resolve" else self.severity.upper()
        return f"[{state}] {self.rule}: {self.message}"


@dataclass
class _State:
    group: dict[str, str]
    firing: bool = False
    since_ns: int = 0
    last_sent_ns: int | None = None
    pending: list[int] = field(default_factory=list)
    escalated: int = 0
    window: deque[tuple[int, int]] = field(default_factory=deque)
    last_seen_ns: int = 0
    last_seq: int | None = None
    fired_day: date | None = None
    record: dict[str, Any] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)


def _duration(ns: int) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if ns % (size * _NS) == 0:
            return f"{ns // (size * _NS)}{unit}"
    return f"{ns / _NS:g}s"


class Engine:
    """Feed it journal records (dicts with `seq`, `ts`, `type`) in seq order and call `tick()`
    now and then: both return the alerts due, muted ones (quiet hours) flagged."""

    def __init__(self, rules: RuleSet, clock: Clock) -> None:
        self.rules = rules
        self.clock = clock
        self.started_ns = clock()
        self._states: dict[str, dict[str, _State]] = {r.name: {} for r in rules.rules}
        self._candidates: dict[str, list[tuple[Rule, bool]]] = {}
        for rule in rules.rules:  # a deadline passed before the start is not the engine's
            deadline = rule.summary_at or rule.absent_by
            if deadline is not None:
                state = self._state(rule, {})
                now = self._local(self.started_ns)
                if now.time() >= deadline:
                    state.fired_day = now.date()

    # ---------------------------------------------------------------- input

    def feed(self, record: dict[str, Any]) -> list[Alert]:
        event_type = record.get("type")
        if not isinstance(event_type, str):
            return []
        candidates = self._candidates.get(event_type)
        if candidates is None:
            candidates = self._candidates[event_type] = [
                (rule, resolving)
                for rule in self.rules.rules
                for resolving, m in ((False, rule.match), (True, rule.resolve))
                if m is not None and m.selects_type(event_type)
            ]
        if not candidates:
            return []
        ts = record.get("ts")
        at = parse_ts(ts) if isinstance(ts, str) else self.clock()
        seq = record.get("seq")
        out: list[Alert] = []
        for rule, resolving in candidates:
            if resolving:
                assert rule.resolve is not None
                if rule.resolve.holds(record):
                    self._resolve_event(rule, record, at, out)
            elif rule.match.holds(record):
                self._matched(rule, record, at, seq if isinstance(seq, int) else None, out)
        return out

    def tick(self) -> list[Alert]:
        now = self.clock()
        out: list[Alert] = []
        for rule in self.rules.rules:
            states = self._states[rule.name]
            if rule.kind == "absent" and not states:
                self._state(rule, {})
            for state in list(states.values()):
                self._tick_state(rule, state, now, out)
        return out

    # ---------------------------------------------------------------- per kind

    def _matched(
        self, rule: Rule, record: dict[str, Any], at: int, seq: int | None, out: list[Alert]
    ) -> None:
        state = self._state(rule, self._group(rule, record))
        state.record = record
        if rule.kind == "event":
            if seq is not None:
                state.pending.append(seq)
            if rule.resolve is not None and not state.firing:
                state.firing, state.since_ns, state.escalated = True, at, 0
            if state.last_sent_ns is None or at - state.last_sent_ns >= rule.dedup_ns:
                self._emit(rule, state, "trigger", at, out)
        elif rule.kind == "rate":
            if seq is not None:
                state.window.append((at, seq))
            self._evict(rule, state, at)
            if len(state.window) > rule.more_than and (
                not state.firing
                or state.last_sent_ns is None
                or at - state.last_sent_ns >= rule.repeat_ns
            ):
                if not state.firing:
                    state.firing, state.since_ns, state.escalated = True, at, 0
                state.pending = [s for _, s in state.window]
                self._emit(rule, state, "trigger", at, out)
        elif rule.kind == "absent":
            state.last_seen_ns, state.last_seq = at, seq
            if rule.absent_by is not None:
                state.fired_day = self._local(at).date()  # today's is here
            if state.firing:
                state.pending = [seq] if seq is not None else []
                self._emit(rule, state, "resolve", at, out)
        else:  # summary
            state.counts[str(record["type"])] += 1

    def _resolve_event(self, rule: Rule, record: dict[str, Any], at: int, out: list[Alert]) -> None:
        state = self._states[rule.name].get(self._key(rule, self._group(rule, record)))
        if state is None or not state.firing:
            return
        seq = record.get("seq")
        state.pending = [seq] if isinstance(seq, int) else []
        state.record = record
        self._emit(rule, state, "resolve", at, out)

    def _tick_state(self, rule: Rule, state: _State, now: int, out: list[Alert]) -> None:
        if rule.kind == "event":
            held = state.pending and state.last_sent_ns is not None  # what dedup held back
            if held and now - (state.last_sent_ns or 0) >= rule.dedup_ns:
                self._emit(rule, state, "trigger", now, out)
        elif rule.kind == "rate":
            self._evict(rule, state, now)
            if state.firing and len(state.window) <= rule.more_than:
                state.pending = []
                self._emit(rule, state, "resolve", now, out)
            elif state.firing and now - (state.last_sent_ns or 0) >= rule.repeat_ns:
                state.pending = [s for _, s in state.window]
                self._emit(rule, state, "trigger", now, out)
        elif rule.kind == "absent":
            due = False
            if rule.absent_for_ns is not None:
                due = now - state.last_seen_ns > rule.absent_for_ns
            elif rule.absent_by is not None:
                local = self._local(now)
                due = local.time() >= rule.absent_by and state.fired_day != local.date()
                if due:
                    state.fired_day = local.date()
            if due and not state.firing:
                state.firing, state.since_ns, state.escalated = True, now, 0
                state.pending = [state.last_seq] if state.last_seq is not None else []
                self._emit(rule, state, "trigger", now, out)
            elif state.firing and now - (state.last_sent_ns or 0) >= rule.repeat_ns:
                state.pending = [state.last_seq] if state.last_seq is not None else []
                self._emit(rule, state, "trigger", now, out)
        elif rule.kind == "summary":
            assert rule.summary_at is not None
            local = self._local(now)
            if local.time() >= rule.summary_at and state.fired_day != local.date():
                state.fired_day = local.date()
                self._emit(rule, state, "trigger", now, out)
                state.counts.clear()
        if state.firing:
            for step, escalation in enumerate(rule.escalate):
                if step >= state.escalated and now - state.since_ns >= escalation.after_ns:
                    state.escalated = step + 1
                    self._emit(rule, state, "trigger", now, out, step + 1)

    # ---------------------------------------------------------------- helpers

    def _emit(
        self,
        rule: Rule,
        state: _State,
        action: Literal["trigger", "resolve"],
        at: int,
        out: list[Alert],
        escalation: int = 0,
    ) -> None:
        routes = rule.routes if escalation == 0 else rule.escalate[escalation - 1].routes
        local = self._local(at)
        muted = rule.quiet is not None and rule.quiet.mutes(
            rule.severity, local.weekday(), local.time()
        )
        out.append(
            Alert(
                rule=rule.name,
                severity=rule.severity,
                action=action,
                key=self._key(rule, state.group),
                message=self._message(rule, state, action, escalation),
                seqs=tuple(state.pending),
                routes=routes,
                fallback=rule.fallback,
                at_ns=at,
                group=dict(state.group),
                escalation=escalation,
                muted=muted,
            )
        )
        if escalation == 0:
            state.last_sent_ns = at
            state.pending = []
        if action == "resolve":
            state.firing, state.escalated = False, 0

    def _message(
        self, rule: Rule, state: _State, action: Literal["trigger", "resolve"], escalation: int
    ) -> str:
        if rule.kind == "summary":
            total = sum(state.counts.values())
            kinds = ", ".join(f"{t} {n}" for t, n in sorted(state.counts.items()))
            return f"{total} {rule.match.describe()} since the last summary" + (
                f": {kinds}" if kinds else ""
            )
        values: dict[str, object] = {
            "rule": rule.name,
            "severity": rule.severity,
            "count": len(state.pending),
            "group": ", ".join(f"{k}={v}" for k, v in state.group.items()),
            **{k: v for k, v in state.record.items() if not isinstance(v, dict)},
        }
        if rule.message is not None and action == "trigger":
            text = self._fill(rule.message, state.record, values)
        elif rule.kind == "rate":
            text = (
                f"{len(state.window)} {rule.match.describe()} in {_duration(rule.window_ns)} "
                f"(more than {rule.more_than})"
            )
        elif rule.kind == "absent":
            text = f"no {rule.match.describe()} " + (
                f"for {_duration(rule.absent_for_ns)}"
                if rule.absent_for_ns is not None
                else f"by {rule.absent_by:%H:%M} {self.rules.timezone.key}"
            )
        else:
            text = f"{state.record.get('type')} at seq {state.record.get('seq')}"
            if len(state.pending) > 1:
                text += f" ({len(state.pending)} records)"
        if state.group:
            text += f" [{values['group']}]"
        if action == "resolve":
            text = f"resolved: {text}"
        if escalation:
            text = f"escalation {escalation}: {text}"
        return text

    @staticmethod
    def _fill(template: str, record: dict[str, Any], values: dict[str, object]) -> str:
        def sub(m: re.Match[str]) -> str:
            name = m[1]
            if name in values:
                return str(values[name])
            found = lookup(record, tuple(name.split(".")))
            return m[0] if found is MISSING or isinstance(found, dict | list) else str(found)

        return _FIELD.sub(sub, template)

    def _group(self, rule: Rule, record: dict[str, Any]) -> dict[str, str]:
        group = {}
        for path in rule.group_by:
            value = lookup(record, path)
            group[".".join(path)] = str(value) if isinstance(value, str | int) else "-"
        return group

    @staticmethod
    def _key(rule: Rule, group: dict[str, str]) -> str:
        return "/".join([rule.name, *group.values()])

    def _state(self, rule: Rule, group: dict[str, str]) -> _State:
        states = self._states[rule.name]
        key = self._key(rule, group)
        state = states.get(key)
        if state is None:
            state = states[key] = _State(group, last_seen_ns=self.started_ns)
        return state

    @staticmethod
    def _evict(rule: Rule, state: _State, now: int) -> None:
        while state.window and state.window[0][0] <= now - rule.window_ns:
            state.window.popleft()

    def _local(self, ns: int) -> datetime:
        moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)
        return moment.astimezone(self.rules.timezone)
