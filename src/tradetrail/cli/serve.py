"""`tradetrail serve`: the trail's writer process in the foreground."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
@click.option(
    "--max-streams",
    default=256,
    show_default=True,
    type=click.IntRange(1, None),
    help="Streams (GET /v1/stream) open at once, in all; one token may hold 16 of them.",
)
@click.option(
    "--metrics-listen",
    metavar="HOST:PORT",
    default=None,
    help="Serve Prometheus metrics (the writer's health and the trading events it journals) "
    "at http://HOST:PORT/metrics; [::1]:PORT for IPv6. With --listen, the HTTP API serves "
    "them at /metrics too.",
)
@click.option(
    "--jobs",
    "jobs_file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="TRADETRAIL_JOBS",
    default=None,
    help="Run the scheduled compliance jobs of this file (TOML, or YAML by its .yaml name; "
    "docs/JOBS.md) in a thread beside the writer (env TRADETRAIL_JOBS).",
)
@click.option(
    "--alerts",
    "alerts_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Run these alert rules (docs/ALERTS.md) on the records journaled, in a thread "
    "beside the writer (as `tradetrail alerts run` does in a process of its own).",
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
    max_streams: int,
    metrics_listen: str | None,
    jobs_file: Path | None,
    alerts_file: Path | None,
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

    With --metrics-listen, Prometheus scrapes /metrics on that address (the rules and the
    Grafana dashboard of deploy/ read them); the listener stops with the writer.

    With --jobs, the daily packs, verification sweeps, retention plan reports and attestation
    reminders run on their schedules (a run missed while the service was down runs at start);
    with --alerts, the alert rules send their notifications. Both run off the recording path
    and stop with the writer.

    \b
    Examples:
      tradetrail serve --index
      tradetrail serve --listen 127.0.0.1:8080
      tradetrail serve --metrics-listen 127.0.0.1:9464
      tradetrail serve --jobs examples/jobs.toml
    """
    from ..writer.process import serve as run

    require_trail(home)
    jobs_config = None
    if jobs_file is not None:
        from ..compliance.jobs import load_jobs

        jobs_config = load_jobs(jobs_file)  # a JobsConfigError: one line, exit 2
    ruleset = None
    if alerts_file is not None:
        from ..alerts.rules import load_rules

        ruleset = load_rules(alerts_file)  # a RulesError: one line, exit 2
    listener = _listen(metrics_listen) if metrics_listen is not None else None
    service_start: Callable[[Trail, Any, Any], Callable[[], None]] | None = None
    if listen is not None:
        from ..service.app import ServiceConfig
        from ..service.server import Listen, Service

        where = Listen.parse(listen, tls_cert=tls_cert, tls_key=tls_key, client_ca=tls_client_ca)
        config = ServiceConfig(
            max_batch=max_batch,
            max_body_bytes=max_body_bytes,
            rate=rate,
            max_streams=max_streams,
            max_streams_per_token=min(16, max_streams),
        )
        index = True

        def service_start(trail: Trail, verification: Any, scheduler: Any) -> Callable[[], None]:
            service = Service(trail, where, config, verification=verification)
            if scheduler is not None and service.app.state.trail_metrics is not None:
                service.app.state.trail_metrics.registry.register(scheduler.collector())
            err.print(f"HTTP API of {trail.origin} on {where.url}")
            return service.stop

    elif tls_cert or tls_key or tls_client_ca:
        fail("--tls-cert/--tls-key/--tls-client-ca go with --listen")

    def beside(trail: Trail) -> Callable[[], None]:
        stoppers: list[Callable[[], None]] = []
        verification = None
        scheduler = None
        try:
            if ruleset is not None:  # first: it starts at the journal's end, before any job
                stoppers.append(_start_alerts(trail, ruleset))
            if jobs_config is not None:
                scheduler = _start_jobs(trail, jobs_config)
                verification = scheduler.verification
                stoppers.insert(0, scheduler.stop)
            if listener is not None:
                listener.start(trail, verification)
                if scheduler is not None:
                    listener.registry.register(scheduler.collector())
            if service_start is not None:
                stoppers.insert(0, service_start(trail, verification, scheduler))
        except BaseException:
            for stopper in stoppers:
                stopper()
            raise

        def stop_all() -> None:
            for stopper in stoppers:
                stopper()

        return stop_all

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
            beside=beside,
            own_process=True,
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

    def start(self, trail: Any, verification: Any = None) -> None:
        from ..metrics import TrailMetrics

        self.metrics = TrailMetrics.for_trail(
            trail, registry=self.registry, verification=verification
        )
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


def _start_jobs(trail: Trail, config: Any) -> Any:
    """The scheduler of `serve --jobs`, recording through the served trail."""
    from ..compliance.jobs import Scheduler

    def record(event_type: str, data: dict[str, Any]) -> None:
        trail.record(event_type, data, actor="tradetrail-jobs")

    scheduler = Scheduler(trail.home, config, record)
    scheduler.start()
    names = ", ".join(f"{n} ({config.jobs[n].schedule.describe()})" for n in config.enabled)
    err.print(f"jobs: {names or 'none enabled'}; state in {scheduler.state_path}", markup=False)
    return scheduler


def _start_alerts(trail: Trail, ruleset: Any) -> Callable[[], None]:
    """The alerts runner of `serve --alerts` in a thread; returns how to stop it."""
    from ..alerts.runner import Runner, default_state_path

    runner = Runner(
        trail.home,
        ruleset,
        default_state_path(trail.home),
        trail,
        origin=trail.origin,
        size=lambda: int(trail.durable_size),  # read as soon as a record is durable
    )
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,), name="tradetrail-alert-rules")
    thread.daemon = True
    thread.start()
    err.print(f"alerts: {len(ruleset.rules)} rules from seq {runner.next_seq}", markup=False)

    def stop_alerts() -> None:
        stop.set()
        thread.join(70)  # the dispatcher sends what is queued (its close waits up to 60 s)

    return stop_alerts
