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
from .writer.trail import Receipt, Trail, open

if TYPE_CHECKING:
    from .verify.trail import VerifyReport

__version__ = "0.1.0"

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
