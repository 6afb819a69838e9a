"""`tradetrail serve`: the trail's writer process in the foreground."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click

from .common import HOME_OPTION, err, require_trail


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
def serve(home: Path, index: bool, exit_when_idle: bool) -> None:
    """Run the trail's writer in the foreground, for systemd, a container or a supervisor.

    Every process that calls tradetrail.open() on this home, and every tradetrail command
    that records (record, export, attest, snapshot), attaches to this writer through its
    Unix socket (<home>/writer.sock) instead of starting its own. SIGTERM or Ctrl-C journals
    what clients handed over, signs a final checkpoint and exits 0. Settings come from the
    environment (TRADETRAIL_DURABILITY, TRADETRAIL_SIGNING_KEY, ...).

    TRADETRAIL_LOCK_MEMORY=1 keeps the writer's memory, where events wait unredacted
    before it redacts them, out of swap (mlockall).

    \b
    Example:
      tradetrail serve --index
    """
    from ..writer.process import serve as run

    require_trail(home)
    stop = threading.Event()
    previous = {
        signum: signal.signal(signum, lambda *_: stop.set())
        for signum in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        trail = run(home, exit_when_idle=exit_when_idle, index=index, stop=stop)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    err.print(f"writer of {home} stopped at {trail.size} records")
