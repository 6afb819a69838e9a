"""`tradetrail serve`: the trail's writer process in the foreground."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import click

from .common import HOME_OPTION, err, fail, require_trail


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
    "--metrics-listen",
    metavar="HOST:PORT",
    default=None,
    help="Serve Prometheus metrics (the writer's health and the trading events it journals) "
    "at http://HOST:PORT/metrics; [::1]:PORT for IPv6.",
)
def serve(home: Path, index: bool, exit_when_idle: bool, metrics_listen: str | None) -> None:
    """Run the trail's writer in the foreground, for systemd, a container or a supervisor.

    Every process that calls tradetrail.open() on this home, and every tradetrail command
    that records (record, export, attest, snapshot), attaches to this writer through its
    Unix socket (<home>/writer.sock) instead of starting its own. SIGTERM or Ctrl-C journals
    what clients handed over, signs a final checkpoint and exits 0. Settings come from the
    environment (TRADETRAIL_DURABILITY, TRADETRAIL_SIGNING_KEY, ...).

    TRADETRAIL_LOCK_MEMORY=1 keeps the writer's memory, where events wait unredacted
    before it redacts them, out of swap (mlockall).

    With --metrics-listen, Prometheus scrapes /metrics on that address (the rules and the
    Grafana dashboard of deploy/ read them); the listener stops with the writer.

    \b
    Examples:
      tradetrail serve --index
      tradetrail serve --metrics-listen 127.0.0.1:9464
    """
    from ..writer.process import serve as run

    require_trail(home)
    listener = _listen(metrics_listen) if metrics_listen is not None else None
    stop = threading.Event()
    previous = {
        signum: signal.signal(signum, lambda *_: stop.set())
        for signum in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        trail = run(
            home,
            exit_when_idle=exit_when_idle,
            index=index,
            stop=stop,
            started=listener.start if listener is not None else None,
        )
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if listener is not None:
            listener.close()
    err.print(f"writer of {home} stopped at {trail.size} records")


def parse_listen(value: str) -> tuple[str, int]:
    """HOST:PORT (or [IPv6]:PORT) of --metrics-listen."""
    host, sep, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise click.BadParameter(
            f"{value!r}: expected HOST:PORT, e.g. 127.0.0.1:9464", param_hint="--metrics-listen"
        )
    return host, int(port)


class _Listener:
    """The /metrics endpoint: bound before the writer starts (a busy port is a usage error,
    not a writer that runs unwatched), filled once the trail is open."""

    def __init__(self, host: str, port: int) -> None:
        from prometheus_client import CollectorRegistry, start_http_server

        self.registry = CollectorRegistry()
        self.server, self.thread = start_http_server(port, host, registry=self.registry)
        self.metrics: Any = None

    def start(self, trail: Any) -> None:
        from ..metrics import TrailMetrics

        self.metrics = TrailMetrics.for_trail(trail, registry=self.registry)
        host, port = str(self.server.server_address[0]), self.server.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        err.print(f"metrics at http://{shown}:{port}/metrics", markup=False)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self.metrics is not None:
            self.metrics.close()


def _listen(value: str) -> _Listener:
    host, port = parse_listen(value)
    try:
        return _Listener(host, port)
    except OSError as exc:
        fail(f"--metrics-listen {value}: cannot listen there: {exc}")
