"""The story of one order: the signal and risk decisions behind it, the order, its replaces
and cancels (client, exchange and parent ids followed), its fills, and the position change."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from ..core.timefmt import parse_time
from .base import IndexBackend
from .query import Query
from .rows import IndexRow

_FOLLOWED = ("order_id", "client_order_id", "exchange_order_id", "parent_order_id")
_FILLS = frozenset({"order.filled", "order.partially_filled", "trade.executed"})
_SELL = frozenset({"sell", "sell_short", "sell_short_exempt"})


@dataclass
class PositionChange:
    account: str | None
    symbol: str | None
    qty: Decimal  # signed: buys add, sells subtract
    fills: int


@dataclass
class Lineage:
    """Everything linked to `order_id`. `orders` maps each order id in the family to its
    records in time order; `children` maps an order to the orders derived from it (child
    orders by parent_order_id, replacements by data.new_order_id)."""

    order_id: str
    signals: list[IndexRow] = field(default_factory=list)
    orders: dict[str, list[IndexRow]] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)
    positions: list[PositionChange] = field(default_factory=list)
    snapshots: list[IndexRow] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The story as `tradetrail lineage --json` prints it and GET /v1/lineage serves it."""
        return {
            "order_id": self.order_id,
            "signals": [r.parsed() for r in self.signals],
            "orders": {k: [r.parsed() for r in v] for k, v in self.orders.items()},
            "children": self.children,
            "position_changes": [
                {"account": p.account, "symbol": p.symbol, "qty": str(p.qty), "fills": p.fills}
                for p in self.positions
            ],
            "position_snapshots": [r.parsed() for r in self.snapshots],
        }

    def records(self) -> list[IndexRow]:
        """Every record of the story once, in journal order."""
        rows = {r.seq: r for r in self.signals}
        for found in self.orders.values():
            rows.update((r.seq, r) for r in found)
        rows.update((r.seq, r) for r in self.snapshots)
        return [rows[s] for s in sorted(rows)]

    @property
    def found(self) -> bool:
        return bool(self.orders)


def _find(index: IndexBackend, origin: str | None, name: str, value: str) -> list[IndexRow]:
    return index.search(Query(equals={name: value}, origin=origin, limit=None))


def lineage(index: IndexBackend, order_id: str, origin: str | None = None) -> Lineage:
    """Follow ids to a fixed point: any record carrying one of the family's order, client or
    exchange ids belongs to it; a record naming a family order as parent, or a replace naming
    a new order id, brings that order in."""
    story = Lineage(order_id)
    seen: dict[int, IndexRow] = {}
    pending: list[tuple[str, str]] = [("order_id", order_id)]
    asked: set[tuple[str, str]] = set()
    while pending:
        key = pending.pop()
        if key in asked:
            continue
        asked.add(key)
        for row in _find(index, origin, *key):
            if row.seq in seen:
                continue
            seen[row.seq] = row
            for name in _FOLLOWED:
                value = getattr(row, name)
                if value is not None:
                    pending.append((name, value))
                    if name == "parent_order_id":
                        pending.append(("order_id", value))
            new_id = _data(row).get("new_order_id")
            if isinstance(new_id, str):
                pending.append(("order_id", new_id))
    family = sorted(seen.values(), key=lambda r: r.seq)
    owner: dict[str, str] = {}  # any id -> the order id it belongs to
    for row in family:
        oid = (
            row.order_id
            or owner.get(row.client_order_id or "")
            or owner.get(row.exchange_order_id or "")
        )
        if oid is None:
            continue
        for alias in (row.client_order_id, row.exchange_order_id):
            if alias:
                owner.setdefault(alias, oid)
        story.orders.setdefault(oid, []).append(row)
        parents = [row.parent_order_id] if row.parent_order_id else []
        for parent in parents:
            if oid not in story.children.setdefault(parent, []) and parent != oid:
                story.children[parent].append(oid)
        new_id = _data(row).get("new_order_id")
        if isinstance(new_id, str) and new_id != oid:
            kids = story.children.setdefault(oid, [])
            if new_id not in kids:
                kids.append(new_id)
    signal_ids = sorted({r.signal_id for r in family if r.signal_id})
    signal_rows: dict[int, IndexRow] = {}
    for signal_id in signal_ids:
        for row in _find(index, origin, "signal_id", signal_id):
            if row.seq not in seen:
                signal_rows[row.seq] = row
    story.signals = [signal_rows[s] for s in sorted(signal_rows)]
    story.positions = _position_changes(family)
    story.snapshots = _snapshots_after(index, origin, family, story.positions)
    return story


def _data(row: IndexRow) -> dict[str, Any]:
    data = row.parsed().get("data")
    return data if isinstance(data, dict) else {}


def _position_changes(rows: Iterable[IndexRow]) -> list[PositionChange]:
    changes: dict[tuple[str | None, str | None], PositionChange] = {}
    sides: dict[str, str] = {}
    for row in rows:
        data = _data(row)
        side = data.get("side")
        if isinstance(side, str) and row.order_id:
            sides.setdefault(row.order_id, side)
        if row.type not in _FILLS:
            continue
        try:
            qty = Decimal(str(data.get("fill_qty", data.get("qty"))))
        except (InvalidOperation, ValueError):
            continue
        side = side if isinstance(side, str) else sides.get(row.order_id or "", "buy")
        signed = -qty if side in _SELL else qty
        key = (row.account, row.symbol)
        change = changes.setdefault(key, PositionChange(row.account, row.symbol, Decimal(0), 0))
        change.qty += signed
        change.fills += 1
    return list(changes.values())


def _snapshots_after(
    index: IndexBackend,
    origin: str | None,
    family: list[IndexRow],
    positions: list[PositionChange],
) -> list[IndexRow]:
    """The first position snapshot of each account and symbol within a week after the order's
    last fill (snapshots are few: one range scan of their type, filtered here)."""
    fills = [r for r in family if r.type in _FILLS]
    if not fills:
        return []
    after = fills[-1].ts
    until = (parse_time(after) + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    wanted = {(p.account, p.symbol) for p in positions}
    found: list[IndexRow] = []
    for row in index.search(
        Query(
            types=("portfolio.position_snapshot",),
            since=after,
            until=until,
            origin=origin,
            limit=None,
        )
    ):
        key = (row.account, row.symbol)
        if key in wanted:
            wanted.discard(key)
            found.append(row)
            if not wanted:
                break
    return found
