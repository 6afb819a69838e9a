"""The writer process: one per trail, serving its channel (`tradetrail serve`, or started by
`tradetrail.open()` when none runs, then exiting when its last client leaves)."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

from ..errors import TradetrailError, TrailLockedError
from .config import resolve
from .server import ChannelServer
from .trail import Trail, open_engine

logger = logging.getLogger("tradetrail")

IDLE_LINGER_SECONDS: Final = 0.5
"""A writer started on demand waits this long after its last client leaves before it exits
(the next command of a script often attaches right away)."""
FIRST_CLIENT_SECONDS: Final = 30.0
"""...and this long for its first client."""
EX_TEMPFAIL: Final = 75
LOCK_WAIT_SECONDS: Final = 5.0
"""How long `serve` waits for a writer started on demand to exit."""
GC_THRESHOLDS: Final = (50_000, 20, 100)
"""The cycle collector's thresholds in a writer process (Python's are 700, 10, 10). The writer
allocates a few objects per event, none of them in a cycle, and holds up to a second of
events; with the defaults it collected every ~150 events and rescanned all it held, a third
of its time at full load (measured, BENCHMARKS.md). Cycles are still collected, rarely."""


def own_process_collector() -> None:
    """For a process that is the writer and nothing else (`tradetrail serve`, the writer
    `open()` starts): what it imported and opened goes out of the collector's way for good
    (gc.freeze), and collections are rarer (GC_THRESHOLDS)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def lock_memory() -> bool:
    """mlockall(): keep the writer's memory, where events wait unredacted, out of swap."""
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.mlockall(3) == 0:  # MCL_CURRENT | MCL_FUTURE
        return True
    error = ctypes.get_errno()
    logger.warning(
        "TRADETRAIL_LOCK_MEMORY: mlockall failed (%s); raise RLIMIT_MEMLOCK (LimitMEMLOCK= "
        "in systemd) or grant CAP_IPC_LOCK",
        os.strerror(error),
    )
    return False


def serve(
    home: str | os.PathLike[str] | None,
    *,
    exit_when_idle: bool = False,
    index: bool | str = False,
    ready: threading.Event | None = None,
    stop: threading.Event | None = None,
    beside: Callable[[Trail], Callable[[], None]] | None = None,
    own_process: bool = False,
) -> Trail:
    """Run the writer of `home` until `stop` is set (SIGTERM/SIGINT in `main`), or, with
    `exit_when_idle`, until no client has been attached for IDLE_LINGER_SECONDS. `beside`
    starts what else serves the trail (the HTTP service) and returns how to stop it, which is
    called before the trail closes. `own_process`: this process is the writer and nothing else
    (see own_process_collector)."""
    if os.environ.get("TRADETRAIL_LOCK_MEMORY", "").lower() in ("1", "true", "yes", "on"):
        lock_memory()
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            trail = open_engine(home, index=index, evict=not exit_when_idle)
            break
        except TrailLockedError:
            # a writer open() started lingers a moment after its last client: outwait it
            if exit_when_idle or time.monotonic() > deadline or (stop and stop.is_set()):
                raise
            time.sleep(0.05)
    server = ChannelServer(trail)
    trail.channel = server
    stop = stop or threading.Event()
    if exit_when_idle:
        server.leave = stop.set
    else:
        server.supervised = True
    stop_beside = None
    if beside is not None:
        try:
            stop_beside = beside(trail)
        except BaseException:
            trail.close()
            raise
    if own_process:
        own_process_collector()
    if ready is not None:
        ready.set()
    logger.warning(
        "tradetrail writer %d serving %s (%s) on %s",
        os.getpid(),
        trail.origin,
        trail.home,
        server.where,
    )
    idle_since = time.monotonic()
    seen = 0
    while not stop.wait(0.05):
        if not exit_when_idle:
            continue
        if server.clients or server.clients_seen != seen:
            seen = server.clients_seen  # (a client may come and go between two looks)
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= (
            IDLE_LINGER_SECONDS if seen else FIRST_CLIENT_SECONDS
        ):
            break
    if stop_beside is not None:
        stop_beside()
    trail.close()
    logger.warning("tradetrail writer %d stopped; %s is closed", os.getpid(), trail.home)
    return trail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tradetrail.writer.process",
        description="Run the writer of a trail (started by tradetrail.open(); see `tradetrail "
        "serve` to run it under a supervisor).",
    )
    parser.add_argument("--home", default=None)
    parser.add_argument("--exit-when-idle", action="store_true")
    parser.add_argument("--index", nargs="?", const=True, default=False)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s tradetrail-writer[%(process)d] %(message)s"
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())
    try:
        serve(
            Path(args.home) if args.home else resolve().home,
            exit_when_idle=args.exit_when_idle,
            index=args.index,
            stop=stop,
            own_process=True,
        )
    except TrailLockedError as exc:  # another writer won the race to start: clients use it
        print(f"tradetrail writer: {exc}", file=sys.stderr)
        return EX_TEMPFAIL
    except TradetrailError as exc:
        print(f"tradetrail writer: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
