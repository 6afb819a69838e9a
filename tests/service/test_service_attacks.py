"""The service as an attacker meets it: a real `tradetrail serve --listen` on loopback, sent
what a well-behaved client never sends (raw bytes where httpx would normalise them), and held
to this: no 500, no record a token may not read, no server path or secret in an answer."""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anyio
import httpx
import orjson
import pytest

import tradetrail
from service_server import Service, bearer, running, token
from tradetrail.compliance.tokens import revoke_token
from tradetrail.core import layout
from tradetrail.service.app import create_app
from tradetrail.store.tokens import TokenStore

pytestmark = pytest.mark.slow


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "trail"
    with tradetrail.open(home, writer="embedded", serve=False) as trail:
        for n in range(5):
            trail.record("order.accepted", {"status": "new"}, order_id=f"O-{n}", symbol="X")
        trail.record("risk.checked", {"limit": "ok"}, order_id="O-1")
        trail.checkpoint()
    return home


def raw(service: Service, request: bytes) -> tuple[int, bytes]:
    """Send `request` as given (no client-side normalisation); the status and the head of
    the answer."""
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as conn:
        conn.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1]), answer


def get(path: bytes, secret: str, *headers: bytes, close: bool = True) -> bytes:
    lines = [b"GET " + path + b" HTTP/1.1", b"Host: x", *([b"Connection: close"] * close)]
    lines += [b"Authorization: Bearer " + secret.encode(), *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def test_garbage_last_event_id_and_far_future_event_ids_are_refused_not_500(home: Path) -> None:
    secret = token(home, "admin")
    with running(home) as service:
        for garbage in (b"\xb2", b"9" * 5000, b"-1", b"12abc", "\u0661".encode()):
            status, answer = raw(service, get(b"/v1/stream", secret, b"Last-Event-ID: " + garbage))
            assert status == 422, (garbage, answer)
            assert b"application/problem+json" in answer
        for ms in ("ffffffffffff", "e677cf8cae00"):  # the year 10889; 9999-12-31
            event_id = f"{ms[:8]}-{ms[8:]}-7000-8000-000000000001"
            batch = orjson.dumps({"type": "order.accepted", "event_id": event_id}) + b"\n"
            got = httpx.post(f"{service.url}/v1/events", content=batch, headers=bearer(secret))
            assert got.status_code == 200, got.text
            again = httpx.post(f"{service.url}/v1/events", content=batch, headers=bearer(secret))
            assert again.json()["results"][0]["duplicate"] is True
            assert again.json()["results"][0]["seq"] == got.json()["results"][0]["seq"]


def test_a_type_prefix_token_reads_no_record_of_another_type_by_any_route(home: Path) -> None:
    risk = bearer(token(home, "read", name="risk", type_prefix="risk."))
    admin = bearer(token(home, "admin"))
    risk_seq = 5  # the fixture's risk.checked; seqs 0-4 are order.accepted
    with running(home) as service, httpx.Client(base_url=service.url, timeout=10) as http:
        leaking = [
            "/v1/lineage/O-1",
            "/v1/proofs/inclusion?seq=0",
            "/tile/entries/000.p/6",
            "/metrics",
        ]
        for path in leaking:
            assert http.get(path, headers=admin).status_code == 200, path
            got = http.get(path, headers=risk)
            assert got.status_code == 403, (path, got.text[:300])
            assert "order.accepted" not in got.text and "O-0" not in got.text, path
        proof = http.get(f"/v1/proofs/inclusion?seq={risk_seq}", headers=risk)
        assert proof.status_code == 200 and "risk.checked" in proof.json()["record"]
        assert http.get("/tile/0/000.p/6", headers=risk).status_code == 200  # hashes only
        found = http.get("/v1/search", headers=risk).json()["records"]
        assert [r["type"] for r in found] == ["risk.checked"]


def test_a_broken_or_open_token_file_refuses_every_request_with_503_until_fixed(
    home: Path,
) -> None:
    secret = token(home, "read")
    tokens = home / layout.TOKENS_FILE
    good = tokens.read_bytes()
    with running(home) as service, httpx.Client(base_url=service.url, timeout=10) as http:
        assert http.get("/v1/info", headers=bearer(secret)).status_code == 200
        tokens.write_bytes(good + b"{not json\n")
        for _ in range(3):
            got = http.get("/v1/info", headers=bearer(secret))
            assert got.status_code == 503, got.text
            assert got.headers["content-type"] == "application/problem+json"
            assert str(home) not in got.text and "retry-after" in got.headers
        tokens.write_bytes(good)  # fixed: no restart needed
        assert http.get("/v1/info", headers=bearer(secret)).status_code == 200
        tokens.chmod(0o666)  # anyone on the host could add a token of their own
        got = http.get("/v1/info", headers=bearer(secret))
        assert got.status_code == 503 and str(home) not in got.text
        tokens.chmod(0o600)
        assert http.get("/v1/info", headers=bearer(secret)).status_code == 200
    log = service.log()
    assert log.count("not a token entry") == 1, log  # said once, not once per request
    assert "writable by group or others" in log and "Traceback" not in log


def test_problem_documents_name_no_server_path_and_a_bug_is_a_bare_500(home: Path) -> None:
    secret = token(home, "read")
    with running(home) as service:
        (home / layout.CHECKPOINT_FILE).unlink()
        got = httpx.get(f"{service.url}/v1/proofs/inclusion?seq=0", headers=bearer(secret))
        assert got.status_code == 404 and "no signed checkpoint" in got.json()["detail"]
        assert str(home) not in got.text and str(home.resolve()) not in got.text
    with tradetrail.open(home, writer="embedded", serve=False) as trail:
        app = create_app(trail)

        @app.get("/boom")
        def boom() -> None:
            raise RuntimeError(f"secret detail from {home}")

        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return await client.get("/boom")

        got = anyio.run(call)
        app.state.trail_metrics.close()
    assert got.status_code == 500
    assert got.headers["content-type"] == "application/problem+json"
    assert "secret detail" not in got.text and str(home) not in got.text


def test_open_streams_are_capped_per_token_and_in_all_and_freed_when_clients_leave(
    home: Path,
) -> None:
    one, two = token(home, "read", name="one"), token(home, "read", name="two")
    opened: list[socket.socket] = []

    def open_stream(secret: str) -> int:
        conn = socket.create_connection(("127.0.0.1", service.port), timeout=10)
        conn.sendall(get(b"/v1/stream", secret, close=False))
        head = b""
        while b"\r\n\r\n" not in head:
            head += conn.recv(4096)
        status = int(head.split(b" ", 2)[1])
        if status == 200:
            opened.append(conn)
        else:
            conn.close()
        return status

    with running(home, "--max-streams", "20") as service:
        try:
            assert [open_stream(one) for _ in range(16)] == [200] * 16
            assert open_stream(one) == 429  # one token: 16 at most
            assert [open_stream(two) for _ in range(4)] == [200] * 4
            assert open_stream(two) == 503  # 20 in all
            opened.pop(0).close()
            deadline = time.monotonic() + 10
            while open_stream(two) != 200:  # the service notices the client left
                assert time.monotonic() < deadline
                time.sleep(0.1)
        finally:
            for conn in opened:
                conn.close()


def test_an_open_stream_ends_once_its_token_is_revoked_or_expires(home: Path) -> None:
    revoked = token(home, "read", name="revoked")
    expiring = token(
        home, "read", name="expiring", expires=datetime.now(UTC) + timedelta(seconds=5)
    )
    with running(home) as service, httpx.Client(base_url=service.url) as http:
        for secret, end in ((expiring, "expire"), (revoked, "revoke")):
            timeout = httpx.Timeout(10, read=12)  # a keep-alive comes every 15 s
            with http.stream("GET", "/v1/stream", headers=bearer(secret), timeout=timeout) as got:
                assert got.status_code == 200
                lines = got.iter_lines()
                assert next(lines).startswith(": tradetrail stream")
                if end == "revoke":
                    revoke_token(home, TokenStore(home).list()[0].id, "left the firm")
                started = time.monotonic()
                for _ in lines:  # the records journaled meanwhile, then the end
                    pass
                assert time.monotonic() - started < 10, end
            assert http.get("/v1/info", headers=bearer(secret)).status_code == 401, end


def test_the_remote_client_follows_no_redirect_with_its_token(tmp_path: Path) -> None:
    """A service (or a man in the middle of a misrouted proxy) that answers 307 to another
    host must not receive the token there: the client keeps the events and says why."""
    seen: list[str | None] = []

    class Elsewhere(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(self.headers.get("authorization"))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    elsewhere = ThreadingHTTPServer(("127.0.0.1", 0), Elsewhere)
    target = f"http://localhost:{elsewhere.server_address[1]}/v1/events"

    class Redirecting(Elsewhere):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            self.send_response(307)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

    service = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    for server in (elsewhere, service):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{service.server_address[1]}"
        trail = tradetrail.open(url, token="tt_000000000000_" + "A" * 43, spool=tmp_path / "s")
        receipt = trail.record("order.accepted", {"status": "new"}, order_id="O-1")
        deadline = time.monotonic() + 10
        while "307" not in str(trail.stats()["last_error"]):
            assert time.monotonic() < deadline, trail.stats()
            time.sleep(0.05)
        assert receipt.seq is None and trail.stats()["pending"] == 1
        trail.close()
    finally:
        for server in (elsewhere, service):
            server.shutdown()
            server.server_close()
    assert seen == []


def test_a_chunked_body_without_length_is_cut_off_at_the_limit(home: Path) -> None:
    secret = token(home, "ingest")
    with running(home, "--max-body-bytes", "65536") as service:
        line = b'{"type":"order.accepted","data":{"note":"' + b"x" * (1 << 20)  # one endless line
        chunks = (line for _ in range(64))  # 64 MiB, no content-length: sent chunked
        try:
            got = httpx.post(f"{service.url}/v1/events", content=chunks, headers=bearer(secret))
            status = got.status_code
        except httpx.HTTPError:  # the service may hang up before the client is done sending
            status = 413
        assert status == 413
        assert httpx.get(f"{service.url}/healthz").status_code == 200
        rss = (Path("/proc") / str(service.proc.pid) / "status").read_text()  # type: ignore[union-attr]
        peak_kib = int(next(x for x in rss.splitlines() if x.startswith("VmHWM")).split()[1])
        assert peak_kib < 110 * 1024, peak_kib  # ~70 MiB at rest: never the 64 MiB body
