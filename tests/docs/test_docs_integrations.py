"""docs/INTEGRATIONS.md: every python block runs, in order, in a fresh directory, and no record
its examples write carries a schema_error (a correct call never yields one)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import orjson
import pytest

from helpers import ROOT

DOC = ROOT / "docs" / "INTEGRATIONS.md"

structlog = pytest.importorskip("structlog")


def _blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", DOC.read_text(), re.MULTILINE | re.DOTALL)


def test_the_page_has_an_example_for_each_integration() -> None:
    text = "\n".join(_blocks())
    for name in ("AuditProcessor", "install(", "TrailAuditor", "capture("):
        assert name in text, name


def test_every_example_runs_and_records_no_schema_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRADETRAIL_MIN_FREE_BYTES", "0")
    oms = logging.getLogger("oms")
    level, propagate = oms.level, oms.propagate
    namespace: dict[str, object] = {"__name__": "docs_integrations"}
    try:
        for i, block in enumerate(_blocks()):
            exec(compile(block, f"{DOC.name}[block {i}]", "exec"), namespace)
    finally:
        structlog.reset_defaults()
        oms.__dict__.pop("info", None)
        for name in ("debug", "warning", "warn", "error", "exception", "critical", "fatal", "log"):
            oms.__dict__.pop(name, None)
        for handler in list(oms.handlers):
            oms.removeHandler(handler)
        oms.setLevel(level)
        oms.propagate = propagate
    records = {
        home: [orjson.loads(line) for path in sorted((tmp_path / home / "journal").glob("*.jsonl"))
               for line in path.read_bytes().splitlines()]
        for home in ("trail-structlog", "trail-logging", "trail-auditor")
    }  # fmt: skip
    assert not any("schema_error" in r for rs in records.values() for r in rs)
    assert [r["type"] for r in records["trail-structlog"]] == [
        "order.submitted",
        "order.accepted",
        "log.record",
        "log.fallback",
    ]
    sent = records["trail-structlog"][0]
    assert sent["data"] == {"side": "buy", "qty": "0.5"}
    assert sent["context"] == {"run_id": "r-42", "message": "order sent"}
    assert [r["type"] for r in records["trail-logging"]] == [
        "order.accepted",
        "order.filled",
        "log.record",
        "log.fallback",
    ]
    assert records["trail-logging"][0]["context"] == {
        "message": "order O-1 accepted",
        "logger": "oms",
    }
    assert records["trail-auditor"][-1]["context"] == {"run_id": "r-42"}
