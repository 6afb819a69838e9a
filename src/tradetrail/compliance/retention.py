"""Retention and legal hold: which sealed day files may be removed, and their crash-safe removal.

The chain runs through every record and the journal is one file per UTC day, so the unit of
removal is a whole sealed day file. A day may go only when every record in it is past its
class's retention period, no legal hold touches it, it is not the trail's newest file, and its
daily pack exists under `exports/daily/YYYY-MM-DD`, verifies with `trail.vkey` and holds the
file's exact bytes. Tiles and checkpoints are never touched, so every signed tree head still
commits to the existence and order of the removed records (see docs/RETENTION.md).

"Past retention": a record of UTC day D with period P may go from 00:00 UTC of (D + 1 day) + P,
periods counted in calendar years, months and days (a date that does not exist, e.g. 29
February plus a year, rounds up to the next day). `as_of` is that instant's clock: now, or
00:00 UTC of the `--as-of` date.

Removal is recorded before anything is deleted: the batch goes into `<home>/pruned.json` as an
intent (fsynced), then a `compliance.records_removed` event is journaled, then the files are
unlinked and the batch is marked removed. A crash at any step leaves a verifiable trail, and
the next `apply` finishes the batch.
"""

from __future__ import annotations

import calendar
import contextlib
import fnmatch
import getpass
import hashlib
import re
import tomllib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import orjson

from ..core import layout
from ..core.canonical import TYPE_PATTERN
from ..core.documents import (
    DocumentError,
    PrunedBatch,
    PrunedDayEntry,
    Tombstone,
    decode_tombstone,
    encode_tombstone,
)
from ..core.merkle import Frontier, leaf_hash
from ..core.note import Verifier, sign_note
from ..core.timefmt import Clock
from ..errors import PolicyError, RetentionError, TileError, TradetrailError, TrailLockedError
from ..store.journal import (
    JOURNAL_DIR,
    PRUNED_FILE,
    PRUNED_FORMAT,
    file_day,
    first_seq,
    fsync_dir,
    journal_files,
    lines_from_seq,
    pruned_days,
    record_seq,
    remove_day_file,
    tail_lines,
    write_pruned,
)
from ..store.keys import VKEY_FILE, read_vkey
from ..store.objectstore import ObjectStore
from ..store.tilestore import TileStore

__all__ = [
    "DEFAULT_POLICY_TOML",
    "EVENT_TYPE",
    "ApplyResult",
    "DayDecision",
    "DayTerms",
    "Hold",
    "Period",
    "Plan",
    "Policy",
    "PolicyError",
    "RetentionError",
    "Tiers",
    "apply_retention",
    "day_terms",
    "load_policy",
    "parse_policy",
    "plan_retention",
]

POLICY_FILE: Final = "retention.toml"
EVENT_TYPE: Final = "compliance.records_removed"
TOMBSTONE_FORMAT: Final = PRUNED_FORMAT
UNCLASSIFIED: Final = "unclassified"

DEFAULT_POLICY_TOML: Final = """\
# tradetrail retention policy (the built-in default). Periods: Ny, Nm (months), Nw, Nd, or
# combinations such as "1y6m"; "forever" keeps a class for good.
[retention]
trading = "7y"
orders = "7y"
fills = "7y"
positions = "7y"
nav = "7y"
compliance = "7y"
configuration = "7y"
access = "7y"
system = "90d"
debug = "90d"

# event category (first segment of `type`) -> class; a category not listed here is kept as
# long as the longest period of any class (never delete what cannot be classified)
[categories]
signal = "trading"
risk = "trading"
venue = "trading"
order = "orders"
trade = "fills"
portfolio = "positions"
config = "configuration"
auth = "access"
alert = "compliance"
compliance = "compliance"
system = "system"
debug = "debug"

# exact event type -> class, over its category's class
[types]
"portfolio.nav_computed" = "nav"
"portfolio.fee_charged" = "fills"
"venue.position_queried" = "positions"
"venue.balance_queried" = "positions"

# legal holds override the policy, e.g.
# [[hold]]
# name = "SEC inquiry 2024-117"
# from = 2024-03-01          # a date range (inclusive), and/or
# to = 2024-03-31
# account = "ACC-7"          # a query: account, symbol and/or type (glob, e.g. "order.*")
# symbol = "BTC-USD"
# type = "order.*"
# reason = "preserve all records of the inquiry"
"""

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_PERIOD = re.compile(r"^(?:(\d+)y)?(?:(\d+)m)?(?:(\d+)w)?(?:(\d+)d)?$")
_TOP_KEYS: Final = frozenset({"version", "retention", "categories", "types", "hold", "archive"})
_ARCHIVE_KEYS: Final = frozenset({"warm_class", "cold_after", "cold_class"})
_STORAGE_CLASS = re.compile(r"^[A-Z][A-Z0-9_]*$")
_HOLD_KEYS: Final = frozenset({"name", "reason", "from", "to", "account", "symbol", "type"})


# ------------------------------------------------------------------------------ the policy


@dataclass(frozen=True)
class Period:
    """A retention period in calendar units; `forever` never expires."""

    years: int = 0
    months: int = 0
    days: int = 0
    forever: bool = False

    def expires(self, day: date) -> date | None:
        """The first date on which a record of UTC `day` is past this period (None: never)."""
        if self.forever:
            return None
        start = day + timedelta(days=1)
        month = start.month - 1 + self.months + 12 * self.years
        year, month = start.year + month // 12, month % 12 + 1
        last = calendar.monthrange(year, month)[1]
        base = date(year, month, start.day) if start.day <= last else date(year, month, last)
        if start.day > last:  # the date does not exist: round up, never keep less
            base += timedelta(days=1)
        return base + timedelta(days=self.days)

    def __str__(self) -> str:
        if self.forever:
            return "forever"
        parts = [(self.years, "y"), (self.months, "m"), (self.days, "d")]
        return "".join(f"{n}{u}" for n, u in parts if n) or "0d"


def parse_period(text: object, where: str) -> Period:
    if not isinstance(text, str):
        raise PolicyError(f'{where}: expected a period string such as "7y" or "90d"')
    if text == "forever":
        return Period(forever=True)
    m = _PERIOD.fullmatch(text)
    if not text or m is None:
        raise PolicyError(
            f"{where}: bad duration {text!r} (use Ny, Nm, Nw, Nd or a combination such as "
            '"1y6m", or "forever")'
        )
    y, mo, w, d = (int(g) if g else 0 for g in m.groups())
    return Period(y, mo, 7 * w + d)


@dataclass(frozen=True)
class Hold:
    """A legal hold: a date range (inclusive) and/or a query on account, symbol and type (a
    glob); every criterion given must match. It keeps every day it touches."""

    name: str
    reason: str | None = None
    start: date | None = None
    end: date | None = None
    account: str | None = None
    symbol: str | None = None
    type: str | None = None

    @property
    def has_query(self) -> bool:
        return any(v is not None for v in (self.account, self.symbol, self.type))

    def covers_day(self, day: date) -> bool:
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)

    def matches(self, record: dict[str, Any]) -> bool:
        if self.account is not None and record.get("account") != self.account:
            return False
        if self.symbol is not None and record.get("symbol") != self.symbol:
            return False
        kind = record.get("type")
        return self.type is None or (isinstance(kind, str) and fnmatch.fnmatchcase(kind, self.type))

    def describe(self) -> str:
        parts = []
        if self.start or self.end:
            parts.append(f"{self.start or '…'}..{self.end or '…'}")
        for key, value in (("account", self.account), ("symbol", self.symbol), ("type", self.type)):
            if value is not None:
                parts.append(f"{key}={value}")
        return f"{self.name!r} ({', '.join(parts)})"


@dataclass(frozen=True)
class Tiers:
    """The archive's storage tiers (`[archive]`): objects are uploaded in `warm_class` and a
    bucket lifecycle rule moves them to `cold_class` once `cold_after` has passed."""

    warm_class: str = "STANDARD"
    cold_after: Period = Period(years=2)
    cold_class: str = "GLACIER"

    def cold_after_days(self) -> int:
        """`cold_after` in days after upload (a lifecycle rule counts whole days)."""
        start = date(2001, 1, 1)  # no leap day inside the first years: "2y" is 730 days
        end = self.cold_after.expires(start - timedelta(days=1))
        return (end - start).days if end is not None else 0


@dataclass(frozen=True)
class Policy:
    """Record classes with their periods, the category and type maps, and the legal holds."""

    source: str
    sha256: str
    periods: dict[str, Period]
    categories: dict[str, str]
    types: dict[str, str]
    holds: tuple[Hold, ...]
    tiers: Tiers = Tiers()

    def classify(self, event_type: object) -> str:
        """The record class of an event type; UNCLASSIFIED when neither map knows it."""
        if not isinstance(event_type, str):
            return UNCLASSIFIED
        known = self.types.get(event_type)
        if known is not None:
            return known
        return self.categories.get(event_type.split(".", 1)[0], UNCLASSIFIED)

    def expires(self, cls: str, day: date) -> date | None:
        """When records of class `cls` of `day` may go; UNCLASSIFIED takes the latest."""
        if cls != UNCLASSIFIED:
            return self.periods[cls].expires(day)
        dates = [p.expires(day) for p in self.periods.values()]
        return None if any(d is None for d in dates) else max(d for d in dates if d is not None)

    def shortest(self) -> Period:
        finite = [p for p in self.periods.values() if not p.forever]
        if not finite:
            return Period(forever=True)
        return min(finite, key=lambda p: p.expires(date(2000, 1, 1)) or date.max)


def _table(doc: dict[str, Any], key: str, source: str) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise PolicyError(f"{source}: [{key}]: expected a table")
    return value


def _date(value: object, where: str) -> date:
    if isinstance(value, datetime):
        raise PolicyError(f"{where}: expected a date (YYYY-MM-DD), not a date and time")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise PolicyError(f"{where}: bad date {value!r} (expected YYYY-MM-DD)")


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise PolicyError(f"{where}: expected a non-empty string")
    return value


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Parse and strictly check a policy (TOML) over the built-in defaults: unknown keys, bad
    durations, unknown classes and bad dates raise PolicyError naming `source` and the key."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: not valid TOML: {exc}") from None
    base = tomllib.loads(DEFAULT_POLICY_TOML) if text != DEFAULT_POLICY_TOML else doc
    for key in doc:
        if key not in _TOP_KEYS:
            allowed = ", ".join(sorted(_TOP_KEYS))
            raise PolicyError(f"{source}: {key}: unknown key (allowed: {allowed})")
    if "version" in doc and doc["version"] != 1:
        raise PolicyError(f"{source}: version: only version 1 is understood")
    periods: dict[str, Period] = {}
    for name, value in {**base["retention"], **_table(doc, "retention", source)}.items():
        where = f"{source}: retention.{name}"
        if not _NAME.fullmatch(name) or name == UNCLASSIFIED:
            raise PolicyError(f"{where}: a class name is lower case letters, digits and _")
        periods[name] = parse_period(value, where)
    categories: dict[str, str] = {}
    for name, value in {**base["categories"], **_table(doc, "categories", source)}.items():
        where = f"{source}: categories.{name}"
        if not _NAME.fullmatch(name):
            raise PolicyError(f"{where}: a category is the first segment of an event type")
        categories[name] = _text(value, where)
    types: dict[str, str] = {}
    for name, value in {**base.get("types", {}), **_table(doc, "types", source)}.items():
        where = f"{source}: types.{name}"
        if not TYPE_PATTERN.match(name):
            raise PolicyError(f'{where}: not a dotted event type such as "order.accepted"')
        types[name] = _text(value, where)
    for where, cls in [
        *((f"categories.{k}", v) for k, v in categories.items()),
        *((f"types.{k}", v) for k, v in types.items()),
    ]:
        if cls not in periods:
            raise PolicyError(
                f"{source}: {where}: class {cls!r} has no retention period "
                f"(known: {', '.join(sorted(periods))})"
            )
    used = set(categories.values()) | set(types.values()) | set(base["retention"])
    for name in _table(doc, "retention", source):
        if name not in used:
            raise PolicyError(
                f"{source}: retention.{name}: unknown class (not a default class and no "
                "category or type maps to it; a typo?)"
            )
    return Policy(
        source=source,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        periods=periods,
        categories=categories,
        types=types,
        holds=_holds(doc.get("hold", []), source),
        tiers=_tiers(_table(doc, "archive", source), source),
    )


def _tiers(raw: dict[str, Any], source: str) -> Tiers:
    for key in raw:
        if key not in _ARCHIVE_KEYS:
            allowed = ", ".join(sorted(_ARCHIVE_KEYS))
            raise PolicyError(f"{source}: archive.{key}: unknown key (allowed: {allowed})")
    classes: dict[str, str] = {"warm_class": Tiers.warm_class, "cold_class": Tiers.cold_class}
    for key in ("warm_class", "cold_class"):
        if key in raw:
            value = _text(raw[key], f"{source}: archive.{key}")
            if not _STORAGE_CLASS.fullmatch(value):
                raise PolicyError(
                    f"{source}: archive.{key}: {value!r} is not an S3 storage class "
                    "(e.g. STANDARD, STANDARD_IA, GLACIER_IR, GLACIER, DEEP_ARCHIVE)"
                )
            classes[key] = value
    period = Tiers.cold_after
    if "cold_after" in raw:
        period = parse_period(raw["cold_after"], f"{source}: archive.cold_after")
        if period.forever:
            raise PolicyError(f'{source}: archive.cold_after: a period such as "2y", not forever')
    return Tiers(classes["warm_class"], period, classes["cold_class"])


def _holds(raw: object, source: str) -> tuple[Hold, ...]:
    if not isinstance(raw, list):
        raise PolicyError(f"{source}: hold: expected [[hold]] tables")
    holds: list[Hold] = []
    for i, item in enumerate(raw):
        where = f"{source}: hold[{i}]"
        if not isinstance(item, dict):
            raise PolicyError(f"{where}: expected a table")
        for key in item:
            if key not in _HOLD_KEYS:
                allowed = ", ".join(sorted(_HOLD_KEYS))
                raise PolicyError(f"{where}.{key}: unknown key (allowed: {allowed})")
        name = _text(item.get("name"), f"{where}.name")
        where = f"{source}: hold {name!r}"
        if any(h.name == name for h in holds):
            raise PolicyError(f"{where}: two holds have this name")
        start = _date(item["from"], f"{where}.from") if "from" in item else None
        end = _date(item["to"], f"{where}.to") if "to" in item else None
        if start and end and end < start:
            raise PolicyError(f"{where}: to ({end}) is before from ({start})")
        fields = {
            k: _text(item[k], f"{where}.{k}")
            for k in ("account", "symbol", "type", "reason")
            if k in item
        }
        hold = Hold(name, start=start, end=end, **fields)
        if not (hold.has_query or start or end):
            raise PolicyError(
                f"{where}: names no dates (from/to) and no query (account/symbol/type)"
            )
        holds.append(hold)
    return tuple(holds)


def load_policy(home: Path, path: Path | None = None) -> Policy:
    """The policy at `path` (must exist), else `<home>/retention.toml`, else the defaults."""
    chosen = path if path is not None else Path(home) / POLICY_FILE
    try:
        text = chosen.read_text(encoding="utf-8")
    except FileNotFoundError:
        if path is not None:
            raise PolicyError(f"{path}: no such policy file") from None
        return parse_policy(DEFAULT_POLICY_TOML, "built-in default policy")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{chosen}: cannot read the policy: {exc}") from None
    return parse_policy(text, str(chosen))


# ------------------------------------------------------------------------------ the plan


@dataclass
class DayDecision:
    """What retention decides for one day file, and why."""

    day: str
    file: str
    decision: str  # removable, kept, held, open, pruned, pending
    reasons: list[str] = field(default_factory=list)
    keep_until: str | None = None
    first_seq: int | None = None
    last_seq: int | None = None
    records: int = 0
    classes: dict[str, int] = field(default_factory=dict)
    holds: list[str] = field(default_factory=list)
    pack: str | None = None
    pack_manifest_sha256: str | None = None
    file_sha256: str | None = None
    first_prev: str | None = None
    last_leaf: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class Plan:
    home: str
    policy: str
    policy_sha256: str
    as_of: str
    days: list[DayDecision]

    @property
    def removable(self) -> list[DayDecision]:
        return [d for d in self.days if d.decision == "removable"]

    def to_json(self) -> dict[str, Any]:
        return {
            "home": self.home,
            "policy": self.policy,
            "policy_sha256": self.policy_sha256,
            "as_of": self.as_of,
            "removable": [d.day for d in self.removable],
            "days": [d.to_json() for d in self.days],
        }


def _iso(compact: str) -> str:
    return f"{compact[:4]}-{compact[4:6]}-{compact[6:]}"


def _as_of(value: date | datetime | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _reached(when: date | None, now: datetime) -> bool:
    return when is not None and now >= datetime(when.year, when.month, when.day, tzinfo=UTC)


def _scan(path: Path, decision: DayDecision, policy: Policy, day: date, now: datetime) -> None:
    """Read one day file: classes, record holds, seq range, file hash, chain ends."""
    digest = hashlib.sha256()
    latest: tuple[date, str] | None = None
    forever: str | None = None
    unknown: set[str] = set()
    last_line = b""
    with open(path, "rb") as fh:
        for raw in fh:
            digest.update(raw)
            if not raw.endswith(b"\n"):
                decision.reasons.append("kept: the file ends in a torn line (run verify)")
                break
            line = raw[:-1]
            record = orjson.loads(line)
            if decision.first_seq is None:
                decision.first_seq, decision.first_prev = record.get("seq"), record.get("prev")
            decision.last_seq = record.get("seq")
            decision.records += 1
            last_line = line
            kind = record.get("type")
            cls = policy.classify(kind)
            decision.classes[cls] = decision.classes.get(cls, 0) + 1
            if cls == UNCLASSIFIED and isinstance(kind, str):
                unknown.add(kind.split(".", 1)[0])
            for hold in policy.holds:
                if (
                    hold.has_query
                    and hold.name not in decision.holds
                    and hold.covers_day(day)
                    and hold.matches(record)
                ):
                    decision.holds.append(hold.name)
                    decision.reasons.append(
                        f"held by {hold.describe()} (seq {record.get('seq')} matches)"
                    )
    decision.file_sha256 = digest.hexdigest()
    decision.last_leaf = hashlib.sha256(b"\x00" + last_line).hexdigest() if last_line else None
    for cls in decision.classes:
        until = policy.expires(cls, day)
        if until is None:
            forever = cls
        elif latest is None or until > latest[0]:
            latest = (until, cls)
    if forever is not None:
        decision.reasons.append(f"kept: class {forever} is kept forever")
    elif latest is not None and not _reached(latest[0], now):
        what = f"class {latest[1]}"
        if latest[1] == UNCLASSIFIED:
            what = f"unclassified categor{'ies' if len(unknown) > 1 else 'y'} "
            what += ", ".join(sorted(unknown)) + " (the longest period)"
        decision.keep_until = latest[0].isoformat()
        decision.reasons.append(f"kept: {what} until {latest[0]}")


@dataclass(frozen=True)
class DayTerms:
    """How long the records of one day file must be kept, and the legal holds on it: what the
    archive turns into an Object Lock retain-until date and an S3 legal hold."""

    day: str
    keep_until: date | None  # None: some record's class is kept forever
    holds: tuple[str, ...]
    classes: dict[str, int]


def day_terms(path: Path, policy: Policy) -> DayTerms:
    """Read one day file: the latest expiry of its records' classes and the holds touching it."""
    day = date.fromisoformat(_iso(file_day(path)))
    decision = DayDecision(day.isoformat(), path.name, "kept")
    holds = [h.name for h in policy.holds if not h.has_query and h.covers_day(day)]
    _scan(path, decision, policy, day, datetime(1970, 1, 1, tzinfo=UTC))
    keep: date | None = None
    for cls in decision.classes:
        until = policy.expires(cls, day)
        if until is None:
            return DayTerms(day.isoformat(), None, tuple(holds + decision.holds), decision.classes)
        keep = until if keep is None or until > keep else keep
    if keep is None:  # an empty file: keep it as long as any class
        keep = policy.expires(UNCLASSIFIED, day)
    return DayTerms(day.isoformat(), keep, tuple(holds + decision.holds), decision.classes)


def _check_pack(home: Path, decision: DayDecision) -> None:
    """The day's pack must exist, verify with trail.vkey and hold the file's exact bytes."""
    from ..verify.pack import PackUsageError, verify_pack

    pack = layout.daily_pack(Path(home), decision.day)
    rel = pack.relative_to(home).as_posix()
    decision.pack = rel
    make = f"make it with `tradetrail export daily --date {decision.day}`"
    if not (pack / "manifest.json").is_file():
        decision.reasons.append(f"kept: no pack at {rel} ({make})")
        return
    try:
        report = verify_pack(pack, [read_vkey(Path(home) / VKEY_FILE)], max_faults=3)
    except PackUsageError as exc:
        decision.reasons.append(f"kept: the pack at {rel} cannot be checked: {exc}")
        return
    if not report.ok:
        first = report.faults[0] if report.faults else "faults"
        decision.reasons.append(f"kept: the pack at {rel} does not verify: {first}")
        return
    data = (pack / "manifest.json").read_bytes()
    manifest = orjson.loads(data)
    listed = manifest.get("files", [])
    events: dict[str, Any] = next((f for f in listed if f.get("name") == "events.jsonl"), {})
    seq = manifest.get("seq") or {}
    if manifest.get("partial") or manifest.get("date") != decision.day:
        decision.reasons.append(f"kept: the pack at {rel} is partial or of another day ({make})")
    elif events.get("sha256") != decision.file_sha256 or (seq.get("first"), seq.get("last")) != (
        decision.first_seq,
        decision.last_seq,
    ):
        decision.reasons.append(
            f"kept: the pack at {rel} does not hold this day file's exact bytes ({make} again)"
        )
    else:
        decision.pack_manifest_sha256 = hashlib.sha256(data).hexdigest()


def _check_archive(archive: ObjectStore, decision: DayDecision) -> None:
    """With an archive, a day goes only once the archive holds it: its archived copy read back
    (once) must be this file's exact bytes, under an Object Lock retention that has not ended
    (a copy that can be deleted is no copy of record)."""
    from ..store.objectstore import day_rel, decode_object

    rel = day_rel(decision.day)
    where = archive.location.key(rel)
    push = "run `tradetrail archive push` first"
    try:
        stored, info = archive.get(rel) if archive.head(rel) is not None else (b"", None)
        raw = decode_object(rel, stored) if info is not None else b""
    except TradetrailError as exc:
        decision.reasons.append(f"kept: the archive cannot be read: {exc}")
        return
    if info is None:
        decision.reasons.append(f"kept: not in the archive yet ({where}; {push})")
    elif hashlib.sha256(raw).hexdigest() != decision.file_sha256:
        decision.reasons.append(f"kept: the archived copy {where} differs from this file")
    elif info.lock_mode is None or info.retain_until is None:
        decision.reasons.append(f"kept: the archived copy {where} has no Object Lock retention")
    elif info.retain_until < datetime.now(UTC):
        decision.reasons.append(f"kept: the archived copy's lock ended {info.retain_until.date()}")


def plan_retention(
    home: Path | str,
    policy: Policy,
    *,
    as_of: date | datetime | None = None,
    archive: ObjectStore | None = None,
) -> Plan:
    """Decide for every day file (and every day already pruned) whether it may be removed;
    with `archive`, only days the archive holds verified and locked."""
    home = Path(home)
    now = _as_of(as_of)
    files = journal_files(home)
    pruned = {d.day: d for d in pruned_days(home)}
    shortest = policy.shortest()
    decisions: dict[str, DayDecision] = {}
    for gone in pruned.values():
        if not (home / JOURNAL_DIR / f"audit-{gone.day}.jsonl").exists():
            state = "pruned" if gone.state == "removed" else "pending"
            why = "removed under retention" if state == "pruned" else "removal under way"
            decisions[gone.day] = DayDecision(
                _iso(gone.day),
                f"{JOURNAL_DIR}/audit-{gone.day}.jsonl",
                state,
                [f"{why} ({PRUNED_FILE})"],
                first_seq=gone.first_seq,
                last_seq=gone.last_seq,
                records=gone.last_seq - gone.first_seq + 1,
            )
    for i, path in enumerate(files):
        compact = file_day(path)
        day = date.fromisoformat(_iso(compact))
        d = DayDecision(_iso(compact), f"{JOURNAL_DIR}/{path.name}", "kept")
        decisions[compact] = d
        if i == len(files) - 1:
            d.decision = "open"
            d.reasons.append(
                "kept: the trail's newest day file (the writer resumes from its last record)"
            )
            continue
        for hold in policy.holds:
            if not hold.has_query and hold.covers_day(day):
                d.holds.append(hold.name)
                d.reasons.append(f"held by {hold.describe()}")
        if d.holds:
            d.decision = "held"
            continue
        earliest = shortest.expires(day)
        if not _reached(earliest, now):
            d.keep_until = earliest.isoformat() if earliest else None
            d.reasons.append(
                f"kept: even the shortest period ({shortest}) runs until {earliest} "
                "(the file was not read)"
            )
            continue
        _scan(path, d, policy, day, now)
        if d.holds:
            d.decision = "held"
            continue
        if d.reasons:
            continue
        _check_pack(home, d)
        if not d.reasons and archive is not None:
            _check_archive(archive, d)
        if not d.reasons:
            d.decision = "removable"
            d.reasons.append(f"removable: every record is past retention; pack {d.pack} verifies")
            if archive is not None:
                d.reasons.append(f"archived and locked in {archive.location.url}")
    days = [decisions[k] for k in sorted(decisions)]
    return Plan(str(home), policy.source, policy.sha256, now.isoformat(), days)


# ------------------------------------------------------------------------------ the removal


@dataclass
class ApplyResult:
    """What one `apply` did: the batches it finished or made, the days removed, the event."""

    plan: Plan
    removed: list[str] = field(default_factory=list)
    batches: list[str] = field(default_factory=list)
    event_seqs: list[int] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "removed": self.removed,
            "batches": self.batches,
            "event_seqs": self.event_seqs,
            "resumed": self.resumed,
            "warnings": self.warnings,
            "plan": self.plan.to_json(),
        }


def _crash_point(name: str) -> None:
    """A hook the tests replace to simulate a crash between the steps of a removal."""


def read_tombstone(home: Path) -> dict[str, Any]:
    """pruned.json as its JSON values (apply updates them in place and writes them back
    through `Tombstone`); RetentionError naming the field when it is not one."""
    path = Path(home) / PRUNED_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return Tombstone(format=TOMBSTONE_FORMAT, days=[], batches=[]).to_dict()
    try:
        tombstone = decode_tombstone(data)
    except DocumentError as exc:
        raise RetentionError(f"{path}: {exc}; it lists the pruned days") from None
    if tombstone.format != TOMBSTONE_FORMAT:
        raise RetentionError(f"{path}: format is not {TOMBSTONE_FORMAT!r}")
    return tombstone.to_dict()


def _write_tombstone(home: Path, doc: dict[str, Any]) -> None:
    """Write pruned.json; what apply made of it must still be a Tombstone (checked first)."""
    try:
        data = encode_tombstone(decode_tombstone(doc))
    except DocumentError as exc:
        raise RetentionError(f"{PRUNED_FILE} not written: {exc}; nothing was removed") from None
    write_pruned(Path(home), data)


def _day_entry(home: Path, d: DayDecision, batch: str, store: TileStore) -> dict[str, Any]:
    assert d.first_seq is not None and d.last_seq is not None
    end = d.last_seq + 1
    compact = [store.node(h, i).hex() for h, i in compact_range(d.first_seq, end)]
    return PrunedDayEntry(
        day=d.day.replace("-", ""),
        date=d.day,
        file=d.file,
        batch=batch,
        state="intent",
        first_seq=d.first_seq,
        last_seq=d.last_seq,
        records=d.records,
        file_sha256=d.file_sha256,
        first_prev=d.first_prev,
        last_leaf=d.last_leaf,
        compact_range=compact,
        classes=d.classes,
        pack=d.pack,
        pack_manifest_sha256=d.pack_manifest_sha256,
    ).to_dict()


def compact_range(start: int, end: int) -> list[tuple[int, int]]:
    """(height, index) of the perfect subtrees covering leaves [start, end), left to right:
    the compact range of a day's records, each node a hash every later tree head commits to."""
    out: list[tuple[int, int]] = []
    while start < end:
        size = start & -start if start else 1 << (end.bit_length() - 1)
        while size > end - start:
            size >>= 1
        height = size.bit_length() - 1
        out.append((height, start >> height))
        start += size
    return out


def _event_data(
    home: Path, batch: dict[str, Any], days: list[dict[str, Any]], head: Head,
    spans: list[list[int]], root: str, reason: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The data of a compliance.records_removed record (events.ComplianceRecordsRemoved),
    without its seal (added just before it is recorded)."""
    own = merged_spans(days)
    return {
        "reason": reason
        or (
            "retention policy (policy_digest): every record past its retention period as of "
            f"{batch['as_of']}, no legal hold, packs verified; batch {batch['id']} "
            f"(per-day seq ranges and compact ranges in {PRUNED_FILE})"
        ),
        "batch_id": batch["id"],
        "days": [d["date"] for d in days],
        # a batch narrowed to nothing still names the span it once had
        "first_seq": own[0][0] if own else int(batch.get("first_seq", 0)),
        "last_seq": own[-1][1] if own else int(batch.get("last_seq", 0)),
        "policy_digest": batch["policy_sha256"],
        "pack_digests": {d["date"]: d["pack_manifest_sha256"] for d in days},
        "range_root": spans_root(home, own),
        "pruned_spans": spans,
        "pruned_root": root,
        "previous_removal": head.event_id,
    }


def merged_spans(days: list[dict[str, Any]]) -> list[list[int]]:
    """The seq spans [[first, last], ...] of the listed days, ascending, adjacent ones merged."""
    return merge_spans([[int(d["first_seq"]), int(d["last_seq"])] for d in days])


def merge_spans(spans: Iterable[list[int]]) -> list[list[int]]:
    """Seq spans sorted, overlapping and adjacent ones merged."""
    out: list[list[int]] = []
    for first, last in sorted((int(a), int(b)) for a, b in spans):
        if out and first <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], last)
        else:
            out.append([first, last])
    return out


def subtract_spans(spans: list[list[int]], remove: list[list[int]]) -> list[list[int]]:
    """`spans` without the records of `remove`."""
    out: list[list[int]] = []
    for first, last in merge_spans(spans):
        pieces = [[first, last]]
        for a, b in merge_spans(remove):
            pieces = [
                part
                for p_first, p_last in pieces
                for part in ([p_first, min(p_last, a - 1)], [max(p_first, b + 1), p_last])
                if part[0] <= part[1]
            ]
        out.extend(pieces)
    return merge_spans(out)


def _within(inner: list[list[int]], outer: list[list[int]]) -> bool:
    return all(any(a <= first and last <= b for a, b in outer) for first, last in inner)


@dataclass(frozen=True)
class Head:
    """The newest removal record of the sealed chain: what is pruned so far."""

    spans: list[list[int]]
    event_id: str | None = None
    seq: int | None = None
    batch_id: str | None = None


def _record_at(home: Path, seq: int, gone: list[Any]) -> dict[str, Any] | None:
    """The record `seq`, from the journal or, when its day was pruned, from the day's pack;
    only when its bytes are the leaf the tiles hold for that seq."""
    line: bytes | None = None
    for day in gone:
        if day.first_seq <= seq <= day.last_seq:
            pack = layout.daily_pack(home, _iso(day.day)) / "events.jsonl"
            if pack.is_file():
                with pack.open("rb") as fh:
                    line = next((x.rstrip(b"\n") for x in fh if b'"seq":%d,' % seq in x), None)
            break
    else:
        line = next((x for _, x in lines_from_seq(home, seq)), None)
    if line is None:
        return None
    try:
        if leaf_hash(line) != TileStore(home / layout.TILES_DIR).node(0, seq):
            return None
    except TileError:
        return None
    record = orjson.loads(line)
    return dict(record) if record.get("seq") == seq else None


def chain_head(home: Path, doc: dict[str, Any], verifier: Verifier, origin: str) -> Head:
    """What is already pruned: the newest removal record sealed at its own position, found
    in the journal itself (a byte-filtered pass over the day files, like `verify`'s). The
    newest real removal record is always still in the journal, since a day goes only by a
    later removal; pruned.json, which anyone able to write files can edit, decides nothing.
    Raises RetentionError when pruned.json lists removed days the head does not cover."""
    from ..verify.trail import removal_authorized

    needle = b'"type":"' + EVENT_TYPE.encode() + b'"'
    head = Head([])
    for path in journal_files(home):
        with path.open("rb") as fh:
            for line in fh:
                if needle not in line:
                    continue
                record = orjson.loads(line)
                if record.get("type") == EVENT_TYPE and removal_authorized(
                    record, [verifier], origin
                ):
                    head = _head_of(record)
    listed = merged_spans([d for d in doc["days"] if d.get("state") == "removed"])
    if not _within(listed, head.spans):
        raise RetentionError(
            f"{PRUNED_FILE} lists removed days that no sealed removal covers: the file was "
            "edited; nothing was removed; run `tradetrail verify`"
        )
    return head


def journal_gaps(home: Path) -> list[list[int]]:
    """Seq spans no day file holds (before the first file, between files)."""
    gaps: list[list[int]] = []
    expected = 0
    for path in journal_files(home):
        first = first_seq(path)
        if first is None:
            continue
        if first > expected:
            gaps.append([expected, first - 1])
        lines, _ = tail_lines(path, 1)
        expected = record_seq(lines[-1]) + 1 if lines else first
    return gaps


def _head_of(record: dict[str, Any]) -> Head:
    data = record["data"]
    return Head(
        merge_spans(data.get("pruned_spans") or []),
        str(record["event_id"]),
        int(record["seq"]),
        data.get("batch_id"),
    )


def spans_root(home: Path, spans: list[list[int]]) -> str:
    """RFC 6962 root over the leaf hashes of `spans` in seq order, from the level-0 tiles."""
    from ..verify.trail import tile_leaves

    tree = Frontier()
    for first, last in spans:
        for leaf in tile_leaves(Path(home) / layout.TILES_DIR, first, last + 1):
            tree.append(leaf)
    return tree.root().hex()


def _record_removal(
    home: Path, batch: dict[str, Any], days: list[dict[str, Any]], head: Head,
    spans: list[list[int]], trail: Any, reason: str | None = None,
) -> int:  # fmt: skip
    """Seal and record one removal, then sign a checkpoint over it before anything is
    unlinked. The seal binds the record's own seq: it is made here, for the seq the record
    will get (apply holds the writer lock; should another event slip in first, e.g. one a
    command left in spill/, the record is sealed again for its new place)."""
    from ..core.canonical import new_event_id
    from ..verify.trail import removal_authorized, removal_statement

    missing = journal_gaps(home)
    if not _within(missing, spans):
        raise RetentionError(
            f"records {missing} are gone from the journal but this removal would not cover "
            f"them all ({spans}): pruned.json or the journal was edited; nothing was removed; "
            "run `tradetrail verify`"
        )
    root = spans_root(home, spans)
    data = _event_data(home, batch, days, head, spans, root, reason)
    fields: dict[str, Any] = {}
    with contextlib.suppress(Exception):
        fields["actor"] = getpass.getuser()
    for _ in range(5):
        trail.flush()
        expected, event_id = trail.size, new_event_id()
        text = removal_statement(trail.origin, expected, event_id, data)
        sealed = {**data, "seal": sign_note(text, trail.signer)}
        seq = int(trail.record(EVENT_TYPE, sealed, event_id=event_id, **fields).wait())
        if seq == expected:
            batch["event_seq"] = seq
            trail.checkpoint()  # a signed checkpoint covers the removal before any unlink
            record = _record_at(home, seq, [])
            if record is None or not removal_authorized(record, [trail.verifier], trail.origin):
                # e.g. the redactor took a value of it for a secret: it would excuse nothing
                raise RetentionError(
                    f"the removal record at seq {seq} was journaled differently from what was "
                    f"sealed (redacted: {(record or {}).get('redacted')}); nothing was removed"
                )
            return seq
    raise RetentionError(
        "could not record the removal at a stable position (other events kept arriving); "
        "nothing was removed; run apply again"
    )


def _unlink_days(home: Path, doc: dict[str, Any], batch: dict[str, Any]) -> None:
    """Remove the batch's day files (the removal is recorded) and mark the batch done."""
    days = [d for d in doc["days"] if d["batch"] == batch["id"]]
    _write_tombstone(home, doc)
    for d in days:
        folder, _, name = str(d["file"]).partition("/")
        if folder != JOURNAL_DIR:
            raise RetentionError(f"{PRUNED_FILE}: {d['file']!r} is not a journal day file")
        remove_day_file(home, name)
        _crash_point("after_unlink")
    fsync_dir(home / JOURNAL_DIR)
    for d in days:
        d["state"] = "removed"
    batch["state"] = "removed"
    batch["removed_at"] = datetime.now(UTC).isoformat()
    _write_tombstone(home, doc)


def _check_files(home: Path, batch: dict[str, Any], days: list[dict[str, Any]]) -> None:
    """Before a removal is recorded every day file is still there, with the bytes decided on:
    apply unlinks only after recording, so anything else is tampering."""
    for d in days:
        path = home / d["file"]
        if not path.exists():
            raise RetentionError(
                f"{d['file']} is gone although its removal (batch {batch['id']}) was never "
                "recorded: it was deleted by hand or pruned.json was edited; nothing was "
                "removed; run `tradetrail verify`"
            )
        if hashlib.sha256(path.read_bytes()).hexdigest() != d["file_sha256"]:
            raise RetentionError(
                f"{d['file']}: its bytes differ from the hash recorded when its removal was "
                f"decided (batch {batch['id']}); nothing was removed: run `tradetrail verify`"
            )


def _blocked(
    home: Path, doc: dict[str, Any], batch: dict[str, Any], plan: Plan
) -> list[tuple[str, str]]:
    """(date, why) of the days of an interrupted batch, still on disk, that the current
    policy would not remove (a hold added since, a pack gone): resuming must not override a
    later decision."""
    decided = {d.day: d for d in plan.days}
    out = []
    for entry in doc["days"]:
        if entry["batch"] != batch["id"] or not (home / entry["file"]).exists():
            continue
        d = decided.get(entry["date"])
        if d is None or d.decision != "removable":
            why = "; ".join(d.reasons) if d is not None else "not in the plan"
            out.append((entry["date"], f"{entry['date']} is no longer removable ({why})"))
    return out


def _resume(
    home: Path, doc: dict[str, Any], batch: dict[str, Any], plan: Plan, trail: Any,
    warnings: list[str],
) -> int | None:  # fmt: skip
    """Finish a batch a crash interrupted, by what the sealed chain says happened."""
    head = chain_head(home, doc, trail.verifier, trail.origin)
    blocked = _blocked(home, doc, batch, plan)
    days = [d for d in doc["days"] if d["batch"] == batch["id"]]
    if head.batch_id != batch["id"]:  # never recorded
        if type(batch.get("event_seq")) is int:
            raise RetentionError(
                f"{PRUNED_FILE}: batch {batch['id']} says it was recorded at seq "
                f"{batch['event_seq']} but the newest sealed removal is not it: the file was "
                "edited; nothing was removed; run `tradetrail verify`"
            )
        if blocked:
            doc["days"] = [d for d in doc["days"] if d["batch"] != batch["id"]]
            doc["batches"] = [b for b in doc["batches"] if b["id"] != batch["id"]]
            _write_tombstone(home, doc)
            warnings.append(
                f"an interrupted removal (batch {batch['id']}) was abandoned: "
                f"{'; '.join(text for _, text in blocked)}"
            )
            return None
        _check_files(home, batch, days)
        spans = merge_spans([*head.spans, *merged_spans(days)])
        recorded = _record_removal(home, batch, days, head, spans, trail)
        _crash_point("after_event")
        _unlink_days(home, doc, batch)
        return recorded
    # recorded: the head says which of its days count (a narrowing may have been recorded
    # before a crash kept pruned.json from saying so)
    counted = [d for d in days if _within(merged_spans([d]), head.spans)]
    doc["days"] = [d for d in doc["days"] if d["batch"] != batch["id"] or d in counted]
    kept = [day for day, _ in blocked if any(d["date"] == day for d in counted)]
    seq: int | None = head.seq
    if kept:
        # recorded, but a later decision keeps some days: record the removal again without
        # them (the newest removal record of the chain is the one that counts)
        remaining = [d for d in counted if d["date"] not in kept]
        kept_spans = merged_spans([d for d in counted if d["date"] in kept])
        spans = subtract_spans(head.spans, kept_spans)
        reason = (
            f"batch {batch['id']} narrowed: {', '.join(sorted(kept))} kept by a later decision "
            "(a legal hold or a missing pack); the removal record before this one no longer "
            "counts for them"
        )
        if counted:
            batch["first_seq"], batch["last_seq"] = counted[0]["first_seq"], counted[-1]["last_seq"]
        seq = _record_removal(home, batch, remaining, head, spans, trail, reason)
        doc["days"] = [d for d in doc["days"] if d["batch"] != batch["id"] or d in remaining]
        batch["days"] = [d["date"] for d in remaining]
        batch["retracted"] = sorted(kept)
        warnings.append(
            f"an interrupted removal (batch {batch['id']}) was narrowed and recorded again: "
            f"{'; '.join(text for _, text in blocked)}"
        )
    batch["event_seq"] = seq
    _unlink_days(home, doc, batch)
    return seq


def _new_batch(
    batch_id: str, policy: Policy, plan: Plan, trail: Any, days: list[str]
) -> dict[str, Any]:
    """A batch as pruned.json lists it, before its removal is recorded."""
    return PrunedBatch(
        id=batch_id,
        state="intent",
        created=datetime.now(UTC).isoformat(),
        as_of=plan.as_of,
        policy=policy.source,
        policy_sha256=policy.sha256,
        journal_size=int(trail.durable_size),
        event_seq=None,
        days=days,
    ).to_dict()


def _reconcile(
    home: Path, doc: dict[str, Any], policy: Policy, plan: Plan, trail: Any,
    warnings: list[str],
) -> int | None:  # fmt: skip
    """Day files the newest sealed removal covers but that are still on disk (a run stopped
    before unlinking, whatever pruned.json now says): removed when still removable, else
    kept by recording a narrower removal, so no later decision is overridden."""
    head = chain_head(home, doc, trail.verifier, trail.origin)
    on_disk = []
    for path in journal_files(home):
        first = first_seq(path)
        lines, _ = tail_lines(path, 1)
        if first is None or not lines:
            continue
        if _within([[first, record_seq(lines[-1])]], head.spans):
            on_disk.append((path, first, record_seq(lines[-1])))
    if not on_disk:
        return None
    decided = {d.day: d for d in plan.days}
    removable = {
        _iso(file_day(p)) for p, _, _ in on_disk
        if (d := decided.get(_iso(file_day(p)))) is not None and d.decision == "removable"
    }  # fmt: skip
    batch = _new_batch(str(uuid.uuid4()), policy, plan, trail, sorted(removable))
    kept = [(p, f, last) for p, f, last in on_disk if _iso(file_day(p)) not in removable]
    seq = None
    if kept:
        names = ", ".join(_iso(file_day(p)) for p, _, _ in kept)
        batch["first_seq"], batch["last_seq"] = kept[0][1], kept[-1][2]
        spans = subtract_spans(head.spans, [[f, last] for _, f, last in kept])
        reason = (
            f"narrowed: {names} kept by a later decision (a legal hold or a missing pack); "
            "the removal record before this one no longer counts for them"
        )
        seq = _record_removal(home, batch, [], head, spans, trail, reason)
        warnings.append(f"a recorded removal was narrowed: {names} kept")
    store = TileStore(home / layout.TILES_DIR)
    entries = [_day_entry(home, decided[day], batch["id"], store) for day in sorted(removable)]
    doc["days"] = [d for d in doc["days"] if d.get("date") not in removable] + entries
    doc["batches"].append(batch)
    _unlink_days(home, doc, batch)
    if removable:
        warnings.append(
            f"finished removing {', '.join(sorted(removable))}, which the newest sealed removal "
            "records as removed"
        )
    return seq


def apply_retention(
    home: Path | str,
    policy: Policy,
    *,
    as_of: date | datetime | None = None,
    clock: Clock | None = None,
    confirm: Callable[[Plan], bool] | None = None,
    archive: ObjectStore | None = None,
) -> ApplyResult:
    """Remove the removable day files (see the module docstring for the order of the steps).

    Holds the trail's writer lock throughout, so no writer or other `apply` runs meanwhile:
    raises RetentionError when another process holds it. An interrupted batch is finished
    first. `confirm` sees the plan and may decline (nothing is then removed)."""
    from ..writer.trail import open as open_trail

    home = Path(home)
    if as_of is not None and _as_of(as_of) > datetime.now(UTC):
        raise RetentionError(
            f"--as-of {_as_of(as_of).date()} is in the future: apply removes only what is past "
            "retention now (use `retention plan --as-of` to look ahead)"
        )
    try:
        trail = open_trail(  # this process's own writer, unreachable by others meanwhile
            home, clock=clock, strict=False, create=False, writer="embedded", serve=False
        )
    except TrailLockedError as exc:
        raise RetentionError(
            f"{exc}: retention apply needs the trail to itself (it records the removal and "
            "must not race a writer); run it while the trading process is stopped. "
            "`tradetrail retention plan` works meanwhile"
        ) from None
    try:
        doc = read_tombstone(home)
        resumed: list[str] = []
        seqs: list[int] = []
        warnings: list[str] = []
        for batch in list(doc["batches"]):
            if batch.get("state") == "removed":
                continue
            seq = _resume(home, doc, batch, plan_retention(home, policy, as_of=as_of), trail,
                          warnings)  # fmt: skip
            if seq is not None:
                seqs.append(seq)
                resumed.append(str(batch["id"]))
        plan = plan_retention(home, policy, as_of=as_of, archive=archive)
        reconciled = _reconcile(home, doc, policy, plan, trail, warnings)
        if reconciled is not None:
            seqs.append(reconciled)
            plan = plan_retention(home, policy, as_of=as_of, archive=archive)
        result = ApplyResult(
            plan, batches=list(resumed), event_seqs=seqs, resumed=resumed, warnings=warnings
        )
        chosen = plan.removable
        if not chosen or (confirm is not None and not confirm(plan)):
            return result
        head = chain_head(home, doc, trail.verifier, trail.origin)
        batch_id = str(uuid.uuid4())
        store = TileStore(home / layout.TILES_DIR)
        entries = [_day_entry(home, d, batch_id, store) for d in chosen]
        batch = _new_batch(batch_id, policy, plan, trail, [e["date"] for e in entries])
        doc["days"].extend(entries)
        doc["batches"].append(batch)
        _write_tombstone(home, doc)  # the intent, durable before anything is removed
        _crash_point("after_intent")
        _check_files(home, batch, entries)
        # every record pruned so far, this batch included: each removal record carries the
        # whole list, so the evidence survives when the day holding an earlier one goes too
        spans = merge_spans([*head.spans, *merged_spans(entries)])
        seq = _record_removal(home, batch, entries, head, spans, trail)
        _crash_point("after_event")
        _unlink_days(home, doc, batch)
        result.event_seqs.append(seq)
        result.batches.append(batch_id)
        result.removed = [e["date"] for e in entries]
        for d in plan.days:
            if d.decision == "removable":
                d.decision = "pruned"
    finally:
        trail.close()
    result.warnings.extend(_purge_index(home))
    return result


def _purge_index(home: Path) -> Iterable[str]:
    """Rebuild the embedded SQLite index so the removed records' content leaves it too."""
    from ..index import INDEX_FILE, index_url
    from ..index.rebuild import rebuild

    url = index_url(home)
    if not url.startswith("sqlite:///"):
        return [
            f"the index at {url.split('@')[-1]} still holds rows of the removed days: rows "
            "there are immutable; drop them by its own retention (monthly partitions)"
        ]
    if not (home / INDEX_FILE).exists() or url != f"sqlite:///{home / INDEX_FILE}":
        return []
    try:
        rebuild(home, url)
    except (TradetrailError, OSError) as exc:
        return [f"could not rebuild {INDEX_FILE} without the removed days: {exc}"]
    return []


def tombstone_days(home: Path) -> list[dict[str, Any]]:
    """Every pruned day's entry in pruned.json (for tools that show the gaps)."""
    return list(read_tombstone(Path(home)).get("days", []))
