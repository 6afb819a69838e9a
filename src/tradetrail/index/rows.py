"""The index row of a journal record: the searchable columns, kept with the record's seq and
leaf hash so every row can be checked against the signed journal. Pure: no I/O."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Final

import orjson

from ..core.canonical import CORRELATION_FIELDS
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
        """The values in COLUMNS order (the dataclass's field order)."""
        return (
            self.origin,
            self.seq,
            self.leaf_hash,
            self.prev,
            self.ts,
            self.event_ts,
            self.type,
            self.category,
            self.event_id,
            self.actor,
            self.priority,
            self.correlation_id,
            self.order_id,
            self.client_order_id,
            self.exchange_order_id,
            self.parent_order_id,
            self.signal_id,
            self.strategy,
            self.account,
            self.venue,
            self.symbol,
            self.record,
            self.text,
        )

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
            if type(value) is str:
                text.append(value)
            else:
                _strings(value, text)
    get = record.get
    return IndexRow(
        origin,
        seq,
        leaf_hash_hex(line),
        str(get("prev", "")),
        ts,
        _str(get("event_ts")),
        event_type,
        event_type.split(".", 1)[0],
        str(get("event_id", "")),
        _str(get("actor")),
        _str(get("priority")),
        _str(get("correlation_id")),
        _str(get("order_id")),
        _str(get("client_order_id")),
        _str(get("exchange_order_id")),
        _str(get("parent_order_id")),
        _str(get("signal_id")),
        _str(get("strategy")),
        _str(get("account")),
        _str(get("venue")),
        _str(get("symbol")),
        line.decode("utf-8"),
        " ".join(text),
    )


def _str(value: Any) -> str | None:
    return value if type(value) is str else None
