"""The HTTP service as its users meet it: a real `tradetrail serve --listen` process on
loopback, real HTTP (httpx), real tokens, the journal checked on disk afterwards."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

import tradetrail
from service_server import bearer, running, token
from tradetrail.core import layout
from tradetrail.core.checkpoint import open_checkpoint
from tradetrail.store.keys import read_vkey
from tradetrail.store.tokens import TokenStore

pytestmark = pytest.mark.slow


def journal(home: Path) -> list[dict[str, Any]]:
    return [
        orjson.loads(line)
        for path in sorted((home / layout.JOURNAL_DIR).glob("audit-*.jsonl"))
        for line in path.read_bytes().splitlines()
    ]


def ndjson(*events: dict[str, Any]) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "trail"
    tradetrail.open(home, writer="embedded", serve=False).close()
    return home


def test_ingest_is_durable_exact_and_idempotent_across_a_restart(home: Path) -> None:
    secret = token(home, "ingest", "read")
    batch = (
        b'{"type":"order.accepted","order_id":"O-1","symbol":"BTC-USD",'
        b'"data":{"price":64250.10000000000001}}\n'
        b"\n"
        b'{"type":"order.filled","order_id":"O-1","event_id":"01930000-0000-7000-8000-00000000'
        b'0001","data":{"price":"64250.1","qty":"0.5"}}\n'
    )
    with running(home) as service:
        got = httpx.post(f"{service.url}/v1/events", content=batch, headers=bearer(secret))
        assert got.status_code == 200, got.text
        results = got.json()["results"]
        assert [r["line"] for r in results] == [1, 3]
        assert [r["duplicate"] for r in results] == [False, False]
        first = {r["event_id"]: r["seq"] for r in results}
    # journaled before the answer: on disk, with the exact number and the sender named
    records = {r["seq"]: r for r in journal(home)}
    accepted = records[results[0]["seq"]]
    assert accepted["data"]["price"] == "64250.10000000000001"
    assert accepted["source"] == {"host": "127.0.0.1", "service": "http:test"}
    with running(home) as service:  # a resend after a restart is answered, not journaled
        again = ndjson(
            {"type": "order.accepted", "order_id": "O-1", "event_id": results[0]["event_id"]},
            {"type": "order.filled", "event_id": "01930000-0000-7000-8000-000000000001"},
        )
        got = httpx.post(f"{service.url}/v1/events", content=again, headers=bearer(secret))
        assert got.status_code == 200, got.text
        assert {r["event_id"]: r["seq"] for r in got.json()["results"]} == first
        assert all(r["duplicate"] for r in got.json()["results"])
    ids = [r["event_id"] for r in journal(home)]
    assert len(ids) == len(set(ids))
    assert tradetrail.verify(home).ok


def test_a_bad_line_refuses_the_whole_batch_and_writes_nothing(home: Path) -> None:
    secret = token(home, "ingest")
    with running(home) as service:
        before = len(journal(home))
        body = (
            ndjson(
                {"type": "order.accepted", "order_id": "O-1"},
                {"type": "Not A Type"},
                {"type": "order.accepted", "order_id": "O-2"},
            )
            + b"{broken\n"
        )
        got = httpx.post(f"{service.url}/v1/events", content=body, headers=bearer(secret))
        assert got.status_code == 422
        assert got.headers["content-type"] == "application/problem+json"
        problem = got.json()
        assert problem["status"] == 422 and problem["instance"] == "/v1/events"
        assert [e["line"] for e in problem["errors"]] == [2, 4]
        assert "Not A Type" in problem["errors"][0]["error"]
        time.sleep(0.3)
        assert len(journal(home)) == before
        empty = httpx.post(f"{service.url}/v1/events", content=b"\n", headers=bearer(secret))
        assert empty.status_code == 422


def test_limits_answer_413_and_429(home: Path) -> None:
    secret = token(home, "ingest")
    slow = token(home, "ingest", name="slow", rate=0.5)
    with running(home, "--max-batch", "3", "--max-body-bytes", "2048") as service:
        four = ndjson(*({"type": "order.accepted", "order_id": f"O-{n}"} for n in range(4)))
        got = httpx.post(f"{service.url}/v1/events", content=four, headers=bearer(secret))
        assert got.status_code == 413 and "more than 3" in got.text
        big = ndjson({"type": "order.accepted", "data": {"note": "x" * 3000}})
        got = httpx.post(f"{service.url}/v1/events", content=big, headers=bearer(secret))
        assert got.status_code == 413
        one = ndjson({"type": "order.accepted", "order_id": "O-1"})
        codes = [
            httpx.post(f"{service.url}/v1/events", content=one, headers=bearer(slow)).status_code
            for _ in range(3)
        ]
        assert codes[0] == 200 and codes[-1] == 429
        limited = httpx.post(f"{service.url}/v1/events", content=one, headers=bearer(slow))
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


ENDPOINTS: list[tuple[str, str, str]] = [
    ("POST", "/v1/events", "ingest"),
    ("GET", "/v1/info", "read"),
    ("GET", "/v1/search?type=order.*", "read"),
    ("GET", "/v1/lineage/O-1", "read"),
    ("GET", "/v1/proofs/inclusion?seq=0", "read"),
    ("GET", "/v1/proofs/consistency?old=1", "read"),
    ("GET", "/checkpoint", "read"),
    ("GET", "/tile/0/000.p/1", "read"),
    ("GET", "/v1/stream?since=0", "read"),
]


def test_auth_matrix_no_read_or_write_without_the_right_token(home: Path) -> None:
    good = {s: token(home, s, name=s) for s in ("ingest", "read", "admin")}
    revoked = token(home, "admin", name="revoked")
    store = TokenStore(home)
    store.revoke(next(t.id for t in store.list() if t.name == "revoked"))
    expired = token(home, "admin", name="expired", expires=datetime.now(UTC) + timedelta(seconds=1))
    elsewhere = token(home, "admin", name="elsewhere", origin="another.example/trail")
    time.sleep(1.1)
    body = ndjson({"type": "order.accepted", "order_id": "O-1"})
    with running(home) as service, httpx.Client(base_url=service.url, timeout=10) as http:

        def call(method: str, path: str, headers: dict[str, str]) -> int:
            if path.startswith("/v1/stream"):
                with http.stream(method, path, headers=headers) as response:
                    return response.status_code
            return http.request(method, path, headers=headers, content=body).status_code

        call("POST", "/v1/events", bearer(good["ingest"]))
        httpx.post(f"{service.url}/v1/events", content=body, headers=bearer(good["admin"]))
        time.sleep(0.5)  # a checkpoint covers the records (TRADETRAIL_CHECKPOINT_INTERVAL)
        for method, path, needs in ENDPOINTS:
            where = f"{method} {path}"
            assert call(method, path, {}) == 401, where
            assert call(method, path, {"Authorization": "Basic eDp5"}) == 401, where
            assert call(method, path, bearer("tt_000000000000_" + "A" * 43)) == 401, where
            assert call(method, path, bearer(revoked)) == 401, where
            assert call(method, path, bearer(expired)) == 401, where
            assert call(method, path, bearer(elsewhere)) == 403, where
            other = "read" if needs == "ingest" else "ingest"
            assert call(method, path, bearer(good[other])) == 403, where
            assert call(method, path, bearer(good[needs])) in (200, 404), where
            assert call(method, path, bearer(good["admin"])) in (200, 404), where
        assert http.get("/healthz").status_code == 200
    log = service.log()
    for secret in (*good.values(), revoked, expired, elsewhere):
        assert secret not in log and secret[16:] not in (home / layout.TOKENS_FILE).read_text()
    created = [r for r in journal(home) if r["type"] == "auth.api_key_created"]
    revokes = [r for r in journal(home) if r["type"] == "auth.api_key_revoked"]
    assert len(created) == 6 and len(revokes) == 0  # revoked through the store, not the CLI


def test_search_lineage_and_a_type_restricted_token(home: Path) -> None:
    writer = token(home, "ingest", "read")
    orders_only = token(home, "read", "ingest", name="orders", type_prefix="order.")
    events = ndjson(
        {"type": "signal.generated", "signal_id": "S-1", "symbol": "ETH-USD"},
        {"type": "order.submitted", "order_id": "O-9", "signal_id": "S-1", "symbol": "ETH-USD"},
        {"type": "order.filled", "order_id": "O-9", "symbol": "ETH-USD", "account": "A1"},
        {"type": "risk.rejected", "order_id": "O-10", "symbol": "ETH-USD"},
    )
    with running(home) as service:
        assert httpx.post(f"{service.url}/v1/events", content=events, headers=bearer(writer))
        got = httpx.get(
            f"{service.url}/v1/search",
            params={"symbol": "ETH-USD", "type": "order.*"},
            headers=bearer(writer),
        ).json()
        assert [r["type"] for r in got["records"]] == ["order.submitted", "order.filled"]
        got = httpx.get(
            f"{service.url}/v1/search", params={"account": "A1"}, headers=bearer(writer)
        )
        assert [r["order_id"] for r in got.json()["records"]] == ["O-9"]
        story = httpx.get(f"{service.url}/v1/lineage/O-9", headers=bearer(writer)).json()
        assert [r["signal_id"] for r in story["signals"]] == ["S-1"]
        assert len(story["orders"]["O-9"]) == 2
        missing = httpx.get(f"{service.url}/v1/lineage/O-404", headers=bearer(writer))
        assert missing.status_code == 404
        bad = httpx.get(f"{service.url}/v1/search?since=yesterday-ish", headers=bearer(writer))
        assert bad.status_code == 422 and "since" in bad.json()["detail"]
        # the orders-only token sees and sends only order.*
        seen = httpx.get(f"{service.url}/v1/search", headers=bearer(orders_only)).json()
        assert {r["type"] for r in seen["records"]} == {"order.submitted", "order.filled"}
        denied = httpx.get(
            f"{service.url}/v1/search", params={"type": "risk.*"}, headers=bearer(orders_only)
        )
        assert denied.status_code == 403
        refused = httpx.post(
            f"{service.url}/v1/events",
            content=ndjson({"type": "risk.rejected"}),
            headers=bearer(orders_only),
        )
        assert refused.status_code == 422 and "order." in refused.text


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 Merkle tree hash, written here from the RFC rather than taken from
    tradetrail: the test is a third-party tile client."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def _path(index: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if index < k:
        return [*_path(index, leaves[:k]), _mth(leaves[k:])]
    return [*_path(index - k, leaves[k:]), _mth(leaves[:k])]


def _root_from_path(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2: verify an inclusion proof."""
    fn, sn, node = index, size - 1, leaf
    for sibling in path:
        if fn % 2 == 1 or fn == sn:
            node = hashlib.sha256(b"\x01" + sibling + node).digest()
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            node = hashlib.sha256(b"\x01" + node + sibling).digest()
        fn, sn = fn >> 1, sn >> 1
    assert sn == 0
    return node


def test_a_tile_client_follows_the_log_and_checks_an_inclusion_proof_itself(home: Path) -> None:
    secret = token(home, "ingest", "read")
    with (
        running(home) as service,
        httpx.Client(base_url=service.url, headers=bearer(secret)) as http,
    ):
        for start in range(0, 300, 100):
            body = ndjson(
                *(
                    {"type": "order.accepted", "order_id": f"O-{n}"}
                    for n in range(start, start + 100)
                )
            )
            assert http.post("/v1/events", content=body).status_code == 200
        deadline = time.monotonic() + 10
        while True:
            text = http.get("/checkpoint").text
            size = int(text.splitlines()[1])
            if size >= 301:
                break
            assert time.monotonic() < deadline
            time.sleep(0.1)
        vkey = read_vkey(home / layout.VKEY_FILE)
        cp = open_checkpoint(text, [vkey])
        assert cp.size == size
        # every leaf, from the entry bundles, must agree with the level-0 hash tiles
        leaves: list[bytes] = []
        for n in range((size + 255) // 256):
            width = min(256, size - 256 * n)
            suffix = f"{n:03d}" + ("" if width == 256 else f".p/{width}")
            bundle = http.get(f"/tile/entries/{suffix}").content
            tile = http.get(f"/tile/0/{suffix}").content
            assert len(tile) == 32 * width
            pos, entries = 0, []
            while pos < len(bundle):
                length = int.from_bytes(bundle[pos : pos + 2], "big")
                entries.append(bundle[pos + 2 : pos + 2 + length])
                pos += 2 + length
            assert len(entries) == width
            for i, entry in enumerate(entries):
                leaf = hashlib.sha256(b"\x00" + entry).digest()
                assert tile[32 * i : 32 * i + 32] == leaf
                leaves.append(leaf)
        assert _mth(leaves) == cp.root
        index = 257
        path = _path(index, leaves)
        assert _root_from_path(index, size, leaves[index], path) == cp.root
        served = http.get("/v1/proofs/inclusion", params={"seq": index, "size": size}).json()
        assert [bytes.fromhex(h) for h in served["hashes"]] == path
        assert http.get("/tile/../../signing.key").status_code == 404
        assert http.get(f"/tile/entries/{(size // 256) + 5:03d}").status_code == 404


def test_the_stream_sends_new_records_and_resumes_from_last_event_id(home: Path) -> None:
    secret = token(home, "ingest", "read")
    with (
        running(home) as service,
        httpx.Client(base_url=service.url, headers=bearer(secret), timeout=10) as http,
    ):
        http.post("/v1/events", content=ndjson({"type": "order.accepted", "order_id": "O-1"}))
        seen: list[dict[str, Any]] = []
        with http.stream("GET", "/v1/stream", params={"since": 0, "type": "order.*"}) as stream:
            http.post(
                "/v1/events",
                content=ndjson(
                    {"type": "risk.rejected", "order_id": "O-2"},
                    {"type": "order.filled", "order_id": "O-1"},
                ),
            )
            ident = None
            for line in stream.iter_lines():
                if line.startswith("id: "):
                    ident = int(line[4:])
                if line.startswith("data: "):
                    seen.append(orjson.loads(line[6:]))
                    assert seen[-1]["seq"] == ident
                if len(seen) == 2:
                    break
        assert [(r["type"], r["order_id"]) for r in seen] == [
            ("order.accepted", "O-1"),
            ("order.filled", "O-1"),
        ]
        http.post("/v1/events", content=ndjson({"type": "order.cancelled", "order_id": "O-1"}))
        headers = {"Last-Event-ID": str(seen[-1]["seq"])}
        with http.stream("GET", "/v1/stream", headers=headers) as stream:
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    record = orjson.loads(line[6:])
                    break
        assert record["type"] == "order.cancelled" and record["seq"] == seen[-1]["seq"] + 1


def test_openapi_document_and_problem_documents(home: Path) -> None:
    secret = token(home, "read")
    with running(home) as service:
        spec = httpx.get(f"{service.url}/openapi.json").json()
        assert {"/v1/events", "/v1/search", "/checkpoint", "/tile/{path}"} <= set(spec["paths"])
        got = httpx.get(f"{service.url}/v1/proofs/inclusion?seq=-1", headers=bearer(secret))
        assert got.status_code == 422 and got.json()["errors"][0]["where"] == "query.seq"
        got = httpx.get(f"{service.url}/nowhere", headers=bearer(secret))
        assert got.status_code == 404 and got.headers["content-type"] == "application/problem+json"


def test_an_event_recorded_locally_while_the_service_runs_is_not_journaled_twice(
    home: Path,
) -> None:
    """The same event id sent by a local process through the writer's channel and then over
    HTTP (a sender that fell back from one to the other): the service answers its seq."""
    secret = token(home, "ingest")
    with running(home) as service:
        with tradetrail.open(home, writer="auto") as local:
            receipt = local.record("order.accepted", order_id="O-1")
            seq = receipt.wait(30)
        again = ndjson({"type": "order.accepted", "order_id": "O-1", "event_id": receipt.event_id})
        got = httpx.post(f"{service.url}/v1/events", content=again, headers=bearer(secret))
        assert got.status_code == 200, got.text
        assert got.json()["results"][0] == {
            "line": 1,
            "event_id": receipt.event_id,
            "seq": seq,
            "duplicate": True,
        }
    assert [r["seq"] for r in journal(home) if r.get("order_id") == "O-1"] == [seq]


def test_a_batch_naming_many_days_before_the_window_is_sent_back_smaller(home: Path) -> None:
    """Each UUIDv7 id older than the service's window makes it read that day's journal under
    the ledger's lock: a batch may name at most OLD_DAYS_PER_BATCH such days (413: resend in
    smaller parts, as the remote client does); a smaller one is answered as usual."""
    from tradetrail.service.ingest import OLD_DAYS_PER_BATCH

    secret = token(home, "ingest")

    def old_id(days_ago: int, n: int) -> str:
        ms = int((datetime.now(UTC) - timedelta(days=days_ago)).timestamp() * 1000)
        return f"{ms:012x}"[:8] + "-" + f"{ms:012x}"[8:] + f"-7000-8000-{n:012x}"

    def batch(days: int) -> bytes:
        return ndjson(
            *(
                {"type": "order.accepted", "order_id": f"O-{d}", "event_id": old_id(10 + d, d)}
                for d in range(days)
            )
        )

    with running(home) as service:
        url = f"{service.url}/v1/events"
        refused = httpx.post(url, content=batch(OLD_DAYS_PER_BATCH + 1), headers=bearer(secret))
        assert refused.status_code == 413, refused.text
        assert "smaller batches" in refused.json()["errors"][0]["error"]
        taken = httpx.post(url, content=batch(OLD_DAYS_PER_BATCH), headers=bearer(secret))
        assert taken.status_code == 200, taken.text
        assert not any(r["duplicate"] for r in taken.json()["results"])
    assert len([r for r in journal(home) if r["type"] == "order.accepted"]) == OLD_DAYS_PER_BATCH
