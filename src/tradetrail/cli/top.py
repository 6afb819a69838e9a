"""`tradetrail top`: the live terminal view of a trail (tradetrail.metrics.top draws it)."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.live import Live

from .common import HOME_OPTION, JSON_OPTION, emit_json, err, fail, out, require_trail


@click.command()
@HOME_OPTION
@click.option("--url", metavar="URL", help="Watch the trail a service serves, not --home.")
@click.option(
    "--token",
    envvar="TRADETRAIL_TOKEN",
    help="With --url: a bearer token with read scope (env TRADETRAIL_TOKEN).",
)
@click.option("--once", is_flag=True, help="Print one frame and exit (for scripts).")
@click.option(
    "--interval",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.1, 60),
    help="Seconds between refreshes.",
)
@JSON_OPTION
def top(
    home: Path, url: str | None, token: str | None, once: bool, interval: float, as_json: bool
) -> None:
    """A live view of a trail: events/s by type, recent alerts (alert.*), the writer's health
    (degraded, spill, queue, checkpoint age, index lag, clients) and order latency p50/p99.
    Rates count the records by their time, the last 2000 included; Ctrl-C quits.

    \b
    Examples:
      tradetrail top --once
      tradetrail top --url https://trail.example.com:8750
    """
    from ..metrics.top import Board, LocalSource, RemoteSource, render

    if as_json and not once:
        fail("--json prints one frame: use it with --once")
    source: LocalSource | RemoteSource
    if url is not None:
        from ..writer.stream import ServiceReader

        reader = ServiceReader(url, token)
        source = RemoteSource(reader, follow=not once)
        source.start()  # a refused token or a wrong URL fails here, in one line
        board = Board(reader.url)
    else:
        require_trail(home)
        source = LocalSource(home)
        board = Board(str(home))
    source.poll(board)
    if once:
        if as_json:
            emit_json(board.snapshot())
        else:
            out.print(render(board.snapshot()))
        return
    try:
        with Live(render(board.snapshot()), console=out, screen=out.is_terminal) as live:
            while True:
                time.sleep(interval)
                source.poll(board)
                live.update(render(board.snapshot()))
    except KeyboardInterrupt:
        err.print("")
        return
