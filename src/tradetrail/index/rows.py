"""The index row of a journal record: the searchable columns, kept with the record's seq and
leaf hash so every row can be checked against the signed journal. Pure: no I/O."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Final

import orjson

from ..canonical import CORRELATION_FIELDS
from ..errors import IndexStoreError

ID_COLUMNS: Final = CORRELATION_FIELDS
"""Correlation fields kept as columns (exact match, B-tree indexed)."""
COLUMNS: Final = (
    "origin",
    "seq",
    "leaf_hash",
    "prev",
    "ts",
    "event_ts",
    "type",
    "category",
    "event_id",
    "actor",
    "priority",
    *ID_COLUMNS,
    "record",
    "text",
)
_NOT_TEXT: Final = frozenset({"seq", "ts", "prev", "event_id", "event_ts", "priority", "source"})


@dataclass(frozen=True, slots=True)
class IndexRow:
    """One record as the index holds it. `record` is the journal line itself (the evidence);
    `text` is what full-text search sees: the type, the identifiers and every string in data."""

    origin: str
    seq: int
    leaf_hash: str
    prev: str
    ts: str
    event_ts: str | None
    type: str
    category: str
    event_id: str
    actor: str | None
    priority: str | None
    correlation_id: str | None
    order_id: str | None
    client_order_id: str | None
    exchange_order_id: str | None
    parent_order_id: str | None
    signal_id: str | None
    strategy: str | None
    account: str | None
    venue: str | None
    symbol: str | None
    record: str
    text: str

    def as_tuple(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in COLUMNS)

    def parsed(self) -> dict[str, Any]:
        """The journal record as JSON values."""
        value: dict[str, Any] = orjson.loads(self.record)
        return value


def leaf_hash_hex(line: bytes) -> str:
    """RFC 6962 leaf hash of a journal line (without its newline), lower-case hex."""
    return hashlib.sha256(b"\x00" + line).hexdigest()


def _strings(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            _strings(item, out)
    elif isinstance(value, list):
        for item in value:
            _strings(item, out)


def row_from_line(origin: str, line: bytes, where: str = "journal") -> IndexRow:
    """The index row of one journal line; `where` names the line in errors."""
    try:
        record = orjson.loads(line)
        seq = record["seq"]
        event_type = record["type"]
        ts = record["ts"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise IndexStoreError(f"{where}: not a journal record ({exc})") from None
    if type(seq) is not int or not isinstance(event_type, str) or not isinstance(ts, str):
        raise IndexStoreError(f"{where}: seq, type or ts has the wrong type")
    text: list[str] = [event_type.replace(".", " ")]
    for name, value in record.items():
        if name not in _NOT_TEXT:
            _strings(value, text)

    def opt(name: str) -> str | None:
        value = record.get(name)
        return value if isinstance(value, str) else None

    return IndexRow(
        origin=origin,
        seq=seq,
        leaf_hash=leaf_hash_hex(line),
        prev=str(record.get("prev", "")),
        ts=ts,
        event_ts=opt("event_ts"),
        type=event_type,
        category=event_type.split(".", 1)[0],
        event_id=str(record.get("event_id", "")),
        actor=opt("actor"),
        priority=opt("priority"),
        correlation_id=opt("correlation_id"),
        order_id=opt("order_id"),
        client_order_id=opt("client_order_id"),
        exchange_order_id=opt("exchange_order_id"),
        parent_order_id=opt("parent_order_id"),
        signal_id=opt("signal_id"),
        strategy=opt("strategy"),
        account=opt("account"),
        venue=opt("venue"),
        symbol=opt("symbol"),
        record=line.decode("utf-8"),
        text=" ".join(text),
    )
