"""A simulated trading session written to an embedded trail on a simulated clock.

Several symbols, a momentum strategy emitting signals, a risk manager that caps and rejects,
an order manager talking to a simulated venue with partial fills, cancels, rejects and rate
limits, operators logging in, a mid-day configuration change, alerts and an end-of-day NAV.
Deterministic for a seed apart from event ids and keys. The trail says it is simulated.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from .trail import Trail
from .trail import open as open_trail

NS = 1_000_000_000


class SimClock:
    """A clock the simulation moves; the writer reads it for each record's `ts`."""

    def __init__(self, start_ns: int) -> None:
        self.now = start_ns

    def __call__(self) -> int:
        return self.now

    def advance(self, ns: int) -> None:
        self.now += max(0, ns)


@dataclass
class Instrument:
    symbol: str
    price: Decimal
    tick: Decimal
    lot: Decimal
    vol: float


@dataclass
class DemoSummary:
    home: Path
    days: list[str]
    events: int
    counts: dict[str, int] = field(default_factory=dict)


INSTRUMENTS = [
    Instrument("BTC-USD", Decimal("64250.00"), Decimal("0.01"), Decimal("0.001"), 0.0009),
    Instrument("ETH-USD", Decimal("3120.50"), Decimal("0.01"), Decimal("0.01"), 0.0011),
    Instrument("SOL-USD", Decimal("142.35"), Decimal("0.001"), Decimal("0.1"), 0.0016),
    Instrument("AAPL", Decimal("227.18"), Decimal("0.01"), Decimal("1"), 0.0004),
]
STRATEGIES = ["momentum-1", "meanrev-2"]
ACCOUNTS = {"momentum-1": "ACC-PROP-01", "meanrev-2": "ACC-PROP-02"}


def _q(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).quantize(Decimal(1), rounding=ROUND_HALF_EVEN) * step


class Session:
    """One simulated desk. `emit` records through the trail with the simulated event time."""

    def __init__(self, trail: Trail, clock: SimClock, rng: random.Random) -> None:
        self.trail = trail
        self.clock = clock
        self.rng = rng
        self.instruments = [
            Instrument(i.symbol, i.price, i.tick, i.lot, i.vol) for i in INSTRUMENTS
        ]
        self.positions: dict[tuple[str, str], Decimal] = {}
        self.cash = {acc: Decimal("1000000.00") for acc in ACCOUNTS.values()}
        self.fees = {acc: Decimal("0") for acc in ACCOUNTS.values()}
        self.max_notional = Decimal("250000")
        self.order_seq = 0
        self.counts: dict[str, int] = {}
        self.events = 0

    def emit(self, event_type: str, data: dict[str, Any], **fields: Any) -> None:
        fields.setdefault("event_ts", self.clock.now)
        self.trail.record(event_type, data, **fields)
        self.counts[event_type] = self.counts.get(event_type, 0) + 1
        self.events += 1

    def tick(self, seconds: float) -> None:
        self.clock.advance(int(seconds * NS))

    def move_prices(self) -> None:
        for inst in self.instruments:
            change = Decimal(str(round(self.rng.gauss(0, inst.vol), 6)))
            inst.price = max(inst.tick, _q(inst.price * (1 + change), inst.tick))

    def start_of_day(self, day: datetime) -> None:
        self.emit(
            "system.service_started",
            {"version": "demo", "simulated": True, "trading_day": day.date().isoformat()},
            actor="system",
        )
        self.emit("system.clock_sync", {"offset_ms": "0.4", "source": "chrony/pool.ntp.org"})
        self.emit("auth.login", {"method": "sso", "ip": "10.0.4.21"}, actor="j.smith")
        self.tick(3)
        self.emit(
            "auth.login_failed",
            {"method": "password", "ip": "203.0.113.77", "reason": "bad password"},
            actor="admin",
            priority="high",
        )
        self.emit("auth.login", {"method": "sso", "ip": "10.0.4.33"}, actor="compliance.lee")

    def trade_step(self) -> None:
        self.move_prices()
        inst = self.rng.choice(self.instruments)
        strategy = self.rng.choice(STRATEGIES)
        account = ACCOUNTS[strategy]
        side = self.rng.choice(["buy", "sell"])
        self.order_seq += 1
        signal_id = f"SIG-{self.order_seq:07d}"
        strength = round(self.rng.uniform(0.2, 1.0), 3)
        common = {"strategy": strategy, "account": account, "symbol": inst.symbol}
        self.emit(
            "signal.received",
            {"side": side, "strength": str(strength), "price": inst.price, "model": strategy},
            signal_id=signal_id,
            **common,
        )
        notional_target = Decimal(str(round(self.rng.uniform(2000, 560000), 2)))
        qty = max(inst.lot, _q(notional_target / inst.price, inst.lot))
        notional = qty * inst.price
        self.emit(
            "risk.size_calculated",
            {"qty": qty, "notional": _q(notional, Decimal("0.01")), "method": "vol-target"},
            signal_id=signal_id,
            **common,
        )
        if notional > self.max_notional * 2:
            self.emit(
                "risk.rejected",
                {
                    "rule": "max_order_notional",
                    "limit": self.max_notional,
                    "observed": _q(notional, Decimal("0.01")),
                    "side": side,
                },
                signal_id=signal_id,
                priority="high",
                **common,
            )
            return
        if notional > self.max_notional:
            capped = max(inst.lot, _q(self.max_notional / inst.price, inst.lot))
            self.emit(
                "risk.size_capped",
                {"rule": "max_order_notional", "requested_qty": qty, "capped_qty": capped},
                signal_id=signal_id,
                **common,
            )
            qty = capped
        self.emit("risk.passed", {"checks": ["notional", "position", "kill_switch"]}, **common)
        self.send_order(inst, side, qty, signal_id, common)

    def send_order(
        self, inst: Instrument, side: str, qty: Decimal, signal_id: str, common: dict[str, str]
    ) -> None:
        order_id = f"O-{self.order_seq:07d}"
        client_id = f"C-{self.order_seq:07d}"
        offset = inst.tick * self.rng.randint(0, 5)
        limit = inst.price - offset if side == "buy" else inst.price + offset
        ids = {"order_id": order_id, "client_order_id": client_id, "signal_id": signal_id}
        order = {"side": side, "qty": qty, "limit_price": limit, "tif": "GTC", "type": "limit"}
        self.emit("order.submitted", order, venue="SIMX", **ids, **common)
        self.tick(self.rng.uniform(0.001, 0.02))
        roll = self.rng.random()
        if roll < 0.03:
            self.emit(
                "venue.rate_limited",
                {"limit": "10/s", "retry_after_ms": 250, "attempt": 1},
                venue="SIMX",
                **ids,
                **common,
            )
            self.tick(0.25)
            self.emit("order.retry", {"attempt": 2}, venue="SIMX", **ids, **common)
        elif roll < 0.05:
            self.emit(
                "venue.api_error",
                {"status": 503, "error": "service unavailable", "endpoint": "/v1/orders"},
                venue="SIMX",
                priority="high",
                **ids,
                **common,
            )
            self.emit("order.retry", {"attempt": 2}, venue="SIMX", **ids, **common)
        if self.rng.random() < 0.04:
            self.emit(
                "order.rejected",
                {"reason": "insufficient margin", "venue_code": "MARGIN_201"},
                venue="SIMX",
                **ids,
                **common,
            )
            return
        exchange_id = f"X{self.rng.getrandbits(40):010x}"
        ids["exchange_order_id"] = exchange_id
        self.emit("order.accepted", {"status": "new"}, venue="SIMX", **ids, **common)
        if self.rng.random() < 0.1:
            new_limit = limit + (inst.tick if side == "buy" else -inst.tick) * 3
            self.emit(
                "order.replaced",
                {"old_limit_price": limit, "limit_price": new_limit, "qty": qty},
                venue="SIMX",
                **ids,
                **common,
            )
            limit = new_limit
        remaining = qty
        fill_no = 0
        while remaining > 0:
            self.tick(self.rng.uniform(0.01, 2.0))
            if self.rng.random() < 0.08:
                self.emit(
                    "order.cancel_requested",
                    {"remaining_qty": remaining},
                    venue="SIMX",
                    **ids,
                    **common,
                )
                self.emit(
                    "order.cancelled",
                    {"filled_qty": qty - remaining, "remaining_qty": remaining},
                    venue="SIMX",
                    **ids,
                    **common,
                )
                return
            part = (
                remaining if self.rng.random() < 0.6 else max(inst.lot, _q(remaining / 2, inst.lot))
            )
            part = min(part, remaining)
            remaining -= part
            fill_no += 1
            fee = _q(part * limit * Decimal("0.0004"), Decimal("0.01"))
            key = (common["account"], inst.symbol)
            signed = part if side == "buy" else -part
            self.positions[key] = self.positions.get(key, Decimal(0)) + signed
            self.cash[common["account"]] -= signed * limit + fee
            self.fees[common["account"]] += fee
            self.emit(
                "order.filled" if remaining == 0 else "order.partially_filled",
                {
                    "side": side,
                    "fill_qty": part,
                    "fill_price": limit,
                    "cum_qty": qty - remaining,
                    "leaves_qty": remaining,
                    "fee": fee,
                    "fee_currency": "USD",
                    "execution_id": f"{exchange_id}-{fill_no}",
                    "liquidity": self.rng.choice(["maker", "taker"]),
                },
                venue="SIMX",
                **ids,
                **common,
            )

    def config_change(self) -> None:
        old = self.max_notional
        self.max_notional = Decimal("200000")
        self.emit(
            "config.changed",
            {
                "path": "risk.max_order_notional",
                "old": old,
                "new": self.max_notional,
                "ticket": "CHG-1042",
                "reason": "volatility up",
            },
            actor="j.smith",
            priority="high",
        )
        self.emit(
            "alert.sent",
            {"channel": "slack:#risk", "rule": "config_changed", "severity": "info"},
            actor="system",
        )

    def end_of_day(self, day: datetime) -> None:
        for (account, symbol), qty in sorted(self.positions.items()):
            price = next(i.price for i in self.instruments if i.symbol == symbol)
            self.emit(
                "portfolio.position_snapshot",
                {"qty": qty, "mark_price": price, "market_value": _q(qty * price, Decimal("0.01"))},
                account=account,
                symbol=symbol,
            )
        for account in sorted(self.cash):
            positions = sum(
                (
                    q * next(i.price for i in self.instruments if i.symbol == s)
                    for (a, s), q in self.positions.items()
                    if a == account
                ),
                Decimal(0),
            )
            cash = _q(self.cash[account], Decimal("0.01"))
            self.emit(
                "portfolio.nav_computed",
                {
                    "cash": cash,
                    "positions_at_mark": _q(positions, Decimal("0.01")),
                    "fees": self.fees[account],
                    "accruals": Decimal("0.00"),
                    "nav": _q(cash + positions, Decimal("0.01")),
                    "currency": "USD",
                    "as_of": day.date().isoformat(),
                },
                account=account,
            )
        self.emit("auth.logout", {}, actor="j.smith")
        self.emit("system.service_stopped", {"reason": "end of trading day"}, actor="system")


def run_demo(
    home: Path,
    *,
    events: int = 5000,
    days: int = 2,
    seed: int = 7,
    today: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> DemoSummary:
    """Simulate `days` trading days ending yesterday (UTC), about `events` records in all."""
    today = (today or datetime.now(UTC)).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=days)
    clock = SimClock(int((first + timedelta(hours=7, minutes=55)).timestamp()) * NS)
    rng = random.Random(seed)
    per_day = max(1, events // days)
    trail = open_trail(
        home,
        origin="demo.tradetrail.local/simulated-desk",
        clock=clock,
        service="tradetrail-demo",
        checkpoint_every=max(1000, events // 20),
        checkpoint_interval=3600,
    )
    session = Session(trail, clock, rng)
    day_names = []
    try:
        for d in range(days):
            day = first + timedelta(days=d)
            clock.now = max(clock.now, int((day + timedelta(hours=7, minutes=55)).timestamp()) * NS)
            day_names.append(day.date().isoformat())
            start_events = session.events
            session.start_of_day(day)
            session_end = int((day + timedelta(hours=21)).timestamp()) * NS
            target = start_events + max(10, per_day - 30)
            step_seconds = (13 * 3600) / max(1, (per_day // 6))
            changed = False
            while session.events < target and clock.now < session_end:
                session.trade_step()
                session.tick(rng.expovariate(1 / step_seconds))
                if not changed and session.events >= start_events + per_day // 2:
                    session.config_change()
                    changed = True
                if progress is not None and session.events % 1000 < 12:
                    progress(session.events)
            clock.now = max(clock.now, int((day + timedelta(hours=21, minutes=5)).timestamp()) * NS)
            session.end_of_day(day)
            trail.flush()
        clock.now = max(clock.now, int(today.timestamp()) * NS + 5 * NS)
        trail.record(
            "system.demo_finished",
            {"simulated": True, "days": day_names, "seed": seed},
            actor="tradetrail-demo",
        )
        session.events += 1
        trail.flush()
    finally:
        trail.close()
    if progress is not None:
        progress(session.events)
    return DemoSummary(home=home, days=day_names, events=session.events, counts=session.counts)
