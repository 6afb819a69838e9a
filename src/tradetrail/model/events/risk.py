"""risk.*: position sizing and the pre- and post-trade controls, proof that they ran."""

from decimal import Decimal
from typing import Any

from .base import EventData, MarginType

__all__ = [
    "RiskKillSwitch",
    "RiskLeverageSet",
    "RiskLimitBreached",
    "RiskMarginTypeSet",
    "RiskPassed",
    "RiskRejected",
    "RiskSizeCalculated",
    "RiskSizeCapped",
]

# --------------------------------------------------------------------------- sizing


class RiskSizeCalculated(EventData, kw_only=True, frozen=True):
    """How a position size was derived, with the inputs an examiner would recompute it from."""

    TYPE = "risk.size_calculated"
    VERSION = 1
    qty: Decimal
    method: str | None = None
    equity: Decimal | None = None
    risk_fraction: Decimal | None = None
    stop_distance: Decimal | None = None
    price: Decimal | None = None
    notional: Decimal | None = None
    leverage: Decimal | None = None
    inputs: dict[str, Any] | None = None


class RiskSizeCapped(EventData, kw_only=True, frozen=True):
    """A size was reduced by a limit: shows the control acted (SEC 15c3-5, RTS 6)."""

    TYPE = "risk.size_capped"
    VERSION = 1
    requested_qty: Decimal
    capped_qty: Decimal
    rule: str | None = None
    limit: Decimal | None = None
    reason: str | None = None


# --------------------------------------------------------------------------- controls


class RiskPassed(EventData, kw_only=True, frozen=True):
    """Pre-trade checks passed: proves the controls ran before the order (SEC 15c3-5)."""

    TYPE = "risk.passed"
    VERSION = 1
    checks: list[str] | None = None
    notional: Decimal | None = None
    exposure_after: Decimal | None = None
    latency_us: int | None = None


class RiskRejected(EventData, kw_only=True, frozen=True):
    """A control blocked an action: which rule, its limit and what was observed."""

    TYPE = "risk.rejected"
    VERSION = 1
    rule: str
    limit: Decimal | None = None
    observed: Decimal | None = None
    unit: str | None = None
    reason: str | None = None


class RiskLimitBreached(EventData, kw_only=True, frozen=True):
    """A limit was exceeded (post-trade or by market moves), and what was done about it."""

    TYPE = "risk.limit_breached"
    VERSION = 1
    rule: str
    limit: Decimal
    observed: Decimal
    unit: str | None = None
    action: str | None = None


class RiskLeverageSet(EventData, kw_only=True, frozen=True):
    """Leverage on an account or symbol changed."""

    TYPE = "risk.leverage_set"
    VERSION = 1
    leverage: Decimal
    old_leverage: Decimal | None = None
    reason: str | None = None


class RiskMarginTypeSet(EventData, kw_only=True, frozen=True):
    """The margin mode changed (cross/isolated): it changes how losses propagate."""

    TYPE = "risk.margin_type_set"
    VERSION = 1
    margin_type: MarginType
    old_margin_type: MarginType | None = None
    reason: str | None = None


class RiskKillSwitch(EventData, kw_only=True, frozen=True):
    """The kill switch was engaged or released (MiFID II RTS 6 Art. 12, SEC 15c3-5)."""

    TYPE = "risk.kill_switch"
    VERSION = 1
    engaged: bool
    reason: str
    scope: str | None = None
    trigger: str | None = None
    orders_cancelled: int | None = None
    positions_flattened: bool | None = None
