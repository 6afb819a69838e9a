"""The runner on a live trail (position kept outside the trail, alerts sent from its worker and
journaled with the triggering seqs) and `tradetrail alerts test` replaying past days."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from alerts_receivers import http_receiver
from click.testing import CliRunner

from conftest import journal_records
from tradetrail.alerts.rules import parse_rules
from tradetrail.alerts.runner import Runner
from tradetrail.cli import main

RULES = """
channels:
  hook: {type: webhook, url: "${HOOK_URL}"}
defaults: {routes: [hook]}
rules:
  - name: kill
    severity: critical
    match: {type: risk.kill_switch, where: ["data.engaged == true"]}
  - name: api_errors
    severity: error
    match: {type: venue.api_error}
    rate: {more_than: 2, window: 1m}
    group_by: [venue]
"""


def test_runner_follows_the_trail_resumes_and_journals_what_it_sent(
    open_trail: Any, home: Path, clock: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    import yaml

    trail = open_trail()
    trail.record("order.rejected", {"reason": "before the runner"}).wait()
    state = tmp_path / "state" / "alerts.json"
    with http_receiver() as rx:
        monkeypatch.setenv("HOOK_URL", rx.url)
        rules = parse_rules(yaml.safe_load(RULES))
        runner = Runner(home, rules, state, trail, clock=clock)
        assert runner.next_seq == journal_records(home)[-1]["seq"] + 1  # starts at the end
        kill = trail.record("risk.kill_switch", {"engaged": True, "reason": "loss"}).wait()
        errors = [trail.record("venue.api_error", {"error": "503"}, venue="SIMX").wait()
                  for _ in range(3)]  # fmt: skip
        runner.dispatcher.start()
        fired = runner.step()
        runner.close()
    assert [(a.rule, a.seqs) for a in fired] == [("kill", (kill,)), ("api_errors", tuple(errors))]
    assert [r.body["seqs"] for r in rx.requests] == [[kill], errors]
    assert not any(p.name.endswith(".json") for p in home.rglob("*") if "alerts" in p.name)
    assert orjson.loads(state.read_bytes()) == {"home": str(home.resolve()),
                                                "next_seq": errors[-1] + 1}  # fmt: skip
    trail.flush()
    sent = [r for r in journal_records(home) if r["type"] == "alert.sent"]
    assert [(r["data"]["rule"], r["data"]["seqs"]) for r in sent] == [
        ("kill", [kill]), ("api_errors", errors)
    ]  # fmt: skip
    # a new runner resumes after what the first one read, and does not read its own alert.sent
    again = Runner(home, rules, state, None, channels={}, clock=clock)
    assert again.next_seq == errors[-1] + 1
    assert again.step() == []


def test_runner_beside_the_writer_sends_as_soon_as_a_record_is_durable(
    open_trail: Any, home: Path, clock: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    """With the writer's durable size (`serve --alerts`), an alert leaves within milliseconds,
    not at the next poll: here the poll is a minute away, so only the watch can send it. The
    runner follows the journal into the next day file, and its state is saved when it stops."""
    import threading

    import yaml

    from conftest import wait_until

    trail = open_trail()
    trail.record("system.started", {}).wait()
    state = tmp_path / "state" / "alerts.json"
    stop = threading.Event()
    with http_receiver() as rx:
        monkeypatch.setenv("HOOK_URL", rx.url)
        rules = parse_rules(yaml.safe_load(RULES))
        runner = Runner(home, rules, state, trail, clock=clock, poll_s=60,
                        size=lambda: trail.durable_size)  # fmt: skip
        thread = threading.Thread(target=runner.run, args=(stop,))
        thread.start()
        try:
            assert wait_until(state.exists, timeout=10)  # the first step has run
            first = trail.record("risk.kill_switch", {"engaged": True}).wait()
            assert wait_until(lambda: len(rx.requests) == 1, timeout=10)
            clock.advance(86_400)  # the next day: a new day file
            trail.record("order.new", {}).wait()
            second = trail.record("risk.kill_switch", {"engaged": True}).wait()
            assert wait_until(lambda: len(rx.requests) == 2, timeout=10)
        finally:
            stop.set()
            thread.join(30)
    assert len(list((home / "journal").glob("audit-*.jsonl"))) == 2
    assert [r.body["seqs"] for r in rx.requests] == [[first], [second]]
    assert orjson.loads(state.read_bytes())["next_seq"] == runner.next_seq > second


def test_runner_resumes_in_an_earlier_day_file(
    open_trail: Any, home: Path, clock: Any, tmp_path: Path
) -> None:
    """A state file that points into an older day: the runner finds the record there and reads
    on into the later days, each record once."""
    import yaml

    trail = open_trail()
    seqs = []
    for _ in range(3):
        seqs += [trail.record("risk.kill_switch", {"engaged": True}).wait() for _ in range(3)]
        clock.advance(86_400)
    state = tmp_path / "alerts.json"
    state.write_text(f'{{"home": "{home.resolve()}", "next_seq": {seqs[4]}}}')
    doc = yaml.safe_load(RULES)
    doc["rules"][0]["dedup"] = "0s"
    rules = parse_rules({**doc, "channels": {"hook": {"type": "webhook", "url": "x"}}})
    runner = Runner(home, rules, state, None, channels={}, clock=clock)
    fired = runner.step()
    assert [a.seqs for a in fired] == [(s,) for s in seqs[4:]]
    assert runner.step() == []
    later = trail.record("risk.kill_switch", {"engaged": True}).wait()
    assert [a.seqs for a in runner.step()] == [(later,)]


def test_alerts_test_replays_past_days_and_sends_nothing(demo_trail: Path) -> None:
    rules = Path(__file__).parents[2] / "examples" / "alerts.yaml"
    before = sorted(p.name for p in (demo_trail / "journal").iterdir())
    result = CliRunner().invoke(
        main,
        ["alerts", "test", str(rules), "--home", str(demo_trail), "--from", "2024-03-04",
         "--to", "2024-03-05", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    fired = orjson.loads(result.stdout)
    rules_fired = {a["rule"] for a in fired}
    assert {"position_limit_breach", "daily_summary"} <= rules_fired, rules_fired
    records = {r["seq"]: r for r in journal_records(demo_trail)}
    for alert in fired:
        if alert["rule"] == "position_limit_breach":
            [seq] = alert["seqs"]
            assert records[seq]["type"] in ("risk.rejected", "risk.limit_breached")
            assert records[seq]["data"]["rule"] == "max_position_notional"
    assert sorted(p.name for p in (demo_trail / "journal").iterdir()) == before
    text = CliRunner().invoke(
        main, ["alerts", "test", str(rules), "--home", str(demo_trail), "--from", "2024-03-04"]
    )
    assert "nothing was sent" in text.stderr and "position_limit_breach" in text.stdout


def test_alerts_test_names_a_bad_rule(demo_trail: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - {name: x, severity: loud, match: {type: a.b}}\n")
    result = CliRunner().invoke(main, ["alerts", "test", str(bad), "--home", str(demo_trail)])
    assert result.exit_code == 2
    assert "rules[0] 'x'.severity: 'loud' is not one of" in result.stderr


@pytest.mark.slow
def test_serve_alerts_sends_on_a_recorded_event_and_on_a_failing_job(
    demo_trail: Path, tmp_path: Path
) -> None:
    """`tradetrail serve --alerts RULES --jobs JOBS`: the rules run in the writer's process on
    what clients record, and on the alert.raised of a job that fails; SIGTERM stops both."""
    import os
    import signal
    import subprocess
    import sys

    from conftest import wait_until
    from tradetrail.alerts.runner import default_state_path

    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES + """\
  - name: job_failed
    severity: error
    match: {type: alert.raised, where: ['data.rule == "tradetrail.job_failed"']}
    message: "{data.message}"
""")  # fmt: skip
    jobs = tmp_path / "jobs.toml"
    jobs.write_text('[jobs.retention-plan]\npolicy = "no-such-policy.toml"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADETRAIL_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    before = len(journal_records(demo_trail))
    with http_receiver() as rx:
        env["HOOK_URL"] = rx.url
        proc = subprocess.Popen(
            [sys.executable, "-m", "tradetrail", "serve", "--home", str(demo_trail),
             "--alerts", str(rules), "--jobs", str(jobs)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("XDG_STATE_HOME", env["XDG_STATE_HOME"])
                state = default_state_path(demo_trail)
            assert wait_until(state.exists, timeout=60), proc.stderr
            recorded = subprocess.run(
                [sys.executable, "-m", "tradetrail", "record", "--home", str(demo_trail),
                 "--type", "risk.kill_switch", "--data", '{"engaged": true, "reason": "loss"}',
                 "--json"],
                env=env, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert recorded.returncode == 0, recorded.stderr
            assert wait_until(lambda: len(rx.requests) >= 2, timeout=30)
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, out + err
    assert sorted(r.body["rule"] for r in rx.requests) == ["job_failed", "kill"]
    job_alert = next(r.body for r in rx.requests if r.body["rule"] == "job_failed")
    assert job_alert["message"].startswith("job retention-plan failed: no-such-policy.toml")
    sent = [r for r in journal_records(demo_trail)[before:] if r["type"] == "alert.sent"]
    assert sorted(r["data"]["rule"] for r in sent) == ["job_failed", "kill"]


def test_the_saved_position_never_passes_an_alert_not_yet_sent(
    open_trail: Any, home: Path, clock: Any, tmp_path: Path
) -> None:
    """At least once: while a notification is still being sent, the state file keeps the seq
    of the record that fired it, so a runner restarted after a crash sends it again; once it
    is sent, the position moves on."""
    import threading

    import yaml

    from tradetrail.alerts.engine import Alert

    class Held:
        name = "hook"

        def __init__(self) -> None:
            self.go = threading.Event()
            self.sent: list[tuple[int, ...]] = []

        def send(self, alert: Alert, origin: str) -> None:
            assert self.go.wait(30)
            self.sent.append(alert.seqs)

    trail = open_trail()
    state = tmp_path / "alerts.json"
    doc = yaml.safe_load(RULES)
    doc["channels"]["hook"]["url"] = "http://127.0.0.1:9/unused"
    rules = parse_rules(doc)
    held = Held()
    runner = Runner(home, rules, state, None, channels={"hook": held}, clock=clock, poll_s=0)
    runner.dispatcher.start()
    kill = trail.record("risk.kill_switch", {"engaged": True}).wait()
    after = [trail.record("order.new", {}).wait() for _ in range(3)]
    runner.step()
    assert runner.next_seq == after[-1] + 1
    assert orjson.loads(state.read_bytes())["next_seq"] == kill  # not sent yet: not passed
    # a crash now: the next runner reads from the kill switch again and sends it
    again = Runner(home, rules, state, None, channels={"hook": Held()}, clock=clock)
    assert [a.seqs for a in again.step()] == [(kill,)]
    held.go.set()
    runner.close()
    assert held.sent == [(kill,)]
    assert orjson.loads(state.read_bytes())["next_seq"] == after[-1] + 1
