"""The metrics as Prometheus sees them, with promtool (Debian `prometheus`, scripts/test): the
real /metrics output of a `tradetrail serve --metrics-listen` process passes `promtool check
metrics` without a lint warning; the shipped alerting rules pass `check rules` and their unit
tests; every PromQL expression of the Grafana dashboard parses; every metric the rules and the
dashboard name is one the service exports."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import ROOT, promtool, sample

RULES = ROOT / "deploy" / "prometheus" / "tradetrail-alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "tradetrail-alerts.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "tradetrail.json"
PROMETHEUS_OWN = {"ALERTS"}  # series Prometheus itself makes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A trail served by `tradetrail serve --index --metrics-listen`, with events recorded
    through it by this process (a client), and its /metrics output once it has read them."""
    import tradetrail

    home = tmp_path_factory.mktemp("metrics") / "trail"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADETRAIL_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    init = subprocess.run(
        [sys.executable, "-m", "tradetrail", "init", "--home", str(home)],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert init.returncode == 0, init.stderr
    port = free_port()
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "tradetrail", "serve", "--home", str(home), "--index"),
            *("--metrics-listen", f"127.0.0.1:{port}"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        first = ""
        while "tradetrail_journal_records" not in first:
            assert proc.poll() is None, proc.communicate()[1].decode()
            assert time.monotonic() < deadline, "the metrics never answered"
            try:
                first = scrape(port)
            except OSError:
                time.sleep(0.1)
        with tradetrail.open(home, writer="process", create=False) as trail:
            for n in range(5):
                oid = f"O-{n}"
                trail.record(
                    "order.submitted",
                    {"side": "buy", "qty": "1", "arrival_price": "100"},
                    order_id=oid,
                    venue="XNAS",
                )
                trail.record("order.accepted", {}, order_id=oid, venue="XNAS")
                trail.record(
                    "order.filled", {"fill_qty": "1", "fill_price": "100.02"}, order_id=oid
                )
            trail.record("order.rejected", {"reason": "price band"}, order_id="R-1", venue="XNAS")
            trail.record("trade.execution_failed", {"reason": "timeout"}, venue="XNAS")
            trail.record("risk.rejected", {"rule": "max_qty"})
            trail.record("venue.api_error", {"error": "503"}, venue="XNAS")
            trail.record("venue.rate_limited", {}, venue="XNAS")
            trail.record("system.clock_sync", {"offset_us": "12", "source": "ntp"})
            trail.record("alert.sent", {"channel": "email", "rule": "r", "severity": "warning"})
            trail.flush(timeout=30)
            size = trail.size
        text = ""
        while sample(text, "tradetrail_metrics_lag_records") != 0.0 or (
            sample(text, "tradetrail_journal_records") != size
        ):
            assert time.monotonic() < deadline + 30, text
            time.sleep(0.1)
            text = scrape(port)
        yield {"before": first, "text": text, "proc": proc, "port": port, "size": size}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


def families(text: str) -> set[str]:
    """Names a query can use: each family and, for histograms, its series."""
    names: set[str] = set()
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            name, kind = m.groups()
            names.add(name)
            if kind == "counter" and not name.endswith("_total"):
                names.add(f"{name}_total")
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
            if kind == "info":
                names.add(f"{name}_info")
    return names


def test_real_output_passes_promtool_check_metrics_without_warnings(
    served: dict[str, Any],
) -> None:
    for text in (served["before"], served["text"]):
        checked = promtool("check", "metrics", stdin=text.encode())
        assert checked.returncode == 0 and not checked.stdout and not checked.stderr, (
            checked.stdout.decode() + checked.stderr.decode()
        )


def test_values_after_recording(served: dict[str, Any]) -> None:
    before, text = served["before"], served["text"]
    assert sample(before, "tradetrail_orders_submitted_total", venue="XNAS") is None
    assert sample(text, "tradetrail_orders_submitted_total", venue="XNAS") == 5
    assert sample(text, "tradetrail_events_journaled_total", type="order.filled") == 5
    assert sample(text, "tradetrail_order_ack_latency_seconds_count", venue="XNAS") == 5
    assert sample(text, "tradetrail_order_fill_latency_seconds_count", venue="XNAS") == 5
    assert sample(text, "tradetrail_fill_slippage_basis_points_bucket", venue="XNAS", le="2.0") == 5
    assert sample(text, "tradetrail_fill_slippage_basis_points_bucket", venue="XNAS", le="1.0") == 0
    assert sample(text, "tradetrail_orders_rejected_total", reason="price band") == 1
    assert sample(text, "tradetrail_risk_rejections_total", rule="max_qty") == 1
    assert sample(text, "tradetrail_clients_attached") == 0  # the recording client has left
    assert sample(text, "tradetrail_writer_degraded") == 0
    written = sample(text, "tradetrail_journal_written_bytes_total")
    assert written is not None and written > (
        sample(before, "tradetrail_journal_written_bytes_total") or 0
    )
    fsyncs = sample(text, "tradetrail_journal_fsync_duration_seconds_count")
    assert fsyncs is not None and fsyncs >= 1
    assert sample(text, "tradetrail_index_lag_records", backend="sqlite") is not None


def test_sigterm_stops_the_writer_and_the_listener(served: dict[str, Any]) -> None:
    proc = served["proc"]
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    with pytest.raises(OSError):
        scrape(served["port"])


def test_shipped_rules_pass_check_and_unit_tests() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    tested = promtool("test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout.decode() + tested.stderr.decode()


def dashboard_expressions() -> list[str]:
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    found = [
        target["expr"]
        for panel in board["panels"]
        for target in panel.get("targets", [])
        if "expr" in target
    ]
    assert len(found) >= 20
    return found


def test_every_dashboard_expression_parses(tmp_path: Path) -> None:
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"tradetrail:dashboard:{n}", "expr": expr}
                    for n, expr in enumerate(dashboard_expressions())
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(json.dumps(rules), encoding="utf-8")  # JSON is YAML
    checked = promtool("check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()


def test_a_broken_expression_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(
        "groups:\n- name: x\n  rules:\n  - record: x:y\n    expr: sum(rate(x[5m])\n",
        encoding="utf-8",
    )
    assert promtool("check", "rules", str(path)).returncode != 0


def test_every_metric_named_by_rules_and_dashboard_is_exported(served: dict[str, Any]) -> None:
    exported = families(served["text"])
    named = set()
    for text in (RULES.read_text(encoding="utf-8"), *dashboard_expressions()):
        named |= set(re.findall(r"\b(tradetrail_[a-z0-9_]+)", text))
    assert named - PROMETHEUS_OWN, "no metric named?"
    assert sorted(named - exported - PROMETHEUS_OWN) == []


def _serve(home: Path, listen: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADETRAIL_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tradetrail",
            "serve",
            "--home",
            str(home),
            "--metrics-listen",
            listen,
        ],
        env=env,
        capture_output=True,
        timeout=60,
    )


def test_a_bad_or_busy_metrics_address_is_a_usage_error(tmp_path: Path) -> None:
    import tradetrail

    home = tmp_path / "trail"
    tradetrail.open(home, writer="embedded", serve=False).close()
    bad = _serve(home, "9464")
    assert bad.returncode == 2 and b"--metrics-listen" in bad.stderr, bad.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = _serve(home, f"127.0.0.1:{port}")
    assert taken.returncode == 2, taken.stderr
    assert b"cannot listen there" in taken.stderr
    assert not (home / "writer.sock").exists()  # the writer never started unwatched
