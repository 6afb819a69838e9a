"""Scheduled compliance jobs (docs/JOBS.md): the daily pack of each sealed day, a verification
sweep, the weekly retention plan report and the attestation reminder, run by `tradetrail serve
--jobs FILE` in a thread beside the writer, and by hand with `tradetrail jobs run NAME`.

Each job has a schedule (`at = "HH:MM"` UTC each day, with `weekday` once a week, or
`every = "6h"`); its *slots* are the instants the schedule names. A job is due when the latest
slot is later than the slot its last run covered (or it never ran), so a run missed while the
service was down happens once at the next start, and a run by hand covers the current slot.

The jobs' state (last run, last result, the sweep's position) lives outside the trail, in
~/.local/state/tradetrail/ like the alerts runner's, since only store/ and writer/ write the
trail's own files. What the jobs make goes where the commands put it: daily packs in
exports/daily/, retention plan reports in exports/retention/. A failed job is logged and
journaled as `alert.raised`, which alert rules can send on."""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import random
import re
import threading
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..core import layout
from ..errors import ConfigError, JobBusyError, JobCancelledError, JobsConfigError
from ..metrics.health import Verification
from ..store.journal import journal_files

__all__ = [
    "JOB_NAMES",
    "JobBusyError",
    "JobCancelledError",
    "JobResult",
    "JobsConfig",
    "JobsConfigError",
    "Schedule",
    "Scheduler",
    "default_state_path",
    "load_jobs",
]

logger = logging.getLogger("tradetrail.jobs")

JOB_NAMES: Final = (
    "daily-pack",
    "verify-sweep",
    "retention-plan",
    "attestation-reminder",
    "archive-push",
)
NOW_ENV: Final = "TRADETRAIL_JOBS_NOW"
"""An RFC 3339 instant the jobs' clock starts from (then runs at real speed): for drills and
tests of schedules, e.g. a run missed while the service was down."""
JOB_FAILED_RULE: Final = "tradetrail.job_failed"
ATTESTATION_RULE: Final = "tradetrail.attestation_missing"
RETENTION_REPORTS: Final = "retention"
"""Under exports/: the retention plan reports, plan-YYYY-MM-DD.json."""
_WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DAY_S: Final = 86400

Record = Callable[[str, dict[str, Any]], None]
"""Records one event (type, data) in the trail: the served trail, or an admin event."""


# ------------------------------------------------------------------------------ schedules


@dataclass(frozen=True)
class Schedule:
    """Each day at `at` (seconds after 00:00 UTC), only on `weekday` (0 = Monday) if given;
    or every `every` seconds, slots aligned on the Unix epoch."""

    at: int | None = None
    weekday: int | None = None
    every: int | None = None

    def latest(self, now: float) -> float:
        """The latest slot at or before `now` (Unix seconds)."""
        if self.every is not None:
            return now - now % self.every
        assert self.at is not None
        day = now - now % _DAY_S
        slot = day + self.at
        if slot > now:
            slot -= _DAY_S
        if self.weekday is not None:
            while datetime.fromtimestamp(slot, UTC).weekday() != self.weekday:
                slot -= _DAY_S
        return slot

    def next(self, now: float) -> float:
        """The first slot after `now`."""
        if self.every is not None:
            return self.latest(now) + self.every
        step = _DAY_S * (7 if self.weekday is not None else 1)
        return self.latest(now) + step

    def describe(self) -> str:
        if self.every is not None:
            n, unit = next((self.every // s, u) for u, s in reversed(_UNITS.items())
                           if self.every % s == 0)  # fmt: skip
            return f"every {n}{unit}"
        assert self.at is not None
        hhmm = f"{self.at // 3600:02d}:{self.at % 3600 // 60:02d} UTC"
        if self.weekday is not None:
            return f"weekly, {_WEEKDAYS[self.weekday]} {hhmm}"
        return f"daily {hhmm}"


DEFAULT_SCHEDULES: Final = {
    "daily-pack": Schedule(at=30 * 60),  # 00:30: the day before was sealed at midnight
    "verify-sweep": Schedule(at=2 * 3600),
    "retention-plan": Schedule(at=6 * 3600, weekday=0),
    "attestation-reminder": Schedule(at=15 * 60),  # just after the end of the next day
    "archive-push": Schedule(at=45 * 60),  # after the day's seal and its pack
}


@dataclass(frozen=True)
class JobSpec:
    name: str
    schedule: Schedule
    enabled: bool
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobsConfig:
    """The jobs file: each job's schedule and options; `state` overrides where state lives."""

    jobs: dict[str, JobSpec]
    source: str = "<defaults>"
    state: Path | None = None

    @classmethod
    def defaults(cls) -> JobsConfig:
        """No file: every job known, none scheduled (each can still be run by hand)."""
        return cls({n: JobSpec(n, DEFAULT_SCHEDULES[n], False) for n in JOB_NAMES})

    @property
    def enabled(self) -> list[str]:
        return [n for n, spec in self.jobs.items() if spec.enabled]


_OPTIONS: Final[dict[str, dict[str, type]]] = {
    "daily-pack": {"lookback_days": int},
    "verify-sweep": {"sample_days": int},
    "retention-plan": {"policy": str, "out": str},
    "attestation-reminder": {"severity": str, "lookback_days": int},
    "archive-push": {
        "url": str,
        "endpoint_url": str,
        "lock_mode": str,
        "worm": bool,
        "policy": str,
        "storage_class": str,
    },
}
LOOKBACK_DAYS: Final = 31
"""How far back daily-pack and attestation-reminder look by default: a service down for a
month catches up; older gaps are for `tradetrail export daily` and `attestations` by hand."""
_SEVERITIES: Final = ("debug", "info", "warning", "error", "critical")


def _parse_duration(text: object, where: str) -> int:
    m = re.fullmatch(r"(\d+)([smhd])", str(text).strip()) if isinstance(text, str) else None
    if m is None or int(m[1]) == 0:
        raise JobsConfigError(f"{where}: expected a duration such as 15m, 6h or 1d, not {text!r}")
    return int(m[1]) * _UNITS[m[2]]


def _parse_at(text: object, where: str) -> int:
    m = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", text) if isinstance(text, str) else None
    if m is None:
        raise JobsConfigError(f"{where}: expected HH:MM (UTC), e.g. 00:30, not {text!r}")
    return int(m[1]) * 3600 + int(m[2]) * 60


def _parse_job(name: str, raw: object, where: str) -> JobSpec:
    if not isinstance(raw, dict):
        raise JobsConfigError(f"{where}: expected a table of settings")
    known = {"at", "weekday", "every", "enabled", *_OPTIONS[name]}
    for key in raw:
        if key not in known:
            raise JobsConfigError(
                f"{where}.{key}: unknown setting (known: {', '.join(sorted(known))})"
            )
    default = DEFAULT_SCHEDULES[name]
    if "every" in raw and ("at" in raw or "weekday" in raw):
        raise JobsConfigError(f"{where}: give either every or at (and weekday), not both")
    if "every" in raw:
        schedule = Schedule(every=_parse_duration(raw["every"], f"{where}.every"))
    else:
        at = _parse_at(raw["at"], f"{where}.at") if "at" in raw else default.at
        weekday = default.weekday
        if "weekday" in raw:
            day = str(raw["weekday"]).lower()[:3]
            if day not in _WEEKDAYS:
                raise JobsConfigError(
                    f"{where}.weekday: expected mon ... sun, not {raw['weekday']!r}"
                )
            weekday = _WEEKDAYS.index(day)
        schedule = Schedule(at=at, weekday=weekday)
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise JobsConfigError(f"{where}.enabled: expected true or false")
    options: dict[str, Any] = {}
    for key, kind in _OPTIONS[name].items():
        if key in raw:
            value = raw[key]
            if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
                raise JobsConfigError(f"{where}.{key}: expected a {kind.__name__}")
            options[key] = value
    if options.get("lookback_days", 1) < 1:
        raise JobsConfigError(f"{where}.lookback_days: expected 1 or more")
    if options.get("sample_days", 0) < 0:
        raise JobsConfigError(f"{where}.sample_days: expected 0 or more")
    if name == "archive-push" and "url" not in options:
        raise JobsConfigError(f"{where}.url: the archive's s3://bucket/prefix is required")
    if options.get("lock_mode", "COMPLIANCE") not in ("COMPLIANCE", "GOVERNANCE"):
        raise JobsConfigError(f"{where}.lock_mode: expected COMPLIANCE or GOVERNANCE")
    if options.get("severity", "warning") not in _SEVERITIES:
        raise JobsConfigError(f"{where}.severity: expected one of {', '.join(_SEVERITIES)}")
    return JobSpec(name, schedule, enabled, options)


def parse_jobs(doc: object, source: str, base: Path | None = None) -> JobsConfig:
    """The jobs of a parsed file: a `jobs` table of `[jobs.NAME]` tables, and an optional
    `state` path (relative to the file's directory)."""
    if not isinstance(doc, dict):
        raise JobsConfigError(f"{source}: expected a table with a [jobs] section")
    for key in doc:
        if key not in ("jobs", "state"):
            raise JobsConfigError(f"{source}: {key}: unknown setting (known: jobs, state)")
    raw_jobs = doc.get("jobs")
    if not isinstance(raw_jobs, dict) or not raw_jobs:
        raise JobsConfigError(f"{source}: jobs: expected a table of jobs ([jobs.daily-pack], ...)")
    jobs = {n: JobSpec(n, DEFAULT_SCHEDULES[n], False) for n in JOB_NAMES}
    for name, raw in raw_jobs.items():
        if name not in JOB_NAMES:
            raise JobsConfigError(
                f"{source}: jobs.{name}: no such job (known: {', '.join(JOB_NAMES)})"
            )
        jobs[name] = _parse_job(name, raw, f"{source}: jobs.{name}")
    state = doc.get("state")
    if state is not None and not isinstance(state, str):
        raise JobsConfigError(f"{source}: state: expected a path")
    state_path = None
    if state is not None:
        state_path = Path(state).expanduser()
        if not state_path.is_absolute() and base is not None:
            state_path = base / state_path
    return JobsConfig(jobs, source, state_path)


def load_jobs(path: Path) -> JobsConfig:
    """A jobs file: TOML, or YAML when its name ends in .yaml/.yml."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise JobsConfigError(f"{path}: cannot read the jobs file: {exc}") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            doc = yaml.safe_load(text)
        else:
            doc = tomllib.loads(text)
    except Exception as exc:  # tomllib/yaml syntax errors: one line naming the file
        raise JobsConfigError(f"{path}: not valid {path.suffix[1:] or 'TOML'}: {exc}") from None
    return parse_jobs(doc, str(path), path.parent)


# ------------------------------------------------------------------------------ state


def default_state_path(home: Path) -> Path:
    """~/.local/state/tradetrail/jobs-<16 hex of the home's real path>.json (XDG)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    digest = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:16]
    return Path(base) / "tradetrail" / f"jobs-{digest}.json"


def jobs_clock() -> Callable[[], float]:
    """Unix seconds now, or from TRADETRAIL_JOBS_NOW on (running at real speed)."""
    text = os.environ.get(NOW_ENV)
    if not text:
        return time.time
    try:
        start = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{NOW_ENV}={text!r}: expected an RFC 3339 time") from None
    if start.tzinfo is None:
        raise ConfigError(f"{NOW_ENV}={text!r}: give the offset (Z for UTC)")
    offset = start.timestamp() - time.time()
    return lambda: time.time() + offset


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _ts(text: object) -> float | None:
    if not isinstance(text, str):
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass
class JobResult:
    """What one run did: `ok`, a one-line summary, and details for `jobs list --json`."""

    ok: bool
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Context:
    home: Path
    spec: JobSpec
    record: Record
    now: float
    state: dict[str, Any]
    stop: threading.Event

    def check(self, _: int = 0) -> None:
        """A progress callback: give up when the service stops."""
        if self.stop.is_set():
            raise JobCancelledError(f"job {self.spec.name} interrupted: the service is stopping")

    @property
    def today(self) -> date:
        return datetime.fromtimestamp(self.now, UTC).date()


# ------------------------------------------------------------------------------ the jobs


def _daily_pack(ctx: _Context) -> JobResult:
    """Pack every sealed day of the last `lookback_days` without a pack (from the trail's
    first day); a day after an open one is not finished yet, whatever the calendar says."""
    import hashlib as _hashlib

    from ..export.daily import day_bounds, first_record_day
    from ..store.journal import pruned_days
    from .export import export_daily

    first = first_record_day(ctx.home)
    if first is None:
        return JobResult(True, "no records yet: nothing to pack")
    gone = {d.day for d in pruned_days(ctx.home)}
    made: list[str] = []
    lookback = int(ctx.spec.options.get("lookback_days", LOOKBACK_DAYS))
    day = max(date.fromisoformat(first), ctx.today - timedelta(days=lookback))
    while day < ctx.today:
        text = day.isoformat()
        day += timedelta(days=1)
        if text.replace("-", "") in gone or layout.daily_pack(ctx.home, text).exists():
            continue
        if not day_bounds(ctx.home, text, ctx.today).sealed:
            break
        ctx.check()
        result = export_daily(ctx.home, text, today=ctx.today, progress=ctx.check)
        if result.created:
            digest = _hashlib.sha256((result.path / "manifest.json").read_bytes()).hexdigest()
            ctx.record(
                "compliance.export_made",
                {
                    "kind": "daily_pack",
                    "period_start": result.date,
                    "period_end": result.date,
                    "digest": f"sha256:{digest}",
                    "records": result.records,
                    "path": str(result.path),
                },
            )
            made.append(text)
    summary = f"packed {', '.join(made)}" if made else "every sealed day has its pack"
    return JobResult(True, summary, {"packed": made})


def _verify_sweep(ctx: _Context) -> JobResult:
    """verify the whole trail (every record is hashed: the signed roots cover them all),
    reporting the records added since the last sweep in detail, then verify-pack the daily
    packs of a sample of older days; journaled as compliance.verification_run."""
    from ..store.keys import VKEY_FILE, read_vkey
    from ..verify.pack import verify_pack
    from ..verify.trail import verify_trail

    started = time.monotonic()
    since = ctx.state.get("verified_size")
    since = since if isinstance(since, int) and since >= 0 else 0
    report = verify_trail(ctx.home, progress=ctx.check, start=since if since else None)
    faults = report.fault_count + report.faults_outside_range
    messages = [str(f) for f in report.faults[:5]]
    sample = int(ctx.spec.options.get("sample_days", 3))
    packs = sorted(p.name for p in layout.daily_packs(ctx.home).glob("????-??-??") if p.is_dir())
    rng = random.SystemRandom()
    sampled = sorted(rng.sample(packs, min(sample, len(packs))))
    vkey = read_vkey(ctx.home / VKEY_FILE)
    for day in sampled:
        ctx.check()
        pack = verify_pack(layout.daily_pack(ctx.home, day), [vkey], max_faults=3)
        if not pack.ok:
            faults += pack.fault_count
            messages += [f"pack {day}: {f}" for f in pack.faults[:2]]
    ok = faults == 0
    data: dict[str, Any] = {
        "ok": ok,
        "size": report.size,
        "faults": faults,
        "warnings": len(report.warnings),
        "duration_ms": int((time.monotonic() - started) * 1000),
    }
    if report.size > since:
        data["first_seq"], data["last_seq"] = since, report.size - 1
    if sampled:
        data["sampled_days"] = sampled
    if messages:
        data["messages"] = messages[:10]
    ctx.record("compliance.verification_run", data)
    ctx.state["verified_size"] = report.size
    ctx.state["verification"] = {"ok": ok, "at": time.time()}
    new = report.size - since
    summary = (
        f"{'ok' if ok else f'{faults} fault(s)'}: {report.size} records verified "
        f"({new} new), {len(sampled)} pack(s) sampled"
    )
    return JobResult(ok, summary, data)


def _retention_plan(ctx: _Context) -> JobResult:
    """Write the retention plan as of now to exports/retention/plan-YYYY-MM-DD.json (or the
    `out` directory); removes nothing."""
    from .retention import load_policy, plan_retention

    policy_opt = ctx.spec.options.get("policy")
    policy = load_policy(ctx.home, Path(policy_opt) if policy_opt else None)
    plan = plan_retention(ctx.home, policy, as_of=datetime.fromtimestamp(ctx.now, UTC))
    out_opt = ctx.spec.options.get("out")
    out = Path(out_opt) if out_opt else ctx.home / layout.EXPORTS_DIR / RETENTION_REPORTS
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"plan-{ctx.today.isoformat()}.json"
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(plan.to_json(), indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    removable = len(plan.removable)
    return JobResult(
        True,
        f"{target}: {len(plan.days)} day(s), {removable} removable",
        {"report": str(target), "removable": [d.day for d in plan.removable]},
    )


def _attestation_reminder(ctx: _Context) -> JobResult:
    """Raise an alert for sealed days still unattested at the end of their next day (days up
    to the day before yesterday, UTC)."""
    from .attest import list_attestations

    last = ctx.today - timedelta(days=2)
    lookback = int(ctx.spec.options.get("lookback_days", LOOKBACK_DAYS))
    first = ctx.today - timedelta(days=lookback)
    if first > last:
        return JobResult(True, "no day due yet", {"missing": []})
    report = list_attestations(ctx.home, first.isoformat(), last.isoformat(), today=ctx.today)
    missing = [d.date for d in report.days if d.status == "missing"]
    if not missing:
        return JobResult(True, "every sealed day due is attested", {"missing": []})
    shown = ", ".join(missing[:10]) + (
        f" and {len(missing) - 10} more" if len(missing) > 10 else ""
    )
    ctx.record(
        "alert.raised",
        {
            "rule": ATTESTATION_RULE,
            "severity": ctx.spec.options.get("severity", "warning"),
            "message": f"{len(missing)} sealed day(s) without an attestation: {shown}",
            "alert_id": ATTESTATION_RULE,
            "job": ctx.spec.name,
            "days": missing[:100],
        },
    )
    return JobResult(True, f"alert raised: {len(missing)} unattested day(s)", {"missing": missing})


def _day_of_file(rel: str) -> str:
    """YYYYMMDD of a day file's path (journal/audit-YYYYMMDD.jsonl)."""
    return Path(rel).name.removeprefix("audit-").split(".", 1)[0]


def _archive_push(ctx: _Context) -> JobResult:
    """Push what is sealed and not archived yet to the archive (docs/RETENTION.md, The
    archive), off the recording path; journaled as compliance.archive_pushed. The credentials
    come from the standard AWS chain, never from the jobs file."""
    from ..store.objectstore import ArchiveLocation, ObjectStore
    from .archive import push, push_event
    from .retention import load_policy

    options = ctx.spec.options
    policy_opt = options.get("policy")
    policy = load_policy(ctx.home, Path(policy_opt) if policy_opt else None)
    endpoint = options.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL_S3")
    store = ObjectStore(ArchiveLocation.parse(options["url"]), endpoint_url=endpoint)
    ctx.check()
    result = push(
        ctx.home,
        store,
        policy,
        lock_mode=options.get("lock_mode", "COMPLIANCE"),
        worm=options.get("worm", True),
        storage_class=options.get("storage_class"),
    )
    if result.uploaded:
        ctx.record("compliance.archive_pushed", push_event(result, endpoint))
    pushed = [_day_of_file(d) for d in result.days]
    through = max([ctx.state.get("archive", {}).get("through") or "", *pushed])
    ctx.state["archive"] = {"ok": result.ok, "at": time.time(), "through": through or None}
    days = [Path(d).name for d in result.days]
    details = result.to_json()
    if result.conflicts:
        return JobResult(
            False,
            f"{len(result.conflicts)} archived object(s) differ from the trail's: "
            + ", ".join(result.conflicts[:5]),
            details,
        )
    summary = (
        f"{len(result.uploaded)} object(s) uploaded, days {', '.join(days)}"
        if result.uploaded
        else "every sealed day is archived"
    )
    return JobResult(True, summary, details)


_JOBS: Final[dict[str, Callable[[_Context], JobResult]]] = {
    "daily-pack": _daily_pack,
    "verify-sweep": _verify_sweep,
    "retention-plan": _retention_plan,
    "attestation-reminder": _attestation_reminder,
    "archive-push": _archive_push,
}


# ------------------------------------------------------------------------------ the scheduler


class Scheduler:
    """Runs the due jobs of `home` on `config`'s schedules; its state file (`state_path`) is
    shared by the service and `tradetrail jobs run`, one job at a time under a lock."""

    def __init__(
        self,
        home: Path,
        config: JobsConfig,
        record: Record,
        *,
        state_path: Path | None = None,
        clock: Callable[[], float] | None = None,
        poll_s: float = 1.0,
    ) -> None:
        self.home = home
        self.config = config
        self.record = record
        self.state_path = state_path or config.state or default_state_path(home)
        self.clock = clock or jobs_clock()
        self.poll_s = poll_s
        self.stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._state = self._load()

    # ---------------------------------------------------------------- state

    def _load(self) -> dict[str, Any]:
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"home": str(self.home.resolve()), "jobs": {}}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{self.state_path}: unreadable jobs state ({exc})") from None
        if state.get("home") != str(self.home.resolve()) or not isinstance(state.get("jobs"), dict):
            raise ConfigError(f"{self.state_path}: the jobs state of another trail, or not one")
        return dict(state)

    def _save(self) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_name(f"{self.state_path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self._state, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.state_path)

    def job_state(self, name: str) -> dict[str, Any]:
        jobs: dict[str, Any] = self._state["jobs"]
        return dict(jobs.get(name, {}))

    @contextmanager
    def _locked(self, wait: bool) -> Iterator[None]:
        """One job at a time per trail, across the service and `jobs run`."""
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.state_path.with_name(self.state_path.name + ".lock"), "a+b") as fh:
            deadline = time.monotonic() + (30.0 if wait else 0.0)
            while True:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise JobBusyError(
                            f"another process is running a job of {self.home} "
                            f"(lock {fh.name}); try again when it is done"
                        ) from None
                    time.sleep(0.2)
            try:
                self._state = self._load()  # what the other process did meanwhile
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    # ---------------------------------------------------------------- what is due

    def due(self, now: float | None = None) -> list[str]:
        """The enabled jobs whose latest slot is later than what their last run covered."""
        now = self.clock() if now is None else now
        found = []
        for name in self.config.enabled:
            covered = _ts(self.job_state(name).get("covered"))
            if covered is None or self.config.jobs[name].schedule.latest(now) > covered:
                found.append(name)
        return found

    def describe(self) -> list[dict[str, Any]]:
        """Each job: schedule, last run and result, next run (`jobs list`)."""
        now = self.clock()
        rows = []
        due = set(self.due(now))
        for name, spec in self.config.jobs.items():
            st = self.job_state(name)
            nxt = None
            if spec.enabled:
                nxt = _iso(now) if name in due else _iso(spec.schedule.next(now))
            rows.append(
                {
                    "name": name,
                    "enabled": spec.enabled,
                    "schedule": spec.schedule.describe() if spec.enabled else "off (by hand only)",
                    "last_run": st.get("last_run"),
                    "last_ok": st.get("ok"),
                    "last_result": st.get("summary"),
                    "next_run": nxt,
                    "due": name in due,
                }
            )
        return rows

    def collector(self) -> JobsCollector:
        """Prometheus metrics of the jobs (each job's last run and result) and of the archive
        (its last push, and the sealed day files not archived yet: the archive lag)."""
        return JobsCollector(self)

    def verification(self) -> Verification | None:
        """The last sweep's result, for the metrics' verification gauges."""
        run = self.job_state("verify-sweep").get("verification")
        if not isinstance(run, dict):
            return None
        return Verification(ok=bool(run.get("ok")), at=float(run.get("at", 0.0)))

    # ---------------------------------------------------------------- running

    def run_job(self, name: str, *, wait: bool = True) -> JobResult:
        """Run `name` now (due or not) and keep its result; a failure is logged and raised as
        an alert (alert.raised), and returned as a failed result."""
        if name not in _JOBS:
            raise ConfigError(f"no job {name!r} (known: {', '.join(JOB_NAMES)})")
        spec = self.config.jobs[name]
        with self._locked(wait):
            now = self.clock()
            jobs: dict[str, Any] = self._state["jobs"]
            st = dict(jobs.get(name, {}))
            ctx = _Context(self.home, spec, self.record, now, st, self.stop_event)
            started = time.monotonic()
            try:
                result = _JOBS[name](ctx)
            except JobCancelledError:
                raise
            except Exception as exc:  # any failure of a job is its alert, not the service's end
                logger.exception("tradetrail jobs: %s failed", name)
                result = JobResult(False, f"failed: {type(exc).__name__}: {exc}")
                self._raise_failure(name, exc)
            st.update(
                last_run=_iso(now),
                covered=_iso(spec.schedule.latest(now)),
                ok=result.ok,
                summary=result.summary,
                seconds=round(time.monotonic() - started, 3),
            )
            jobs[name] = st
            self._save()
        log = logger.info if result.ok else logger.error
        log("tradetrail jobs: %s: %s", name, result.summary)
        return result

    def _raise_failure(self, name: str, exc: Exception) -> None:
        try:
            self.record(
                "alert.raised",
                {
                    "rule": JOB_FAILED_RULE,
                    "severity": "error",
                    "message": f"job {name} failed: {exc}",
                    "alert_id": f"{JOB_FAILED_RULE}/{name}",
                    "job": name,
                },
            )
        except Exception:  # the log above has it either way
            logger.exception("tradetrail jobs: the alert of %s's failure was not journaled", name)

    def run_due(self) -> list[tuple[str, JobResult]]:
        done = []
        for name in self.due():
            if self.stop_event.is_set():
                break
            try:
                done.append((name, self.run_job(name, wait=False)))
            except JobBusyError as exc:  # `jobs run` by hand holds it: the next tick retries
                logger.info("tradetrail jobs: %s", exc)
            except JobCancelledError as exc:
                logger.warning("tradetrail jobs: %s", exc)
        return done

    def start(self) -> None:
        """Run due jobs in a thread until stop(): at once (runs missed while the service was
        down), then as their slots come."""
        self._thread = threading.Thread(target=self._loop, name="tradetrail-jobs", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.run_due()
            except Exception:  # a broken state file must not end the loop unseen
                logger.exception("tradetrail jobs: the scheduler failed; retrying")
            self.stop_event.wait(self.poll_s)

    def stop(self, timeout: float = 30.0) -> None:
        """Interrupt the running job at its next progress point and wait for the thread."""
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning(
                    "tradetrail jobs: a job still runs after %.0f s; leaving it", timeout
                )
            self._thread = None


class JobsCollector(Collector):
    """Scrape-time metrics of a Scheduler (registered beside the trail's by `serve --jobs`)."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler

    def collect(self) -> Iterator[Metric]:
        last_run = GaugeMetricFamily(
            "tradetrail_job_last_run_timestamp_seconds",
            "When each scheduled job last finished (docs/JOBS.md).",
            labels=["job"],
        )
        last_ok = GaugeMetricFamily(
            "tradetrail_job_last_success",
            "1 if the job's last run succeeded, else 0.",
            labels=["job"],
        )
        for name in JOB_NAMES:
            state = self.scheduler.job_state(name)
            at = _ts(state.get("last_run"))
            if at is None:
                continue
            last_run.add_metric([name], at)
            last_ok.add_metric([name], 1.0 if state.get("ok") else 0.0)
        yield last_run
        yield last_ok
        archive = self.scheduler.job_state("archive-push").get("archive")
        if not isinstance(archive, dict):
            return
        yield GaugeMetricFamily(
            "tradetrail_archive_last_push_timestamp_seconds",
            "When the archive-push job last pushed (successfully or not).",
            value=float(archive.get("at", 0.0)),
        )
        yield GaugeMetricFamily(
            "tradetrail_archive_ok",
            "1 if the last push found no archived object differing from the trail's, else 0.",
            value=1.0 if archive.get("ok") else 0.0,
        )
        through = archive.get("through") or ""
        files = journal_files(self.scheduler.home)[:-1]  # the newest day file may be open
        pending = [p for p in files if _day_of_file(p.name) > through]
        yield GaugeMetricFamily(
            "tradetrail_archive_pending_files",
            "Sealed journal day files newer than the newest archived day (the archive lag).",
            value=float(len(pending)),
        )
