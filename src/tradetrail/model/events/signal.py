"""signal.*: the trading signals that start a decision lineage."""

from decimal import Decimal
from typing import Any, Literal

from .base import EventData, Side

__all__ = [
    "SignalProcessed",
    "SignalReceived",
]


class SignalReceived(EventData, kw_only=True, frozen=True):
    """A trading signal arrived: the start of the decision lineage (RTS 6 algo records)."""

    TYPE = "signal.received"
    VERSION = 1
    origin: str | None = None
    side: Side | None = None
    action: str | None = None
    strength: Decimal | None = None
    price: Decimal | None = None
    qty: Decimal | None = None
    timeframe: str | None = None
    payload: dict[str, Any] | None = None


class SignalProcessed(EventData, kw_only=True, frozen=True):
    """What the strategy decided about a signal, so ignored signals are evidenced too."""

    TYPE = "signal.processed"
    VERSION = 1
    outcome: Literal["accepted", "ignored", "rejected", "expired", "duplicate"]
    reason: str | None = None
    orders_created: int | None = None
    latency_us: int | None = None
