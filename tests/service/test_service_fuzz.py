"""schemathesis against the service's own OpenAPI document, on a real uvicorn: no request it
can make gets a 5xx, a response that breaks the document, or a damaged trail (each batch it
sends is journaled whole or not at all, so the trail still verifies)."""

from __future__ import annotations

import re
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
                "--exclude-path",
                "/v1/stream",  # it never ends by design: test_service.py reads it
                "--max-examples",
                "20",
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
    ran = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
    assert ran is not None and int(ran[1]) == int(ran[2]) >= 100, result.stdout[-2000:]
    assert "Traceback" not in log, log
    report = tradetrail.verify(home)
    assert report.ok, report
