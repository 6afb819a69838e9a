"""The shared index: PostgreSQL, for several trails (origins) in one database.

Append-only in the database itself: the application role may only INSERT and SELECT, and
triggers refuse UPDATE, DELETE and TRUNCATE from anyone. The schema comes from versioned
migrations (`migrate`, run as a separate owner role). Rows are ingested with COPY into a
temporary staging table, then INSERT ... SELECT of the seqs not yet stored, so re-ingesting is
idempotent and a changed record is reported, never written over. Search behaves like the
SQLite backend: same filters, same order (ts, then seq), same full-text matches."""

from __future__ import annotations

import hashlib
import re
import string
import threading
import unicodedata
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from ..errors import IndexStoreError, IndexTamperError, missing_extra
from .query import FILTER_FIELDS, Query, words
from .rows import COLUMNS, IndexRow

try:
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict
except ModuleNotFoundError as exc:  # the extra tradetrail[postgres]
    if (exc.name or "").partition(".")[0] != "psycopg":
        raise
    raise missing_extra(exc, "PostgreSQL indexes", "postgres") from None

SCHEMA: Final = "tradetrail"
MIGRATIONS: Final = Path(__file__).with_name("migrations")
BATCH_ROWS: Final = 20_000
"""Rows per COPY into the staging table: bounds the staging table and the anti-join."""
HASH_PAGE: Final = 50_000
_TS_TEXT: Final = "to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
_STAGE_COLUMNS: Final = (*COLUMNS[:-1], "words")  # the row's columns; text as FTS words
_READ_COLUMNS: Final = tuple(
    f"coalesce(ts_raw, {_TS_TEXT})" if c == "ts" else c for c in COLUMNS[:-1]
)  # what IndexRow takes back, ts in its journal form
_CREATE_STAGE: Final = (
    "CREATE TEMP TABLE IF NOT EXISTS tradetrail_stage ("
    + ", ".join(f"{c} {'bigint' if c == 'seq' else 'text'}" for c in _STAGE_COLUMNS)
    + ") ON COMMIT DELETE ROWS"
)
_COPY: Final = f"COPY tradetrail_stage ({', '.join(_STAGE_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
_COPY_TYPES: Final = ["int8" if c == "seq" else "text" for c in _STAGE_COLUMNS]
_PLAIN: Final = tuple(c for c in _STAGE_COLUMNS if c not in ("ts", "record"))
_INSERT: Final = f"""
INSERT INTO {SCHEMA}.audit_log ({", ".join((*_PLAIN, "ts", "ts_raw", "record"))})
SELECT {", ".join(f"s.{c}" for c in _PLAIN)}, s.ts::timestamptz,
    CASE WHEN to_char(s.ts::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
        = s.ts THEN NULL ELSE s.ts END,
    s.record
FROM tradetrail_stage s
WHERE NOT EXISTS (
    SELECT 1 FROM {SCHEMA}.audit_log a
    WHERE a.origin = %(origin)s AND a.seq BETWEEN %(lo)s AND %(hi)s AND a.seq = s.seq)
"""
_COPY_DIRECT: Final = (
    f"COPY {SCHEMA}.audit_log ({', '.join(_STAGE_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
)
"""Rows none of which is stored yet go straight into the table (ts as a time; ts_raw stays
NULL, the ts being canonical): no staging copy, no anti-join."""
_DIRECT_TYPES: Final = [
    "timestamptz" if c == "ts" else t for c, t in zip(_STAGE_COLUMNS, _COPY_TYPES, strict=True)
]
_ANY_STORED: Final = f"""
SELECT EXISTS (SELECT 1 FROM {SCHEMA}.audit_log
    WHERE origin = %(origin)s AND seq BETWEEN %(lo)s AND %(hi)s)
"""
_CONFLICTS: Final = f"""
SELECT s.seq FROM tradetrail_stage s JOIN {SCHEMA}.audit_log a ON a.seq = s.seq
WHERE a.origin = %(origin)s AND a.seq BETWEEN %(lo)s AND %(hi)s AND a.leaf_hash <> s.leaf_hash
"""
_ORIGINS: Final = f"""
WITH RECURSIVE o(origin) AS (
    SELECT min(origin) FROM {SCHEMA}.audit_log
    UNION ALL
    SELECT (SELECT min(origin) FROM {SCHEMA}.audit_log WHERE origin > o.origin)
    FROM o WHERE o.origin IS NOT NULL)
SELECT origin FROM o WHERE origin IS NOT NULL
"""
_ASCII_LOWER: Final = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_LOCK_CLASS: Final = 1953654114  # 'tt': advisory locks of tradetrail (1 = partitions, 2 = migrate)
_CANONICAL_TS: Final = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
_WORD: Final = re.compile(r"(?:[^\W_]|[\ue000-\uf8ff\U000f0000-\U0010ffff])+")
_ASCII_GAPS: Final = re.compile(r"[^a-z0-9]+")  # _WORD's complement, for lower-case ASCII
MAX_WORD: Final = 2000
"""Longer words are cut to this (both sides): to_tsvector ignores words over 2047 bytes."""
FOREIGN_WORD: Final = "0.0"
"""One token to PostgreSQL's parser in any locale, and never a query word (no dot in those)."""


def migration_files() -> list[tuple[str, str, str]]:
    """(version, name, SQL) of every shipped migration, in order; version is the number
    before the first underscore of the file name (0001_audit_log.sql -> 0001)."""
    found = []
    for path in sorted(MIGRATIONS.glob("*.sql")):
        version = path.stem.split("_", 1)[0]
        found.append((version, path.stem, path.read_text(encoding="utf-8")))
    return found


def redact_url(url: str) -> str:
    """The URL without its password (userinfo or `password=` parameter), safe to show."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            netloc = f"{userinfo.split(':', 1)[0]}@{host}"
        query = urlencode(
            [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "password"]
        )
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return re.sub(r"(://[^:@/]*):[^@]*@", r"\1@", url.split("?", 1)[0])


def _secrets(url: str) -> list[str]:
    """Every spelling of the URL's password, to scrub from messages that echo the URL."""
    found: list[str] = []
    try:
        parts = urlsplit(url)
        if parts.password:
            found.append(parts.password)
        found.extend(v for k, v in parse_qsl(parts.query) if k == "password")
        found.extend(re.findall(r"password=([^&\s]+)", parts.query))
    except ValueError:
        pass
    found.extend(re.findall(r"://[^:@/]*:([^@]*)@", url))
    return [s for s in {*found, *(unquote(s) for s in found)} if s]


def fts_words(text: str) -> str:
    """`text` as the words SQLite's FTS5 unicode61 tokenizer cuts it into (runs of letters,
    digits and private-use characters; lower case; diacritics removed), space-separated for
    to_tsvector('simple'). A word still holding a non-ASCII character becomes FOREIGN_WORD: no
    query word (ASCII, see words()) can match it in SQLite either, and PostgreSQL's parser
    would cut it by the server's locale; the placeholder keeps the positions for phrases."""
    if text.isascii():
        if len(text) <= MAX_WORD:  # no word to cut: one C pass instead of a word list
            return _ASCII_GAPS.sub(" ", text.lower()).strip(" ")
        return " ".join(w[:MAX_WORD] for w in _WORD.findall(text.lower()))
    decomposed = unicodedata.normalize("NFD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    out = []
    for word in _WORD.findall(plain):
        word = "".join(map(str.lower, word))  # per character, as unicode61 folds (no final ς)
        out.append(word[:MAX_WORD] if word.isascii() else FOREIGN_WORD)
    return " ".join(out)


def fts_query(text: str) -> str | None:
    """A to_tsquery('simple') of `text` matching what SqliteIndex matches: every word must
    appear; a word with `_` inside is a phrase of its parts (FTS5 reads it so). None when there
    is no word to look for."""
    terms = []
    for word in words(text):
        parts = _WORD.findall(word.lower())
        if parts:
            terms.append(" <-> ".join(f"'{p[:MAX_WORD]}'" for p in parts))
    return " & ".join(f"({t})" for t in terms) if terms else None


def _clean(text: str | None) -> str | None:
    return text.replace("\x00", "\ufffd") if text is not None else None


def _stage_tuple(row: IndexRow, ts: datetime | str) -> tuple[Any, ...]:
    """The row in _STAGE_COLUMNS order; `ts` as a time for COPY into the table, or the
    journal's text for the staging table."""
    values: tuple[Any, ...] = (
        row.origin,
        row.seq,
        row.leaf_hash,
        row.prev,
        ts,
        row.event_ts,
        row.type,
        row.category,
        row.event_id,
        row.actor,
        row.priority,
        row.correlation_id,
        row.order_id,
        row.client_order_id,
        row.exchange_order_id,
        row.parent_order_id,
        row.signal_id,
        row.strategy,
        row.account,
        row.venue,
        row.symbol,
        row.record,
        fts_words(row.text),
    )
    if "\\u0000" in row.record:  # PostgreSQL text cannot hold NUL: the only escape a line needs
        values = tuple(_clean(v) if isinstance(v, str) else v for v in values)
    return values


def _month(ts: str) -> str | None:
    """'YYYY-MM' of a writer-made ts; None when PostgreSQL must work it out (other forms)."""
    return ts[:7] if _CANONICAL_TS.fullmatch(ts) else None


def _time(ts: str) -> datetime | None:
    """A writer-made ts as a time, when PostgreSQL's to_char gives back exactly `ts` (so the
    row needs no ts_raw); None for any other form, left to the staging path."""
    if not _CANONICAL_TS.fullmatch(ts):
        return None
    try:
        return datetime.fromisoformat(ts)
    except ValueError:  # hour 24, second 60, day 31 of a short month: PostgreSQL would roll over
        return None


def _journal_ts(when: datetime) -> str:
    """The canonical ts that _time() read `when` from."""
    return when.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _one_line(exc: BaseException, secrets: Sequence[str]) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _connect(url: str) -> psycopg.Connection[tuple[Any, ...]]:
    params = conninfo_to_dict(url)
    extra: dict[str, Any] = {}
    if "connect_timeout" not in params:
        extra["connect_timeout"] = 10
    if "application_name" not in params:
        extra["application_name"] = "tradetrail"
    db = psycopg.connect(url, autocommit=False, **extra)
    try:
        db.execute("SET TIME ZONE 'UTC'")  # a ts without offset, or since/until, reads as UTC
        db.commit()
    except BaseException:
        db.close()
        raise
    return db


def _check_url(url: str) -> None:
    if not url.startswith(("postgresql://", "postgres://")):
        raise IndexStoreError(
            f"{redact_url(url)}: not a PostgreSQL URL (postgresql://user@host/database)"
        )


def migrate(owner_dsn: str, app_role: str | None = None) -> list[str]:
    """Apply the shipped migrations not yet applied, as the owner role; returns their versions
    (none when up to date: idempotent). With `app_role`, (re)grants it exactly what the index
    needs: INSERT and SELECT on audit_log, EXECUTE on the partition maker, SELECT on the
    audit_log_json view, nothing else."""
    _check_url(owner_dsn)
    shown, secrets = redact_url(owner_dsn), _secrets(owner_dsn)
    applied: list[str] = []
    try:
        with _connect(owner_dsn) as db:
            if db.info.server_version < 130000:
                raise IndexStoreError(
                    f"{shown}: PostgreSQL {db.info.server_version // 10000} is too old: the "
                    "index needs 13 or later (row triggers on partitioned tables)"
                )
            db.execute("SELECT pg_advisory_lock(%s, 2)", (_LOCK_CLASS,))
            db.commit()
            try:
                with db.transaction():
                    db.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
                    db.execute(
                        f"CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_migrations ("
                        "version text PRIMARY KEY, name text NOT NULL, sha256 text NOT NULL, "
                        "applied_at timestamptz NOT NULL DEFAULT now())"
                    )
                    done = dict(
                        db.execute(
                            f"SELECT version, sha256 FROM {SCHEMA}.schema_migrations"
                        ).fetchall()
                    )
                for version, name, text in migration_files():
                    digest = hashlib.sha256(text.encode()).hexdigest()
                    if version in done:
                        if done[version] != digest:
                            raise IndexStoreError(
                                f"{shown}: migration {name} was applied with different "
                                "contents; the shipped file must not change once released"
                            )
                        continue
                    with db.transaction():
                        db.execute(text.encode())
                        db.execute(
                            f"INSERT INTO {SCHEMA}.schema_migrations (version, name, sha256) "
                            "VALUES (%s, %s, %s)",
                            (version, name, digest),
                        )
                    applied.append(version)
                if app_role is not None:
                    _grant(db, app_role, shown)
            finally:
                db.execute("SELECT pg_advisory_unlock(%s, 2)", (_LOCK_CLASS,))
                db.commit()
    except psycopg.Error as exc:
        raise IndexStoreError(
            f"{shown}: migration failed: {_one_line(exc, secrets)}"
            + (f" (applied: {', '.join(applied)})" if applied else "")
        ) from None
    return applied


def _grant(db: psycopg.Connection[tuple[Any, ...]], app_role: str, shown: str) -> None:
    with db.transaction():
        owner, inherits, superuser = db.execute(
            "SELECT current_user, pg_has_role(%s, current_user, 'USAGE'),"
            " (SELECT rolsuper FROM pg_roles WHERE rolname = %s)",
            (app_role, app_role),
        ).fetchone() or ("", False, False)
        if inherits or superuser:
            raise IndexStoreError(
                f"{shown}: the application role {app_role} must not be the owner ({owner}), "
                "a member of it, or a superuser: it could drop the triggers"
            )
        role = sql.Identifier(app_role)
        table = sql.SQL(f"{SCHEMA}.audit_log")
        for statement in (
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(SCHEMA), role),
            sql.SQL("REVOKE ALL ON {} FROM {}").format(table, role),
            sql.SQL("GRANT SELECT, INSERT ON {} TO {}").format(table, role),
            sql.SQL("GRANT SELECT ON {} TO {}").format(
                sql.SQL(f"{SCHEMA}.schema_migrations"), role
            ),
            sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(
                sql.SQL(f"{SCHEMA}.audit_log_partition(date)"), role
            ),
        ):
            db.execute(statement)
        if db.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.audit_log_json",)).fetchone() != (
            None,
        ):  # from migration 0002
            db.execute(
                sql.SQL("GRANT SELECT ON {} TO {}").format(
                    sql.SQL(f"{SCHEMA}.audit_log_json"), role
                )
            )


class PostgresIndex:
    """An `IndexBackend` on a PostgreSQL database migrated by `migrate`, connected as the
    application role. Thread-safe: one connection, one lock, an explicit transaction per call.
    A dropped connection is reopened on the next call."""

    def __init__(self, url: str) -> None:
        _check_url(url)
        self._dsn = url
        self.url = redact_url(url)
        self._secrets = _secrets(url)
        self._lock = threading.Lock()
        self._db: psycopg.Connection[tuple[Any, ...]] | None = None
        self._closed = False
        self._months: set[str] = set()
        with self._lock:
            self._call("cannot open the index", self._check_schema)

    # -- connection ---------------------------------------------------------------------

    def _conn(self) -> psycopg.Connection[tuple[Any, ...]]:
        if self._closed:
            raise IndexStoreError(f"{self.url}: the index is closed")
        if self._db is None or self._db.closed or self._db.broken:
            self._db = _connect(self._dsn)
        return self._db

    def _call(self, what: str, work: Any, *args: Any) -> Any:
        """Run `work(conn, *args)` (lock held); psycopg errors become IndexStoreError naming
        the URL (never the password) and the cause."""
        try:
            return work(self._conn(), *args)
        except psycopg.Error as exc:
            if self._db is not None and not self._db.closed:
                if self._db.broken or isinstance(exc, psycopg.OperationalError):
                    self._db.close()
                else:
                    try:
                        self._db.rollback()
                    except psycopg.Error:
                        self._db.close()
            raise IndexStoreError(f"{self.url}: {what}: {_one_line(exc, self._secrets)}") from None

    def _check_schema(self, db: psycopg.Connection[tuple[Any, ...]]) -> None:
        with db.transaction():
            found = db.execute(
                "SELECT to_regclass(%s) IS NOT NULL", (f"{SCHEMA}.schema_migrations",)
            ).fetchone()
            if not found or not found[0]:
                raise IndexStoreError(
                    f"{self.url}: no tradetrail schema in this database (or no access to it); "
                    "run `tradetrail db migrate` as the owner role, granting this role"
                )
            have = {v for (v,) in db.execute(f"SELECT version FROM {SCHEMA}.schema_migrations")}
        known = {version for version, _, _ in migration_files()}
        if known - have:
            raise IndexStoreError(
                f"{self.url}: schema migrations {', '.join(sorted(known - have))} not applied; "
                "run `tradetrail db migrate`"
            )
        if have - known:
            raise IndexStoreError(
                f"{self.url}: the schema is newer than this tradetrail (migrations "
                f"{', '.join(sorted(have - known))}); upgrade tradetrail"
            )

    # -- IndexBackend ---------------------------------------------------------------------

    def last_seq(self, origin: str) -> int:
        def work(db: psycopg.Connection[tuple[Any, ...]]) -> int:
            with db.transaction():
                row = db.execute(
                    f"SELECT max(seq) FROM {SCHEMA}.audit_log WHERE origin = %s", (origin,)
                ).fetchone()
            return -1 if row is None or row[0] is None else int(row[0])

        with self._lock:
            result: int = self._call("cannot read the index", work)
        return result

    def leaf_hash(self, origin: str, seq: int) -> str | None:
        def work(db: psycopg.Connection[tuple[Any, ...]]) -> str | None:
            with db.transaction():
                row = db.execute(
                    f"SELECT leaf_hash FROM {SCHEMA}.audit_log WHERE origin = %s AND seq = %s",
                    (origin, seq),
                ).fetchone()
            return None if row is None else str(row[0])

        with self._lock:
            result: str | None = self._call("cannot read the index", work)
        return result

    def add(self, rows: Sequence[IndexRow]) -> int:
        if not rows:
            return 0
        origin = rows[0].origin
        if any(r.origin != origin for r in rows):
            raise IndexStoreError(f"{self.url}: one origin per add (got several)")
        seqs = [r.seq for r in rows]
        if len(set(seqs)) != len(seqs):
            raise IndexStoreError(f"{self.url}: {origin}: the same seq twice in one add")
        months = {_month(r.ts) for r in rows}
        odd = [r.ts for r in rows if _month(r.ts) is None] if None in months else []
        times = [_time(r.ts) for r in rows] if not odd else []
        direct = bool(times) and None not in times
        if direct:
            values = [_stage_tuple(r, t) for r, t in zip(rows, times, strict=True) if t is not None]
        else:
            values = [_stage_tuple(r, r.ts) for r in rows]
        with self._lock:
            self._call("cannot create partitions", self._ensure_partitions, months, odd)
            try:
                added, conflicts = self._call(
                    "cannot add to the index", self._ingest, origin, values, direct
                )
            except IndexStoreError:
                self._months.clear()  # a partition may have been dropped (retention)
                raise
        if conflicts:
            raise IndexTamperError(origin, sorted(conflicts))
        return int(added)

    def _ensure_partitions(
        self, db: psycopg.Connection[tuple[Any, ...]], months: set[str | None], odd: list[str]
    ) -> None:
        """Create the monthly partitions the rows need, in their own short transaction (adding
        a partition locks the parent table: keep that out of the long ingest)."""
        wanted = {m for m in months if m is not None} - self._months
        with db.transaction():
            if odd:
                found = db.execute(
                    "SELECT DISTINCT to_char(t::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM') "
                    "FROM unnest(%s::text[]) AS t",
                    (odd,),
                ).fetchall()
                wanted |= {m for (m,) in found} - self._months
            for month in sorted(wanted):
                db.execute(f"SELECT {SCHEMA}.audit_log_partition(%s::date)", (f"{month}-01",))
        self._months |= wanted

    def _ingest(
        self,
        db: psycopg.Connection[tuple[Any, ...]],
        origin: str,
        values: list[tuple[Any, ...]],
        direct: bool,
    ) -> tuple[int, list[int]]:
        """COPY straight into audit_log when no row of the batch's seq range is stored yet
        (the common case: the feeder appends); otherwise through the staging table, which
        skips stored rows and reports those that differ. Both under the origin's lock."""
        added = 0
        conflicts: list[int] = []
        with db.transaction(), db.cursor() as cur:
            # One writer per origin at a time: (origin, seq) cannot be a unique key across
            # partitions, so the check-then-insert below must not interleave.
            cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_CLASS, origin))
            for start in range(0, len(values), BATCH_ROWS):
                batch = values[start : start + BATCH_ROWS]
                bounds = {"origin": origin, "lo": min(v[1] for v in batch)}
                bounds["hi"] = max(v[1] for v in batch)
                if direct:
                    cur.execute(_ANY_STORED, bounds)
                    row = cur.fetchone()
                    if row is not None and not row[0]:
                        with cur.copy(_COPY_DIRECT) as copy:
                            copy.set_types(_DIRECT_TYPES)
                            for value in batch:
                                copy.write_row(value)
                        added += len(batch)
                        continue
                    batch = [(*v[:4], _journal_ts(v[4]), *v[5:]) for v in batch]
                cur.execute(_CREATE_STAGE)  # in this transaction: a rollback takes it away
                with cur.copy(_COPY) as copy:
                    copy.set_types(_COPY_TYPES)
                    for value in batch:
                        copy.write_row(value)
                cur.execute(_CONFLICTS, bounds)
                conflicts.extend(int(s) for (s,) in cur.fetchall())
                cur.execute(_INSERT, bounds)
                added += max(cur.rowcount, 0)
                cur.execute("TRUNCATE tradetrail_stage")
        return added, conflicts

    def search(self, query: Query) -> list[IndexRow]:
        where: list[str] = []
        args: list[Any] = []
        if query.origin is not None:
            where.append("origin = %s")
            args.append(query.origin)
        if query.types:
            alternatives = []
            for t in query.types:
                # lower(type): case-insensitive for ASCII like SQLite's LIKE, and indexed.
                if t.endswith(".*"):
                    alternatives.append("lower(type) LIKE %s")
                    prefix = t[:-1].replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")
                    args.append(prefix.translate(_ASCII_LOWER) + "%")
                else:
                    alternatives.append("(lower(type) = %s AND type = %s)")
                    args.extend((t.translate(_ASCII_LOWER), t))
            where.append("(" + " OR ".join(alternatives) + ")")
        for name, value in query.equals.items():
            if name not in FILTER_FIELDS:  # checked by Query, but a dict can change later
                raise IndexStoreError(f"{self.url}: cannot search by {name!r}")
            where.append(f"{name} = %s")
            args.append(value)
        if query.since is not None:
            where.append("ts >= %s::timestamptz")
            args.append(query.since)
        if query.until is not None:
            where.append("ts < %s::timestamptz")
            args.append(query.until)
        if query.text is not None:
            tsquery = fts_query(query.text)
            if tsquery is None:
                return []
            where.append("fts @@ to_tsquery('simple', %s)")
            args.append(tsquery)
        order = "DESC" if query.descending else "ASC"
        statement = (
            f"SELECT {', '.join(_READ_COLUMNS)} FROM {SCHEMA}.audit_log"
            + (" WHERE " + " AND ".join(where) if where else "")
            + f" ORDER BY ts {order}, seq {order}, origin {order}"
            + (" LIMIT %s" if query.limit is not None else "")
        )
        if query.limit is not None:
            args.append(query.limit)

        def work(db: psycopg.Connection[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
            with db.transaction():
                return db.execute(statement.encode(), args).fetchall()

        with self._lock:
            found: list[tuple[Any, ...]] = self._call("search failed", work)
        return [IndexRow(*(*values, "")) for values in found]

    def hashes(self, origin: str) -> Iterator[tuple[int, str]]:
        """Pages of HASH_PAGE rows, the lock held per page only (a verify of a long trail
        must not stall writers, nor hold every hash in memory)."""

        def page(db: psycopg.Connection[tuple[Any, ...]], after: int) -> list[tuple[Any, ...]]:
            with db.transaction():
                return db.execute(
                    f"SELECT seq, leaf_hash FROM {SCHEMA}.audit_log "
                    "WHERE origin = %s AND seq > %s ORDER BY seq LIMIT %s",
                    (origin, after, HASH_PAGE),
                ).fetchall()

        after = -(2**63)
        while True:
            with self._lock:
                found: list[tuple[Any, ...]] = self._call("cannot read the index", page, after)
            yield from ((int(s), str(h)) for s, h in found)
            if len(found) < HASH_PAGE:
                return
            after = int(found[-1][0])

    def origins(self) -> list[str]:
        def work(db: psycopg.Connection[tuple[Any, ...]]) -> list[str]:
            with db.transaction():
                return [str(o) for (o,) in db.execute(_ORIGINS)]

        with self._lock:
            found: list[str] = self._call("cannot read the index", work)
        return found

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._db is not None:
                self._db.close()
                self._db = None
