"""The daily trading summary: orders, executions, volume, notional and rejects by symbol, by
strategy and by day. Executions are counted once even when reported twice (a fill and a
`trade.executed` with the same order and execution id), as on the daily pack's blotter."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final

from .common import FILL_TYPES, NONE, Finished, currency_of, day_of, decimal, label, side_of, single
from .model import Chart, Header, Section, Table, dec

__all__ = ["TradingCollector"]

_CENT: Final = Decimal("0.01")
_ZERO: Final = Decimal(0)


def _cents(value: Decimal) -> str:
    return str(value.quantize(_CENT, rounding=ROUND_HALF_EVEN))


@dataclass
class _Tally:
    orders: int = 0
    accepted: int = 0
    rejected: int = 0
    risk_rejected: int = 0
    cancelled: int = 0
    replaced: int = 0
    expired: int = 0
    executions: int = 0
    qty: Decimal = _ZERO
    buy_notional: Decimal = _ZERO
    sell_notional: Decimal = _ZERO
    fees: Decimal = _ZERO
    symbols: set[str] = field(default_factory=set)

    @property
    def notional(self) -> Decimal:
        return self.buy_notional + self.sell_notional


_COUNTS: Final = {
    "order.submitted": "orders",
    "order.accepted": "accepted",
    "order.rejected": "rejected",
    "risk.rejected": "risk_rejected",
    "order.cancelled": "cancelled",
    "order.replaced": "replaced",
    "order.expired": "expired",
}
_COLUMNS: Final = (
    "orders",
    "accepted",
    "executions",
    "filled qty",
    "notional",
    "buy notional",
    "sell notional",
    "fees",
    "venue/OMS rejects",
    "risk rejects",
    "cancelled",
    "expired",
)


class TradingCollector:
    """Tallies per symbol, strategy and day; memory follows the number of groups."""

    needles: tuple[bytes, ...] = (b'"order.', b'"trade.executed"', b'"risk.rejected"')

    def __init__(self) -> None:
        self.total = _Tally()
        self.by_symbol: dict[str, _Tally] = {}
        self.by_strategy: dict[str, _Tally] = {}
        self.by_day: dict[str, _Tally] = {}
        self.reasons: dict[tuple[str, str], int] = {}
        self.symbol_currency: dict[str, str] = {}
        self.currencies: set[str | None] = set()
        self._seen: set[tuple[str, str]] = set()

    def _tallies(self, rec: dict[str, Any]) -> list[_Tally]:
        symbol, strategy, day = label(rec.get("symbol")), label(rec.get("strategy")), day_of(rec)
        return [
            self.total,
            self.by_symbol.setdefault(symbol, _Tally()),
            self.by_strategy.setdefault(strategy, _Tally()),
            self.by_day.setdefault(day, _Tally()),
        ]

    def add(self, rec: dict[str, Any]) -> None:
        kind = rec.get("type")
        data = rec.get("data")
        data = data if type(data) is dict else {}
        if kind == "order.submitted" and currency_of(data) is not None:
            self.symbol_currency.setdefault(label(rec.get("symbol")), str(currency_of(data)))
        if kind in _COUNTS:
            name = _COUNTS[kind]
            for tally in self._tallies(rec):
                setattr(tally, name, getattr(tally, name) + 1)
            if kind == "order.rejected":
                key = (label(data.get("reason")), label(data.get("rejected_by")))
                self.reasons[key] = self.reasons.get(key, 0) + 1
            elif kind == "risk.rejected":
                key = (label(data.get("rule")), "risk")
                self.reasons[key] = self.reasons.get(key, 0) + 1
            return
        if kind in FILL_TYPES:
            qty, price, side = data.get("fill_qty"), data.get("fill_price"), data.get("side")
        elif kind == "trade.executed":
            qty, price, side = data.get("qty"), data.get("price"), data.get("side")
        else:
            return
        execution = data.get("trade_id")
        if type(execution) is str and execution:
            key = (label(rec.get("order_id")), execution)
            if key in self._seen:
                return
            self._seen.add(key)
        symbol = label(rec.get("symbol"))
        self.currencies.add(currency_of(data) or self.symbol_currency.get(symbol))
        q, p, fee = decimal(qty), decimal(price), decimal(data.get("fee"))
        notional = q * p if q is not None and p is not None else None
        for tally in self._tallies(rec):
            tally.executions += 1
            tally.symbols.add(label(rec.get("symbol")))
            if q is not None:
                tally.qty += q
            if notional is not None:
                if side_of(side) == "sell":
                    tally.sell_notional += notional
                else:
                    tally.buy_notional += notional
            if fee is not None:
                tally.fees += fee

    def _row(self, name: str, t: _Tally, with_qty: bool) -> tuple[str | int | None, ...]:
        """A table row; money only where it is in one currency (a symbol's own, or every
        execution's), never a sum across currencies."""
        money = with_qty or len(self.currencies) <= 1
        row: tuple[str | int | None, ...] = (
            name,
            t.orders,
            t.accepted,
            t.executions,
            dec(t.qty) if with_qty else None,
            _cents(t.notional) if money else None,
            _cents(t.buy_notional) if money else None,
            _cents(t.sell_notional) if money else None,
            _cents(t.fees) if money else None,
            t.rejected,
            t.risk_rejected,
            t.cancelled,
            t.expired,
        )
        if not with_qty:
            row = row[:4] + row[5:]
        if len(self.currencies) > 1:
            row = (name, self.symbol_currency.get(name) if with_qty else None, *row[1:])
        return row

    def finish(self, header: Header) -> Finished:
        t = self.total
        currency = single(self.currencies)
        mixed = len(self.currencies) > 1
        activity = t.orders + t.executions + t.rejected + t.risk_rejected + t.cancelled
        summary: dict[str, Any] = {
            "empty": activity == 0 and t.accepted == 0 and t.replaced == 0 and t.expired == 0,
            "orders": t.orders,
            "accepted": t.accepted,
            "executions": t.executions,
            "currency": currency,
            "notional": None if mixed else _cents(t.notional),
            "buy_notional": None if mixed else _cents(t.buy_notional),
            "sell_notional": None if mixed else _cents(t.sell_notional),
            "fees": None if mixed else _cents(t.fees),
            "rejects": t.rejected,
            "risk_rejects": t.risk_rejected,
            "cancelled": t.cancelled,
            "replaced": t.replaced,
            "expired": t.expired,
            "symbols": len([s for s in self.by_symbol if s != NONE]),
            "strategies": len([s for s in self.by_strategy if s != NONE]),
        }
        notes = (
            "Notional is quantity × price of each execution, summed exactly and shown rounded "
            "half-even to 0.01 in the orders' currency (data.currency of order.submitted). "
            "Amounts in different currencies are never added: with several, money is shown "
            "per symbol only. Filled quantity is shown per symbol only (a share and a coin "
            "do not add up).",
            "Days are UTC days of the journal (the writer's `ts`), as in the daily packs.",
        )
        if summary["empty"]:
            return (
                "Daily trading summary",
                summary,
                (Section("Trading", text=("No trading in this range.",)),),
                notes,
            )
        unit = f" ({currency})" if currency else ""
        columns = tuple(
            c + unit if c in ("notional", "buy notional", "sell notional", "fees") else c
            for c in _COLUMNS
        )
        if mixed:
            columns = ("currency", *columns)
        totals = tuple(c for c in columns if c != "filled qty")  # a share and a coin: no sum
        sym_rows = tuple(self._row(k, v, True) for k, v in sorted(self.by_symbol.items()))
        strat_rows = tuple(self._row(k, v, False) for k, v in sorted(self.by_strategy.items()))
        day_rows = tuple(self._row(k, v, False) for k, v in sorted(self.by_day.items()))
        reason_rows = tuple(
            (reason, by, count)
            for (reason, by), count in sorted(self.reasons.items(), key=lambda kv: (-kv[1], kv[0]))
        )
        symbols = sorted(self.by_symbol)
        strategies = sorted(self.by_strategy)
        sections = [
            Section(
                "By symbol",
                tables=(Table("By symbol", ("symbol", *columns), sym_rows),),
                charts=(
                    Chart(
                        "Notional by symbol",
                        "barh",
                        tuple(symbols),
                        (("notional", tuple(float(self.by_symbol[s].notional) for s in symbols)),),
                        xlabel=f"notional{unit}",
                        ylabel="symbol",
                    ),
                )
                if not mixed
                else (),
            ),
            Section(
                "By strategy",
                tables=(Table("By strategy", ("strategy", *totals), strat_rows),),
                charts=(
                    Chart(
                        "Orders, executions and rejects by strategy",
                        "bar",
                        tuple(strategies),
                        tuple(
                            (
                                name,
                                tuple(
                                    float(getattr(self.by_strategy[s], attr)) for s in strategies
                                ),
                            )
                            for name, attr in (
                                ("orders", "orders"),
                                ("executions", "executions"),
                                ("venue/OMS rejects", "rejected"),
                                ("risk rejects", "risk_rejected"),
                            )
                        ),
                        xlabel="strategy",
                        ylabel="count",
                        integer=True,
                    ),
                ),
            ),
        ]
        if len(day_rows) > 1:
            days = sorted(self.by_day)
            sections.append(
                Section(
                    "By day",
                    tables=(Table("By day", ("day", *totals), day_rows),),
                    charts=(
                        Chart(
                            "Notional by day",
                            "timeline",
                            tuple(days),
                            (("notional", tuple(float(self.by_day[d].notional) for d in days)),),
                            xlabel="day (UTC)",
                            ylabel=f"notional{unit}",
                            span=(header.start, header.end),
                        ),
                    )
                    if not mixed and NONE not in days
                    else (),
                )
            )
        sections.append(
            Section(
                "Rejects",
                text=() if reason_rows else ("No rejects in this range.",),
                tables=(
                    Table(
                        "Reject reasons", ("reason or rule", "rejected by", "count"), reason_rows
                    ),
                )
                if reason_rows
                else (),
            )
        )
        return "Daily trading summary", summary, tuple(sections), notes
