"""Scheduled compliance jobs: schedules and the jobs file, then `tradetrail serve --jobs` and
`tradetrail jobs list|run` as real processes on a copy of the demo trail (sealed days
2024-03-04 and 2024-03-05). TRADETRAIL_JOBS_NOW sets the jobs' clock, so what is due does not
depend on when the test runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from conftest import journal_records, wait_until
from tradetrail.compliance.jobs import (
    JobsConfig,
    Schedule,
    Scheduler,
    load_jobs,
    parse_jobs,
)
from tradetrail.errors import JobsConfigError

JOBS = """\
[jobs.daily-pack]
at = "00:30"

[jobs.verify-sweep]
every = "6h"
sample_days = 2

[jobs.attestation-reminder]
at = "00:15"
"""


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# ------------------------------------------------------------------------ schedules, the file


def test_schedule_slots_daily_weekly_and_every() -> None:
    daily = Schedule(at=30 * 60)
    assert daily.latest(ts("2024-03-07T03:00:00Z")) == ts("2024-03-07T00:30:00Z")
    assert daily.latest(ts("2024-03-07T00:29:59Z")) == ts("2024-03-06T00:30:00Z")
    assert daily.next(ts("2024-03-07T03:00:00Z")) == ts("2024-03-08T00:30:00Z")
    weekly = Schedule(at=6 * 3600, weekday=0)  # Monday 2024-03-04
    assert weekly.latest(ts("2024-03-07T03:00:00Z")) == ts("2024-03-04T06:00:00Z")
    assert weekly.latest(ts("2024-03-04T05:59:00Z")) == ts("2024-02-26T06:00:00Z")
    assert weekly.next(ts("2024-03-07T03:00:00Z")) == ts("2024-03-11T06:00:00Z")
    every = Schedule(every=6 * 3600)
    assert every.latest(ts("2024-03-07T07:00:00Z")) == ts("2024-03-07T06:00:00Z")
    assert [s.describe() for s in (daily, weekly, every)] == [
        "daily 00:30 UTC",
        "weekly, mon 06:00 UTC",
        "every 6h",
    ]


@pytest.mark.parametrize(
    ("doc", "named"),
    [
        ({"jobs": {"daily-pack": {"at": "25:00"}}}, "jobs.daily-pack.at"),
        ({"jobs": {"daily-pak": {}}}, "jobs.daily-pak: no such job"),
        ({"jobs": {"verify-sweep": {"every": "6x"}}}, "jobs.verify-sweep.every"),
        ({"jobs": {"verify-sweep": {"every": "1h", "at": "01:00"}}}, "not both"),
        ({"jobs": {"retention-plan": {"weekday": "someday"}}}, "jobs.retention-plan.weekday"),
        ({"jobs": {"verify-sweep": {"sample_days": "3"}}}, "jobs.verify-sweep.sample_days"),
        ({"jobs": {"daily-pack": {"colour": "red"}}}, "jobs.daily-pack.colour: unknown"),
        ({"jobs": {}}, "jobs: expected a table of jobs"),
        ({"job": {}}, "job: unknown setting"),
    ],
)
def test_a_bad_jobs_file_names_the_key(doc: Any, named: str) -> None:
    with pytest.raises(JobsConfigError, match=r"jobs\.toml") as info:
        parse_jobs(doc, "jobs.toml")
    assert named in str(info.value)


def test_toml_and_yaml_jobs_files_say_the_same(tmp_path: Path) -> None:
    (tmp_path / "jobs.toml").write_text(JOBS)
    (tmp_path / "jobs.yaml").write_text(
        "jobs:\n  daily-pack: {at: '00:30'}\n  verify-sweep: {every: 6h, sample_days: 2}\n"
        "  attestation-reminder: {at: '00:15'}\n"
    )
    toml, yaml = load_jobs(tmp_path / "jobs.toml"), load_jobs(tmp_path / "jobs.yaml")
    assert toml.jobs == yaml.jobs
    assert toml.enabled == ["daily-pack", "verify-sweep", "attestation-reminder"]
    (tmp_path / "bad.toml").write_text("[jobs\n")
    with pytest.raises(JobsConfigError, match=r"bad.toml: not valid toml"):
        load_jobs(tmp_path / "bad.toml")


def test_due_after_a_missed_slot_and_not_before(demo_trail: Path, tmp_path: Path) -> None:
    """A job that never ran is due; a run covers the current slot; the next slot passing
    while nothing ran (the service down) makes it due once, whatever number of slots passed."""
    now = [ts("2024-03-07T03:00:00Z")]
    config = parse_jobs({"jobs": {"verify-sweep": {"every": "6h"}}}, "jobs.toml")
    events: list[tuple[str, dict[str, Any]]] = []
    scheduler = Scheduler(
        demo_trail,
        config,
        lambda t, d: events.append((t, d)),
        state_path=tmp_path / "state.json",
        clock=lambda: now[0],
    )
    assert scheduler.due() == ["verify-sweep"]
    [(name, result)] = scheduler.run_due()
    assert name == "verify-sweep" and result.ok, result.summary
    assert [t for t, _ in events] == ["compliance.verification_run"]
    assert events[0][1]["ok"] is True and events[0][1]["first_seq"] == 0
    now[0] = ts("2024-03-07T05:59:59Z")
    assert scheduler.due() == []
    now[0] = ts("2024-03-08T13:00:00Z")  # four slots passed: one run catches up
    assert scheduler.due() == ["verify-sweep"]
    scheduler.run_due()
    assert scheduler.due() == []
    again = Scheduler(demo_trail, config, lambda t, d: None, state_path=tmp_path / "state.json")
    assert again.job_state("verify-sweep")["covered"] == "2024-03-08T12:00:00Z"
    verification = again.verification()
    assert verification is not None and verification.ok


# ------------------------------------------------------------------------ real processes


def _env(state: Path, now: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADETRAIL_")}
    env["XDG_STATE_HOME"] = str(state)
    if now is not None:
        env["TRADETRAIL_JOBS_NOW"] = now
    return env


def _tradetrail(
    *args: str, home: Path, state: Path, now: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tradetrail", *args, "--home", str(home)],
        env=_env(state, now),
        capture_output=True,
        text=True,
        timeout=120,
    )


class Served:
    """`tradetrail serve` in the background, stopped with SIGTERM."""

    def __init__(self, args: list[str], home: Path, state: Path, now: str | None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tradetrail", "serve", "--home", str(home), *args],
            env=_env(state, now),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.watchdog = threading.Timer(120, self.proc.kill)
        self.watchdog.start()

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=60)
        self.watchdog.cancel()
        return self.proc.returncode, out + err


@pytest.fixture
def served() -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()
        s.watchdog.cancel()


def _of_type(home: Path, event_type: str) -> list[dict[str, Any]]:
    return [r for r in journal_records(home) if r["type"] == event_type]


@pytest.mark.slow
def test_serve_runs_due_jobs_at_start_and_a_missed_run_at_the_next_start(
    demo_trail: Path, tmp_path: Path, served: list[Served]
) -> None:
    jobs = tmp_path / "jobs.toml"
    jobs.write_text(JOBS)
    state = tmp_path / "state"
    first = Served(["--jobs", str(jobs)], demo_trail, state, "2024-03-07T03:00:00Z")
    served.append(first)
    assert wait_until(lambda: len(_of_type(demo_trail, "alert.raised")) == 1, timeout=60)
    code, output = first.stop()
    assert code == 0, output
    for day in ("2024-03-04", "2024-03-05"):
        assert (demo_trail / "exports" / "daily" / day / "manifest.sig").is_file()
    made = _of_type(demo_trail, "compliance.export_made")
    assert {r["data"]["period_start"] for r in made} >= {"2024-03-04", "2024-03-05"}
    [run] = _of_type(demo_trail, "compliance.verification_run")
    assert run["data"]["ok"] is True and run["actor"] == "tradetrail-jobs"
    assert run["data"]["first_seq"] == 0 and len(run["data"]["sampled_days"]) == 2
    [reminder] = _of_type(demo_trail, "alert.raised")
    assert reminder["data"]["rule"] == "tradetrail.attestation_missing"
    assert reminder["data"]["days"] == ["2024-03-04", "2024-03-05"]
    assert "schema_error" not in run and "schema_error" not in reminder
    assert not list(demo_trail.rglob("jobs-*.json"))  # the state lives outside the trail

    # an hour later nothing is due; after the 06:00 slot passed while it was down, it is
    listed = _tradetrail(
        "jobs", "list", "--jobs", str(jobs), "--json", home=demo_trail, state=state,
        now="2024-03-07T04:00:00Z",
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: r for r in orjson.loads(listed.stdout)["jobs"]}
    assert not any(r["due"] for r in rows.values())
    assert rows["verify-sweep"]["next_run"] == "2024-03-07T06:00:00Z"
    assert rows["verify-sweep"]["last_ok"] is True
    assert rows["retention-plan"]["schedule"] == "off (by hand only)"
    second = Served(["--jobs", str(jobs)], demo_trail, state, "2024-03-07T07:00:00Z")
    served.append(second)
    assert wait_until(
        lambda: len(_of_type(demo_trail, "compliance.verification_run")) == 2, timeout=60
    )
    code, output = second.stop()
    assert code == 0, output
    later = _of_type(demo_trail, "compliance.verification_run")[1]["data"]
    assert later["first_seq"] == run["data"]["size"]  # the records added since the last sweep
    assert len(_of_type(demo_trail, "alert.raised")) == 1  # its slot had not passed


@pytest.mark.slow
def test_jobs_run_by_hand_and_a_failing_job_raises_its_alert(
    demo_trail: Path, tmp_path: Path
) -> None:
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text("jobs:\n  retention-plan: {policy: no-such-policy.toml}\n")
    state = tmp_path / "state"
    ran = _tradetrail("jobs", "run", "retention-plan", "--jobs", str(jobs), "--json",
                      home=demo_trail, state=state)  # fmt: skip
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "no-such-policy.toml: no such policy file" in orjson.loads(ran.stdout)["summary"]
    [alert] = _of_type(demo_trail, "alert.raised")
    assert alert["data"] == {
        "rule": "tradetrail.job_failed",
        "severity": "error",
        "message": "job retention-plan failed: no-such-policy.toml: no such policy file",
        "alert_id": "tradetrail.job_failed/retention-plan",
        "job": "retention-plan",
    }
    assert "retention-plan failed" in ran.stderr  # and logged

    ok = _tradetrail("jobs", "run", "retention-plan", home=demo_trail, state=state)
    assert ok.returncode == 0, ok.stderr
    [report] = (demo_trail / "exports" / "retention").glob("plan-*.json")
    assert orjson.loads(report.read_bytes())["days"]
    ok = _tradetrail("jobs", "run", "daily-pack", home=demo_trail, state=state,
                     now="2024-03-06T12:00:00Z")  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "packed 2024-03-04, 2024-03-05" in ok.stdout
    listed = _tradetrail("jobs", "list", "--json", home=demo_trail, state=state)
    rows = {r["name"]: r for r in orjson.loads(listed.stdout)["jobs"]}
    assert rows["retention-plan"]["last_ok"] is True
    assert rows["daily-pack"]["last_run"] == "2024-03-06T12:00:00Z"
    assert rows["verify-sweep"]["last_run"] is None


def test_a_stopping_service_interrupts_a_running_job(demo_trail: Path, tmp_path: Path) -> None:
    """SIGTERM sets the stop event: the job gives up at its next progress point, keeps no
    result (so it runs again at the next start), and the thread ends."""
    config = parse_jobs({"jobs": {"daily-pack": {}}}, "jobs.toml")
    scheduler = Scheduler(
        demo_trail,
        config,
        lambda t, d: None,
        state_path=tmp_path / "state.json",
        clock=lambda: ts("2024-03-07T03:00:00Z"),
    )
    scheduler.stop_event.set()
    assert scheduler.run_due() == []
    scheduler.stop_event.clear()
    from tradetrail.compliance import jobs as jobs_module

    real = jobs_module._JOBS["daily-pack"]

    def slow(ctx: Any) -> Any:
        scheduler.stop_event.set()  # SIGTERM arrives while the job runs
        return real(ctx)

    jobs_module._JOBS["daily-pack"] = slow
    try:
        started = time.monotonic()
        assert scheduler.run_due() == []
    finally:
        jobs_module._JOBS["daily-pack"] = real
    assert time.monotonic() - started < 10
    assert scheduler.job_state("daily-pack") == {}
    assert not (demo_trail / "exports" / "daily" / "2024-03-04").exists()
    assert JobsConfig.defaults().enabled == []
