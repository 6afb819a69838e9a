"""AuditHandler with real `logging`: audit-carrying records become trail events, every record
with loggers_all, no recursion, refused events kept as log.fallback and never raised, audit
records let through a logger's level by install()."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from conftest import journal_records
from tradetrail.core.timefmt import format_ns
from tradetrail.integrations.logging_handler import AuditHandler, install, uninstall
from tradetrail.integrations.testing import CaptureTrail
from tradetrail.model.context import bind


@pytest.fixture
def trail() -> CaptureTrail:
    return CaptureTrail()


@pytest.fixture
def make_logger(request: pytest.FixtureRequest) -> Iterator[Callable[..., logging.Logger]]:
    """`make_logger(handler, name=...)`: a real logger with the handler attached, removed after."""
    attached: list[tuple[logging.Logger, logging.Handler, bool, int]] = []

    def _make(handler: logging.Handler, name: str | None = None) -> logging.Logger:
        log = logging.getLogger(name or f"test.audit.{request.node.name}")
        attached.append((log, handler, log.propagate, log.level))
        log.addHandler(handler)
        log.setLevel(logging.DEBUG)
        log.propagate = False
        return log

    yield _make
    for log, handler, propagate, level in attached:
        log.removeHandler(handler)
        log.propagate = propagate
        log.setLevel(level)


def test_an_audit_mapping_becomes_an_event(trail: CaptureTrail, make_logger: Any) -> None:
    log = make_logger(AuditHandler(trail))
    log.info(
        "order %s accepted",
        "O-1",
        extra={
            "audit": {
                "type": "order.accepted",
                "data": {"remaining_qty": Decimal("0.5"), "price": Decimal("64250.10")},
                "order_id": "O-1",
                "symbol": "BTC-USD",
            }
        },
    )
    [event] = trail.events
    assert event.type == "order.accepted"
    assert event.data == {"remaining_qty": "0.5", "price": "64250.10"}
    assert (event.fields["order_id"], event.fields["symbol"]) == ("O-1", "BTC-USD")


def test_audit_type_and_audit_data_take_envelope_fields_from_extra(
    trail: CaptureTrail, make_logger: Any
) -> None:
    log = make_logger(AuditHandler(trail))
    log.warning(
        "rejected",
        extra={
            "audit_type": "order.rejected",
            "audit_data": {"reason": "insufficient margin"},
            "order_id": "O-2",
            "account": "ACC-1",
            "unrelated": "not in the event",
        },
    )
    [event] = trail.events
    assert event.type == "order.rejected"
    assert event.data == {"reason": "insufficient margin"}
    assert (event.fields["order_id"], event.fields["account"]) == ("O-2", "ACC-1")


def test_audit_as_a_type_string(trail: CaptureTrail, make_logger: Any) -> None:
    log = make_logger(AuditHandler(trail))
    log.info("cancel sent", extra={"audit": "order.cancel_requested", "order_id": "O-3"})
    [event] = trail.events
    assert (event.type, event.fields["order_id"], event.data) == (
        "order.cancel_requested",
        "O-3",
        {},
    )


def test_audit_true_records_the_log_line(trail: CaptureTrail, make_logger: Any) -> None:
    log = make_logger(AuditHandler(trail, default_type="oms.log"))
    log.error("venue down: %s", "binance", extra={"audit": True, "venue": "binance"})
    [event] = trail.events
    assert event.type == "oms.log"
    assert event.fields["venue"] == "binance"
    assert event.data == {"message": "venue down: binance", "logger": log.name, "level": "ERROR"}


def test_plain_records_are_ignored_by_default(trail: CaptureTrail, make_logger: Any) -> None:
    log = make_logger(AuditHandler(trail))
    log.info("just a log line")
    log.info("not audited", extra={"audit": False})
    assert len(trail.events) == 0


def test_loggers_all_records_every_line(trail: CaptureTrail, make_logger: Any) -> None:
    log = make_logger(AuditHandler(trail, loggers_all=True))
    log.info("hello %s", "world", extra={"strategy": "mom"})
    try:
        raise ValueError("bad tick")
    except ValueError:
        log.exception("tick handler failed")
    log.info("accepted", extra={"audit": {"type": "order.accepted", "order_id": "O-1"}})
    hello, failed, accepted = trail.events
    assert hello.type == "log.record"
    assert hello.data == {"message": "hello world", "logger": log.name, "level": "INFO"}
    assert hello.fields["strategy"] == "mom"
    assert failed.data["level"] == "ERROR"
    assert "Traceback" in failed.data["exc"] and "ValueError: bad tick" in failed.data["exc"]
    assert accepted.type == "order.accepted"  # an audit record is its own event, not a log.record


def test_handler_level_filters(trail: CaptureTrail, make_logger: Any) -> None:
    log = make_logger(AuditHandler(trail, loggers_all=True, level=logging.WARNING))
    log.info("quiet")
    log.warning("loud")
    assert [e.data["message"] for e in trail.events] == ["loud"]


def test_event_ts_is_the_records_creation_time(trail: CaptureTrail, make_logger: Any) -> None:
    seen: list[logging.LogRecord] = []

    class Keep(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            seen.append(record)
            return True

    handler = AuditHandler(trail, loggers_all=True)
    handler.addFilter(Keep())
    log = make_logger(handler)
    log.info("a")
    log.info("b", extra={"audit": {"type": "x.y", "event_ts": "2024-03-01T00:00:00Z"}})
    first, second = trail.events
    expected = format_ns(round(seen[0].created * 1_000_000) * 1000)
    assert first.fields["event_ts"] == expected
    assert second.fields["event_ts"] == "2024-03-01T00:00:00Z"  # an explicit value wins


@pytest.mark.parametrize(
    "name", ["tradetrail", "tradetrail.writer.trail", "tradetrail.writer.spill.x"]
)
def test_tradetrails_own_loggers_are_ignored(trail: CaptureTrail, name: str) -> None:
    handler = AuditHandler(trail, loggers_all=True)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        logging.getLogger(name).warning("spilled", extra={"audit": "trail.spilled"})
    finally:
        root.removeHandler(handler)
    assert len(trail.events) == 0


def test_no_recursion_when_record_logs(make_logger: Any) -> None:
    class Chatty(CaptureTrail):
        """A trail whose record() itself logs, through the same handler."""

        log: logging.Logger

        def record(self, event_type: str, data: Any = None, **fields: Any) -> Any:
            self.log.info("recording %s", event_type, extra={"audit": "nested.event"})
            return super().record(event_type, data, **fields)

    chatty = Chatty()
    chatty.log = make_logger(AuditHandler(chatty, loggers_all=True))
    chatty.log.info("outer")
    assert chatty.events.types == ["log.record"]
    chatty.log.info("again")  # the guard was released
    assert chatty.events.types == ["log.record", "log.record"]


def test_the_guard_is_per_thread(make_logger: Any) -> None:
    """A record logged by another thread while one thread is inside record() is not dropped."""
    inside = threading.Event()
    release = threading.Event()

    class Slow(CaptureTrail):
        def record(self, event_type: str, data: Any = None, **fields: Any) -> Any:
            if data and data.get("message") == "slow":
                inside.set()
                release.wait(5)
            return super().record(event_type, data, **fields)

    slow = Slow()
    handler = AuditHandler(slow, loggers_all=True)
    log = make_logger(handler)

    def record(message: str) -> logging.LogRecord:
        made: logging.LogRecord = log.makeRecord(
            log.name, logging.INFO, __file__, 1, message, (), None
        )
        return made

    # emit() directly: handle() would serialise the two threads on the handler's lock
    t = threading.Thread(target=handler.emit, args=(record("slow"),))
    t.start()
    assert inside.wait(5)
    handler.emit(record("fast"))
    release.set()
    t.join()
    assert sorted(e.data["message"] for e in slow.events) == ["fast", "slow"]


@pytest.mark.parametrize(
    ("extra", "intended", "reason"),
    [
        ({"audit": {"type": "Not A Type"}}, "Not A Type", "ValueError: type:"),
        (
            {"audit": {"type": "order.accepted", "qty": Decimal("1")}},  # not an envelope field
            "order.accepted",
            "TypeError: qty: unknown envelope field",
        ),
        ({"audit": {"data": {}}}, "None", "TypeError: type: expected an event type"),
        ({"audit": 42}, "42", "TypeError: type: expected an event type"),
        (
            {"audit_type": "order.accepted", "audit_data": {"price": float("nan")}},
            "order.accepted",
            "ValueError: data.price: nan is not a finite",
        ),
    ],
)
def test_bad_events_are_kept_as_fallbacks_not_raised(
    trail: CaptureTrail,
    make_logger: Any,
    extra: dict[str, Any],
    intended: str,
    reason: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Before 0.2 a bad event was dropped with a traceback on stderr and counted nowhere."""
    handler = AuditHandler(trail)
    log = make_logger(handler)
    log.info("bad", extra=extra)  # must not raise
    [kept] = trail.events
    assert kept.type == "log.fallback"
    assert kept.data["intended_type"] == intended
    assert kept.data["reason"].startswith(reason)
    assert kept.context["context"]["message"] == "bad"  # the event as given
    assert handler.stats() == {"recorded": 0, "fallback": 1, "failed": 0, "after_close": 0}
    [error] = [r for r in caplog.records if r.name == "tradetrail"]
    assert error.levelname == "ERROR" and "log.fallback" in error.getMessage()
    log.info("good", extra={"audit": "order.accepted"})  # and the handler still works
    assert trail.events.types == ["log.fallback", "order.accepted"]


def test_strict_raises_into_the_logging_call(trail: CaptureTrail, make_logger: Any) -> None:
    log = make_logger(AuditHandler(trail, strict=True))
    with pytest.raises(ValueError, match=r"data\.price"):
        log.info("x", extra={"audit_type": "order.accepted", "audit_data": {"price": "x"}})
    assert len(trail.events) == 0


def test_a_closed_trail_is_logged_once_and_counted(
    trail: CaptureTrail, make_logger: Any, caplog: pytest.LogCaptureFixture
) -> None:
    handler = AuditHandler(trail)
    log = make_logger(handler)
    trail.close()
    log.info("late", extra={"audit": "order.accepted"})
    log.info("later", extra={"audit": "order.accepted"})
    assert handler.stats() == {"recorded": 0, "fallback": 0, "failed": 2, "after_close": 2}
    [error] = [r for r in caplog.records if r.name == "tradetrail"]
    assert error.levelname == "ERROR" and "NOT recorded" in error.getMessage()


def test_the_message_and_logger_go_to_context_not_data(
    trail: CaptureTrail, make_logger: Any
) -> None:
    log = make_logger(AuditHandler(trail))
    log.info(
        "order %s accepted",
        "O-1",
        extra={"audit": {"type": "order.accepted", "data": {"price": "1"}, "order_id": "O-1"}},
    )
    [event] = trail.events
    assert "schema_error" not in event.record and event.data == {"price": "1"}
    assert event.context == {"message": "order O-1 accepted", "logger": log.name}


def test_install_lets_audit_records_through_the_level(
    trail: CaptureTrail, capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest
) -> None:
    """A logger at WARNING dropped an info-level audit record before any handler ran."""
    log = logging.getLogger(f"test.level.{request.node.name}")
    log.setLevel(logging.WARNING)
    log.propagate = False
    plain = logging.StreamHandler()  # stderr
    log.addHandler(plain)
    handler = install(log, trail)
    try:
        log.info("filled", extra={"audit": "order.accepted", "order_id": "O-1"})
        log.log(logging.DEBUG, "dbg", extra={"audit_type": "order.accepted"})
        log.info("plain line below the level")
        log.warning("plain warning")
        try:
            raise ConnectionError("down")
        except ConnectionError:
            log.debug("venue down", exc_info=True, extra={"audit": True})
    finally:
        uninstall(log, handler)
        log.removeHandler(plain)
    assert trail.events.types == ["order.accepted", "order.accepted", "log.record"]
    assert trail.events[0].fields["order_id"] == "O-1"
    assert "ConnectionError: down" in trail.events[2].data["exc"]
    assert trail.events[2].data["level"] == "DEBUG"
    err = capsys.readouterr().err
    assert err == "plain warning\n"  # the other handler still sees only what the level lets by
    assert "info" not in log.__dict__  # uninstall restores the logger


def test_install_on_a_child_reuses_the_parents_handler(
    trail: CaptureTrail, request: pytest.FixtureRequest
) -> None:
    parent = logging.getLogger(f"test.parent.{request.node.name}")
    child = logging.getLogger(f"{parent.name}.fills")
    parent.setLevel(logging.ERROR)
    parent.propagate = False
    handler = install(parent, trail)
    try:
        assert install(child, handler) is handler and child.handlers == []
        child.info("fill", extra={"audit": "order.accepted"})
        assert trail.events.types == ["order.accepted"]
        assert trail.events[0].context["logger"] == child.name
    finally:
        uninstall(child, handler)
        uninstall(parent, handler)


def test_bound_context_reaches_the_event(trail: CaptureTrail, make_logger: Any) -> None:
    log = make_logger(AuditHandler(trail))
    with bind(strategy="mom", account="ACC-1"):
        log.info("x", extra={"audit": {"type": "order.accepted", "order_id": "O-1"}})
    [event] = trail.events
    assert (event.fields["strategy"], event.fields["account"]) == ("mom", "ACC-1")


def test_many_threads_log_audit_events(trail: CaptureTrail, make_logger: Any) -> None:
    log = make_logger(AuditHandler(trail))

    def worker(i: int) -> None:
        for j in range(50):
            audit = {
                "type": "order.filled",
                "data": {"fill_qty": "1", "fill_price": str(j)},
                "order_id": f"O{i}-{j}",
            }
            log.info("fill", extra={"audit": audit})

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(trail.events) == 400
    assert len({e.fields["order_id"] for e in trail.events}) == 400


def test_with_a_real_trail(open_trail: Callable[..., Any], home: Path, make_logger: Any) -> None:
    real = open_trail()
    log = make_logger(AuditHandler(real, loggers_all=True))
    log.info("session start")
    log.info(
        "filled",
        extra={"audit_type": "order.filled", "audit_data": {"fill_qty": "1", "fill_price": "2"}},
    )
    real.flush(5)
    started, filled = journal_records(home)
    assert started["type"] == "log.record" and started["data"]["message"] == "session start"
    assert filled["type"] == "order.filled" and filled["data"] == {
        "fill_qty": "1",
        "fill_price": "2",
    }
    assert "schema_error" not in filled and "schema_error" not in started
    assert filled["context"] == {"message": "filled", "logger": log.name}
    assert len(filled["event_ts"]) == len("2024-03-01T12:00:00.000000Z")


def test_a_message_that_cannot_be_formatted_still_records_the_event(
    trail: CaptureTrail, make_logger: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """`log.warning("%s %s", one)`: logging cannot format the line; the audit event is still
    recorded (as asked), with the message and its arguments as text; no traceback."""
    handler = AuditHandler(trail)
    log = make_logger(handler)
    log.warning(
        "order %s accepted %s", "O-1", extra={"audit": {"type": "order.note", "order_id": "O-1"}}
    )
    assert handler.stats()["recorded"] == 1 and handler.stats()["failed"] == 0
    event = trail.events[-1]
    assert event.type == "order.note" and event.fields["order_id"] == "O-1"
    assert "order %s accepted %s % ('O-1',) (not formatted" in event.context["message"]
    assert "Traceback" not in capsys.readouterr().err
