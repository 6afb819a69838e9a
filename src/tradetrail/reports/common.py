"""Small pieces the report builders share: labels, exact decimals, the live-order book that
links later events to their order, and the collector protocol."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Protocol

from .model import Header, Section

__all__ = [
    "FILL_TYPES",
    "NONE",
    "TERMINAL",
    "Collector",
    "Finished",
    "OrderBook",
    "OrderInfo",
    "currency_of",
    "day_of",
    "decimal",
    "label",
    "side_of",
    "single",
]

NONE: Final = "(none)"
FILL_TYPES: Final = frozenset({"order.filled", "order.partially_filled"})
TERMINAL: Final = frozenset({"order.filled", "order.cancelled", "order.rejected", "order.expired"})
_NUMBER: Final = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def label(value: Any) -> str:
    """A grouping key for tables: the text, or `(none)` for an absent or non-text value."""
    return value if type(value) is str and value else NONE


def decimal(value: Any) -> Decimal | None:
    """An exact decimal from a journal value (decimal string or int); None otherwise."""
    if type(value) is int:
        return Decimal(value)
    if type(value) is not str or not _NUMBER.fullmatch(value):
        return None
    try:
        return Decimal(value)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        return None


def currency_of(data: dict[str, Any]) -> str | None:
    """The currency an order or execution is priced in (`data.currency`), when recorded."""
    value = data.get("currency")
    return value if type(value) is str and value else None


def single(currencies: set[str | None]) -> str | None:
    """The one currency of a set of executions; None when none is recorded or they differ
    (amounts in different currencies are then never added together)."""
    return next(iter(currencies)) if len(currencies) == 1 else None


def side_of(value: Any) -> str | None:
    """buy or sell: the short-sale marks are sells for price and volume purposes."""
    if value == "buy":
        return "buy"
    if type(value) is str and value.startswith("sell"):
        return "sell"
    return None


def day_of(rec: dict[str, Any]) -> str:
    """The UTC day the record was journaled (its day file)."""
    ts = rec.get("ts")
    return ts[:10] if type(ts) is str else NONE


@dataclass
class OrderInfo:
    """What later events of an order need from its submission."""

    venue: str
    symbol: str
    strategy: str
    side: str | None
    submit_ns: int | None
    signal_price: Decimal | None
    limit_price: Decimal | None
    arrival_price: Decimal | None
    acked: bool = False
    filled: bool = False
    key: str = ""
    client: str | None = None
    currency: str | None = None


class OrderBook:
    """Orders submitted in the range that are still live, found by order_id or client_order_id.
    An order leaves at its terminal event, so memory follows the open orders, not the range."""

    def __init__(self) -> None:
        self._orders: dict[str, OrderInfo] = {}
        self._by_client: dict[str, str] = {}

    @staticmethod
    def key(rec: dict[str, Any]) -> str | None:
        order_id = rec.get("order_id")
        if type(order_id) is str and order_id:
            return order_id
        client = rec.get("client_order_id")
        return "client:" + client if type(client) is str and client else None

    def add(self, rec: dict[str, Any], info: OrderInfo) -> None:
        key = self.key(rec)
        if key is None:
            return
        info.key = key
        self._orders[key] = info
        client = rec.get("client_order_id")
        if type(client) is str and client:
            info.client = client
            self._by_client[client] = key

    def find(self, rec: dict[str, Any]) -> OrderInfo | None:
        key = self.key(rec)
        found = self._orders.get(key) if key is not None else None
        if found is None:
            client = rec.get("client_order_id")
            if type(client) is str and client in self._by_client:
                found = self._orders.get(self._by_client[client])
        return found

    def done(self, rec: dict[str, Any]) -> None:
        """Forget an order at its terminal event."""
        info = self.find(rec)
        if info is not None:
            self._orders.pop(info.key, None)
            if info.client is not None:
                self._by_client.pop(info.client, None)


Finished = tuple[str, dict[str, Any], tuple[Section, ...], tuple[str, ...]]
"""(title, summary, sections, notes) of a finished report."""


class Collector(Protocol):
    """One report kind: which raw lines it wants (substrings any of its records must hold),
    what it does with each record, and the report at the end."""

    needles: tuple[bytes, ...]

    def add(self, rec: dict[str, Any]) -> None: ...

    def finish(self, header: Header) -> Finished: ...


def rows_sorted(items: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Items in key order: every table lists its groups sorted, so output never depends on the
    order in which dict entries were made."""
    return sorted(items, key=lambda kv: kv[0])
