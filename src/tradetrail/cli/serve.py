"""`tradetrail serve`: the trail's writer process in the foreground."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .common import HOME_OPTION, err, fail, require_trail

if TYPE_CHECKING:
    from ..writer.trail import Trail


@click.command()
@HOME_OPTION
@click.option(
    "--index",
    is_flag=True,
    help="Keep the search index up to date as records are journaled "
    "(TRADETRAIL_DATABASE_URL, else SQLite in the trail).",
)
@click.option(
    "--exit-when-idle",
    is_flag=True,
    help="Exit once no client has been attached for a moment (as a writer that open() "
    "starts does).",
)
@click.option(
    "--listen",
    metavar="HOST:PORT",
    help="Also serve the HTTP API (ingest, search, proofs, tiles, stream) there; implies "
    "--index. Tokens: `tradetrail token create`.",
)
@click.option("--tls-cert", type=click.Path(path_type=Path), help="TLS certificate (PEM).")
@click.option("--tls-key", type=click.Path(path_type=Path), help="TLS private key (PEM).")
@click.option(
    "--tls-client-ca",
    type=click.Path(path_type=Path),
    help="Require client certificates signed by this CA (mutual TLS).",
)
@click.option(
    "--max-batch",
    default=1000,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Events in one POST /v1/events.",
)
@click.option(
    "--max-body-bytes",
    default=8 << 20,
    show_default=True,
    type=click.IntRange(1024, None),
    help="Bytes of one request body (a token may say less).",
)
@click.option(
    "--rate",
    default=100.0,
    show_default=True,
    type=click.FloatRange(0.1, None),
    help="Requests per second per token (a token may say otherwise); bursts of twice that.",
)
def serve(
    home: Path,
    index: bool,
    exit_when_idle: bool,
    listen: str | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_client_ca: Path | None,
    max_batch: int,
    max_body_bytes: int,
    rate: float,
) -> None:
    """Run the trail's writer in the foreground, for systemd, a container or a supervisor.

    Every process that calls tradetrail.open() on this home, and every tradetrail command
    that records (record, export, attest, snapshot), attaches to this writer through its
    Unix socket (<home>/writer.sock) instead of starting its own. SIGTERM or Ctrl-C journals
    what clients handed over, signs a final checkpoint and exits 0. Settings come from the
    environment (TRADETRAIL_DURABILITY, TRADETRAIL_SIGNING_KEY, ...).

    TRADETRAIL_LOCK_MEMORY=1 keeps the writer's memory, where events wait unredacted
    before it redacts them, out of swap (mlockall).

    With --listen the same process serves the HTTP API (docs/SERVICE.md): no read or write
    without a bearer token; TLS with --tls-cert/--tls-key, client certificates with
    --tls-client-ca.

    \b
    Examples:
      tradetrail serve --index
      tradetrail serve --listen 127.0.0.1:8080
    """
    from ..writer.process import serve as run

    require_trail(home)
    beside = None
    if listen is not None:
        from ..service.app import ServiceConfig
        from ..service.server import Listen, Service

        where = Listen.parse(listen, tls_cert=tls_cert, tls_key=tls_key, client_ca=tls_client_ca)
        config = ServiceConfig(max_batch=max_batch, max_body_bytes=max_body_bytes, rate=rate)
        index = True

        def beside(trail: Trail) -> Callable[[], None]:
            service = Service(trail, where, config)
            err.print(f"HTTP API of {trail.origin} on {where.url}")
            return service.stop

    elif tls_cert or tls_key or tls_client_ca:
        fail("--tls-cert/--tls-key/--tls-client-ca go with --listen")
    stop = threading.Event()
    previous = {
        signum: signal.signal(signum, lambda *_: stop.set())
        for signum in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        trail = run(home, exit_when_idle=exit_when_idle, index=index, stop=stop, beside=beside)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    err.print(f"writer of {home} stopped at {trail.size} records")
