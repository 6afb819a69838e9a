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
from tradetrail.context import bind
from tradetrail.structlog_processor import AuditProcessor
from tradetrail.testing import CaptureTrail

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
    assert event.type == "oms.order_rejected"
    assert event.data == {"reason": "margin", "message": "order rejected by venue"}
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
    assert event.data == {"request_id": "r-9"}


def test_a_bad_event_is_reported_in_the_log_line_not_raised(
    configured: Any, trail: CaptureTrail, out: io.StringIO
) -> None:
    configured.info("Order Accepted!", audit=True)  # not a dotted type
    configured.info("order.accepted", audit=True, price=float("inf"))
    configured.info("x", audit={"type": "a.b"})
    assert len(trail.events) == 0
    bad_type, bad_value, bad_mark = _lines(out)
    assert bad_type["audit_error"].startswith("ValueError: type: 'Order Accepted!'")
    assert bad_value["audit_error"].startswith("ValueError: data.price: inf is not a finite")
    assert bad_mark["audit_error"].startswith("TypeError: audit: expected True or an event type")


def test_strict_mode_raises(trail: CaptureTrail, out: io.StringIO) -> None:
    log = structlog.wrap_logger(
        structlog.PrintLogger(file=out), processors=_pipeline(AuditProcessor(trail, strict=True))
    )
    with pytest.raises(ValueError, match=r"^type:"):
        log.info("Not A Type", audit=True)


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
