"""tradetrail: a tamper-evident audit trail for trading systems.

    import tradetrail
    with tradetrail.open("./trail") as trail:
        receipt = trail.record("order.accepted", {"qty": "0.5"}, order_id="O-1", symbol="BTC-USD")
        seq = receipt.wait()   # durable in the journal

Records form a hash chain and an RFC 6962 Merkle tree with Ed25519-signed C2SP checkpoints,
verifiable offline (`tradetrail verify`).
"""

from __future__ import annotations

from .config import Durability
from .context import bind
from .errors import (
    CheckpointError,
    ConfigError,
    JournalFormatError,
    NoteError,
    ProofError,
    TileError,
    TradetrailError,
    TrailClosedError,
    TrailCorruptError,
    TrailLockedError,
    TrailNotFoundError,
)
from .trail import Receipt, Trail, open

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "ConfigError",
    "Durability",
    "JournalFormatError",
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
    "__version__",
    "bind",
    "open",
]
