"""portfolio.*: our own book (positions, NAV, fees)."""

from decimal import Decimal

from .base import AwareDatetime, EventData, PositionEntry

__all__ = [
    "PortfolioFeeCharged",
    "PortfolioNavComputed",
    "PortfolioPositionSnapshot",
]


class PortfolioPositionSnapshot(EventData, kw_only=True, frozen=True):
    """Our own book of positions at a point in time (17a-3(a)(5) position records)."""

    TYPE = "portfolio.position_snapshot"
    VERSION = 1
    positions: list[PositionEntry]
    as_of: AwareDatetime | None = None
    currency: str | None = None


class PortfolioNavComputed(EventData, kw_only=True, frozen=True):
    """Net asset value with its components, so the NAV report can be re-derived."""

    TYPE = "portfolio.nav_computed"
    VERSION = 1
    cash: Decimal
    positions_at_mark: Decimal
    fees: Decimal
    accruals: Decimal
    nav: Decimal
    currency: str
    as_of: AwareDatetime | None = None
    shares_outstanding: Decimal | None = None
    nav_per_share: Decimal | None = None
    pricing_source: str | None = None


class PortfolioFeeCharged(EventData, kw_only=True, frozen=True):
    """A fee, commission, funding or financing charge (commission records, fee disclosure)."""

    TYPE = "portfolio.fee_charged"
    VERSION = 1
    amount: Decimal
    currency: str
    fee_type: str
    rate: Decimal | None = None
    trade_id: str | None = None
    description: str | None = None
