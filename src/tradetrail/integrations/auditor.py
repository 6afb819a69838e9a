"""The `Auditor` protocol: what trading components call to audit, taken by dependency injection.

    class OrderManager:
        def __init__(self, venue: Venue, auditor: Auditor = NullAuditor()) -> None: ...

        def submit(self, order: Order) -> None:
            self.auditor.order_submitted(order.id, order.symbol, order.side, order.qty, order.px)

In production pass `TrailAuditor(trail)`; in unit tests and backtests `NullAuditor()` (free) or
`TrailAuditor(CaptureTrail())` from `tradetrail.integrations.testing` to assert what was audited.
Each helper
names the facts an examiner asks about for its event type; identifiers (order ids, symbol,
account, venue, strategy, actor, ...) go to the envelope so they are indexed and searchable, the
rest to `data`. Extra keyword arguments are routed the same way: envelope field names to the
envelope, anything else to `data`. None values are left out, so they never hide fields bound
with `tradetrail.bind`. Money and quantities are `Decimal` (an `int` is exact too); a float is
refused with TypeError, because a binary float is not the amount that was traded.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final, Protocol, cast, runtime_checkable

from ..core.canonical import ENVELOPE_FIELDS

__all__ = ["Auditor", "NullAuditor", "Number", "ReceiptLike", "Recorder", "TrailAuditor"]

Number = Decimal | int
"""A limit or observed value in a risk decision: exact, never a float."""


class ReceiptLike(Protocol):
    """What `record()` returns: `Receipt` of a trail, `CapturedReceipt` of a capture."""

    def wait(self, timeout: float | None = None) -> int: ...

    def __await__(self) -> Generator[Any, None, int]: ...


class Recorder(Protocol):
    """Anything with the signature of `Trail.record`: a trail, a capture, a user's wrapper."""

    def record(self, event_type: str, data: Any = None, **fields: Any) -> ReceiptLike | None: ...


def _exact(name: str, value: Any) -> Any:
    """Refuse a float for an amount: the trail must hold what was traded, exactly."""
    if isinstance(value, float):
        raise TypeError(f"{name}: float {value!r} is inexact; pass a Decimal (e.g. Decimal('0.1'))")
    return value


class _Emitter(Protocol):
    """What the helpers below need of their auditor: where the built event goes."""

    def _emit(
        self, event_type: str, data: Mapping[str, Any] | None, /, **fields: Any
    ) -> ReceiptLike | None: ...


def _send(
    auditor: Auditor,
    event_type: str,
    envelope: dict[str, Any],
    data: dict[str, Any],
    extra: dict[str, Any],
) -> ReceiptLike | None:
    """Send one helper's event to its auditor's `_emit`: None values left out (they would hide
    fields bound with `tradetrail.bind`), `extra` split between envelope and data. `_emit` is
    not a Protocol member, so that an auditor of the user's own need not have it."""
    fields = {k: v for k, v in envelope.items() if v is not None}
    body = {k: v for k, v in data.items() if v is not None}
    for key, value in extra.items():
        if value is None:
            continue
        if key in ENVELOPE_FIELDS:
            fields[key] = value
        else:
            body[key] = value
    return cast("_Emitter", auditor)._emit(event_type, body or None, **fields)


@runtime_checkable
class Auditor(Protocol):
    """The audit calls of a trading system. Every helper returns the receipt of the recorded
    event (None for `NullAuditor`) and raises TypeError/ValueError for a bad event, like
    `record()`. `**extra`: envelope fields (actor, correlation_id, priority, event_ts, ...) to
    the envelope, anything else to `data`.

    The helpers are written once, here: they build the event and send it to `_emit(event_type,
    data, **fields)`, which `TrailAuditor` implements (`NullAuditor` replaces the helpers with a
    no-op). A class of your own may subclass it and implement `_emit` too, or implement the
    helpers itself (the Protocol is structural)."""

    def event(
        self, event_type: str, data: Mapping[str, Any] | None = None, **fields: Any
    ) -> ReceiptLike | None:
        """Any other event type (`record()` itself): `fields` are envelope fields only."""
        return cast("_Emitter", self)._emit(event_type, data, **fields)

    def signal_received(
        self,
        signal_id: str,
        symbol: str | None = None,
        *,
        side: str | None = None,
        strength: Decimal | None = None,
        strategy: str | None = None,
        **extra: Any,
    ) -> ReceiptLike | None:
        """`signal.received`: A strategy signal arrived: the start of an order's story."""
        return _send(
            self,
            "signal.received",
            {"signal_id": signal_id, "symbol": symbol, "strategy": strategy},
            {"side": side, "strength": strength},
            extra,
        )

    def size_calculated(
        self,
        symbol: str,
        qty: Decimal,
        *,
        notional: Decimal | None = None,
        method: str | None = None,
        signal_id: str | None = None,
        strategy: str | None = None,
        account: str | None = None,
        **extra: Any,
    ) -> ReceiptLike | None:
        """`risk.size_calculated`: The position size a signal was turned into, and how."""
        return _send(
            self,
            "risk.size_calculated",
            {"symbol": symbol, "signal_id": signal_id, "strategy": strategy, "account": account},
            {"qty": _exact("qty", qty), "notional": _exact("notional", notional), "method": method},
            extra,
        )

    def size_capped(
        self,
        symbol: str,
        requested_qty: Decimal,
        capped_qty: Decimal,
        *,
        rule: str | None = None,
        limit: Number | None = None,
        signal_id: str | None = None,
        strategy: str | None = None,
        account: str | None = None,
        **extra: Any,
    ) -> ReceiptLike | None:
        """`risk.size_capped`: A size reduced by a limit: wanted, allowed, which rule."""
        return _send(
            self,
            "risk.size_capped",
            {"symbol": symbol, "signal_id": signal_id, "strategy": strategy, "account": account},
            {
                "requested_qty": _exact("requested_qty", requested_qty),
                "capped_qty": _exact("capped_qty", capped_qty),
                "rule": rule,
                "limit": _exact("limit", limit),
            },
            extra,
        )

    def risk_passed(
        self,
        symbol: str | None = None,
        *,
        checks: Sequence[str] | None = None,
        order_id: str | None = None,
        client_order_id: str | None = None,
        signal_id: str | None = None,
        strategy: str | None = None,
        account: str | None = None,
        **extra: Any,
    ) -> ReceiptLike | None:
        """`risk.passed`: Pre-trade risk checks passed (which ones, for the examiner)."""
        return _send(
            self,
            "risk.passed",
            {
                "symbol": symbol,
                "order_id": order_id,
                "client_order_id": client_order_id,
                "signal_id": signal_id,
                "strategy": strategy,
                "account": account,
            },
            {"checks": checks},
            extra,
        )

    def risk_rejected(
        self,
        rule: str,
        limit: Number,
        observed: Number,
        *,
        reason: str | None = None,
        symbol: str | None = None,
        order_id: str | None = None,
        client_order_id: str | None = None,
        signal_id: str | None = None,
        strategy: str | None = None,
        account: str | None = None,
        **extra: Any,
    ) -> ReceiptLike | None:
        """`risk.rejected`: A risk rule refused: the rule, its limit and the value observed."""
        return _send(
            self,
            "risk.rejected",
            {
                "symbol": symbol,
                "order_id": order_id,
                "client_order_id": client_order_id,
                "signal_id": signal_id,
                "strategy": strategy,
                "account": account,
            },
            {
                "rule": rule,
                "limit": _exact("limit", limit),
                "observed": _exact("observed", observed),
                "reason": reason,
            },
            extra,
        )

    def order_submitted(
        self,
        order_id: str,
        symbol: str,
        side: str,
        qty: Decimal,
        price: Decimal | None = None,
        *,
        order_type: str | None = None,
        time_in_force: str | None = None,
        client_order_id: str | None = None,
        venue: str | None = None,
        account: str | None = None,
        strategy: str | None = None,
        **extra: Any,
    ) -> ReceiptLike | None:
        """`order.submitted`: An order left for the venue: what was asked, exactly."""
        return _send(
            self,
            "order.submitted",
            {
                "order_id": order_id,
                "symbol": symbol,
                "client_order_id": client_order_id,
                "venue": venue,
                "account": account,
                "strategy": strategy,
            },
            {
                "side": side,
                "qty": _exact("qty", qty),
                "price": _exact("price", price),
                "order_type": order_type,
                "time_in_force": time_in_force,
            },
            extra,
        )

    def order_accepted(
        self,
        order_id: str,
        *,
        exchange_order_id: str | None = None,
        symbol: str | None = None,
        venue: str | None = None,
        account: str | None = None,
        **extra: Any,
    ) -> ReceiptLike | None:
        """`order.accepted`: The venue acknowledged the order (with its own id)."""
        return _send(
            self,
            "order.accepted",
            {
                "order_id": order_id,
                "exchange_order_id": exchange_order_id,
                "symbol": symbol,
                "venue": venue,
                "account": account,
            },
            {},
            extra,
        )

    def order_rejected(
        self,
        order_id: str,
        reason: str,
        *,
        code: str | int | None = None,
        symbol: str | None = None,
        venue: str | None = None,
        account: str | None = None,
        **extra: Any,
    ) -> ReceiptLike | None:
        """`order.rejected`: The venue refused the order; the reason is required."""
        return _send(
            self,
            "order.rejected",
            {"order_id": order_id, "symbol": symbol, "venue": venue, "account": account},
            {"reason": reason, "code": code},
            extra,
        )

    def order_replaced(
        self,
        order_id: str,
        *,
        new_order_id: str | None = None,
        old_qty: Decimal | None = None,
        new_qty: Decimal | None = None,
        old_price: Decimal | None = None,
        new_price: Decimal | None = None,
        symbol: str | None = None,
        venue: str | None = None,
        account: str | None = None,
        **extra: Any,
    ) -> ReceiptLike | None:
        """`order.replaced`: An order was modified or cancel-replaced: old and new terms."""
        return _send(
            self,
            "order.replaced",
            {"order_id": order_id, "symbol": symbol, "venue": venue, "account": account},
            {
                "new_order_id": new_order_id,
                "old_qty": _exact("old_qty", old_qty),
                "new_qty": _exact("new_qty", new_qty),
                "old_price": _exact("old_price", old_price),
                "new_price": _exact("new_price", new_price),
            },
            extra,
        )

    def cancel_requested(
        self,
        order_id: str,
        *,
        reason: str | None = None,
        symbol: str | None = None,
        venue: str | None = None,
        account: str | None = None,
        **extra: Any,
    ) -> ReceiptLike | None:
        """`order.cancel_requested`: A cancel was sent (the order may still fill)."""
        return _send(
            self,
            "order.cancel_requested",
            {"order_id": order_id, "symbol": symbol, "venue": venue, "account": account},
            {"reason": reason},
            extra,
        )

    def order_cancelled(
        self,
        order_id: str,
        *,
        reason: str | None = None,
        remaining_qty: Decimal | None = None,
        symbol: str | None = None,
        venue: str | None = None,
        account: str | None = None,
        **extra: Any,
    ) -> ReceiptLike | None:
        """`order.cancelled`: The venue confirmed the cancel, with the quantity left unfilled."""
        return _send(
            self,
            "order.cancelled",
            {"order_id": order_id, "symbol": symbol, "venue": venue, "account": account},
            {"reason": reason, "remaining_qty": _exact("remaining_qty", remaining_qty)},
            extra,
        )

    def order_partially_filled(
        self,
        order_id: str,
        fill_qty: Decimal,
        fill_price: Decimal,
        fee: Decimal | None = None,
        *,
        fee_currency: str | None = None,
        trade_id: str | None = None,
        cum_qty: Decimal | None = None,
        remaining_qty: Decimal | None = None,
        side: str | None = None,
        liquidity: str | None = None,
        exchange_order_id: str | None = None,
        symbol: str | None = None,
        venue: str | None = None,
        account: str | None = None,
        **extra: Any,
    ) -> ReceiptLike | None:
        """`order.partially_filled`: Part of the order filled: this fill's qty, price, fee."""
        return _send(
            self,
            "order.partially_filled",
            {
                "order_id": order_id,
                "exchange_order_id": exchange_order_id,
                "symbol": symbol,
                "venue": venue,
                "account": account,
            },
            {
                "fill_qty": _exact("fill_qty", fill_qty),
                "fill_price": _exact("fill_price", fill_price),
                "fee": _exact("fee", fee),
                "fee_currency": fee_currency,
                "trade_id": trade_id,
                "cum_qty": _exact("cum_qty", cum_qty),
                "remaining_qty": _exact("remaining_qty", remaining_qty),
                "side": side,
                "liquidity": liquidity,
            },
            extra,
        )

    def order_filled(
        self,
        order_id: str,
        fill_qty: Decimal,
        fill_price: Decimal,
        fee: Decimal | None = None,
        *,
        fee_currency: str | None = None,
        trade_id: str | None = None,
        cum_qty: Decimal | None = None,
        remaining_qty: Decimal | None = None,
        side: str | None = None,
        liquidity: str | None = None,
        exchange_order_id: str | None = None,
        symbol: str | None = None,
        venue: str | None = None,
        account: str | None = None,
        **extra: Any,
    ) -> ReceiptLike | None:
        """`order.filled`: The order is completely filled (the last fill's terms)."""
        return _send(
            self,
            "order.filled",
            {
                "order_id": order_id,
                "exchange_order_id": exchange_order_id,
                "symbol": symbol,
                "venue": venue,
                "account": account,
            },
            {
                "fill_qty": _exact("fill_qty", fill_qty),
                "fill_price": _exact("fill_price", fill_price),
                "fee": _exact("fee", fee),
                "fee_currency": fee_currency,
                "trade_id": trade_id,
                "cum_qty": _exact("cum_qty", cum_qty),
                "remaining_qty": _exact("remaining_qty", remaining_qty),
                "side": side,
                "liquidity": liquidity,
            },
            extra,
        )

    def api_error(
        self,
        venue: str,
        operation: str,
        error: str,
        *,
        status: int | None = None,
        code: str | int | None = None,
        retryable: bool | None = None,
        order_id: str | None = None,
        symbol: str | None = None,
        account: str | None = None,
        **extra: Any,
    ) -> ReceiptLike | None:
        """`venue.api_error`: A venue API call failed: which call, and what came back."""
        return _send(
            self,
            "venue.api_error",
            {"venue": venue, "order_id": order_id, "symbol": symbol, "account": account},
            {
                "operation": operation,
                "error": error,
                "status": status,
                "code": code,
                "retryable": retryable,
            },
            extra,
        )

    def rate_limited(
        self,
        venue: str,
        *,
        operation: str | None = None,
        retry_after: float | None = None,
        limit: str | None = None,
        account: str | None = None,
        **extra: Any,
    ) -> ReceiptLike | None:
        """`venue.rate_limited`: The venue throttled us; requests were delayed or dropped."""
        return _send(
            self,
            "venue.rate_limited",
            {"venue": venue, "account": account},
            {"operation": operation, "retry_after": retry_after, "limit": limit},
            extra,
        )

    def retry(
        self,
        venue: str,
        operation: str,
        attempt: int,
        *,
        delay: float | None = None,
        max_attempts: int | None = None,
        error: str | None = None,
        order_id: str | None = None,
        symbol: str | None = None,
        account: str | None = None,
        **extra: Any,
    ) -> ReceiptLike | None:
        """`venue.retry`: A venue call is being retried: attempt number and delay."""
        return _send(
            self,
            "venue.retry",
            {"venue": venue, "order_id": order_id, "symbol": symbol, "account": account},
            {
                "operation": operation,
                "attempt": attempt,
                "delay": delay,
                "max_attempts": max_attempts,
                "error": error,
            },
            extra,
        )

    def config_changed(
        self,
        path: str,
        old_hash: str | None,
        new_hash: str,
        *,
        actor: str | None = None,
        keys: Sequence[str] | None = None,
        strategy: str | None = None,
        account: str | None = None,
        **extra: Any,
    ) -> ReceiptLike | None:
        """`config.changed`: Configuration changed: who, what, and old/new content hashes."""
        return _send(
            self,
            "config.changed",
            {"actor": actor, "strategy": strategy, "account": account},
            {"path": path, "old_hash": old_hash, "new_hash": new_hash, "keys": keys},
            extra,
        )

    def login(
        self,
        user: str,
        *,
        method: str | None = None,
        remote_addr: str | None = None,
        account: str | None = None,
        **extra: Any,
    ) -> ReceiptLike | None:
        """`auth.login`: A user (the event's actor) logged in."""
        return _send(
            self,
            "auth.login",
            {"actor": user, "account": account},
            {"method": method, "remote_addr": remote_addr},
            extra,
        )

    def logout(
        self, user: str, *, reason: str | None = None, account: str | None = None, **extra: Any
    ) -> ReceiptLike | None:
        """`auth.logout`: A user (the event's actor) logged out."""
        return _send(
            self, "auth.logout", {"actor": user, "account": account}, {"reason": reason}, extra
        )

    def login_failed(
        self,
        user: str,
        reason: str,
        *,
        method: str | None = None,
        remote_addr: str | None = None,
        attempts: int | None = None,
        account: str | None = None,
        **extra: Any,
    ) -> ReceiptLike | None:
        """`auth.login_failed`: A login attempt failed; the claimed user is the actor."""
        return _send(
            self,
            "auth.login_failed",
            {"actor": user, "account": account},
            {"reason": reason, "method": method, "remote_addr": remote_addr, "attempts": attempts},
            extra,
        )

    def alert_sent(
        self,
        channel: str,
        rule: str,
        severity: str,
        *,
        message: str | None = None,
        strategy: str | None = None,
        account: str | None = None,
        symbol: str | None = None,
        **extra: Any,
    ) -> ReceiptLike | None:
        """`alert.sent`: An alert went out: on which channel, by which rule, how severe."""
        return _send(
            self,
            "alert.sent",
            {"strategy": strategy, "account": account, "symbol": symbol},
            {"channel": channel, "rule": rule, "severity": severity, "message": message},
            extra,
        )

    def kill_switch(
        self,
        reason: str,
        *,
        engaged: bool = True,
        scope: str | None = None,
        actor: str | None = None,
        strategy: str | None = None,
        account: str | None = None,
        venue: str | None = None,
        **extra: Any,
    ) -> ReceiptLike | None:
        """`risk.kill_switch`: Trading halted (engaged=False: resumed); priority critical."""
        extra.setdefault("priority", "critical")
        return _send(
            self,
            "risk.kill_switch",
            {"actor": actor, "strategy": strategy, "account": account, "venue": venue},
            {"reason": reason, "engaged": engaged, "scope": scope},
            extra,
        )


class TrailAuditor(Auditor):
    """An `Auditor` that records on a trail (or anything with a `record()` method)."""

    __slots__ = ("_emit", "trail")

    _emit: Callable[..., ReceiptLike | None]
    """Where the helpers send their event: the trail's `record` itself, no call in between."""

    def __init__(self, trail: Recorder) -> None:
        self.trail = trail
        self._emit = trail.record

    def __repr__(self) -> str:
        return f"TrailAuditor({self.trail!r})"


class NullAuditor(Auditor):
    """An `Auditor` that does nothing and costs one call: for unit tests and backtests. Each
    helper is the same no-op under the helper's name and signature (set below), so nothing is
    built: a backtest pays no more than the call."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NullAuditor()"


def _no_op(helper: Callable[..., ReceiptLike | None]) -> Callable[..., None]:
    @functools.wraps(helper)  # the helper's name, docstring and (through __wrapped__) signature
    def nothing(self: NullAuditor, *args: Any, **kwargs: Any) -> None:
        return None

    nothing.__qualname__ = f"NullAuditor.{helper.__name__}"
    return nothing


_HELPERS: Final = tuple(
    name for name, value in vars(Auditor).items() if callable(value) and not name.startswith("_")
)
"""The methods of the Protocol: `event` and every helper."""

for _name in _HELPERS:
    setattr(NullAuditor, _name, _no_op(getattr(Auditor, _name)))
del _name
