"""A small trading bot audited through tradetrail's `Auditor` protocol.

    python examples/bot.py --home ./bot-trail      # then: tradetrail verify --home ./bot-trail

Strategy, RiskManager and OrderManager each take an `Auditor` by dependency injection: pass
`TrailAuditor(trail)` in production, leave the default `NullAuditor()` in a backtest, and give
a capture's auditor in a unit test (tests/docs/test_examples.py). The venue is a fake,
in-process one.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import tradetrail
from tradetrail.integrations.auditor import Auditor, NullAuditor, TrailAuditor

ACCOUNT = "ACC-DEMO-1"
VENUE = "FAKEX"
LOT = Decimal("0.001")
CENT = Decimal("0.01")
NO_AUDIT = NullAuditor()  # the default: free, for backtests (stateless, so one serves all)

# BTC rallies 1% a tick until its position limit refuses the third buy; ETH dips and recovers.
TAPE = [
    ("BTC-USD", Decimal("64000.00")),
    ("ETH-USD", Decimal("3100.00")),
    ("BTC-USD", Decimal("64640.00")),
    ("ETH-USD", Decimal("3069.00")),
    ("BTC-USD", Decimal("65286.40")),
    ("BTC-USD", Decimal("65939.26")),
    ("ETH-USD", Decimal("3099.69")),
    ("BTC-USD", Decimal("65609.56")),
    ("ETH-USD", Decimal("3099.69")),
]


@dataclass(frozen=True)
class Signal:
    signal_id: str
    symbol: str
    side: str
    strength: Decimal
    price: Decimal


class Strategy:
    """Momentum on each symbol's last two prices: buys a rise, sells a fall."""

    def __init__(self, name: str = "momentum", auditor: Auditor = NO_AUDIT) -> None:
        self.name = name
        self.auditor = auditor
        self._last: dict[str, Decimal] = {}
        self._seq = 0

    def on_price(self, symbol: str, price: Decimal) -> Signal | None:
        last, self._last[symbol] = self._last.get(symbol), price
        if last is None or price == last:
            return None
        self._seq += 1
        side = "buy" if price > last else "sell"
        strength = min(Decimal(1), abs(price - last) / last * 100).quantize(LOT)
        signal = Signal(f"SIG-{self._seq}", symbol, side, strength, price)
        self.auditor.signal_received(
            signal.signal_id, symbol, side=side, strength=strength, price=price
        )
        return signal


class RiskManager:
    """Sizes a signal to a notional budget; refuses what would take a position over its limit."""

    def __init__(self, budget: Decimal, max_position: Decimal, auditor: Auditor = NO_AUDIT) -> None:
        self.budget = budget
        self.max_position = max_position
        self.auditor = auditor
        self.positions: dict[str, Decimal] = {}

    def size(self, signal: Signal) -> Decimal | None:
        qty = (self.budget * signal.strength / signal.price).quantize(LOT, ROUND_DOWN)
        notional = (qty * signal.price).quantize(CENT)
        self.auditor.size_calculated(
            signal.symbol, qty, notional=notional, method="fixed-budget", signal_id=signal.signal_id
        )
        after = self.positions.get(signal.symbol, Decimal(0)) + (
            qty if signal.side == "buy" else -qty
        )
        observed = (abs(after) * signal.price).quantize(CENT)
        if observed > self.max_position:
            self.auditor.risk_rejected(
                "max_position_notional",
                self.max_position,
                observed,
                symbol=signal.symbol,
                signal_id=signal.signal_id,
            )
            return None
        self.auditor.risk_passed(
            signal.symbol, checks=["max_position_notional"], signal_id=signal.signal_id
        )
        return qty

    def on_fill(self, symbol: str, side: str, qty: Decimal) -> None:
        signed = qty if side == "buy" else -qty
        self.positions[symbol] = self.positions.get(symbol, Decimal(0)) + signed


class FakeVenue:
    """Accepts every order and fills it in two halves at its limit price, charging 5 bp."""

    def __init__(self) -> None:
        self._seq = 0

    def place(self, order_id: str) -> str:
        self._seq += 1
        return f"X-{self._seq:06d}"

    def executions(self, qty: Decimal, price: Decimal) -> list[tuple[Decimal, Decimal]]:
        half = (qty / 2).quantize(LOT, ROUND_DOWN)
        parts = [half, qty - half] if half > 0 else [qty]
        return [(part, (part * price * Decimal("0.0005")).quantize(CENT)) for part in parts]


class OrderManager:
    """Sends orders to the venue and reports each execution (to the audit and to `on_fill`)."""

    def __init__(
        self,
        venue: FakeVenue,
        auditor: Auditor = NO_AUDIT,
        on_fill: Callable[[str, str, Decimal], None] | None = None,
    ) -> None:
        self.venue = venue
        self.auditor = auditor
        self.on_fill = on_fill
        self._seq = 0

    def execute(self, signal: Signal, qty: Decimal) -> None:
        self._seq += 1
        order_id, symbol, side, price = f"O-{self._seq}", signal.symbol, signal.side, signal.price
        self.auditor.order_submitted(
            order_id,
            symbol,
            side,
            qty,
            price,
            order_type="limit",
            venue=VENUE,
            signal_id=signal.signal_id,
        )
        exchange_id = self.venue.place(order_id)
        self.auditor.order_accepted(
            order_id, exchange_order_id=exchange_id, symbol=symbol, venue=VENUE
        )
        ids = {"exchange_order_id": exchange_id, "symbol": symbol, "venue": VENUE}
        terms = {"side": side, "fee_currency": "USD", **ids}
        filled = Decimal(0)
        for part, fee in self.venue.executions(qty, price):
            filled += part
            report = (
                self.auditor.order_filled if filled == qty else self.auditor.order_partially_filled
            )
            report(order_id, part, price, fee, cum_qty=filled, remaining_qty=qty - filled, **terms)
            if self.on_fill is not None:
                self.on_fill(symbol, side, part)


@dataclass
class Summary:
    signals: int = 0
    orders: int = 0
    refused: int = 0


class Bot:
    """Wires the components to one auditor and binds strategy and account around each tick,
    so every event they record carries both."""

    def __init__(self, auditor: Auditor = NO_AUDIT) -> None:
        self.strategy = Strategy(auditor=auditor)
        self.risk = RiskManager(Decimal(20000), Decimal(50000), auditor=auditor)
        self.orders = OrderManager(FakeVenue(), auditor=auditor, on_fill=self.risk.on_fill)

    def run(self, tape: Iterable[tuple[str, Decimal]]) -> Summary:
        summary = Summary()
        for symbol, price in tape:
            with tradetrail.bind(strategy=self.strategy.name, account=ACCOUNT):
                signal = self.strategy.on_price(symbol, price)
                if signal is None:
                    continue
                summary.signals += 1
                qty = self.risk.size(signal)
                if qty is None:
                    summary.refused += 1
                    continue
                self.orders.execute(signal, qty)
                summary.orders += 1
        return summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a small audited bot on a fixed tape.")
    parser.add_argument("--home", type=Path, required=True, help="the trail directory")
    args = parser.parse_args(argv)
    with tradetrail.open(args.home, strict=True) as trail:
        before = trail.size
        summary = Bot(TrailAuditor(trail)).run(TAPE)
        trail.flush()
        recorded = trail.size - before
    print(
        f"{summary.signals} signals, {summary.orders} orders, {summary.refused} refused by risk: "
        f"{recorded} events recorded in {args.home}\n"
        f"check it with: tradetrail verify --home {args.home}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
