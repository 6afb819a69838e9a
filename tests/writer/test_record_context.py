"""record() on a real trail carries the bound context, explicit arguments win, and OpenTelemetry
trace ids are captured when a span is active."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

import tradetrail


def lines(home: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted((home / "journal").glob("audit-*.jsonl")):
        out.extend(orjson.loads(line) for line in path.read_bytes().splitlines())
    return out


def test_bound_fields_reach_the_journal_and_explicit_ones_win(tmp_path: Path) -> None:
    with tradetrail.open(tmp_path / "t") as trail:
        with tradetrail.bind(strategy="momentum-1", account="ACC-1"):
            trail.record("order.submitted", {"qty": "1"}, order_id="O-1").wait()
            trail.record("order.submitted", {"qty": "2"}, account="ACC-2").wait()

            def in_thread() -> None:  # a new thread starts with an empty context
                trail.record("order.submitted", {"qty": "3"}).wait()

            thread = threading.Thread(target=in_thread)
            thread.start()
            thread.join()

            async def in_task() -> None:  # a task inherits a copy
                await trail.record("order.submitted", {"qty": "4"})

            asyncio.run(in_task())
        trail.record("order.submitted", {"qty": "5"}).wait()
    got = {r["data"]["qty"]: r for r in lines(tmp_path / "t")}
    assert got["1"]["strategy"] == "momentum-1" and got["1"]["account"] == "ACC-1"
    assert got["1"]["order_id"] == "O-1"
    assert got["2"]["account"] == "ACC-2" and got["2"]["strategy"] == "momentum-1"
    assert "strategy" not in got["3"]
    assert got["4"]["account"] == "ACC-1"
    assert "strategy" not in got["5"] and "account" not in got["5"]


def test_trace_ids_are_captured_when_a_span_is_active(tmp_path: Path) -> None:
    from opentelemetry.sdk.trace import TracerProvider  # a real span, as a service has

    tracer = TracerProvider().get_tracer("test")
    with tradetrail.open(tmp_path / "t") as trail:
        with tracer.start_as_current_span("order") as span:
            trail.record("order.submitted", {"qty": "1"}).wait()
            trail.record("order.submitted", {"qty": "2"}, trace_id="ef" * 16).wait()
            ids = span.get_span_context()
        trail.record("order.submitted", {"qty": "3"}).wait()  # no span: no ids
    first, second, third = lines(tmp_path / "t")
    assert first["trace_id"] == f"{ids.trace_id:032x}"
    assert first["span_id"] == f"{ids.span_id:016x}"
    assert second["trace_id"] == "ef" * 16
    assert "trace_id" not in third and "span_id" not in third
    raw = (tmp_path / "t" / "journal").glob("audit-*.jsonl")
    for path in raw:  # still canonical with the new keys in their sorted place
        for line in path.read_bytes().splitlines():
            assert orjson.dumps(orjson.loads(line), option=orjson.OPT_SORT_KEYS) == line


def test_trace_ids_cannot_be_bound() -> None:
    with pytest.raises(ValueError, match="trace_id"), tradetrail.bind(trace_id="ab" * 16):
        pass
