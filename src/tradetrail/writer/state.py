"""What the parts of the writer share: the state of a `Trail` that its mixins (recovery,
sequencer, merge, rotation) read and write, declared once so that each part type-checks on its
own, and the constants more than one part uses.

`WriterState` holds annotations only: `Trail.__init__` and the set-up give the values. The
methods declared under TYPE_CHECKING are those one part calls in another; each is defined by
exactly one mixin."""

from __future__ import annotations

import errno
import threading
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import orjson

from ..core import layout
from ..core.canonical import Prepared
from ..core.closemark import ClosedMark
from ..core.merkle import Frontier
from ..core.note import Signer, Verifier
from ..core.tiles import TileBuilder
from ..core.timefmt import Clock, TimestampFormatter
from ..model.events import EventModel
from ..model.redact import Redactor
from ..store.tilestore import TileStore
from .config import Settings
from .spill import Spill
from .telemetry import Buckets

if TYPE_CHECKING:
    from .trail import Receipt

CHECKPOINT_FILE: Final = layout.CHECKPOINT_FILE
CHECKPOINTS_DIR: Final = layout.CHECKPOINTS_DIR
_QUEUED, _JOURNALED, _SPILLED = 0, 1, 2
_RECORD, _FLUSH, _CHECKPOINT, _ROTATE, _REPLAY = 0, 1, 2, 3, 4


def _describe(exc: OSError) -> str:
    name = errno.errorcode.get(exc.errno or 0, "error")
    return f"{name}: {exc.strerror or exc}"


class WriterState:
    """The attributes of an open trail that more than one part of the writer uses."""

    settings: Settings
    home: Path
    model: EventModel | None
    redactor: Redactor | None
    origin: str
    signer: Signer
    verifier: Verifier
    spill: Spill
    tiles: TileStore
    durable_size: int
    _admin_spill: Spill | None
    _source: orjson.Fragment
    _clock: Clock
    _fmt: TimestampFormatter
    _durable_mode: bool
    _queue: deque[Receipt]
    _queue_size: int
    _wake: threading.Event
    _idle: bool
    _closing: bool
    _closed: bool
    _finished: bool
    _cond: threading.Condition
    _thread: threading.Thread
    _fd: int | None
    _day: str | None
    _day_bytes: bytes
    _file_size: int
    _unsynced: bool
    _spilled_receipts: dict[tuple[str, bytes], Receipt]
    _pending: set[tuple[str, bytes]]
    _last_foreign_check: float
    _held: list[dict[str, Any]]
    _held_lock: threading.Lock
    _pending_tiles: list[tuple[int, int, bytes]]
    _last_full_warning: float
    _size: int
    _prev: str
    _last_ns: int
    _frontier: Frontier
    _tile_builder: TileBuilder
    _last_cp_size: int
    _last_cp_ns: int
    _last_cp_mono: float
    _degraded: str | None
    _retry_at: float
    _retry_delay: float
    _needs_rescan: bool
    _recent: deque[tuple[float, int, list[Prepared | dict[str, Any]]]]
    _bad_mark: bool
    _counters: dict[str, int]
    _write_failures: dict[str, dict[str, int]]
    _fsync_seconds: Buckets
    _batch_records: Buckets
    _last_error: str | None

    if TYPE_CHECKING:  # one part calling another; defined by the part named

        def _notify(self) -> None: ...  # trail

        def _release_lock(self) -> None: ...  # trail

        def _load_state(  # recovery
            self, signed: int | None = None, mark: ClosedMark | None = None
        ) -> None: ...

        def _write_closed_mark(self) -> None: ...  # recovery

        def _write_pending_tiles(self) -> None: ...  # recovery

        def _write_partial_tiles(self) -> None: ...  # recovery

        def _commit(self, items: list[Receipt]) -> None: ...  # sequencer

        def _write_entries(  # sequencer
            self,
            entries: Sequence[tuple[Prepared | dict[str, Any] | None, Receipt | None, Any]],
            chunk_bytes: int | None = None,
        ) -> int: ...

        def _set_day(self, day: str | None) -> None: ...  # sequencer

        def _make_read_only(self, path: Path) -> None: ...  # sequencer

        def _sign_checkpoint(  # sequencer
            self, also: Signer | None = None, *, raise_errors: bool = False
        ) -> str | None: ...

        def _enter_degraded(  # merge
            self, reason: str, cause: BaseException | None = None
        ) -> None: ...

        def _count_failure(self, target: str, cause: BaseException | None) -> None: ...  # merge

        def _try_recover(self) -> bool: ...  # merge

        def _merge_now(self) -> bool: ...  # merge

        def _foreign_spill_due(self) -> bool: ...  # merge

        def _spill_receipts(  # merge
            self, receipts: list[Receipt], reason: str, at: str | None
        ) -> None: ...

        def _replay(self, since: int, receipts: list[Receipt]) -> None: ...  # merge

        def _rotate_signing_key(self, new: Signer, reason: str | None) -> str: ...  # rotation
