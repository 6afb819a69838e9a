"""The PostgreSQL index on a real throw-away server: migrations, roles and triggers (append-only
in the database itself), monthly partitions, COPY ingest (idempotent, tamper reported), several
origins, errors that name the URL without its password, and the same answers as SQLite."""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

import tradetrail
from conftest import SimClock
from postgres_server import PostgresDsns
from tradetrail.errors import IndexStoreError, IndexTamperError
from tradetrail.index import postgres as pg
from tradetrail.index.postgres import PostgresIndex, migrate, migration_files, redact_url
from tradetrail.index.query import Query
from tradetrail.index.rows import IndexRow, row_from_line
from tradetrail.index.sqlite import SqliteIndex

ZERO = "0" * 64


@pytest.fixture
def dsns(postgres_dsns: PostgresDsns) -> PostgresDsns:
    """A fresh database per test, migrated, the app role granted."""
    fresh = postgres_dsns.server.create_database()
    assert migrate(fresh.owner, fresh.app_role) == [v for v, _, _ in migration_files()]
    return fresh


@pytest.fixture
def index(dsns: PostgresDsns) -> Iterator[PostgresIndex]:
    idx = PostgresIndex(dsns.app)
    yield idx
    idx.close()


def lines(
    n: int,
    start: int = 0,
    month: str = "2024-03",
    day: int = 1,
    extra: dict[str, Any] | None = None,
) -> list[bytes]:
    """Canonical-looking journal lines (sorted keys, hash chain), seq start..start+n-1."""
    out = []
    prev = ZERO
    for seq in range(start, start + n):
        micro = seq % 1_000_000
        ts = f"{month}-{day:02d}T{(seq // 3600) % 24:02d}:{(seq // 60) % 60:02d}:{seq % 60:02d}"
        record: dict[str, Any] = {
            "data": {"note": f"fill {seq} of alpha", "qty": str(seq % 7)},
            "event_id": f"00000000-0000-4000-8000-{seq:012d}",
            "order_id": f"O-{seq // 4}",
            "prev": prev,
            "seq": seq,
            "symbol": ("BTC-USD", "ETH-USD", "AAPL")[seq % 3],
            "ts": f"{ts}.{micro:06d}Z",
            "type": ("order.accepted", "order.filled", "risk.check")[seq % 3],
            **(extra or {}),
        }
        line = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
        prev = hashlib.sha256(b"\x00" + line).hexdigest()
        out.append(line)
    return out


def rows_of(origin: str, lines_: list[bytes]) -> list[IndexRow]:
    return [row_from_line(origin, line) for line in lines_]


def owner_conn(dsns: PostgresDsns) -> psycopg.Connection[tuple[Any, ...]]:
    return psycopg.connect(dsns.owner, autocommit=True)


# -- migrations and roles ----------------------------------------------------------------


def test_migrations_are_versioned_and_idempotent(postgres_dsns: PostgresDsns) -> None:
    db = postgres_dsns.server.create_database()
    versions = [v for v, _, _ in migration_files()]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    assert all((pg.MIGRATIONS / f"{name}.sql").is_file() for _, name, _ in migration_files())
    with pytest.raises(IndexStoreError, match="tradetrail db migrate"):
        PostgresIndex(db.app)
    assert migrate(db.owner) == versions
    assert migrate(db.owner, db.app_role) == []
    assert migrate(db.owner, db.app_role) == []
    with owner_conn(db) as conn:
        found = conn.execute("SELECT version FROM tradetrail.schema_migrations ORDER BY 1")
        assert [v for (v,) in found] == versions
    PostgresIndex(db.app).close()


def test_migrate_refuses_a_changed_migration_and_the_owner_as_app_role(
    dsns: PostgresDsns,
) -> None:
    with owner_conn(dsns) as conn:
        conn.execute("UPDATE tradetrail.schema_migrations SET sha256 = 'x'")
    with pytest.raises(IndexStoreError, match="different contents"):
        migrate(dsns.owner)
    with owner_conn(dsns) as conn:
        for version, _, text in migration_files():
            conn.execute(
                "UPDATE tradetrail.schema_migrations SET sha256 = %s WHERE version = %s",
                (hashlib.sha256(text.encode()).hexdigest(), version),
            )
    assert migrate(dsns.owner) == []
    with pytest.raises(IndexStoreError, match="must not be the owner"):
        migrate(dsns.owner, dsns.owner_role)
    with psycopg.connect(dsns.superuser, autocommit=True) as conn:
        conn.execute("CREATE ROLE tt_member LOGIN IN ROLE tt_owner")
        conn.execute("CREATE ROLE tt_root LOGIN SUPERUSER")
    try:
        for role in ("tt_member", "tt_root"):
            with pytest.raises(IndexStoreError, match="must not be the owner"):
                migrate(dsns.owner, role)
    finally:
        with psycopg.connect(dsns.superuser, autocommit=True) as conn:
            conn.execute("DROP ROLE tt_member")
            conn.execute("DROP ROLE tt_root")
    with pytest.raises(IndexStoreError, match="migration failed") as info:
        migrate(dsns.owner, "no_such_role")
    assert "no_such_role" in str(info.value)


def test_an_index_made_before_0002_upgrades_in_place(
    postgres_dsns: PostgresDsns, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0002 drops the parsed jsonb copy for ingest speed: a database with rows from before
    keeps them (same hashes, same answers), stays append-only, and the view parses records."""
    db = postgres_dsns.server.create_database()
    shipped = migration_files()
    monkeypatch.setattr(pg, "migration_files", lambda: shipped[:1])
    assert migrate(db.owner, db.app_role) == ["0001"]
    old = rows_of("a", lines(8))
    with psycopg.connect(db.superuser) as conn:  # as 0001's ingest stored them: event parsed
        conn.execute("SELECT tradetrail.audit_log_partition('2024-03-01')")
        for r in old[:5]:
            conn.execute(
                "INSERT INTO tradetrail.audit_log (origin, seq, leaf_hash, prev, ts, type,"
                " category, event_id, record, event, words) VALUES"
                " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s)",
                (r.origin, r.seq, r.leaf_hash, r.prev, r.ts, r.type, r.category, r.event_id,
                 r.record, r.record, pg.fts_words(r.text)),
            )  # fmt: skip
    monkeypatch.undo()
    with pytest.raises(IndexStoreError, match="0002 not applied"):
        PostgresIndex(db.app)
    assert migrate(db.owner, db.app_role) == ["0002"]
    index = PostgresIndex(db.app)
    try:
        assert index.add(old) == 3  # the stored five skipped, the rest copied
        assert list(index.hashes("a")) == [(r.seq, r.leaf_hash) for r in old]
        assert [r.seq for r in index.search(Query(text="fill alpha", limit=None))] == list(range(8))
        with psycopg.connect(db.app) as conn:
            found = conn.execute(
                "SELECT seq, event->>'order_id' FROM tradetrail.audit_log_json ORDER BY seq"
            ).fetchall()
            assert found == [(seq, f"O-{seq // 4}") for seq in range(8)]
        with owner_conn(db) as conn, pytest.raises(psycopg.errors.RestrictViolation):
            conn.execute("UPDATE tradetrail.audit_log SET type = 'x' WHERE seq = 1")
    finally:
        index.close()


def test_rows_not_stored_yet_are_copied_straight_in_and_others_staged(
    index: PostgresIndex,
) -> None:
    """The fast path (COPY into audit_log) is taken only when no row of the batch's seq
    range is stored; a batch reaching back over stored rows, or with a ts PostgreSQL would
    write differently, goes through the staging table and its checks."""
    all_lines = lines(12)
    assert index.add(rows_of("a", all_lines[:4])) == 4
    assert index.add(rows_of("a", all_lines[6:8])) == 2  # a gap below: still nothing stored
    assert index.add(rows_of("a", all_lines[2:10])) == 4  # 4, 5, 8, 9 over stored 2, 3, 6, 7
    forged = rows_of("a", lines(12, extra={"note": "forged"}))
    with pytest.raises(IndexTamperError) as info:
        index.add([forged[7], *rows_of("a", all_lines[10:])])
    assert info.value.seqs == [7]
    assert list(index.hashes("a")) == [(r.seq, r.leaf_hash) for r in rows_of("a", all_lines)]
    assert pg._time("2024-03-01T24:00:00.000000Z") is None  # PostgreSQL reads the next day
    assert pg._time("2024-02-30T00:00:00.000000Z") is None
    assert pg._time("2024-03-01T00:00:00.000001+00:00") is None  # not the writer's form
    when = pg._time("0999-12-31T23:59:59.999999Z")
    assert when is not None and pg._journal_ts(when) == "0999-12-31T23:59:59.999999Z"


def test_app_role_may_only_insert_and_select(dsns: PostgresDsns, index: PostgresIndex) -> None:
    index.add(rows_of("a", lines(3)))
    with psycopg.connect(dsns.app, autocommit=True) as conn:
        for privilege, granted in (
            ("SELECT", True),
            ("INSERT", True),
            ("UPDATE", False),
            ("DELETE", False),
            ("TRUNCATE", False),
            ("REFERENCES", False),
            ("TRIGGER", False),
        ):
            (has,) = conn.execute(
                "SELECT has_table_privilege('tradetrail.audit_log', %s)", (privilege,)
            ).fetchone() or (None,)
            assert has is granted, privilege
        for statement in (
            "UPDATE tradetrail.audit_log SET type = 'x'",
            "DELETE FROM tradetrail.audit_log",
            "TRUNCATE tradetrail.audit_log",
            "UPDATE tradetrail.audit_log_2024_03 SET type = 'x'",
            "DELETE FROM tradetrail.audit_log_2024_03",
            "TRUNCATE tradetrail.audit_log_2024_03",
            "CREATE TABLE tradetrail.mine (x int)",
            "DROP TABLE tradetrail.audit_log_2024_03",
            "ALTER TABLE tradetrail.audit_log DISABLE TRIGGER ALL",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    assert index.last_seq("a") == 2


def test_triggers_refuse_update_delete_truncate_even_to_the_owner(
    dsns: PostgresDsns, index: PostgresIndex
) -> None:
    index.add(rows_of("a", lines(3)))
    with owner_conn(dsns) as conn:
        for statement in (
            "UPDATE tradetrail.audit_log SET type = 'x' WHERE seq = 1",
            "UPDATE tradetrail.audit_log SET type = 'x' WHERE false",  # statement level
            "DELETE FROM tradetrail.audit_log WHERE seq = 1",
            "TRUNCATE tradetrail.audit_log",
            "UPDATE tradetrail.audit_log_2024_03 SET type = 'x'",
            "DELETE FROM tradetrail.audit_log_2024_03 WHERE false",
            "TRUNCATE tradetrail.audit_log_2024_03",
            "INSERT INTO tradetrail.audit_log (origin, seq, leaf_hash, prev, ts, type, category,"
            " event_id, record, words) SELECT origin, seq, leaf_hash, prev, ts, 'x', category,"
            " event_id, record, words FROM tradetrail.audit_log ON CONFLICT (origin, seq, ts)"
            " DO UPDATE SET type = 'x'",
        ):
            with pytest.raises(psycopg.errors.RestrictViolation, match="append-only"):
                conn.execute(statement)
    assert [r.type for r in index.search(Query())] == [
        "order.accepted",
        "order.filled",
        "risk.check",
    ]


def test_partitions_are_created_per_month(dsns: PostgresDsns, index: PostgresIndex) -> None:
    assert index.add(rows_of("a", lines(2, 0, "2024-01", 31))) == 2
    assert index.add(rows_of("a", lines(2, 2, "2024-02", 1))) == 2
    assert index.add(rows_of("a", lines(2, 4, "2024-04", 30))) == 2
    assert index.add(rows_of("a", lines(2, 4, "2024-04", 30))) == 0
    with owner_conn(dsns) as conn:
        found = conn.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid),"
            " (SELECT count(*) FROM pg_trigger t WHERE t.tgrelid = c.oid"
            "  AND t.tgname = 'audit_log_append_only') FROM pg_inherits i"
            " JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'tradetrail.audit_log'::regclass ORDER BY 1"
        ).fetchall()
        counts = conn.execute(
            "SELECT tableoid::regclass::text, count(*) FROM tradetrail.audit_log GROUP BY 1"
            " ORDER BY 1"
        ).fetchall()
    assert [(name, triggers) for name, _, triggers in found] == [
        ("audit_log_2024_01", 1),
        ("audit_log_2024_02", 1),
        ("audit_log_2024_04", 1),
    ]
    assert "FROM ('2024-01-01 00:00:00+00') TO ('2024-02-01 00:00:00+00')" in found[0][1]
    assert counts == [
        ("tradetrail.audit_log_2024_01", 2),
        ("tradetrail.audit_log_2024_02", 2),
        ("tradetrail.audit_log_2024_04", 2),
    ]


# -- the IndexBackend contract -------------------------------------------------------------


def test_add_search_last_seq_hashes_origins(index: PostgresIndex) -> None:
    rows = rows_of("desk-a", lines(12))
    assert index.last_seq("desk-a") == -1
    assert index.origins() == []
    assert index.add(rows) == 12
    assert index.last_seq("desk-a") == 11
    assert index.origins() == ["desk-a"]
    assert list(index.hashes("desk-a")) == [(r.seq, r.leaf_hash) for r in rows]
    assert index.leaf_hash("desk-a", 5) == rows[5].leaf_hash
    assert index.leaf_hash("desk-a", 12) is None
    found = index.search(Query(limit=None))
    assert [r.record for r in found] == [r.record for r in rows]  # byte-identical lines
    assert found[0] == IndexRow(*(*rows[0].as_tuple()[:-1], ""))
    assert [r.seq for r in index.search(Query(equals={"order_id": "O-2"}))] == [8, 9, 10, 11]
    assert [r.seq for r in index.search(Query(types=("order.*",), limit=3))] == [0, 1, 3]
    assert [r.seq for r in index.search(Query(types=("risk.check",), descending=True))] == [
        11,
        8,
        5,
        2,
    ]
    assert [r.seq for r in index.search(Query(text="FILL 7 alpha"))] == [7]
    assert index.search(Query(text="--")) == []
    assert index.search(Query(origin="other")) == []


def test_re_adding_is_idempotent(index: PostgresIndex) -> None:
    all_lines = lines(10)
    assert index.add(rows_of("a", all_lines[:6])) == 6
    assert index.add(rows_of("a", all_lines[:6])) == 0
    assert index.add(rows_of("a", all_lines[3:])) == 4
    assert index.add(rows_of("a", all_lines)) == 0
    assert list(index.hashes("a")) == [(r.seq, r.leaf_hash) for r in rows_of("a", all_lines)]


def test_a_changed_record_raises_and_is_never_overwritten(index: PostgresIndex) -> None:
    original = lines(6)
    index.add(rows_of("a", original[:4]))
    forged = lines(6, extra={"note": "forged"})
    with pytest.raises(IndexTamperError) as info:
        index.add(rows_of("a", [original[0], forged[1], forged[2], *original[4:]]))
    assert info.value.origin == "a"
    assert info.value.seqs == [1, 2]
    assert index.last_seq("a") == 5  # the fresh rows were stored
    stored = {r.seq: r.record for r in index.search(Query(limit=None))}
    assert stored == {seq: line.decode() for seq, line in enumerate(original)}
    assert index.leaf_hash("a", 1) == rows_of("a", original)[1].leaf_hash


def test_two_origins_share_one_database(dsns: PostgresDsns, index: PostgresIndex) -> None:
    index.add(rows_of("zeta", lines(5)))
    index.add(rows_of("alpha", lines(3, extra={"venue": "XNYS"})))
    other = PostgresIndex(dsns.app)  # a second process or trail writing the same database
    other.add(rows_of("Mid", lines(2)))
    other.close()
    assert index.origins() == ["Mid", "alpha", "zeta"]  # byte order, like SQLite
    assert (index.last_seq("zeta"), index.last_seq("alpha"), index.last_seq("Mid")) == (4, 2, 1)
    assert [s for s, _ in index.hashes("alpha")] == [0, 1, 2]
    assert {r.origin for r in index.search(Query(origin="alpha", limit=None))} == {"alpha"}
    both = index.search(Query(equals={"order_id": "O-0"}, limit=None))
    assert [(r.origin, r.seq) for r in both] == [
        ("Mid", 0),
        ("alpha", 0),
        ("zeta", 0),
        ("Mid", 1),
        ("alpha", 1),
        ("zeta", 1),
        ("alpha", 2),
        ("zeta", 2),
        ("zeta", 3),
    ]
    with pytest.raises(IndexStoreError, match="one origin per add"):
        index.add([*rows_of("a", lines(1)), *rows_of("b", lines(1))])


def test_copy_ingests_20k_rows_in_reasonable_time(index: PostgresIndex) -> None:
    rows = rows_of("bulk", lines(20_000))
    started = time.perf_counter()
    assert index.add(rows) == 20_000
    elapsed = time.perf_counter() - started
    assert elapsed < 60, f"20k rows took {elapsed:.1f}s"
    assert index.last_seq("bulk") == 19_999
    assert [r.seq for r in index.search(Query(equals={"order_id": "O-4321"}))] == [
        17284,
        17285,
        17286,
        17287,
    ]
    assert [r.seq for r in index.search(Query(text="fill 12345"))] == [12345]
    assert sum(1 for _ in index.hashes("bulk")) == 20_000


def test_hashes_are_read_in_pages(index: PostgresIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = rows_of("a", lines(25))
    index.add(rows)
    monkeypatch.setattr(pg, "HASH_PAGE", 7)
    assert list(index.hashes("a")) == [(r.seq, r.leaf_hash) for r in rows]


def test_ts_comes_back_exactly_and_bounds_select_by_time(index: PostgresIndex) -> None:
    odd = orjson.dumps(
        {"prev": ZERO, "seq": 3, "ts": "2024-03-01T00:00:03.123456789Z", "type": "x.y"}
    )
    index.add([*rows_of("a", lines(3)), row_from_line("a", odd)])
    assert [r.ts for r in index.search(Query())] == [
        "2024-03-01T00:00:00.000000Z",
        "2024-03-01T00:00:01.000001Z",
        "2024-03-01T00:00:02.000002Z",
        "2024-03-01T00:00:03.123456789Z",
    ]
    window = Query(since="2024-03-01T00:00:01.000001Z", until="2024-03-01T00:00:03.000000Z")
    assert [r.seq for r in index.search(window)] == [1, 2]


def test_a_nul_in_an_event_is_stored(index: PostgresIndex) -> None:
    line = orjson.dumps(
        {
            "data": {"note": "a\x00b zap"},
            "prev": ZERO,
            "seq": 0,
            "ts": "2024-03-01T00:00:00.000000Z",
            "type": "x.y",
            "symbol": "S\x00",
        }
    )
    assert index.add([row_from_line("a", line)]) == 1
    (found,) = index.search(Query(text="zap"))
    assert found.record == line.decode()
    assert index.add([row_from_line("a", line)]) == 0


# -- the same answers as SQLite ------------------------------------------------------------


def trail_lines(home: Path) -> list[bytes]:
    found: list[bytes] = []
    for path in sorted((home / "journal").glob("*.jsonl")):
        found.extend(path.read_bytes().split(b"\n")[:-1])
    return found


def test_search_matches_sqlite_on_a_real_journal(tmp_path: Path, index: PostgresIndex) -> None:
    clock = SimClock("2024-01-30T10:00:00")
    home = tmp_path / "trail"
    notes = [
        "Limit breached: BTC-USD qty=1.5e3 by risk_engine",
        "client_ref foo_bar baz",
        "bar foo reversed, café naïve ÉCOLE",
        "“quoted” words—dashed, ops@example.com /var/log/x.log v1.2.3",
        "Straße 100€ x€y",
        "alpha_beta_gamma and alpha beta",
    ]
    with tradetrail.open(home, clock=clock, min_free_bytes=0, durability="write") as trail:
        for i in range(60):
            trail.record(
                ("order.accepted", "order.filled", "risk.limit", "ops.note_added")[i % 4],
                {"note": notes[i % len(notes)], "n": i, "tags": [f"t{i % 5}", "common"]},
                order_id=f"O-{i // 3}",
                symbol=("BTC-USD", "ETH-USD")[i % 2],
                account=f"acct_{i % 3}",
                actor="alice" if i % 7 == 0 else None,
                strategy="momo" if i % 2 else None,
            ).wait()
            clock.advance(18 * 3600)  # across months
    rows = rows_of("trail", trail_lines(home))
    assert len(rows) >= 60
    lite = SqliteIndex(tmp_path / "index.sqlite")
    assert index.add(rows) == lite.add(rows) == len(rows)
    queries = [
        Query(limit=None),
        Query(limit=7, descending=True),
        Query(types=("order.*",), limit=None),
        Query(types=("ops.note_added", "risk.*"), limit=None),
        Query(types=("order",), limit=None),
        Query(types=("Order.*", "RISK.LIMIT"), limit=None),  # LIKE folds ASCII case, = not
        Query(types=("ops.note_*", "ops.note%"), limit=None),
        Query(equals={"order_id": "O-4"}),
        Query(equals={"symbol": "ETH-USD", "account": "acct_1"}, limit=None),
        Query(equals={"actor": "alice"}, descending=True),
        Query(since="2024-02-15", until="2024-03-01T00:00:00.000000Z", limit=None),
        Query(since="2024-02-15T00:00:00.000000Z", types=("order.filled",), limit=None),
    ]
    texts = [
        "breached",
        "BTC usd",
        "1 5e3",
        "1.5e3",
        "risk_engine",
        "foo_bar",
        "bar_foo",
        "foo bar",
        "cafe",
        "naive ecole",
        "café",
        "quoted words dashed",
        "ops example com",
        "var log",
        "v1 2 3",
        "strasse",
        "100",
        "x y",
        "alpha_beta",
        "beta_gamma",
        "alpha_gamma",
        "_",
        "foo _",
        "__foo",
        "common t3",
        "accepted",
        "order",
        "note_added",
        "acct_2 eth",
        "o 4",
        "alice",
        "nothingatall",
        "momo filled",
    ]
    queries += [Query(text=t, limit=None) for t in texts]
    queries += [Query(text="common", limit=5, descending=True), Query(text="t1", origin="x")]
    for query in queries:
        assert index.search(query) == lite.search(query), query
    assert index.search(Query(text="foo_bar", limit=None)) != []
    assert list(index.hashes("trail")) == list(lite.hashes("trail"))
    assert index.last_seq("trail") == lite.last_seq("trail")
    assert index.origins() == lite.origins()
    lite.close()


# -- errors ----------------------------------------------------------------------------


def test_errors_name_the_url_without_the_password(dsns: PostgresDsns) -> None:
    secret = "s3cr%40t-pw"  # percent-encoded '@'
    wrong = dsns.app.replace("app-secret-3Vx", secret)
    server_down = "postgresql://tt_app:hunter2@/x?host=/nonexistent/socket/dir"
    malformed = "postgresql://tt_app:hunter2@/x?nosuchoption=1"
    for url, cause in (
        (wrong, "password authentication failed"),
        (server_down, "No such file or directory"),
        (malformed, "nosuchoption"),
    ):
        with pytest.raises(IndexStoreError) as info:
            PostgresIndex(url)
        message = str(info.value)
        assert message.startswith(redact_url(url) + ": cannot open the index: "), message
        assert cause in message
        for leak in (secret, "s3cr@t-pw", "hunter2"):
            assert leak not in message
        with pytest.raises(IndexStoreError) as info:
            migrate(url, "tt_app")
        assert "hunter2" not in str(info.value) and secret not in str(info.value)
    with pytest.raises(IndexStoreError, match="not a PostgreSQL URL"):
        PostgresIndex("mysql://u:hunter2@h/db")


def test_permission_denied_is_an_index_store_error(dsns: PostgresDsns) -> None:
    with psycopg.connect(dsns.superuser, autocommit=True) as conn:
        conn.execute("CREATE ROLE tt_nobody LOGIN PASSWORD 'nobody-pw'")
        conn.execute("GRANT USAGE ON SCHEMA tradetrail TO tt_nobody")
        conn.execute("GRANT SELECT ON tradetrail.schema_migrations TO tt_nobody")
    try:
        nobody = dsns.app.replace("tt_app:app-secret-3Vx", "tt_nobody:nobody-pw")
        idx = PostgresIndex(nobody)
        with pytest.raises(IndexStoreError, match="permission denied") as info:
            idx.search(Query())
        assert "nobody-pw" not in str(info.value)
        assert str(info.value).startswith(idx.url + ": search failed: ")
        with pytest.raises(IndexStoreError, match="permission denied"):
            idx.add(rows_of("a", lines(1)))
        idx.close()
    finally:
        with psycopg.connect(dsns.superuser, autocommit=True) as conn:
            conn.execute("DROP OWNED BY tt_nobody")
            conn.execute("DROP ROLE tt_nobody")


def test_redact_url() -> None:
    assert redact_url("postgresql://u:p%40ss@db.example:5432/audit?sslmode=require") == (
        "postgresql://u@db.example:5432/audit?sslmode=require"
    )
    assert redact_url("postgresql://u@/audit?host=%2Ftmp&password=x") == (
        "postgresql://u@/audit?host=%2Ftmp"
    )
    assert redact_url("postgresql://db.example/audit") == "postgresql://db.example/audit"


def test_a_dropped_connection_is_reopened(dsns: PostgresDsns, index: PostgresIndex) -> None:
    index.add(rows_of("a", lines(2)))
    with psycopg.connect(dsns.superuser, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE usename = 'tt_app' AND pid <> pg_backend_pid()"
        )
    with pytest.raises(IndexStoreError, match=r"cannot read the index"):
        for _ in range(50):  # the backend may take a moment to go
            index.last_seq("a")
            time.sleep(0.05)
    assert index.last_seq("a") == 1
    assert index.add(rows_of("a", lines(4))) == 2


def test_closed_index_refuses(index: PostgresIndex) -> None:
    index.close()
    with pytest.raises(IndexStoreError, match="closed"):
        index.last_seq("a")


def test_threads_share_one_index(index: PostgresIndex) -> None:
    errors: list[BaseException] = []

    def work(origin: str) -> None:
        try:
            all_lines = lines(400)
            for start in range(0, 400, 50):
                index.add(rows_of(origin, all_lines[start : start + 50]))
                index.search(Query(text="alpha", origin=origin))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert index.origins() == ["t0", "t1", "t2", "t3"]
    assert all(index.last_seq(f"t{i}") == 399 for i in range(4))


def test_full_text_matches_sqlite_on_random_text(tmp_path: Path, index: PostgresIndex) -> None:
    """Random words, separators and non-ASCII letters: each query finds the same rows in both
    backends (the tokenising of fts_words against FTS5's unicode61)."""
    rnd = random.Random(20240301)
    vocab = ["alpha", "beta", "Gamma", "x1", "1e5", "2024", "0x1f", "ab12cd", "café", "ÉCOLE"]
    vocab += ["naïve", "Straße", "中文", "ΣΑΣ", "x²y", "a\ue000b", "ǅa", "İi", "ab\u0301cd"]
    seps = [" ", "_", "-", ".", ", ", "—", "’", "/", "@", "€", "\u00ad", "\u200b", "\t", "\n"]
    out = []
    for seq in range(300):
        text = "".join(rnd.choice(vocab) + rnd.choice(seps) for _ in range(rnd.randint(1, 8)))
        record = {"data": {"text": text}, "prev": ZERO, "seq": seq, "type": "fuzz.doc"}
        record["ts"] = f"2024-03-01T00:00:00.{seq:06d}Z"
        out.append(row_from_line("fuzz", orjson.dumps(record, option=orjson.OPT_SORT_KEYS)))
    lite = SqliteIndex(tmp_path / "index.sqlite")
    index.add(out)
    lite.add(out)
    ascii_words = ["alpha", "beta", "gamma", "x1", "1e5", "2024", "0x1f", "ab12cd", "cafe"]
    ascii_words += ["ecole", "naive", "stra", "e", "x", "y", "a", "b", "ii", "abcd", "cd", "doc"]
    matched = 0
    for _ in range(400):
        picked = rnd.sample(ascii_words, rnd.randint(1, 3))
        query = rnd.choice([" ", "_", " _", "-"]).join(picked)
        expected = lite.search(Query(text=query, limit=None))
        assert index.search(Query(text=query, limit=None)) == expected, query
        matched += bool(expected)
    assert matched > 50
    lite.close()


def test_writers_racing_on_one_origin_store_each_row_once(dsns: PostgresDsns) -> None:
    """Two connections (two processes, say) add the same records at once: the per-origin
    lock makes one of them find the other's rows, so every seq is stored once."""
    rows = rows_of("race", lines(3000))
    indexes = [PostgresIndex(dsns.app) for _ in range(3)]
    counts: list[int] = []
    errors: list[BaseException] = []

    def work(idx: PostgresIndex) -> None:
        try:
            counts.append(sum(idx.add(rows[i : i + 500]) for i in range(0, 3000, 500)))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(idx,)) for idx in indexes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(counts) == 3000
    assert list(indexes[0].hashes("race")) == [(r.seq, r.leaf_hash) for r in rows]
    for idx in indexes:
        idx.close()
