"""The remote client (`tradetrail.open("http://...", token=...)`) against a real
`tradetrail serve --listen` process: every event recorded is journaled exactly once through a
service killed with kill -9, a network cut, a client killed with kill -9, and a storm of
duplicate deliveries; secrets never reach the spool; a refused event is kept, never lost."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

import tradetrail
from secret_corpus import AWS_SECRET, JWT, STRIPE_LIVE
from service_server import Service, child_env, free_port, running, token
from tradetrail.core import layout
from tradetrail.core.canonical import prepare
from tradetrail.errors import ConfigError, TrailClosedError
from tradetrail.model.redact import DEFAULT_REDACTOR
from tradetrail.writer.remote import REJECTED_FILE, EventRejectedError, RemoteTrail, wire_line


def journal(home: Path) -> list[dict[str, Any]]:
    return [
        orjson.loads(line)
        for path in sorted((home / layout.JOURNAL_DIR).glob("audit-*.jsonl"))
        for line in path.read_bytes().splitlines()
    ]


def seqs_by_id(home: Path) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for record in journal(home):
        found.setdefault(record["event_id"], []).append(record["seq"])
    return found


def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def spool_bytes(spool: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(spool.glob("*.ndjson")))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "trail"
    tradetrail.open(home, writer="embedded", serve=False).close()
    return home


# --------------------------------------------------------------------- without a service


def test_the_wire_line_is_the_record_without_the_writer_fields_and_marks() -> None:
    event = prepare(
        "order.accepted",
        {"px": 0.1, "big": 2**60, "note": f"Bearer {JWT}", "qty": "1.5"},
        {"order_id": "O-1", "priority": "high"},
        None,
        1 << 20,
        redactor=DEFAULT_REDACTOR,
    )
    assert event.redacted == ["data.note"]
    line = wire_line(event)
    fields = event.fields()
    del fields["redacted"]  # the service sets it (and refuses it from a sender)
    assert orjson.loads(line) == fields
    assert b'"px":0.1' in line and b'"big":"1152921504606846976"' in line  # exact, as prepared
    assert JWT.encode() not in line


def test_open_refuses_a_clear_text_token_a_missing_token_and_local_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRADETRAIL_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=r"^token: .*TRADETRAIL_TOKEN"):
        tradetrail.open("https://127.0.0.1:1", spool=tmp_path / "s")
    with pytest.raises(ConfigError, match=r"^url: .*not loopback; use https://"):
        tradetrail.open("http://example.com:8080", token="tt_x", spool=tmp_path / "s")
    with pytest.raises(ConfigError, match=r"^clock: set by the service"):
        tradetrail.open("https://h:1", token="t", clock=lambda: 0, spool=tmp_path / "s")
    with pytest.raises(ConfigError, match=r"^queue_size: not an option of a remote trail"):
        tradetrail.open("https://h:1", token="t", queue_size=3, spool=tmp_path / "s")
    with pytest.raises(ConfigError, match=r"^token: only for a remote trail"):
        tradetrail.open(tmp_path / "t", token="t")


def test_a_missing_httpx_names_the_extra_to_install(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['httpx'] = None\n"
        "import tradetrail\n"
        "try:\n"
        f"    tradetrail.open('https://127.0.0.1:1', token='t', spool={str(tmp_path)!r})\n"
        "except tradetrail.errors.MissingExtraError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, timeout=60
    )
    assert "pip install 'tradetrail[client]'" in out.stdout, out.stderr


def test_events_wait_in_the_fsynced_spool_redacted_while_no_service_answers(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool"
    url = f"http://127.0.0.1:{free_port()}"
    trail = tradetrail.open(url, token="tt_none", spool=spool)
    receipt = trail.record(
        "auth.login",
        {"password": "hunter2-very-secret", "note": f"key {STRIPE_LIVE}"},
        context={"header": f"Authorization: Bearer {JWT}", "aws_secret_access_key": AWS_SECRET},
    )
    until(lambda: trail.stats()["spooled"] == 1 and trail.stats()["retries"] > 0)
    stats = trail.stats()
    assert "cannot reach" in stats["last_error"] and stats["pending"] == 1
    with pytest.raises(TimeoutError, match="still spooled"):
        receipt.wait(0.1)
    assert not trail.flush(0.1)
    started = time.monotonic()
    trail.close()  # everything is spooled: no need to wait for a service that is away
    assert time.monotonic() - started < 5
    with pytest.raises(TrailClosedError, match="still in the spool"):
        receipt.wait(1)
    data = spool_bytes(spool)
    assert receipt.event_id is not None and receipt.event_id.encode() in data
    for secret in ("hunter2-very-secret", STRIPE_LIVE, JWT, AWS_SECRET):
        assert secret.encode() not in data
    assert b"[REDACTED]" in data


# --------------------------------------------------------------------- through a service


@pytest.mark.slow
def test_a_thousand_receipts_match_the_journal_exactly_once(home: Path, tmp_path: Path) -> None:
    secret = token(home, "ingest", "read")
    with running(home) as service:
        with tradetrail.open(service.url, token=secret, spool=tmp_path / "spool") as trail:
            receipts = [
                trail.record("order.accepted", {"price": "1.5"}, order_id=f"O-{i}")
                for i in range(1000)
            ]
            assert trail.flush(60)
            found = trail.search(order_id="O-7")
            stats = trail.stats()
            for _ in range(50):  # flush() never misses an event on its way to the spool
                one = trail.record("order.accepted", {"price": "1"})
                assert trail.flush(10) and one.journaled
        assert [r["order_id"] for r in found] == ["O-7"]
    assert stats["acknowledged"] == 1000 and stats["rejected"] == 0 and stats["pending"] == 0
    assert stats["spool_bytes"] == 0  # answered events leave the spool at once
    by_id = seqs_by_id(home)
    for receipt in receipts:
        assert by_id[str(receipt.event_id)] == [receipt.wait(0)]
    records = {r["seq"]: r for r in journal(home)}
    assert records[receipts[7].wait(0)]["order_id"] == "O-7"

    async def awaited() -> int:
        return await receipts[9]

    assert asyncio.run(awaited()) == receipts[9].seq
    assert list((tmp_path / "spool").glob("*.ndjson")) == []  # acknowledged: nothing left
    assert tradetrail.verify(home).ok


def _record_in_background(
    trail: tradetrail.Trail, count: int, pace: float
) -> tuple[list[Any], threading.Thread]:
    receipts: list[Any] = []

    def run() -> None:
        for i in range(count):
            receipts.append(trail.record("order.accepted", {"n": i}, order_id=f"O-{i}"))
            time.sleep(pace)

    thread = threading.Thread(target=run)
    thread.start()
    return receipts, thread


@pytest.mark.slow
def test_a_service_killed_mid_stream_and_restarted_journals_every_event_once(
    home: Path, tmp_path: Path
) -> None:
    secret = token(home, "ingest")
    service = Service(home).start()
    try:
        trail = tradetrail.open(service.url, token=secret, spool=tmp_path / "spool")
        receipts, thread = _record_in_background(trail, 1500, 0.001)
        until(lambda: trail.stats()["acknowledged"] > 300)
        service.kill()  # kill -9, with batches in flight
        time.sleep(0.5)
        service = Service(home, service.port).start()
        thread.join()
        assert trail.flush(90), trail.stats()
        assert trail.stats()["retries"] > 0  # the kill was felt
        trail.close()
    finally:
        service.stop()
    by_id = seqs_by_id(home)
    assert all(by_id[str(r.event_id)] == [r.wait(0)] for r in receipts)
    assert len(by_id) == len(journal(home))  # nothing journaled twice
    assert tradetrail.verify(home).ok


@pytest.mark.slow
def test_a_network_cut_then_the_service_back_delivers_everything(
    home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = token(home, "ingest")
    service = Service(home).start()
    try:
        with tradetrail.open(service.url, token=secret, spool=tmp_path / "spool") as trail:
            first = [trail.record("order.accepted", {"n": i}) for i in range(100)]
            assert trail.flush(30)
            service.stop()
            with caplog.at_level(logging.WARNING, "tradetrail"):
                during = [trail.record("order.accepted", {"n": i}) for i in range(300)]
                until(lambda: trail.stats()["retries"] >= 3)
            assert "cannot reach" in trail.stats()["last_error"]
            assert any("cannot reach" in r.getMessage() for r in caplog.records)
            assert trail.stats()["spooled"] == 400  # safe on disk meanwhile
            time.sleep(2)
            service.start()
            assert trail.flush(60), trail.stats()
            assert trail.stats()["last_error"] is None
    finally:
        service.stop()
    by_id = seqs_by_id(home)
    assert all(by_id[str(r.event_id)] == [r.wait(0)] for r in first + during)
    assert len(by_id) == len(journal(home))


CHILD = """
import json, sys, time
import tradetrail
url, secret, spool, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
trail = tradetrail.open(url, token=secret, spool=spool)
first = [trail.record("order.accepted", {"n": i}) for i in range(count)]
print(json.dumps({"flushed": trail.flush(60)}), flush=True)
sys.stdin.readline()  # the test cuts the service off meanwhile
late = [trail.record("order.filled", {"n": i, "api_key": "sk-child-SECRET"}) for i in range(count)]
while trail.stats()["spooled"] < 2 * count:
    time.sleep(0.01)
print(json.dumps({"ids": [r.event_id for r in first + late]}), flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_a_client_killed_after_spooling_is_resent_by_the_next_exactly_once(
    home: Path, tmp_path: Path
) -> None:
    secret = token(home, "ingest")
    spool = tmp_path / "spool"
    service = Service(home).start()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, service.url, secret, str(spool), "200"],
            env=child_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdin is not None and proc.stdout is not None
        assert orjson.loads(proc.stdout.readline())["flushed"]  # the first 200 acknowledged
        service.stop()  # the next 200 cannot leave the client
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out = orjson.loads(proc.stdout.readline())
        os.kill(proc.pid, signal.SIGKILL)  # after record() returned and the spool is fsynced
        proc.wait(30)
        assert b"sk-child-SECRET" not in spool_bytes(spool)
        service.start()
        with tradetrail.open(service.url, token=secret, spool=spool) as trail:
            assert trail.stats()["recovered"] >= 200
            assert trail.flush(60), trail.stats()
            assert trail.stats()["duplicates"] == trail.stats()["recovered"] - 200
    finally:
        service.stop()
    by_id = seqs_by_id(home)
    assert all(len(by_id.get(ident, [])) == 1 for ident in out["ids"]), "not exactly once"
    assert len(by_id) == len(journal(home))
    assert list(spool.glob("*.ndjson")) == []
    assert tradetrail.verify(home).ok


@pytest.mark.slow
def test_a_duplicate_delivery_storm_journals_each_event_once(home: Path, tmp_path: Path) -> None:
    """The spool of a killed client replayed by five clients at once (copies of it), and once
    more after: the service journals each event once and answers the others as duplicates."""
    secret = token(home, "ingest")
    spool = tmp_path / "spool"
    dead = RemoteTrail(f"http://127.0.0.1:{free_port()}", secret, spool=spool)
    receipts = [dead.record("order.accepted", {"n": i}) for i in range(300)]
    until(lambda: dead.stats()["spooled"] == 300)
    dead._stop = True  # as if killed: its spool stays as it is
    dead._wake.set()
    dead._thread.join(10)
    dead.spool.close()
    copies = [tmp_path / f"copy-{i}" for i in range(5)]
    for copy in copies:
        shutil.copytree(spool, copy)
    with running(home) as service:
        clients = [RemoteTrail(service.url, secret, spool=copy) for copy in copies]
        assert all(c.flush(90) for c in clients), [c.stats() for c in clients]
        stats = [c.stats() for c in clients]
        for c in clients:
            c.close()
        again = RemoteTrail(service.url, secret, spool=spool)  # the original, a sixth time
        assert again.flush(60)
        again.close()
    assert sum(s["acknowledged"] for s in stats) == 5 * 300
    assert sum(s["duplicates"] for s in stats) >= 4 * 300
    assert again.stats()["duplicates"] == 300
    ids = [r["event_id"] for r in journal(home)]
    assert Counter(ids).most_common(1)[0][1] == 1
    assert {str(r.event_id) for r in receipts} <= set(ids)


@pytest.mark.slow
def test_a_bad_token_is_reported_and_the_events_stay_spooled(
    home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = token(home, "ingest")
    spool = tmp_path / "spool"
    with running(home) as service:
        with caplog.at_level(logging.ERROR, "tradetrail"):
            trail = tradetrail.open(service.url, token="tt_not-a-token", spool=spool)
            receipt = trail.record("order.accepted", {"n": 1})
            until(lambda: trail.stats()["auth_errors"] > 0)
        stats = trail.stats()
        assert stats["last_error"].startswith("401") and "check the token" in stats["last_error"]
        assert stats["degraded"] and stats["pending"] == 1
        assert any("401" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
        assert "tt_not-a-token" not in caplog.text
        trail.close(timeout=0.5)
        assert str(receipt.event_id).encode() in spool_bytes(spool)
        with tradetrail.open(service.url, token=secret, spool=spool) as fixed:
            assert fixed.flush(30)
    assert str(receipt.event_id) in seqs_by_id(home)


@pytest.mark.slow
def test_events_the_service_refuses_are_kept_beside_the_spool_and_the_rest_journaled(
    home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A 422 (here: a token limited to order.* events) refuses the whole batch; the client
    resends the good events and keeps the bad one in rejected.ndjson with the reason."""
    secret = token(home, "ingest", type_prefix="order.")
    spool = tmp_path / "spool"
    with (
        running(home) as service,
        tradetrail.open(service.url, token=secret, spool=spool, batch_size=50) as trail,
    ):
        with caplog.at_level(logging.ERROR, "tradetrail"):
            good = [trail.record("order.accepted", {"n": i}) for i in range(20)]
            bad = trail.record("risk.rejected", {"reason": "limit"})
            good += [trail.record("order.filled", {"n": i}) for i in range(20)]
            assert not trail.flush(30)  # one event was refused
        assert trail.stats()["rejected"] == 1
        assert all(isinstance(r.wait(5), int) for r in good)
        with pytest.raises(EventRejectedError, match="may only send order"):
            bad.wait(1)
        assert trail.flush(5)  # nothing refused since
    kept = [orjson.loads(line) for line in (spool / REJECTED_FILE).read_bytes().splitlines()]
    assert len(kept) == 1 and "may only send order." in kept[0]["reason"]
    assert orjson.loads(kept[0]["line"])["event_id"] == bad.event_id
    assert any("refused event" in r.getMessage() for r in caplog.records)
    by_id = seqs_by_id(home)
    assert all(by_id[str(r.event_id)] == [r.wait(0)] for r in good)
    assert str(bad.event_id) not in by_id


# --------------------------------------------------------------------- bounded memory


def test_the_memory_bounds_are_checked_by_name(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ConfigError, match=r"^memory_max_events: 100 is below batch_size \(500\)"):
        tradetrail.open(url, token="t", spool=tmp_path / "s", memory_max_events=100)
    with pytest.raises(ConfigError, match=r"^memory_max_bytes: 0 is not a positive size"):
        tradetrail.open(url, token="t", spool=tmp_path / "s", memory_max_bytes=0)


def test_an_outage_keeps_at_most_memory_max_bytes_of_lines_in_memory(tmp_path: Path) -> None:
    trail = tradetrail.open(
        f"http://127.0.0.1:{free_port()}",
        token="tt_none",
        spool=tmp_path / "spool",
        memory_max_bytes=10_000,
    )
    try:
        for i in range(2000):
            trail.record("order.accepted", {"n": i, "pad": "x" * 100})
        until(lambda: trail.stats()["spooled"] == 2000)
        stats = trail.stats()
        assert 0 < stats["in_memory_bytes"] <= 10_000 and stats["in_memory"] < 100
        assert stats["in_memory"] + stats["spool_only"] == stats["pending"] == 2000
    finally:
        trail.close()


@pytest.mark.slow
def test_a_long_outage_costs_spool_not_memory_and_every_receipt_resolves(
    home: Path, tmp_path: Path
) -> None:
    """20,000 events with room for 1,000 in memory: the rest wait in the spool only, are read
    back in order once the service is back, and every receipt gets its own seq."""
    secret = token(home, "ingest")
    service = Service(home)  # not started yet: the network is down
    trail = tradetrail.open(
        service.url, token=secret, spool=tmp_path / "spool", memory_max_events=1000
    )
    try:
        receipts = []
        for i in range(20_000):
            receipts.append(trail.record("order.accepted", {"n": i}, order_id=f"O-{i}"))
            if i % 1000 == 0:
                assert not trail.flush(0)  # a flush mark between events (see Run)
        until(lambda: trail.stats()["spooled"] == 20_000, 60)
        stats = trail.stats()
        assert stats["in_memory"] <= 1000 and stats["in_memory_peak"] <= 1000
        assert stats["spool_only"] >= 19_000 and stats["pending"] == 20_000
        assert len(trail._unacked) <= 1000 and len(trail._runs) <= 10  # no object per event
        service.start()
        assert trail.flush(120), trail.stats()
        stats = trail.stats()
        trail.close()
    finally:
        service.stop()
    assert stats["acknowledged"] == 20_000 and stats["pending"] == stats["in_memory"] == 0
    assert stats["in_memory_peak"] <= 1000 and stats["duplicates"] == 0
    by_id = seqs_by_id(home)
    seqs = [r.wait(0) for r in receipts]
    assert all(by_id[str(r.event_id)] == [seq] for r, seq in zip(receipts, seqs, strict=True))
    assert seqs == sorted(seqs)  # journaled in the order recorded
    assert len(by_id) == len(journal(home))  # nothing journaled twice
    assert list((tmp_path / "spool").glob("*.ndjson")) == []
    assert tradetrail.verify(home).ok


@pytest.mark.slow
def test_with_both_the_spool_and_memory_full_no_event_is_dropped_or_reordered(
    home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The spool takes a few hundred events, memory 100: the others are kept in memory beyond
    the bound (counted in not_spooled, logged), and sent in their turn."""
    secret = token(home, "ingest")
    service = Service(home)
    with caplog.at_level(logging.ERROR, "tradetrail"):
        trail = tradetrail.open(
            service.url,
            token=secret,
            spool=tmp_path / "spool",
            spool_max_bytes=60_000,
            memory_max_events=100,
            batch_size=50,
        )
        try:
            receipts = [trail.record("order.accepted", {"n": i}) for i in range(2000)]
            until(lambda: trail.stats()["recorded"] == 2000, 60)
            stats = trail.stats()
            assert stats["not_spooled"] > 0 and stats["spooled"] > 100
            assert stats["spooled"] + stats["not_spooled"] == 2000
            assert stats["in_memory"] == 2000 - stats["spool_only"] > 100  # beyond the bound
            service.start()
            assert trail.flush(120), trail.stats()
            trail.close()
        finally:
            service.stop()
    assert any("kept in memory only" in r.getMessage() for r in caplog.records)
    seqs = [r.wait(0) for r in receipts]
    assert seqs == sorted(seqs) and len(set(seqs)) == 2000
    by_id = seqs_by_id(home)
    assert all(by_id[str(r.event_id)] == [r.seq] for r in receipts)
    assert len(by_id) == len(journal(home))


BOUNDED_CHILD = """
import json, sys, time
import tradetrail
url, secret, spool, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
trail = tradetrail.open(url, token=secret, spool=spool, memory_max_events=500, batch_size=100)
ids = [trail.record("order.accepted", {"n": i}).event_id for i in range(count)]
while trail.stats()["spooled"] < count:
    time.sleep(0.01)
print(json.dumps({"ids": ids, "stats": trail.stats()}), flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_a_client_killed_over_its_memory_bound_leaves_every_event_to_the_next(
    home: Path, tmp_path: Path
) -> None:
    secret = token(home, "ingest")
    spool = tmp_path / "spool"
    service = Service(home)  # down while the first client records
    proc = subprocess.Popen(
        [sys.executable, "-c", BOUNDED_CHILD, service.url, secret, str(spool), "5000"],
        env=child_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    out = orjson.loads(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert out["stats"]["in_memory"] <= 500 and out["stats"]["spool_only"] >= 4500
    service.start()
    try:
        with tradetrail.open(
            service.url, token=secret, spool=spool, memory_max_events=500, batch_size=100
        ) as trail:
            assert trail.stats()["recovered"] == 5000
            assert trail.flush(120), trail.stats()
            stats = trail.stats()
    finally:
        service.stop()
    assert stats["in_memory_peak"] <= 500 and stats["acknowledged"] == 5000
    by_id = seqs_by_id(home)
    assert all(len(by_id.get(ident, [])) == 1 for ident in out["ids"]), "not exactly once"
    assert len(by_id) == len(journal(home))
    assert list(spool.glob("*.ndjson")) == []
    assert tradetrail.verify(home).ok


def test_after_fork_the_child_records_through_a_spool_of_its_own(
    home: Path, tmp_path: Path
) -> None:
    """A fork()ed child's first record() starts it anew (its own spool segment, connection
    and sender thread), as a local client re-attaches; the parent's events and segments stay
    the parent's, also when the child closes."""
    secret = token(home, "ingest")
    spool = tmp_path / "spool"
    with running(home) as service:
        trail = tradetrail.open(service.url, token=secret, spool=spool)
        trail.record("order.accepted", order_id="parent-1").wait(30)
        pid = os.fork()
        if pid == 0:  # the child
            code = 1
            try:
                seq = trail.record("order.accepted", order_id="child-1").wait(30)
                code = 0 if trail.flush(30) and seq >= 1 else 3
                trail.close()
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        after = trail.record("order.accepted", order_id="parent-2")
        assert after.wait(30) >= 2 and trail.flush(30)
        trail.close()
    assert sorted(r["order_id"] for r in journal(home) if "order_id" in r) == [
        "child-1",
        "parent-1",
        "parent-2",
    ]
    assert list(spool.glob("*.ndjson")) == []  # every segment answered and dropped
    assert tradetrail.verify(home).ok
