"""Alert rules files: YAML checked against rules.schema.json, then read into frozen rules.

Conditions compare exact decimals (`data.slippage_bps > 20` holds for "20.0000001", never for
"20"): a float would make an alert fire, or not, on a rounding error."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import time
from decimal import Decimal, InvalidOperation
from fnmatch import translate
from functools import cache
from pathlib import Path
from typing import Any, Final, Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import RulesError, missing_extra

__all__ = [
    "MISSING",
    "SEVERITIES",
    "Condition",
    "Escalation",
    "Match",
    "QuietHours",
    "Rule",
    "RuleSet",
    "RulesError",
    "load_rules",
    "parse_duration",
    "parse_rules",
    "resolve_env",
    "schema",
]

Severity = Literal["debug", "info", "warning", "error", "critical"]
SEVERITIES: Final[tuple[Severity, ...]] = ("debug", "info", "warning", "error", "critical")
RANK: Final = {s: i for i, s in enumerate(SEVERITIES)}

SCHEMA_PATH: Final = Path(__file__).with_name("rules.schema.json")
_DURATION: Final = re.compile(r"([0-9]+)(ms|s|m|h|d)")
_UNIT_NS: Final = {
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
}
_DECIMAL: Final = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_CONDITION: Final = re.compile(
    r"\s*(?P<path>[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*)\s*"
    r"(?:(?P<op>==|!=|>=|<=|>|<)\s*(?P<value>.*?)|\s(?P<word>exists|missing))\s*"
)
_ENV: Final = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
MISSING: Final = object()


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema of a rules file (shipped beside this module)."""
    return cast(dict[str, Any], json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def parse_duration(text: str) -> int:
    """Nanoseconds of `90s`, `5m`, `1h30m`, `1d`."""
    if not text or _DURATION.sub("", text):
        raise ValueError(f"{text!r} is not a duration (e.g. 90s, 5m, 1h30m)")
    return sum(int(n) * _UNIT_NS[unit] for n, unit in _DURATION.findall(text))


def as_decimal(value: object) -> Decimal | None:
    """The exact decimal a record value holds, or None: decimal strings (as the journal holds
    amounts) and integers; a float from free-form data by its shortest repr, which is the text
    the journal holds; never a bool."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        try:
            return Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern admits only finite numbers
            return None
    return None


def lookup(record: Any, path: tuple[str, ...]) -> object:
    for part in path:
        if not isinstance(record, dict):
            return MISSING
        record = record.get(part, MISSING)
        if record is MISSING:
            return MISSING
    return cast(object, record)


@dataclass(frozen=True, slots=True)
class Condition:
    """`PATH OP VALUE` on one record: decimals compared exactly, strings and booleans for
    equality only."""

    text: str
    path: tuple[str, ...]
    op: str
    value: Decimal | str | bool | None

    @classmethod
    def parse(cls, text: str) -> Condition:
        m = _CONDITION.fullmatch(text)
        if m is None:
            raise ValueError(f"{text!r}: expected PATH OP VALUE, PATH exists or PATH missing")
        path = tuple(m["path"].split("."))
        if m["word"]:
            return cls(text, path, m["word"], None)
        op, raw = m["op"], m["value"]
        value: Decimal | str | bool
        if raw[:1] in "'\"" and len(raw) >= 2 and raw[-1] == raw[0]:
            value = raw[1:-1]
        elif raw in ("true", "false"):
            value = raw == "true"
        elif _DECIMAL.fullmatch(raw):
            value = Decimal(raw)
        elif raw:
            value = raw
        else:
            raise ValueError(f"{text!r}: no value after {op}")
        if op not in ("==", "!=") and not isinstance(value, Decimal):
            raise ValueError(f"{text!r}: {op} compares decimals only, not {raw}")
        return cls(text, path, op, value)

    def holds(self, record: dict[str, Any]) -> bool:
        found = lookup(record, self.path)
        if self.op == "exists":
            return found is not MISSING
        if self.op == "missing":
            return found is MISSING
        equal: bool
        if isinstance(self.value, Decimal):
            number = as_decimal(found)
            if number is None:
                return self.op == "!="
            if self.op == ">":
                return number > self.value
            if self.op == ">=":
                return number >= self.value
            if self.op == "<":
                return number < self.value
            if self.op == "<=":
                return number <= self.value
            equal = number == self.value
        elif isinstance(self.value, bool):
            equal = found is self.value
        else:
            equal = isinstance(found, str) and found == self.value
        return equal if self.op == "==" else not equal


def _patterns(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(cast(list[str], value))


@dataclass(frozen=True)
class Match:
    """Which records a rule looks at: type patterns (globs), categories, conditions."""

    types: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    where: tuple[Condition, ...] = ()

    @classmethod
    def parse(cls, raw: dict[str, Any], where_field: str) -> Match:
        conditions = []
        for i, text in enumerate(raw.get("where", [])):
            try:
                conditions.append(Condition.parse(text))
            except ValueError as exc:
                raise RulesError(f"{where_field}.where[{i}]: {exc}") from None
        return cls(_patterns(raw.get("type")), _patterns(raw.get("category")), tuple(conditions))

    @property
    def names_alerts(self) -> bool:
        """Only a rule that asks for alert.* by name sees them: the runner's own alert.sent
        records must not make a `type: "*"` rule fire on itself."""
        return any(p.startswith("alert.") for p in self.types) or "alert" in self.categories

    def selects_type(self, event_type: str) -> bool:
        if event_type.startswith("alert.") and not self.names_alerts:
            return False
        if self.types and not any(_glob(p).fullmatch(event_type) for p in self.types):
            return False
        category = event_type.split(".", 1)[0]
        return not self.categories or any(_glob(p).fullmatch(category) for p in self.categories)

    def holds(self, record: dict[str, Any]) -> bool:
        return all(c.holds(record) for c in self.where)

    def describe(self) -> str:
        return " or ".join(self.types or tuple(f"{c}.*" for c in self.categories)) or "any event"


@cache
def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(translate(pattern))


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time
    days: frozenset[int]  # weekday numbers (Monday 0) on which the quiet hours begin
    except_severity: Severity

    def mutes(self, severity: Severity, weekday: int, local: time) -> bool:
        if RANK[severity] >= RANK[self.except_severity]:
            return False
        if self.start <= self.end:
            return weekday in self.days and self.start <= local < self.end
        if local >= self.start:
            return weekday in self.days
        return (weekday - 1) % 7 in self.days and local < self.end  # began the day before


@dataclass(frozen=True)
class Escalation:
    after_ns: int
    routes: tuple[str, ...]


@dataclass(frozen=True)
class Rule:
    name: str
    severity: Severity
    match: Match
    kind: Literal["event", "rate", "absent", "summary"]
    routes: tuple[str, ...]
    fallback: tuple[str, ...] = ()
    description: str = ""
    message: str | None = None
    more_than: int = 0
    window_ns: int = 0
    absent_for_ns: int | None = None
    absent_by: time | None = None
    summary_at: time | None = None
    group_by: tuple[tuple[str, ...], ...] = ()
    dedup_ns: int = 5 * _UNIT_NS["m"]
    repeat_ns: int = 4 * _UNIT_NS["h"]
    quiet: QuietHours | None = None
    resolve: Match | None = None
    escalate: tuple[Escalation, ...] = ()


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    channels: dict[str, dict[str, Any]]
    timezone: ZoneInfo
    retries: int = 3
    backoff_ns: int = _UNIT_NS["s"]
    source: str = "RULES"


_DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _time(text: str) -> time:
    return time(int(text[:2]), int(text[3:5]))


def _quiet(raw: dict[str, Any]) -> QuietHours:
    days = raw.get("days", _DAYS)
    return QuietHours(
        _time(raw["start"]),
        _time(raw["end"]),
        frozenset(_DAYS.index(d) for d in days),
        raw.get("except", "critical"),
    )


def _where(path: list[str | int] | Any, doc: dict[str, Any]) -> str:
    """`rules[2] 'high_slippage'.match.where[0]` from a JSON path into the file."""
    text = ""
    node: Any = doc
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("name"), str):
                text += f" {node['name']!r}"
        else:
            text += f".{part}" if text else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return text or "(the file)"


def _check_schema(doc: Any, source: str) -> None:
    try:
        import jsonschema
    except ModuleNotFoundError as exc:
        raise missing_extra(exc, "alert rules", "alerts") from None
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    if not errors:
        return
    lines = []
    for error in errors[:10]:
        # an if/then branch reports the field, not the branch: keep the deepest message only
        leaf = min(error.context or [error], key=lambda e: -len(e.absolute_path))
        where = _where(list(leaf.absolute_path), doc if isinstance(doc, dict) else {})
        hint = ""
        about = leaf.schema.get("description", "") if isinstance(leaf.schema, dict) else ""
        if isinstance(leaf.instance, int) and str(about).startswith("HH:MM"):
            hint = ' (quote times of day in YAML: "07:00")'
        lines.append(f"{where}: {leaf.message}{hint}")
    raise RulesError(f"{source}: " + "; ".join(lines))


def parse_rules(doc: Any, source: str = "RULES") -> RuleSet:
    """A RuleSet from the parsed YAML/JSON document, or RulesError naming rule and field."""
    _check_schema(doc, source)
    try:
        zone = ZoneInfo(doc.get("timezone", "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        raise RulesError(f"{source}: timezone: unknown zone {doc['timezone']!r}") from None
    defaults: dict[str, Any] = doc.get("defaults", {})
    channels: dict[str, dict[str, Any]] = doc.get("channels", {})
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, raw in enumerate(doc["rules"]):
        where = f"{source}: rules[{i}] {raw['name']!r}"
        if raw["name"] in seen:
            raise RulesError(f"{where}.name: a rule of that name comes before")
        seen.add(raw["name"])
        kinds = [k for k in ("rate", "absent", "summary") if k in raw]
        if len(kinds) > 1:
            raise RulesError(f"{where}: {' and '.join(kinds)} exclude each other; choose one")
        kind = cast(Literal["event", "rate", "absent", "summary"], kinds[0] if kinds else "event")
        routes = tuple(raw.get("routes", defaults.get("routes", ())))
        if not routes:
            raise RulesError(f"{where}.routes: none given and no defaults.routes")
        fallback = tuple(raw.get("fallback", defaults.get("fallback", ())))
        escalate = tuple(
            Escalation(parse_duration(e["after"]), tuple(e["routes"]))
            for e in raw.get("escalate", [])
        )
        for field, names in [
            ("routes", routes),
            ("fallback", fallback),
            *((f"escalate[{n}].routes", e.routes) for n, e in enumerate(escalate)),
        ]:
            for n, name in enumerate(names):
                if name not in channels:
                    known = ", ".join(sorted(channels)) or "none"
                    raise RulesError(
                        f"{where}.{field}[{n}]: no channel {name!r} (channels: {known})"
                    )
        resolve = Match.parse(raw["resolve"], f"{where}.resolve") if "resolve" in raw else None
        if escalate and kind == "event" and resolve is None:
            raise RulesError(
                f"{where}.escalate: an event rule escalates only when it has `resolve` "
                "(what ends the alert); without it every alert would escalate"
            )
        if resolve is not None and kind != "event":
            raise RulesError(f"{where}.resolve: only event rules take it ({kind} rules resolve "
                             "themselves)")  # fmt: skip
        quiet = raw.get("quiet_hours", defaults.get("quiet_hours"))
        absent = raw.get("absent", {})
        if "by" in absent and raw.get("group_by"):
            raise RulesError(f"{where}.group_by: absent.by rules are not grouped")
        rules.append(
            Rule(
                name=raw["name"],
                severity=raw["severity"],
                match=Match.parse(raw["match"], f"{where}.match"),
                kind=kind,
                routes=routes,
                fallback=fallback,
                description=raw.get("description", ""),
                message=raw.get("message"),
                more_than=raw.get("rate", {}).get("more_than", 0),
                window_ns=parse_duration(raw["rate"]["window"]) if kind == "rate" else 0,
                absent_for_ns=parse_duration(absent["for"]) if "for" in absent else None,
                absent_by=_time(absent["by"]) if "by" in absent else None,
                summary_at=_time(raw["summary"]["at"]) if kind == "summary" else None,
                group_by=tuple(tuple(p.split(".")) for p in raw.get("group_by", [])),
                dedup_ns=parse_duration(raw.get("dedup", defaults.get("dedup", "5m"))),
                repeat_ns=parse_duration(
                    raw.get("repeat_interval", defaults.get("repeat_interval", "4h"))
                ),
                quiet=_quiet(quiet) if quiet else None,
                resolve=resolve,
                escalate=escalate,
            )
        )
    return RuleSet(
        tuple(rules),
        channels,
        zone,
        retries=defaults.get("retries", 3),
        backoff_ns=parse_duration(defaults.get("backoff", "1s")),
        source=source,
    )


def load_rules(path: str | os.PathLike[str]) -> RuleSet:
    """Read and check a rules file (YAML; JSON is YAML too)."""
    try:
        import yaml
    except ModuleNotFoundError as exc:
        raise missing_extra(exc, "alert rules", "alerts") from None
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"{source}: cannot read it: {exc.strerror or exc}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc
        raise RulesError(f"{source}:{at}: not YAML: {problem}") from None
    return parse_rules(doc, source)


def resolve_env(value: Any, where: str, env: dict[str, str] | None = None) -> Any:
    """Channel settings with `${NAME}` replaced from the environment, so secrets (webhook URLs,
    routing keys, passwords) stay out of the rules file; a missing variable is named."""
    environ = os.environ if env is None else env
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            if m[1] not in environ:
                raise RulesError(f"{where}: environment variable {m[1]} is not set")
            return environ[m[1]]

        return _ENV.sub(sub, value)
    if isinstance(value, dict):
        return {k: resolve_env(v, f"{where}.{k}", env) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_env(v, f"{where}[{i}]", env) for i, v in enumerate(value)]
    return value
