"""A trading process's side of the writer's channel: `tradetrail.open(home)` attaches here to the
one writer process of the trail (starting it when none runs), so any number of processes can
record into one trail.

`record()` validates, redacts and encodes in the caller exactly as an embedded trail does, then
appends to an in-memory outbox and returns a receipt: no lock, no system call. A flusher thread
hands the outbox over in framed batches; a reader thread resolves receipts from the writer's
acknowledgement runs (one per journal commit). Everything handed over and not yet acknowledged
stays in memory: when the writer dies (its socket ends, noticed at once), the flusher starts a
new writer and sends those events again marked as a replay, and the new writer journals only
the ones the dead one had not. When no writer comes up within `RESTART_GRACE_SECONDS` (longer
while one this client started is still starting: STARTING_GRACE_SECONDS), the
flusher spills them (already redacted) to `<home>/spill/`, from which a writer merges them
exactly once, and keeps trying.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import orjson

from ..core import layout
from ..core.canonical import (
    Prepared,
    RawEvent,
    decode_raw,
    encode_raw,
    encode_raw_c,
    prepare,
)
from ..core.note import Signer, Verifier
from ..core.timefmt import format_ns
from ..errors import (
    ChannelError,
    ConfigError,
    TradetrailError,
    TrailClosedError,
    TrailCorruptError,
    WriterLostError,
    WriterStartError,
)
from ..model.context import with_context
from ..model.events import DEFAULT_MODEL, EventModel
from ..model.redact import DEFAULT_REDACTOR, Redactor
from ..store.keys import parse_signer
from . import ring as shm
from . import wire
from .config import Settings
from .spill import Spill
from .trail import _JOURNALED, _QUEUED, _SPILLED, Receipt, Trail, process_source, source_fragment

logger = logging.getLogger("tradetrail")

WRITER_LOG: Final = layout.WRITER_LOG
START_TIMEOUT_SECONDS: Final = 15.0
EX_TEMPFAIL: Final = 75
"""A writer process's exit status when another writer holds the trail (it lost a race)."""
RESTART_GRACE_SECONDS: Final = 1.0
"""How long events handed over to a dead writer wait in memory for a new one before the
flusher spills them to disk as well."""
STARTING_GRACE_SECONDS: Final = 5.0
"""How long they wait instead while a writer this client started is still starting (alive,
not answering yet): on a loaded machine a new interpreter opening a large trail can take more
than RESTART_GRACE_SECONDS, and spilling a hundred thousand events meanwhile, to merge them
later, costs far longer than the wait (measured: catching up took 20-54 s instead of 3 s)."""
MAX_FRAME_EVENTS: Final = 2048
RAW_BACKLOG: Final = 1000
"""While fewer events than this wait for a writer that shapes raw events in Python, the common
event goes raw (the writer shapes it: the least work in the caller); past it that writer is the
bottleneck, and callers shape their events themselves, in parallel, for throughput. Same bytes
either way. A writer with the compiled shaper (welcome "shaper": "compiled") takes a raw event
for less than it takes to check a prepared one, so its clients always hand events over raw."""
MAX_FRAME_BYTES: Final = 4 * 1024 * 1024
MAX_MEMORY_EVENTS: Final = 1_000_000
"""Unacknowledged events kept in memory while no writer runs; beyond, only the spill has them."""

_open_clients: weakref.WeakSet[AttachedTrail] = weakref.WeakSet()
_generation = [0]  # bumped in a fork()ed child: its clients re-attach on their next record


def settings_environment(settings: Settings) -> dict[str, str]:
    """The environment that makes a writer process resolve the same settings."""
    env = {
        "TRADETRAIL_HOME": str(settings.home.resolve()),
        "TRADETRAIL_DURABILITY": settings.durability.value,
        "TRADETRAIL_SPILL_DIR": str(settings.spill_dir.resolve()),
        "TRADETRAIL_MAX_EVENT_BYTES": str(settings.max_event_bytes),
        "TRADETRAIL_QUEUE_SIZE": str(settings.queue_size),
        "TRADETRAIL_CHECKPOINT_EVERY": str(settings.checkpoint_every),
        "TRADETRAIL_CHECKPOINT_INTERVAL": repr(settings.checkpoint_interval),
        "TRADETRAIL_CHECKPOINT_SPACING": repr(settings.checkpoint_spacing),
        "TRADETRAIL_MIN_FREE_BYTES": str(settings.min_free_bytes),
        "TRADETRAIL_STRICT": "1" if settings.strict else "0",
    }
    if settings.origin is not None:
        env["TRADETRAIL_ORIGIN"] = settings.origin
    if settings.signing_key:
        key = settings.signing_key
        env["TRADETRAIL_SIGNING_KEY"] = str(Path(key).resolve()) if Path(key).exists() else key
    return env


_MAX_ENV_STRING: Final = 128 * 1024 - 2


def start_writer(settings: Settings, *, index: bool | str = False) -> subprocess.Popen[bytes]:
    """Start a writer process for `settings.home` that exits when its last client leaves.
    Its output goes to <home>/writer.log."""
    home = settings.home.resolve()
    # a variable longer than Linux's MAX_ARG_STRLEN would make exec() fail (E2BIG)
    env = {k: v for k, v in os.environ.items() if len(k) + len(v) < _MAX_ENV_STRING}
    env.update(settings_environment(settings))
    src = str(Path(__file__).resolve().parents[2])  # the tradetrail this process runs
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    command = [sys.executable, "-m", "tradetrail.writer.process", "--home", str(home)]
    command.append("--exit-when-idle")
    if index:
        command += ["--index"] + ([index] if isinstance(index, str) else [])
    with open(home / WRITER_LOG, "ab") as log:
        return subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd="/",
            start_new_session=True,  # the writer outlives a client's Ctrl-C and its death
            close_fds=True,
        )


def _log_size(home: Path) -> int:
    try:
        return (home / WRITER_LOG).stat().st_size
    except OSError:
        return 0


_WRITER_ERRORS: Final = {"ConfigError": ConfigError, "TrailCorruptError": TrailCorruptError}


def _raise_writer_error(home: Path, since: int) -> None:
    """Raise, as its own class, the error a writer we started died of (it says
    `tradetrail writer: <class>: <message>` in its log): a bad key or origin must fail open()
    as it does embedded, not as a generic start failure."""
    try:
        with open(home / WRITER_LOG, "rb") as fh:
            fh.seek(since)
            text = fh.read().decode(errors="replace")
    except OSError:
        return
    for line in reversed(text.splitlines()):
        if line.startswith("tradetrail writer: "):
            name, _, message = line[len("tradetrail writer: ") :].partition(": ")
            error = _WRITER_ERRORS.get(name)
            if error is not None:
                raise error(message)
            return


def _log_tail(home: Path) -> str:
    try:
        lines = (home / WRITER_LOG).read_bytes().decode(errors="replace").strip().splitlines()
    except OSError:
        return ""
    errors = [line for line in lines[-40:] if "Error" in line or "error" in line]
    return (errors or lines[-1:] or [""])[-1]


def probe(home: Path, timeout: float = 2.0) -> dict[str, Any] | None:
    """What the writer serving `home` says of itself (origin, size, pid, accelerator), or None
    when none answers: for `tradetrail info`, never starting one."""
    addr = wire.address(home)
    try:
        sock = wire.connect(addr, timeout=timeout)
    except OSError:
        return None
    try:
        sock.settimeout(timeout)
        welcome = wire.handshake(sock, wire.describe(addr), {"probe": True})
        welcome["channel"] = wire.describe(addr)
        return welcome
    except (OSError, ChannelError, orjson.JSONDecodeError):
        return None
    finally:
        wire.shutdown(sock)


def _ask(home: Path, op: str, timeout: float) -> dict[str, Any] | None:
    """The writer's REPLY to one call made as a probe (not attached, never starting a
    writer); None when none answers, or it refuses probes."""
    addr = wire.address(home)
    try:
        sock = wire.connect(addr, timeout=timeout)
    except OSError:
        return None
    try:
        sock.settimeout(timeout)
        if "refused" in wire.handshake(sock, wire.describe(addr), {"probe": True}):
            return None
        sock.sendall(wire.json_frame(wire.REQUEST, {"id": 1, "op": op, "args": {}}))
        reader = wire.FrameReader(sock, wire.describe(addr))
        while (got := reader.read()) is not None:
            if got[0] == wire.REPLY:
                reply = orjson.loads(got[1])
                return reply if isinstance(reply, dict) else None
        return None
    except (OSError, ChannelError, orjson.JSONDecodeError):
        return None
    finally:
        wire.shutdown(sock)


def ask_to_leave(home: Path, timeout: float = 5.0) -> bool:
    """Ask a writer that open() started, and that no client uses, to exit now (it would a
    moment later): a command that needs the trail to itself need not fail meanwhile. True
    when it agreed; the caller then waits for the writer lock."""
    reply = _ask(home, "leave", timeout)
    return reply is not None and bool(reply.get("ok"))


def writer_stats(home: Path, timeout: float = 2.0) -> dict[str, Any] | None:
    """The stats() of the writer serving `home` (as Trail.stats, with `clients`), asked as a
    probe (not attached, never starting one); None when none answers."""
    reply = _ask(home, "stats", timeout)
    result = reply.get("result") if reply is not None and reply.get("ok") else None
    return result if isinstance(result, dict) else None


class AttachedTrail(Trail):
    """A trail whose writer runs in another process (see module doc): a `Trail` to its users
    (same API, same receipts), none of whose writing machinery runs here."""

    def __init__(
        self,
        settings: Settings,
        clock: object = None,
        *,
        model: EventModel | None = DEFAULT_MODEL,
        redactor: Redactor | None = DEFAULT_REDACTOR,
        index: bool | str = False,
        start: bool = True,
        raw_events: bool = True,
    ) -> None:
        # Trail.__init__ is not called: the writer is the other process's
        if clock is not None:
            raise ConfigError("clock: an injected clock needs writer='embedded'")
        self.settings = settings
        self.home = settings.home
        self.model = model
        self.redactor = redactor
        self._strict = settings.strict
        self._start = start
        self._index = index
        self._address = wire.address(settings.home)
        self._where = wire.describe(self._address)
        self._outbox: deque[Receipt] = deque()
        self._unacked: dict[int, Receipt] = {}
        # spilled by the writer (its disk failed): no longer ours to send, resolved at merge
        self._held_by_writer: dict[int, Receipt] = {}
        self._lock = threading.Lock()  # unacked, the socket, the calls
        self._send_lock = threading.Lock()
        self._cond = threading.Condition()
        self._waiters = 0
        self._wake = threading.Event()
        self._idle = False
        self._closing = False
        self._closed = False
        self._next_index = 0
        self._calls: dict[int, list[Any]] = {}
        self._call_ids = itertools.count(1)
        self._sock: socket.socket | None = None
        self._ring: shm.Ring | None = None  # this connection's shared memory (Linux)
        self._ring_memory: Any = None
        self._ring_handed = 0  # events put into rings of earlier connections
        self._ring_replayed = 0  # of which replays
        self._since = 0  # the durable size the current connection started at
        self._lost_at: float | None = None
        self._spill: Spill | None = None
        self._starting: subprocess.Popen[bytes] | None = None
        self._trouble_since: float | None = None  # since when no writer took our events
        self._trouble = "the writer went away"
        self._failures = 0
        self._last_start = -1e9
        self._log_start = 0
        self._counters = {
            "handed_over": 0,
            "acknowledged": 0,
            "replayed": 0,
            "reconnects": 0,
            "writers_started": 0,
            "spilled": 0,
            "rejected": 0,
            "redacted": 0,
            "schema_errors": 0,
            "fallbacks": 0,
        }
        self._schema_warned: set[str] = set()
        self._shaping_lock = threading.Lock()
        self._forked = False  # (a fork()ed child attaches anew: see _after_fork)
        self._indexer = None
        self.origin = settings.origin or ""
        self.durable_size = 0
        self.welcome: dict[str, Any] = {}
        self._raw_backlog = RAW_BACKLOG
        self._generation = _generation[0]
        self._source = self._make_source()
        self._max_bytes = settings.max_event_bytes
        # the writer process shapes events with the default model and redactor only
        self._raw_ok = (
            raw_events
            and model is DEFAULT_MODEL
            and redactor is DEFAULT_REDACTOR
            and not settings.strict
        )
        self._expected_vkey: str | None = None
        if settings.signing_key:  # the writer already running must sign with the configured key
            self._expected_vkey = (
                parse_signer(settings.signing_key, "signing key (TRADETRAIL_SIGNING_KEY)")
                .verifier()
                .vkey()
            )
        self._attach(first=True)
        self._expected_vkey = None  # a rotation may change it later
        for warning in self.welcome.get("warnings") or ():
            logger.warning("%s", warning)
        if self.welcome.get("durability") != settings.durability.value:
            logger.warning(
                "durability: the writer serving %s (process %s) acknowledges after %s, not %s "
                "as this process asked; its settings are the trail's until it exits",
                self.home,
                self.welcome.get("pid"),
                self.welcome.get("durability"),
                settings.durability.value,
            )
        self._flusher = self._start_thread(self._flush_loop, "tradetrail-client")
        _open_clients.add(self)

    # ------------------------------------------------------------------ set-up

    def _make_source(self) -> orjson.Fragment:
        self._plain_source = process_source(self.settings)  # the writer redacts it once too
        return source_fragment(dict(self._plain_source), self.redactor)

    @staticmethod
    def _start_thread(target: Any, name: str) -> threading.Thread:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        return thread

    def _connect(self) -> socket.socket:
        sock = wire.connect(self._address, timeout=2.0)
        try:
            sock.settimeout(10.0)
            welcome = wire.handshake(sock, self._where, {"source": self._plain_source})
            sock.settimeout(None)
            if "refused" in welcome:
                raise WriterStartError(f"{self._where}: {welcome['refused']}")
            self.welcome = welcome
            self._raw_backlog = sys.maxsize if welcome.get("shaper") == "compiled" else RAW_BACKLOG
        except BaseException:
            wire.shutdown(sock)
            raise
        origin = self.settings.origin
        if origin is not None and self.welcome.get("origin") != origin:
            wire.shutdown(sock)
            raise ConfigError(
                f"origin: the trail at {self.home} is {self.welcome.get('origin')!r}, "
                f"not {origin!r} (TRADETRAIL_ORIGIN names the log and cannot change)"
            )
        if self._expected_vkey is not None and self.welcome.get("vkey") != self._expected_vkey:
            wire.shutdown(sock)
            raise ConfigError(
                f"signing key (TRADETRAIL_SIGNING_KEY): the writer serving {self.home} (process "
                f"{self.welcome.get('pid')}) signs with {self.welcome.get('vkey')}, not with the "
                f"configured {self._expected_vkey}; stop it, or configure the same key"
            )
        return sock

    def _attach(self, first: bool = False) -> None:
        """Connect to the trail's writer, starting one if none answers (at most one start per
        second, so a writer that cannot run is not started in a loop); raises WriterStartError
        when none answers within START_TIMEOUT_SECONDS (RESTART_GRACE_SECONDS after a loss)."""
        deadline = time.monotonic() + (START_TIMEOUT_SECONDS if first else RESTART_GRACE_SECONDS)
        delay = 0.002
        last: Exception | None = None
        sock: socket.socket | None = None
        while sock is None:
            try:
                sock = self._connect()
                break
            except ChannelError as exc:
                if "uid" in str(exc):
                    raise
                last = exc
            except OSError as exc:
                last = exc
            process = self._starting
            # a writer run by a supervisor (`tradetrail serve`) is restarted by it, not by us
            start = self._start and (first or not self.welcome.get("supervised"))
            if start and (process is None or process.poll() is not None):
                failed = process is not None and process.returncode not in (0, EX_TEMPFAIL)
                if failed and first:
                    break  # it said why in its log
                if time.monotonic() - self._last_start >= 1.0:
                    self._log_start = _log_size(self.home)
                    try:
                        self._starting = start_writer(self.settings, index=self._index)
                    except OSError as exc:  # no process can start: as if none answered
                        last = exc
                        self._starting = None
                        if first:
                            break
                    self._last_start = time.monotonic()
                    self._counters["writers_started"] += 1
            if time.monotonic() > deadline and (first or not self._writer_starting()):
                break
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        if sock is None:
            if self._start:
                _raise_writer_error(self.home, self._log_start)
            tail = _log_tail(self.home) if self._start else ""
            raise WriterStartError(
                f"no writer answers on {self._where}: {last}"
                + (f"; the writer said: {tail}" if tail else "")
                + (f" (see {self.home / WRITER_LOG})" if self._start else "")
            )
        with self._lock:
            self._sock = sock
            self._since = int(self.welcome.get("size", 0))
            self.durable_size = max(self.durable_size, self._since)
            self.origin = str(self.welcome["origin"])
            self.verifier = Verifier.from_vkey(str(self.welcome["vkey"]))
            self._lost_at = None
        if self._spill is None:
            self._spill = Spill(Path(self.settings.spill_dir), str(self.welcome["origin"]))
        self._start_thread(lambda: self._read_loop(sock), "tradetrail-client-acks")
        if self.welcome.get("ring") and shm.wanted():
            self._open_ring(sock)

    def _writer_starting(self) -> bool:
        """A writer process this client started is alive, younger than STARTING_GRACE_SECONDS
        and not answering yet: wait for it rather than spill."""
        process = self._starting
        return (
            process is not None
            and process.poll() is None
            and time.monotonic() - self._last_start < STARTING_GRACE_SECONDS
        )

    def _open_ring(self, sock: socket.socket) -> None:
        """Hand events over in shared memory from now on (writer/ring.py); on any failure the
        socket carries them, as it does everywhere but Linux."""
        try:
            ring, memory, fd = shm.create(shm.capacity_for(self._max_bytes))
        except OSError as exc:
            logger.warning("tradetrail: no shared-memory ring (%s); using the socket", exc)
            return
        try:
            with self._lock:
                ring.next_index = self._next_index
            self._call("ring", {"capacity": ring.capacity}, 10.0, fds=[fd])
        except (TradetrailError, TimeoutError, OSError, WriterLostError) as exc:
            shm.close(ring, memory)
            logger.warning("tradetrail: the writer took no shared-memory ring (%s)", exc)
            return
        finally:
            os.close(fd)
        with self._lock:
            if self._sock is not sock:  # lost meanwhile
                shm.close(ring, memory)
                return
            self._ring, self._ring_memory = ring, memory

    def _drop_ring(self) -> None:
        """The connection is gone: events are numbered in Python again from where the ring
        stopped (a record() that put into it just before is in _unacked, replayed)."""
        ring, memory = self._ring, self._ring_memory
        self._ring = self._ring_memory = None
        if ring is not None:
            shm.close(ring, memory)
            self._next_index = max(self._next_index, ring.next_index)
            self._ring_handed += ring.count

    def _handed_over(self) -> int:
        ring = self._ring
        live = ring.count if ring is not None else 0
        return self._counters["handed_over"] + self._ring_handed + live - self._ring_replayed

    def _new_index(self) -> int:
        ring = self._ring
        if ring is not None:
            return ring.reserve()
        index = self._next_index
        self._next_index += 1
        return index

    def _bell(self) -> None:
        """The writer sleeps on an empty ring: wake it (never blocking the caller)."""
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):  # a lost writer is noticed by the reader
                sock.send(wire.DOORBELL_FRAME, socket.MSG_DONTWAIT)

    # ------------------------------------------------------------------ the API

    def record(self, event_type: str, data: Any = None, **fields: Any) -> Receipt:
        """Validate, redact and encode one event and hand it to the writer; returns at once.
        Same contract as `Trail.record`."""
        if self._closing:
            raise TrailClosedError(self._closed_message())
        if self._generation != _generation[0]:
            self._after_fork()
        outbox, unacked = self._outbox, self._unacked
        if self._raw_ok and len(outbox) + len(unacked) < self._raw_backlog:
            if _encode_c is not None:
                raw = _encode_c(event_type, data, with_context(fields), self._max_bytes)
                if raw is not None:  # the common event: the writer shapes it
                    # (_enqueue's hand-over inlined: a method call is 4% of this path)
                    receipt = Receipt(self, RawEvent(raw))  # type: ignore[arg-type]
                    ring = self._ring
                    if ring is not None and not outbox:
                        try:
                            got = ring.put(_RAW, self._since, raw, unacked, receipt)
                        except ValueError:  # released: the writer was lost just now
                            got = -1
                        if got >= 0:
                            if got & 1:
                                self._bell()
                            return receipt
                    outbox.append(receipt)
                    if self._idle:
                        self._wake.set()
                    return receipt
            else:
                event = encode_raw(event_type, data, with_context(fields), self._max_bytes)
                if event is not None:
                    return self._enqueue(event)
        return self._enqueue(self._shape(event_type, data, fields))

    def _enqueue(self, event: Prepared | RawEvent) -> Receipt:
        if self._generation != _generation[0]:
            self._after_fork()
        receipt = Receipt(self, event)  # type: ignore[arg-type]
        ring = self._ring
        if ring is not None and not self._outbox:
            kind, payload = _entry(event)
            try:
                got = ring.put(kind, self._since, payload, self._unacked, receipt)
            except ValueError:
                got = -1
            if got >= 0:
                if got & 1:
                    self._bell()
                return receipt
        self._outbox.append(receipt)
        if self._idle:
            self._wake.set()
        return receipt

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every record submitted before the call is durable in the journal; False
        when events wait in a spill file (see stats()). Never raises for I/O."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:  # the writer settles one client's events in order: wait for the last
            last = self._outbox[-1] if self._outbox else None
            if last is None and self._unacked:
                last = self._unacked[max(self._unacked)]
        self._wake.set()
        if last is not None:
            with self._cond:
                self._waiters += 1
                try:
                    while last._state == _QUEUED and not self._closed:
                        remaining = None if deadline is None else deadline - time.monotonic()
                        if remaining is not None and remaining <= 0:
                            return False
                        self._cond.wait(min(remaining, 0.5) if remaining is not None else 0.5)
                finally:
                    self._waiters -= 1
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            result = self._call("flush", {"timeout": remaining}, remaining)
        except (TradetrailError, TimeoutError, OSError, WriterLostError):
            return False
        return bool(result) and not any(r._state == _SPILLED for r in self._unacked.values())

    def checkpoint(self, timeout: float | None = None) -> str:
        """Sign a checkpoint of everything journaled so far (after this client's events)."""
        if self._closing:
            raise TrailClosedError(self._closed_message())
        self.flush(timeout)
        return str(self._call("checkpoint", {"timeout": timeout}, timeout))

    def rotate_key(
        self, new_signer: Signer, *, reason: str | None = None, timeout: float | None = None
    ) -> str:
        """See Trail.rotate_key: done by the writer process."""
        if not isinstance(new_signer, Signer):
            raise TypeError(f"new_signer: expected a Signer, got {type(new_signer).__name__}")
        self.flush(timeout)
        note = str(
            self._call(
                "rotate_key",
                {"skey": new_signer.skey(), "reason": reason, "timeout": timeout},
                timeout,
            )
        )
        self.verifier = new_signer.verifier()
        return note

    def stats(self) -> dict[str, Any]:
        """The writer's counters (as Trail.stats) and this client's under `client`."""
        mine: dict[str, Any] = dict(self._counters)
        mine.update(
            handed_over=self._handed_over(),
            transport="shared-memory ring" if self._ring is not None else "socket",
            outbox=len(self._outbox),
            unacknowledged=len(self._unacked),
            connected=self._sock is not None,
            writer_pid=self.welcome.get("pid"),
        )
        try:
            out: dict[str, Any] = dict(self._call("stats", {}, 5.0))
        except (TradetrailError, TimeoutError, OSError, WriterLostError) as exc:
            out = {"degraded": f"writer unreachable: {exc}"}
        out["client"] = mine
        out["mode"] = "attached"
        return out

    @property
    def size(self) -> int:
        """Records in the journal (as far as this client has heard)."""
        with contextlib.suppress(TradetrailError, TimeoutError, OSError, WriterLostError):
            return int(self._call("stats", {}, 5.0)["size"])
        return self._since

    def close(self, timeout: float | None = None) -> None:
        """Hand over and journal what is queued, have the writer sign a checkpoint covering it
        (as closing an embedded trail does), then detach. The writer process exits a moment
        after its last client leaves (and then signs its `closed` mark), unless it runs under
        `tradetrail serve`."""
        if self._closed or self._closing:
            return
        wait = 30.0 if timeout is None else timeout
        try:
            if not self.flush(wait):
                left = len(self._outbox) + sum(
                    1 for r in self._unacked.values() if r._state == _QUEUED
                )
                if left:
                    self._spill_now("the trail was closed before its writer acknowledged them")
            elif self._handed_over() or self._counters["replayed"]:
                with contextlib.suppress(TradetrailError, TimeoutError, OSError):
                    self._call("checkpoint", {"timeout": wait}, wait)
        finally:
            self._closing = True
            self._wake.set()
            self._flusher.join(5)
            with self._lock:
                sock, self._sock = self._sock, None
            if sock is not None:
                wire.shutdown(sock)
            self._closed = True
            with self._cond:
                self._cond.notify_all()
            _open_clients.discard(self)

    def __repr__(self) -> str:
        return f"<AttachedTrail {self.origin} at {self.home} via {self._where}>"

    _spill_journaled_when = "by the trail's writer"  # (Trail._wait_for, inherited)

    # ------------------------------------------------------------------ calls

    def _call(
        self, op: str, args: dict[str, Any], timeout: float | None, fds: list[int] | None = None
    ) -> Any:
        ident = next(self._call_ids)
        slot: list[Any] = [threading.Event(), None]
        with self._lock:
            sock = self._sock
            if sock is None:
                raise WriterLostError("not connected to the trail's writer")
            self._calls[ident] = slot
        try:
            request = wire.json_frame(wire.REQUEST, {"id": ident, "op": op, "args": args})
            with self._send_lock:
                if fds:  # (one sendmsg: the descriptors travel with the frame's first byte)
                    sent = socket.send_fds(sock, [request], fds)
                    sock.sendall(request[sent:])
                else:
                    sock.sendall(request)
            if not slot[0].wait(timeout):
                raise TimeoutError(f"the writer did not answer {op} within {timeout}s")
        finally:
            with self._lock:
                self._calls.pop(ident, None)
        reply = slot[1]
        if reply is None:
            raise WriterLostError("the writer went away during the call")
        if not reply.get("ok"):
            error = str(reply.get("error"))
            message = str(reply.get("message"))
            if error == "ConfigError":
                raise ConfigError(message)
            if error == "TimeoutError":
                raise TimeoutError(message)
            raise TradetrailError(f"{op}: {message}")
        return reply.get("result")

    # ------------------------------------------------------------------ threads

    def _read_loop(self, sock: socket.socket) -> None:
        reader = wire.FrameReader(sock, self._where)
        try:
            while True:
                got = reader.read()
                if got is None:
                    break
                kind, payload = got
                if kind == wire.ACK:
                    self._settle(payload)
                elif kind == wire.REPLY:
                    reply = orjson.loads(payload)
                    with self._lock:
                        slot = self._calls.get(reply.get("id"))
                    if slot is not None:
                        slot[1] = reply
                        slot[0].set()
                elif kind == wire.REJECTED:
                    self._rejected(orjson.loads(payload))
                elif kind == wire.WARNING:
                    warning = orjson.loads(payload)
                    kind_name = str(warning.get("type"))
                    if kind_name not in self._schema_warned and len(self._schema_warned) < 1024:
                        self._schema_warned.add(kind_name)
                        logger.warning("%s", warning.get("message"))
        except (OSError, ChannelError, orjson.JSONDecodeError):
            pass
        self._lost(sock)

    def _settle(self, payload: bytes) -> None:
        unacked = self._unacked
        done = 0
        with self._lock:
            held = self._held_by_writer
            for first, seq, count, state in wire.parse_acks(payload):
                if state == wire.JOURNALED:
                    missing = _settle(unacked, first, seq, count, _JOURNALED)
                    done += count - len(missing)
                    if seq + count > self.durable_size:
                        self.durable_size = seq + count
                    for index in missing:  # merged from the writer's spill, or not ours
                        receipt = held.pop(index, None)
                        if receipt is not None:
                            receipt.seq = seq + index - first
                            receipt._state = _JOURNALED
                            done += 1
                    continue
                # in the writer's spill file: it merges them and tells us then
                for index in range(first, first + count):
                    receipt = unacked.pop(index, None) or held.pop(index, None)
                    if receipt is not None:
                        receipt._state = _SPILLED
                        held[index] = receipt
        self._counters["acknowledged"] += done
        if done:  # a writer takes our events again
            self._trouble_since = None
            self._failures = 0
        self._notify()

    def _rejected(self, body: dict[str, Any]) -> None:
        with self._lock:
            receipt = self._unacked.pop(int(body.get("index", -1)), None)
        self._counters["rejected"] += 1
        logger.error("tradetrail writer rejected an event: %s", body.get("reason"))
        if receipt is not None:
            receipt._state = _SPILLED
        self._notify()

    def _lost(self, sock: socket.socket) -> None:
        with self._lock:
            if self._sock is not sock:
                return
            self._sock = None
            self._drop_ring()
            self._lost_at = time.monotonic()
            calls = list(self._calls.values())
        wire.shutdown(sock)
        if self._starting is not None:
            self._starting.poll()  # reap a writer we started, if that is what died
        for slot in calls:
            slot[0].set()
        if not self._closing:
            logger.warning("tradetrail: the writer of %s went away; re-attaching", self.home)
        self._wake.set()

    def _flush_loop(self) -> None:
        outbox = self._outbox
        while True:
            if not outbox:
                self._wake.clear()
                self._idle = True
                if not outbox and not self._closing:
                    self._wake.wait(0.2 if self._sock is not None else 0.05)
                self._idle = False
            if self._closing and not outbox:
                return
            try:
                if self._sock is None:
                    if not (outbox or self._unacked or self._held_by_writer):
                        continue  # nothing to hand over: attach again on the next record
                    self._recover()
                    if self._sock is None:
                        continue
                self._hand_over()
            except WriterLostError:
                continue
            except Exception:  # never lose what is queued to a bug here: spill it
                logger.exception("tradetrail client error; spilling what is not handed over")
                with contextlib.suppress(Exception):
                    self._spill_now("client error")
                time.sleep(0.1)

    def _hand_over(self) -> None:
        outbox = self._outbox
        while outbox:
            batch: list[Receipt] = []
            nbytes = 0
            while outbox and len(batch) < MAX_FRAME_EVENTS and nbytes < MAX_FRAME_BYTES:
                receipt = outbox.popleft()
                batch.append(receipt)
                nbytes += len(receipt.event)  # type: ignore[arg-type]
            self._send(batch, replay=False)

    def _send(self, batch: Sequence[Receipt], *, replay: bool) -> None:
        ring = self._ring
        if ring is not None:
            self._put(ring, batch, replay)
            return
        with self._lock:
            sock = self._sock
            first = self._next_index
            self._next_index += len(batch)
            for offset, receipt in enumerate(batch):
                receipt._index = first + offset
                self._unacked[first + offset] = receipt
                if not replay:  # it cannot be journaled before the seq this connection began at
                    receipt._result = self._since
            since = self._replay_since if replay else None
        frame = wire.events_frame(first, [_item(r.event) for r in batch], since)
        if sock is None:
            raise WriterLostError("no writer")
        try:
            with self._send_lock:
                sock.sendall(frame)
        except OSError:
            self._lost(sock)
            raise WriterLostError("the writer went away") from None
        self._counters["replayed" if replay else "handed_over"] += len(batch)

    def _put(self, ring: shm.Ring, batch: Sequence[Receipt], replay: bool) -> None:
        """Into the ring, in order, waiting (this is the flusher, not the caller) while it is
        full; when the writer goes away meanwhile, the rest is numbered and kept for replay."""
        since = self._replay_since if replay else self._since
        flag = shm.REPLAY if replay else 0
        unacked = self._unacked
        bell = False
        for position, receipt in enumerate(batch):
            kind, payload = _entry(receipt.event)
            while True:
                try:
                    got = ring.put(kind | flag, since, payload, unacked, receipt)
                except ValueError:  # released: lost
                    got = -2
                if got >= 0:
                    bell = bell or bool(got & 1)
                    break
                if got == -2 or self._sock is None or self._ring is not ring:
                    with self._lock:
                        for rest in batch[position:]:
                            rest._index = self._new_index()
                            unacked[rest._index] = rest
                            if not replay:
                                rest._result = self._since
                    raise WriterLostError("the writer went away")
                if bell:
                    self._bell()
                    bell = False
                time.sleep(0.0002)
        if bell:
            self._bell()
        if replay:  # (the ring counts every event put; replays are counted apart)
            self._counters["replayed"] += len(batch)
            self._ring_replayed += len(batch)

    _replay_since = 0

    def _recover(self) -> None:
        """After the writer went away: start or find a new one and hand over again what the
        dead one did not acknowledge. While no writer takes them (none comes up, or each one
        drops us again), they are spilled after RESTART_GRACE_SECONDS and attempts back off
        up to a second apart: never a tight loop, never a lost event."""
        now = time.monotonic()
        if self._trouble_since is None:
            self._trouble_since = now
        elif now - self._trouble_since >= RESTART_GRACE_SECONDS and not self._writer_starting():
            self._spill_now(f"no writer takes them: {self._trouble}")
            self._trim_memory()
        if self._failures:
            time.sleep(min(0.005 * 2**self._failures, 1.0))
        self._failures += 1
        try:
            self._attach()
        except (TradetrailError, OSError) as exc:
            self._trouble = str(exc)
            return
        self._counters["reconnects"] += 1
        with self._lock:
            # the dead writer's spill is merged by the next one: replaying its events too
            # (deduplicated against the journal) tells us their seqs
            self._unacked.update(self._held_by_writer)
            self._held_by_writer.clear()
            again = [self._unacked.pop(i) for i in sorted(self._unacked)]
            # the oldest event may have been journaled at any seq since its own connection began
            self._replay_since = min(
                [self._since] + [r._result for r in again if isinstance(r._result, int)]
            )
        for start in range(0, len(again), MAX_FRAME_EVENTS):
            self._send(again[start : start + MAX_FRAME_EVENTS], replay=True)

    def _spill_now(self, reason: str) -> None:
        """Make everything not acknowledged durable in the spill directory (redacted, as it
        would be journaled); a writer merges it exactly once. Memory keeps a copy to hand
        over again, so the receipts still resolve when a writer returns."""
        outbox = self._outbox
        with self._lock:
            while outbox:
                receipt = outbox.popleft()
                receipt._index = self._new_index()
                self._unacked[receipt._index] = receipt
            todo = [r for r in self._unacked.values() if r._state == _QUEUED]
            since = self._since
        if not todo or self._spill is None:
            return
        at = format_ns(time.time_ns())
        entries = []
        for r in todo:
            try:
                fields = self._prepared(r.event).fields()
            except (ValueError, TypeError) as exc:  # the writer would journal it as log.fallback
                logger.error("tradetrail: event %s cannot be spilled: %s", r.event_id, exc)
                continue
            entries.append({"after_seq": since, "at": at, "reason": reason, "event": fields})
        try:
            self._spill.append(entries, sync=True)
        except OSError as exc:
            logger.error(
                "tradetrail: cannot spill %d event(s) (%s); kept in memory", len(todo), exc
            )
            return
        for r in todo:
            r._state = _SPILLED
            if not isinstance(r._result, int):
                r._result = since
        self._counters["spilled"] += len(todo)
        logger.error(
            "tradetrail: %d event(s) spilled to %s (%s); they are journaled when a writer runs",
            len(todo),
            self._spill.directory,
            reason,
        )
        self._notify()

    def _prepared(self, event: object) -> Prepared:
        """An event as the writer would shape it, made here (a spill must never hold what the
        redactor would have removed)."""
        if isinstance(event, Prepared):
            return event
        assert isinstance(event, RawEvent)
        kind, data, fields = decode_raw(event.raw)
        return prepare(
            kind,
            data,
            fields,
            self._source,
            self._max_bytes,
            model=self.model,
            redactor=self.redactor,
        )

    def _trim_memory(self) -> None:
        with self._lock:
            extra = len(self._unacked) - MAX_MEMORY_EVENTS
            if extra > 0:
                for index in sorted(self._unacked)[:extra]:
                    if self._unacked[index]._state == _SPILLED:
                        del self._unacked[index]

    def _after_fork(self) -> None:
        """In a fork()ed child: the parent's events are the parent's; attach anew."""
        self._generation = _generation[0]
        self._outbox = deque()
        self._unacked = {}
        self._held_by_writer = {}
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._cond = threading.Condition()
        self._waiters = 0
        self._wake = threading.Event()
        self._calls = {}
        self._sock = None
        self._source = self._make_source()
        self._attach()
        self._flusher = self._start_thread(self._flush_loop, "tradetrail-client")


_encode_c: Final = encode_raw_c
"""The compiled caller's encoding (core/_rawjson.c), or None: then encode_raw's reference."""
_settle: Final = shm.settle
_RAW: Final = shm.RAW


def _entry(event: object) -> tuple[int, bytes]:
    """A ring entry's kind and payload for an event (writer/ring.py)."""
    if isinstance(event, RawEvent):
        return shm.RAW, event.raw
    assert isinstance(event, Prepared)
    return shm.PREPARED, shm.pack_parts(event.parts())


def _item(event: object) -> wire.Item:
    if isinstance(event, RawEvent):
        return event.raw
    assert isinstance(event, Prepared)
    return event.parts()


def _after_fork_in_child() -> None:
    _generation[0] += 1
    for client in list(_open_clients):
        client._sock = None  # the parent's socket: never write to it from the child
        client._ring = client._ring_memory = None  # nor into the parent's shared memory


os.register_at_fork(after_in_child=_after_fork_in_child)


@atexit.register
def _close_all() -> None:
    for client in list(_open_clients):
        try:
            client.close(timeout=30)
        except Exception:
            logger.exception("closing %r at exit", client)
