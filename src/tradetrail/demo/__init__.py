"""A simulated trading desk that records its day through the integrations a real bot uses.

The demo doubles as the reference integration. A strategy, a risk manager and an order manager
each take an `Auditor` by dependency injection (a `TrailAuditor` here; a `NullAuditor` in a
backtest, a capture in a unit test); each strategy's work runs inside
`tradetrail.bind(strategy=..., account=...)`, so every event it causes carries both without
passing them around; the venue gateway and the clock monitor report through stdlib `logging`,
whose records carry an audit payload that `AuditHandler` turns into events.

The trail is opened with `strict=True`: an event whose data does not match the event model, or
of a type it does not know, raises instead of being recorded with a `schema_error`. The demo's
own two types (`demo.session_started`, which says the trail is simulated, and the closing
`demo.session_finished`) are registered in a private copy of the model, not in the global one.

Deterministic for a seed apart from event ids and keys: all randomness comes from one
`random.Random(seed)` and all time from `SimClock`. Memory is bounded whatever `events` is: only
live orders, positions and counters are kept.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import math
import random
import sys
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any, Final

import orjson

from .._version import __version__
from ..errors import DemoHomeError
from ..integrations.auditor import Auditor, TrailAuditor
from ..integrations.logging_handler import AuditHandler
from ..model.context import bind
from ..model.events import BUILTIN_TYPES, EventData, EventModel
from ..store.journal import clear_trail, is_trail, lines_from_seq
from ..writer.trail import Receipt, Trail, writer_lock
from ..writer.trail import open as open_trail

__all__ = [
    "DEMO_MARKER",
    "DEMO_MODEL",
    "DemoHomeError",
    "DemoSummary",
    "SimClock",
    "prepare_demo_home",
    "run_demo",
]

NS: Final = 1_000_000_000
ZERO: Final = Decimal(0)
CENT: Final = Decimal("0.01")
AVG_PRICE_STEP: Final = Decimal("0.00000001")
VENUE: Final = "SIMX"
ENDPOINT: Final = "wss://ws.simx.example/v1"
OPEN_AT: Final = timedelta(hours=7, minutes=55)  # operators log in, services start
TRADING: Final = (timedelta(hours=8), timedelta(hours=21))  # UTC session
CLOSE_AT: Final = timedelta(hours=21, minutes=5)  # end-of-day books
HARD_CLOSE: Final = timedelta(hours=23)  # trading stops here whatever is left of the budget
EVENTS_PER_STEP: Final = 7  # about what one signal causes, until a day has measured it
STEP_SECONDS: Final = 4.0  # simulated time an order's latencies take at full tempo
EOD_EVENTS: Final = 12  # about what the end of a day records: kept out of the trading budget
FLUSH_EVERY: Final = 20_000  # bounds the writer's queue on very long runs
QUIET_SECONDS: Final = 60.0  # a pause this long lets the writer catch up before time moves on


class DemoSessionStarted(EventData, kw_only=True, frozen=True):
    """Says that the trail is simulated (nothing in it was traded) and how to reproduce it."""

    TYPE = "demo.session_started"
    VERSION = 1
    simulated: bool
    seed: int
    days: list[str]
    requested_events: int


class DemoSessionFinished(EventData, kw_only=True, frozen=True):
    """The closing record, written today after the simulated days were sealed."""

    TYPE = "demo.session_finished"
    VERSION = 1
    simulated: bool
    days: list[str]
    events: int


DEMO_MARKER: Final = ".tradetrail-demo"
"""Written by the demo into a directory it made: the only kind of directory it will ever clear."""


_OURS_AFTER: Final = ("compliance.", "config.snapshot")
"""Records tradetrail's own commands add to a demo trail (the demo's hints run export, attest,
snapshot): they do not make it anyone's real trail."""


def _written_since(home: Path, size: int) -> str | None:
    """The first record after the demo's last one that tradetrail's commands did not write
    (e.g. `seq 5130 order.accepted`), or None."""
    for _path, line in lines_from_seq(home, size):
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            return "an unreadable line"
        kind = record.get("type") if isinstance(record, dict) else None
        if not isinstance(kind, str) or not kind.startswith(_OURS_AFTER):
            return f"seq {record.get('seq')} {kind}" if isinstance(record, dict) else "a line"
    return None


def _mark(home: Path, size: int | None) -> None:
    """The marker: the demo made this directory and left `size` records (None: still making)."""
    note = "made by `tradetrail demo`: simulated records only; the demo may clear this directory"
    body = orjson.dumps({"note": note, "size": size}, option=orjson.OPT_INDENT_2) + b"\n"
    (home / DEMO_MARKER).write_bytes(body)


def _marked_size(home: Path) -> int | None:
    try:
        size = orjson.loads((home / DEMO_MARKER).read_bytes()).get("size")
    except (OSError, orjson.JSONDecodeError, AttributeError):
        return None
    return size if isinstance(size, int) and size >= 0 else None


def prepare_demo_home(home: Path, *, fresh: bool) -> None:
    """Make `home` ready for a simulation: a new directory marked as the demo's, or one the demo
    made before and nothing else wrote to since (cleared when `fresh`, under the writer lock so
    no writer holds it meanwhile). Refuses anything else: simulated records must never replace
    or join real ones, even in a directory that began as a demo."""
    if home.is_dir() and any(home.iterdir()):
        if not (home / DEMO_MARKER).is_file():
            what = "holds a trail" if is_trail(home) else "is not empty"
            raise DemoHomeError(
                f"{home} {what} that the demo did not make; refusing to touch it "
                "(pick another --home; the demo only clears directories it created)"
            )
        with writer_lock(home):  # TrailLockedError when a writer has it open
            left = _marked_size(home)
            foreign = _written_since(home, left) if left is not None else None
            if foreign is not None:
                raise DemoHomeError(
                    f"{home} was made by the demo, but {foreign} was written to it since by "
                    "something else; refusing to touch it (pick another --home)"
                )
            if not fresh:
                return
            clear_trail(home)
    else:
        home.mkdir(parents=True, exist_ok=True)
    _mark(home, None)


DEMO_MODEL: Final = EventModel((*BUILTIN_TYPES, DemoSessionStarted, DemoSessionFinished))
"""The built-in model plus the demo's two types: a private copy, so the global one stays as is."""


class SimClock:
    """A clock the simulation moves; the writer reads it for each record's `ts`."""

    def __init__(self, start_ns: int) -> None:
        self.now = start_ns

    def __call__(self) -> int:
        return self.now

    def advance(self, ns: int) -> None:
        self.now += max(0, ns)

    def seconds(self, seconds: float) -> None:
        self.advance(int(seconds * NS))

    def as_datetime(self) -> datetime:
        """The current simulated time as an aware datetime (for `as_of` and similar fields)."""
        return _datetime(self.now)


@dataclass
class DemoSummary:
    """What `tradetrail demo` reports: the simulated days and the events recorded, by type."""

    home: Path
    days: list[str]
    events: int
    counts: dict[str, int] = field(default_factory=dict)


def _ns(when: datetime) -> int:
    return int(when.timestamp()) * NS


def _datetime(ns: int) -> datetime:
    whole, rest = divmod(ns, NS)
    return datetime.fromtimestamp(whole, UTC) + timedelta(microseconds=rest // 1000)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT)


def _average(cost: Decimal, qty: Decimal) -> Decimal:
    """An average price: as is when the division is exact and short, else to 8 places."""
    average = cost / qty
    exponent = average.as_tuple().exponent
    if not isinstance(exponent, int) or exponent < -8:
        return average.quantize(AVG_PRICE_STEP)
    return average if exponent <= 0 else average.quantize(Decimal(1))


# ------------------------------------------------------------------------------ market


@dataclass(slots=True)
class Instrument:
    """A symbol and its simulated price. `level` is the random walk (the simulation's state, a
    float); `price` is it rounded to the tick, the only form that is ever recorded."""

    symbol: str
    price: Decimal
    tick: Decimal
    lot: Decimal
    vol: float  # daily volatility as a fraction of the price
    kind: str = "crypto"
    level: float = 0.0

    def __post_init__(self) -> None:
        self.level = self.level or float(self.price)

    def move(self, rng: random.Random, seconds: float) -> None:
        """Geometric Brownian motion scaled by elapsed time, so a run of a million events moves
        prices as much in a day as a run of a thousand."""
        if seconds <= 0:
            return
        sigma = self.vol * math.sqrt(seconds / 86_400)
        self.level *= math.exp(rng.gauss(0.0, sigma) - sigma * sigma / 2)
        self.price = max(self.tick, Decimal(self.level).quantize(self.tick))


INSTRUMENTS: Final = (
    ("BTC-USD", "64250.00", "0.01", "0.001", 0.030, "crypto"),
    ("ETH-USD", "3120.50", "0.01", "0.01", 0.040, "crypto"),
    ("SOL-USD", "142.350", "0.001", "0.1", 0.055, "crypto"),
    ("AAPL", "227.18", "0.01", "1", 0.015, "equity"),
)


REFERENCE: Final[dict[str, dict[str, Any]]] = {
    "crypto": {
        "currency": "USD",
        "asset_class": "crypto",
        "settlement_days": 0,
        "settlement_calendar": "every_day",
    },
    "equity": {
        "currency": "USD",
        "asset_class": "equity",
        "settlement_days": 1,  # US equities settle T+1 (SEC rule 15c6-1, from May 2024)
        "settlement_calendar": "weekdays",
    },
}
"""Reference data of each kind of instrument, as a venue's instrument list gives it."""
ISINS: Final = {"AAPL": "US0378331005"}
COUNTERPARTY: Final = {"crypto": VENUE, "equity": "SIMCLEAR"}
"""Who the other side of a fill is: the crypto venue trades as principal; equities clear
through a central counterparty."""


class Market:
    """The instruments, moved together to the clock's time before each decision."""

    def __init__(self, rng: random.Random, now_ns: int) -> None:
        self.rng = rng
        self.instruments = {
            symbol: Instrument(symbol, Decimal(px), Decimal(tick), Decimal(lot), vol, kind)
            for symbol, px, tick, lot, vol, kind in INSTRUMENTS
        }
        self._at = now_ns

    def __getitem__(self, symbol: str) -> Instrument:
        return self.instruments[symbol]

    def move_to(self, now_ns: int) -> None:
        seconds = (now_ns - self._at) / NS
        self._at = max(self._at, now_ns)
        for inst in self.instruments.values():
            inst.move(self.rng, seconds)

    def mark(self, symbol: str) -> Decimal:
        return self.instruments[symbol].price


# ------------------------------------------------------------------------------ the books


@dataclass(slots=True)
class Position:
    qty: Decimal = ZERO
    avg_price: Decimal = ZERO
    realized: Decimal = ZERO


class Portfolio:
    """The desk's own book per account (cash, positions at average cost, fees paid today and
    interest accrued), kept apart from the venue's so the two can be reconciled."""

    CREDIT_RATE: Final = Decimal("0.04")  # interest on cash, accrued daily
    DEBIT_RATE: Final = Decimal("0.06")  # financing of a negative cash balance

    def __init__(self, accounts: list[str], cash: Decimal) -> None:
        self.cash = dict.fromkeys(accounts, cash)
        self.fees = dict.fromkeys(accounts, ZERO)
        self.accrued = dict.fromkeys(accounts, ZERO)
        self.positions: dict[tuple[str, str], Position] = {}

    def position(self, account: str, symbol: str) -> Position:
        key = (account, symbol)
        pos = self.positions.get(key)
        if pos is None:
            pos = self.positions[key] = Position()
        return pos

    def fill(
        self, account: str, symbol: str, side: str, qty: Decimal, price: Decimal, fee: Decimal
    ) -> None:
        signed = qty if side == "buy" else -qty
        self.cash[account] -= signed * price + fee
        self.fees[account] += fee
        pos = self.position(account, symbol)
        if pos.qty == 0 or (pos.qty > 0) == (signed > 0):  # opening or adding
            total = pos.qty + signed
            cost = pos.avg_price * abs(pos.qty) + price * qty
            pos.avg_price = _average(cost, abs(total))
            pos.qty = total
            return
        direction = 1 if pos.qty > 0 else -1
        pos.realized += (price - pos.avg_price) * min(qty, abs(pos.qty)) * direction
        pos.qty += signed
        if pos.qty == 0:
            pos.avg_price = ZERO
        elif (pos.qty > 0) != (direction > 0):  # flipped: the rest opened at this price
            pos.avg_price = price

    def charge(self, account: str, amount: Decimal) -> None:
        self.cash[account] -= amount
        self.fees[account] += amount

    def accrue_interest(self, account: str) -> Decimal:
        cash = self.cash[account]
        rate = self.CREDIT_RATE if cash >= 0 else self.DEBIT_RATE
        interest = _cents(cash * rate / 365)
        self.accrued[account] += interest
        return interest

    def entries(self, account: str, market: Market) -> list[dict[str, Any]]:
        """The open positions of an account as `PositionEntry` data, marked to market."""
        out = []
        for (acc, symbol), pos in sorted(self.positions.items()):
            if acc != account or pos.qty == 0:
                continue
            mark = market.mark(symbol)
            out.append(
                {
                    "symbol": symbol,
                    "qty": pos.qty,
                    "avg_price": pos.avg_price,
                    "mark_price": mark,
                    "market_value": _cents(pos.qty * mark),
                    "unrealized_pnl": _cents((mark - pos.avg_price) * pos.qty),
                    "realized_pnl": _cents(pos.realized),
                    "currency": "USD",
                }
            )
        return out

    def equity(self, account: str, market: Market) -> Decimal:
        value = self.cash[account]
        for (acc, symbol), pos in self.positions.items():
            if acc == account and pos.qty:
                value += pos.qty * market.mark(symbol)
        return value


# ------------------------------------------------------------------------------ configuration


class DeskConfig:
    """The effective configuration and its content hash. Risk limits are read from here, and
    every change is audited with who made it and the hashes before and after."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = dict(values)
        self.version = 1

    @property
    def hash(self) -> str:
        return (
            "sha256:"
            + hashlib.sha256(orjson.dumps(self.values, option=orjson.OPT_SORT_KEYS)).hexdigest()
        )

    def decimal(self, path: str) -> Decimal:
        return Decimal(self.values[path])

    def snapshot(self, auditor: Auditor) -> None:
        auditor.event(
            "config.snapshot",
            {
                "hash": self.hash,
                "path": "desk.toml",
                "version": str(self.version),
                "content": self.values,
            },
            actor="system",
        )

    def change(self, path: str, value: str, auditor: Auditor, **why: Any) -> None:
        old_hash, old_value = self.hash, self.values[path]
        self.values[path] = value
        self.version += 1
        auditor.config_changed(
            "desk.toml",
            old_hash,
            self.hash,
            keys=[path],
            old_value=old_value,
            new_value=value,
            priority="high",
            **why,
        )


DEFAULT_CONFIG: Final[dict[str, Any]] = {
    "risk.max_order_notional": "250000",
    "risk.max_position_notional": "500000",
    "risk.risk_fraction": "0.0025",
    "risk.signal_threshold": "0.25",
    "venue.name": VENUE,
    "venue.endpoint": ENDPOINT,
    "strategies": {
        "momentum-1": {"account": "ACC-PROP-01", "symbols": ["BTC-USD", "ETH-USD", "SOL-USD"]},
        "meanrev-2": {"account": "ACC-PROP-02", "symbols": ["ETH-USD", "SOL-USD", "AAPL"]},
    },
}


# ------------------------------------------------------------------------------ the venue


@dataclass
class Throttled(Exception):
    retry_after: float
    limit: str


@dataclass
class ApiFailure(Exception):
    status: int
    code: str
    message: str


@dataclass
class Refused(Exception):
    reason: str
    code: str


@dataclass(slots=True)
class Order:
    order_id: str
    client_order_id: str
    strategy: str
    account: str
    symbol: str
    side: str
    qty: Decimal
    price: Decimal | None
    order_type: str
    time_in_force: str
    expire_at: int | None = None  # ns, for GTD
    exchange_order_id: str = ""
    filled: Decimal = ZERO
    cost: Decimal = ZERO
    fills: int = 0
    replaced: bool = False

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.filled


@dataclass(slots=True)
class Fill:
    qty: Decimal
    price: Decimal
    fee: Decimal
    liquidity: str
    trade_id: str


class SimVenue:
    """An in-process exchange with the failure modes of a real one: it throttles, fails with
    5xx, refuses orders, fills in parts and drops the connection a couple of times a day. It
    keeps its own ledger of the accounts, the other side of a reconciliation."""

    FEES: Final = {"maker": Decimal("0.0002"), "taker": Decimal("0.0005")}
    FUNDING_RATE: Final = Decimal("0.0001")  # daily, on crypto positions
    REFUSALS: Final = (
        ("insufficient margin", "MARGIN_201"),
        ("price outside band", "PRICE_BAND_105"),
        ("post-only order would cross", "POST_ONLY_310"),
    )
    FAILURES: Final = (
        (503, "SERVICE_UNAVAILABLE", "service unavailable"),
        (504, "GATEWAY_TIMEOUT", "gateway timeout"),
        (500, "INTERNAL", "internal error"),
    )

    def __init__(self, market: Market, rng: random.Random, accounts: list[str]) -> None:
        self.market = market
        self.rng = rng
        self.cash = dict.fromkeys(accounts, Decimal("1000000.00"))
        self.holdings: dict[tuple[str, str], Decimal] = {}
        self.outages: deque[int] = deque()

    def schedule_outages(self, start_ns: int, end_ns: int) -> None:
        times = sorted(self.rng.randrange(start_ns, end_ns) for _ in range(self.rng.randint(1, 2)))
        self.outages.extend(times)

    def submit(self, order: Order) -> str:
        roll = self.rng.random()
        if roll < 0.035:
            raise Throttled(self.rng.choice((0.25, 0.5, 1.0)), "50 orders/10s")
        if roll < 0.065:
            raise ApiFailure(*self.rng.choice(self.FAILURES))
        if roll < 0.095:
            raise Refused(*self.rng.choice(self.REFUSALS))
        return f"X{self.rng.getrandbits(48):012x}"

    def fill(self, order: Order, rested: bool) -> Fill | None:
        """The next execution of a live order, or None when nothing traded this time."""
        inst = self.market[order.symbol]
        if order.price is None:  # market order: crosses the spread, with a little slippage
            slip = inst.tick * self.rng.randint(0, 3)
            price = inst.price + slip if order.side == "buy" else max(inst.tick, inst.price - slip)
            liquidity = "taker"
        else:
            if self.rng.random() < 0.22:
                return None
            price = order.price
            liquidity = "maker" if rested or order.time_in_force == "GTD" else "taker"
        qty = order.remaining
        if self.rng.random() < 0.4:
            part = (qty * self.rng.randint(2, 8) / 10).quantize(inst.lot, ROUND_DOWN)
            qty = part if inst.lot <= part < qty else qty
        return self._execute(order, qty, price, liquidity)

    def cancel(self, order: Order) -> Fill | None:
        """Cancels; now and then part of the order trades before the cancel lands."""
        if order.price is None or self.rng.random() >= 0.1:
            return None
        inst = self.market[order.symbol]
        qty = (order.remaining / 2).quantize(inst.lot, ROUND_DOWN)
        if qty < inst.lot:
            return None
        return self._execute(order, qty, order.price, "maker")

    def _execute(self, order: Order, qty: Decimal, price: Decimal, liquidity: str) -> Fill:
        fee = _cents(qty * price * self.FEES[liquidity])
        signed = qty if order.side == "buy" else -qty
        key = (order.account, order.symbol)
        self.holdings[key] = self.holdings.get(key, ZERO) + signed
        self.cash[order.account] -= signed * price + fee
        trade_id = f"{order.exchange_order_id}-{order.fills + 1}"
        return Fill(qty, price, fee, liquidity, trade_id)

    def charge_funding(self, account: str) -> Decimal:
        gross = sum(
            (
                abs(qty) * self.market.mark(symbol)
                for (acc, symbol), qty in self.holdings.items()
                if acc == account and self.market[symbol].kind == "crypto"
            ),
            ZERO,
        )
        amount = _cents(gross * self.FUNDING_RATE)
        self.cash[account] -= amount
        return amount

    def positions(self, account: str) -> list[dict[str, Any]]:
        out = []
        for (acc, symbol), qty in sorted(self.holdings.items()):
            if acc == account and qty:
                mark = self.market.mark(symbol)
                out.append(
                    {
                        "symbol": symbol,
                        "qty": qty,
                        "mark_price": mark,
                        "market_value": _cents(qty * mark),
                    }
                )
        return out


# ------------------------------------------------------------------------------ components


@dataclass(slots=True)
class Signal:
    signal_id: str
    strategy: str
    account: str
    symbol: str
    side: str
    strength: Decimal
    price: Decimal
    atr: Decimal  # the strategy's estimate of the price range, a fraction of the price


class Strategy:
    """A signal model on a few symbols: follows (or fades) the trend of each symbol against its
    moving average and leans towards reducing a position that has grown large. Its events are
    recorded inside `bind(strategy=..., account=...)` by the desk."""

    def __init__(
        self,
        name: str,
        account: str,
        symbols: list[str],
        *,
        follow_trend: bool,
        market: Market,
        portfolio: Portfolio,
        config: DeskConfig,
        rng: random.Random,
        auditor: Auditor,
    ) -> None:
        self.name = name
        self.account = account
        self.symbols = symbols
        self.follow_trend = follow_trend
        self.market = market
        self.portfolio = portfolio
        self.config = config
        self.rng = rng
        self.auditor = auditor
        self.context = bind(strategy=name, account=account)
        self._code = name.upper().replace("-", "")
        self._seq = 0
        self._average: dict[str, float] = {}

    def on_bar(self) -> Signal | None:
        """One decision: a signal worth trading, or None (the ignored signal is audited too)."""
        symbol = self.rng.choice(self.symbols)
        inst = self.market[symbol]
        average = self._average.get(symbol, inst.level)
        average += 0.2 * (inst.level - average)
        self._average[symbol] = average
        side = "buy" if (inst.level >= average) == self.follow_trend else "sell"
        action = "open"
        position = self.portfolio.position(self.account, symbol).qty
        exposure = abs(position * inst.price) / self.config.decimal("risk.max_position_notional")
        if exposure > Decimal("0.6") and self.rng.random() < float(exposure) - 0.4:
            side, action = ("sell" if position > 0 else "buy"), "reduce"
        strength = Decimal(self.rng.randint(50, 1000)) / 1000
        self._seq += 1
        signal = Signal(
            signal_id=f"{self._code}-{self._seq:07d}",
            strategy=self.name,
            account=self.account,
            symbol=symbol,
            side=side,
            strength=strength,
            price=inst.price,
            atr=Decimal(repr(inst.vol)) * self.rng.randint(25, 75) / 100,
        )
        self.auditor.signal_received(
            signal.signal_id,
            symbol,
            side=side,
            strength=strength,
            price=inst.price,
            action=action,
            timeframe="1m",
        )
        threshold = self.config.decimal("risk.signal_threshold")
        if strength < threshold and action == "open":
            self.auditor.event(
                "signal.processed",
                {"outcome": "ignored", "reason": f"strength below {threshold}"},
                signal_id=signal.signal_id,
                symbol=symbol,
            )
            return None
        self.auditor.event(
            "signal.processed",
            {"outcome": "accepted", "latency_us": self.rng.randint(40, 400)},
            signal_id=signal.signal_id,
            symbol=symbol,
        )
        return signal


@dataclass(slots=True)
class OrderRequest:
    signal: Signal
    qty: Decimal


class RiskManager:
    """Pre-trade controls: sizes a signal by volatility target, caps it at the order notional
    limit and refuses what would breach the position limit. Each decision is audited with the
    rule, the limit and the value observed: evidence that the control acted (SEC 15c3-5)."""

    CHECKS: Final = ["max_order_notional", "max_position_notional", "kill_switch"]

    def __init__(
        self, config: DeskConfig, portfolio: Portfolio, market: Market, auditor: Auditor
    ) -> None:
        self.config = config
        self.portfolio = portfolio
        self.market = market
        self.auditor = auditor

    def check(self, signal: Signal) -> OrderRequest | None:
        inst = self.market[signal.symbol]
        price = signal.price
        equity = _cents(self.portfolio.equity(signal.account, self.market))
        fraction = self.config.decimal("risk.risk_fraction")
        stop = max(inst.tick, (price * signal.atr).quantize(inst.tick))
        qty = max(
            inst.lot, (equity * fraction * signal.strength / stop).quantize(inst.lot, ROUND_DOWN)
        )
        notional = _cents(qty * price)
        self.auditor.size_calculated(
            signal.symbol,
            qty,
            notional=notional,
            method="vol-target",
            signal_id=signal.signal_id,
            equity=equity,
            risk_fraction=fraction,
            stop_distance=stop,
            price=price,
        )
        max_order = self.config.decimal("risk.max_order_notional")
        if notional > max_order:
            capped = max(inst.lot, (max_order / price).quantize(inst.lot, ROUND_DOWN))
            self.auditor.size_capped(
                signal.symbol,
                qty,
                capped,
                rule="max_order_notional",
                limit=max_order,
                signal_id=signal.signal_id,
            )
            qty, notional = capped, _cents(capped * price)
        position = self.portfolio.position(signal.account, signal.symbol).qty
        after = position + (qty if signal.side == "buy" else -qty)
        exposure = _cents(abs(after) * price)
        max_position = self.config.decimal("risk.max_position_notional")
        if exposure > max_position and abs(after) > abs(position):
            self.auditor.risk_rejected(
                "max_position_notional",
                max_position,
                exposure,
                reason="order would take the position over its limit",
                symbol=signal.symbol,
                signal_id=signal.signal_id,
                unit="USD",
            )
            return None
        self.auditor.risk_passed(
            signal.symbol,
            checks=self.CHECKS,
            signal_id=signal.signal_id,
            notional=notional,
            exposure_after=exposure,
        )
        return OrderRequest(signal, qty)


class OrderManager:
    """Execution: sends orders with bounded retries on throttling and 5xx, chases an unfilled
    limit order once with a replace, cancels what still rests, lets GTD orders expire, and
    reconciles with the venue. Only live orders are kept, so memory is bounded by the time in
    force, not by the length of the run. The gateway's connectivity is logged through `logging`
    (the log records carry audit payloads) as a venue adapter usually does."""

    MAX_ATTEMPTS: Final = 3
    log = logging.getLogger("simdesk.venue")

    def __init__(
        self,
        venue: SimVenue,
        portfolio: Portfolio,
        clock: SimClock,
        rng: random.Random,
        auditor: Auditor,
    ) -> None:
        self.venue = venue
        self.portfolio = portfolio
        self.clock = clock
        self.rng = rng
        self.auditor = auditor
        self.resting: list[tuple[int, int, Order]] = []  # GTD orders by expiry (a heap)
        self.tempo = 1.0  # < 1 compresses latencies when the desk must fit many orders in a day
        self._seq = 0

    # orders ------------------------------------------------------------------

    def execute(self, request: OrderRequest) -> None:
        signal = request.signal
        inst = self.venue.market[signal.symbol]
        self._seq += 1
        side = signal.side
        held = self.portfolio.position(signal.account, signal.symbol).qty
        if side == "sell" and inst.kind == "equity" and held < request.qty:
            side = "sell_short"  # Reg SHO marks a sale that opens or adds to a short
        roll = self.rng.random()
        price: Decimal | None
        if roll < 0.08:
            order_type, tif, price, expire_at = "market", "IOC", None, None
        else:
            offset = inst.tick * self.rng.randint(0, 4)
            price = inst.price - offset if side == "buy" else inst.price + offset
            order_type, tif, expire_at = "limit", "GTC", None
            if roll < 0.15:
                tif, expire_at = "GTD", self.clock.now + self.rng.randint(60, 900) * NS
        order = Order(
            order_id=f"O-{self._seq:08d}",
            client_order_id=f"C-{self._seq:08d}",
            strategy=signal.strategy,
            account=signal.account,
            symbol=signal.symbol,
            side=side,
            qty=request.qty,
            price=price,
            order_type=order_type,
            time_in_force=tif,
            expire_at=expire_at,
        )
        self.auditor.order_submitted(
            order.order_id,
            order.symbol,
            side,
            order.qty,
            price,
            order_type=order_type,
            time_in_force=tif,
            client_order_id=order.client_order_id,
            venue=VENUE,
            signal_id=signal.signal_id,
            expire_at=None if expire_at is None else _datetime(expire_at),
            post_only=True if tif == "GTD" else None,
            currency="USD",
            arrival_price=inst.price,
        )
        if self._submit(order):
            self._work(order)

    def _submit(self, order: Order) -> bool:
        """Places the order, retrying what the venue says is transient; False when refused."""
        error = ""
        for attempt in range(1, self.MAX_ATTEMPTS + 1):
            ids = {"order_id": order.order_id, "symbol": order.symbol}
            try:
                order.exchange_order_id = self.venue.submit(order)
            except Throttled as exc:
                self.auditor.rate_limited(
                    VENUE,
                    operation="place_order",
                    retry_after=exc.retry_after,
                    limit=exc.limit,
                    scope="account",
                    **ids,
                )
                error, delay = "rate limited", exc.retry_after
            except ApiFailure as exc:
                self.auditor.api_error(
                    VENUE,
                    "place_order",
                    exc.message,
                    status=exc.status,
                    code=exc.code,
                    retryable=True,
                    endpoint="/v1/orders",
                    method="POST",
                    priority="high",
                    **ids,
                )
                error, delay = exc.message, 0.2 * 2 ** (attempt - 1)
            except Refused as exc:
                self.auditor.order_rejected(
                    order.order_id,
                    exc.reason,
                    code=exc.code,
                    symbol=order.symbol,
                    venue=VENUE,
                    rejected_by="venue",
                )
                return False
            else:
                self._latency(0.002, 0.03)
                self.auditor.order_accepted(
                    order.order_id,
                    exchange_order_id=order.exchange_order_id,
                    symbol=order.symbol,
                    venue=VENUE,
                    status="new",
                    latency_us=self.rng.randint(800, 30_000),
                )
                return True
            if attempt == self.MAX_ATTEMPTS:
                break
            self.auditor.retry(
                VENUE,
                "place_order",
                attempt + 1,
                delay=delay,
                max_attempts=self.MAX_ATTEMPTS,
                error=error,
                **ids,
            )
            self.clock.seconds(delay)
        self.auditor.order_rejected(
            order.order_id,
            f"gave up after {self.MAX_ATTEMPTS} attempts: {error}",
            symbol=order.symbol,
            venue=VENUE,
            rejected_by="oms",
        )
        return False

    def _work(self, order: Order) -> None:
        """Follows an accepted order to a final state (or, for GTD, onto the resting book)."""
        if order.time_in_force == "GTD":
            if self.rng.random() < 0.3:
                self._fill_once(order, rested=False)
            if order.remaining > 0 and order.expire_at is not None:
                heapq.heappush(self.resting, (order.expire_at, self._seq, order))
            return
        if order.price is None:  # IOC: what does not trade at once is cancelled by the venue
            self._fill_once(order, rested=False)
            if order.remaining > 0:
                self.auditor.order_cancelled(
                    order.order_id,
                    reason="IOC remainder",
                    remaining_qty=order.remaining,
                    filled_qty=order.filled,
                    cancelled_by="venue",
                    **self._ids(order),
                )
            return
        for attempt in range(4):
            self._latency(0.02, 1.5)
            if self._fill_once(order, rested=attempt > 0):
                if order.remaining == 0:
                    return
            elif not order.replaced:
                self._chase(order)
            else:
                break
        self._cancel(order, "unfilled after chase")

    def _fill_once(self, order: Order, *, rested: bool) -> bool:
        fill = self.venue.fill(order, rested)
        if fill is None:
            return False
        self._on_fill(order, fill)
        return True

    def _on_fill(self, order: Order, fill: Fill) -> None:
        order.filled += fill.qty
        order.cost += fill.qty * fill.price
        order.fills += 1
        self.portfolio.fill(order.account, order.symbol, order.side, fill.qty, fill.price, fill.fee)
        report = (
            self.auditor.order_filled
            if order.remaining == 0
            else self.auditor.order_partially_filled
        )
        report(
            order.order_id,
            fill.qty,
            fill.price,
            fill.fee,
            fee_currency="USD",
            trade_id=fill.trade_id,
            cum_qty=order.filled,
            remaining_qty=order.remaining,
            side=order.side,
            liquidity=fill.liquidity,
            avg_price=_average(order.cost, order.filled),
            counterparty=COUNTERPARTY[self.venue.market[order.symbol].kind],
            **self._ids(order),
        )

    def _chase(self, order: Order) -> None:
        assert order.price is not None
        tick = self.venue.market[order.symbol].tick
        step = tick * self.rng.randint(1, 3)
        new_price = order.price + step if order.side == "buy" else order.price - step
        self.auditor.order_replaced(
            order.order_id,
            old_price=order.price,
            new_price=max(tick, new_price),
            old_qty=order.qty,
            new_qty=order.qty,
            reason="chase: unfilled at the first price",
            **self._ids(order),
        )
        order.price = max(tick, new_price)
        order.replaced = True

    def _cancel(self, order: Order, reason: str) -> None:
        self.auditor.cancel_requested(order.order_id, reason=reason, **self._ids(order))
        self._latency(0.005, 0.05)
        raced = self.venue.cancel(order)
        if raced is not None:
            self._on_fill(order, raced)
        if order.remaining > 0:
            self.auditor.order_cancelled(
                order.order_id,
                reason=reason,
                remaining_qty=order.remaining,
                filled_qty=order.filled,
                cancelled_by="oms",
                **self._ids(order),
            )

    def expire_due(self, now: int) -> None:
        """GTD orders whose time is up; recorded at the venue's expiry time, in the context of
        the strategy that placed them (the expiry happens outside its `bind` block)."""
        while self.resting and self.resting[0][0] <= now:
            expire_at, _, order = heapq.heappop(self.resting)
            with bind(strategy=order.strategy, account=order.account):
                self.auditor.event(
                    "order.expired",
                    {
                        "time_in_force": "GTD",
                        "remaining_qty": order.remaining,
                        "filled_qty": order.filled,
                        "reason": "end of time in force",
                    },
                    order_id=order.order_id,
                    event_ts=expire_at,
                    **self._ids(order),
                )

    def cancel_all(self, reason: str) -> None:
        while self.resting:
            _, _, order = heapq.heappop(self.resting)
            with bind(strategy=order.strategy, account=order.account):
                self._cancel(order, reason)

    # the link and the accounts ----------------------------------------------

    def outage(self) -> None:
        """The link drops, comes back and the desk resynchronises with the venue."""
        lost_at = self.clock.now
        self.log.warning(
            "%s order-entry connection lost: heartbeat timeout",
            VENUE,
            extra={
                "audit": {
                    "type": "venue.connectivity_lost",
                    "data": {
                        "channel": "order-entry",
                        "endpoint": ENDPOINT,
                        "reason": "heartbeat timeout",
                        "last_message_at": _datetime(lost_at - 5 * NS),
                    },
                    "venue": VENUE,
                    "priority": "high",
                }
            },
        )
        self.auditor.alert_sent(
            "pagerduty:trading-ops",
            "venue_disconnected",
            "error",
            message=f"{VENUE} order entry down",
            venue=VENUE,
        )
        self.clock.seconds(self.rng.uniform(1.5, 40.0))
        downtime_ms = (self.clock.now - lost_at) // 1_000_000
        self.log.info(
            "%s order-entry connection restored after %d ms",
            VENUE,
            downtime_ms,
            extra={
                "audit": {
                    "type": "venue.connectivity_restored",
                    "data": {
                        "channel": "order-entry",
                        "endpoint": ENDPOINT,
                        "downtime_ms": downtime_ms,
                        "resynced": True,
                    },
                    "venue": VENUE,
                }
            },
        )
        self.reconcile()

    def reconcile(self) -> None:
        """Asks the venue for positions and balances: the other side of the desk's book."""
        as_of = self.clock.as_datetime()
        for account in sorted(self.venue.cash):
            with bind(account=account):
                self.auditor.event(
                    "venue.position_queried",
                    {"positions": self.venue.positions(account), "as_of": as_of},
                    venue=VENUE,
                )
                locked = sum(
                    (
                        o.remaining * (o.price or ZERO)
                        for _, _, o in self.resting
                        if o.account == account and o.side == "buy"
                    ),
                    ZERO,
                )
                total = _cents(self.venue.cash[account])
                balance = {
                    "asset": "USD",
                    "total": total,
                    "available": total - _cents(locked),
                    "locked": _cents(locked),
                }
                self.auditor.event(
                    "venue.balance_queried", {"balances": [balance], "as_of": as_of}, venue=VENUE
                )

    def _latency(self, low: float, high: float) -> None:
        self.clock.seconds(self.rng.uniform(low, high) * self.tempo)

    def _ids(self, order: Order) -> dict[str, str]:
        return {
            "exchange_order_id": order.exchange_order_id,
            "symbol": order.symbol,
            "venue": VENUE,
        }


class ClockMonitor:
    """Checks the host clock against the reference and logs the result. The log record's audit
    payload makes it a `system.clock_sync` event: evidence of clock accuracy (MiFID II RTS 25)."""

    TOLERANCE_US: Final = Decimal(100)
    log = logging.getLogger("simdesk.clock")

    def __init__(self, rng: random.Random, auditor: Auditor) -> None:
        self.rng = rng
        self.auditor = auditor

    def check(self) -> None:
        offset = Decimal(round(self.rng.gauss(0.0, 35.0) * 10)) / 10
        within = abs(offset) <= self.TOLERANCE_US
        self.log.log(
            logging.INFO if within else logging.WARNING,
            "clock offset %s us from the PTP grandmaster",
            offset,
            extra={
                "audit_type": "system.clock_sync",
                "audit_data": {
                    "offset_us": offset,
                    "source": "ptp:grandmaster-1",
                    "max_divergence_us": self.TOLERANCE_US,
                    "within_tolerance": within,
                    "stratum": 1,
                },
                "actor": "clock-monitor",
            },
        )
        if not within:
            self.auditor.alert_sent(
                "slack:#trading-ops",
                "clock_divergence",
                "warning",
                message="clock offset over tolerance",
                value=offset,
                threshold=self.TOLERANCE_US,
            )


# ------------------------------------------------------------------------------ the desk


class _DeskRecorder:
    """The trail as the desk records on it: stamps each event with the simulated time it
    happened (`event_ts`; the writer's `ts` is when it was journaled, a little later) and counts
    events by type for the summary. A `Recorder`, so TrailAuditor and AuditHandler take it."""

    def __init__(self, trail: Trail, clock: SimClock) -> None:
        self.trail = trail
        self.clock = clock
        self.counts: dict[str, int] = {}
        self.events = 0

    def record(self, event_type: str, data: Any = None, **fields: Any) -> Receipt:
        if "event_ts" not in fields:
            fields["event_ts"] = self.clock.now
        receipt = self.trail.record(event_type, data, **fields)
        self.counts[event_type] = self.counts.get(event_type, 0) + 1
        self.events += 1
        return receipt


class _StrictAuditHandler(AuditHandler):
    """Re-raises an event that fails validation into the logging call. In production a logging
    handler must not raise, so AuditHandler only reports the error on stderr; in the demo a
    mismatch is a bug that must stop the run."""

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]  # what emit() caught
        if error is None:
            super().handleError(record)
            return
        raise error


class _SimulatedTime(logging.Filter):
    """Dates log records by the simulated clock: AuditHandler uses `created` as `event_ts`."""

    def __init__(self, clock: SimClock) -> None:
        super().__init__()
        self.clock = clock

    def filter(self, record: logging.LogRecord) -> bool:
        record.created = (self.clock.now // 1000) / 1e6  # whole µs, as AuditHandler reads it
        return True


@contextmanager
def _audit_logging(recorder: _DeskRecorder, clock: SimClock) -> Iterator[None]:
    """Routes the desk's `simdesk.*` loggers to the trail for the run, then restores them."""
    logger = logging.getLogger("simdesk")
    handler = _StrictAuditHandler(recorder)
    handler.addFilter(_SimulatedTime(clock))
    saved = logger.propagate, logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # the audit is the destination; keep the CLI's terminal clean
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate, logger.level = saved


class Desk:
    """One simulated desk: operators, two strategies, risk, execution and monitoring, all wired
    to one auditor, and the day's routine around them."""

    def __init__(
        self,
        recorder: _DeskRecorder,
        clock: SimClock,
        rng: random.Random,
        progress: Callable[[int], None] | None,
    ) -> None:
        self.recorder = recorder
        self.clock = clock
        self.rng = rng
        self.progress = progress
        self.auditor: Auditor = TrailAuditor(recorder)
        self.config = DeskConfig(DEFAULT_CONFIG)
        strategies: dict[str, Any] = DEFAULT_CONFIG["strategies"]
        accounts = sorted(spec["account"] for spec in strategies.values())
        self.market = Market(rng, clock.now)
        self.portfolio = Portfolio(accounts, Decimal("1000000.00"))
        self.venue = SimVenue(self.market, rng, accounts)
        self.risk = RiskManager(self.config, self.portfolio, self.market, self.auditor)
        self.oms = OrderManager(self.venue, self.portfolio, clock, rng, self.auditor)
        self.monitor = ClockMonitor(rng, self.auditor)
        self.strategies = [
            Strategy(
                name,
                spec["account"],
                spec["symbols"],
                follow_trend=name.startswith("momentum"),
                market=self.market,
                portfolio=self.portfolio,
                config=self.config,
                rng=rng,
                auditor=self.auditor,
            )
            for name, spec in strategies.items()
        ]
        self._next_progress = 0
        self._settled = 0

    # the day -------------------------------------------------------------------

    def run_day(self, day: datetime, index: int, until: int) -> None:
        """One trading day, recording about `until` events in all by its end."""
        self.clock.now = max(self.clock.now, _ns(day + OPEN_AT))
        self.start_of_day(first=index == 0)
        self.settle()
        start, end = (_ns(day + t) for t in TRADING)
        self.clock.now = max(self.clock.now, start)
        self.market.move_to(self.clock.now)
        self.venue.schedule_outages(start + 3600 * NS, end - 4 * 3600 * NS)
        next_sync = next_recon = self.clock.now
        midday = _ns(day + timedelta(hours=13))
        changed = False
        budget = until - EOD_EVENTS
        first_event, steps, hard_close = self.recorder.events, 0, _ns(day + HARD_CLOSE)
        # Orders are simulated one after another: at high event rates their latencies are
        # compressed, or they alone would outlast the session.
        expected = max(1.0, (budget - first_event) / EVENTS_PER_STEP)
        self.oms.tempo = min(1.0, (end - self.clock.now) / NS / expected / STEP_SECONDS)
        while True:
            per_step = (self.recorder.events - first_event) / steps if steps >= 20 else 0
            steps_left = (budget - self.recorder.events) / (per_step or EVENTS_PER_STEP)
            self.trade(end, steps_left)
            steps += 1
            now = self.clock.now
            self.oms.expire_due(now)
            while self.venue.outages and self.venue.outages[0] <= now:
                self.venue.outages.popleft()
                self.oms.outage()
            if now >= next_sync:
                self.monitor.check()
                next_sync = now + 3600 * NS
            if now >= next_recon:
                self.oms.reconcile()
                next_recon = now + 2 * 3600 * NS
            if not changed and now >= midday:
                self.change_limits(tighten=index % 2 == 0)
                changed = True
            self._report_progress()
            if self.recorder.events >= budget or now >= hard_close:
                break
        self.venue.outages.clear()
        self.settle()
        self.clock.now = max(self.clock.now, _ns(day + CLOSE_AT))
        self.market.move_to(self.clock.now)
        self.end_of_day()

    def trade(self, end: int, steps_left: float) -> None:
        """Moves the clock (paced so that the day's budget of events ends near the close), then
        lets one strategy act, bound to its name and account."""
        mean = max(0.001, (end - self.clock.now) / NS / max(1.0, steps_left))
        wait = min(self.rng.expovariate(1 / mean), max(0.0, (end - self.clock.now) / NS))
        if wait >= QUIET_SECONDS:
            self.settle()
        self.clock.seconds(wait)
        self.market.move_to(self.clock.now)
        strategy = self.rng.choice(self.strategies)
        with strategy.context:
            signal = strategy.on_bar()
            if signal is not None:
                request = self.risk.check(signal)
                if request is not None:
                    self.oms.execute(request)

    def define_instruments(self) -> None:
        """The reference data of each instrument as loaded at the start of the session: the
        blotter's currency and settlement cycle come from these records."""
        for inst in self.market.instruments.values():
            self.auditor.event(
                "instrument.defined",
                {**REFERENCE[inst.kind], "tick_size": inst.tick, "lot_size": inst.lot}
                | ({"isin": ISINS[inst.symbol]} if inst.symbol in ISINS else {}),
                symbol=inst.symbol,
                venue=VENUE,
                actor="system",
            )

    def start_of_day(self, *, first: bool) -> None:
        auditor = self.auditor
        auditor.event(
            "system.service_started",
            {
                "version": f"{__version__}+demo",
                "config_hash": self.config.hash,
                "mode": "simulated",
            },
            actor="system",
        )
        self.config.snapshot(auditor)
        self.define_instruments()
        self.monitor.check()
        self.clock.seconds(40)
        auditor.login(
            "j.smith", method="sso", remote_addr="10.0.4.21", mfa=True, session_id=self._session()
        )
        self.clock.seconds(95)
        auditor.login_failed(
            "admin", "bad password", method="password", remote_addr="203.0.113.77", attempts=3
        )
        auditor.alert_sent(
            "slack:#security",
            "repeated_login_failure",
            "warning",
            message="3 failed logins for admin from 203.0.113.77",
        )
        self.clock.seconds(30)
        auditor.login(
            "compliance.lee",
            method="sso",
            remote_addr="10.0.4.33",
            mfa=True,
            session_id=self._session(),
        )
        if first:
            auditor.event(
                "auth.permission_changed",
                {
                    "subject": "a.trader",
                    "granted": ["trade:SOL-USD"],
                    "role": "trader",
                    "old_role": "junior-trader",
                    "reason": "completed desk training",
                    "approved_by": "compliance.lee",
                },
                actor="j.smith",
            )

    def change_limits(self, *, tighten: bool) -> None:
        value, reason = ("200000", "volatility up") if tighten else ("250000", "volatility normal")
        self.config.change(
            "risk.max_order_notional",
            value,
            self.auditor,
            actor="j.smith",
            reason=reason,
            approved_by="compliance.lee",
            ticket=f"CHG-{1042 + self.config.version}",
        )
        self.auditor.alert_sent(
            "slack:#risk",
            "config_changed",
            "info",
            message=f"risk.max_order_notional set to {value} ({reason})",
        )

    def end_of_day(self) -> None:
        """Cancels what rests, charges funding, snapshots positions and computes each account's
        NAV: cash + positions at mark + accruals (fees are already out of cash; they are shown
        so the report can be re-derived)."""
        auditor = self.auditor
        self.oms.cancel_all("end of session")
        as_of = self.clock.as_datetime()
        for account in sorted(self.portfolio.cash):
            with bind(account=account):
                funding = self.venue.charge_funding(account)
                if funding:
                    self.portfolio.charge(account, funding)
                    auditor.event(
                        "portfolio.fee_charged",
                        {
                            "amount": funding,
                            "currency": "USD",
                            "fee_type": "funding",
                            "rate": SimVenue.FUNDING_RATE,
                            "description": "daily funding on open crypto positions",
                        },
                        venue=VENUE,
                    )
                entries = self.portfolio.entries(account, self.market)
                auditor.event(
                    "portfolio.position_snapshot",
                    {"positions": entries, "as_of": as_of, "currency": "USD"},
                )
                self.portfolio.accrue_interest(account)
                cash = _cents(self.portfolio.cash[account])
                at_mark = sum((e["market_value"] for e in entries), ZERO)
                accruals = self.portfolio.accrued[account]
                auditor.event(
                    "portfolio.nav_computed",
                    {
                        "cash": cash,
                        "positions_at_mark": at_mark,
                        "fees": self.portfolio.fees[account],
                        "accruals": accruals,
                        "nav": cash + at_mark + accruals,
                        "currency": "USD",
                        "as_of": as_of,
                        "pricing_source": f"{VENUE} last trade",
                    },
                    priority="high",
                )
                self.portfolio.fees[account] = ZERO
        self.settle()
        self.clock.seconds(60)
        auditor.logout("compliance.lee", reason="end of day")
        auditor.logout("j.smith", reason="end of day")
        auditor.event(
            "system.service_stopped",
            {"reason": "end of trading day", "exit_code": 0, "clean": True},
            actor="system",
        )

    def settle(self) -> None:
        """Waits for the writer before the clock jumps ahead. The writer stamps `ts` when it
        writes, from the simulated clock: without this, a batch written late would carry a
        `ts` minutes or hours after the events it holds (their `event_ts`)."""
        if self.recorder.events > self._settled:
            self.recorder.trail.flush()
            self._settled = self.recorder.events

    def _session(self) -> str:
        return f"S-{self.rng.getrandbits(32):08x}"

    def _report_progress(self) -> None:
        events = self.recorder.events
        if self.progress is not None and events >= self._next_progress:
            self.progress(events)
            self._next_progress = events + 1000
        if events >= self._settled + FLUSH_EVERY:
            self.settle()  # the writer keeps up; this only bounds its queue


def run_demo(
    home: Path,
    *,
    events: int = 5000,
    days: int = 2,
    seed: int = 7,
    today: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> DemoSummary:
    """Simulate `days` trading days ending yesterday (UTC), about `events` records in all, into
    the trail at `home`; past days are sealed and a closing record is written today."""
    if days < 1:
        raise ValueError("days: at least 1")
    prepare_demo_home(home, fresh=False)  # never into a directory the demo did not make
    today = (today or datetime.now(UTC)).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=days)
    day_names = [(first + timedelta(days=d)).date().isoformat() for d in range(days)]
    clock = SimClock(_ns(first + OPEN_AT))
    rng = random.Random(seed)
    trail = open_trail(
        home,
        origin="demo.tradetrail.local/simulated-desk",
        clock=clock,
        service="tradetrail-demo",
        strict=True,
        model=DEMO_MODEL,
        checkpoint_every=max(1000, events // 20),
        checkpoint_interval=3600,
    )
    recorder = _DeskRecorder(trail, clock)
    try:
        with _audit_logging(recorder, clock):
            desk = Desk(recorder, clock, rng, progress)
            recorder.record(
                "demo.session_started",
                {"simulated": True, "seed": seed, "days": day_names, "requested_events": events},
                actor="tradetrail-demo",
            )
            for d in range(days):
                desk.run_day(first + timedelta(days=d), d, until=events * (d + 1) // days - 1)
                desk.settle()  # the day's records land in its file before the clock moves on
            clock.now = max(clock.now, _ns(today) + 5 * NS)
            recorder.record(
                "demo.session_finished",
                {"simulated": True, "days": day_names, "events": recorder.events},
                actor="tradetrail-demo",
            )
        trail.flush()
    finally:
        trail.close()
        _mark(home, trail.size)  # what the demo left: records after it are not the demo's
    if progress is not None:
        progress(recorder.events)
    counts = dict(sorted(recorder.counts.items()))
    return DemoSummary(home=home, days=day_names, events=recorder.events, counts=counts)
