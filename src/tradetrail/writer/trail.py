"""The writer: one sequencer thread per trail that numbers, chains, hashes and journals records.

`record()` validates and encodes in the caller, then hands the event to a bounded in-memory
queue and returns a `Receipt`; it never waits for I/O. The writer thread drains the queue in
batches, assigns seq/ts/prev, appends canonical lines to the day file, fsyncs once per batch
(group commit) and only then acknowledges. Anything it cannot journal goes to the spill file
and is merged back when the disk recovers; nothing is dropped and nothing raises into trading
code.

This module holds the `Trail` facade (set-up, public API, waiting, the lock, open()); the parts
it is made of are mixins, one a concern: recovery.py (the state found on disk at open),
sequencer.py (the writer thread), merge.py (spill and merge), rotation.py (key rotation), over
the state they share (state.py). Names that moved there are re-exported here.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
import logging
import os
import socket
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar

import orjson

from ..core import layout
from ..core.canonical import SORT, Prepared, prepare
from ..core.chain import ACCELERATOR
from ..core.closemark import CLOSED_FILE
from ..core.note import Signer
from ..core.timefmt import Clock, TimestampFormatter, day_of, format_ns, system_clock
from ..errors import (
    ConfigError,
    JournalFormatError,
    TradetrailError,
    TrailClosedError,
    TrailCorruptError,
    TrailLockedError,
    TrailNotFoundError,
)
from ..model.context import with_context
from ..model.events import DEFAULT_MODEL, EventModel
from ..model.redact import DEFAULT_REDACTOR, Redactor
from ..store import journal
from ..store.journal import ZERO_HASH
from ..store.keyhistory import read_history
from ..store.keys import VKEY_FILE, load_or_create_signer, read_vkey
from ..store.storage import check_storage
from ..store.tilestore import TileStore, write_atomic
from .config import Durability, Settings, default_origin, resolve
from .merge import _RETRY_MAX as _RETRY_MAX
from .merge import _RETRY_MIN as _RETRY_MIN
from .merge import FOREIGN_SPILL_CHECK_SECONDS as FOREIGN_SPILL_CHECK_SECONDS
from .merge import MERGE_CHUNK_BYTES as MERGE_CHUNK_BYTES
from .merge import MergeMixin
from .merge import _caller_fields as _caller_fields
from .recovery import MAX_NAMED as MAX_NAMED
from .recovery import QUARANTINE_DIR as QUARANTINE_DIR
from .recovery import TAIL_CLOCK_TOLERANCE_NS as TAIL_CLOCK_TOLERANCE_NS
from .recovery import TILES_DIR as TILES_DIR
from .recovery import RecoveryMixin
from .recovery import _tail_problem as _tail_problem
from .rotation import NEXT_KEY_FILE as NEXT_KEY_FILE
from .rotation import RotationMixin
from .sequencer import _SPACE_ERRORS as _SPACE_ERRORS
from .sequencer import MAX_BATCH as MAX_BATCH
from .sequencer import SequencerMixin
from .sequencer import _WriteFailed as _WriteFailed
from .spill import Spill
from .state import _CHECKPOINT as _CHECKPOINT
from .state import _FLUSH as _FLUSH
from .state import _JOURNALED as _JOURNALED
from .state import _QUEUED as _QUEUED
from .state import _RECORD as _RECORD
from .state import _REPLAY as _REPLAY
from .state import _ROTATE as _ROTATE
from .state import _SPILLED as _SPILLED
from .state import CHECKPOINT_FILE as CHECKPOINT_FILE
from .state import CHECKPOINTS_DIR as CHECKPOINTS_DIR
from .telemetry import BATCH_BUCKETS, FSYNC_BUCKETS, Buckets

logger = logging.getLogger("tradetrail")

LOCK_FILE: Final = layout.LOCK_FILE
ADMIN_SPILL_DIR: Final = layout.SPILL_DIR
"""Where tradetrail commands leave events for a running writer: <home>/spill, whatever the
writer's own spill directory is."""
FALLBACK_TYPE: Final = "log.fallback"

_open_trails: weakref.WeakSet[Trail] = weakref.WeakSet()


_T = TypeVar("_T")


class IndexFeeder(Protocol):
    """The background feeder of a search index that a trail keeps (index.follow.Indexer)."""

    url: str | None

    def catch_up(self, timeout: float | None = ...) -> bool: ...

    def lag(self, size: int) -> tuple[int, float]: ...

    def close(self) -> None: ...


class Channel(Protocol):
    """The writer's channel server (writer.server.ChannelServer), stopped and closed with the
    trail: no new client once closing starts, every connection dropped once all is journaled."""

    def stop(self) -> None: ...

    def close(self) -> None: ...


class Settled(Protocol):
    """Told when a client's event (received on the writer's channel) is journaled or spilled,
    so that the client's receipt resolves (writer.server.Connection)."""

    def settled(self, receipt: Receipt) -> None: ...

    def journaled(self, runs: list[tuple[int, int, int, int]]) -> None: ...


@dataclass
class Hooks:
    """What the composition root (tradetrail/__init__.py) plugs into the writer, so that the
    writer imports neither the index nor the compliance features built on it: `feed_index(trail,
    url)` starts the index feeder of a trail opened with `index`, `search(trail, ...)` answers
    Trail.search, and each of `on_open(trail)` runs on every trail open() returns (the
    configured-paths snapshot)."""

    feed_index: Callable[[Trail, str | None], IndexFeeder] | None = None
    search: Callable[..., list[dict[str, Any]]] | None = None
    on_open: list[Callable[[Trail], object]] = field(default_factory=list)


HOOKS: Final = Hooks()


def _hook(value: _T | None, name: str) -> _T:
    if value is None:  # only when the writer is used without the package that wires it
        raise RuntimeError(f"tradetrail.writer.trail.HOOKS.{name} is not set (import tradetrail)")
    return value


class Receipt:
    """The promise of one record. `wait()` returns its seq once it is durable in the journal."""

    __slots__ = (
        "__weakref__",  # a remote trail holds the receipts of events on their way weakly
        "_conn",
        "_index",
        "_kind",
        "_result",
        "_state",
        "_trail",
        "event",
        "seq",
    )

    def __init__(self, trail: Any, event: Prepared | None, kind: int = _RECORD) -> None:
        self._trail = trail
        self.event = event
        self._kind = kind
        self._state = _QUEUED
        self._result: Any = None
        self.seq: int | None = None
        self._conn: Settled | None = None  # the channel connection of a client's event
        self._index = 0  # its number on that connection

    @property
    def event_id(self) -> str | None:
        return None if self.event is None else self.event.event_id

    @property
    def journaled(self) -> bool:
        """True once the record is in the journal with the promised durability."""
        return self._state == _JOURNALED

    @property
    def spilled(self) -> bool:
        """True while the record waits in the spill file (queue full or failing disk)."""
        return self._state == _SPILLED

    def wait(self, timeout: float | None = None) -> int:
        """Block until journaled and return the seq. Raises TimeoutError (the record stays
        queued or spilled and will still be journaled) or TrailClosedError when the trail was
        closed with the record still in the spill file (it is merged at the next open)."""
        if self._state == _JOURNALED and self.seq is not None:
            return self.seq
        self._trail._wait_for(self, timeout)
        assert self.seq is not None
        return self.seq

    def __await__(self) -> Generator[Any, None, int]:
        if self._state != _JOURNALED:
            loop = asyncio.get_running_loop()
            yield from loop.run_in_executor(None, self.wait).__await__()
        assert self.seq is not None
        return self.seq

    def __repr__(self) -> str:
        state = {_QUEUED: "queued", _JOURNALED: "journaled", _SPILLED: "spilled"}[self._state]
        return f"<Receipt {self.event_id} {state} seq={self.seq}>"


class Trail(RecoveryMixin, SequencerMixin, MergeMixin, RotationMixin):
    """An open trail with its writer thread. Use `tradetrail.open()` to make one."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock | None = None,
        *,
        model: EventModel | None = DEFAULT_MODEL,
        redactor: Redactor | None = DEFAULT_REDACTOR,
        index: bool | str = False,
        evict: bool = True,
    ) -> None:
        self.settings = settings
        self.home = settings.home
        self.model = model
        self.redactor = redactor
        self._strict = settings.strict
        self._schema_warned: set[str] = set()
        self._shaping_lock = threading.Lock()
        self._clock: Clock = clock or system_clock
        self._durable_mode = settings.durability is Durability.FSYNC
        self._fmt = TimestampFormatter()
        self._queue: deque[Receipt] = deque()
        self._queue_size = settings.queue_size
        self._wake = threading.Event()
        self._idle = False
        self._closing = False
        self._closed = False
        self._forked = False
        self._cond = threading.Condition()
        self._waiters = 0
        self._lock_fd: int | None = None
        self._fd: int | None = None
        self._day: str | None = None
        self._day_bytes = b""
        self._file_size = 0
        self._unsynced = False
        # spilled receipts by (event id, digest of the caller fields): one id may be reused
        self._spilled_receipts: dict[tuple[str, bytes], Receipt] = {}
        # every event waiting to be journaled (ours, held, or found in spill files), by the same
        # key: stats()["spill_pending"]. Callers' threads only add; the writer removes.
        self._pending: set[tuple[str, bytes]] = set()
        self._last_foreign_check = time.monotonic()
        self._held: list[dict[str, Any]] = []
        self._held_lock = threading.Lock()
        # full tiles completed but not yet on disk (written after the journal bytes they hash)
        self._pending_tiles: list[tuple[int, int, bytes]] = []
        self._finished = False
        self._last_full_warning = -1e9
        self._size = 0
        self._prev = ZERO_HASH
        self._last_ns = 0
        self._degraded: str | None = None
        self._retry_at = 0.0
        self._retry_delay = _RETRY_MIN
        self._needs_rescan = False
        self._recent: deque[tuple[float, int, list[Prepared | dict[str, Any]]]] = deque()
        self._bad_mark = False
        self._counters = {
            "journaled": 0,
            "spilled": 0,
            "merged": 0,
            "stderr_spilled": 0,
            "write_errors": 0,
            "fsyncs": 0,
            "checkpoints": 0,
            "quarantined": 0,
            "tiles_written": 0,
            "redacted": 0,
            "schema_errors": 0,
            "fallbacks": 0,
            "replayed": 0,
            "quarantined_events": 0,
            "bytes_written": 0,
        }
        self._write_failures: dict[str, dict[str, int]] = {}
        self._fsync_seconds = Buckets(FSYNC_BUCKETS)
        self._batch_records = Buckets(BATCH_BUCKETS)
        self._last_error: str | None = None

        self.home.mkdir(parents=True, exist_ok=True)
        self._acquire_lock(evict)
        try:
            self._setup()
        except BaseException:
            self._release_lock()
            raise
        self.durable_size = self._size  # records on disk, fsynced (or written) and acknowledged
        self._thread = threading.Thread(target=self._run, name="tradetrail-writer", daemon=True)
        _open_trails.add(self)
        self._thread.start()
        self._indexer: IndexFeeder | None = None
        self.channel: Channel | None = None  # other processes' way in (writer.server)
        if index:
            url = index if isinstance(index, str) else None
            self._indexer = _hook(HOOKS.feed_index, "feed_index")(self, url)

    # ------------------------------------------------------------------ set-up

    def _acquire_lock(self, evict: bool) -> None:
        fd = _lock_writer(self.home, evict=evict)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._lock_fd, 0)
            os.close(self._lock_fd)
            self._lock_fd = None

    def _setup(self) -> None:
        settings = self.settings
        self.storage_warnings = list(check_storage(self.home, settings.min_free_bytes))
        for warning in self.storage_warnings:
            logger.warning("%s", warning)
        (self.home / journal.JOURNAL_DIR).mkdir(exist_ok=True)
        (self.home / CHECKPOINTS_DIR).mkdir(exist_ok=True)
        self.tiles = TileStore(self.home / TILES_DIR)
        self._remove_stale_temp_files()
        existing = self._read_latest_checkpoint_body()
        origin = settings.origin
        if existing is not None and origin is not None and existing.origin != origin:
            raise ConfigError(
                f"origin: this trail's log is {existing.origin!r}, not {origin!r} "
                "(TRADETRAIL_ORIGIN names the log and cannot change)"
            )
        self.origin = origin or (existing.origin if existing else default_origin(self.home))
        generated = not settings.signing_key and not (self.home / layout.SIGNING_KEY_FILE).exists()
        self.signer: Signer = load_or_create_signer(settings.signing_key, self.home, self.origin)
        if generated:  # also said to the clients of a writer process (its log is not theirs)
            self.storage_warnings.append(
                f"generated a signing key at {self.home / layout.SIGNING_KEY_FILE}, beside the "
                "journal: "
                "in production keep the key elsewhere and set TRADETRAIL_SIGNING_KEY"
            )
        vkey_path = self.home / VKEY_FILE
        if vkey_path.exists():
            verifier = read_vkey(vkey_path)
            if verifier.vkey() == self.signer.verifier().vkey():
                self._take_up_interrupted_rotation(verifier)
            if verifier.vkey() != self.signer.verifier().vkey():
                self._finish_rotation(verifier)
        else:
            write_atomic(vkey_path, (self.signer.verifier().vkey() + "\n").encode(), sync=True)
        history = read_history(self.home)
        if history is not None and history.current != self.signer.verifier():
            raise ConfigError(self._retired_message(history))
        self.verifier = self.signer.verifier()
        self.spill = Spill(settings.spill_dir, self.origin)
        # tradetrail commands (exports, attestations) leave their events in <home>/spill
        home_spill = self.home / ADMIN_SPILL_DIR
        self._admin_spill = (
            None
            if home_spill.resolve() == Path(settings.spill_dir).resolve()
            else Spill(home_spill, self.origin)
        )
        self._source = source_fragment(process_source(settings), self.redactor)
        mark = self._read_closed_mark()
        try:
            self._load_state(existing.size if existing else 0, mark)
        except JournalFormatError as exc:
            raise TrailCorruptError(f"{exc}; run `tradetrail verify`") from None
        self._check_against_checkpoint(existing)
        if mark is not None and self._frontier.root() != mark.root:
            raise TrailCorruptError(
                f"the journal's root at size {mark.size} differs from the one signed in "
                f"{self.home / CLOSED_FILE} when the trail was closed cleanly: history was "
                "altered; run `tradetrail verify`"
            )
        self._remove_closed_mark()  # from here on a crash must not look like a clean close
        self._last_cp_size = existing.size if existing else -1
        self._last_cp_ns = self._clock()
        self._last_cp_mono = time.monotonic()
        now = max(self._clock(), self._last_ns)
        today = day_of(self._fmt.format(now))
        if self._seal_stale_days(today):
            self._last_ns = now
        if self._last_cp_size != self._size:
            if self._sign_checkpoint() is None and existing is None:
                raise TradetrailError(
                    f"cannot create the trail's first checkpoint, "
                    f"{self.home / CHECKPOINTS_DIR / '0'}: {self._last_error}"
                )
        else:  # tiles are derived data: restore the latest checkpoint's partial tiles if lost
            self._write_partial_tiles()
        self._merge_spill()

    # ------------------------------------------------------------------ public API

    def record(self, event_type: str, data: Any = None, **fields: Any) -> Receipt:
        """Validate and queue one event; returns at once with a receipt.

        Raises TypeError/ValueError naming the field for a bad event, TrailClosedError after
        close(). Never raises for a full queue or a failing disk: the event spills instead.
        """
        if self._closing:
            raise TrailClosedError(self._closed_message())
        return self._enqueue(self._shape(event_type, data, fields))

    def record_shaped(self, events: Sequence[Prepared]) -> list[Receipt]:
        """Queue events shaped by `shape()` (the HTTP service shapes a whole batch before it
        queues any of it, so a bad line never half-writes a batch)."""
        if self._closing:
            raise TrailClosedError(self._closed_message())
        return [self._enqueue(event) for event in events]

    def shape(
        self, event_type: str, data: Any, fields: dict[str, Any], source: dict[str, Any]
    ) -> Prepared:
        """Validate, redact and encode one event as from `source` (service, host, pid) without
        queueing it: raises TypeError/ValueError naming the field, as record() does."""
        return self._shape(event_type, data, fields, source)

    def _enqueue(self, event: Prepared) -> Receipt:
        receipt = Receipt(self, event)
        queue = self._queue
        if len(queue) >= self._queue_size:
            self._spill_receipts([receipt], "queue full", format_ns(self._clock()))
            return receipt
        queue.append(receipt)
        if self._idle:
            self._wake.set()
        if self._finished:  # close() won the race: the writer is gone, spill it ourselves
            self._rescue_late(receipt)
        return receipt

    def _shape(
        self,
        event_type: str,
        data: Any,
        fields: dict[str, Any],
        source: dict[str, Any] | None = None,
    ) -> Prepared:
        """Validate, redact and encode one event in the caller (counted in stats())."""
        event = prepare(
            event_type,
            data,
            with_context(fields),
            self._source if source is None else source_fragment(source, self.redactor),
            self.settings.max_event_bytes,
            model=self.model,
            redactor=self.redactor,
            strict=self._strict,
        )
        if event.redacted is not None or event.schema_error is not None:
            self._note_shaping(event_type, event)
        if event_type == FALLBACK_TYPE:  # an integration kept an event it could not record as asked
            with self._shaping_lock:
                self._counters["fallbacks"] += 1
        return event

    def _note_shaping(self, event_type: str, event: Prepared) -> None:
        """Count redactions and schema mismatches; warn once per type about a mismatch (the
        event is recorded anyway, flagged with `schema_error`)."""
        with self._shaping_lock:  # callers' threads: the writer's counters are its own
            if event.redacted is not None:
                self._counters["redacted"] += 1
            if event.schema_error is None:
                return
            self._counters["schema_errors"] += 1
            first = event_type not in self._schema_warned and len(self._schema_warned) < 1024
            if first:
                self._schema_warned.add(event_type)
        if first:
            logger.warning(
                "%s: recorded with schema_error (%s); further mismatches of this type are "
                "only counted (stats()['schema_errors']); open with strict=True to raise",
                event_type,
                event.schema_error,
            )

    def _rescue_late(self, receipt: Receipt) -> None:
        try:
            self._queue.remove(receipt)  # atomic: either we take it here or the writer did
        except ValueError:
            return
        self._spill_receipts([receipt], "recorded while the trail was closing", None)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every record submitted before the call is durable in the journal. Returns
        False when events wait in the spill (see stats()["spill_pending"]; after a reopen that
        includes what an earlier process left there); never raises for I/O."""
        if self._closed:
            return not self._pending
        barrier = Receipt(self, None, _FLUSH)
        self._queue.append(barrier)
        self._wake.set()
        self._wait_for(barrier, timeout)
        return bool(barrier._result)

    def checkpoint(self, timeout: float | None = None) -> str:
        """Sign a checkpoint of everything journaled so far and return it (signed-note text)."""
        if self._closing:
            raise TrailClosedError(self._closed_message())
        barrier = Receipt(self, None, _CHECKPOINT)
        self._queue.append(barrier)
        self._wake.set()
        self._wait_for(barrier, timeout)
        if barrier._result is None:
            raise TradetrailError(f"could not sign a checkpoint: {self._last_error}")
        return str(barrier._result)

    def inclusion_proof(self, seq: int, size: int | None = None) -> dict[str, Any]:
        """The proof that record `seq` is in the tree of `size` (default: the latest signed
        checkpoint), the JSON object `tradetrail proof inclusion` prints. A record newer than
        the latest checkpoint raises NotYetSignedError: call checkpoint() first."""
        from ..store.proofs import inclusion_proof_json

        return inclusion_proof_json(self.home, seq, size)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> dict[str, Any]:
        """The proof that the tree of `old_size` is a prefix of the tree of `new_size` (default:
        the latest signed checkpoint), as `tradetrail proof consistency` prints it."""
        from ..store.proofs import consistency_proof_json

        return consistency_proof_json(self.home, old_size, new_size)

    def rotate_key(
        self, new_signer: Signer, *, reason: str | None = None, timeout: float | None = None
    ) -> str:
        """Replace the signing key without breaking older checkpoints; returns the rotation
        statement signed by both keys. The writer journals a `trail.key_rotated` record (the
        last under the old key alone), signs the checkpoint just after it with both keys, adds
        the new key to trail.vkeys and trail.vkey, and signs with the new key from then on.
        A key kept beside the trail (<home>/signing.key) is replaced; a configured one
        (TRADETRAIL_SIGNING_KEY) must be pointed at the new key before the next open, which
        refuses the old key."""
        if self._closing:
            raise TrailClosedError(self._closed_message())
        if not isinstance(new_signer, Signer):
            raise TypeError(f"new_signer: expected a Signer, got {type(new_signer).__name__}")
        barrier = Receipt(self, None, _ROTATE)
        barrier._result = (new_signer, reason)
        self._queue.append(barrier)
        self._wake.set()
        self._wait_for(barrier, timeout)
        if isinstance(barrier._result, BaseException):
            raise barrier._result
        return str(barrier._result)

    def close(self, timeout: float | None = None) -> None:
        """Journal what is queued, sign a final checkpoint, stop the writer, release the lock."""
        if self._closed or self._forked:
            return
        if self.channel is not None:
            self.channel.stop()
        self._closing = True
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.error("tradetrail writer did not stop within %ss; records stay queued", timeout)
            return
        if self.channel is not None:
            self.channel.close()
        self._closed = True
        with self._cond:
            self._cond.notify_all()
        _open_trails.discard(self)
        if self._indexer is not None:
            self._indexer.catch_up(timeout=10)  # best effort; the next update catches up
            self._indexer.close()

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
        """Search this trail's journaled records (the index is brought up to date first): the
        journal records themselves, `seq` included. `types` match exactly or by `prefix.*`;
        `since`/`until` take RFC 3339, a date or an age (`2h`, `7d`); `text` is full text
        (all words); other keywords match one field exactly: category, symbol, account,
        order_id, client_order_id, exchange_order_id, parent_order_id, signal_id,
        correlation_id, actor, strategy, venue."""
        return _hook(HOOKS.search, "search")(
            self,
            types=tuple(types),
            equals=dict(equals),
            since=since,
            until=until,
            text=text,
            limit=limit,
            descending=descending,
        )

    @property
    def index_url(self) -> str | None:
        """The database URL of the index this trail feeds (None: the default index)."""
        return self._indexer.url if self._indexer is not None else None

    def index_lag(self) -> tuple[int, float] | None:
        """(records, seconds) the index this trail feeds is behind its durable records; None
        when it feeds none."""
        if self._indexer is None:
            return None
        return self._indexer.lag(self.durable_size)

    def stats(self) -> dict[str, Any]:
        """Counters for monitoring: a non-zero `spill_pending` or `degraded` needs attention.

        Also (tradetrail.metrics exports them): `bytes_written` to the journal, `fsync_seconds`
        and `batch_records` (records a write) as cumulative histograms, `write_failures` by
        target and errno name, `spill_bytes`, `queue_capacity`, `disk_free_bytes` under the
        home, `last_checkpoint_unix`: when the writer last signed a checkpoint or, if
        later, opened the trail (by the trail's clock), and `index` (backend, lag_records,
        lag_seconds) when it feeds an index; `accelerator`: which splice-and-hash loop runs."""
        out: dict[str, Any] = dict(self._counters)
        spill_bytes = self.spill.pending_bytes()
        if self._admin_spill is not None:
            spill_bytes += self._admin_spill.pending_bytes()
        try:
            disk = os.statvfs(self.home)
            free: int | None = disk.f_bavail * disk.f_frsize
        except OSError:
            free = None
        out.update(
            size=self._size,
            queued=len(self._queue),
            queue_capacity=self._queue_size,
            spill_pending=len(self._pending),
            spill_bytes=spill_bytes,
            degraded=self._degraded,
            last_error=self._last_error,
            durability=self.settings.durability.value,
            accelerator=ACCELERATOR,
            last_checkpoint_size=self._last_cp_size,
            last_checkpoint_unix=self._last_cp_ns / 1e9,
            write_failures={k: dict(v) for k, v in list(self._write_failures.items())},
            fsync_seconds=self._fsync_seconds.snapshot(),
            batch_records=self._batch_records.snapshot(),
            disk_free_bytes=free,
        )
        lag = self.index_lag()
        if lag is not None:
            url = self.index_url or ""
            backend = "postgresql" if url.startswith(("postgres:", "postgresql:")) else "sqlite"
            out["index"] = {"backend": backend, "lag_records": lag[0], "lag_seconds": lag[1]}
        return out

    @property
    def closing(self) -> bool:
        """True once close() began: no new record is taken."""
        return self._closing

    @property
    def size(self) -> int:
        """Records in the journal (journaled, not merely queued)."""
        return self._size

    def __enter__(self) -> Trail:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Trail {self.origin} at {self.home} size={self._size}>"

    # ------------------------------------------------------------------ waiting

    def _closed_message(self) -> str:
        if self._forked:
            return (
                f"this trail was opened by process {self._owner_pid} and belongs to it; after "
                "fork() the child must open its own trail (tradetrail.open) on another home"
            )
        return f"trail {self.home} is closed"

    _spill_journaled_when = "when the trail is next opened"

    def _wait_for(self, receipt: Receipt, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._waiters += 1
            try:
                while receipt._state != _JOURNALED:
                    if self._forked:
                        raise TrailClosedError(self._closed_message())
                    if self._closed:
                        raise TrailClosedError(
                            f"{self._closed_message()}; record {receipt.event_id} is still in the "
                            f"spill file and will be journaled {self._spill_journaled_when}"
                        )
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        state = "spilled" if receipt._state == _SPILLED else "queued"
                        raise TimeoutError(
                            f"record {receipt.event_id} not journaled within {timeout}s "
                            f"(still {state}; it will be journaled)"
                        )
                    self._cond.wait(remaining if remaining is not None else 1.0)
            finally:
                self._waiters -= 1

    def _notify(self) -> None:
        if self._waiters:
            with self._cond:
                self._cond.notify_all()

    # ------------------------------------------------------------------ channel and fork

    def submit(self, receipts: Sequence[Receipt], replay_since: int | None = None) -> None:
        """Queue events that arrived on the writer's channel (already checked, see
        core.canonical.check_parts), in order; with `replay_since`, events a client sends again
        after losing its writer: journaled only if the journal from that seq on does not hold
        them yet (the dead writer may have journaled them without acknowledging)."""
        if self._finished or self._closing:
            raise TrailClosedError(self._closed_message())
        if replay_since is not None:
            barrier = Receipt(self, None, _REPLAY)
            barrier._result = (replay_since, list(receipts))
            self._queue.append(barrier)
        else:
            self._queue.extend(receipts)
        if self._idle:
            self._wake.set()

    @property
    def queue_room(self) -> int:
        """How many more events the queue takes before record() spills (the channel waits)."""
        return self._queue_size - len(self._queue)

    def _after_fork_in_child(self) -> None:
        """The child inherits descriptors but not the writer thread: close them without
        touching the parent's lock (flock belongs to the shared open file) and refuse records."""
        self._owner_pid = self._parent_pid
        self._forked = True
        self._closing = True
        for fd in (self._fd, self._lock_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._fd = None
        self._lock_fd = None
        self.spill.forget_fd()
        self._cond = threading.Condition()

    _parent_pid = 0
    _owner_pid = 0


def _after_fork_in_child() -> None:
    for trail in list(_open_trails):
        trail._after_fork_in_child()
    _open_trails.clear()


def _before_fork() -> None:
    pid = os.getpid()
    for trail in list(_open_trails):
        trail._parent_pid = pid


os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


LEAVE_WAIT_SECONDS: Final = 5.0


def _lock_writer(home: Path, *, evict: bool = True) -> int:
    """Take the trail's writer lock (an open fd holding flock), or raise naming its holder.
    With `evict`, a writer process that open() started and no client uses any more is asked
    to leave at once rather than a moment later (a script's next command may need the trail).
    A writer process open() starts never evicts: the one that won the race to start serves
    the clients that are attaching to it, before it has counted any of them."""
    fd = os.open(home / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        from .client import ask_to_leave

        if evict and ask_to_leave(home):
            deadline = time.monotonic() + LEAVE_WAIT_SECONDS
            while time.monotonic() < deadline:
                time.sleep(0.02)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return fd
                except BlockingIOError:
                    continue
        raw = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        raise TrailLockedError(str(home), int(raw) if raw.isdigit() else None) from None
    return fd


@contextlib.contextmanager
def writer_lock(home: Path) -> Generator[None, None, None]:
    """Hold the writer lock of `home` without opening the trail: nothing can write it meanwhile
    (the demo holds it while it clears a trail of its own)."""
    fd = _lock_writer(home)
    try:
        yield
    finally:
        os.close(fd)


@atexit.register
def _close_all() -> None:
    for trail in list(_open_trails):
        try:
            trail.close(timeout=30)
        except Exception:
            logger.exception("closing %r at exit", trail)


def process_source(settings: Settings) -> dict[str, Any]:
    """The default `source` of this process's records: host, pid, service."""
    service = settings.service or Path(sys.argv[0] or "python").name or "python"
    return {"host": socket.gethostname(), "pid": os.getpid(), "service": service}


def source_fragment(source: dict[str, Any], redactor: Redactor | None) -> orjson.Fragment:
    """A default `source`, redacted once (a service name could carry a token) and encoded for
    every record that does not set its own."""
    if redactor is not None:
        source = redactor.redact(source, "source")[0]
    return orjson.Fragment(orjson.dumps(source, option=SORT))


WRITER_MODES: Final = ("auto", "process", "embedded")


def writer_mode(writer: str | None, clock: Clock | None) -> str:
    """`writer` argument, else TRADETRAIL_WRITER, else auto; an injected clock means embedded
    (a writer process cannot run the caller's clock)."""
    chosen = writer or os.environ.get("TRADETRAIL_WRITER") or "auto"
    if chosen not in WRITER_MODES:
        raise ConfigError(
            f"writer (TRADETRAIL_WRITER): {chosen!r} is not one of {', '.join(WRITER_MODES)}"
        )
    if clock is not None:
        if writer == "process":
            raise ConfigError("clock: an injected clock needs writer='embedded'")
        return "embedded"
    return "embedded" if chosen == "embedded" else "process"


def open(
    home: str | os.PathLike[str] | None = None,
    *,
    origin: str | None = None,
    durability: str | Durability | None = None,
    clock: Clock | None = None,
    signing_key: str | None = None,
    model: EventModel | None = DEFAULT_MODEL,
    redactor: Redactor | None = DEFAULT_REDACTOR,
    index: bool | str | None = None,
    create: bool = True,
    writer: str | None = None,
    serve: bool = True,
    token: str | None = None,
    spool: str | os.PathLike[str] | None = None,
    **options: Any,
) -> Trail:
    """Open (or create) the trail at `home` for writing.

    An `https://host:port` URL for `home` (`http://` to a loopback host) records through a
    `tradetrail serve` instead (writer.remote, docs/REMOTE.md): `token` (else TRADETRAIL_TOKEN)
    is a bearer token with ingest scope; unacknowledged events wait in the local disk `spool`
    (default: under the user's cache directory) and are resent until the service journals
    them, exactly once. Options there: spool_max_bytes, memory_max_events, memory_max_bytes,
    batch_size, max_event_bytes, strict, timeout, verify (httpx's: False, a CA bundle path or
    an ssl.SSLContext).

    By default (`writer="auto"`, or TRADETRAIL_WRITER) this attaches to the writer process that
    serves `home`, starting one when none runs (it exits when its last client leaves, unless
    `tradetrail serve` runs it): any number of processes record into one trail at once.
    `writer="embedded"` runs the writer in this process instead (as an injected `clock`
    requires); it serves the same channel, so other processes and tradetrail's commands can
    still attach to it. Either way the object returned is a `Trail` with the same API.

    `serve=False` keeps an embedded writer to this process (no channel: others cannot attach
    meanwhile, as `retention apply` needs).

    `create=False` opens only an existing trail and raises `TrailNotFoundError` otherwise: a
    mistyped path must not become a new trail with a new key (every CLI command but `init` and
    `demo` opens this way).

    Settings come from arguments, then `TRADETRAIL_*` environment variables, then defaults:
    `durability` "fsync" (default: acknowledged after fsync, group commit) or "write"
    (acknowledged after write(): survives a process crash, not a power loss); `clock` returns
    nanoseconds since the epoch (inject one to simulate days in seconds). `model` checks each
    event's data by its type (an unknown type is recorded free-form; data that does not match
    its type is recorded flagged with `schema_error`, or raises with `strict=True` /
    TRADETRAIL_STRICT=1); `redactor` replaces secrets before the event leaves the caller
    (pass `Redactor(extra_keys=..., allow_keys=..., fingerprint_key=...)` to tune it; None turns
    redaction off, which only a benchmark should do). `index`: True keeps the search index
    (TRADETRAIL_DATABASE_URL, else SQLite in the trail) up to date from a background thread, a
    URL names the database; by default only a configured TRADETRAIL_DATABASE_URL is fed (the
    CLI and `search()` catch the embedded index up on demand). Other options: spill_dir,
    max_event_bytes, queue_size, checkpoint_every, checkpoint_interval, min_free_bytes,
    service, strict.
    """
    if isinstance(home, str) and home.startswith(("https://", "http://")):
        return _open_remote(
            home,
            token=token,
            spool=spool,
            origin=origin,
            model=model,
            redactor=redactor,
            unsupported={
                "clock": clock is not None,
                "durability": durability is not None,
                "signing_key": signing_key is not None,
                "index": bool(index),
                "writer": writer not in (None, "auto"),
            },
            **options,
        )
    if token is not None or spool is not None:
        raise ConfigError(
            f"{'token' if token is not None else 'spool'}: only for a remote trail "
            "(an https:// URL), not for a trail directory"
        )
    mode = writer_mode(writer, clock)
    settings = resolve(
        home, origin=origin, durability=durability, signing_key=signing_key, **options
    )
    if not create and not journal.is_trail(settings.home):
        raise TrailNotFoundError(str(settings.home))
    if index is None:  # a configured database is fed by the trail that writes
        index = os.environ.get("TRADETRAIL_DATABASE_URL") or False
    trail: Trail
    if mode == "embedded":
        trail = Trail(settings, clock, model=model, redactor=redactor, index=index)
        from .server import ChannelServer  # the writer package's own: no layer crossed

        try:
            if serve:
                trail.channel = ChannelServer(trail)
        except (OSError, TradetrailError) as exc:
            logger.warning("tradetrail: other processes cannot attach to %s: %s", trail.home, exc)
    else:
        settings.home.mkdir(parents=True, exist_ok=True)
        from .client import AttachedTrail

        trail = AttachedTrail(settings, model=model, redactor=redactor, index=index)
    for hook in HOOKS.on_open:  # TRADETRAIL_CONFIG_PATHS: the configuration this run starts on
        hook(trail)
    return trail


def _open_remote(
    url: str,
    *,
    token: str | None,
    spool: str | os.PathLike[str] | None,
    origin: str | None,
    model: EventModel | None,
    redactor: Redactor | None,
    unsupported: dict[str, bool],
    **options: Any,
) -> Trail:
    """A RemoteTrail; an option that only a local writer can honour is refused by name."""
    for name, given in unsupported.items():
        if given:
            raise ConfigError(f"{name}: set by the service for a remote trail ({url})")
    known = {
        "spool_max_bytes",
        "memory_max_events",
        "memory_max_bytes",
        "batch_size",
        "max_event_bytes",
        "strict",
        "timeout",
        "verify",
    }
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(
            f"{unknown[0]}: not an option of a remote trail (known: {', '.join(sorted(known))})"
        )
    from .remote import RemoteTrail

    return RemoteTrail(
        url, token, origin=origin, spool=spool, model=model, redactor=redactor, **options
    )


def open_engine(
    home: str | os.PathLike[str] | None = None, *, index: bool | str = False, evict: bool = True
) -> Trail:
    """The writer of a writer process (writer.process.serve): settings from the environment,
    no channel yet (the process starts it). `evict`: see _lock_writer."""
    settings = resolve(home)
    settings.home.mkdir(parents=True, exist_ok=True)
    index = index or os.environ.get("TRADETRAIL_DATABASE_URL") or False
    return Trail(settings, None, index=index, evict=evict)
