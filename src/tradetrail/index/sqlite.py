"""The embedded index: SQLite in the trail directory (`<home>/index.sqlite`), WAL, FTS5.

Append-only like the journal: triggers refuse UPDATE and DELETE; a rebuild writes a new file
and swaps it in. Full text is a contentless FTS5 table keyed by the row id, so the text is not
stored twice; the record itself (the journal line) is kept in the row."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

from ..core import layout
from ..errors import IndexStoreError, IndexTamperError
from .query import Query, words
from .rows import COLUMNS, ID_COLUMNS, IndexRow

SCHEMA_VERSION: Final = 1
_DATA_COLUMNS: Final = tuple(c for c in COLUMNS if c != "text")
_SCHEMA: Final = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY,
    origin TEXT NOT NULL,
    seq INTEGER NOT NULL,
    leaf_hash TEXT NOT NULL,
    prev TEXT NOT NULL,
    ts TEXT NOT NULL,
    event_ts TEXT,
    type TEXT NOT NULL,
    category TEXT NOT NULL,
    event_id TEXT NOT NULL,
    actor TEXT,
    priority TEXT,
    {", ".join(f"{c} TEXT" for c in ID_COLUMNS)},
    record TEXT NOT NULL,
    UNIQUE (origin, seq)
);
CREATE INDEX IF NOT EXISTS audit_ts ON audit_log (ts, seq);
CREATE INDEX IF NOT EXISTS audit_type_ts ON audit_log (type, ts, seq);
CREATE INDEX IF NOT EXISTS audit_category_ts ON audit_log (category, ts, seq);
CREATE INDEX IF NOT EXISTS audit_symbol_ts ON audit_log (symbol, ts, seq);
CREATE INDEX IF NOT EXISTS audit_account_ts ON audit_log (account, ts, seq);
CREATE INDEX IF NOT EXISTS audit_actor_ts ON audit_log (actor, ts, seq);
CREATE INDEX IF NOT EXISTS audit_strategy_ts ON audit_log (strategy, ts, seq);
{
    "".join(
        f"CREATE INDEX IF NOT EXISTS audit_{c} ON audit_log ({c});"
        for c in (
            "order_id",
            "client_order_id",
            "exchange_order_id",
            "parent_order_id",
            "signal_id",
            "correlation_id",
        )
    )
}
CREATE VIRTUAL TABLE IF NOT EXISTS audit_fts USING fts5(text, content='', tokenize='unicode61');
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END;
"""
INDEX_FILE: Final = layout.INDEX_FILE


class SqliteIndex:
    """An `IndexBackend` on one SQLite file. Thread-safe (one connection, one lock)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.executescript(_SCHEMA)
            found = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if found is None:
                self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif int(found[0]) != SCHEMA_VERSION:
                raise IndexStoreError(
                    f"{self.path}: index schema {found[0]}, this tradetrail reads "
                    f"{SCHEMA_VERSION}; run `tradetrail index rebuild`"
                )
        except sqlite3.Error as exc:
            raise IndexStoreError(f"{self.path}: cannot open the index: {exc}") from None

    def last_seq(self, origin: str) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT max(seq) FROM audit_log WHERE origin = ?", (origin,)
            ).fetchone()
        return -1 if row[0] is None else int(row[0])

    def leaf_hash(self, origin: str, seq: int) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT leaf_hash FROM audit_log WHERE origin = ? AND seq = ?", (origin, seq)
            ).fetchone()
        return None if row is None else str(row[0])

    def add(self, rows: Sequence[IndexRow]) -> int:
        if not rows:
            return 0
        origin = rows[0].origin
        seqs = [r.seq for r in rows]
        placeholders = ",".join("?" * len(_DATA_COLUMNS))
        names = ", ".join(("id", *_DATA_COLUMNS))
        insert = f"INSERT INTO audit_log ({names}) VALUES (?, {placeholders})"
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN IMMEDIATE")
                existing = dict(
                    db.execute(
                        "SELECT seq, leaf_hash FROM audit_log "
                        "WHERE origin = ? AND seq BETWEEN ? AND ?",
                        (origin, min(seqs), max(seqs)),
                    ).fetchall()
                )
                conflicts = [
                    r.seq for r in rows if r.seq in existing and existing[r.seq] != r.leaf_hash
                ]
                fresh = [r for r in rows if r.seq not in existing]
                (next_id,) = db.execute("SELECT coalesce(max(id), 0) + 1 FROM audit_log").fetchone()
                values: list[tuple[Any, ...]] = []
                texts: list[tuple[int, str]] = []
                for offset, row in enumerate(fresh):
                    rid = next_id + offset
                    values.append((rid, *row.as_tuple()[:-1]))
                    texts.append((rid, row.text))
                db.executemany(insert, values)
                db.executemany("INSERT INTO audit_fts (rowid, text) VALUES (?, ?)", texts)
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise IndexStoreError(f"{self.path}: cannot add to the index: {exc}") from None
        if conflicts:
            raise IndexTamperError(origin, conflicts)
        return len(fresh)

    def search(self, query: Query) -> list[IndexRow]:
        where: list[str] = []
        args: list[Any] = []
        if query.origin is not None:
            where.append("origin = ?")
            args.append(query.origin)
        if query.types:
            alternatives = []
            for t in query.types:
                if t.endswith(".*"):
                    alternatives.append("type LIKE ? ESCAPE '\\'")
                    args.append(t[:-1].replace("_", "\\_").replace("%", "\\%") + "%")
                else:
                    alternatives.append("type = ?")
                    args.append(t)
            where.append("(" + " OR ".join(alternatives) + ")")
        for name, value in query.equals.items():
            where.append(f"{name} = ?")
            args.append(value)
        if query.since is not None:
            where.append("ts >= ?")
            args.append(query.since)
        if query.until is not None:
            where.append("ts < ?")
            args.append(query.until)
        if query.text is not None:
            terms = words(query.text)
            if not terms:
                return []
            # driven from the full-text matches (CROSS JOIN fixes the order): the planner would
            # otherwise walk every row of the origin and test each against the match list
            source = "audit_fts CROSS JOIN audit_log ON audit_log.id = audit_fts.rowid"
            where.insert(0, "audit_fts MATCH ?")
            args.insert(0, " ".join(f'"{w}"' for w in terms))
        else:
            source = "audit_log"
        order = "DESC" if query.descending else "ASC"
        sql = (
            f"SELECT {', '.join(_DATA_COLUMNS)} FROM {source}"
            + (" WHERE " + " AND ".join(where) if where else "")
            + f" ORDER BY ts {order}, seq {order}"
            + (" LIMIT ?" if query.limit is not None else "")
        )
        if query.limit is not None:
            args.append(query.limit)
        with self._lock:
            try:
                found = self._db.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise IndexStoreError(f"{self.path}: search failed: {exc}") from None
        return [_row(values) for values in found]

    def hashes(self, origin: str) -> Iterator[tuple[int, str]]:
        with self._lock:
            found = self._db.execute(
                "SELECT seq, leaf_hash FROM audit_log WHERE origin = ? ORDER BY seq", (origin,)
            ).fetchall()
        yield from ((int(s), str(h)) for s, h in found)

    def origins(self) -> list[str]:
        with self._lock:
            found = self._db.execute("SELECT DISTINCT origin FROM audit_log ORDER BY 1").fetchall()
        return [str(o) for (o,) in found]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _row(values: tuple[Any, ...]) -> IndexRow:
    return IndexRow(*(*values, ""))  # full text is not stored (contentless FTS)
