"""A trading process's client of a remote trail: `tradetrail.open("https://host:port",
token=...)` records through the service's `POST /v1/events` (docs/REMOTE.md).

`record()` validates, redacts and encodes in the caller exactly as a local trail does, appends
the event to an in-memory outbox and returns a receipt: no lock, no system call, no network.
One background thread does the rest, in order: it writes each batch of new events to the spool
(append-only segment files under the user's cache directory, fsynced: the event is then safe on
this host), POSTs pending events as NDJSON, and resolves receipts from the seqs the service
answers. A segment is deleted once every event in it is acknowledged. At most memory_max_events
(and memory_max_bytes of lines) unacknowledged events stay in memory, the next ones to send;
the later ones wait in the spool only, as runs of segment lines read back in their turn, their
receipts held weakly (no line, no event). Network errors, 5xx, 429
and 503 are retried with exponential backoff and full jitter (a Retry-After is honoured); a 422
means our shaping and the service's model differ: the good events are resent, the bad ones go
to `rejected.ndjson` in the spool directory with the service's reason, logged at ERROR.

A client killed with events in its spool leaves them to the next client opened on the same
spool, which resends them: the service answers an event id it already journaled with its first
seq, so every event is journaled exactly once. Each live client holds an flock on the segments
it owns, so two clients on one spool never send each other's events; a segment whose lock is
free belongs to a dead process and is adopted.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import ipaddress
import itertools
import logging
import os
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import orjson

from ..core.canonical import DEFAULT_MAX_EVENT_BYTES, SORT, Prepared, prepare
from ..core.timefmt import format_ns
from ..errors import (
    ConfigError,
    EventRejectedError,
    TradetrailError,
    TrailClosedError,
    missing_extra,
)
from ..model.context import with_context
from ..model.events import DEFAULT_MODEL, EventModel
from ..model.redact import DEFAULT_REDACTOR, Redactor
from .trail import _JOURNALED, FALLBACK_TYPE, Receipt, Trail

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger("tradetrail")

NDJSON: Final = "application/x-ndjson"
TOKEN_ENV: Final = "TRADETRAIL_TOKEN"
SPOOL_ENV: Final = "TRADETRAIL_SPOOL_DIR"
SEGMENT_BYTES: Final = 4 << 20
"""A spool segment takes new events up to this size, then the next one starts: an acknowledged
segment is deleted whole, so this bounds what a restart may resend for nothing."""
DEFAULT_SPOOL_BYTES: Final = 1 << 30
DEFAULT_MEMORY_EVENTS: Final = 100_000
DEFAULT_MEMORY_BYTES: Final = 64 << 20
"""The unacknowledged events whose lines stay in memory (the next ones to send); the others
wait in the spool only and are read back when their turn comes: an outage of any length costs
disk, not memory."""
READ_CHUNK: Final = 1 << 20
DEFAULT_BATCH: Final = 500
DEFAULT_BATCH_BYTES: Final = 4 << 20
BATCH_DELAY: Final = 0.005
"""How long the sender waits for more events before it sends a batch smaller than the maximum."""
BACKOFF_BASE: Final = 0.05
BACKOFF_CAP: Final = 30.0
REJECTED_FILE: Final = "rejected.ndjson"
LOCK_FILE: Final = "spool.lock"
_LIBRARY_MARKS: Final = (b'"redacted"', b'"schema_error"')


def default_spool(url: str, origin: str | None) -> Path:
    """$TRADETRAIL_SPOOL_DIR, else <cache>/tradetrail/spool/<sha256 of url and origin>: one
    spool per service and log on this host, found again by the next process."""
    configured = os.environ.get(SPOOL_ENV)
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    digest = hashlib.sha256(f"{url}\n{origin or ''}".encode()).hexdigest()
    return Path(cache) / "tradetrail" / "spool" / digest


def check_url(url: str) -> str:
    """The service's base URL without a trailing slash; plain http only to a loopback host (a
    bearer token must not cross a network in clear)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"url: {url!r} is not an http(s)://host[:port] URL")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise ConfigError(
            f"url: {url!r} sends the bearer token in clear to a host that is not loopback; "
            "use https://"
        )
    return url.rstrip("/")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def wire_line(event: Prepared) -> bytes:
    """The NDJSON line of a shaped event: its canonical bytes without the writer's prev, seq
    and ts (spliced out, so every number stays exactly as prepare() wrote it) and without the
    marks prepare() sets (`redacted`, `schema_error`), which the service sets itself and
    refuses from a sender. The values are redacted already: the line may be written to disk."""
    p0, p1, p2, p3 = event.parts()
    out = [p0[: -len(b',"prev":"')]]
    middle = p1[2 : -len(b',"seq":')] if p1 != b'","seq":' else b""
    if middle:
        if any(mark in middle for mark in _LIBRARY_MARKS):
            group = orjson.loads(b"{" + middle + b"}")
            group.pop("redacted", None)
            group.pop("schema_error", None)
            middle = orjson.dumps(group, option=SORT)[1:-1]
        if middle:
            out.append(b"," + middle)
    if p2 != b',"ts":"':
        out.append(p2[: -len(b',"ts":"')])
    out.append(b"," + p3[2:])
    return b"".join(out)


# ---------------------------------------------------------------------------------- spool


@dataclass(eq=False)
class Segment:
    """One spool file, locked by its owner: events written and events acknowledged."""

    path: Path
    fd: int
    size: int = 0
    written: int = 0
    acked: int = 0


@dataclass(eq=False, slots=True)
class Entry:
    """An event in memory waiting for the service's answer; its receipt, if the caller still
    holds it, is found under `index` in RemoteTrail._receipts."""

    line: bytes
    index: int
    segment: Segment | None = None


@dataclass(eq=False, slots=True)
class Run:
    """Events after the in-memory ones, in the order they are to be sent, without one object
    each: lines [offset, end) of a spool segment, or (when the spool could not take them)
    lines kept in memory. The k-th has index first + k, a lower bound of its receipt's index
    (flush() may wait a little longer, never less) under which its receipt is registered."""

    first: int
    count: int
    segment: Segment | None
    offset: int = 0
    end: int = 0
    lines: deque[bytes] | None = None


_names = itertools.count()


class Spool:
    """The client's disk copy of every event not acknowledged yet (see module doc). Only the
    client's background thread calls it."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._current: Segment | None = None
        self._live: list[Segment] = []

    @property
    def size(self) -> int:
        return sum(s.size for s in self._live)

    def _new_segment(self) -> Segment:
        """A new segment, locked before it gets its name (no other client can adopt it)."""
        stem = f"{time.time_ns():020d}-{os.getpid()}-{next(_names)}"
        temp = self.directory / f".tmp-{stem}"
        fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            path = self.directory / f"{stem}.ndjson"
            os.rename(temp, path)
            _sync_dir(self.directory)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        segment = Segment(path, fd)
        self._live.append(segment)
        return segment

    def append(self, lines: Sequence[bytes]) -> Segment | None:
        """Write `lines` and fsync; the segment holding them, or None when the spool is full
        (raises OSError when the disk fails)."""
        data = b"".join(line + b"\n" for line in lines)
        if self.size + len(data) > self.max_bytes:
            return None
        segment = self._current
        if segment is None or segment.size >= SEGMENT_BYTES:
            segment = self._current = self._new_segment()
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(segment.fd, view) :]
            os.fsync(segment.fd)
        except OSError:
            # never append after a fragment: cut it off if we can, and start a new segment
            with contextlib.suppress(OSError):
                os.ftruncate(segment.fd, segment.size)
            self._current = None
            raise
        segment.size += len(data)
        segment.written += len(lines)
        return segment

    def acked(self, segment: Segment) -> None:
        """One more event of `segment` acknowledged; a segment done with is deleted (the next
        client would only resend what the service already holds)."""
        segment.acked += 1
        if segment.acked < segment.written:
            return
        if segment is self._current and segment.size < SEGMENT_BYTES:
            # it still takes events: emptied, so a restart resends nothing already answered
            with contextlib.suppress(OSError):
                os.ftruncate(segment.fd, 0)
                segment.size = segment.written = segment.acked = 0
            return
        if segment is self._current:
            self._current = None
        self._drop(segment)

    def _drop(self, segment: Segment) -> None:
        with contextlib.suppress(OSError):
            os.unlink(segment.path)
        os.close(segment.fd)
        if segment in self._live:
            self._live.remove(segment)

    def adopt(self) -> list[tuple[Segment, int, int]]:
        """The segments no live client holds (their owner died), oldest first, each now locked
        by us, with the end of its last whole line and its number of events (read back when
        their turn comes, never all held in memory). A torn last line (the writer died
        mid-write, before its fsync) is left out: record() never counted it safe."""
        found: list[tuple[Segment, int, int]] = []
        for path in sorted(self.directory.iterdir()):
            name = path.name
            if name.startswith(".tmp-"):
                self._remove_stale_temp(path)
                continue
            if not name.endswith(".ndjson") or name == REJECTED_FILE:
                continue
            if any(s.path == path for s in self._live):
                continue
            try:
                fd = os.open(path, os.O_RDWR | os.O_APPEND)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue  # a live client's
            size, end, count = _scan(fd)
            if end < size:
                logger.warning("tradetrail spool %s: a torn last line was left out", path)
            segment = Segment(path, fd, size=size, written=count)
            self._live.append(segment)
            if not count:
                self._drop(segment)
                continue
            found.append((segment, end, count))
        return found

    def read(
        self,
        segment: Segment,
        offset: int,
        end: int,
        max_lines: int,
        max_bytes: int,
        first_free: bool = False,
    ) -> tuple[list[bytes], int]:
        """The lines of `segment` from `offset` (up to `end`, a line's end): at most
        `max_lines` and `max_bytes` (the first one whatever its size if `first_free`); and
        the offset after them. Raises OSError."""
        lines: list[bytes] = []
        size = 0
        buffer = b""
        pos = 0  # in buffer, which starts at `offset`
        at = offset  # the next byte to read
        while at < end and len(lines) < max_lines:
            chunk = os.pread(segment.fd, min(READ_CHUNK, end - at), at)
            if not chunk:
                raise OSError(f"{segment.path}: ends before byte {end}")
            at += len(chunk)
            buffer = buffer[pos:] + chunk
            offset += pos
            pos = 0
            while (cut := buffer.find(b"\n", pos)) >= 0:
                line = buffer[pos:cut]
                if line.strip():
                    fits = size + len(line) <= max_bytes or (first_free and not lines)
                    if len(lines) >= max_lines or not fits:
                        return lines, offset + pos
                    lines.append(line)
                    size += len(line)
                pos = cut + 1
        return lines, offset + pos

    def _remove_stale_temp(self, path: Path) -> None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # being named by its live owner
        finally:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)

    def reject(self, line: bytes, reason: str) -> None:
        """Keep an event the service refused, with its reason (fsynced): never silently lost."""
        entry = {"at": format_ns(time.time_ns()), "reason": reason, "line": line.decode()}
        fd = os.open(self.directory / REJECTED_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, orjson.dumps(entry, option=SORT | orjson.OPT_APPEND_NEWLINE))
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        """Release the segments (unacknowledged ones stay for the next client)."""
        for segment in list(self._live):
            if segment.acked >= segment.written:
                self._drop(segment)
            else:
                os.close(segment.fd)
        self._live.clear()
        self._current = None


def _scan(fd: int) -> tuple[int, int, int]:
    """A segment's size, the end of its last whole line and its number of (non-blank) lines,
    read a chunk at a time."""
    size = end = count = 0
    carry = b""
    while chunk := os.pread(fd, READ_CHUNK, size):
        size += len(chunk)
        parts = (carry + chunk).split(b"\n")
        carry = parts.pop()
        if parts:
            count += sum(1 for part in parts if part.strip())
            end = size - len(carry)
    return size, end, count


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------- client


@dataclass
class _Rejected:
    reason: str


@dataclass
class _Answer:
    """What one POST came back with, for the sender to act on."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)
    retry_after: float | None = None
    error: str = ""


class RemoteTrail(Trail):
    """A trail whose writer is a `tradetrail serve` reached over HTTP(S) (see module doc): a
    `Trail` to its users for recording (same record(), receipts, flush(), stats(), close()),
    with search() and proofs through the service's read API (a token with `read` scope)."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        origin: str | None = None,
        spool: str | os.PathLike[str] | None = None,
        spool_max_bytes: int = DEFAULT_SPOOL_BYTES,
        memory_max_events: int = DEFAULT_MEMORY_EVENTS,
        memory_max_bytes: int = DEFAULT_MEMORY_BYTES,
        batch_size: int = DEFAULT_BATCH,
        model: EventModel | None = DEFAULT_MODEL,
        redactor: Redactor | None = DEFAULT_REDACTOR,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        strict: bool = False,
        timeout: float = 60.0,
        verify: Any = True,
    ) -> None:
        # Trail.__init__ is not called: the writer is the service's
        try:
            import httpx
        except ModuleNotFoundError as exc:
            raise missing_extra(exc, "remote trails (https:// URLs)", "client") from None
        self.url = check_url(url)
        secret = token or os.environ.get(TOKEN_ENV)
        if not secret:
            raise ConfigError(
                f"token: recording to {self.url} needs a bearer token with ingest scope: pass "
                f"token=... or set {TOKEN_ENV} (made by `tradetrail token create --scope ingest`)"
            )
        if batch_size < 1:
            raise ConfigError(f"batch_size: {batch_size} is not a positive number of events")
        if memory_max_events < batch_size:
            raise ConfigError(
                f"memory_max_events: {memory_max_events} is below batch_size ({batch_size}): "
                "a batch is sent from the events held in memory"
            )
        if memory_max_bytes < 1:
            raise ConfigError(f"memory_max_bytes: {memory_max_bytes} is not a positive size")
        self._memory_max = memory_max_events
        self._memory_max_bytes = memory_max_bytes
        self.origin = origin or ""
        self.home = Path(spool) if spool is not None else default_spool(self.url, origin)
        self.model = model
        self.redactor = redactor
        self._strict = strict
        self._max_bytes = max_event_bytes
        self._batch_size = batch_size
        self._schema_warned: set[str] = set()
        self._shaping_lock = threading.Lock()
        self._counters = {
            "recorded": 0,
            "spooled": 0,
            "sent": 0,
            "acknowledged": 0,
            "duplicates": 0,
            "retries": 0,
            "rejected": 0,
            "recovered": 0,
            "not_spooled": 0,
            "auth_errors": 0,
            "redacted": 0,
            "schema_errors": 0,
            "fallbacks": 0,
        }
        self._outbox: deque[Receipt] = deque()
        # the events not acknowledged yet, in the order they are to be sent: the first ones
        # in memory (_unacked, bounded by memory_max_*), then the runs after them
        self._unacked: dict[int, Entry] = {}
        self._unacked_bytes = 0
        self._runs: deque[Run] = deque()
        self._in_runs = 0  # events in _runs
        self._in_memory_runs = 0  # of them, the ones the spool could not take
        self._memory_peak = 0
        # the receipts of those events, while their caller holds them: never their lines
        self._receipts: weakref.WeakValueDictionary[int, Receipt] = weakref.WeakValueDictionary()
        self._indices = itertools.count()
        self._cond = threading.Condition()
        self._waiters = 0
        self._wake = threading.Event()
        self._idle = False
        self._closing = False
        self._closed = False
        self._forked = False
        self._stop = False
        self._pid = os.getpid()
        self._last_error: str | None = None
        self._failures = 0
        self._next_try = 0.0
        self._rejected_total = 0
        self._size_seen = 0
        self.durable_size = 0
        self.spool = Spool(self.home, spool_max_bytes)
        self._headers = {"Authorization": f"Bearer {secret}"}
        self._verify = verify
        self._timeout = timeout
        self._http = self._new_sender()
        self._reader: httpx.Client | None = None
        self._http_errors: tuple[type[Exception], ...] = (httpx.HTTPError, OSError)
        first = 0
        for segment, end, count in self.spool.adopt():
            self._runs.append(Run(first, count, segment, 0, end))
            first += count
        self._in_runs = first
        self._indices = itertools.count(first)
        if first:
            self._counters["recovered"] = first
            logger.warning(
                "tradetrail: %d event(s) left in the spool %s by an earlier process are being "
                "sent to %s",
                first,
                self.home,
                self.url,
            )
        self._thread = threading.Thread(target=self._run, name="tradetrail-remote", daemon=True)
        self._thread.start()
        _open_remotes.add(self)

    # ------------------------------------------------------------------ the API

    def record(self, event_type: str, data: Any = None, **fields: Any) -> Receipt:
        """Validate, redact and encode one event and queue it for the service; returns at once.
        Same contract as `Trail.record` (raises only for a bad event or after close())."""
        if self._closing:
            raise TrailClosedError(self._closed_message())
        if self._pid != os.getpid():
            self._own()
        event = self._shape(event_type, data, fields)
        receipt = Receipt(self, event)
        receipt._index = next(self._indices)
        self._outbox.append(receipt)
        if self._idle:
            self._wake.set()
        return receipt

    def record_shaped(self, events: Sequence[Prepared]) -> list[Receipt]:
        raise ConfigError("record_shaped: a remote trail records through record()")

    def _shape(
        self,
        event_type: str,
        data: Any,
        fields: dict[str, Any],
        source: dict[str, Any] | None = None,
    ) -> Prepared:
        """As Trail._shape, with no default source: the service names the sender (its token)
        unless the event sets `source` itself."""
        event = prepare(
            event_type,
            data,
            with_context(fields),
            None,
            self._max_bytes,
            model=self.model,
            redactor=self.redactor,
            strict=self._strict,
        )
        if event.redacted is not None or event.schema_error is not None:
            self._note_shaping(event_type, event)
        if event_type == FALLBACK_TYPE:
            with self._shaping_lock:
                self._counters["fallbacks"] += 1
        return event

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every event recorded before the call (and every one found in the spool
        at open) is journaled by the service. False on timeout, or when the service rejected
        one of them (see stats()["rejected"]); never raises for I/O."""
        if self._pid != os.getpid() and not self._closing:
            self._own()
        mark = next(self._indices)
        rejected = self._rejected_total
        deadline = None if timeout is None else time.monotonic() + timeout
        self._wake.set()
        with self._cond:
            self._waiters += 1
            try:
                while self._oldest_open() < mark:
                    if self._closed:
                        return False
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    self._cond.wait(min(remaining, 0.5) if remaining is not None else 0.5)
            finally:
                self._waiters -= 1
        return self._rejected_total == rejected

    def _oldest_open(self) -> int:
        """The lowest index not yet answered. The sender moves events from the outbox to
        _runs or _unacked, and from _runs to _unacked, always adding before it removes: read in
        that order, none is ever missed."""
        while True:
            oldest = 1 << 62
            with contextlib.suppress(IndexError):
                oldest = self._outbox[0]._index
            with contextlib.suppress(IndexError):
                oldest = min(oldest, self._runs[0].first)
            try:
                return min(oldest, min(self._unacked, default=oldest))
            except RuntimeError:  # the sender changed it meanwhile: look again
                continue

    def stats(self) -> dict[str, Any]:
        """This client's counters: `rejected`, `not_spooled` or a `last_error` need attention
        (a bad token shows here and in the log, its events stay spooled)."""
        out: dict[str, Any] = dict(self._counters)
        out.update(
            mode="remote",
            url=self.url,
            spool=str(self.home),
            spool_bytes=self.spool.size,
            outbox=len(self._outbox),
            pending=len(self._unacked) + self._in_runs,
            in_memory=len(self._unacked) + self._in_memory_runs,
            in_memory_bytes=self._unacked_bytes,
            in_memory_peak=self._memory_peak,
            spool_only=self._in_runs - self._in_memory_runs,
            size=self._size_seen,
            degraded=self._last_error if self._failures else None,
            last_error=self._last_error,
        )
        return out

    @property
    def size(self) -> int:
        """Records in the journal, as the service last said."""
        return self._size_seen

    def close(self, timeout: float | None = None) -> None:
        """Send what is queued and wait for the answers (up to `timeout`, default 30 s; not at
        all while the service is unreachable and the spool holds everything), then stop.
        Events still unanswered stay in the spool; the next client opened on it sends them."""
        if self._closed or self._closing:
            return
        if self._pid != os.getpid():
            return
        deadline = time.monotonic() + (30.0 if timeout is None else timeout)
        while not self.flush(min(0.2, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline or (self._failures and self._all_spooled()):
                break  # the service is away and the spool holds everything: no need to wait
        self._closing = True
        self._stop = True
        self._wake.set()
        self._thread.join(10)
        left = len(self._unacked) + self._in_runs + len(self._outbox)
        if left:
            logger.warning(
                "tradetrail: closed with %d event(s) not acknowledged by %s; they stay in the "
                "spool %s and are sent by the next client opened on it",
                left,
                self.url,
                self.home,
            )
        self._closed = True
        with self._cond:
            self._cond.notify_all()
        self._http.close()
        if self._reader is not None:
            self._reader.close()
        if not self._thread.is_alive():
            self.spool.close()
        _open_remotes.discard(self)

    def _all_spooled(self) -> bool:
        if self._outbox:
            return False
        if self._in_memory_runs:
            return False
        try:
            return all(e.segment is not None for e in self._unacked.values())
        except RuntimeError:  # changed meanwhile
            return False

    def __repr__(self) -> str:
        return f"<RemoteTrail {self.url} spool={self.home}>"

    _spill_journaled_when = "by the next client opened on its spool"

    def _new_sender(self) -> httpx.Client:
        import httpx

        return httpx.Client(
            base_url=self.url,
            headers={**self._headers, "Content-Type": NDJSON},
            timeout=httpx.Timeout(self._timeout, connect=5.0),
            verify=self._verify,
        )

    def _own(self) -> None:
        """In a fork()ed child: start anew once, whichever of its threads comes first."""
        with _fork_lock[0]:
            if self._pid != os.getpid():
                self._after_fork()

    def _after_fork(self) -> None:
        """In a fork()ed child, at its first record() or flush(): the parent's events, spool
        segments and connections stay the parent's (its segments stay locked by it, and the
        child never writes to them, closes them or uses a connection of the parent's); the
        child starts anew on the same spool directory, as a second client would."""
        # the parent's threads are gone, and a lock one of them held stays held here: every
        # lock and condition is made anew, none inherited is touched
        self._pid = os.getpid()
        self._outbox = deque()
        self._unacked = {}
        self._unacked_bytes = 0
        self._runs = deque()
        self._in_runs = self._in_memory_runs = self._memory_peak = 0
        self._receipts = weakref.WeakValueDictionary()
        self._indices = itertools.count()
        self._cond = threading.Condition()
        self._waiters = 0
        self._wake = threading.Event()
        self._idle = False
        self._shaping_lock = threading.Lock()
        self._counters = dict.fromkeys(self._counters, 0)
        self._last_error = None
        self._failures = 0
        self._next_try = 0.0
        self._parents = (self.spool, self._http, self._reader)  # kept, never closed here
        self.spool = Spool(self.home, self.spool.max_bytes)
        self._http = self._new_sender()
        self._reader = None
        self._thread = threading.Thread(target=self._run, name="tradetrail-remote", daemon=True)
        self._thread.start()

    def _closed_message(self) -> str:
        if self._pid != os.getpid():
            return (
                f"this remote trail was opened by process {self._pid}; after fork() the child "
                "must open its own (tradetrail.open)"
            )
        return f"the remote trail {self.url} is closed"

    def _wait_for(self, receipt: Receipt, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._waiters += 1
            try:
                while receipt._state != _JOURNALED:
                    if isinstance(receipt._result, _Rejected):
                        raise EventRejectedError(
                            f"record {receipt.event_id}: the service refused it "
                            f"({receipt._result.reason}); kept in {self.home / REJECTED_FILE}"
                        )
                    if self._closed:
                        raise TrailClosedError(
                            f"{self._closed_message()}; record {receipt.event_id} is still in "
                            f"the spool {self.home} and will be sent {self._spill_journaled_when}"
                        )
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise TimeoutError(
                            f"record {receipt.event_id} not acknowledged by {self.url} within "
                            f"{timeout}s (still spooled; it will be sent)"
                            + (f": {self._last_error}" if self._last_error else "")
                        )
                    self._cond.wait(min(remaining, 0.5) if remaining is not None else 0.5)
            finally:
                self._waiters -= 1

    # ------------------------------------------------------------------ reading

    def _read(self, path: str, params: Any = None) -> httpx.Response:
        """GET from the caller's thread, on a connection of its own (the sender's may be
        waiting out a slow batch)."""
        import httpx

        if self._reader is None:
            self._reader = httpx.Client(
                base_url=self.url, headers=self._headers, timeout=self._timeout, verify=self._verify
            )
        try:
            response = self._reader.get(path, params=params)
        except httpx.HTTPError as exc:
            raise TradetrailError(f"{self.url}{path}: {exc}") from None
        if response.status_code != 200:
            raise TradetrailError(
                f"{self.url}{path}: {response.status_code} {_problem_text(response)}"
            )
        return response

    def _get(self, path: str, params: Any = None) -> Any:
        return self._read(path, params).json()

    def search(
        self,
        *,
        types: Sequence[str] = (),
        since: str | None = None,
        until: str | None = None,
        text: str | None = None,
        limit: int | None = 100,
        descending: bool = False,
        **equals: str,
    ) -> list[dict[str, Any]]:
        """Search the service's trail (GET /v1/search, a token with `read` scope); the same
        filters as Trail.search. Events recorded here are flushed first."""
        self.flush(30.0)
        params: list[tuple[str, str]] = [("type", t) for t in types]
        for name, value in (("since", since), ("until", until), ("text", text)):
            if value is not None:
                params.append((name, value))
        params.append(("limit", str(10_000 if limit is None else limit)))
        if descending:
            params.append(("desc", "true"))
        params.extend((name, str(value)) for name, value in equals.items())
        return list(self._get("/v1/search", params)["records"])

    def inclusion_proof(self, seq: int, size: int | None = None) -> dict[str, Any]:
        """As Trail.inclusion_proof, from the service (GET /v1/proofs/inclusion)."""
        params = {"seq": seq} if size is None else {"seq": seq, "size": size}
        return dict(self._get("/v1/proofs/inclusion", params))

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> dict[str, Any]:
        """As Trail.consistency_proof, from the service (GET /v1/proofs/consistency)."""
        params = {"old": old_size} if new_size is None else {"old": old_size, "new": new_size}
        return dict(self._get("/v1/proofs/consistency", params))

    def checkpoint(self, timeout: float | None = None) -> str:
        """The service's latest signed checkpoint (GET /checkpoint) once it covers every event
        this client had acknowledged (the service signs one within its checkpoint interval)."""
        self.flush(timeout)
        deadline = time.monotonic() + (30.0 if timeout is None else timeout)
        while True:
            note = self._read("/checkpoint").text
            lines = note.split("\n")
            if len(lines) > 1 and lines[1].isdigit() and int(lines[1]) >= self.durable_size:
                return note
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self.url} signed no checkpoint of size {self.durable_size}")
            time.sleep(0.1)

    def rotate_key(self, new_signer: Any, *, reason: str | None = None, **_: Any) -> str:
        raise ConfigError("rotate_key: rotate the signing key on the service's host")

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        while True:
            try:
                self._spool_new()
                self._refill()
                if self._stop:  # close() waited for the answers; the rest stays spooled
                    return
                if self._unacked and time.monotonic() >= self._next_try:
                    self._send_one()
                    continue
                if not self._outbox:
                    self._wake.clear()
                    self._idle = True
                    if not self._outbox:
                        wait = 1.0 if not self._unacked else self._next_try - time.monotonic()
                        self._wake.wait(max(0.001, min(wait, 1.0)))
                    self._idle = False
                    if self._outbox and len(self._outbox) < self._batch_size:
                        time.sleep(BATCH_DELAY)  # let a burst gather into one batch
            except Exception:  # a bug here must not stop the sender: say so, go on
                logger.exception("tradetrail remote client error")
                self._last_error = "client error (see the log)"
                time.sleep(0.5)

    def _spool_new(self) -> None:
        """Move the outbox to the spool (fsynced) and to the events to send."""
        outbox = self._outbox
        while outbox:
            # taken from the outbox only once queued to send: flush() must always see them
            taken = list(itertools.islice(outbox, self._batch_size))
            lines = [wire_line(r.event) for r in taken]  # type: ignore[arg-type]
            try:
                segment = self.spool.append(lines)
            except OSError as exc:
                segment = None
                self._spool_trouble(f"cannot write the spool {self.home}: {exc}", len(taken))
            else:
                if segment is None:
                    self._spool_trouble(
                        f"the spool {self.home} is full ({self.spool.max_bytes} bytes)", len(taken)
                    )
                else:
                    self._counters["spooled"] += len(taken)
            self._queue_spooled(taken, lines, segment)
            for _ in taken:
                outbox.popleft()
            self._counters["recorded"] += len(taken)

    def _queue_spooled(
        self, taken: list[Receipt], lines: list[bytes], segment: Segment | None
    ) -> None:
        """Queue events just spooled (in `segment`, None if the spool could not take them)
        to be sent: in memory while there is room there and no run waits, else at the end of
        the runs (their lines on disk only, unless the spool could not take them)."""
        offset = 0 if segment is None else segment.size - sum(len(x) + 1 for x in lines)
        for receipt, line in zip(taken, lines, strict=True):
            if not self._runs and self._has_room(len(line)):
                self._receipts[receipt._index] = receipt
                self._remember(Entry(line, receipt._index, segment))
            else:
                self._receipts[self._run_for(receipt._index, segment, offset, line)] = receipt
            offset += len(line) + 1
        self._memory_peak = max(self._memory_peak, len(self._unacked) + self._in_memory_runs)

    def _has_room(self, size: int) -> bool:
        if not self._unacked:
            return True  # one event is always sent, whatever its size
        return (
            len(self._unacked) < self._memory_max
            and self._unacked_bytes + size <= self._memory_max_bytes
        )

    def _remember(self, entry: Entry) -> None:
        self._unacked[entry.index] = entry
        self._unacked_bytes += len(entry.line)

    def _forget(self, entry: Entry) -> bool:
        if self._unacked.pop(entry.index, None) is None:
            return False
        self._unacked_bytes -= len(entry.line)
        return True

    def _run_for(self, index: int, segment: Segment | None, offset: int, line: bytes) -> int:
        """Add an event to the last run (a new one when it cannot take it); its run index."""
        last = self._runs[-1] if self._runs else None
        if last is not None and last.segment is segment:
            if segment is None and last.lines is not None:
                last.lines.append(line)
                self._in_memory_runs += 1
            elif segment is not None and last.end == offset:
                last.end = offset + len(line) + 1
            else:
                last = None
        else:
            last = None
        if last is None:
            if segment is None:
                last = Run(index, 0, None, lines=deque([line]))
                self._in_memory_runs += 1
            else:
                last = Run(index, 0, segment, offset, offset + len(line) + 1)
            self._runs.append(last)
        last.count += 1
        self._in_runs += 1
        return last.first + last.count - 1

    def _refill(self) -> None:
        """Bring the next events of the runs into memory, as far as memory_max_* allow."""
        while self._runs:
            room = self._memory_max - len(self._unacked)
            room_bytes = self._memory_max_bytes - self._unacked_bytes
            if self._unacked and (room <= 0 or room_bytes <= 0):
                return
            run = self._runs[0]
            if run.lines is not None:
                lines: list[bytes] = []
                size = 0
                while run.lines and len(lines) < room:
                    if (lines or self._unacked) and size + len(run.lines[0]) > room_bytes:
                        break
                    lines.append(run.lines.popleft())
                    size += len(lines[-1])
                self._in_memory_runs -= len(lines)
            else:
                assert run.segment is not None
                lines, run.offset = self.spool.read(
                    run.segment, run.offset, run.end, room, room_bytes, not self._unacked
                )
            if not lines and run.segment is not None and run.offset >= run.end:
                # fewer lines than counted (cannot happen): the segment stays for a next client
                logger.error(
                    "tradetrail spool %s: %d event(s) not found", run.segment.path, run.count
                )
                self._in_runs -= run.count
                self._runs.popleft()
                continue
            if not lines:
                return
            for k, line in enumerate(lines):  # added before they leave the run (flush())
                self._remember(Entry(line, run.first + k, run.segment))
            run.first += len(lines)
            run.count -= len(lines)
            self._in_runs -= len(lines)
            if run.count <= 0:
                self._runs.popleft()
            self._memory_peak = max(self._memory_peak, len(self._unacked) + self._in_memory_runs)

    def _spool_trouble(self, why: str, count: int) -> None:
        self._counters["not_spooled"] += count
        if self._counters["not_spooled"] == count or self._counters["not_spooled"] % 10_000 < count:
            logger.error("tradetrail: %s; %d event(s) kept in memory only", why, count)
        self._last_error = why

    def _batch(self) -> list[Entry]:
        batch: list[Entry] = []
        size = 0
        for entry in self._unacked.values():
            if batch and (len(batch) >= self._batch_size or size >= DEFAULT_BATCH_BYTES):
                break
            batch.append(entry)
            size += len(entry.line) + 1
        return batch

    def _send_one(self) -> None:
        batch = self._batch()
        answer = self._post(batch)
        if answer.status == 200:
            self._recovered()  # before the receipts resolve: a flush() that returns sees it
            self._settle(batch, answer.body)
        elif answer.status == 413 and len(batch) > 1:
            self._split(batch, answer)
        elif answer.status in (413, 422):
            self._refused(batch, answer)
        else:
            self._retry_later(answer)

    def _post(self, batch: list[Entry]) -> _Answer:
        body = b"".join(e.line + b"\n" for e in batch)
        self._counters["sent"] += len(batch)
        try:
            response = self._http.post("/v1/events", content=body)
        except self._http_errors as exc:
            return _Answer(0, error=f"{type(exc).__name__}: {exc}")
        retry_after = _retry_after(response.headers.get("retry-after"))
        try:
            parsed = response.json()
        except ValueError:
            parsed = {}
        return _Answer(
            response.status_code,
            parsed if isinstance(parsed, dict) else {},
            retry_after,
            "" if response.status_code == 200 else _problem_text(response),
        )

    def _settle(self, batch: list[Entry], body: dict[str, Any]) -> None:
        by_line = {int(r["line"]): r for r in body.get("results", ())}
        done = 0
        for number, entry in enumerate(batch, 1):
            result = by_line.get(number)
            if result is None:  # not answered (cannot happen with a 200): sent again
                continue
            self._forget(entry)
            seq = int(result["seq"])
            self.durable_size = max(self.durable_size, seq + 1)
            if result.get("duplicate"):
                self._counters["duplicates"] += 1
            if entry.segment is not None:
                self.spool.acked(entry.segment)
            receipt = self._receipts.pop(entry.index, None)
            if receipt is not None:
                receipt.seq = seq
                receipt._state = _JOURNALED
            done += 1
        self._counters["acknowledged"] += done
        self._size_seen = max(self._size_seen, int(body.get("size", 0)))
        self._notify()

    def _recovered(self) -> None:
        if self._failures:
            logger.warning("tradetrail: %s takes events again", self.url)
        self._failures = 0
        self._last_error = None
        self._next_try = 0.0

    def _refused(self, batch: list[Entry], answer: _Answer) -> None:
        """A 422 (or a 413 for one event): the service's model and ours differ. The lines it
        names go to the rejected file; the others are sent again on their own."""
        named: dict[int, str] = {}
        for error in answer.body.get("errors") or ():
            with contextlib.suppress(KeyError, TypeError, ValueError):
                named[int(error["line"])] = str(error.get("error"))
        bad = [(e, named[n]) for n, e in enumerate(batch, 1) if n in named]
        if not bad:
            if len(batch) > 1:
                self._split(batch, answer)
                return
            bad = [(batch[0], answer.error or f"HTTP {answer.status}")]
        for entry, reason in bad:
            self._reject(entry, reason)
        self._notify()

    def _split(self, batch: list[Entry], answer: _Answer) -> None:
        """Send the two halves of a refused batch on their own (no event named): the bad ones
        are found by halving, the good ones journaled."""
        half = len(batch) // 2
        for part in (batch[:half], batch[half:]):
            if not part:
                continue
            got = self._post(part)
            if got.status == 200:
                self._settle(part, got.body)
            elif got.status in (413, 422) and len(part) > 1:
                self._split(part, got)
            elif got.status in (413, 422):
                self._refused(part, got)
            else:
                self._retry_later(got)
                return

    def _reject(self, entry: Entry, reason: str) -> None:
        self._forget(entry)
        receipt = self._receipts.pop(entry.index, None)
        try:
            self.spool.reject(entry.line, reason)
            kept = str(self.home / REJECTED_FILE)
        except OSError as exc:
            kept = f"nowhere on disk ({exc}); the line follows: {entry.line.decode()}"
        if entry.segment is not None:
            self.spool.acked(entry.segment)
        self._counters["rejected"] += 1
        self._rejected_total += 1
        logger.error(
            "tradetrail: %s refused event %s: %s (kept in %s)",
            self.url,
            receipt.event_id if receipt is not None else _event_id(entry.line),
            reason,
            kept,
        )
        if receipt is not None:
            receipt._result = _Rejected(reason)

    def _retry_later(self, answer: _Answer) -> None:
        """Back off (exponential, full jitter; at least a Retry-After), keep every event."""
        self._failures += 1
        self._counters["retries"] += 1
        status = answer.status
        if status in (401, 403):
            self._counters["auth_errors"] += 1
            why = f"{status} {answer.error} (check the token; events stay in the spool)"
        elif status == 0:
            why = f"cannot reach {self.url}: {answer.error}"
        else:
            why = f"{status} {answer.error}"
        if self._failures == 1 or self._last_error != why:
            level = logging.ERROR if status in (401, 403) else logging.WARNING
            logger.log(level, "tradetrail: %s: %s; retrying", self.url, why)
        self._last_error = why
        delay = random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(self._failures, 20)))
        if answer.retry_after is not None:
            delay = max(delay, answer.retry_after)
        self._next_try = time.monotonic() + delay
        self._notify()

    def _notify(self) -> None:
        if self._waiters:
            with self._cond:
                self._cond.notify_all()


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, min(float(value), 3600.0))
    except ValueError:
        return None  # an HTTP date: the backoff decides


def _problem_text(response: httpx.Response) -> str:
    """An RFC 9457 problem's detail, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)[:500]
    return str(body)[:200]


def _event_id(line: bytes) -> str:
    try:
        return str(orjson.loads(line).get("event_id"))
    except (orjson.JSONDecodeError, AttributeError):
        return "(unreadable)"


_open_remotes: weakref.WeakSet[RemoteTrail] = weakref.WeakSet()
_fork_lock = [threading.Lock()]
"""Taken by a fork()ed child's first record() or flush() (RemoteTrail._own); made anew in
every child, since a lock another thread held at fork() stays held there."""
os.register_at_fork(after_in_child=lambda: _fork_lock.__setitem__(0, threading.Lock()))


@atexit.register
def _close_all() -> None:
    for client in list(_open_remotes):
        try:
            client.close(timeout=30)
        except Exception:
            logger.exception("closing %r at exit", client)
