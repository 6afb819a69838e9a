"""What every event type is built of: the `EventData` base, the shared field types, and the
position and balance entries that venue queries and portfolio snapshots list."""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, ClassVar, Final, Literal

from msgspec import Meta, Struct

from ...core.canonical import EVENT_ID_PATTERN

__all__ = [
    "AwareDatetime",
    "BalanceEntry",
    "Capacity",
    "EventData",
    "EventId",
    "Liquidity",
    "MarginType",
    "PositionEntry",
    "Seq",
    "Severity",
    "Side",
]

AwareDatetime = Annotated[datetime, Meta(tz=True)]
"""A datetime that must carry a timezone: a naive one is ambiguous evidence, so it is refused."""

Side = Literal["buy", "sell", "sell_short", "sell_short_exempt"]
"""Order side, with the short-sale marks that Reg SHO and CAT require of equity sells."""

Severity = Literal["debug", "info", "warning", "error", "critical"]
Liquidity = Literal["maker", "taker"]
Capacity = Literal["agency", "principal", "riskless_principal"]
MarginType = Literal["cross", "isolated", "portfolio"]
EventId = Annotated[str, Meta(pattern=EVENT_ID_PATTERN.pattern)]
Seq = Annotated[int, Meta(ge=0)]

# to_builtins keeps these as objects; the canonical encoder formats them
_KEEP: Final = (Decimal, datetime, date)


class EventData(Struct, kw_only=True, forbid_unknown_fields=True, frozen=True, omit_defaults=True):
    """Base of every event's `data`: strict (unknown fields refused), immutable (an event is a
    fact) and with `None` fields omitted. Subclass it as `class X(EventData, kw_only=True,
    frozen=True)` (msgspec applies kw_only per class) and set `TYPE` and `VERSION`."""

    TYPE: ClassVar[str]
    VERSION: ClassVar[int]


class PositionEntry(EventData, kw_only=True, frozen=True):
    """One position in a venue query or a portfolio snapshot; quantity signed (short < 0)."""

    symbol: str
    qty: Decimal
    avg_price: Decimal | None = None
    mark_price: Decimal | None = None
    market_value: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    realized_pnl: Decimal | None = None
    leverage: Decimal | None = None
    margin_type: MarginType | None = None
    liquidation_price: Decimal | None = None
    currency: str | None = None


class BalanceEntry(EventData, kw_only=True, frozen=True):
    """One asset balance as the venue reported it."""

    asset: str
    total: Decimal
    available: Decimal | None = None
    locked: Decimal | None = None
