"""The search index: one contract suite run unchanged against every backend (SQLite here;
PostgreSQL joins through the `backend` fixture), then the feed from a real trail, lineage,
verify --index and the CLI."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

import tradetrail
from conftest import journal_lines
from tradetrail.cli import main
from tradetrail.errors import ConfigError, IndexStoreError, IndexTamperError
from tradetrail.index import (
    IndexBackend,
    Query,
    QueryError,
    SqliteIndex,
    check_index,
    lineage,
    open_index,
    parse_when,
    row_from_line,
    update_index,
)
from tradetrail.index.rows import IndexRow

ORIGIN = "test.example/desk-1"


def line(seq: int, event_type: str, ts: str, **fields: Any) -> bytes:
    record = {"seq": seq, "type": event_type, "ts": ts, "prev": "0" * 64, "event_id": f"e{seq}"}
    record.update(fields)
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


def rows(origin: str = ORIGIN) -> list[IndexRow]:
    """A small, hand-made set of records covering every filter."""
    specs = [
        (
            "order.submitted",
            "2024-03-01T09:00:00.000000Z",
            {
                "order_id": "O-1",
                "symbol": "BTC-USD",
                "account": "A-1",
                "strategy": "mm",
                "data": {"side": "buy", "qty": "1"},
            },
        ),
        (
            "risk.rejected",
            "2024-03-01T09:00:01.000000Z",
            {
                "symbol": "BTC-USD",
                "account": "A-1",
                "data": {"rule": "max_notional", "reason": "fat finger check"},
            },
        ),
        (
            "order.accepted",
            "2024-03-01T09:00:02.000000Z",
            {"order_id": "O-1", "exchange_order_id": "X-9", "symbol": "BTC-USD", "venue": "SIMX"},
        ),
        (
            "alert.sent",
            "2024-03-02T10:00:00.000000Z",
            {"actor": "system", "data": {"channel": "slack", "text": "Possible FAT finger on ETH"}},
        ),
        (
            "config.changed",
            "2024-03-02T11:00:00.000000Z",
            {"actor": "j.smith", "data": {"path": "risk.limit"}},
        ),
        (
            "order.filled",
            "2024-03-03T12:00:00.000000Z",
            {
                "order_id": "O-1",
                "symbol": "BTC-USD",
                "account": "A-1",
                "data": {"fill_qty": "1", "fill_price": "64000"},
            },
        ),
        (
            "risk.rejected",
            "2024-03-04T09:00:00.000000Z",
            {"symbol": "ETH-USD", "account": "A-2", "data": {"rule": "max_position"}},
        ),
    ]
    return [row_from_line(origin, line(seq, t, ts, **f)) for seq, (t, ts, f) in enumerate(specs)]


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[IndexBackend]:
    """Each contract test runs against an empty index of each backend (PostgreSQL: a fresh,
    migrated database on the session's throw-away server, used through the app role)."""
    index: IndexBackend
    if request.param == "sqlite":
        index = SqliteIndex(tmp_path / "index.sqlite")
    else:
        from tradetrail.index.postgres import PostgresIndex, migrate

        dsns = request.getfixturevalue("postgres_dsns").server.create_database()
        migrate(dsns.owner, dsns.app_role)
        index = PostgresIndex(dsns.app)
    yield index
    index.close()


def seqs(found: list[IndexRow]) -> list[int]:
    return [r.seq for r in found]


# ------------------------------------------------------------------------- the contract


def test_add_is_idempotent_and_last_seq_follows(backend: IndexBackend) -> None:
    assert backend.last_seq(ORIGIN) == -1
    assert backend.add(rows()) == 7
    assert backend.add(rows()) == 0
    assert backend.add(rows()[2:5]) == 0
    assert backend.last_seq(ORIGIN) == 6
    assert backend.leaf_hash(ORIGIN, 3) == rows()[3].leaf_hash
    assert backend.leaf_hash(ORIGIN, 99) is None
    assert list(backend.hashes(ORIGIN)) == [(r.seq, r.leaf_hash) for r in rows()]


def test_a_changed_record_is_reported_never_overwritten(backend: IndexBackend) -> None:
    original = rows()
    backend.add(original[:3])
    forged = row_from_line(
        ORIGIN, line(1, "risk.passed", "2024-03-01T09:00:01.000000Z", symbol="BTC-USD")
    )
    with pytest.raises(IndexTamperError, match=r"seq 1\b") as caught:
        backend.add([original[0], forged, *original[3:5]])
    assert caught.value.seqs == [1]
    assert backend.leaf_hash(ORIGIN, 1) == original[1].leaf_hash
    assert backend.last_seq(ORIGIN) == 4  # the fresh rows of the batch were stored
    (kept,) = backend.search(Query(types=("risk.rejected",), until="2024-03-02"))
    assert kept.record == original[1].record


def test_filters(backend: IndexBackend) -> None:
    backend.add(rows())
    assert seqs(backend.search(Query(types=("risk.rejected",)))) == [1, 6]
    assert seqs(backend.search(Query(types=("order.*",)))) == [0, 2, 5]
    assert seqs(backend.search(Query(types=("order.*", "alert.sent")))) == [0, 2, 3, 5]
    assert seqs(backend.search(Query(equals={"category": "risk"}))) == [1, 6]
    assert seqs(backend.search(Query(equals={"order_id": "O-1"}))) == [0, 2, 5]
    assert seqs(backend.search(Query(equals={"exchange_order_id": "X-9"}))) == [2]
    assert seqs(backend.search(Query(equals={"symbol": "BTC-USD", "account": "A-1"}))) == [0, 1, 5]
    assert seqs(backend.search(Query(equals={"actor": "j.smith"}))) == [4]
    assert seqs(backend.search(Query(equals={"strategy": "mm"}))) == [0]
    assert seqs(backend.search(Query(equals={"venue": "SIMX"}))) == [2]
    day = Query(since="2024-03-02T00:00:00.000000Z", until="2024-03-03T00:00:00.000000Z")
    assert seqs(backend.search(day)) == [3, 4]
    assert seqs(backend.search(Query(limit=2, descending=True))) == [6, 5]
    assert seqs(backend.search(Query(origin="other.example/x"))) == []


def test_full_text(backend: IndexBackend) -> None:
    backend.add(rows())
    assert seqs(backend.search(Query(text="fat finger"))) == [1, 3]  # any case, all words
    assert seqs(backend.search(Query(text="fat finger", types=("alert.*",)))) == [3]
    assert seqs(backend.search(Query(text="finger pizza"))) == []
    assert seqs(backend.search(Query(text="SIMX"))) == [2]  # envelope ids are searchable
    assert seqs(backend.search(Query(text="risk rejected"))) == [1, 6]  # the type too
    assert seqs(backend.search(Query(text="'; DROP TABLE audit_log; --"))) == []


def test_rows_keep_the_journal_line_byte_for_byte(backend: IndexBackend) -> None:
    original = rows()
    backend.add(original)
    found = backend.search(Query(limit=None))
    assert [r.record for r in found] == [r.record for r in original]
    assert [r.ts for r in found] == [r.ts for r in original]
    assert found[2].exchange_order_id == "X-9"


def test_several_origins_share_one_index(backend: IndexBackend) -> None:
    backend.add(rows())
    backend.add(rows("test.example/desk-2")[:3])
    assert backend.origins() == [ORIGIN, "test.example/desk-2"]
    assert backend.last_seq("test.example/desk-2") == 2
    assert len(backend.search(Query(equals={"order_id": "O-1"}))) == 5
    assert len(backend.search(Query(equals={"order_id": "O-1"}, origin=ORIGIN))) == 3


# ---------------------------------------------------------------------- queries and URLs


def test_bad_queries_name_the_fault() -> None:
    with pytest.raises(QueryError, match="unknown field 'qty'"):
        Query(equals={"qty": "1"})
    with pytest.raises(QueryError, match="--since: 'last tuesday' is not a time"):
        parse_when("last tuesday", "--since")
    with pytest.raises(QueryError, match="limit"):
        Query(limit=0)
    assert parse_when("2024-03-01", "--since") == "2024-03-01T00:00:00.000000Z"
    assert parse_when("2024-03-01T10:00:00+01:00", "--since") == "2024-03-01T09:00:00.000000Z"


def test_relative_times() -> None:
    from datetime import UTC, datetime

    now = datetime(2024, 3, 8, 12, 0, tzinfo=UTC)
    assert parse_when("2h", "--since", now) == "2024-03-08T10:00:00.000000Z"
    assert parse_when("7d", "--since", now) == "2024-03-01T12:00:00.000000Z"


def test_url_selects_the_backend(tmp_path: Path) -> None:
    index = open_index(tmp_path, env={})
    assert isinstance(index, SqliteIndex) and index.path == tmp_path / "index.sqlite"
    index.close()
    other = tmp_path / "elsewhere.sqlite"
    index = open_index(tmp_path, env={"TRADETRAIL_DATABASE_URL": f"sqlite:///{other}"})
    assert isinstance(index, SqliteIndex) and index.path == other
    index.close()
    with pytest.raises(ConfigError, match="scheme 'mysql' is not supported"):
        open_index(tmp_path, "mysql://x@y/z")


def test_sqlite_rows_are_append_only(tmp_path: Path) -> None:
    index = SqliteIndex(tmp_path / "i.sqlite")
    index.add(rows())
    index.close()
    db = sqlite3.connect(tmp_path / "i.sqlite")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE audit_log SET type = 'x.y' WHERE seq = 1")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM audit_log")
    db.close()


def test_an_unreadable_index_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "index.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(IndexStoreError, match=r"index\.sqlite: cannot open the index"):
        SqliteIndex(bad)


# ------------------------------------------------------------------------- a real trail


@pytest.fixture
def demo_home(demo_trail: Path) -> Path:
    """A fresh copy of the session's demo trail (the feed test records into it)."""
    return demo_trail


def test_feed_is_incremental_and_checked(demo_home: Path, tmp_path: Path) -> None:
    index = SqliteIndex(tmp_path / "i.sqlite")
    total = len(journal_lines(demo_home))
    result = update_index(demo_home, index, batch=200)
    assert (result.added, result.last_seq) == (total, total - 1)
    assert update_index(demo_home, index).added == 0
    with tradetrail.open(demo_home, min_free_bytes=0) as trail:
        trail.record("desk.note", {"text": "after the demo"})
    assert update_index(demo_home, index).added == 1
    check = check_index(demo_home, index)
    assert check.ok and check.checked == total + 1
    index.close()


def test_verify_index_finds_missing_extra_and_differing_rows(
    demo_home: Path, tmp_path: Path
) -> None:
    good = SqliteIndex(tmp_path / "good.sqlite")
    update_index(demo_home, good)
    lines = [ln for _, ln in journal_lines(demo_home)]
    origin = good.origins()[0]
    bad = SqliteIndex(tmp_path / "bad.sqlite")
    made = [row_from_line(origin, ln) for ln in lines]
    forged = row_from_line(origin, lines[7].replace(b'"type":"', b'"type":"x', 1))
    made[7] = forged
    del made[10]
    bad.add(made)
    bad.add(
        [row_from_line(origin, line(len(lines) + 5, "desk.ghost", "2099-01-01T00:00:00.000000Z"))]
    )
    check = check_index(demo_home, bad)
    assert (check.missing, check.extra, check.differ) == ([10], [len(lines) + 5], [7])
    assert not check.ok
    good.close()
    bad.close()


def test_feed_refuses_a_journal_that_changed_below_the_index(
    demo_home: Path, tmp_path: Path
) -> None:
    index = SqliteIndex(tmp_path / "i.sqlite")
    update_index(demo_home, index)
    origin = index.origins()[0]
    last = index.last_seq(origin)
    stale = SqliteIndex(tmp_path / "stale.sqlite")
    lines = [ln for _, ln in journal_lines(demo_home)]
    stale.add([row_from_line(origin, ln) for ln in lines[:-1]])
    # the stored hash of the row before the tail no longer matches what the journal chains to
    stale.close()
    db = sqlite3.connect(tmp_path / "stale.sqlite")
    db.execute("DROP TRIGGER audit_log_no_delete")
    db.execute("DELETE FROM audit_log WHERE seq = ?", (last - 1,))
    db.execute(
        "INSERT INTO audit_log (origin, seq, leaf_hash, prev, ts, type, category, event_id, record)"
        " VALUES (?, ?, ?, '', '', 'x.y', 'x', 'e', '{}')",
        (origin, last - 1, "f" * 64),
    )
    db.commit()
    db.close()
    stale = SqliteIndex(tmp_path / "stale.sqlite")
    with pytest.raises(IndexStoreError, match=f"seq {last}: prev does not match"):
        update_index(demo_home, stale)
    stale.close()
    index.close()


def test_lineage_follows_ids_through_replaces_and_fills(demo_home: Path, tmp_path: Path) -> None:
    index = SqliteIndex(tmp_path / "i.sqlite")
    update_index(demo_home, index)
    replaced = index.search(Query(types=("order.replaced",), limit=1))
    assert replaced, "the demo replaces orders"
    order_id = replaced[0].order_id
    assert order_id is not None
    story = lineage(index, order_id)
    family = story.orders[order_id]
    types = [r.type for r in family]
    assert types[0] == "order.submitted" and "order.replaced" in types
    assert {r.type.split(".")[0] for r in story.signals} >= {"signal", "risk"}
    assert all(r.signal_id == family[0].signal_id for r in story.signals)
    fills = [r for r in family if r.type in ("order.filled", "order.partially_filled")]
    if fills:
        side = family[0].parsed()["data"]["side"]
        total = sum(__import__("decimal").Decimal(r.parsed()["data"]["fill_qty"]) for r in fills)
        (change,) = story.positions
        assert change.qty == (total if side == "buy" else -total)
    assert not lineage(index, "no-such-order").found
    index.close()


# --------------------------------------------------------------------------------- CLI


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_cli_search_outputs(demo_home: Path) -> None:
    home = str(demo_home)
    result = run("search", "--home", home, "--type", "risk.rejected", "--json")
    assert result.exit_code == 0
    records = [orjson.loads(ln) for ln in result.stdout.splitlines()]
    assert records and all(r["type"] == "risk.rejected" and "seq" in r for r in records)
    by_line = {orjson.loads(ln)["seq"]: ln for _, ln in journal_lines(demo_home)}
    for raw in result.stdout.splitlines():
        assert by_line[orjson.loads(raw)["seq"]] == raw.encode()  # the journal line itself
    csv_out = run("search", "--home", home, "--category", "config", "--csv").stdout
    header, *body = csv_out.splitlines()
    assert header.startswith("seq,ts,type,actor")
    assert body and all(",config." in row for row in body)
    table = run("search", "--home", home, "--type", "auth.login_failed")
    assert table.exit_code == 0 and "auth.login_failed" in table.stdout
    none = run("search", "--home", home, "--symbol", "NOPE")
    assert none.exit_code == 1


def test_cli_search_with_proofs_that_verify(demo_home: Path) -> None:
    from tradetrail.store.proofs import verify_proof_json

    result = run(
        "search", "--home", str(demo_home), "--type", "config.changed", "--json", "--proof"
    )
    assert result.exit_code == 0
    for raw in result.stdout.splitlines():
        hit = orjson.loads(raw)
        proof = hit["inclusion_proof"]
        assert proof["leaf_index"] == hit["seq"]
        verify_proof_json(proof, [tradetrail.store.keys.read_vkey(demo_home / "trail.vkey")])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "tuesday"], "--since: 'tuesday' is not a time"),
        (["--field", "qty=1"], "--field 'qty': unknown field"),
        (["--field", "symbol"], "expected NAME=VALUE"),
        (["--json", "--csv"], "choose one"),
        (["--database-url", "mysql://u@h/db"], "scheme 'mysql' is not supported"),
    ],
)
def test_cli_bad_queries_exit_2_with_one_line(
    demo_home: Path, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(main, ["search", "--home", str(demo_home), *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_lineage_verify_index_and_rebuild(demo_home: Path) -> None:
    home = str(demo_home)
    order = run("search", "--home", home, "--type", "order.replaced", "--json", "--limit", "1")
    order_id = orjson.loads(order.stdout.splitlines()[0])["order_id"]
    tree = run("lineage", "--home", home, order_id)
    assert tree.exit_code == 0
    assert f"order {order_id}" in tree.stdout and "decision" in tree.stdout
    as_json = orjson.loads(run("lineage", "--home", home, order_id, "--json").stdout)
    assert order_id in as_json["orders"]
    assert run("lineage", "--home", home, "NOPE").exit_code == 1
    verify = run("verify", "--home", home, "--index")
    assert verify.exit_code == 0 and "index OK" in verify.stdout
    before = (demo_home / "index.sqlite").stat().st_ino
    rebuilt = run("index", "rebuild", "--home", home)
    assert rebuilt.exit_code == 0
    assert (demo_home / "index.sqlite").stat().st_ino != before
    assert run("verify", "--home", home, "--index").exit_code == 0
    assert "0 new record" in run("index", "update", "--home", home).stdout


# ----------------------------------------------------------------- a live trail's index


def test_trail_search_sees_what_was_just_recorded(open_trail: Callable[..., Any]) -> None:
    trail = open_trail()
    for n in range(5):
        trail.record(
            "desk.note",
            {"text": f"note {n} fat finger" if n == 3 else f"note {n}"},
            symbol="BTC-USD" if n % 2 else "ETH-USD",
        )
    found = trail.search(symbol="BTC-USD")
    assert [r["data"]["text"] for r in found] == ["note 1", "note 3 fat finger"]
    assert [r["seq"] for r in trail.search(text="fat finger")] == [3]
    assert [r["seq"] for r in trail.search(types=["desk.*"], limit=2, descending=True)] == [4, 3]
    with pytest.raises(QueryError, match="unknown field 'qty'"):
        trail.search(qty="1")


def test_background_indexer_follows_and_survives_a_database_outage(
    open_trail: Callable[..., Any], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from tradetrail.index.follow import Indexer

    down = tmp_path / "not-yet" / "index.sqlite"
    with caplog.at_level(logging.WARNING, logger="tradetrail.index"):
        trail = open_trail(index=f"sqlite:///{down}")
        receipts = [trail.record("desk.tick", {"n": n}) for n in range(50)]
        receipts[-1].wait(timeout=10)  # trading goes on while the index is down
        indexer = trail._indexer
        assert isinstance(indexer, Indexer)
        assert not indexer.catch_up(timeout=5)
        assert indexer.last_error is not None
        down.parent.mkdir()  # the database is back
        assert wait_until_caught_up(indexer)
    warnings = [r.getMessage() for r in caplog.records if r.name == "tradetrail.index"]
    assert any("is not being updated" in m for m in warnings)
    assert any("caught up again" in m for m in warnings)
    index = SqliteIndex(down)
    assert index.last_seq(index.origins()[0]) == 49
    index.close()
    trail.record("desk.tick", {"n": 50})
    trail.close()  # the last records are indexed at close
    index = SqliteIndex(down)
    assert index.last_seq(index.origins()[0]) == 50
    index.close()


def wait_until_caught_up(indexer: Any, timeout: float = 60.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if indexer.catch_up(timeout=5):
            return True
    return False


def test_row_columns_follow_the_declared_order() -> None:
    from tradetrail.index.rows import COLUMNS

    (row,) = rows()[2:3]
    assert row.as_tuple() == tuple(getattr(row, name) for name in COLUMNS)
    assert row.exchange_order_id == "X-9" and row.venue == "SIMX" and row.category == "order"


def test_cli_on_postgres_end_to_end(demo_home: Path, postgres_dsns: Any) -> None:
    """The same commands against PostgreSQL: migrate, search (which feeds it), lineage, verify
    --index, and a rebuild that re-offers every record."""
    dsns = postgres_dsns.server.create_database()
    migrated = run("db", "migrate", "--owner-url", dsns.owner, "--app-role", dsns.app_role)
    assert migrated.exit_code == 0 and "applied" in migrated.stdout
    assert "up to date" in run("db", "migrate", "--owner-url", dsns.owner).stdout
    home = str(demo_home)
    url = ["--home", home, "--database-url", dsns.app]
    sqlite_hits = run("search", "--home", home, "--type", "risk.*", "--json", "--limit", "500")
    pg_hits = run("search", *url, "--type", "risk.*", "--json", "--limit", "500")
    assert pg_hits.exit_code == 0
    assert pg_hits.stdout == sqlite_hits.stdout  # the same records, byte for byte
    text = run("search", *url, "--text", "insufficient margin", "--json")
    assert (
        text.stdout
        == run("search", "--home", home, "--text", "insufficient margin", "--json").stdout
    )
    order_id = (
        orjson.loads(pg_hits.stdout.splitlines()[0]).get("order_id")
        or orjson.loads(
            run("search", *url, "--type", "order.filled", "--json", "--limit", "1").stdout
        )["order_id"]
    )
    assert run("lineage", *url, order_id).exit_code == 0
    verify = run("verify", *url, "--index")
    assert verify.exit_code == 0 and "index OK" in verify.stdout
    assert run("index", "rebuild", *url).exit_code == 0


def test_db_migrate_with_only_the_database_url(postgres_dsns: Any) -> None:
    """TRADETRAIL_DATABASE_URL alone is enough to migrate: its role owns the schema, and the
    command says so in one line; with no URL at all it is a usage error naming both."""
    dsns = postgres_dsns.server.create_database()
    runner = CliRunner()
    env = {"TRADETRAIL_DATABASE_URL": dsns.owner}
    migrated = runner.invoke(main, ["db", "migrate", "--app-role", dsns.app_role], env=env)
    assert migrated.exit_code == 0, migrated.output
    assert "applied migration(s)" in migrated.stdout
    (note,) = migrated.stderr.splitlines()
    assert "(tt_owner) owns the schema" in note and "triggers" in note
    assert "secret" not in migrated.output  # the password stays out of the note
    again = runner.invoke(main, ["db", "migrate"], env=env)
    assert again.exit_code == 0 and "up to date" in again.stdout
    named = runner.invoke(main, ["db", "migrate", "--owner-url", dsns.owner], env=env)
    assert named.exit_code == 0 and named.stderr == ""  # an explicit owner needs no note
    # the schema it made is the real one: the app role inserts, the triggers refuse changes
    import psycopg

    from tradetrail.index.postgres import PostgresIndex

    index = PostgresIndex(dsns.app)
    try:
        assert index.add(rows()[:1]) == 1
    finally:
        index.close()
    with psycopg.connect(dsns.owner, autocommit=True) as conn, pytest.raises(psycopg.Error):
        conn.execute("DELETE FROM tradetrail.audit_log")
    missing = runner.invoke(main, ["db", "migrate"])
    assert missing.exit_code == 2
    assert "--owner-url" in missing.stderr and "TRADETRAIL_DATABASE_URL" in missing.stderr


def test_cli_postgres_errors_are_one_line_without_the_password(demo_home: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "search",
            "--home",
            str(demo_home),
            "--database-url",
            "postgresql://app:s3cret-pw@127.0.0.1:1/nodb?connect_timeout=2",
        ],
    )
    assert result.exit_code == 2
    assert "s3cret-pw" not in result.stderr and "Traceback" not in result.stderr
    assert "127.0.0.1" in result.stderr


def test_search_piped_into_head_ends_quietly(demo_home: Path) -> None:
    import subprocess
    import sys

    cmd = f"{sys.executable} -m tradetrail search --home {demo_home} --limit 5000 --json | head -1"
    done = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {cmd}"], capture_output=True, text=True, timeout=120
    )
    assert done.stdout.count("\n") == 1
    assert "Broken pipe" not in done.stderr and "Traceback" not in done.stderr
    assert done.returncode == 0


def test_postgres_without_psycopg_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """psycopg is the extra tradetrail[postgres]: without it a PostgreSQL URL is one error that
    says what to install, not an ImportError from deep inside."""
    from tradetrail.errors import MissingExtraError
    from tradetrail.index import open_index

    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "tradetrail.index.postgres", raising=False)
    with pytest.raises(MissingExtraError, match=r"pip install 'tradetrail\[postgres\]'"):
        open_index(tmp_path, "postgresql://app@localhost/audit")
