"""The senders of docs/SERVICE.md (curl, and Python's standard library only) run against a real
service, as a reader would run them, and their events are journaled once."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

import tradetrail
from helpers import ROOT
from service_server import running, token
from tradetrail.core import layout

pytestmark = pytest.mark.slow
MARK = "<!-- not run: needs a running service; tests/service/test_service_docs.py runs it"


def blocks(lang: str) -> list[str]:
    text = (ROOT / "docs" / "SERVICE.md").read_text(encoding="utf-8")
    pattern = re.escape(MARK) + r"[^\n]*\n```" + lang + r"\n(.*?)```"
    return re.findall(pattern, text, flags=re.S)


def journal(home: Path) -> list[dict[str, object]]:
    return [
        orjson.loads(line)
        for path in sorted((home / layout.JOURNAL_DIR).glob("audit-*.jsonl"))
        for line in path.read_bytes().splitlines()
    ]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_documented_senders_record_into_a_real_service(tmp_path: Path) -> None:
    (curl_block,) = blocks("bash")
    (python_block,) = blocks("python")
    home = tmp_path / "trail"
    tradetrail.open(home, writer="embedded", serve=False).close()
    secret = token(home, "ingest")
    with running(home) as service:
        env = {**os.environ, "TRADETRAIL_URL": service.url, "TRADETRAIL_TOKEN": secret}
        for _ in range(2):  # the curl example twice: its event with an event_id is kept once
            sent = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", curl_block],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert sent.returncode == 0, sent.stdout + sent.stderr
            assert orjson.loads(sent.stdout)["results"][0]["line"] == 1
        script = tmp_path / "sender.py"
        script.write_text(python_block, encoding="utf-8")
        ran = subprocess.run(
            [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert re.fullmatch(r"\[\d+\]\n", ran.stdout)
    records = [r for r in journal(home) if r.get("order_id") == "O-7"]
    assert [r["type"] for r in records] == [
        "order.submitted",
        "order.accepted",
        "order.accepted",
        "order.cancelled",
    ]
    assert all("schema_error" not in r for r in records)
    assert tradetrail.verify(home).ok
