"""trade.* and instrument.*: trades as booked, and the reference data the blotter needs to
name their currency and settlement date."""

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from msgspec import Meta

from .base import EventData, Liquidity, Side

__all__ = [
    "InstrumentDefined",
    "TradeExecuted",
    "TradeExecutionFailed",
]


class InstrumentDefined(EventData, kw_only=True, frozen=True):
    """Reference data of the instrument named in the envelope's `symbol`, as the firm trades it:
    recorded at the start of a session (or when it changes), so that the blotter can name the
    currency and derive the settlement date of each execution from facts on the trail."""

    TYPE = "instrument.defined"
    VERSION = 1
    currency: str
    settlement_days: Annotated[int, Meta(ge=0, le=30)] | None = None
    """The settlement cycle: trades settle this many settlement days after the trade date
    (T+1 is 1; 0 settles on the trade date)."""
    settlement_calendar: Literal["weekdays", "every_day"] | None = None
    """Which days count as settlement days: Monday to Friday (the default), or every day (24/7
    markets); either less `holidays`."""
    holidays: list[date] | None = None
    """Days that are not settlement days (market holidays of the settlement calendar)."""
    asset_class: str | None = None
    description: str | None = None
    isin: str | None = None
    tick_size: Decimal | None = None
    lot_size: Decimal | None = None


class TradeExecuted(EventData, kw_only=True, frozen=True):
    """A trade as booked: the blotter line (17a-3(a)(1), CFTC 1.35, trade and settlement dates)."""

    TYPE = "trade.executed"
    VERSION = 1
    side: Side
    qty: Decimal
    price: Decimal
    trade_id: str | None = None
    notional: Decimal | None = None
    currency: str | None = None
    fee: Decimal | None = None
    fee_currency: str | None = None
    liquidity: Liquidity | None = None
    counterparty: str | None = None
    trade_date: date | None = None
    settlement_date: date | None = None


class TradeExecutionFailed(EventData, kw_only=True, frozen=True):
    """An attempted execution failed: as important to evidence as one that succeeded."""

    TYPE = "trade.execution_failed"
    VERSION = 1
    reason: str
    code: str | int | None = None
    side: Side | None = None
    qty: Decimal | None = None
    price: Decimal | None = None
    retryable: bool | None = None
