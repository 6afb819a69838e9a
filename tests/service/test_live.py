"""`tradetrail tail --url` and `tradetrail top --url` against a real `tradetrail serve
--listen` process: records followed across a service restart, filters, the last records, a
refused token, and one frame of top."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

import tradetrail
from service_server import Service, bearer, child_env, running, token
from tradetrail.core import layout

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "tradetrail"]


def journal_lines(home: Path) -> list[bytes]:
    return [
        line
        for path in sorted((home / layout.JOURNAL_DIR).glob("audit-*.jsonl"))
        for line in path.read_bytes().splitlines()
    ]


def post(service: Service, secret: str, *events: dict[str, Any]) -> list[int]:
    body = b"".join(orjson.dumps(e) + b"\n" for e in events)
    got = httpx.post(f"{service.url}/v1/events", content=body, headers=bearer(secret))
    assert got.status_code == 200, got.text
    return [r["seq"] for r in got.json()["results"]]


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=child_env(**env), capture_output=True, text=True, timeout=120
    )


class Follower:
    """A `tradetrail tail -f` subprocess whose stdout lines are collected as they come."""

    def __init__(self, *args: str, **env: str) -> None:
        self.proc = subprocess.Popen(
            [*CLI, "tail", *args],
            env=child_env(COLUMNS="200", **env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.lines: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip(b"\n"))

    def wait_for(self, count: int, timeout: float = 60) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while len(self.lines) < count:
            assert self.proc.poll() is None, self.stop()[1]
            assert time.monotonic() < deadline, f"{len(self.lines)} of {count} lines"
            time.sleep(0.05)
        return list(self.lines)

    def stop(self) -> tuple[int, str]:
        """Ctrl-C; the exit code and stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        finally:
            self.proc.kill()
        self._reader.join(10)
        assert self.proc.stderr is not None
        return self.proc.returncode, self.proc.stderr.read().decode()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "trail"
    tradetrail.open(home, writer="embedded", serve=False).close()
    return home


def note(n: int, **fields: Any) -> dict[str, Any]:
    return {"type": "x.note", "data": {"n": n}, **fields}


def seqs_of(lines: list[bytes]) -> list[int]:
    return [orjson.loads(line)["seq"] for line in lines]


def test_tail_follows_a_service_across_its_restart_without_a_gap_or_a_repeat(home: Path) -> None:
    reader, writer = token(home, "read", name="reader"), token(home, "ingest", name="app")
    service = Service(home).start()
    follower: Follower | None = None
    try:
        first = post(service, writer, note(0))  # the last record when it starts: -n 1
        follower = Follower(
            "--url", service.url, "-f", "-n", "1", "--json", TRADETRAIL_TOKEN=reader
        )
        follower.wait_for(1)
        first += post(service, writer, note(1), note(2))
        follower.wait_for(3)
        started = time.monotonic()
        service.stop()  # the open stream must not hold the stop for the graceful timeout
        assert time.monotonic() - started < 8, service.log()
        with tradetrail.open(home, writer="embedded", serve=False) as trail:  # while it is down
            offline = [trail.record("x.note", {"n": n}).wait() for n in (3, 4)]
        service = Service(home, service.port).start()
        last = post(service, writer, note(5), note(6))
        lines = follower.wait_for(7)
    finally:
        code, stderr = follower.stop() if follower is not None else (-1, "")
        service.stop()
    assert code == 0 and "Traceback" not in stderr, stderr
    assert "stream lost" in stderr and "stream resumed after seq" in stderr
    assert seqs_of(lines) == [*first, *offline, *last] == list(range(first[0], first[0] + 7))
    journal = journal_lines(home)
    assert lines == [journal[s] for s in seqs_of(lines)]  # the journal's own bytes
    assert [orjson.loads(line)["data"]["n"] for line in lines] == list(range(7))


def test_tail_url_shows_the_last_records_and_filters(home: Path) -> None:
    reader, writer = token(home, "read", name="reader"), token(home, "ingest", name="app")
    with running(home) as service:
        post(
            service,
            writer,
            {"type": "order.submitted", "order_id": "O-1", "symbol": "BTC-USD", "venue": "XA"},
            note(1, symbol="BTC-USD"),
            {"type": "order.accepted", "order_id": "O-1", "symbol": "ETH-USD", "venue": "XA"},
            {"type": "order.accepted", "order_id": "O-2", "symbol": "BTC-USD", "venue": "XB"},
            note(2),
        )
        size = len(journal_lines(home))
        url = ("--url", service.url, "--token", reader)
        last = run("tail", *url, "-n", "3", "--json")
        assert last.returncode == 0, last.stderr
        assert last.stdout.encode().splitlines() == journal_lines(home)[-3:]
        human = run("tail", *url, "-n", "2", COLUMNS="200")
        assert human.returncode == 0 and [
            line.split()[0] for line in human.stdout.splitlines()
        ] == [
            str(size - 2),
            str(size - 1),
        ]
        orders = run("tail", *url, "-n", "5", "--type", "order.*", "--symbol", "BTC-USD", "--json")
        assert orders.returncode == 0, orders.stderr
        got = [orjson.loads(line) for line in orders.stdout.splitlines()]
        assert [(r["type"], r["order_id"]) for r in got] == [
            ("order.submitted", "O-1"),
            ("order.accepted", "O-2"),
        ]
        venue = run("tail", *url, "-n", "1", "--venue", "XA", "--json")
        assert [orjson.loads(line)["symbol"] for line in venue.stdout.splitlines()] == ["ETH-USD"]
        assert run("tail", *url, "-n", "2", "--type", "risk.*").stdout == ""
        # following with filters: only the matching records recorded after it starts
        follower = Follower(*url, "-f", "-n", "1", "--json", "--type", "order.*", "--venue", "XB")
        try:
            follower.wait_for(1)  # O-2, the last match: it is attached
            wanted = post(
                service,
                writer,
                {"type": "order.accepted", "order_id": "O-3", "venue": "XA"},
                {"type": "order.filled", "order_id": "O-3", "venue": "XB"},
                note(4, venue="XB"),
                {"type": "order.cancelled", "order_id": "O-4", "venue": "XB"},
            )
            lines = follower.wait_for(3)
        finally:
            code, stderr = follower.stop()
        assert code == 0, stderr
        assert orjson.loads(lines[0])["order_id"] == "O-2"
        assert seqs_of(lines[1:]) == [wanted[1], wanted[3]]


def test_tail_url_with_a_bad_token_says_so_in_one_line(home: Path) -> None:
    with running(home) as service:
        for args in (("--token", "tt_nope_nope"), ()):
            for follow in ((), ("-f",)):
                got = run("tail", "--url", service.url, *args, *follow)
                assert got.returncode == 2, got.stderr
                lines = got.stderr.strip().splitlines()
                assert len(lines) == 1 and "Traceback" not in got.stderr, got.stderr
                if args:
                    assert "refused the token (401" in lines[0]
                else:
                    assert "TRADETRAIL_TOKEN" in lines[0]
        nowhere = run("tail", "--url", "http://127.0.0.1:9", "--token", "x", "-f")
        assert nowhere.returncode == 2 and "127.0.0.1:9" in nowhere.stderr
        local = run("tail", "--home", str(home), "--type", "order.*")
        assert local.returncode == 2 and "--type needs --url" in local.stderr


def _trading(n: int, venue: str = "XA") -> list[dict[str, Any]]:
    """An order submitted and acknowledged 40 ms later (by the source's clock)."""
    return [
        {
            "type": "order.submitted",
            "order_id": f"O-{n}",
            "venue": venue,
            "event_ts": f"2024-03-04T10:00:{n:02d}.000000Z",
            "data": {"side": "buy", "qty": "1", "order_type": "market"},
        },
        {
            "type": "order.accepted",
            "order_id": f"O-{n}",
            "venue": venue,
            "event_ts": f"2024-03-04T10:00:{n:02d}.040000Z",
        },
    ]


ALERT = {
    "type": "alert.sent",
    "data": {
        "rule": "high-slippage",
        "severity": "critical",
        "channel": "pagerduty",
        "message": "slippage 35 bps on O-1",
        "alert_id": "high-slippage:O-1",
        "seqs": [1],
        "action": "trigger",
        "attempts": 1,
    },
}


def test_top_once_shows_rates_an_alert_health_and_latency_of_a_service(home: Path) -> None:
    reader, writer = token(home, "read", name="reader"), token(home, "ingest", name="app")
    with running(home) as service:
        events = [e for n in range(10) for e in _trading(n)] + [ALERT]
        post(service, writer, *events)
        url = ("--url", service.url, "--token", reader)
        got = run("top", *url, "--once", "--json")
        assert got.returncode == 0, got.stderr
        frame = orjson.loads(got.stdout)
        shown = run("top", *url, "--once", COLUMNS="200")
        bad = run("top", "--url", service.url, "--token", "tt_nope_nope", "--once")
    rates = {row["type"]: row for row in frame["events"]}
    assert rates["order.submitted"]["last_5_min"] == 10 and rates["alert.sent"]["seen"] == 1
    assert frame["events_per_second"] > 0  # journaled within the last 10 s
    [alert] = frame["alerts"]
    assert alert["rule"] == "high-slippage" and alert["severity"] == "critical"
    health = frame["health"]
    assert health["writer_degraded"] is False and health["spill_pending"] == 0
    assert health["records"] == len(journal_lines(home))
    assert health["queue_depth"] == 0 and health["checkpoint_age_seconds"] is not None
    assert "sqlite" in health["index_lag_records"] and health["clients"] is not None
    [ack] = [row for row in frame["latency"] if row["latency"] == "submit→ack"]
    assert ack["venue"] == "XA" and ack["count"] == 10
    assert 0.025 <= ack["p50_seconds"] <= 0.05 and 0.025 <= ack["p99_seconds"] <= 0.05
    assert shown.returncode == 0, shown.stderr
    for text in ("order.submitted", "high-slippage", "pagerduty", "spill pending", "p99"):
        assert text in shown.stdout
    assert bad.returncode == 2 and "refused the token (401" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_top_of_a_local_trail_with_and_without_its_writer(home: Path) -> None:
    with tradetrail.open(home, writer="embedded", serve=False) as trail:
        for event in [*_trading(1, "XB"), ALERT]:
            fields = {k: v for k, v in event.items() if k not in ("type", "data")}
            trail.record(event["type"], event.get("data"), **fields).wait()
    offline = run("top", "--home", str(home), "--once", "--json")
    assert offline.returncode == 0, offline.stderr
    frame = orjson.loads(offline.stdout)
    assert frame["health"]["writer_running"] is False
    assert "no writer runs" in frame["problems"][0]
    assert frame["alerts"][0]["channel"] == "pagerduty"
    assert [r["venue"] for r in frame["latency"]] == ["XB"]
    with tradetrail.open(home) as trail:  # a writer process serves it now
        trail.record("x.note", {"n": 1}).wait()
        online = run("top", "--home", str(home), "--once", "--json")
        shown = run("top", "--home", str(home), "--once", COLUMNS="200")
    assert online.returncode == 0, online.stderr
    frame = orjson.loads(online.stdout)
    health = frame["health"]
    assert health["writer_running"] is True and health["writer_degraded"] is False
    assert health["records"] == len(journal_lines(home)) and health["clients"] is not None
    assert {r["type"] for r in frame["events"]} >= {"order.submitted", "alert.sent", "x.note"}
    assert shown.returncode == 0 and "none running" not in shown.stdout
    assert "ok" in shown.stdout and "x.note" in shown.stdout
