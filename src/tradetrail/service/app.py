"""The HTTP API of one trail, as an ASGI app (FastAPI): `create_app(trail)` serves the trail
the writer process holds. Routes call the same functions as the CLI; every one but /healthz
and /readyz needs a bearer token of the right scope (docs/SERVICE.md)."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final

import orjson
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from prometheus_client import CollectorRegistry, Counter, Histogram, make_asgi_app
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool

from .._version import __version__
from ..core import layout
from ..errors import (
    BatchError,
    ConfigError,
    NotYetSignedError,
    ProofError,
    QueryError,
    TradetrailError,
)
from ..index import Query as IndexQuery
from ..index import lineage, open_index, parse_when, update_index
from ..index.query import FILTER_FIELDS, search_origins
from ..metrics import TrailMetrics, Verification
from ..store import journal
from ..store.proofs import consistency_proof_json, inclusion_proof_json
from ..store.tokens import Token, TokenStore
from ..writer.trail import Trail
from .auth import DEFAULT_RATE, Gate
from .ingest import Ledger
from .problems import HANDLERS, RESPONSES, Problem

_TILE: Final = re.compile(r"^(?:[0-9]|[1-9][0-9]|entries)/(?:x\d{3}/)*\d{3}(?:\.p/\d{1,3})?$")
_SEQ: Final = re.compile(r"[0-9]{1,19}")
NDJSON: Final = "application/x-ndjson"
EXAMPLE_BATCH: Final = (
    '{"type":"order.submitted","order_id":"O-1","symbol":"BTC-USD",'
    '"data":{"side":"buy","qty":"0.25","order_type":"market"}}\n'
    '{"type":"order.accepted","order_id":"O-1","data":{"status":"new"}}\n'
)


@dataclass
class ServiceConfig:
    """Limits of the service (`tradetrail serve` options)."""

    max_batch: int = 1000
    """Events in one POST /v1/events."""
    max_body_bytes: int = 8 << 20
    """Bytes of one request body, unless the token says less."""
    rate: float = DEFAULT_RATE
    """Requests per second per token, unless the token says otherwise."""
    ack_timeout: float = 30.0
    """How long an ingest waits for durability before answering 503 (resend: idempotent)."""
    dedup_days: int = 2
    """Days of journal whose event ids are held in memory for idempotent resends."""
    stream_poll: float = 0.05
    max_streams: int = 256
    """Streams (GET /v1/stream) open at once: each polls the trail; beyond it, 503."""
    max_streams_per_token: int = 16
    """Streams one token may hold open at once (its rate limits requests, not their length);
    beyond it, 429."""


class _Streams:
    """The streams open now, in all and per token: a slot is taken before the answer and given
    back when its body ends, or when it is dropped unstarted (the client left first)."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.total = 0
        self.by_token: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, token: Token) -> _Slot:
        with self._lock:
            held = self.by_token.get(token.id, 0)
            if held >= self.config.max_streams_per_token:
                raise Problem(
                    429,
                    f"token {token.id} holds {held} open streams, the most one token may",
                    headers={"Retry-After": "5"},
                )
            if self.total >= self.config.max_streams:
                raise Problem(
                    503,
                    f"the service holds {self.total} open streams, the most it serves",
                    headers={"Retry-After": "5"},
                )
            self.total += 1
            self.by_token[token.id] = held + 1
        return _Slot(self, token.id)

    def give(self, ident: str) -> None:
        with self._lock:
            self.total -= 1
            self.by_token[ident] -= 1
            if not self.by_token[ident]:
                del self.by_token[ident]


class _Slot:
    def __init__(self, streams: _Streams, ident: str) -> None:
        self._streams: _Streams | None = streams
        self._ident = ident

    def release(self) -> None:
        streams, self._streams = self._streams, None
        if streams is not None:
            streams.give(self._ident)

    def __del__(self) -> None:
        self.release()


class HttpMetrics:
    """The service's own metrics, beside the trail's (tradetrail.metrics): requests by route
    and status, their latency, events ingested and resent, tokens rejected."""

    def __init__(self, registry: CollectorRegistry, gate: Gate) -> None:
        self.requests = Counter(
            "tradetrail_http_requests",
            "HTTP requests answered, by route template and status code.",
            ["route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "tradetrail_http_request_duration_seconds",
            "Time to answer an HTTP request (the stream: until its headers).",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
        self.ingested = Counter(
            "tradetrail_http_ingested_events",
            "Events journaled through POST /v1/events.",
            registry=registry,
        )
        self.duplicates = Counter(
            "tradetrail_http_duplicate_events",
            "Events resent through POST /v1/events that were journaled already (answered with "
            "their first seq).",
            registry=registry,
        )
        registry.register(_Rejected(gate))


class _Rejected(Collector):
    """Requests the gate refused for their token, read from its own count at scrape time."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "tradetrail_http_tokens_rejected",
            "Requests refused for their token (missing, unknown, revoked, expired, scope).",
            value=self.gate.rejected,
        )


class _Counting:
    """Requests by route and status and their latency, as a plain ASGI middleware (Starlette's
    BaseHTTPMiddleware costs a task and a stream per request: half of a small POST's time)."""

    def __init__(self, app: Any, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def counted(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                route = getattr(scope.get("route"), "path", "other")  # set by the router
                self.metrics.requests.labels(route, str(message["status"])).inc()
                self.metrics.latency.labels(route).observe(time.perf_counter() - started)
            await send(message)

        await self.app(scope, receive, counted)


def create_app(
    trail: Trail,
    config: ServiceConfig | None = None,
    registry: CollectorRegistry | None = None,
    *,
    verification: Callable[[], Verification | None] | None = None,
) -> FastAPI:
    """The app of `trail`; `registry`: where its metrics go (a new one by default, with the
    trail's health and domain metrics of tradetrail.metrics), served at GET /metrics;
    `verification`: the last verification sweep's result (the jobs of `serve --jobs`)."""
    config = config or ServiceConfig()
    tokens = TokenStore(trail.home)
    gate = Gate(tokens, trail.origin, config.rate)
    ledger = Ledger(trail, config.dedup_days)
    trail_metrics = None
    if registry is None:
        trail_metrics = TrailMetrics.for_trail(trail, verification=verification)
        registry = trail_metrics.registry
    metrics = HttpMetrics(registry, gate)
    streams = _Streams(config)
    exposition = make_asgi_app(registry)
    app = FastAPI(
        title="tradetrail",
        version=__version__,
        summary="Tamper-evident audit trail of a trading system: ingest, search, proofs, tiles.",
        docs_url=None,
        redoc_url=None,
        responses=RESPONSES,
    )
    for exc_class, handler in HANDLERS.items():
        app.add_exception_handler(exc_class, handler)
    app.state.trail = trail
    app.state.gate = gate
    app.state.metrics = metrics
    app.state.trail_metrics = trail_metrics
    app.state.stopping = False  # set by server.Service.stop(): open streams end at once

    app.add_middleware(_Counting, metrics=metrics)

    def scope(name: str) -> Any:
        def check(request: Request) -> Token:
            return gate.check(request, name)

        return Depends(check)

    ingest_token = scope("ingest")
    read_token = scope("read")

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers (no token needed, tells nothing of the trail)."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses={503: {"content": {"application/json": {}}}})
    def readyz() -> JSONResponse:
        """Readiness: the writer journals (not degraded, not closing)."""
        stats = trail.stats()
        if stats.get("degraded") or trail.closing:
            return JSONResponse({"status": "degraded"}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", tags=["health"], response_class=PlainTextResponse)
    async def prometheus(request: Request, token: Token = read_token) -> Response:
        """Prometheus exposition of the trail's health, its trading events and this service
        (a read token: `authorization: {credentials_file: ...}` in the scrape config)."""
        _whole_trail(token, "/metrics (it counts events of every type)")
        sent: dict[str, Any] = {}
        body = bytearray()

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                sent.update(message)
            else:
                body.extend(message.get("body", b""))

        scope = dict(request.scope, path="/", raw_path=b"/", root_path="")
        await exposition(scope, receive, send)
        headers = {k.decode(): v.decode() for k, v in sent.get("headers", [])}
        return Response(bytes(body), status_code=sent.get("status", 200), headers=headers)

    @app.get("/v1/info", tags=["trail"])
    def info(token: Token = read_token) -> dict[str, Any]:
        """The trail's origin, verifier key, size and what the service accepts."""
        vkey = (trail.home / layout.VKEY_FILE).read_text().strip()
        return {
            "origin": trail.origin,
            "vkey": vkey,
            "size": trail.durable_size,
            "version": __version__,
            "max_batch": config.max_batch,
            "max_body_bytes": token.max_bytes or config.max_body_bytes,
        }

    @app.post(
        "/v1/events",
        tags=["ingest"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    NDJSON: {"schema": {"type": "string"}},
                    "text/plain": {"schema": {"type": "string"}, "example": EXAMPLE_BATCH},
                },
                "description": "One event per line: {type, data?, envelope fields...}, the "
                "format of `tradetrail record -`; numbers are read exactly.",
            }
        },
    )
    async def ingest(request: Request, token: Token = ingest_token) -> dict[str, Any]:
        """Journal a batch of events, all or nothing, and answer once it is durable: each
        event's seq (an event_id already journaled answers its first seq, `duplicate`)."""
        limit = token.max_bytes or config.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise Problem(413, f"body of {declared} bytes is over the limit of {limit}")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise Problem(413, f"body is over the limit of {limit} bytes")
            chunks.append(chunk)
        body = b"".join(chunks)
        source = {"service": f"http:{token.name}", "host": _peer(request)}
        try:
            events = await run_in_threadpool(
                ledger.shape, body, source, token.type_prefix, config.max_batch
            )
        except BatchError as exc:
            raise Problem(413 if exc.too_large else 422, str(exc), errors=exc.errors) from None
        if not events:
            raise Problem(422, "the body holds no event (one JSON object per line)")
        try:
            results = await run_in_threadpool(ledger.submit, events, config.ack_timeout)
        except TimeoutError:
            raise Problem(
                503,
                f"the batch was not durable within {config.ack_timeout:g}s; resend it (events "
                "already journaled answer their seq)",
                headers={"Retry-After": "1"},
            ) from None
        except BatchError as exc:
            raise Problem(413 if exc.too_large else 422, str(exc), errors=exc.errors) from None
        except TradetrailError as exc:
            raise Problem(503, f"the writer cannot take events: {exc}") from None
        dups = sum(1 for r in results if r.duplicate)
        metrics.ingested.inc(len(results) - dups)
        metrics.duplicates.inc(dups)
        return {"results": [r.as_json() for r in results], "size": trail.durable_size}

    def _index_query(
        token: Token,
        types: list[str],
        equals: dict[str, str],
        since: str | None,
        until: str | None,
        text: str | None,
        limit: int,
        descending: bool,
        origins: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Hits of this trail, or with `origins` of the trails feeding the same index (a
        fleet on PostgreSQL; [] means every one), each then naming its origin."""
        bound = token.origin
        if origins is not None and bound is not None and (origins == [] or set(origins) != {bound}):
            raise Problem(403, f"token {token.id} may only read origin {bound}")
        if token.type_prefix is not None:
            outside = [t for t in types if not t.startswith(token.type_prefix)]
            if outside:
                raise Problem(403, f"token {token.id} may only read {token.type_prefix}*")
            types = types or [token.type_prefix.rstrip(".") + ".*"]
        try:
            query = IndexQuery(
                types=tuple(types),
                equals=equals,
                since=parse_when(since, "since") if since else None,
                until=parse_when(until, "until") if until else None,
                text=text,
                origin=trail.origin,
                limit=limit,
                descending=descending,
            )
        except (QueryError, ValueError) as exc:
            raise Problem(422, str(exc)) from None
        backend = open_index(trail.home, trail.index_url)
        try:
            update_index(trail.home, backend, upto=trail.durable_size)
            try:
                if origins is None:
                    return [row.parsed() for row in backend.search(query)]
                rows = search_origins(backend, query, origins or None)
                return [{"origin": row.origin, **row.parsed()} for row in rows]
            except QueryError as exc:
                raise Problem(422, str(exc)) from None
        finally:
            backend.close()

    @app.get("/v1/search", tags=["read"])
    def search(
        token: Token = read_token,
        type: Annotated[list[str] | None, Query(description="Type, or prefix like order.*")] = None,
        since: str | None = None,
        until: str | None = None,
        text: str | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
        desc: bool = False,
        category: str | None = None,
        symbol: str | None = None,
        account: str | None = None,
        order_id: str | None = None,
        client_order_id: str | None = None,
        exchange_order_id: str | None = None,
        parent_order_id: str | None = None,
        signal_id: str | None = None,
        correlation_id: str | None = None,
        actor: str | None = None,
        strategy: str | None = None,
        venue: str | None = None,
        origin: Annotated[
            list[str] | None,
            Query(description="Trails (origins) sharing this service's index; repeatable"),
        ] = None,
        all_origins: Annotated[
            bool, Query(description="Every trail sharing this service's index")
        ] = False,
    ) -> dict[str, Any]:
        """Search the journaled records: every filter of `tradetrail search`; with `origin`
        or `all_origins`, the records of every trail feeding the same index (PostgreSQL),
        each naming its origin."""
        given = locals()
        equals = {name: given[name] for name in FILTER_FIELDS if given[name] is not None}
        if origin and all_origins:
            raise Problem(422, "origin and all_origins: choose one")
        origins = [] if all_origins else origin
        records = _index_query(token, type or [], equals, since, until, text, limit, desc, origins)
        return {"records": records, "count": len(records)}

    @app.get("/v1/lineage/{order_id}", tags=["read"])
    def order_lineage(order_id: str, token: Token = read_token) -> dict[str, Any]:
        """Everything linked to an order: signal, child orders, replaces, fills, positions."""
        _whole_trail(token, "a lineage (it holds records of every type)")
        backend = open_index(trail.home, trail.index_url)
        try:
            update_index(trail.home, backend, upto=trail.durable_size)
            story = lineage(backend, order_id, trail.origin)
        finally:
            backend.close()
        if not story.found:
            raise Problem(404, f"no record has order_id {order_id!r}")
        return story.as_json()

    @app.get("/v1/proofs/inclusion", tags=["proofs"], responses={409: RESPONSES[404]})
    def inclusion(
        seq: Annotated[int, Query(ge=0)],
        token: Token = read_token,
        size: Annotated[int | None, Query(ge=1)] = None,
    ) -> dict[str, Any]:
        """RFC 6962 inclusion proof of record `seq` in the tree of `size` (the latest
        checkpoint by default), with the signed checkpoint it is anchored to."""
        proof = _proof(inclusion_proof_json, trail.home, seq, size)
        if token.type_prefix is not None and isinstance(proof.get("record"), str):
            kind = orjson.loads(proof["record"]).get("type", "")
            if not str(kind).startswith(token.type_prefix):
                raise Problem(403, f"token {token.id} may only read {token.type_prefix}*")
        return proof

    @app.get("/v1/proofs/consistency", tags=["proofs"], responses={409: RESPONSES[404]})
    def consistency(
        old: Annotated[int, Query(ge=1)],
        token: Token = read_token,
        new: Annotated[int | None, Query(ge=1)] = None,
    ) -> dict[str, Any]:
        """RFC 6962 consistency proof between two signed tree sizes."""
        return _proof(consistency_proof_json, trail.home, old, new)

    @app.get(
        "/checkpoint",
        tags=["tlog-tiles"],
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain; charset=utf-8": {}}}},
    )
    def checkpoint(token: Token = read_token) -> Response:
        """The latest signed checkpoint (C2SP tlog-checkpoint, signed note)."""
        try:
            text = (trail.home / layout.CHECKPOINT_FILE).read_bytes()
        except FileNotFoundError:
            raise Problem(404, "no checkpoint signed yet") from None
        return Response(text, media_type="text/plain; charset=utf-8")

    @app.get(
        "/tile/{path:path}",
        tags=["tlog-tiles"],
        response_class=Response,
        responses={200: {"content": {"application/octet-stream": {}}}},
    )
    def tile(path: str, token: Token = read_token) -> Response:
        """C2SP tlog-tiles: hash tiles `tile/<L>/<N>[.p/<W>]` and entry bundles
        `tile/entries/<N>[.p/<W>]` (the journal's records, uint16-length-prefixed)."""
        if not _TILE.match(path):
            raise Problem(404, f"not a tile path: tile/{path}")
        if path.startswith("entries/"):
            _whole_trail(token, "entry bundles (they hold records of every type)")
            return Response(_entry_bundle(trail, path), media_type="application/octet-stream")
        file = trail.home / layout.TILES_DIR / "tile" / path
        try:
            data = file.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            raise Problem(404, f"no tile {path}") from None
        return Response(
            data,
            media_type="application/octet-stream",
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )

    @app.get(
        "/v1/stream",
        tags=["read"],
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def stream(
        request: Request,
        token: Token = read_token,
        type: Annotated[list[str] | None, Query()] = None,
        since: Annotated[int | None, Query(ge=0, description="First seq to send")] = None,
        symbol: str | None = None,
        account: str | None = None,
        venue: str | None = None,
    ) -> StreamingResponse:
        """Server-sent events of the records as they are journaled (`id:` is the seq, so a
        reconnecting client resumes with Last-Event-ID). Filters: type (exact or prefix.*),
        symbol, account, venue."""
        last = request.headers.get("last-event-id", "").strip()
        if last and not _SEQ.fullmatch(last):  # str.isdigit() takes "²", int() does not
            raise Problem(422, "Last-Event-ID header: not a seq this stream sent (digits)")
        start = int(last) + 1 if last else since if since is not None else None
        if start is None:
            start = trail.durable_size
        types = list(type or [])
        if token.type_prefix is not None:
            if any(not t.startswith(token.type_prefix) for t in types):
                raise Problem(403, f"token {token.id} may only read {token.type_prefix}*")
            types = types or [token.type_prefix.rstrip(".") + ".*"]
        wanted = _matcher(types, {"symbol": symbol, "account": account, "venue": venue})
        slot = streams.take(token)
        return StreamingResponse(
            _events(
                request,
                trail,
                start,
                wanted,
                config.stream_poll,
                lambda: app.state.stopping,
                slot,
                lambda: gate.still_good(token),
            ),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return app


def _whole_trail(token: Token, what: str) -> None:
    """Refuse a token limited to a type prefix what would show it records of other types."""
    if token.type_prefix is not None:
        raise Problem(403, f"token {token.id} may only read {token.type_prefix}*, not {what}")


def _peer(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _proof(fn: Any, home: Path, a: int, b: int | None) -> dict[str, Any]:
    try:
        result: dict[str, Any] = fn(home, a, b)
    except NotYetSignedError as exc:
        raise Problem(409, str(exc), checkpoint_size=exc.checkpoint_size) from None
    except (ProofError, ConfigError) as exc:
        raise Problem(404, str(exc)) from None
    return result


def _entry_bundle(trail: Trail, path: str) -> bytes:
    """Entry bundle `entries/<N>[.p/<W>]`: the journal lines of records 256*N.. (each entry is
    a record's canonical bytes, so that its RFC 6962 leaf hash is that of the tile)."""
    head, _, width_text = path.removeprefix("entries/").partition(".p/")
    index = int(head.replace("x", "").replace("/", ""))
    width = int(width_text) if width_text else 256
    if not 1 <= width <= 256:
        raise Problem(404, f"bad width in tile/{path}")
    start = index * 256
    if start + width > trail.durable_size:
        raise Problem(404, f"tile/{path} is beyond the journal's {trail.durable_size} records")
    out = bytearray()
    for count, (_, line) in enumerate(journal.lines_from_seq(trail.home, start)):
        if count == width:
            break
        entry = line.rstrip(b"\n")
        if len(entry) > 0xFFFF:
            raise Problem(
                404,
                f"record {start + count} is {len(entry)} bytes, more than an entry bundle can "
                "hold (65535): read it with /v1/search",
            )
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def _matcher(types: list[str], equals: dict[str, str | None]) -> Any:
    exact = {t for t in types if not t.endswith(".*")}
    prefixes = tuple(t[:-1] for t in types if t.endswith(".*"))
    fields = {k: v for k, v in equals.items() if v is not None}

    def wanted(record: dict[str, Any]) -> bool:
        kind = record.get("type", "")
        if types and kind not in exact and not kind.startswith(prefixes or ("\0",)):
            return False
        return all(record.get(k) == v for k, v in fields.items())

    return wanted


async def _events(
    request: Request,
    trail: Trail,
    start: int,
    wanted: Any,
    poll: float,
    stopping: Callable[[], bool] = lambda: False,
    slot: _Slot | None = None,
    still_good: Callable[[], bool] = lambda: True,
) -> Any:
    """The stream's body: records from `start` as they become durable, a comment every 15 s
    so that proxies keep the connection. It ends when the service stops (a client resumes with
    Last-Event-ID), so that a stop need not wait out the graceful-shutdown timeout, and within
    a second of its token being revoked or expiring (the reconnect is then refused)."""
    try:
        async for chunk in _records(request, trail, start, wanted, poll, stopping, still_good):
            yield chunk
    finally:
        if slot is not None:
            slot.release()


async def _records(
    request: Request,
    trail: Trail,
    start: int,
    wanted: Any,
    poll: float,
    stopping: Callable[[], bool],
    still_good: Callable[[], bool],
) -> Any:
    next_seq = start
    tail = journal.JournalTail(trail.home)  # the stream's place in the journal
    idle = 0.0
    checked = time.monotonic()
    yield b": tradetrail stream\n\n"
    while not await request.is_disconnected():
        if time.monotonic() - checked >= 1.0:
            if not await run_in_threadpool(still_good):
                return
            checked = time.monotonic()
        durable = trail.durable_size
        if next_seq < durable:
            found = await run_in_threadpool(_read, tail, next_seq, durable)
            for record, line in found:
                next_seq = record["seq"] + 1
                if wanted(record):
                    yield b"id: %d\nevent: record\ndata: %s\n\n" % (record["seq"], line.rstrip())
            if found:
                idle = 0.0
                continue
        if trail.closing or stopping():
            return
        await asyncio.sleep(poll)
        idle += poll
        if idle >= 15:
            idle = 0.0
            yield b": keep-alive\n\n"


def _read(
    tail: journal.JournalTail, start: int, end: int, most: int = 1000
) -> list[tuple[dict[str, Any], bytes]]:
    """Up to `most` records start..end-1 (parsed, and their journal lines), read on from the
    stream's place."""
    found: list[tuple[dict[str, Any], bytes]] = []
    for _, line in tail.lines(start):
        record = orjson.loads(line)
        if record["seq"] < start:
            continue
        if record["seq"] >= end or len(found) >= most:
            break
        found.append((record, line))
    return found


__all__ = ["ServiceConfig", "TokenStore", "create_app"]
