"""The writer (tradetrail.writer.trail) in one process: API, validation in the caller, the journal's
bytes, day rotation with a simulated clock, checkpoints, reopen, the lock, fork, many threads,
a full queue and a failing disk (injected)."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import os
import re
import shutil
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

import tradetrail
from conftest import (
    WRITER_THREAD_NAME,
    GateClock,
    JournalFault,
    SimClock,
    check_chain,
    file_mode,
    journal_lines,
    journal_records,
    leaf_hex,
    wait_until,
)
from tradetrail import ConfigError, TrailClosedError, TrailCorruptError, TrailLockedError
from tradetrail.core.checkpoint import open_checkpoint
from tradetrail.core.merkle import root_of_leaves
from tradetrail.core.note import Signer, Verifier
from tradetrail.core.tiles import tile_path, tiles_for_size

TS_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6,9}Z$")


def checkpoint_sizes(home: Path) -> list[int]:
    return sorted(int(p.name) for p in (home / "checkpoints").iterdir() if p.name.isdigit())


def leaves(home: Path) -> list[bytes]:
    return [hashlib.sha256(b"\x00" + line).digest() for _, line in journal_lines(home)]


def assert_checkpoints_match_journal(home: Path) -> None:
    """Every stored checkpoint verifies with trail.vkey and commits to the journal's prefix."""
    verifier = Verifier.from_vkey((home / "trail.vkey").read_text().strip())
    hashes = leaves(home)
    for size in checkpoint_sizes(home):
        cp = open_checkpoint((home / "checkpoints" / str(size)).read_text(), [verifier])
        assert cp.size == size
        assert cp.root == root_of_leaves(hashes[:size]), f"checkpoint {size} root"


def ids_in_journal(home: Path) -> Counter[str]:
    return Counter(r["event_id"] for r in journal_records(home))


# --------------------------------------------------------------------------- API


def test_record_wait_flush_close_roundtrip(open_trail: Callable[..., Any], home: Path) -> None:
    trail = open_trail()
    receipts = [trail.record("order.accepted", {"qty": "1", "i": i}) for i in range(20)]
    assert trail.flush(timeout=10) is True
    assert all(r.journaled for r in receipts)
    assert [r.wait() for r in receipts] == list(range(20))
    assert trail.size == 20
    trail.close()
    trail.close()  # idempotent
    records = check_chain(home)
    assert [r["data"]["i"] for r in records] == list(range(20))
    assert [r["event_id"] for r in records] == [r.event_id for r in receipts]
    with pytest.raises(TrailClosedError):
        trail.record("order.accepted")
    assert receipts[3].wait(timeout=1) == 3  # a journaled receipt still answers after close


def test_context_manager_closes_and_releases_lock(home: Path, clock: SimClock) -> None:
    with tradetrail.open(home, clock=clock, min_free_bytes=0) as trail:
        assert isinstance(trail, tradetrail.Trail)
        seq = trail.record("auth.login", actor="alice").wait(timeout=10)
    assert seq == 0
    with pytest.raises(TrailClosedError):
        trail.record("auth.logout")
    with tradetrail.open(home, clock=clock, min_free_bytes=0) as again:  # lock released
        assert again.size == 1
        assert again.record("auth.logout", actor="alice").wait(timeout=10) == 1
    check_chain(home)


def test_await_receipt_in_asyncio(open_trail: Callable[..., Any], home: Path) -> None:
    trail = open_trail()

    async def main() -> list[int]:
        first = await trail.record("order.accepted", {"n": 0})
        rest = await asyncio.gather(
            *(trail.record("order.accepted", {"n": i}) for i in range(1, 10))
        )
        return [first, *rest]

    assert asyncio.run(main()) == list(range(10))
    trail.close()
    assert len(check_chain(home)) == 10


def test_stats_counters(open_trail: Callable[..., Any]) -> None:
    trail = open_trail()
    for i in range(5):
        trail.record("order.accepted", {"i": i})
    trail.flush(timeout=10)
    stats = trail.stats()
    for key in (
        "journaled",
        "spilled",
        "merged",
        "write_errors",
        "fsyncs",
        "checkpoints",
        "size",
        "queued",
        "spill_pending",
        "degraded",
        "durability",
    ):
        assert key in stats, key
    assert stats["journaled"] == 5
    assert stats["size"] == 5
    assert stats["spilled"] == stats["spill_pending"] == stats["write_errors"] == 0
    assert stats["degraded"] is None
    assert stats["durability"] == "fsync"


def test_record_returns_without_waiting_for_the_writer(open_trail: Callable[..., Any]) -> None:
    """record() only queues: with the writer thread held, 2000 calls still return at once."""
    clock = GateClock()
    trail = open_trail(clock=clock, checkpoint_interval=0.05)
    clock.hold_writer()
    try:
        start = time.perf_counter()
        receipts = [trail.record("order.accepted", {"i": i, "px": "1.5"}) for i in range(2000)]
        elapsed = time.perf_counter() - start
        assert elapsed < 1.0, f"2000 record() calls took {elapsed:.3f}s"
        assert not any(r.journaled for r in receipts)
        assert trail.stats()["queued"] == 2000
        with pytest.raises(TimeoutError):
            receipts[0].wait(timeout=0.05)
    finally:
        clock.release_writer()
    assert receipts[-1].wait(timeout=10) == 1999
    assert trail.flush(timeout=10)


def test_group_commit_shares_fsyncs(open_trail: Callable[..., Any]) -> None:
    trail = open_trail()
    receipts = [trail.record("order.accepted", {"i": i}) for i in range(2000)]
    receipts[-1].wait(timeout=20)
    assert trail.stats()["fsyncs"] < 1000, trail.stats()


def test_write_durability_mode(open_trail: Callable[..., Any], home: Path, verify_ok: Any) -> None:
    trail = open_trail(durability="write")
    assert trail.stats()["durability"] == "write"
    for i in range(100):
        assert trail.record("order.accepted", {"i": i}).wait(timeout=10) == i
    # acknowledged after write(): no fsync per record
    assert trail.stats()["fsyncs"] < 5, trail.stats()
    assert trail.flush(timeout=10)
    trail.close()
    assert len(check_chain(home)) == 100
    verify_ok(home)


# --------------------------------------------------------------------------- validation


BAD_EVENTS: list[tuple[str, tuple[Any, ...], dict[str, Any], type[Exception], str]] = [
    ("nan", ("order.accepted", {"px": float("nan")}), {}, ValueError, "data.px"),
    ("infinity", ("order.accepted", {"px": float("inf")}), {}, ValueError, "data.px"),
    ("-infinity", ("order.accepted", {"legs": [{"px": -float("inf")}]}), {}, ValueError, "px"),
    ("decimal nan", ("order.accepted", {"px": Decimal("NaN")}), {}, ValueError, "data.px"),
    ("decimal snan", ("order.accepted", {"px": Decimal("sNaN")}), {}, ValueError, "data.px"),
    ("decimal inf", ("order.accepted", {"px": Decimal("-Infinity")}), {}, ValueError, "data.px"),
    ("int key deep", ("order.accepted", {"a": {"b": [{1: "x"}]}}), {}, TypeError, "data.a.b[0]"),
    ("tuple key", ("order.accepted", {"a": {(1, 2): "x"}}), {}, TypeError, "data.a"),
    ("naive datetime", ("order.accepted", {"at": datetime(2024, 1, 1)}), {}, ValueError, "at"),
    ("bytes", ("order.accepted", {"raw": b"\x00\x01"}), {}, TypeError, "data.raw"),
    ("set", ("order.accepted", {"tags": {"a", "b"}}), {}, TypeError, "data.tags"),
    ("object", ("order.accepted", {"o": object()}), {}, TypeError, "data.o"),
    ("data not a mapping", ("order.accepted", [1, 2]), {}, TypeError, "data"),
    ("unknown field", ("order.accepted",), {"qty": "1"}, TypeError, "qty"),
    ("seq by caller", ("order.accepted",), {"seq": 7}, ValueError, "seq"),
    ("ts by caller", ("order.accepted",), {"ts": "2024-01-01T00:00:00.000000Z"}, ValueError, "ts"),
    ("prev by caller", ("order.accepted",), {"prev": "0" * 64}, ValueError, "prev"),
    ("type Order", ("Order",), {}, ValueError, "type"),
    ("type order", ("order",), {}, ValueError, "type"),
    ("type Order.Accepted", ("Order.Accepted",), {}, ValueError, "type"),
    ("type with space", ("order accepted",), {}, ValueError, "type"),
    ("type trailing dot", ("order.",), {}, ValueError, "type"),
    ("type not str", (42,), {}, ValueError, "type"),
    (
        "naive event_ts",
        ("order.accepted",),
        {"event_ts": datetime(2024, 1, 1)},
        ValueError,
        "event_ts",
    ),
    ("bad event_ts", ("order.accepted",), {"event_ts": "yesterday"}, ValueError, "event_ts"),
    ("bad priority", ("order.accepted",), {"priority": "urgent"}, ValueError, "priority"),
    ("list symbol", ("order.accepted",), {"symbol": ["BTC"]}, TypeError, "symbol"),
    ("empty symbol", ("order.accepted",), {"symbol": ""}, ValueError, "symbol"),
    ("bad event_id", ("order.accepted",), {"event_id": "not-a-uuid"}, ValueError, "event_id"),
    ("source not mapping", ("order.accepted",), {"source": "host-1"}, TypeError, "source"),
]


@pytest.mark.parametrize(
    ("args", "fields", "exc", "field"),
    [case[1:] for case in BAD_EVENTS],
    ids=[case[0] for case in BAD_EVENTS],
)
def test_bad_event_raises_in_caller_naming_the_field(
    open_trail: Callable[..., Any],
    home: Path,
    args: tuple[Any, ...],
    fields: dict[str, Any],
    exc: type[Exception],
    field: str,
) -> None:
    trail = open_trail()
    with pytest.raises(exc) as info:
        trail.record(*args, **fields)
    assert field in str(info.value), str(info.value)
    # nothing was written for it; the trail goes on
    assert trail.flush(timeout=10)
    assert trail.size == 0
    assert trail.record("order.accepted").wait(timeout=10) == 0
    trail.close()
    assert len(journal_lines(home)) == 1
    assert trail.stats()["spilled"] == 0


def test_event_over_size_limit_is_refused(open_trail: Callable[..., Any], home: Path) -> None:
    trail = open_trail(max_event_bytes=2048)
    with pytest.raises(ValueError, match="2048"):
        trail.record("order.accepted", {"blob": "x" * 4000})
    trail.record("order.accepted", {"blob": "x" * 1000}).wait(timeout=10)
    trail.close()
    assert len(journal_lines(home)) == 1


def test_default_size_limit_is_one_mib(open_trail: Callable[..., Any]) -> None:
    trail = open_trail()
    with pytest.raises(ValueError, match="exceeds"):
        trail.record("order.accepted", {"blob": "x" * (1024 * 1024)})
    assert trail.record("order.accepted", {"blob": "x" * 500_000}).wait(timeout=10) == 0


UNENCODABLE = [
    pytest.param({"symbol": "BTC\ud800"}, None, "symbol", id="surrogate-in-symbol"),
    pytest.param({"actor": "\udc00"}, None, "actor", id="surrogate-in-actor"),
    pytest.param({}, {"legs": [{"note": "a\udc00b"}]}, "data.legs[0].note", id="surrogate-in-data"),
    pytest.param({}, {"k\ud800": 1}, "data: key 'k\\ud800'", id="surrogate-in-key"),
    # integers beyond ±(2^53-1) are written as strings (RFC 8785); too many digits are refused
    pytest.param({}, {"qty": 10**5000}, "data.qty", id="int-over-4300-digits"),
    pytest.param({}, {"legs": [-(10**5000)]}, "data.legs[0]", id="int-under-4300-digits"),
]


@pytest.mark.parametrize(("fields", "data", "field"), UNENCODABLE)
def test_unencodable_value_is_refused_in_caller(
    open_trail: Callable[..., Any], home: Path, fields: dict[str, Any], data: Any, field: str
) -> None:
    """What orjson cannot encode fails in record(), and the writer thread lives on."""
    trail = open_trail()
    with pytest.raises((TypeError, ValueError)):
        trail.record("order.accepted", data, **fields)
    assert trail.record("order.accepted", symbol="BTC").wait(timeout=5) == 0
    trail.close()
    assert len(check_chain(home)) == 1


@pytest.mark.parametrize(("fields", "data", "field"), UNENCODABLE)
def test_unencodable_value_error_names_the_field(
    open_trail: Callable[..., Any], fields: dict[str, Any], data: Any, field: str
) -> None:
    trail = open_trail()
    with pytest.raises((TypeError, ValueError)) as info:
        trail.record("order.accepted", data, **fields)
    assert field in str(info.value), str(info.value)


def test_caller_mutation_after_record_does_not_change_the_record(
    open_trail: Callable[..., Any], home: Path
) -> None:
    trail = open_trail()
    data: dict[str, Any] = {"qty": "1", "legs": [{"px": "10"}]}
    trail.record("order.accepted", data)
    data["qty"] = "999"
    data["legs"][0]["px"] = "0"
    trail.close()
    (record,) = journal_records(home)
    assert record["data"] == {"qty": "1", "legs": [{"px": "10"}]}


def test_decimals_are_exact_strings(open_trail: Callable[..., Any], home: Path) -> None:
    trail = open_trail()
    values = {
        "qty": Decimal("0.10"),
        "px": Decimal("12345678901234567890.123456789012345678"),
        "tiny": Decimal("-0.000001"),
        "exp": Decimal("1E+3"),
        "small_exp": Decimal("1.5E-10"),
        "zero": Decimal("0.00"),
    }
    trail.record("fill.executed", values).wait(timeout=10)
    trail.close()
    (record,) = journal_records(home)
    assert record["data"] == {
        "qty": "0.10",
        "px": "12345678901234567890.123456789012345678",
        "tiny": "-0.000001",
        "exp": "1000",
        "small_exp": "0.00000000015",
        "zero": "0.00",
    }
    for key, text in record["data"].items():
        assert Decimal(text) == values[key]


def test_envelope_fields_and_absent_optionals(open_trail: Callable[..., Any], home: Path) -> None:
    trail = open_trail(service="oms")
    given_id = uuid.UUID("01890a5d-ac96-774b-bcce-b302099a8057")
    at = datetime(2024, 3, 1, 13, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    trail.record("order.accepted")
    trail.record("order.accepted", None, symbol=None, actor=None, order_id=None)
    trail.record(
        "order.accepted",
        {"qty": "0.5"},
        event_id=given_id,
        event_ts=at,
        actor="trader-7",
        priority="high",
        correlation_id="c-1",
        order_id=12345,
        client_order_id="cl-1",
        exchange_order_id="ex-1",
        parent_order_id="p-1",
        signal_id="s-1",
        strategy="mm",
        account="acc-1",
        venue="XNAS",
        symbol="BTC-USD",
        source={"service": "gw", "host": "h1", "pid": 1},
    )
    trail.close()
    bare, with_nones, full = journal_records(home)
    assert set(bare) == {"seq", "ts", "prev", "event_id", "type", "source"}
    assert set(with_nones) == set(bare)
    assert bare["source"]["service"] == "oms"
    assert bare["source"]["pid"] == os.getpid()
    assert uuid.UUID(bare["event_id"]).version == 7
    assert full["event_id"] == str(given_id)
    assert full["event_ts"] == "2024-03-01T12:00:00.123456Z"
    assert full["order_id"] == "12345"
    assert full["source"] == {"service": "gw", "host": "h1", "pid": 1}
    for name in ("actor", "priority", "correlation_id", "venue", "symbol", "strategy"):
        assert isinstance(full[name], str)
    assert "null" not in (home / "journal").joinpath("audit-20240301.jsonl").read_text()


def test_lines_are_canonical_and_chained(open_trail: Callable[..., Any], home: Path) -> None:
    trail = open_trail(service="svc")
    for i in range(50):
        trail.record(
            "app.order_seen", {"z": i, "a": {"y": [3, 2, 1], "b": None}, "m": "x"}, symbol="S"
        )
    trail.close()
    lines = journal_lines(home)
    assert len(lines) == 50
    prev = "0" * 64
    for seq, (_, line) in enumerate(lines):
        assert b" " not in line and b"\r" not in line and b"\t" not in line
        record = orjson.loads(line)
        assert orjson.dumps(record, option=orjson.OPT_SORT_KEYS) == line
        assert list(record) == sorted(record)
        assert list(record["data"]) == sorted(record["data"])
        assert record["seq"] == seq
        assert record["prev"] == prev
        assert TS_PATTERN.match(record["ts"])
        prev = hashlib.sha256(b"\x00" + line).hexdigest()
    data = (home / "journal" / "audit-20240301.jsonl").read_bytes()
    assert data.endswith(b"\n") and b"\n\n" not in data


def test_ts_comes_from_the_clock_and_never_goes_back(
    open_trail: Callable[..., Any], home: Path, clock: SimClock
) -> None:
    clock.set("2024-03-01T12:00:00.250000")
    trail = open_trail()
    trail.record("order.accepted").wait(timeout=10)
    clock.set("2024-03-01T11:59:50")  # the clock steps back ten seconds
    trail.record("order.accepted").wait(timeout=10)
    clock.set("2024-03-01T11:00:00")
    trail.record("order.accepted").wait(timeout=10)
    clock.set("2024-03-01T12:00:01.000001")
    trail.record("order.accepted").wait(timeout=10)
    trail.close()
    records = check_chain(home)
    assert [r["ts"] for r in records] == [
        "2024-03-01T12:00:00.250000Z",
        "2024-03-01T12:00:00.250000Z",
        "2024-03-01T12:00:00.250000Z",
        "2024-03-01T12:00:01.000001Z",
    ]


# --------------------------------------------------------------------------- days


def test_day_rotation_at_utc_midnight(
    open_trail: Callable[..., Any], home: Path, clock: SimClock, verify_ok: Any
) -> None:
    clock.set("2024-03-01T23:59:59.000000")
    trail = open_trail()
    for _ in range(3):
        trail.record("order.accepted").wait(timeout=10)
        clock.advance(0.25)
    clock.set("2024-03-02T00:00:00.000000")
    trail.record("order.accepted").wait(timeout=10)
    clock.advance(86400)  # a quiet day: no file for 2024-03-03 without records
    clock.set("2024-03-04T00:00:00.5")
    trail.record("order.accepted").wait(timeout=10)
    trail.record("order.accepted").wait(timeout=10)
    day1 = home / "journal" / "audit-20240301.jsonl"
    day2 = home / "journal" / "audit-20240302.jsonl"
    day4 = home / "journal" / "audit-20240304.jsonl"
    # sealed at the moment the next day began, not only at close
    assert file_mode(day1) == 0o444
    assert file_mode(day2) == 0o444
    assert (home / "checkpoints" / "3").is_file()
    assert (home / "checkpoints" / "4").is_file()
    trail.close()
    assert sorted(p.name for p in (home / "journal").iterdir()) == [
        day1.name,
        day2.name,
        day4.name,
    ]
    records = check_chain(home)
    assert [len(day1.read_bytes().splitlines()), len(day2.read_bytes().splitlines())] == [3, 1]
    assert records[3]["ts"] == "2024-03-02T00:00:00.000000Z"
    assert_checkpoints_match_journal(home)
    verify_ok(home, checkpoints=[home / "checkpoints" / "3"])


def test_day_sealed_by_the_tick_without_a_new_record(
    open_trail: Callable[..., Any], home: Path, clock: SimClock, verify_ok: Any
) -> None:
    clock.set("2024-03-01T23:59:59.900000")
    trail = open_trail()
    trail.record("order.accepted").wait(timeout=10)
    trail.record("order.accepted").wait(timeout=10)
    day1 = home / "journal" / "audit-20240301.jsonl"
    assert file_mode(day1) & 0o200
    clock.set("2024-03-02T00:00:00.100000")
    assert wait_until(lambda: file_mode(day1) == 0o444, timeout=4), "not sealed by the tick"
    assert wait_until(lambda: (home / "checkpoints" / "2").is_file(), timeout=2)
    cp = (home / "checkpoints" / "2").read_text()
    assert cp.splitlines()[1] == "2"
    assert not (home / "journal" / "audit-20240302.jsonl").exists()
    trail.record("order.accepted").wait(timeout=10)
    trail.close()
    assert [r["ts"][:10] for r in check_chain(home)] == ["2024-03-01"] * 2 + ["2024-03-02"]
    assert_checkpoints_match_journal(home)
    verify_ok(home)


def test_clock_stepping_back_after_seal_does_not_reopen_the_sealed_day(
    open_trail: Callable[..., Any], home: Path, clock: SimClock
) -> None:
    clock.set("2024-03-01T23:59:59.900000")
    trail = open_trail()
    trail.record("order.accepted").wait(timeout=10)
    day1 = home / "journal" / "audit-20240301.jsonl"
    clock.set("2024-03-02T00:00:00.200000")
    assert wait_until(lambda: file_mode(day1) == 0o444, timeout=4)
    sealed = day1.read_bytes()
    clock.set("2024-03-01T23:59:59.950000")  # NTP steps the clock back across midnight
    trail.record("order.accepted").wait(timeout=5)
    assert day1.read_bytes() == sealed, "a record was appended to a sealed day"
    trail.close()
    assert journal_records(home)[-1]["ts"] >= "2024-03-02T00:00:00.200000Z"


def test_days_that_ended_while_closed_are_sealed_at_open(
    open_trail: Callable[..., Any], home: Path, clock: SimClock
) -> None:
    clock.set("2024-03-01T22:00:00")
    trail = open_trail()
    trail.record("order.accepted").wait(timeout=10)
    trail.close()
    day1 = home / "journal" / "audit-20240301.jsonl"
    assert file_mode(day1) & 0o200  # still today: writable
    clock.set("2024-03-05T09:00:00")
    trail = open_trail()
    assert file_mode(day1) == 0o444
    assert trail.record("order.accepted").wait(timeout=10) == 1
    trail.close()
    assert [p.name for p in sorted((home / "journal").iterdir())] == [
        "audit-20240301.jsonl",
        "audit-20240305.jsonl",
    ]
    check_chain(home)


# --------------------------------------------------------------------------- checkpoints, keys


def test_checkpoints_every_n_records_and_at_close(
    open_trail: Callable[..., Any], home: Path, verify_ok: Any
) -> None:
    trail = open_trail(checkpoint_every=10)
    for i in range(35):
        assert trail.record("order.accepted", {"i": i}).wait(timeout=10) == i
    assert wait_until(lambda: {10, 20, 30} <= set(checkpoint_sizes(home)))
    assert 35 not in checkpoint_sizes(home)
    trail.close()
    sizes = checkpoint_sizes(home)
    assert {10, 20, 30, 35} <= set(sizes) <= {0, 10, 20, 30, 35}
    newest = home / "checkpoints" / str(max(sizes))
    assert (home / "checkpoint").read_bytes() == newest.read_bytes()
    assert_checkpoints_match_journal(home)
    verify_ok(home)


def test_count_checkpoints_are_spaced_in_time_at_high_rates(
    open_trail: Callable[..., Any], home: Path
) -> None:
    """checkpoint_every=10 with 1 s spacing: a burst of 500 records is not 50 signatures; the
    records in between are covered by the next checkpoint, and close signs the rest."""
    trail = open_trail(checkpoint_every=10, checkpoint_spacing=1.0)
    receipts = [trail.record("order.accepted", {"i": i}) for i in range(500)]
    receipts[-1].wait(timeout=10)
    during = trail.stats()["checkpoints"]
    assert during <= 3
    time.sleep(1.2)
    trail.record("order.accepted").wait(timeout=10)
    assert wait_until(lambda: trail.stats()["checkpoints"] > during)
    trail.close()
    assert max(checkpoint_sizes(home)) == 501


def test_checkpoint_on_time_interval(
    open_trail: Callable[..., Any], home: Path, clock: SimClock
) -> None:
    trail = open_trail(checkpoint_interval=5)
    trail.record("order.accepted").wait(timeout=10)
    trail.record("order.accepted").wait(timeout=10)
    clock.advance(6)
    assert wait_until(lambda: 2 in checkpoint_sizes(home), timeout=4)
    trail.close()


def test_explicit_checkpoint_method(open_trail: Callable[..., Any], home: Path) -> None:
    trail = open_trail()
    for i in range(7):
        trail.record("order.accepted", {"i": i})
    text = trail.checkpoint(timeout=10)
    verifier = Verifier.from_vkey((home / "trail.vkey").read_text().strip())
    cp = open_checkpoint(text, [verifier])
    assert cp.size == 7
    assert (home / "checkpoint").read_text() == text


def test_keys_vkey_and_private_key_placement(
    open_trail: Callable[..., Any], home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="tradetrail"):
        trail = open_trail(origin="trail.example.com/desk-1")
    trail.record("order.accepted").wait(timeout=10)
    trail.close()
    vkey = (home / "trail.vkey").read_text()
    assert vkey.endswith("\n") and vkey.count("\n") == 1
    verifier = Verifier.from_vkey(vkey.strip())
    assert verifier.name == "trail.example.com/desk-1"
    key_files = [p for p in home.rglob("*") if p.is_file() and "PRIVATE+KEY" in _text(p)]
    assert [p.relative_to(home) for p in key_files] == [Path("signing.key")]
    assert file_mode(home / "signing.key") == 0o600
    assert all(p.name.startswith("audit-") for p in (home / "journal").iterdir())
    assert "signing key" in caplog.text  # generating one beside the journal is warned about


def _text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def test_signing_key_from_environment_file(
    open_trail: Callable[..., Any], home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer = Signer.generate("trail.example.com/desk-9")
    key_file = tmp_path / "secrets" / "desk9.key"
    key_file.parent.mkdir()
    key_file.write_text(signer.skey() + "\n")
    key_file.chmod(0o600)
    monkeypatch.setenv("TRADETRAIL_SIGNING_KEY", str(key_file))
    trail = open_trail(origin="trail.example.com/desk-9")
    trail.record("order.accepted").wait(timeout=10)
    trail.close()
    assert not (home / "signing.key").exists()
    assert (home / "trail.vkey").read_text().strip() == signer.verifier().vkey()


# --------------------------------------------------------------------------- reopen


def _grow_to(trail: Any, target: int) -> None:
    start = trail.size
    receipts = [trail.record("order.accepted", {"n": n}) for n in range(start, target)]
    if receipts:
        assert receipts[-1].wait(timeout=60) == target - 1
        assert receipts[0].wait(timeout=1) == start


@pytest.mark.parametrize(
    "targets",
    [
        [1, 2, 255, 256, 257, 300, 511, 512, 513, 767, 768, 769, 1024, 1025],
        [256, 256, 257, 258, 512, 512, 1280],
    ],
    ids=["small-steps", "exact-boundaries"],
)
def test_reopen_cycles_around_tile_boundaries(
    open_trail: Callable[..., Any], home: Path, targets: list[int], verify_ok: Any
) -> None:
    total = 0
    for cycle, target in enumerate(targets):
        trail = open_trail(checkpoint_every=100_000)
        assert trail.size == total, f"cycle {cycle}"
        _grow_to(trail, target)
        trail.close()
        lines = journal_lines(home)
        assert len(lines) == target
        if 0 < total < target:  # the first record of this session chains to the last one
            assert orjson.loads(lines[total][1])["prev"] == leaf_hex(lines[total - 1][1])
        total = target
    trail = open_trail()
    assert trail.size == total
    assert trail.record("order.accepted").wait(timeout=10) == total
    trail.close()
    assert len(check_chain(home)) == total + 1
    assert_checkpoints_match_journal(home)
    verify_ok(home)


@pytest.mark.slow
def test_reopen_around_the_second_tile_level(
    open_trail: Callable[..., Any], home: Path, verify_ok: Any
) -> None:
    """256*256 leaves: the first full level-1 tile and the first level-2 entry."""
    for target in (65535, 65536, 65537, 65791, 65792, 65793):
        trail = open_trail(checkpoint_every=1_000_000, durability="write")
        _grow_to(trail, target)
        trail.close()
        trail = open_trail(checkpoint_every=1_000_000, durability="write")
        assert trail.size == target
        trail.close()
    assert (home / "tiles" / tile_path(1, 0)).is_file()
    assert (home / "tiles" / tile_path(2, 0, 1)).is_file()
    hashes = leaves(home)
    assert len(hashes) == 65793
    verifier = Verifier.from_vkey((home / "trail.vkey").read_text().strip())
    cp = open_checkpoint((home / "checkpoint").read_text(), [verifier])
    assert cp.size == 65793
    from tradetrail.core.merkle import Frontier

    frontier = Frontier()
    for h in hashes:
        frontier.append(h)
    assert cp.root == frontier.root()
    verify_ok(home)


def _tile_files(home: Path) -> dict[str, bytes]:
    root = home / "tiles"
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }


def test_deleted_tiles_are_rebuilt_at_open(
    open_trail: Callable[..., Any], home: Path, verify_ok: Any
) -> None:
    trail = open_trail()
    _grow_to(trail, 700)
    trail.close()
    before = _tile_files(home)
    assert tile_path(0, 2, 700 - 512) in before
    shutil.rmtree(home / "tiles")
    trail = open_trail()
    assert trail.size == 700
    assert trail.record("order.accepted").wait(timeout=10) == 700
    trail.close()
    after = _tile_files(home)
    for name, data in before.items():
        if ".p/" not in name:
            assert after.get(name) == data, name
    for level, index, width in tiles_for_size(701):
        assert tile_path(level, index, width) in after
    verify_ok(home)


def test_one_deleted_full_tile_is_rebuilt(
    open_trail: Callable[..., Any], home: Path, verify_ok: Any
) -> None:
    trail = open_trail()
    _grow_to(trail, 1000)
    trail.close()
    before = _tile_files(home)
    (home / "tiles" / tile_path(0, 1)).unlink()
    trail = open_trail()
    assert trail.record("order.accepted").wait(timeout=10) == 1000
    trail.close()
    assert _tile_files(home)[tile_path(0, 1)] == before[tile_path(0, 1)]
    verify_ok(home)


def test_deleted_tiles_rebuilt_even_without_new_records(
    open_trail: Callable[..., Any], home: Path, verify_ok: Any
) -> None:
    trail = open_trail()
    _grow_to(trail, 700)
    trail.close()
    shutil.rmtree(home / "tiles")
    trail = open_trail()
    trail.close()
    after = _tile_files(home)
    missing = [
        tile_path(lv, ix, w)
        for lv, ix, w in tiles_for_size(700)
        if tile_path(lv, ix, w) not in after
    ]
    assert not missing, f"tiles of the latest checkpoint missing: {missing}"
    verify_ok(home)


def _edit_line(path: Path, seq: int, old: bytes, new: bytes) -> None:
    lines = path.read_bytes().split(b"\n")
    assert old in lines[seq]
    lines[seq] = lines[seq].replace(old, new)
    path.chmod(0o644)
    path.write_bytes(b"\n".join(lines))


@pytest.mark.parametrize("where", ["middle", "last"])
def test_edited_history_refuses_open(
    open_trail: Callable[..., Any], home: Path, where: str
) -> None:
    trail = open_trail()
    for i in range(100):
        trail.record("order.accepted", {"qty": "1", "i": i})
    trail.close()
    seq = 50 if where == "middle" else 99
    _edit_line(home / "journal" / "audit-20240301.jsonl", seq, b'"qty":"1"', b'"qty":"9"')
    with pytest.raises(TrailCorruptError):
        open_trail()
    assert len(journal_lines(home)) == 100  # nothing was appended


def test_edited_history_with_rechained_tail_refuses_open_when_tiles_are_rebuilt(
    open_trail: Callable[..., Any], home: Path
) -> None:
    trail = open_trail()
    for i in range(600):
        trail.record("order.accepted", {"qty": "1", "i": i})
    trail.close()
    path = home / "journal" / "audit-20240301.jsonl"
    lines = path.read_bytes().split(b"\n")[:-1]
    rewritten = []
    prev = "0" * 64
    for line in lines:  # change record 10 and re-chain everything after it
        record = orjson.loads(line)
        if record["seq"] == 10:
            record["data"]["qty"] = "1000"
        record["prev"] = prev
        new = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
        rewritten.append(new)
        prev = leaf_hex(new)
    path.chmod(0o644)
    path.write_bytes(b"\n".join(rewritten) + b"\n")
    shutil.rmtree(home / "tiles")
    with pytest.raises(TrailCorruptError):
        open_trail()


def test_truncated_journal_refuses_open(open_trail: Callable[..., Any], home: Path) -> None:
    trail = open_trail()
    for i in range(40):
        trail.record("order.accepted", {"i": i})
    trail.close()
    path = home / "journal" / "audit-20240301.jsonl"
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join(lines[:30]) + b"\n")  # cut ten complete records
    with pytest.raises(TrailCorruptError, match="40"):
        open_trail()


def test_origin_mismatch_is_a_config_error(open_trail: Callable[..., Any], home: Path) -> None:
    trail = open_trail(origin="trail.example.com/desk-1")
    trail.record("order.accepted").wait(timeout=10)
    trail.close()
    with pytest.raises(ConfigError, match="desk-2"):
        open_trail(origin="trail.example.com/desk-2")
    again = open_trail(origin="trail.example.com/desk-1")  # the lock was released
    assert again.size == 1
    again.close()
    again = open_trail()  # no origin given: the trail's own
    assert again.origin == "trail.example.com/desk-1"


def test_other_signing_key_is_a_config_error(open_trail: Callable[..., Any], home: Path) -> None:
    trail = open_trail(origin="trail.example.com/desk-1")
    trail.record("order.accepted").wait(timeout=10)
    trail.close()
    other = Signer.generate("trail.example.com/desk-1")
    with pytest.raises(ConfigError, match="key"):
        open_trail(signing_key=other.skey())
    trail = open_trail()
    assert trail.record("order.accepted").wait(timeout=10) == 1


# --------------------------------------------------------------------------- lock and fork


@pytest.mark.embedded
def test_second_open_in_same_process_is_locked(open_trail: Callable[..., Any], home: Path) -> None:
    trail = open_trail()
    with pytest.raises(TrailLockedError) as info:
        tradetrail.open(home, min_free_bytes=0)
    assert info.value.pid == os.getpid()
    assert str(os.getpid()) in str(info.value)
    assert trail.record("order.accepted").wait(timeout=10) == 0


@pytest.mark.embedded
def test_fork_child_cannot_use_the_parents_writer(
    open_trail: Callable[..., Any], home: Path, tmp_path: Path, verify_ok: Any
) -> None:
    trail = open_trail()
    for i in range(10):
        trail.record("order.accepted", {"i": i})
    assert trail.flush(timeout=10)
    child_home = tmp_path / "child-trail"
    report_r, report_w = os.pipe()
    parent_pid = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child: report by exit code and a line on the pipe, never return
        code, notes = 0, []
        try:
            try:
                trail.record("order.accepted", {"from": "child"})
                code, notes = 10, ["record() in the child did not raise"]
            except TrailClosedError as exc:
                text = str(exc)
                if str(parent_pid) not in text or "fork" not in text:
                    code, notes = 11, [f"unclear message: {text}"]
            except BaseException as exc:
                code, notes = 12, [f"record() raised {exc!r}"]
            try:
                tradetrail.open(home, min_free_bytes=0)
                code, notes = code or 20, [*notes, "open() of the parent's home succeeded"]
            except TrailLockedError as exc:
                if exc.pid != parent_pid:
                    code, notes = code or 21, [*notes, f"lock names pid {exc.pid}"]
            except BaseException as exc:
                code, notes = code or 22, [*notes, f"open() raised {exc!r}"]
            try:
                with tradetrail.open(child_home, min_free_bytes=0) as own:
                    own.record("order.accepted", {"from": "child"}).wait(timeout=10)
            except BaseException as exc:
                code, notes = code or 30, [*notes, f"own trail failed: {exc!r}"]
            os.write(report_w, ("; ".join(notes) + "\n").encode())
        finally:
            os._exit(code)
    os.close(report_w)
    for i in range(10, 20):
        trail.record("order.accepted", {"i": i})
    _, status = os.waitpid(pid, 0)
    with os.fdopen(report_r) as fh:
        notes = fh.read().strip()
    assert os.waitstatus_to_exitcode(status) == 0, notes
    for i in range(20, 30):
        trail.record("order.accepted", {"i": i})
    trail.close()
    records = check_chain(home)
    assert [r["data"]["i"] for r in records] == list(range(30))
    assert all(r["source"]["pid"] == parent_pid for r in records)
    verify_ok(home)
    verify_ok(child_home)


# --------------------------------------------------------------------------- concurrency


@pytest.mark.slow
def test_many_threads_record_at_once(
    open_trail: Callable[..., Any], home: Path, verify_ok: Any
) -> None:
    threads_n, per_thread = 8, 2000
    trail = open_trail()
    start = threading.Barrier(threads_n)
    results: dict[int, list[Any]] = {}
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            start.wait()
            receipts = [
                trail.record("order.accepted", {"t": t, "n": n}, account=f"acc-{t}")
                for n in range(per_thread)
            ]
            for r in receipts:
                r.wait(timeout=60)
            results[t] = receipts
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=worker, args=(t,)) for t in range(threads_n)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert not errors, errors
    receipts = [r for t in range(threads_n) for r in results[t]]
    assert sorted(r.seq for r in receipts) == list(range(threads_n * per_thread))
    trail.close()
    records = check_chain(home)
    assert len(records) == threads_n * per_thread
    by_seq = {r["seq"]: r for r in records}
    for r in receipts:
        assert by_seq[r.seq]["event_id"] == r.event_id
    assert max(ids_in_journal(home).values()) == 1
    for t in range(threads_n):  # each thread's records keep their order
        ns = [r["data"]["n"] for r in records if r["data"]["t"] == t]
        assert ns == list(range(per_thread))
    verify_ok(home)


# --------------------------------------------------------------------------- spill


def test_full_queue_spills_and_merges_exactly_once(
    open_trail: Callable[..., Any],
    home: Path,
    caplog: pytest.LogCaptureFixture,
    verify_ok: Any,
) -> None:
    trail = open_trail(queue_size=1)
    with caplog.at_level(logging.WARNING, logger="tradetrail"):
        receipts = [trail.record("order.accepted", {"n": n}) for n in range(3000)]
        spilled_now = trail.stats()["spilled"]
        assert spilled_now > 0
        assert trail.flush(timeout=30) is True
    assert any("queue full" in r.getMessage() and r.name == "tradetrail" for r in caplog.records)
    for r in receipts:
        r.wait(timeout=10)
    stats = trail.stats()
    assert stats["spill_pending"] == 0
    assert stats["merged"] == stats["spilled"]
    trail.close()
    records = check_chain(home)
    counts = ids_in_journal(home)
    assert len(records) == 3000
    assert set(counts) == {r.event_id for r in receipts}
    assert max(counts.values()) == 1
    spilled = [r for r in records if "spill" in r]
    assert len(spilled) == stats["spilled"]
    for record in spilled:
        assert record["spill"]["reason"] == "queue full"
        assert TS_PATTERN.match(record["spill"]["at"])
    for r in receipts:
        assert records[r.seq]["event_id"] == r.event_id
    assert not list((home / "spill").glob("spill-*"))
    verify_ok(home)


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EIO])
def test_failing_disk_spills_then_recovers(
    open_trail: Callable[..., Any],
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    verify_ok: Any,
    err: int,
) -> None:
    trail = open_trail()
    fault = JournalFault(monkeypatch, err)
    ok = [trail.record("order.accepted", {"n": n}) for n in range(5)]
    ok[-1].wait(timeout=10)
    fault.active = True
    with caplog.at_level(logging.WARNING, logger="tradetrail"):
        first = trail.record("order.accepted", {"n": 5})  # alone: the batch that fails
        assert wait_until(lambda: first.spilled, timeout=5)
        burst = [trail.record("order.accepted", {"n": n}) for n in range(6, 60)]
        assert wait_until(lambda: all(r.spilled for r in burst), timeout=5)
        stats = trail.stats()
        assert stats["degraded"] is not None
        assert errno.errorcode[err] in stats["degraded"]
        assert stats["write_errors"] >= 1
        assert stats["spill_pending"] == 55
        with pytest.raises(TimeoutError):
            burst[0].wait(timeout=0.05)
        assert trail.flush(timeout=5) is False  # honest: some records wait in the spill
        fault.active = False
        seqs = [r.wait(timeout=15) for r in [first, *burst]]
    assert sorted(seqs) == list(range(5, 60))
    assert any(r.levelno >= logging.ERROR for r in caplog.records if r.name == "tradetrail")
    assert wait_until(lambda: trail.stats()["degraded"] is None, timeout=5), trail.stats()
    assert trail.stats()["spill_pending"] == 0
    trail.close()
    records = check_chain(home)
    assert sorted(r["data"]["n"] for r in records) == list(range(60))
    assert max(ids_in_journal(home).values()) == 1
    spilled = [r for r in records if "spill" in r]
    assert len(spilled) == 55
    assert all(errno.errorcode[err] in r["spill"]["reason"] for r in spilled)
    verify_ok(home)


def test_failing_disk_loses_nothing_of_a_batch(
    open_trail: Callable[..., Any], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = GateClock()
    trail = open_trail(clock=clock, checkpoint_interval=0.05)
    fault = JournalFault(monkeypatch, errno.ENOSPC)
    clock.hold_writer()
    receipts = [trail.record("order.accepted", {"n": n}) for n in range(10)]
    fault.active = True
    clock.release_writer()  # the ten records form one batch, and its write fails
    assert wait_until(lambda: trail.stats()["write_errors"] >= 1, timeout=5)
    assert wait_until(lambda: fault.hits > 0)
    wait_until(lambda: all(r.spilled or r.journaled for r in receipts), timeout=3)
    lost = [r for r in receipts if not (r.spilled or r.journaled)]
    fault.active = False
    assert not lost, f"{len(lost)} of 10 receipts neither spilled nor journaled"
    assert sorted(r.wait(timeout=10) for r in receipts) == list(range(10))
    trail.close()
    assert Counter(r["data"]["n"] for r in check_chain(home)) == Counter(range(10))


def test_spill_file_left_after_its_merge_is_not_journaled_twice(
    open_trail: Callable[..., Any], home: Path, monkeypatch: pytest.MonkeyPatch, verify_ok: Any
) -> None:
    """A crash between merging a spill file and deleting it leaves the file behind: the next
    open must skip the event ids that are already journaled."""
    trail = open_trail()
    fault = JournalFault(monkeypatch, errno.EIO)
    fault.active = True
    first = trail.record("order.accepted", {"n": 0})
    assert wait_until(lambda: first.spilled, timeout=5)
    receipts = [first, *(trail.record("order.accepted", {"n": n}) for n in range(1, 20))]
    assert wait_until(lambda: all(r.spilled for r in receipts), timeout=5)
    trail.spill.sync()
    copies = {p.name: p.read_bytes() for p in (home / "spill").glob("spill-*")}
    assert copies
    fault.active = False
    for r in receipts:
        r.wait(timeout=15)
    trail.close()
    for name, data in copies.items():  # as if the process died before unlinking them
        (home / "spill" / name).write_bytes(data)
    trail = open_trail()
    assert trail.stats()["merged"] == 0
    assert trail.size == 20
    trail.close()
    assert max(ids_in_journal(home).values()) == 1
    assert not list((home / "spill").glob("spill-*"))
    verify_ok(home)


class HiccupClock(GateClock):
    """Raises once, on the writer thread's `fail_on`-th reading after `arm()`."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_on: int | None = None
        self.calls = 0

    def arm(self, fail_on: int) -> None:
        self.calls, self.fail_on = 0, fail_on

    def __call__(self) -> int:
        now = super().__call__()
        if self.fail_on is not None and threading.current_thread().name == WRITER_THREAD_NAME:
            self.calls += 1
            if self.calls == self.fail_on:
                self.fail_on = None
                raise RuntimeError("clock hiccup")
        return now


def test_internal_error_mid_batch_keeps_the_tree_consistent(
    open_trail: Callable[..., Any], home: Path, verify_ok: Any
) -> None:
    clock = HiccupClock()
    trail = open_trail(clock=clock, checkpoint_interval=0.05)
    trail.record("order.accepted", {"n": -1}).wait(timeout=10)
    clock.hold_writer()
    receipts = [trail.record("order.accepted", {"n": n}) for n in range(10)]
    clock.arm(fail_on=5)  # the writer's 1st reading finishes its tick; the 5th is mid-batch
    clock.release_writer()
    for r in receipts:
        r.wait(timeout=10)  # spilled by the error handler, then merged
    trail.record("order.accepted", {"n": 10}).wait(timeout=10)
    trail.close()
    assert len(check_chain(home)) == 12
    assert_checkpoints_match_journal(home)
    open_trail().close()
    verify_ok(home)


def test_close_journals_everything_queued(open_trail: Callable[..., Any], home: Path) -> None:
    trail = open_trail()
    receipts = [trail.record("order.accepted", {"n": n}) for n in range(5000)]
    trail.close()
    assert all(r.journaled for r in receipts)
    assert [r["data"]["n"] for r in check_chain(home)] == list(range(5000))


def test_spilled_receipt_is_not_acknowledged_and_is_merged_at_next_open(
    open_trail: Callable[..., Any], home: Path, monkeypatch: pytest.MonkeyPatch, verify_ok: Any
) -> None:
    trail = open_trail()
    trail.record("order.accepted", {"n": 0}).wait(timeout=10)
    fault = JournalFault(monkeypatch, errno.ENOSPC)
    fault.active = True
    spilled = trail.record("order.accepted", {"n": 1})
    assert wait_until(lambda: spilled.spilled, timeout=5)
    trail.close()  # the disk still fails: the event stays in the spill file
    assert not spilled.journaled
    with pytest.raises(TrailClosedError, match=spilled.event_id):
        spilled.wait(timeout=1)
    assert len(journal_lines(home)) == 1
    fault.active = False
    trail = open_trail()
    assert trail.size == 2
    assert trail.stats()["merged"] == 1
    trail.close()
    records = check_chain(home)
    assert records[1]["event_id"] == spilled.event_id
    assert "ENOSPC" in records[1]["spill"]["reason"]
    verify_ok(home)


def test_stderr_is_the_last_resort_when_the_spill_directory_fails(
    open_trail: Callable[..., Any], home: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    clock = GateClock()
    trail = open_trail(
        clock=clock, queue_size=1, spill_dir=blocker / "spill", checkpoint_interval=0.05
    )
    clock.hold_writer()  # no merge runs during the burst (see the test below for that race)
    try:
        receipts = [trail.record("order.accepted", {"n": n}) for n in range(200)]
    finally:
        clock.release_writer()
    stats = trail.stats()
    assert stats["stderr_spilled"] == 199
    assert "ENOTDIR" in stats["last_error"]
    assert trail.flush(timeout=30) is True
    trail.close()
    err = capfd.readouterr().err
    assert err.count("tradetrail-spill ") == 199
    assert all(r.journaled for r in receipts)
    counts = ids_in_journal(home)
    assert set(counts) == {r.event_id for r in receipts} and max(counts.values()) == 1


def test_held_event_is_not_lost_to_a_concurrent_merge(
    open_trail: Callable[..., Any],
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    clock = GateClock()
    trail = open_trail(
        clock=clock, queue_size=1, spill_dir=blocker / "spill", checkpoint_interval=0.05
    )
    clock.hold_writer()
    trail.record("order.accepted", {"n": 0})  # fills the queue
    trail.record("order.accepted", {"n": 1})  # queue full, spill dir broken: held in memory
    assert trail.stats()["stderr_spilled"] == 1
    # Interleave deterministically: while the caller is inside the spill path of the next
    # record, let the writer run and merge what is held.
    real_loads = orjson.loads
    caller = threading.current_thread()
    armed = [True]

    def loads(data: Any) -> Any:
        frame = sys._getframe(1)  # the generator that fills the held list, in writer/merge.py
        in_held_fill = frame.f_code.co_name in (
            "<genexpr>",
            "<listcomp>",
        ) and frame.f_code.co_filename.endswith("merge.py")
        if armed[0] and in_held_fill and threading.current_thread() is caller:
            armed[0] = False
            clock.release_writer()
            wait_until(lambda: trail.stats()["merged"] >= 1, timeout=1)
        return real_loads(data)

    monkeypatch.setattr(orjson, "loads", loads)
    late = trail.record("order.accepted", {"n": 2})
    clock.release_writer()
    monkeypatch.setattr(orjson, "loads", real_loads)
    assert not armed[0], "the interleaving hook never ran: adapt it to the spill path"
    assert trail.flush(timeout=5) is True
    assert late.wait(timeout=5) >= 0


def test_tmpfs_home_is_warned_about(caplog: pytest.LogCaptureFixture, clock: SimClock) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK):
        pytest.skip("no writable /dev/shm")
    home = shm / f"tradetrail-test-{uuid.uuid4().hex}"
    try:
        with caplog.at_level(logging.WARNING, logger="tradetrail"):
            tradetrail.open(home, clock=clock, min_free_bytes=0).close()
        assert "tmpfs" in caplog.text
    finally:
        shutil.rmtree(home, ignore_errors=True)


# --------------------------------------------------------------------------- RFC 8785 lines

_FLOATS = {"px": 1e16, "r": 0.1, "neg": -0.0, "tiny": 1e-7, "\ufb33": 1, "\U0001f600": 2}


def test_floats_are_journaled_as_rfc8785_also_after_a_spill(
    open_trail: Callable[..., Any], home: Path, verify_ok: Any
) -> None:
    """Floats and keys whose UTF-16 order differs from code point order are written as RFC 8785
    prints them, whether journaled at once or merged back from the spill file."""
    import jcs

    trail = open_trail(queue_size=1)
    receipts = [trail.record("fill.executed", {**_FLOATS, "n": n}) for n in range(2000)]
    assert trail.stats()["spilled"] > 0
    assert trail.flush(timeout=30) is True
    for r in receipts:
        r.wait(timeout=10)
    trail.close()
    lines = [line for _, line in journal_lines(home) if b'"fill.executed"' in line]
    assert len(lines) == 2000
    assert any(b'"spill":' in line for line in lines)
    for line in lines:
        assert jcs.canonicalize(orjson.loads(line)) == line
        assert b'"neg":0,"px":10000000000000000,"r":0.1,"tiny":1e-7' in line
        assert '"\U0001f600":2,"\ufb33":1'.encode() in line
    verify_ok(home)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"event_ts": 10**30}, r"^event_ts: "),
        ({"event_ts": datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))}, r"^event_ts: "),
        ({"event_ts": 253_402_300_800 * 10**9}, r"^event_ts: .*9999"),
        ({"order_id": 10**5000}, r"^order_id: "),
        ({"data": {"price": Decimal("1E+999999999")}}, r"^data\.price: "),
        ({"data": {"latency_us": 10**5000}}, r"^data\.latency_us: "),
        ({"data": {"k\ud800": 1}}, r"^data: key 'k\\ud800'"),
    ],
)
@pytest.mark.parametrize("strict", [False, True])
def test_record_refuses_out_of_contract_input_naming_the_field(
    open_trail: Callable[..., Any], fields: dict[str, Any], message: str, strict: bool
) -> None:
    trail = open_trail(strict=strict)
    fields = dict(fields)  # shared by the parametrized runs
    data = fields.pop("data", None)
    with pytest.raises((ValueError, TypeError), match=message):
        trail.record("order.accepted", data, **fields)
    if not strict:
        with pytest.raises((ValueError, TypeError), match=message):
            trail.record("desk.note", data, **fields)  # an untyped event
    trail.close()
