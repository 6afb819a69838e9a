"""schemathesis against the service's own OpenAPI document, on a real uvicorn: no request it
can make gets a 5xx, a response that breaks the document, or a damaged trail."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import tradetrail
from service_server import running, token

pytestmark = pytest.mark.slow


def test_no_generated_request_gets_a_server_error(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    with tradetrail.open(home, writer="embedded", serve=False) as trail:
        for n in range(20):
            trail.record("order.accepted", {"status": "new"}, order_id=f"O-{n}", symbol="X")
        trail.checkpoint()
    secret = token(home, "admin")
    st = shutil.which("st") or str(Path(sys.executable).parent / "st")
    with running(home) as service:
        result = subprocess.run(
            [
                st,
                "run",
                f"{service.url}/openapi.json",
                "--header",
                f"Authorization: Bearer {secret}",
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,"
                "response_schema_conformance",
                "--max-examples",
                "25",
                "--generation-deterministic",
                "--request-timeout",
                "20",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=900,
            cwd=tmp_path,
        )
        log = service.log()
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "Traceback" not in log, log
    report = tradetrail.verify(home)
    assert report.ok, report
