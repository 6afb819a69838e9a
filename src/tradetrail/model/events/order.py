"""order.*: an order's life at a venue, from the ticket to its last execution."""

from decimal import Decimal

from .base import AwareDatetime, Capacity, EventData, Liquidity, Side

__all__ = [
    "OrderAccepted",
    "OrderCancelRequested",
    "OrderCancelled",
    "OrderExpired",
    "OrderFilled",
    "OrderPartiallyFilled",
    "OrderRejected",
    "OrderReplaced",
    "OrderStopUpdated",
    "OrderSubmitted",
]


class OrderSubmitted(EventData, kw_only=True, frozen=True):
    """An order left the system for a venue: the order ticket (17a-3(a)(6), Art. 16(6), CAT)."""

    TYPE = "order.submitted"
    VERSION = 2
    side: Side
    qty: Decimal
    order_type: str | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: str | None = None
    expire_at: AwareDatetime | None = None
    reduce_only: bool | None = None
    post_only: bool | None = None
    leverage: Decimal | None = None
    notional: Decimal | None = None
    currency: str | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    algo_id: str | None = None
    capacity: Capacity | None = None
    arrival_price: Decimal | None = None
    """The market price when the order was decided (mid or last): the benchmark of
    implementation shortfall / arrival slippage in the execution report (version 2)."""


class OrderAccepted(EventData, kw_only=True, frozen=True):
    """The venue acknowledged the order (identifiers live in the envelope)."""

    TYPE = "order.accepted"
    VERSION = 1
    status: str | None = None
    price: Decimal | None = None
    remaining_qty: Decimal | None = None
    latency_us: int | None = None


class OrderRejected(EventData, kw_only=True, frozen=True):
    """An order was refused, by the venue or internally; the reason is the point of the record."""

    TYPE = "order.rejected"
    VERSION = 1
    reason: str
    code: str | int | None = None
    rejected_by: str | None = None


class OrderReplaced(EventData, kw_only=True, frozen=True):
    """An order was modified (cancel/replace): old and new terms side by side."""

    TYPE = "order.replaced"
    VERSION = 1
    new_order_id: str | None = None
    orig_client_order_id: str | None = None
    old_qty: Decimal | None = None
    new_qty: Decimal | None = None
    old_price: Decimal | None = None
    new_price: Decimal | None = None
    old_stop_price: Decimal | None = None
    new_stop_price: Decimal | None = None
    time_in_force: str | None = None
    reason: str | None = None


class OrderCancelRequested(EventData, kw_only=True, frozen=True):
    """A cancel was asked for; the venue's answer is a separate `order.cancelled`."""

    TYPE = "order.cancel_requested"
    VERSION = 1
    reason: str | None = None
    orig_client_order_id: str | None = None


class OrderCancelled(EventData, kw_only=True, frozen=True):
    """An order was cancelled, with what was left and who cancelled it."""

    TYPE = "order.cancelled"
    VERSION = 1
    reason: str | None = None
    cancelled_by: str | None = None
    remaining_qty: Decimal | None = None
    filled_qty: Decimal | None = None


class OrderExpired(EventData, kw_only=True, frozen=True):
    """An order reached the end of its time in force unfilled or partly filled."""

    TYPE = "order.expired"
    VERSION = 1
    time_in_force: str | None = None
    remaining_qty: Decimal | None = None
    filled_qty: Decimal | None = None
    reason: str | None = None


class OrderStopUpdated(EventData, kw_only=True, frozen=True):
    """A protective stop or take-profit moved: a change of terms that must be evidenced."""

    TYPE = "order.stop_updated"
    VERSION = 1
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    old_stop_loss: Decimal | None = None
    old_take_profit: Decimal | None = None
    trailing_distance: Decimal | None = None
    reason: str | None = None


class OrderPartiallyFilled(EventData, kw_only=True, frozen=True):
    """One execution that leaves quantity open (fill details for the blotter and CAT)."""

    TYPE = "order.partially_filled"
    VERSION = 2
    fill_qty: Decimal
    fill_price: Decimal
    cum_qty: Decimal | None = None
    remaining_qty: Decimal | None = None
    avg_price: Decimal | None = None
    side: Side | None = None
    fee: Decimal | None = None
    fee_currency: str | None = None
    trade_id: str | None = None
    liquidity: Liquidity | None = None
    counterparty: str | None = None
    """Who the other side of the execution is, as the venue reports it (a clearing house, the
    venue as principal, a broker): the blotter's counterparty column (version 2)."""


class OrderFilled(EventData, kw_only=True, frozen=True):
    """The execution that completes the order, with the totals when known."""

    TYPE = "order.filled"
    VERSION = 2
    fill_qty: Decimal
    fill_price: Decimal
    cum_qty: Decimal | None = None
    remaining_qty: Decimal | None = None
    avg_price: Decimal | None = None
    side: Side | None = None
    fee: Decimal | None = None
    fee_currency: str | None = None
    trade_id: str | None = None
    liquidity: Liquidity | None = None
    counterparty: str | None = None
    """Who the other side of the execution is, as the venue reports it (a clearing house, the
    venue as principal, a broker): the blotter's counterparty column (version 2)."""
