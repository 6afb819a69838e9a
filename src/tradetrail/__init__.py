"""tradetrail: a tamper-evident audit trail for trading systems.

    import tradetrail
    with tradetrail.open("./trail") as trail:
        receipt = trail.record("order.accepted", {"qty": "0.5"}, order_id="O-1", symbol="BTC-USD")
        seq = receipt.wait()   # durable in the journal

Records form a hash chain and an RFC 6962 Merkle tree with Ed25519-signed C2SP checkpoints,
verifiable offline (`tradetrail verify`, or `tradetrail.verify(home)` from Python).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .core.note import Verifier
from .errors import (
    CheckpointError,
    ConfigError,
    JournalFormatError,
    NoteError,
    NotYetSignedError,
    ProofError,
    TileError,
    TradetrailError,
    TrailClosedError,
    TrailCorruptError,
    TrailLockedError,
    TrailNotFoundError,
)
from .model.context import bind
from .store.keyhistory import KeyHistory

# Loaded eagerly (a few ms: it needs little beyond what trail loads) so that the name
# `tradetrail.verify` stays the function below: importing the submodule later would rebind it.
from .verify import trail as _verify_module
from .writer.config import Durability
from .writer.trail import HOOKS as _HOOKS
from .writer.trail import IndexFeeder as _IndexFeeder
from .writer.trail import Receipt, Trail, open

if TYPE_CHECKING:
    from .verify.trail import VerifyReport

from ._version import __version__

__all__ = [
    "CheckpointError",
    "ConfigError",
    "Durability",
    "JournalFormatError",
    "KeyHistory",
    "NotYetSignedError",
    "NoteError",
    "ProofError",
    "Receipt",
    "TileError",
    "TradetrailError",
    "Trail",
    "TrailClosedError",
    "TrailCorruptError",
    "TrailLockedError",
    "TrailNotFoundError",
    "Verifier",
    "__version__",
    "bind",
    "consistency_proof",
    "inclusion_proof",
    "open",
    "verify",
    "verify_proof",
]


# The composition root: what the writer does not import, plugged in here (each loaded on first
# use, so that `import tradetrail` loads neither SQLite nor the compliance features).


def _feed_index(trail: Trail, url: str | None) -> _IndexFeeder:
    """The background feeder of the search index of a trail opened with `index`."""
    from .index.follow import Indexer

    return Indexer(trail.home, url, durable_size=lambda: trail.durable_size)


def _search(
    trail: Trail,
    *,
    types: tuple[str, ...],
    equals: dict[str, str],
    since: str | None,
    until: str | None,
    text: str | None,
    limit: int | None,
    descending: bool,
) -> list[dict[str, Any]]:
    """Trail.search: the index is brought up to date with the durable records first."""
    from .index import Query, open_index, parse_when, update_index

    query = Query(
        types=types,
        equals=equals,
        since=parse_when(since, "since") if since else None,
        until=parse_when(until, "until") if until else None,
        text=text,
        origin=trail.origin,
        limit=limit,
        descending=descending,
    )
    trail.flush()
    backend = open_index(trail.home, trail.index_url)
    try:
        update_index(trail.home, backend, upto=trail.durable_size)
        return [row.parsed() for row in backend.search(query)]
    finally:
        backend.close()


def _snapshot_configured(trail: Trail) -> None:
    """TRADETRAIL_CONFIG_PATHS: snapshot the configuration this run starts on."""
    from .compliance.snapshots import snapshot_configured

    snapshot_configured(trail)


_HOOKS.feed_index = _feed_index
_HOOKS.search = _search
_HOOKS.on_open.append(_snapshot_configured)


def verify(
    home: str | os.PathLike[str],
    *,
    checkpoints: Sequence[str | os.PathLike[str]] = (),
    vkeys: Sequence[Verifier | str] | None = None,
    max_faults: int = 100,
) -> VerifyReport:
    """Verify the trail at `home` as `tradetrail verify` does and return the report (`.ok`,
    `.faults`, `.warnings`, `.to_json()`); it never raises for a fault it finds. `checkpoints`
    are copies kept outside the trail, `vkeys` verifier keys (Verifier, key text or file;
    default: the trail's own trail.vkey)."""
    from pathlib import Path

    from .store.keys import parse_verifier

    keys = None
    if vkeys is not None:
        keys = [k if isinstance(k, Verifier) else parse_verifier(k, "vkeys") for k in vkeys]
    return _verify_module.verify_trail(
        Path(home),
        checkpoints=[Path(p) for p in checkpoints],
        vkeys=keys,
        max_faults=max_faults,
    )


def inclusion_proof(
    home: str | os.PathLike[str], seq: int, size: int | None = None
) -> dict[str, Any]:
    """The inclusion proof of record `seq` from a trail on disk, read-only (no writer lock
    needed): the JSON object `tradetrail proof inclusion` prints."""
    from pathlib import Path

    from .store.proofs import inclusion_proof_json

    return inclusion_proof_json(Path(home), seq, size)


def consistency_proof(
    home: str | os.PathLike[str], old_size: int, new_size: int | None = None
) -> dict[str, Any]:
    """The consistency proof between two tree sizes from a trail on disk, read-only."""
    from pathlib import Path

    from .store.proofs import consistency_proof_json

    return consistency_proof_json(Path(home), old_size, new_size)


def verify_proof(
    proof: dict[str, Any],
    vkeys: Sequence[Verifier | KeyHistory | str],
    *,
    require_signed: bool = True,
) -> list[str]:
    """Check a proof offline (`tradetrail proof verify`): returns what it establishes, raises
    ProofError when it does not verify. `vkeys`: Verifier, key text or file, or the key
    history of a trail whose key was rotated (a KeyHistory or the path of trail.vkeys)."""
    from .store.keyhistory import parse_key_spec
    from .store.proofs import verify_proof_json

    keys: list[Verifier] = []
    histories: list[KeyHistory] = []
    for spec in vkeys:
        key = parse_key_spec(spec, "vkeys") if isinstance(spec, str) else spec
        if isinstance(key, KeyHistory):
            histories.append(key)
        else:
            keys.append(key)
    if len(histories) > 1:
        raise ValueError("vkeys: give one key history at most")
    history = histories[0] if histories else None
    return verify_proof_json(proof, keys, require_signed=require_signed, history=history)
