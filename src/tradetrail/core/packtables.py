"""The derived files of a daily pack, computed from the day's journal lines in one pass.

`DayTables` takes the day's records in seq order and writes orders.csv, fills.csv, blotter.csv,
positions.csv, nav.csv, corrections.csv, alerts.jsonl, risk_events.jsonl, access.jsonl,
config_snapshot.json and config.diff. The exporter and `verify-pack` run this same code (the
exporter over the journal, the verifier over the pack's events.jsonl) and compare bytes, so every
row of every derived file is checked against the events it came from.

Packs are signed evidence kept for years, so the files of every pack format stay reproducible:
`DayTables(..., version=1)` writes what format 1 (`tradetrail.daily-pack/1`) held, byte for
byte: no corrections.csv, and nav.csv and positions.csv cells neutralised twice (`''=x`).

Formats (a public contract, see the pack's README):

* CSV: RFC 4180 (CRLF line ends, fields quoted only when needed, quotes doubled), UTF-8 without
  a BOM, a fixed header row, one fixed column order per file. Decimals are written exactly as the
  events hold them (they are decimal strings); computed amounts (the blotter's gross amount)
  are exact products, never rounded. Times are as the events hold them (RFC 3339 UTC).
* Spreadsheet safety: a cell that starts with `=`, `+`, `-`, `@`, a tab, a carriage return or a
  single quote gets one single quote (`'`) put in front, unless the whole cell is a plain number
  (`-506.7`, `+3`, `1.5E-7`: sign, digits, optional fraction and exponent), which no spreadsheet
  runs as a formula. The original value is the cell without its first character whenever the
  cell starts with a single quote; no other cell is changed.
* JSON Lines files hold the day's journal lines of their events, byte for byte.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import hashlib
import itertools
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal, Inexact, InvalidOperation
from pathlib import Path
from typing import IO, Any, Final, NamedTuple

import orjson

__all__ = [
    "ACCESS_PREFIX",
    "BLOTTER_COLUMNS",
    "CSV_COLUMNS",
    "DERIVED_FILES",
    "FILLS_COLUMNS",
    "NAV_COLUMNS",
    "ORDERS_COLUMNS",
    "PACK_VERSION",
    "PACK_VERSIONS",
    "POSITIONS_COLUMNS",
    "VERSION_CSV_COLUMNS",
    "DayTables",
    "FileInfo",
    "Sink",
    "cell",
    "check_version",
    "micro",
    "neutralise",
    "pad",
]

SORT: Final = orjson.OPT_SORT_KEYS
PRETTY: Final = orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE

# ------------------------------------------------------------------------------ columns

ENVELOPE_ORDER_IDS: Final = (
    "order_id",
    "client_order_id",
    "exchange_order_id",
    "parent_order_id",
)
ORDER_DATA: Final = (
    "side",
    "order_type",
    "time_in_force",
    "qty",
    "price",
    "stop_price",
    "new_qty",
    "new_price",
    "remaining_qty",
    "filled_qty",
    "status",
    "reason",
)
ORDERS_COLUMNS: Final = (
    "seq",
    "ts",
    "event_ts",
    "type",
    *ENVELOPE_ORDER_IDS,
    "account",
    "strategy",
    "symbol",
    "venue",
    "actor",
    *ORDER_DATA,
    "event_id",
    "other",
)
FILL_DATA: Final = (
    "side",
    "fill_qty",
    "fill_price",
    "cum_qty",
    "remaining_qty",
    "avg_price",
    "fee",
    "fee_currency",
    "liquidity",
)
FILLS_COLUMNS: Final = (
    "seq",
    "ts",
    "event_ts",
    "type",
    "order_id",
    "client_order_id",
    "exchange_order_id",
    "trade_id",
    "account",
    "strategy",
    "symbol",
    "venue",
    *FILL_DATA,
    "event_id",
    "other",
)
BLOTTER_COLUMNS: Final = (
    "trade_date",
    "trade_time",
    "symbol",
    "side",
    "quantity",
    "price",
    "gross_amount",
    "fees",
    "fee_currency",
    "currency",
    "account",
    "venue",
    "counterparty",
    "order_id",
    "client_order_id",
    "exchange_order_id",
    "execution_id",
    "liquidity",
    "settlement_date",
    "strategy",
    "event_type",
    "seq",
    "recorded_at",
)
POSITION_DATA: Final = (
    "qty",
    "avg_price",
    "mark_price",
    "market_value",
    "unrealized_pnl",
    "realized_pnl",
    "leverage",
    "liquidation_price",
    "margin_type",
)
POSITIONS_COLUMNS: Final = (
    "account",
    "symbol",
    *POSITION_DATA,
    "currency",
    "as_of",
    "strategy",
    "seq",
    "ts",
    "event_id",
)
NAV_DATA: Final = (
    "currency",
    "cash",
    "positions_at_mark",
    "fees",
    "accruals",
    "nav",
    "shares_outstanding",
    "nav_per_share",
    "pricing_source",
)
_NAV_TEXT: Final = ("currency", "pricing_source")
NAV_COLUMNS: Final = (
    "seq",
    "ts",
    "as_of",
    "account",
    "strategy",
    *NAV_DATA,
    "event_id",
)
CORRECTIONS_COLUMNS: Final = (
    "seq",
    "ts",
    "actor",
    "approved_by",
    "reason",
    "corrects_seq",
    "corrects_event_id",
    "field",
    "corrected_value",
    "event_id",
)
"""One row per corrected field of a compliance.record_corrected event: records are never
edited, so a correction is a later record that names the one it corrects (17a-4(f))."""
CSV_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "orders.csv": ORDERS_COLUMNS,
    "fills.csv": FILLS_COLUMNS,
    "blotter.csv": BLOTTER_COLUMNS,
    "positions.csv": POSITIONS_COLUMNS,
    "nav.csv": NAV_COLUMNS,
    "corrections.csv": CORRECTIONS_COLUMNS,
}
"""The CSV files of the current pack format and their columns (see VERSION_CSV_COLUMNS)."""
JSONL_FILES: Final = ("alerts.jsonl", "risk_events.jsonl", "access.jsonl")

PACK_VERSION: Final = 3
"""The daily pack format that DayTables writes unless told otherwise (tradetrail.daily-pack/3)."""
PACK_VERSIONS: Final = (1, 2, 3)
"""Every daily pack format that DayTables can write again byte for byte (so verify-pack can
check packs made in it). Version 1 has no corrections.csv, and in nav.csv and positions.csv a
cell starting with a trigger character got two single quotes (`''=x`) instead of one. Version 2
wrote times and decimals as recorded and filled the blotter from the execution's event alone;
version 3 joins the blotter with the order and the instrument (see `DayTables`), writes CSV
times in microseconds and pads decimals to one scale per column and instrument."""
VERSION_CSV_COLUMNS: Final[dict[int, dict[str, tuple[str, ...]]]] = {
    1: {name: cols for name, cols in CSV_COLUMNS.items() if name != "corrections.csv"},
    2: CSV_COLUMNS,
    3: CSV_COLUMNS,
}
"""The CSV files of each pack format and their columns, in the order DayTables writes them."""
DERIVED_FILES: Final[dict[int, tuple[str, ...]]] = {
    version: (*columns, *JSONL_FILES, "config_snapshot.json", "config.diff")
    for version, columns in VERSION_CSV_COLUMNS.items()
}
"""Every file DayTables writes in each pack format, in the order it writes them."""


def check_version(version: int) -> int:
    """`version` when it is a pack format DayTables writes, else ValueError."""
    if version not in PACK_VERSIONS:
        known = ", ".join(str(v) for v in PACK_VERSIONS)
        raise ValueError(f"daily pack format {version!r} is not one of {known}")
    return version


ORDER_TYPES: Final = frozenset(
    {
        "order.submitted",
        "order.accepted",
        "order.rejected",
        "order.replaced",
        "order.cancel_requested",
        "order.cancelled",
        "order.expired",
        "order.stop_updated",
    }
)
FILL_TYPES: Final = frozenset({"order.filled", "order.partially_filled"})
INSTRUMENT_TYPE: Final = "instrument.defined"
REFERENCE_TYPES: Final = frozenset({"order.submitted", INSTRUMENT_TYPE})
"""Records from before a day that its blotter (format 3) joins: the order of an execution and
the instrument's reference data (see proofs.json `reference_records`)."""
TRADE_TYPE: Final = "trade.executed"
CORRECTION_TYPE: Final = "compliance.record_corrected"
RISK_PREFIX: Final = "risk."
ACCESS_PREFIX: Final = "auth."

# ------------------------------------------------------------------------------ cells

_TRIGGERS: Final = frozenset("=+-@\t\r'")
_NUMBER: Final = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def neutralise(text: str) -> str:
    """The cell as a spreadsheet may safely open it (see the module docstring for the rule)."""
    if text and text[0] in _TRIGGERS and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def cell(value: Any) -> str:
    """A JSON value as one CSV cell: strings as they are, integers in decimal, booleans as
    true/false, absent as empty, objects and lists as canonical JSON; then neutralised."""
    kind = type(value)
    if kind is str:
        return neutralise(value)
    if value is None:
        return ""
    if kind is int:
        return str(value)
    if kind is bool:
        return "true" if value else "false"
    return neutralise(orjson.dumps(value, option=SORT).decode())


def _row(values: Iterable[Any]) -> list[str]:
    """Cells of values: `cell` of each, with a fast path for the usual plain string."""
    return [v if v.__class__ is str and v[:1] not in _TRIGGERS else cell(v) for v in values]


_EXACT: Final = Context(prec=4000, traps=[Inexact, InvalidOperation])


def _plain(text: str) -> bool:
    """A plain unsigned decimal (ASCII digits, at most one point), checked cheaply."""
    return text.isascii() and text.replace(".", "", 1).isdigit() and text[-1] != "."


def exact_product(qty: Any, price: Any) -> str:
    """qty x price exactly, as a plain decimal string; empty when either is not a decimal
    string (a record kept with a schema error) or the product is not exact."""
    if type(qty) is not str or type(price) is not str:
        return ""
    if not (_plain(qty) and _plain(price)) and not (
        _NUMBER.fullmatch(qty) and _NUMBER.fullmatch(price)
    ):
        return ""
    try:
        product = _EXACT.multiply(Decimal(qty), Decimal(price))
    except (Inexact, InvalidOperation):
        return ""
    text = str(product)
    return text if "E" not in text else format(product, "f")


# ------------------------------------------------------------------------------ sinks


@dataclass(frozen=True)
class FileInfo:
    """One file of a pack as the manifest lists it."""

    name: str
    sha256: str
    size: int
    rows: int | None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "size": self.size, "rows": self.rows}


class Sink:
    """A file being written, hashed and counted as it goes: text (`write`, for csv), whole
    lines (`write_line`) or bytes, buffered and hashed in large pieces. With no directory
    nothing is written: the bytes are only hashed and counted."""

    __slots__ = ("_buffer", "_fh", "_lines", "_sha", "name", "rows", "size")

    def __init__(self, directory: Path | None, name: str) -> None:
        self.name = name
        self._fh = open(directory / name, "wb") if directory is not None else None  # noqa: SIM115
        self._sha = hashlib.sha256()
        self._buffer: list[str] = []
        self._lines: list[bytes] = []
        self.size = 0
        self.rows = 0

    def write(self, text: str) -> None:
        self._buffer.append(text)
        if len(self._buffer) >= 2048:
            self._flush()

    def write_line(self, line: bytes) -> None:
        """Write `line` and a newline."""
        self._lines.append(line)
        if len(self._lines) >= 2048:
            self._flush()

    def write_bytes(self, data: bytes) -> None:
        self._flush()
        self._put(data)

    def _put(self, data: bytes) -> None:
        self._sha.update(data)
        if self._fh is not None:
            self._fh.write(data)
        self.size += len(data)

    def _flush(self) -> None:
        if self._buffer:
            data = "".join(self._buffer).encode("utf-8")
            self._buffer.clear()
            self._put(data)
        if self._lines:
            self._lines.append(b"")
            data = b"\n".join(self._lines)
            self._lines.clear()
            self._put(data)

    def close(self, rows: int | None) -> FileInfo:
        self._flush()
        if self._fh is not None:
            self._fh.close()
        return FileInfo(self.name, self._sha.hexdigest(), self.size, rows)

    def abort(self) -> None:
        if self._fh is not None:
            self._fh.close()


_TRIGGER_AFTER_COMMA: Final = re.compile(",[=+\\-@\t\r']")
_EMPTY: Final = itertools.repeat("")
_UNKNOWN: Final[Any] = object()
"""With map(dict.get, names, _EMPTY): each value, or "" when absent."""


def _quoted(text: str) -> str:
    """One cell as RFC 4180 writes it: in quotes, quotes doubled, when it needs them."""
    if '"' in text or "," in text or "\n" in text or "\r" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


class _CsvTable:
    """One CSV file. A row is joined directly when its cells hold no comma, quote or line
    break, but for the last cell of tables whose last column is JSON (`other`), which is quoted
    on its own; the result is what the csv module writes, and it writes every other row."""

    __slots__ = ("_commas", "_json_last", "_write", "_writerow", "columns", "sink")

    def __init__(self, directory: Path | None, name: str, columns: Sequence[str]) -> None:
        self.sink = Sink(directory, name)
        self.columns = tuple(columns)
        writer = csv.writer(self.sink, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        self._writerow: Callable[[Iterable[str]], Any] = writer.writerow
        self._write = self.sink.write
        self._json_last = self.columns[-1] == "other"
        self._commas = len(self.columns) - 1 - self._json_last
        self._writerow(self.columns)

    def add(self, values: list[Any]) -> None:
        """Write a row of JSON values (see `cell`); absent ones may be given as "". In a table
        whose last column is `other`, the last value is that cell, already made."""
        last = values.pop() if self._json_last else None
        try:
            line = ",".join(values)
        except TypeError:  # not all strings: the general path
            cells = _row(values)
            line = ",".join(cells)
        else:
            cells = values
            if line[:1] in _TRIGGERS or _TRIGGER_AFTER_COMMA.search(line):
                cells = [neutralise(c) if c[:1] in _TRIGGERS else c for c in cells]
                line = ",".join(cells)
        if line.count(",") == self._commas and not ('"' in line or "\n" in line or "\r" in line):
            if last is not None:
                line += "," + _quoted(last)
            self._write(line + "\r\n")
        else:
            if last is not None:
                cells.append(last)
            self._writerow(cells)
        self.sink.rows += 1

    def close(self) -> FileInfo:
        return self.sink.close(self.sink.rows)


class _JsonlTable:
    __slots__ = ("sink",)

    def __init__(self, directory: Path | None, name: str) -> None:
        self.sink = Sink(directory, name)

    def add(self, line: bytes) -> None:
        self.sink.write_line(line)
        self.sink.rows += 1

    def close(self) -> FileInfo:
        return self.sink.close(self.sink.rows)


# ------------------------------------------------------------------------------ format 3 cells

_TIME: Final = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]+))?(Z|[+-][0-9]{2}:[0-9]{2})"
)


def micro(text: str) -> str:
    """An RFC 3339 time with exactly six fraction digits (microseconds), which spreadsheets
    parse: longer fractions are truncated (never rounded up, so rows keep their order), shorter
    ones padded with zeros; the zone is kept as recorded. Anything else is left as it is."""
    size = len(text)
    common = size in (27, 30) and text[-1] == "Z" and text[19] == "." and text[10] == "T"
    if common and text[20:-1].isdigit() and text[:4].isdigit():  # microseconds or nanoseconds
        return text if size == 27 else text[:26] + "Z"
    match = _TIME.fullmatch(text)
    if match is None:
        return text
    head, fraction, zone = match.groups()
    return f"{head}.{((fraction or '') + '000000')[:6]}{zone}"


_PLAIN_DECIMAL: Final = re.compile(r"[+-]?[0-9]+(?:\.([0-9]+))?")


def _scale(text: str) -> int:
    """The number of fraction digits of a plain decimal (sign, digits, optional fraction); -1
    for anything else (an exponent, a word), which is left as it is."""
    match = _PLAIN_DECIMAL.fullmatch(text)
    if match is None:
        return -1
    return len(match.group(1) or "")


def pad(text: str, scale: int) -> str:
    """A plain decimal with zeros added to `scale` fraction digits; the value is unchanged."""
    point = text.find(".")
    if point >= 0 and len(text) - point - 1 >= scale:
        return text  # as many fraction digits already (or not a plain decimal): as it is
    have = _scale(text)
    if have < 0 or have >= scale:
        return text
    return text + ("." if have == 0 else "") + "0" * (scale - have)


class _ShapedCsvTable:
    """A CSV file of format 3: time columns in microseconds (`micro`), and each decimal column
    padded to one scale per group (the instrument, or nav's currency): the most fraction digits
    any of the group's values has in that column. The scale is known only at the end of the
    day, so rows wait, in a temporary file beyond a few thousand: memory stays flat."""

    __slots__ = ("_decimals", "_digits", "_group", "_rows", "_spill", "_table", "_times", "sink")

    def __init__(
        self,
        directory: Path | None,
        name: str,
        columns: Sequence[str],
        shape: tuple[tuple[str, ...], tuple[str, ...], str],
    ) -> None:
        times, decimals, group = shape
        self._table = _CsvTable(directory, name, columns)
        self.sink = self._table.sink
        self._times = tuple(columns.index(c) for c in times)
        self._decimals = tuple(columns.index(c) for c in decimals)
        self._group = columns.index(group)
        # (decimal column, group): [its scale, the fewest digits after a point of its values]
        self._digits: dict[tuple[int, str], list[int]] = {}
        self._rows: list[list[Any]] = []
        self._spill: IO[bytes] | None = None

    def add(self, values: list[Any]) -> None:
        for i in self._times:
            value = values[i]
            if value.__class__ is str:
                values[i] = micro(value)
        group = values[self._group]
        key = group if group.__class__ is str else cell(group)
        digits = self._digits
        for i in self._decimals:
            value = values[i]
            if value.__class__ is str and value:
                point = value.find(".")
                after = len(value) - point - 1 if point >= 0 else 0  # digits after the point
                seen = digits.get((i, key))
                if seen is None:
                    seen = digits[(i, key)] = [0, after]
                # Only a value with more digits after its point than the scale so far can
                # raise it, so only such a value is checked for being a plain decimal.
                if after > seen[0]:
                    scale = _scale(value)
                    if scale > seen[0]:
                        seen[0] = scale
                if after < seen[1]:
                    seen[1] = after
        self._rows.append(values)
        if len(self._rows) >= 4096:
            self._spill_rows()

    def _spill_rows(self) -> None:
        if self._spill is None:
            self._spill = tempfile.TemporaryFile(prefix="tradetrail-rows-")  # noqa: SIM115
        self._spill.write(orjson.dumps(self._rows) + b"\n")
        self._rows = []

    def _batches(self) -> Iterator[list[list[Any]]]:
        if self._spill is None:
            yield self._rows
            return
        self._spill_rows()
        self._spill.seek(0)
        for line in self._spill:
            yield orjson.loads(line)

    def close(self) -> FileInfo:
        add, group, padding = self._table.add, self._group, self._padding()
        try:
            for rows in self._batches():
                for row in rows:
                    value = row[group]
                    key = value if value.__class__ is str else cell(value)
                    for i, scale in padding.get(key, ()):
                        if row[i].__class__ is str:
                            row[i] = pad(row[i], scale)
                    add(row)
        finally:
            if self._spill is not None:
                self._spill.close()
        return self._table.close()

    def _padding(self) -> dict[str, list[tuple[int, int]]]:
        """For each group, the (column, scale) pairs its rows are padded to: only the columns
        where a value has fewer digits after its point than the scale (a value with as many
        or more is left as it is by `pad`)."""
        padding: dict[str, list[tuple[int, int]]] = {}
        for (i, key), (scale, fewest) in self._digits.items():
            if fewest < scale:
                padding.setdefault(key, []).append((i, scale))
        return padding

    def abort(self) -> None:
        if self._spill is not None:
            self._spill.close()
        self.sink.abort()


_SHAPES: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...], str]]] = {
    "orders.csv": (
        ("ts", "event_ts"),
        ("qty", "price", "stop_price", "new_qty", "new_price", "remaining_qty", "filled_qty"),
        "symbol",
    ),
    "fills.csv": (
        ("ts", "event_ts"),
        ("fill_qty", "fill_price", "cum_qty", "remaining_qty", "avg_price", "fee"),
        "symbol",
    ),
    "blotter.csv": (
        ("trade_time", "recorded_at"),
        ("quantity", "price", "gross_amount", "fees"),
        "symbol",
    ),
    "positions.csv": (("as_of", "ts"), POSITION_DATA[:-1], "symbol"),
    "nav.csv": (("ts", "as_of"), tuple(c for c in NAV_DATA if c not in _NAV_TEXT), "currency"),
    "corrections.csv": (("ts",), (), "field"),
}
"""Format 3 shaping of each CSV file: (time columns, decimal columns, the column whose value
groups a decimal column's scale)."""


def _other(data: dict[str, Any], shown: frozenset[str]) -> str:
    """The `other` cell: the data fields without a column of their own, as canonical JSON."""
    extra = data.keys() - shown
    if not extra:
        return ""
    return neutralise(orjson.dumps({k: data[k] for k in extra}, option=SORT).decode())


def _data(rec: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The record's data as a dict, and the `other` cell for data that is not an object."""
    data = rec.get("data")
    if type(data) is dict:
        return data, ""
    if data is None:
        return {}, ""
    return {}, cell(data)


def _date_of(ts: Any) -> str:
    return ts[:10] if type(ts) is str else ""


# ------------------------------------------------------------------------------ configuration


def canonical_hash(value: Any) -> str:
    """`sha256:` + hex SHA-256 of the canonical JSON (sorted keys, no spaces) of value."""
    return "sha256:" + hashlib.sha256(orjson.dumps(value, option=SORT)).hexdigest()


def _set_key(content: dict[str, Any], key: str, value: Any) -> None:
    """Set a key of the configuration: a literal key when it exists (flat dotted names), else a
    dotted path into nested objects when it resolves, else a new literal key."""
    if key in content:
        content[key] = value
        return
    parts = key.split(".")
    node: Any = content
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            content[key] = value
            return
    node[parts[-1]] = value


def _get_key(content: dict[str, Any], key: str) -> tuple[bool, Any]:
    if key in content:
        return True, content[key]
    node: Any = content
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _copy(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


def _render_config(value: Any) -> list[str]:
    return orjson.dumps(value, option=PRETTY).decode().splitlines(keepends=True)


def _text(value: Any) -> str:
    """A free-text value for a one-line header of config.diff (JSON-quoted: no newlines)."""
    return orjson.dumps(value).decode()


DocumentLoader = Callable[[str], Any]
"""document(hash): the stored snapshot document whose SHA-256 is `hash`, or None."""


def _file_level(content: Any) -> bool:
    """A snapshot taken by `tradetrail snapshot` (tradetrail.compliance.snapshots): its content
    lists the
    configuration files (paths, sizes, SHA-256) and the document with their (redacted) text is
    stored by hash in `<home>/snapshots/`."""
    return (
        isinstance(content, dict)
        and isinstance(content.get("snapshot_id"), str)
        and isinstance(content.get("files"), list)
    )


class ConfigTracker:
    """The configuration in force: the newest config.snapshot, with each later config.changed
    applied to it where the change says the new values (keys + new_value). A file-level
    snapshot (see `_file_level`) is not changed by key: its changes are listed, and its stored
    document (the files' redacted text) is included when `documents` finds it."""

    def __init__(self, date: str, documents: DocumentLoader | None = None) -> None:
        self.date = date
        self.documents = documents
        self.snapshot: dict[str, Any] | None = None
        self.content: dict[str, Any] | None = None
        self.changes: list[dict[str, Any]] = []
        self.diff: list[str] = []
        self.day_changes = 0

    def add(self, rec: dict[str, Any], in_day: bool) -> None:
        kind = rec.get("type")
        data = rec.get("data")
        if type(data) is not dict:
            data = {}
        if kind == "config.snapshot":
            self._snapshot(rec, data)
        elif kind == "config.changed":
            self._changed(rec, data, in_day)

    def _snapshot(self, rec: dict[str, Any], data: dict[str, Any]) -> None:
        content = data.get("content")
        self.content = _copy(content) if isinstance(content, dict) else None
        self.snapshot = {
            "seq": rec.get("seq"),
            "ts": rec.get("ts"),
            "event_id": rec.get("event_id"),
            "actor": rec.get("actor"),
            "path": data.get("path"),
            "version": data.get("version"),
            "hash": data.get("hash"),
            "content_hash": canonical_hash(content) if isinstance(content, dict) else None,
            "has_content": isinstance(content, dict),
        }
        if _file_level(content):
            self.snapshot["kind"] = "files"
        self.changes = []

    def _apply(self, data: dict[str, Any]) -> tuple[bool, str | None]:
        """Apply a change to the content in force; (applied, why not / what to know)."""
        if self.snapshot is None or self.content is None:
            why = "no config.snapshot with content before this change"
            return False, why
        if self.snapshot.get("kind") == "files":
            return False, "the snapshot lists files (tradetrail snapshot): the change is noted"
        snap_path = self.snapshot.get("path")
        path = data.get("path")
        if snap_path is not None and path != snap_path:
            return False, f"changes {_text(path)}, not the snapshot's {_text(snap_path)}"
        keys = data.get("keys")
        if "new_value" not in data:
            return False, "the change does not record new_value"
        new = data["new_value"]
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
            if isinstance(new, dict) and snap_path is not None:
                self.content = _copy(new)
                return True, "no keys: new_value taken as the whole configuration"
            return False, "the change names no keys"
        if len(keys) == 1:
            updates = {keys[0]: new}
        elif isinstance(new, dict) and all(k in new for k in keys):
            updates = {k: new[k] for k in keys}
        else:
            return False, "several keys, but new_value does not hold a value for each"
        note = None
        old = data.get("old_value")
        if "old_value" in data:
            olds = {keys[0]: old} if len(keys) == 1 else old if isinstance(old, dict) else {}
            for key in updates:
                found, current = _get_key(self.content, key)
                if key in olds and (not found or current != olds[key]):
                    note = f"old_value of {key} differs from the configuration in force"
        for key, value in updates.items():
            _set_key(self.content, key, _copy(value))
        return True, note

    def _changed(self, rec: dict[str, Any], data: dict[str, Any], in_day: bool) -> None:
        before = _copy(self.content) if self.content is not None else None
        applied, note = self._apply(data)
        entry: dict[str, Any] = {
            "seq": rec.get("seq"),
            "ts": rec.get("ts"),
            "event_id": rec.get("event_id"),
            "actor": rec.get("actor"),
            "on_this_day": in_day,
            "applied": applied,
        }
        for name in (
            "path",
            "keys",
            "old_value",
            "new_value",
            "old_hash",
            "new_hash",
            "reason",
            "approved_by",
            "ticket",
        ):
            if name in data:
                entry[name] = data[name]
        if note:
            entry["note"] = note
        if applied and self.content is not None:
            entry["content_hash_after"] = canonical_hash(self.content)
        self.changes.append(entry)
        if in_day:
            self.day_changes += 1
            self._diff(rec, data, before if applied else None, note)

    def _diff(
        self, rec: dict[str, Any], data: dict[str, Any], before: Any, note: str | None
    ) -> None:
        seq = rec.get("seq")
        label = data.get("path") if isinstance(data.get("path"), str) else "configuration"
        out = self.diff
        out.append("\n")
        out.append(f"# seq {seq} at {_text(rec.get('ts'))} by {_text(rec.get('actor'))}\n")
        for name in ("path", "keys", "reason", "approved_by", "ticket", "old_hash", "new_hash"):
            if name in data:
                out.append(f"# {name}: {_text(data[name])}\n")
        if note:
            out.append(f"# note: {note}\n")
        if before is not None and self.content is not None:
            old_lines, new_lines = _render_config(before), _render_config(self.content)
            what = "the configuration"
        else:
            old_lines = _render_config(data.get("old_value"))
            new_lines = _render_config(data.get("new_value"))
            what = "old_value and new_value only"
            out.append("# shown: old_value and new_value (the change was not applied)\n")
        diff = list(
            difflib.unified_diff(
                old_lines,
                new_lines,
                fromfile=f"{label} (before seq {seq})",
                tofile=f"{label} (after seq {seq})",
            )
        )
        if not diff:
            out.append(f"# no difference in {what}\n")
        for line in diff:
            out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")

    def snapshot_json(self) -> dict[str, Any]:
        if self.snapshot is None:
            status = "no_snapshot"
            note = (
                "the trail holds no config.snapshot at or before the end of this day: the "
                "configuration in force is unknown; the changes recorded are listed as they are"
            )
        elif self.content is None:
            status = "snapshot_without_content"
            note = "the newest config.snapshot records a hash but not the content"
        else:
            status = "ok"
            note = (
                "in_force is the newest config.snapshot at or before the end of the day with "
                "every later config.changed (listed in changes_since_snapshot) applied"
            )
        out = {
            "date": self.date,
            "status": status,
            "note": note,
            "snapshot": self.snapshot,
            "changes_since_snapshot": self.changes,
            "in_force": self.content,
            "in_force_hash": canonical_hash(self.content) if self.content is not None else None,
        }
        if self.snapshot is not None and self.snapshot.get("kind") == "files":
            digest = self.snapshot.get("hash")
            document = self.documents(digest) if self.documents and type(digest) is str else None
            out["document"] = document
            out["note"] = (
                "in_force lists the configuration files of the newest config.snapshot at or "
                "before the end of the day; `document` is the stored snapshot document (the "
                "files' text, secrets redacted), whose SHA-256 of its canonical JSON is the "
                "snapshot's hash"
                if document is not None
                else "in_force lists the configuration files of the newest config.snapshot; "
                "its stored document (the files' text) was not found in the trail"
            )
        return out

    def diff_text(self) -> str:
        head = [
            f"# config.diff: configuration changes recorded on {self.date} (UTC): "
            f"{self.day_changes}\n",
            "# For each config.changed event: who, why, and a unified diff of the configuration\n",
            "# (canonical JSON, sorted keys) just before and just after the change.\n",
        ]
        if not self.day_changes:
            head.append("# No configuration change was recorded on this day.\n")
        return "".join(head + self.diff)


# ------------------------------------------------------------------------------ the tables


def _value(value: Any) -> str:
    """A value as the row writer takes it: strings as they are (the writer neutralises each
    cell once), absent as empty, anything else as `cell` renders it."""
    if type(value) is str:
        return value
    return "" if value is None else cell(value)


def _cells(
    source: dict[str, Any], names: Sequence[str], value: Callable[[Any], str] = _value
) -> list[str]:
    return [value(source.get(name)) for name in names]


class DayTables:
    """Writes the derived files of one day into `directory` (None: only hashes them) from the
    day's journal lines, fed in seq order with `add_line`; `prior` are the journal lines
    before the day that the configuration in force depends on (its snapshot and the changes
    after it). `version` is the pack format to write (see PACK_VERSIONS): an older one
    reproduces the files of packs made in it exactly, so that verify-pack can check them."""

    def __init__(
        self,
        directory: Path | None,
        date: str,
        prior: Sequence[bytes] = (),
        documents: DocumentLoader | None = None,
        *,
        version: int = PACK_VERSION,
    ) -> None:
        self.date = date
        self.version = check_version(version)
        # Format 1 put each nav and position value through `cell` and the row writer, which
        # both neutralise: a cell "=x" became "''=x". Kept for format 1 only.
        self._nav_value: Callable[[Any], str] = cell if version == 1 else _value
        self._counts: dict[bytes, int] = {}
        self._odd_counts: dict[str, int] = {}
        self.orders = 0
        self.executions = 0
        self._sides: dict[str, str] = {}
        self._executions_seen: set[tuple[str, str]] = set()
        self._positions: dict[tuple[str, str], list[str]] = {}
        self._config = ConfigTracker(date, documents)
        self._join = version >= 3
        self._order_facts: dict[str, _OrderFacts] = {}
        self._instruments: dict[str, dict[str, Any]] = {}
        self._settlements: dict[tuple[str, str], str] = {}
        for line in prior:
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if type(rec) is not dict:
                continue
            kind = rec.get("type")
            if self._join and kind == "order.submitted":
                self._remember_order(rec, _data(rec)[0])
            elif self._join and kind == INSTRUMENT_TYPE:
                self._instrument(line, rec)
            else:
                self._config.add(rec, in_day=False)
        self._csv: dict[str, _CsvTable | _ShapedCsvTable] = {
            name: _ShapedCsvTable(directory, name, cols, _SHAPES[name])
            if self._join
            else _CsvTable(directory, name, cols)
            for name, cols in VERSION_CSV_COLUMNS[version].items()
        }
        self._orders_csv = self._csv["orders.csv"]
        self._fills_csv = self._csv["fills.csv"]
        self._blotter_csv = self._csv["blotter.csv"]
        self._jsonl = {name: _JsonlTable(directory, name) for name in JSONL_FILES}
        self._directory = directory
        self._line_handlers: dict[bytes, Callable[[bytes], None] | None] = {}

    # dispatch ---------------------------------------------------------------------

    def _handler(self, kind: Any) -> tuple[bool, Callable[..., None]] | None:
        """(parsed, handler): parsed handlers take (line, record), raw ones the line only."""
        if kind in ORDER_TYPES:
            return True, self._order
        if kind in FILL_TYPES:
            return True, self._fill
        if kind == TRADE_TYPE:
            return True, self._trade
        if kind == "portfolio.position_snapshot":
            return True, self._position_snapshot
        if kind == "portfolio.nav_computed":
            return True, self._nav
        if kind in ("config.snapshot", "config.changed"):
            return True, self._config_event
        if kind == CORRECTION_TYPE and self.version >= 2:
            return True, self._correction
        if kind == INSTRUMENT_TYPE and self._join:
            return True, self._instrument
        if kind == "alert.sent":
            return False, self._jsonl["alerts.jsonl"].add
        if type(kind) is str and kind.startswith(RISK_PREFIX):
            return False, self._jsonl["risk_events.jsonl"].add
        if type(kind) is str and kind.startswith(ACCESS_PREFIX):
            return False, self._jsonl["access.jsonl"].add
        return None

    def _line_handler(self, kind: str) -> Callable[[bytes], None] | None:
        found = self._handler(kind)
        if found is None:
            return None
        parsed, handler = found
        if not parsed:
            return handler
        loads = orjson.loads

        def parse_then(line: bytes) -> None:
            try:
                rec = loads(line)
            except orjson.JSONDecodeError:
                return  # verify-pack reports the line; it has no row
            if type(rec) is dict:
                handler(line, rec)

        return parse_then

    def add_line(self, line: bytes) -> None:
        """Take the day's next journal line (see `add_lines`)."""
        self.add_lines((line,))

    def add_lines(self, lines: Iterable[bytes]) -> None:
        """Take the day's next journal lines, in order. A line's type is read from its bytes
        (in a canonical line the top-level "type" is the last key but "venue"), so only the
        lines a table needs are parsed."""
        counts = self._counts
        handlers = self._line_handlers
        for line in lines:
            i = line.rfind(b',"type":"') + 9
            j = line.find(b'"', i) if i >= 9 else -1
            key = line[i:j] if j >= 0 else b"\\"
            if b"\\" in key:
                self._add_parsed(line)
                continue
            counts[key] = counts.get(key, 0) + 1
            handler = handlers.get(key, _UNKNOWN)
            if handler is _UNKNOWN:
                handler = handlers[key] = self._line_handler(key.decode("utf-8", "replace"))
            if handler is not None:
                handler(line)

    def _add_parsed(self, line: bytes) -> None:
        """A line whose type the bytes do not show plainly: parse it."""
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError:
            rec = None
        kind = rec.get("type") if type(rec) is dict else None
        name = kind if type(kind) is str else repr(kind)
        self._odd_counts[name] = self._odd_counts.get(name, 0) + 1
        found = self._handler(kind)
        if found is None or rec is None:
            return
        parsed, handler = found
        if parsed:
            handler(line, rec)
        else:
            handler(line)

    @property
    def counts(self) -> dict[str, int]:
        """Records by type."""
        out = dict(self._odd_counts)
        for key, n in self._counts.items():
            name = key.decode("utf-8", "replace")
            out[name] = out.get(name, 0) + n
        return out

    # handlers ---------------------------------------------------------------------

    def _order(self, line: bytes, rec: dict[str, Any]) -> None:
        data, other = _data(rec)
        get = rec.get
        if get("type") == "order.submitted":
            self.orders += 1
            order_id, side = get("order_id"), data.get("side")
            if type(order_id) is str and type(side) is str:
                self._sides[order_id] = side
            if self._join:
                self._remember_order(rec, data)
        elif self._join and get("exchange_order_id"):  # the venue's id, from its answer
            order_id = get("order_id")
            facts = self._order_facts.get(order_id) if type(order_id) is str else None
            if facts is not None and not facts.exchange_order_id:
                self._order_facts[str(order_id)] = facts._replace(
                    exchange_order_id=get("exchange_order_id")
                )
        cells = list(map(get, _ORDER_ENVELOPE, _EMPTY))
        if type(cells[0]) is int:
            cells[0] = str(cells[0])
        cells += map(data.get, ORDER_DATA, _EMPTY)
        cells.append(get("event_id", ""))
        cells.append(other or _other(data, _ORDER_SHOWN))
        self._orders_csv.add(cells)

    def _side(self, rec: dict[str, Any], data: dict[str, Any]) -> Any:
        side = data.get("side")
        if side is None:
            order_id = rec.get("order_id")
            side = self._sides.get(order_id, "") if type(order_id) is str else ""
        return side

    def _fill(self, line: bytes, rec: dict[str, Any]) -> None:
        data, other = _data(rec)
        get, dget = rec.get, data.get
        cells = list(map(get, _FILL_ENVELOPE, _EMPTY))
        seq = cells[0]
        if type(seq) is int:
            cells[0] = str(seq)
        trade_id = dget("trade_id", "")
        cells.append(trade_id)
        cells += map(get, _FILL_ENVELOPE_2, _EMPTY)
        cells += map(dget, FILL_DATA, _EMPTY)
        cells.append(get("event_id", ""))
        cells.append(other or _other(data, _FILL_SHOWN))
        self._fills_csv.add(cells)
        if not self._new_execution(rec, trade_id):
            return
        qty, price = dget("fill_qty", ""), dget("fill_price", "")
        when = get("event_ts") or get("ts", "")
        if self._join:
            self._joined_row(rec, data, _date_of(when), when, qty, price, trade_id, cells[0])
            return
        self._blotter_row(
            [
                when[:10] if type(when) is str else "",
                when,
                get("symbol", ""),
                self._side(rec, data),
                qty,
                price,
                exact_product(qty, price),
                dget("fee", ""),
                dget("fee_currency", ""),
                "",
                get("account", ""),
                get("venue", ""),
                "",
                get("order_id", ""),
                get("client_order_id", ""),
                get("exchange_order_id", ""),
                trade_id,
                dget("liquidity", ""),
                "",
                get("strategy", ""),
                get("type", ""),
                cells[0],
                get("ts", ""),
            ]
        )

    def _trade(self, line: bytes, rec: dict[str, Any]) -> None:
        data, _ = _data(rec)
        get, dget = rec.get, data.get
        trade_id = dget("trade_id", "")
        if not self._new_execution(rec, trade_id):
            return
        qty, price = dget("qty", ""), dget("price", "")
        when = get("event_ts") or get("ts", "")
        trade_date = dget("trade_date")
        seq = get("seq", "")
        if self._join:
            self._joined_row(
                rec,
                data,
                trade_date if trade_date is not None else _date_of(when),
                when,
                qty,
                price,
                trade_id,
                str(seq) if type(seq) is int else seq,
            )
            return
        self._blotter_row(
            [
                trade_date if trade_date is not None else _date_of(when),
                when,
                get("symbol", ""),
                self._side(rec, data),
                qty,
                price,
                exact_product(qty, price),
                dget("fee", ""),
                dget("fee_currency", ""),
                dget("currency", ""),
                get("account", ""),
                get("venue", ""),
                dget("counterparty", ""),
                get("order_id", ""),
                get("client_order_id", ""),
                get("exchange_order_id", ""),
                trade_id,
                dget("liquidity", ""),
                dget("settlement_date", ""),
                get("strategy", ""),
                get("type", ""),
                str(seq) if type(seq) is int else seq,
                get("ts", ""),
            ]
        )

    def _remember_order(self, rec: dict[str, Any], data: dict[str, Any]) -> None:
        """What the blotter (format 3) takes from an order.submitted for its executions."""
        order_id = rec.get("order_id")
        if type(order_id) is str:
            get = rec.get
            self._order_facts[order_id] = _OrderFacts(
                get("client_order_id", ""),
                get("exchange_order_id", ""),
                get("account", ""),
                get("strategy", ""),
                get("symbol", ""),
                get("venue", ""),
                data.get("currency", ""),
            )
            side = data.get("side")
            if type(side) is str:
                self._sides.setdefault(order_id, side)

    def _instrument(self, line: bytes, rec: dict[str, Any]) -> None:
        symbol = rec.get("symbol")
        data = rec.get("data")
        if type(symbol) is str and type(data) is dict:
            self._instruments[symbol] = data
            self._settlements = {k: v for k, v in self._settlements.items() if k[0] != symbol}

    def _joined_row(
        self,
        rec: dict[str, Any],
        data: dict[str, Any],
        trade_date: Any,
        when: Any,
        qty: Any,
        price: Any,
        execution_id: Any,
        seq: Any,
    ) -> None:
        """A blotter row of format 3: each column from the execution's event when it has it,
        else from its order's order.submitted, else from the instrument's newest
        instrument.defined; the settlement date from the event, else from the instrument's
        settlement cycle. What no event gives stays empty."""
        get, dget = rec.get, data.get
        order_id = get("order_id")
        order = self._order_facts.get(order_id) if type(order_id) is str else None
        if order is None:
            order = _NO_ORDER
        symbol = get("symbol") or order.symbol
        instrument = self._instruments.get(symbol, _NO_FACTS) if type(symbol) is str else {}
        settlement = dget("settlement_date") or self._settlement(symbol, trade_date, instrument)
        self._blotter_row(
            [
                trade_date,
                when,
                symbol,
                self._side(rec, data),
                qty,
                price,
                exact_product(qty, price),
                dget("fee", ""),
                dget("fee_currency", ""),
                dget("currency") or order.currency or instrument.get("currency", ""),
                get("account") or order.account,
                get("venue") or order.venue,
                dget("counterparty", ""),
                get("order_id", ""),
                get("client_order_id") or order.client_order_id,
                get("exchange_order_id") or order.exchange_order_id,
                execution_id,
                dget("liquidity", ""),
                settlement,
                get("strategy") or order.strategy,
                get("type", ""),
                seq,
                get("ts", ""),
            ]
        )

    def _settlement(self, symbol: Any, trade_date: Any, instrument: dict[str, Any]) -> str:
        """`_settlement_date`, worked out once per instrument and trade date (a day's
        executions share a few of each); `_instrument` forgets a redefined symbol's dates."""
        if type(symbol) is not str or type(trade_date) is not str:
            return _settlement_date(trade_date, instrument)
        key = (symbol, trade_date)
        found = self._settlements.get(key)
        if found is None:
            found = self._settlements[key] = _settlement_date(trade_date, instrument)
        return found

    def _new_execution(self, rec: dict[str, Any], execution_id: Any) -> bool:
        """False for an execution already on the blotter: one execution reported twice (a
        fill and a trade.executed with the same order and execution id) is one row."""
        if type(execution_id) is str and execution_id:
            order_id = rec.get("order_id")
            key = (order_id if type(order_id) is str else "", execution_id)
            if key in self._executions_seen:
                return False
            self._executions_seen.add(key)
        return True

    def _blotter_row(self, values: list[Any]) -> None:
        self.executions += 1
        self._blotter_csv.add(values)

    def _position_snapshot(self, line: bytes, rec: dict[str, Any]) -> None:
        data, _ = _data(rec)
        positions = data.get("positions")
        if type(positions) is not list:
            return
        value = self._nav_value
        account = rec.get("account")
        account_key = account if type(account) is str else cell(account)  # a key only
        tail = [
            value(data.get("as_of")),
            value(rec.get("strategy")),
            value(rec.get("seq")),
            value(rec.get("ts")),
            value(rec.get("event_id")),
        ]
        for entry in positions:
            if type(entry) is not dict:
                continue
            symbol = entry.get("symbol")
            symbol_key = symbol if type(symbol) is str else cell(symbol)  # a key only
            currency = entry.get("currency", data.get("currency"))
            row = [
                value(account),
                value(symbol),
                *_cells(entry, POSITION_DATA, value),
                value(currency),
            ]
            self._positions[(account_key, symbol_key)] = row + tail

    def _nav(self, line: bytes, rec: dict[str, Any]) -> None:
        data, _ = _data(rec)
        value = self._nav_value
        row = [
            value(rec.get("seq")),
            value(rec.get("ts")),
            value(data.get("as_of")),
            value(rec.get("account")),
            value(rec.get("strategy")),
            *_cells(data, NAV_DATA, value),
            value(rec.get("event_id")),
        ]
        self._csv["nav.csv"].add(row)

    def _correction(self, line: bytes, rec: dict[str, Any]) -> None:
        data, _ = _data(rec)
        head = [
            _value(rec.get("seq")),
            _value(rec.get("ts")),
            _value(rec.get("actor")),
            _value(data.get("approved_by")),
            _value(data.get("reason")),
            _value(data.get("corrects_seq")),
            _value(data.get("corrects_event_id")),
        ]
        tail = [_value(rec.get("event_id"))]
        fields = data.get("corrections")
        table = self._csv["corrections.csv"]
        if type(fields) is dict and fields:
            for name in sorted(fields):
                table.add([*head, _value(name), _value(fields[name]), *tail])
        else:  # no field-level detail: the reason says what was wrong
            table.add([*head, "", _value(fields), *tail])

    def _config_event(self, line: bytes, rec: dict[str, Any]) -> None:
        self._config.add(rec, in_day=True)

    # the end ----------------------------------------------------------------------

    @property
    def trading(self) -> bool:
        """Whether the day holds any order or execution event."""
        return any(
            kind in ORDER_TYPES or kind in FILL_TYPES or kind == TRADE_TYPE for kind in self.counts
        )

    def finish(self) -> dict[str, FileInfo]:
        """Write what waits for the end of the day and close every file."""
        positions = self._csv["positions.csv"]
        for key in sorted(self._positions):
            positions.add(self._positions[key])
        infos = {name: table.close() for name, table in self._csv.items()}
        infos.update({name: table.close() for name, table in self._jsonl.items()})
        snapshot = Sink(self._directory, "config_snapshot.json")
        snapshot.write_bytes(orjson.dumps(self._config.snapshot_json(), option=PRETTY))
        infos["config_snapshot.json"] = snapshot.close(None)
        diff = Sink(self._directory, "config.diff")
        diff.write(self._config.diff_text())
        infos["config.diff"] = diff.close(self._config.day_changes)
        return {name: infos[name] for name in DERIVED_FILES[self.version]}

    def abort(self) -> None:
        for csv_table in self._csv.values():
            if isinstance(csv_table, _ShapedCsvTable):
                csv_table.abort()
            else:
                csv_table.sink.abort()
        for jsonl_table in self._jsonl.values():
            jsonl_table.sink.abort()


_ORDER_SHOWN: Final = frozenset(ORDER_DATA)
_ORDER_ENVELOPE: Final = ORDERS_COLUMNS[: ORDERS_COLUMNS.index("actor") + 1]
_FILL_ENVELOPE: Final = FILLS_COLUMNS[: FILLS_COLUMNS.index("trade_id")]
_FILL_ENVELOPE_2: Final = ("account", "strategy", "symbol", "venue")
_FILL_SHOWN: Final = frozenset((*FILL_DATA, "trade_id"))


class _OrderFacts(NamedTuple):
    """An order's terms that its executions' blotter rows take when their own event lacks them."""

    client_order_id: Any
    exchange_order_id: Any
    account: Any
    strategy: Any
    symbol: Any
    venue: Any
    currency: Any


_NO_ORDER: Final = _OrderFacts("", "", "", "", "", "", "")
_NO_FACTS: Final[dict[str, Any]] = {}


def _settlement_date(trade_date: Any, instrument: dict[str, Any]) -> str:
    """The trade date plus the instrument's settlement cycle (`settlement_days` settlement
    days, counted on its `settlement_calendar` less its `holidays`); empty when the instrument
    records no cycle or the trade date is not a date. T+0 on a day that is not a settlement
    day settles on the next one."""
    days = instrument.get("settlement_days")
    if type(days) is not int or not 0 <= days <= 30 or type(trade_date) is not str:
        return ""
    try:
        day = dt.date.fromisoformat(trade_date)
    except ValueError:
        return ""
    every_day = instrument.get("settlement_calendar") == "every_day"
    holidays = instrument.get("holidays")
    closed = {h for h in holidays if type(h) is str} if type(holidays) is list else set()

    def settles(d: dt.date) -> bool:
        return (every_day or d.weekday() < 5) and d.isoformat() not in closed

    one = dt.timedelta(days=1)
    if days == 0:
        for _ in range(len(closed) + 8):
            if settles(day):
                return day.isoformat()
            day += one
        return ""
    for _ in range(days * 7 + len(closed) + 8):  # bounded: holidays are a finite list
        day += one
        if settles(day):
            days -= 1
            if not days:
                return day.isoformat()
    return ""
