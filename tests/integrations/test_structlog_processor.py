"""AuditProcessor in a real structlog pipeline rendering JSON: audit events reach the trail and
the log output goes on, minus the audit marker."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from conftest import journal_records
from tradetrail.integrations.structlog_processor import AuditProcessor
from tradetrail.integrations.testing import CaptureTrail
from tradetrail.model.context import bind

structlog = pytest.importorskip("structlog")


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(type(value).__name__)


def _pipeline(processor: AuditProcessor) -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        processor,
        structlog.processors.JSONRenderer(default=_json_default),
    ]


@pytest.fixture
def trail() -> CaptureTrail:
    return CaptureTrail()


@pytest.fixture
def out() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def configured(trail: CaptureTrail, out: io.StringIO) -> Iterator[Any]:
    """The global structlog configuration, as an application sets it; reset afterwards."""
    structlog.configure(
        processors=_pipeline(AuditProcessor(trail)),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    try:
        yield structlog.get_logger("oms")
    finally:
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()


def _lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_audit_true_takes_the_type_from_the_event_name(
    configured: Any, trail: CaptureTrail, out: io.StringIO
) -> None:
    configured.info(
        "order.accepted",
        audit=True,
        order_id="O-1",
        symbol="BTC-USD",
        remaining_qty=Decimal("0.5"),
    )
    [event] = trail.events
    assert event.type == "order.accepted"
    assert (event.fields["order_id"], event.fields["symbol"]) == ("O-1", "BTC-USD")
    # no timestamp, level, or message (it is the type)
    assert event.data == {"remaining_qty": "0.5"}
    [line] = _lines(out)
    assert "audit" not in line
    assert line["event"] == "order.accepted" and line["order_id"] == "O-1"
    assert line["remaining_qty"] == "0.5" and line["level"] == "info" and "timestamp" in line


def test_audit_string_is_the_type_and_the_message_is_kept(
    configured: Any, trail: CaptureTrail, out: io.StringIO
) -> None:
    configured.warning(
        "order rejected by venue", audit="oms.order_rejected", order_id="O-2", reason="margin"
    )
    [event] = trail.events
    assert event.type == "oms.order_rejected"  # not a known type: every key is data
    assert event.data == {"reason": "margin"}
    assert event.context == {"message": "order rejected by venue"}
    [line] = _lines(out)
    assert line["event"] == "order rejected by venue" and "audit" not in line


def test_audit_type_key(configured: Any, trail: CaptureTrail, out: io.StringIO) -> None:
    configured.info("cancelled", audit_type="oms.order_cancelled", order_id="O-3")
    assert trail.events.types == ["oms.order_cancelled"]
    [line] = _lines(out)
    assert "audit_type" not in line and line["order_id"] == "O-3"


def test_ordinary_lines_are_not_recorded(
    configured: Any, trail: CaptureTrail, out: io.StringIO
) -> None:
    configured.info("heartbeat", order_id="O-1")
    configured.info("not audited", audit=False)
    assert len(trail.events) == 0
    first, second = _lines(out)
    assert first["event"] == "heartbeat"
    assert "audit" not in second


def test_structlog_context_and_tradetrail_bind_reach_the_event(
    configured: Any, trail: CaptureTrail
) -> None:
    structlog.contextvars.bind_contextvars(account="ACC-1", request_id="r-9")
    with bind(strategy="mom"):
        configured.bind(venue="binance").info("oms.order_filled", audit=True, order_id="O-1")
    [event] = trail.events
    assert event.fields["account"] == "ACC-1"  # from structlog's context, an envelope field
    assert event.fields["venue"] == "binance"  # from the bound logger
    assert event.fields["strategy"] == "mom"  # from tradetrail.bind
    assert event.data == {"request_id": "r-9"}  # oms.order_filled is not a known type


def test_keys_that_are_not_fields_of_a_known_type_go_to_context(
    configured: Any, trail: CaptureTrail
) -> None:
    """Before 0.2 the message and every bound key went into data: a schema_error on every
    correct call of a known type."""
    structlog.contextvars.bind_contextvars(run_id="r-9", account="ACC-1")
    configured.info(
        "order sent", audit="order.submitted", order_id="O-1", side="buy", qty=Decimal("2")
    )
    [event] = trail.events
    assert "schema_error" not in event.record
    assert event.data == {"side": "buy", "qty": "2"}
    assert event.context == {"run_id": "r-9", "message": "order sent"}
    assert event.fields["account"] == "ACC-1" and event.fields["order_id"] == "O-1"


def test_the_message_fills_a_message_field_of_the_type(
    configured: Any, trail: CaptureTrail
) -> None:
    configured.warning(
        "daily loss at 80%", audit="alert.sent", channel="slack", rule="loss", severity="warning"
    )
    [event] = trail.events
    assert event.data["message"] == "daily loss at 80%" and event.context == {}


def test_a_plain_message_with_audit_true_is_a_log_record(
    configured: Any, trail: CaptureTrail, out: io.StringIO
) -> None:
    """The docstring's own example, `log.info("order accepted", audit=True, ...)`, recorded
    nothing before: the message is not an event type."""
    configured.info("order accepted", audit=True, order_id="O-1", qty=Decimal("1"))
    [event] = trail.events
    assert event.type == "log.record" and "schema_error" not in event.record
    assert event.data == {"message": "order accepted"}
    assert event.context == {"qty": "1"} and event.fields["order_id"] == "O-1"
    [line] = _lines(out)
    assert "audit_error" not in line


def test_a_bad_event_is_kept_as_a_fallback_and_reported(
    configured: Any, trail: CaptureTrail, out: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    configured.info("order.accepted", audit=True, price=float("inf"))
    configured.info("x", audit={"type": "a.b"})
    configured.info("y", audit="order.filled", fill_qty="1")  # fill_price is missing
    assert trail.events.types == ["log.fallback"] * 3
    bad_value, bad_mark, missing = trail.events
    assert bad_value.data["intended_type"] == "order.accepted"
    assert bad_value.data["reason"].startswith("ValueError: data.price: inf is not a finite")
    assert bad_value.context == {"data": {"price": "inf"}}  # as its text: JSON has no inf
    assert bad_mark.data["intended_type"] == "{'type': 'a.b'}"
    assert bad_mark.data["reason"].startswith("TypeError: type: expected an event type")
    assert missing.context["data"] == {"fill_qty": "1"}
    assert "fill_price" in missing.data["reason"]
    lines = _lines(out)
    assert all(line["audit_error"] for line in lines)  # the log line says so too
    errors = [r for r in caplog.records if r.name == "tradetrail" and r.levelname == "ERROR"]
    assert len(errors) == 3 and "log.fallback" in errors[0].getMessage()
    processor = structlog.get_config()["processors"][3]
    assert processor.stats() == {"recorded": 0, "fallback": 3, "failed": 0, "after_close": 0}


def test_a_closed_trail_is_counted_and_logged_once(
    configured: Any, trail: CaptureTrail, out: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    configured.info("order.accepted", audit=True)
    trail.close()
    configured.info("order.accepted", audit=True)  # must not raise
    configured.info("order.accepted", audit=True)
    processor = structlog.get_config()["processors"][3]
    assert processor.stats() == {"recorded": 1, "fallback": 0, "failed": 2, "after_close": 2}
    errors = [r for r in caplog.records if r.name == "tradetrail"]
    assert len(errors) == 1 and "NOT recorded" in errors[0].getMessage()
    assert _lines(out)[1]["audit_error"].startswith("TrailClosedError")


def test_strict_trail_journals_correct_events(
    open_trail: Callable[..., Any], home: Path, out: io.StringIO
) -> None:
    """With a strict trail (examples/README.md) no event was journaled before 0.2."""
    real = open_trail(strict=True)
    log = structlog.wrap_logger(
        structlog.PrintLogger(file=out), processors=_pipeline(AuditProcessor(real))
    )
    log = log.bind(run_id="r-1")
    for i in range(40):
        log.info("sent", audit="order.submitted", order_id=f"O-{i}", side="buy", qty=Decimal(1))
    log.info("sent", audit="order.submitted", order_id="O-x", side="buy")  # qty missing
    real.flush(5)
    records = journal_records(home)
    assert [r["type"] for r in records] == ["order.submitted"] * 40 + ["log.fallback"]
    assert not any("schema_error" in r for r in records)
    assert records[0]["context"] == {"run_id": "r-1", "message": "sent"}
    assert real.stats()["fallbacks"] == 1


def test_strict_mode_raises(trail: CaptureTrail, out: io.StringIO) -> None:
    log = structlog.wrap_logger(
        structlog.PrintLogger(file=out), processors=_pipeline(AuditProcessor(trail, strict=True))
    )
    with pytest.raises(ValueError, match=r"^type:"):
        log.info("x", audit="Not A Type")


def test_a_custom_key(trail: CaptureTrail, out: io.StringIO) -> None:
    log = structlog.wrap_logger(
        structlog.PrintLogger(file=out), processors=_pipeline(AuditProcessor(trail, key="trail"))
    )
    log.info("oms.order_accepted", trail=True, order_id="O-1")
    log.info("accepted", trail_type="oms.order_accepted", order_id="O-2")
    log.info("oms.order_accepted", audit=True)  # the default key means nothing here
    assert trail.events.types == ["oms.order_accepted", "oms.order_accepted"]
    lines = _lines(out)
    assert all("trail" not in line and "trail_type" not in line for line in lines)
    assert lines[2]["audit"] is True


def test_exceptions_are_data_when_formatted_first(trail: CaptureTrail, out: io.StringIO) -> None:
    log = structlog.wrap_logger(
        structlog.PrintLogger(file=out),
        processors=[
            structlog.processors.format_exc_info,
            AuditProcessor(trail),
            structlog.processors.JSONRenderer(),
        ],
    )
    try:
        raise ConnectionError("venue unreachable")
    except ConnectionError:
        log.exception("oms.venue_failed", audit=True, venue="binance")
    [event] = trail.events
    assert "ConnectionError: venue unreachable" in event.data["exception"]
    assert "exc_info" not in event.data


def test_stdlib_bridge_keys_are_not_data(trail: CaptureTrail) -> None:
    processor = AuditProcessor(trail)
    event_dict = {
        "event": "order.accepted",
        "audit": True,
        "order_id": "O-1",
        "logger": "oms",
        "level": "info",
        "timestamp": "2024-03-01T00:00:00Z",
        "_record": object(),
        "_from_structlog": True,
        "positional_args": (),
        "stack_info": None,
    }
    result = processor(None, "info", event_dict)
    assert result is event_dict and "audit" not in result
    [event] = trail.events
    assert event.data == {} and event.fields["order_id"] == "O-1"


def test_with_a_real_trail(open_trail: Callable[..., Any], home: Path, out: io.StringIO) -> None:
    real = open_trail()
    log = structlog.wrap_logger(
        structlog.PrintLogger(file=out), processors=_pipeline(AuditProcessor(real))
    )
    log.info("order.submitted", audit=True, order_id="O-1", qty=Decimal("2"), side="buy")
    log.info("just logging")
    real.flush(5)
    [record] = journal_records(home)
    assert record["type"] == "order.submitted"
    assert record["data"] == {"qty": "2", "side": "buy"}
    assert len(_lines(out)) == 2


def test_a_message_whose_str_raises_still_records_the_event(trail: CaptureTrail) -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("broken __str__")

        def __repr__(self) -> str:
            return "<Unprintable>"

    processor = AuditProcessor(trail)
    out = processor(None, "info", {"event": Unprintable(), "audit": "order.note", "x": 1})
    assert "audit_error" not in out
    assert processor.stats()["recorded"] == 1
    assert trail.events[-1].context["message"] == "<Unprintable>"
