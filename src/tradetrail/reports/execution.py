"""Execution quality: how fast the venue acknowledged and filled orders, and how far the fill
prices were from the price that motivated the order.

Linking: an order is known by `order_id` (or `client_order_id`) from its `order.submitted`;
its `signal_id` leads to the `signal.received` whose `price` is the signal price. Times are
`event_ts` (when it happened at the source) when present, else the writer's `ts`.

* submit-to-ack: first `order.accepted` minus `order.submitted`; submit-to-fill: first fill
  (`order.partially_filled`, `order.filled` or `trade.executed`) minus `order.submitted`.
  Percentiles are nearest-rank (always an observed latency).
* slippage, in basis points, signed so that worse is positive: buy (fill − benchmark) /
  benchmark × 10 000, sell (benchmark − fill) / benchmark × 10 000, per execution; averaged
  weighted by notional (executed quantity × price, so that a share, a coin and a contract
  weigh by what was traded, not by count; quantities of different instruments are never
  added). Benchmarks: the signal price; the arrival price when the
  submission carries one (`data.arrival_price`, order.submitted version 2); the order's limit
  price (`order.submitted` `price`; for a limit order, negative means price improvement).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final

from .common import (
    FILL_TYPES,
    TERMINAL,
    Finished,
    OrderBook,
    OrderInfo,
    currency_of,
    decimal,
    label,
    side_of,
    single,
)
from .model import Cell, Chart, Header, Section, Table, bps, dec, ms, percentile
from .scan import event_ns

__all__ = ["BENCHMARKS", "ExecutionCollector"]

BENCHMARKS: Final = ("signal", "arrival", "limit")
_ALL: Final = "all venues"
_TEN_THOUSAND: Final = Decimal(10_000)
_CENT: Final = Decimal("0.01")


@dataclass
class _Slip:
    values: list[Decimal] = field(default_factory=list)
    weighted: Decimal = Decimal(0)
    notional: Decimal = Decimal(0)
    qty: Decimal = Decimal(0)

    def add(self, value: Decimal, qty: Decimal | None, price: Decimal) -> None:
        self.values.append(value)
        if qty is not None and qty > 0:
            self.weighted += value * qty * price
            self.notional += qty * price
            self.qty += qty

    def mean(self) -> Decimal | None:
        if self.notional > 0:
            return self.weighted / self.notional
        if self.values:
            return sum(self.values, Decimal(0)) / len(self.values)
        return None


@dataclass
class _Venue:
    orders: int = 0
    ack: list[int] = field(default_factory=list)
    fill: list[int] = field(default_factory=list)
    executions: int = 0
    slip: dict[str, _Slip] = field(default_factory=dict)


class ExecutionCollector:
    """Latencies and slippage by venue. Memory: the live orders, the signal prices of the
    range, and one latency and one slippage value per order and execution (the figures)."""

    needles: tuple[bytes, ...] = (b'"order.', b'"trade.executed"', b'"signal.received"')

    def __init__(self) -> None:
        self.book = OrderBook()
        self.signals: dict[str, Decimal] = {}
        self.venues: dict[str, _Venue] = {}
        self.by_symbol: dict[str, _Slip] = {}
        self.unlinked_acks = 0
        self.unlinked_fills = 0
        self.no_benchmark = 0
        self.currencies: set[str | None] = set()
        self._seen: set[tuple[str, str]] = set()

    def _venue(self, name: str) -> _Venue:
        found = self.venues.get(name)
        if found is None:
            found = self.venues[name] = _Venue()
        return found

    def add(self, rec: dict[str, Any]) -> None:
        kind = rec.get("type")
        data = rec.get("data")
        data = data if type(data) is dict else {}
        if kind == "signal.received":
            signal_id, price = rec.get("signal_id"), decimal(data.get("price"))
            if type(signal_id) is str and price is not None and price > 0:
                self.signals[signal_id] = price
            return
        if kind == "order.submitted":
            signal_id = rec.get("signal_id")
            info = OrderInfo(
                venue=label(rec.get("venue")),
                symbol=label(rec.get("symbol")),
                strategy=label(rec.get("strategy")),
                side=side_of(data.get("side")),
                submit_ns=event_ns(rec),
                signal_price=self.signals.get(signal_id) if type(signal_id) is str else None,
                limit_price=decimal(data.get("price")),
                arrival_price=decimal(data.get("arrival_price")),
                currency=currency_of(data),
            )
            self.book.add(rec, info)
            self._venue(info.venue).orders += 1
            return
        if kind == "order.accepted":
            found = self.book.find(rec)
            if found is None:
                self.unlinked_acks += 1
            elif not found.acked:
                found.acked = True
                at = event_ns(rec)
                if at is not None and found.submit_ns is not None:
                    self._venue(found.venue).ack.append(at - found.submit_ns)
            return
        if kind in FILL_TYPES or kind == "trade.executed":
            self._execution(rec, kind, data)
        if kind in TERMINAL:
            self.book.done(rec)

    def _execution(self, rec: dict[str, Any], kind: Any, data: dict[str, Any]) -> None:
        execution = data.get("trade_id")
        if type(execution) is str and execution:
            key = (label(rec.get("order_id")), execution)
            if key in self._seen:
                return
            self._seen.add(key)
        order = self.book.find(rec)
        if order is None:
            self.unlinked_fills += 1
            return
        venue = self._venue(order.venue)
        venue.executions += 1
        if not order.filled:
            order.filled = True
            at = event_ns(rec)
            if at is not None and order.submit_ns is not None:
                venue.fill.append(at - order.submit_ns)
        if kind == "trade.executed":
            qty, price = decimal(data.get("qty")), decimal(data.get("price"))
        else:
            qty, price = decimal(data.get("fill_qty")), decimal(data.get("fill_price"))
        side = side_of(data.get("side")) or order.side
        if price is None or side is None:
            self.no_benchmark += 1
            return
        self.currencies.add(currency_of(data) or order.currency)
        any_benchmark = False
        for name, benchmark in zip(
            BENCHMARKS, (order.signal_price, order.arrival_price, order.limit_price), strict=True
        ):
            if benchmark is None or benchmark <= 0:
                continue
            any_benchmark = True
            diff = price - benchmark if side == "buy" else benchmark - price
            value = diff / benchmark * _TEN_THOUSAND
            venue.slip.setdefault(name, _Slip()).add(value, qty, price)
            if name == "signal":
                self.by_symbol.setdefault(order.symbol, _Slip()).add(value, qty, price)
        if not any_benchmark:
            self.no_benchmark += 1

    def finish(self, header: Header) -> Finished:
        names = sorted(self.venues)
        total = _Venue()
        for v in self.venues.values():
            total.orders += v.orders
            total.ack += v.ack
            total.fill += v.fill
            total.executions += v.executions
            for b, s in v.slip.items():
                agg = total.slip.setdefault(b, _Slip())
                agg.values += s.values
                agg.weighted += s.weighted
                agg.notional += s.notional
                agg.qty += s.qty
        for v in (*self.venues.values(), total):
            v.ack.sort()
            v.fill.sort()
            for s in v.slip.values():
                s.values.sort()
        currency = single(self.currencies)
        money_ok = len(self.currencies) <= 1  # one currency, or none recorded anywhere
        summary: dict[str, Any] = {
            "empty": total.orders == 0 and total.executions == 0,
            "currency": currency,
            "orders": total.orders,
            "acknowledged": len(total.ack),
            "filled_orders": len(total.fill),
            "executions": total.executions,
            "submit_to_ack_ms": _pcts(total.ack),
            "submit_to_fill_ms": _pcts(total.fill),
            "slippage_bps": {b: _slip_json(total.slip.get(b), money_ok) for b in BENCHMARKS},
            "unlinked": {
                "acks_without_submission": self.unlinked_acks,
                "executions_without_submission": self.unlinked_fills,
                "executions_without_benchmark": self.no_benchmark,
            },
        }
        notes = (
            "Times are event_ts (the source's clock) when recorded, else the journal ts.",
            "Latency percentiles are nearest-rank over orders: p50/p95/p99 are observed values.",
            "Slippage is in basis points per execution, positive = worse than the benchmark "
            "(bought higher / sold lower); means are weighted by notional (quantity × price), "
            "so quantities of different instruments are never added.",
            "Notional is in the orders' currency (data.currency of order.submitted); where the "
            "executions are in several currencies, no total is shown.",
            "Benchmarks: signal = price of the order's signal.received (by signal_id); "
            "arrival = data.arrival_price of order.submitted when present; limit = the "
            "submitted limit price (negative = price improvement).",
            "Orders submitted before the range, and their executions, are not linked "
            "(counted under 'unlinked').",
        )
        if summary["empty"]:
            return (
                "Execution quality",
                summary,
                (Section("Execution", text=("No orders or executions in this range.",)),),
                notes,
            )
        lat_cols = (
            "venue",
            "orders",
            "acked",
            "ack p50 ms",
            "ack p95 ms",
            "ack p99 ms",
            "filled",
            "fill p50 ms",
            "fill p95 ms",
            "fill p99 ms",
        )
        lat_rows = (*(_lat_row(n, self.venues[n]) for n in names), _lat_row(_ALL, total))
        money = f"notional ({currency})" if currency else "notional"
        slip_cols = (
            "venue",
            "benchmark",
            "executions",
            money,
            "mean bps (notional-weighted)",
            "p50 bps",
            "p95 bps",
            "worst bps",
        )
        slip_rows: list[tuple[Cell, ...]] = []
        for n, v in [*((n, self.venues[n]) for n in names), (_ALL, total)]:
            for b in BENCHMARKS:
                got = v.slip.get(b)
                if got is not None and got.values:
                    slip_rows.append((n, b, *_slip_cells(got, money_ok)))
        for s in self.by_symbol.values():
            s.values.sort()
        sym_rows = tuple(
            (sym, len(s.values), dec(s.qty), *_slip_cells(s, money_ok)[1:])
            for sym, s in sorted(self.by_symbol.items())
            if s.values
        )
        link_rows: tuple[tuple[Cell, ...], ...] = tuple(
            (k.replace("_", " "), v) for k, v in summary["unlinked"].items()
        )
        charts = tuple(
            Chart(
                f"Submit-to-{what} latency by venue",
                "bar",
                tuple(names),
                tuple(
                    (
                        f"p{p}",
                        tuple(
                            float(ms(percentile(getattr(self.venues[n], attr), p)) or 0)
                            for n in names
                        ),
                    )
                    for p in (50, 95, 99)
                ),
                xlabel="venue",
                ylabel="milliseconds",
            )
            for what, attr in (("ack", "ack"), ("fill", "fill"))
        )
        sections = [
            Section(
                "Latency",
                tables=(Table("Latency by venue (milliseconds)", lat_cols, lat_rows),),
                charts=charts,
            ),
            Section(
                "Slippage",
                text=() if slip_rows else ("No execution could be priced against a benchmark.",),
                tables=(
                    Table("Slippage by venue (bps, positive = worse)", slip_cols, tuple(slip_rows)),
                    Table(
                        "Slippage against the signal price by symbol (bps)",
                        ("symbol", "executions", "quantity", *slip_cols[3:]),
                        sym_rows,
                    ),
                )
                if slip_rows
                else (),
                charts=(
                    Chart(
                        "Slippage against the signal price, per execution",
                        "hist",
                        (),
                        (("signal", tuple(float(x) for x in total.slip["signal"].values)),),
                        xlabel="bps (positive = worse)",
                        ylabel="executions",
                        integer=True,
                    ),
                )
                if "signal" in total.slip and total.slip["signal"].values
                else (),
            ),
            Section(
                "Linkage",
                tables=(Table("Events that could not be linked", ("what", "count"), link_rows),),
            ),
        ]
        return "Execution quality", summary, tuple(sections), notes


def _pcts(values: list[int]) -> dict[str, str | None]:
    return {f"p{p}": ms(percentile(values, p)) for p in (50, 95, 99)}


def _lat_row(name: str, v: _Venue) -> tuple[Cell, ...]:
    ack, fill = _pcts(v.ack), _pcts(v.fill)
    return (
        name,
        v.orders,
        len(v.ack),
        ack["p50"],
        ack["p95"],
        ack["p99"],
        len(v.fill),
        fill["p50"],
        fill["p95"],
        fill["p99"],
    )


def _slip_cells(s: _Slip, money: bool) -> tuple[Cell, ...]:
    return (
        len(s.values),
        _cents(s.notional) if money else None,
        bps(s.mean()),
        bps(percentile(s.values, 50)),
        bps(percentile(s.values, 95)),
        bps(s.values[-1] if s.values else None),
    )


def _cents(value: Decimal) -> str:
    return str(value.quantize(_CENT, rounding=ROUND_HALF_EVEN))


def _slip_json(s: _Slip | None, money: bool) -> dict[str, Any] | None:
    if s is None or not s.values:
        return None
    count, notional, mean, p50, p95, worst = _slip_cells(s, money)
    return {
        "executions": count,
        "notional": notional,
        "mean": mean,
        "p50": p50,
        "p95": p95,
        "worst": worst,
    }
