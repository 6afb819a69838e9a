"""The daily pack (`tradetrail export daily`), made from real trails: a demo trail with two
sealed days and an open one, and a small hand-made trail with a day without events, a day
without trading and values a spreadsheet would run as formulas."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

import tradetrail
import tradetrail.cli.export
from conftest import SimClock, copy_demo_trail
from helpers import FIXTURES
from tradetrail.cli import main
from tradetrail.compliance import export as export_use_case
from tradetrail.core.note import open_note
from tradetrail.core.pack import CHECK_SCRIPT, FORMAT
from tradetrail.core.packtables import (
    CSV_COLUMNS,
    DayTables,
    exact_product,
    micro,
    neutralise,
    pad,
)
from tradetrail.export import PackError, export_daily
from tradetrail.store.keys import VKEY_FILE, read_vkey
from tradetrail.store.proofs import verify_proof_json
from tradetrail.verify.pack import verify_pack

TODAY = datetime(2024, 3, 6, tzinfo=UTC)
DAY1, DAY2, OPEN_DAY = "2024-03-04", "2024-03-05", "2024-03-06"
PACK_FILES = {
    "README.md",
    "SHA256SUMS",
    "access.jsonl",
    "alerts.jsonl",
    "blotter.csv",
    "checkpoint",
    "config.diff",
    "config_snapshot.json",
    "events.jsonl",
    "fills.csv",
    "manifest.json",
    "manifest.sig",
    "nav.csv",
    "corrections.csv",
    "orders.csv",
    "positions.csv",
    "proofs.json",
    "risk_events.jsonl",
}


def run(*args: Any) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def rows(path: Path) -> list[dict[str, str]]:
    data = path.read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf"), "no BOM"
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def day_records(home: Path, day: str) -> list[dict[str, Any]]:
    path = home / "journal" / f"audit-{day.replace('-', '')}.jsonl"
    return [orjson.loads(line) for line in path.read_bytes().split(b"\n")[:-1]]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, demo_trail_template: Path) -> Iterator[Path]:
    """A copy of the session's demo trail (two sealed days, an open one) with the packs of both
    sealed days made."""
    home = copy_demo_trail(demo_trail_template, tmp_path_factory.mktemp("demo") / "trail")
    export_daily(home, DAY1)
    export_daily(home, DAY2)
    yield home


def tmp_path_of(pack_dir: Path) -> Path:
    """A scratch directory beside a pack (not inside it: the pack must stay as made)."""
    scratch = pack_dir.parent / "scratch"
    scratch.mkdir(exist_ok=True)
    return scratch


def pack(home: Path, day: str) -> Path:
    return home / "exports" / "daily" / day


# ------------------------------------------------------------------------------ the files


def test_a_sealed_day_gets_every_file(demo: Path) -> None:
    for day in (DAY1, DAY2):
        assert {p.name for p in pack(demo, day).iterdir()} == PACK_FILES
        manifest = orjson.loads((pack(demo, day) / "manifest.json").read_bytes())
        listed = {f["name"] for f in manifest["files"]}
        assert listed == PACK_FILES - {"manifest.json", "manifest.sig", "SHA256SUMS"}
        assert manifest["partial"] is False and manifest["status"] == "sealed"
        assert manifest["tool"] == {"name": "tradetrail", "version": tradetrail.__version__}
        assert manifest["trading"] is True
        assert manifest["checkpoint"]["at_seal"] is True
        records = day_records(demo, day)
        assert manifest["records"] == len(records)
        assert manifest["seq"] == {"first": records[0]["seq"], "last": records[-1]["seq"]}
        assert manifest["checkpoint"]["size"] == records[-1]["seq"] + 1
        for entry in manifest["files"]:
            data = (pack(demo, day) / entry["name"]).read_bytes()
            assert entry["size"] == len(data)
        by_name = {f["name"]: f for f in manifest["files"]}
        assert by_name["events.jsonl"]["rows"] == len(records)
        assert by_name["orders.csv"]["rows"] == len(rows(pack(demo, day) / "orders.csv"))
        text = (pack(demo, day) / "manifest.json").read_bytes()
        assert text.endswith(b"\n") and text.count(b"\n") == 1
        assert orjson.dumps(orjson.loads(text), option=orjson.OPT_SORT_KEYS) + b"\n" == text


def test_the_manifest_is_signed_by_the_trail_key(demo: Path) -> None:
    vkey = read_vkey(demo / VKEY_FILE)
    signed = (pack(demo, DAY1) / "manifest.sig").read_text()
    note, verified = open_note(signed, [vkey])
    assert verified == [vkey]
    assert note.text.encode() == (pack(demo, DAY1) / "manifest.json").read_bytes()
    checkpoint = (pack(demo, DAY1) / "checkpoint").read_bytes()
    size = orjson.loads((pack(demo, DAY1) / "manifest.json").read_bytes())["checkpoint"]["size"]
    assert checkpoint == (demo / "checkpoints" / str(size)).read_bytes()


def test_a_pack_is_byte_identical_however_often_it_is_made(demo: Path, tmp_path: Path) -> None:
    again = export_daily(demo, DAY1, out=tmp_path / "again")
    assert again.created
    first = pack(demo, DAY1)
    for path in first.iterdir():
        assert (tmp_path / "again" / path.name).read_bytes() == path.read_bytes(), path.name
    remade = export_daily(demo, DAY1)  # the default place already holds it: left as is
    assert not remade.created and remade.path == first
    result = run("export", "daily", "--home", demo, "--date", DAY1, "--json")
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["created"] is False


def test_a_different_pack_in_the_way_is_not_overwritten(demo: Path, tmp_path: Path) -> None:
    target = tmp_path / "pack"
    export_daily(demo, DAY1, out=target)
    with pytest.raises(PackError, match="already exists"):
        export_daily(demo, DAY2, out=target)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    result = run("export", "daily", "--home", demo, "--date", DAY1, "--out", tmp_path / "other")
    assert result.exit_code == 2 and "already exists" in result.output
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temp dir left"


def test_an_attested_pack_counts_as_the_same_pack(demo: Path, tmp_path: Path) -> None:
    from tradetrail.core.note import Signer, add_signatures

    target = tmp_path / "pack"
    export_daily(demo, DAY1, out=target)
    sig = target / "manifest.sig"
    sig.write_text(add_signatures(sig.read_text(), Signer.generate("compliance.example/officer")))
    assert not export_daily(demo, DAY1, out=target).created
    assert len(open_note(sig.read_text(), [read_vkey(demo / VKEY_FILE)])[0].signatures) == 2


def test_events_jsonl_is_the_journal_day_file(demo: Path) -> None:
    for day in (DAY1, DAY2):
        journal = demo / "journal" / f"audit-{day.replace('-', '')}.jsonl"
        assert (pack(demo, day) / "events.jsonl").read_bytes() == journal.read_bytes()


# ------------------------------------------------------------------------------ the tables


def test_csv_is_rfc4180_with_fixed_columns(demo: Path) -> None:
    for name, columns in CSV_COLUMNS.items():
        data = (pack(demo, DAY1) / name).read_bytes()
        header = data.partition(b"\r\n")[0]
        assert header.decode().split(",") == list(columns)
        assert b"\n" not in data.replace(b"\r\n", b""), f"{name}: bare LF"
        assert data.endswith(b"\r\n")
    orders = (pack(demo, DAY1) / "orders.csv").read_bytes()
    assert re.search(
        rb',"\{""arrival_price"":""[0-9.]+"",""currency"":""USD""\}"\r\n', orders
    )  # JSON: quoted, quotes doubled


def padded(cell: str, recorded: str) -> bool:
    """Whether a CSV cell is the recorded decimal with trailing zeros added (format /3)."""
    if cell == recorded:
        return True
    extra = cell[len(recorded) :]
    return cell.startswith(recorded) and extra.strip(".0") == "" and extra.count(".") <= 1


def test_orders_and_fills_are_what_the_events_say(demo: Path) -> None:
    records = {r["seq"]: r for r in day_records(demo, DAY1)}
    fills = rows(pack(demo, DAY1) / "fills.csv")
    kinds = {"order.filled", "order.partially_filled"}
    assert [int(r["seq"]) for r in fills] == [s for s, r in records.items() if r["type"] in kinds]
    for row in fills:
        rec = records[int(row["seq"])]
        data = rec["data"]
        for column in ("fill_qty", "fill_price", "fee", "cum_qty", "remaining_qty", "avg_price"):
            assert padded(row[column], data.get(column, "")), column  # the value as recorded
        assert row["order_id"] == rec["order_id"] and row["trade_id"] == data["trade_id"]
        assert row["ts"] == micro(rec["ts"]) and row["event_ts"] == micro(rec["event_ts"])
    assert any(r["remaining_qty"].endswith("0") and "." in r["remaining_qty"] for r in fills)
    orders = rows(pack(demo, DAY1) / "orders.csv")
    submitted = [r for r in orders if r["type"] == "order.submitted"]
    assert submitted
    for row in submitted:
        data = records[int(row["seq"])]["data"]
        assert row["side"] == data["side"] and padded(row["qty"], data["qty"])
        assert padded(row["price"], data.get("price", ""))
        rest = {k: v for k, v in data.items() if k not in CSV_COLUMNS["orders.csv"]}
        assert orjson.loads(row["other"]) == rest
    types = {r["type"] for r in orders}
    assert {"order.submitted", "order.accepted", "order.cancelled"} <= types
    assert not types & kinds


def test_the_blotter_has_one_exact_row_per_execution(demo: Path) -> None:
    records = {r["seq"]: r for r in day_records(demo, DAY1)}
    blotter = rows(pack(demo, DAY1) / "blotter.csv")
    assert len(blotter) == len(rows(pack(demo, DAY1) / "fills.csv"))
    for row in blotter:
        rec = records[int(row["seq"])]
        data = rec["data"]
        assert row["trade_time"] == micro(rec["event_ts"]) and row["trade_date"] == DAY1
        assert padded(row["quantity"], data["fill_qty"])
        assert padded(row["price"], data["fill_price"]) and padded(row["fees"], data["fee"])
        with localcontext(prec=200):
            gross = Decimal(data["fill_qty"]) * Decimal(data["fill_price"])
        assert Decimal(row["gross_amount"]) == gross
        assert padded(row["gross_amount"], format(gross, "f"))
        assert row["side"] == data["side"] and row["execution_id"] == data["trade_id"]
        assert (row["account"], row["venue"], row["symbol"]) == (
            rec["account"],
            rec["venue"],
            rec["symbol"],
        )
    assert exact_product("0.1", "0.2") == "0.02"
    assert exact_product("123456789.123456789", "987654321.987654321") == (
        "121932631356500531.347203169112635269"
    )
    assert exact_product("12345678901234567890.1", "3") == "37037036703703703670.3"


def test_positions_are_the_last_snapshot_and_nav_every_computation(demo: Path) -> None:
    records = day_records(demo, DAY1)
    last: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
    for rec in records:
        if rec["type"] == "portfolio.position_snapshot":
            for entry in rec["data"]["positions"]:
                last[(rec["account"], entry["symbol"])] = (rec["seq"], entry)
    positions = rows(pack(demo, DAY1) / "positions.csv")
    assert [(r["account"], r["symbol"]) for r in positions] == sorted(last)
    negative = 0
    for row in positions:
        seq, entry = last[(row["account"], row["symbol"])]
        assert int(row["seq"]) == seq
        for column in ("qty", "avg_price", "mark_price", "market_value", "unrealized_pnl"):
            assert row[column] == entry.get(column, ""), column  # -1916.2 stays a number
        negative += row["qty"].startswith("-")
    assert negative, "the demo holds short positions: negative numbers are not neutralised"
    navs = [r for r in records if r["type"] == "portfolio.nav_computed"]
    nav = rows(pack(demo, DAY1) / "nav.csv")
    assert len(nav) == len(navs) == 2
    for row, rec in zip(nav, navs, strict=True):
        assert int(row["seq"]) == rec["seq"] and row["account"] == rec["account"]
        for column in ("cash", "positions_at_mark", "fees", "accruals", "nav", "currency"):
            assert row[column] == rec["data"][column]


def test_jsonl_files_hold_the_journal_lines_of_their_events(demo: Path) -> None:
    lines = (pack(demo, DAY1) / "events.jsonl").read_bytes().split(b"\n")[:-1]
    for name, wanted in (
        ("alerts.jsonl", lambda t: t == "alert.sent"),
        ("risk_events.jsonl", lambda t: t.startswith("risk.")),
        ("access.jsonl", lambda t: t.startswith("auth.")),
    ):
        expect = [line for line in lines if wanted(orjson.loads(line)["type"])]
        assert expect, name
        assert (pack(demo, DAY1) / name).read_bytes() == b"".join(x + b"\n" for x in expect)


def test_config_in_force_and_the_days_change(demo: Path) -> None:
    records = day_records(demo, DAY1)
    snapshot = next(r for r in records if r["type"] == "config.snapshot")
    change = next(r for r in records if r["type"] == "config.changed")
    doc = orjson.loads((pack(demo, DAY1) / "config_snapshot.json").read_bytes())
    assert doc["status"] == "ok" and doc["snapshot"]["seq"] == snapshot["seq"]
    assert doc["snapshot"]["hash"] == doc["snapshot"]["content_hash"] == snapshot["data"]["hash"]
    key = change["data"]["keys"][0]
    expected = dict(snapshot["data"]["content"], **{key: change["data"]["new_value"]})
    assert doc["in_force"] == expected
    assert doc["in_force_hash"] == change["data"]["new_hash"]  # the change is fully accounted
    [noted] = doc["changes_since_snapshot"]
    assert noted["seq"] == change["seq"] and noted["applied"] and noted["on_this_day"]
    assert noted["actor"] == "j.smith" and noted["ticket"] == change["data"]["ticket"]
    diff = (pack(demo, DAY1) / "config.diff").read_text()
    old, new = change["data"]["old_value"], change["data"]["new_value"]
    assert f'-  "{key}": "{old}",\n' in diff and f'+  "{key}": "{new}",\n' in diff
    assert f"--- desk.toml (before seq {change['seq']})" in diff
    assert '# reason: "volatility up"' in diff
    assert "recorded on 2024-03-04 (UTC): 1\n" in diff


# ------------------------------------------------------------------------------ proofs


def test_proofs_verify_and_the_packs_chain(demo: Path) -> None:
    vkey = read_vkey(demo / VKEY_FILE)
    proofs1 = orjson.loads((pack(demo, DAY1) / "proofs.json").read_bytes())
    proofs2 = orjson.loads((pack(demo, DAY2) / "proofs.json").read_bytes())
    events2 = (pack(demo, DAY2) / "events.jsonl").read_bytes().split(b"\n")[:-1]
    for key, line in (("first", events2[0]), ("last", events2[-1])):
        proof = proofs2[key]
        verify_proof_json(proof, [vkey])
        assert proof["record"].encode() == line
        assert proof["checkpoint"] == (pack(demo, DAY2) / "checkpoint").read_text()
    assert proofs1["consistency"] is None  # day 1 starts the trail
    assert proofs1["frontier"] == {"size": 0, "hashes": []}
    consistency = proofs2["consistency"]
    said = verify_proof_json(consistency, [vkey])
    assert "prefix" in said[-1]
    day1_size = orjson.loads((pack(demo, DAY1) / "manifest.json").read_bytes())["checkpoint"]
    assert consistency["old_size"] == day1_size["size"] == proofs2["frontier"]["size"]
    assert consistency["old_checkpoint"] == (pack(demo, DAY1) / "checkpoint").read_text()
    assert consistency["checkpoint"] == (pack(demo, DAY2) / "checkpoint").read_text()
    manifest2 = orjson.loads((pack(demo, DAY2) / "manifest.json").read_bytes())
    assert manifest2["previous_checkpoint"] == {
        "size": day1_size["size"],
        "root": day1_size["root"],
    }


# ------------------------------------------------------------------------------ open days


def test_an_open_day_is_refused_without_partial(demo: Path, tmp_path: Path) -> None:
    with pytest.raises(PackError, match="still open"):
        export_daily(demo, OPEN_DAY, out=tmp_path / "open")
    result = run("export", "daily", "--home", demo, "--date", OPEN_DAY, "--out", tmp_path / "o")
    assert result.exit_code == 2 and "--partial" in result.output
    assert not (tmp_path / "o").exists()
    result = run("export", "daily", "--home", demo, "--date", "2024-13-01")
    assert result.exit_code == 2 and "month must be in 1..12" in result.output
    future = date.today().replace(year=date.today().year + 1).isoformat()
    result = run("export", "daily", "--home", demo, "--date", future, "--partial")
    assert result.exit_code == 2 and "not begun" in result.output


def test_a_day_before_the_first_record_is_refused(demo: Path, tmp_path: Path) -> None:
    """No 'no trading' pack of a day before the trail began: it would claim a checkpoint signed
    when that day was sealed. The refusal names the trail's first day."""
    for day in ("2020-01-01", "2024-03-03"):
        out = tmp_path / day
        result = run("export", "daily", "--home", demo, "--date", day, "--out", out)
        assert result.exit_code == 2, result.output
        assert f"{day} is before the trail's first record" in result.stderr
        assert f"first day is {DAY1}" in result.stderr
        assert not out.exists() and not pack(demo, day).exists()
    empty = tmp_path / "empty"
    with tradetrail.open(empty, min_free_bytes=0):
        pass
    result = run("export", "daily", "--home", empty, "--date", "2020-01-01")
    assert result.exit_code == 2 and "has no records yet" in result.stderr


def test_partial_packs_say_so(demo: Path, tmp_path: Path) -> None:
    result = run(
        "export",
        "daily",
        "--home",
        demo,
        "--date",
        OPEN_DAY,
        "--partial",
        "--out",
        tmp_path / "p",
        "--no-record",  # a record now (real clock) would seal the simulated open day
    )
    assert result.exit_code == 0, result.output
    assert "partial pack" in result.output
    manifest = orjson.loads((tmp_path / "p" / "manifest.json").read_bytes())
    assert manifest["partial"] is True and manifest["status"] == "partial"
    assert manifest["checkpoint"]["at_seal"] is False
    assert any(note.startswith("partial:") for note in manifest["notes"])
    assert manifest["records"] == 1 and manifest["trading"] is False
    assert "**Partial pack.**" in (tmp_path / "p" / "README.md").read_text()
    report = verify_pack(tmp_path / "p", [read_vkey(demo / VKEY_FILE)])
    assert report.ok, [str(f) for f in report.faults]
    assert report.partial and any("partial" in w for w in report.warnings)
    # by default a partial pack goes beside the final one, and may be replaced
    first = export_daily(demo, OPEN_DAY, partial=True)
    assert first.path.name == f"{OPEN_DAY}.partial"
    assert export_daily(demo, OPEN_DAY, partial=True).created is False


def test_a_partial_pack_covers_only_what_a_checkpoint_signed(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    clock = SimClock("2024-03-01T09:00:00")
    trail = tradetrail.open(
        home, clock=clock, min_free_bytes=0, checkpoint_every=10**6, checkpoint_interval=10**6
    )
    try:
        trail.record("auth.login", {"method": "sso"}, actor="a")
        trail.flush()
        trail.checkpoint()
        for n in range(3):
            trail.record("auth.logout", {"reason": f"r{n}"}, actor="a")
        trail.flush()
        today = date(2024, 3, 1)
        first = export_daily(home, "2024-03-01", partial=True, today=today)
        assert first.partial and first.records == 1 and first.checkpoint_size == 1
        journal = (home / "journal" / "audit-20240301.jsonl").read_bytes()
        assert (first.path / "events.jsonl").read_bytes() == journal.split(b"\n")[0] + b"\n"
        assert verify_pack(first.path, [read_vkey(home / VKEY_FILE)]).ok
        trail.checkpoint()
        second = export_daily(home, "2024-03-01", partial=True, today=today)
        assert second.created and second.path == first.path  # a partial pack is replaced
        assert second.records == 4 and (second.path / "events.jsonl").read_bytes() == journal
        assert verify_pack(second.path, [read_vkey(home / VKEY_FILE)]).ok
    finally:
        trail.close()


# ------------------------------------------------------------------------------ a hand-made trail

ORIGIN = "desk.example/pack-test"


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """2024-03-01: orders with formula-like values, a config change with no snapshot;
    2024-03-02: nothing; 2024-03-03: a login only; 2024-03-04: open."""
    home = tmp_path / "trail"
    clock = SimClock("2024-03-01T09:00:00")
    with tradetrail.open(home, origin=ORIGIN, clock=clock, min_free_bytes=0) as trail:
        ids = {"symbol": "@SUM(A1:A9)", "venue": "+XNAS", "strategy": "'quoted"}
        trail.record(
            "order.submitted",
            {"side": "buy", "qty": "10.50", "price": "-0.25", "order_type": "=1+1"},
            order_id="O-1",
            account='=HYPERLINK("http://evil.example","click")',
            **ids,
        )
        clock.advance(1)
        trail.record(
            "order.filled",
            {"fill_qty": "10.50", "fill_price": "100.0100", "fee": "0.10", "trade_id": "T-1"},
            order_id="O-1",
            account="ACC-1",
            **ids,
        )
        trail.record("order.rejected", {"reason": "-1+1 tab\there"}, order_id="O-2")
        trail.record(
            "config.changed",
            {
                "path": "risk.yaml",
                "new_hash": "sha256:2",
                "old_hash": "sha256:1",
                "keys": ["limits.max_qty"],
                "old_value": "5",
                "new_value": "7",
                "reason": "line one\nline two",
            },
            actor="ops",
        )
        trail.flush()
        clock.set("2024-03-03T10:00:00")
        trail.record("auth.login", {"method": "sso"}, actor="j.doe")
        trail.flush()
        clock.set("2024-03-04T08:00:00")
        trail.record("system.service_started", {"mode": "live"})
        trail.flush()
    return home


def test_cells_that_would_start_a_formula_are_neutralised(small: Path) -> None:
    result = export_daily(small, "2024-03-01")
    assert result.records == 4 and result.trading
    orders = rows(result.path / "orders.csv")
    submitted = orders[0]
    assert submitted["account"] == '\'=HYPERLINK("http://evil.example","click")'
    assert submitted["symbol"] == "'@SUM(A1:A9)" and submitted["venue"] == "'+XNAS"
    assert submitted["strategy"] == "''quoted"  # reversible: drop the first quote
    assert submitted["order_type"] == "'=1+1"
    assert submitted["price"] == "-0.25" and submitted["qty"] == "10.50"  # numbers stay
    assert orders[1]["reason"] == "'-1+1 tab\there"
    [fill] = rows(result.path / "fills.csv")
    assert fill["fill_price"] == "100.0100" and fill["fee"] == "0.10"
    [trade] = rows(result.path / "blotter.csv")
    assert trade["gross_amount"] == "1050.105000"  # 10.50 x 100.0100, exactly
    assert trade["side"] == "buy"  # from the order: the fill did not say
    assert trade["symbol"] == "'@SUM(A1:A9)"
    raw = (result.path / "orders.csv").read_bytes()
    assert b'"\'=HYPERLINK(""http://evil.example"",""click"")"' in raw
    assert neutralise("-506.7") == "-506.7" and neutralise("+3") == "+3"
    assert neutralise("-1E-7") == "-1E-7" and neutralise("-") == "'-"
    assert neutralise("-1-1") == "'-1-1" and neutralise("\r1") == "'\r1"
    assert neutralise("@") == "'@" and neutralise("plain") == "plain" and neutralise("") == ""


def test_config_without_a_snapshot_is_said_not_failed(small: Path) -> None:
    result = export_daily(small, "2024-03-01")
    doc = orjson.loads((result.path / "config_snapshot.json").read_bytes())
    assert doc["status"] == "no_snapshot" and doc["in_force"] is None
    assert "no config.snapshot" in doc["note"]
    [change] = doc["changes_since_snapshot"]
    assert change["applied"] is False and change["new_value"] == "7"
    diff = (result.path / "config.diff").read_text()
    assert '-"5"\n' in diff and '+"7"\n' in diff
    assert '# reason: "line one\\nline two"\n' in diff  # free text stays on its line


def test_a_day_without_events_gets_a_pack_that_says_so(small: Path) -> None:
    result = export_daily(small, "2024-03-02")
    assert result.records == 0 and not result.trading
    manifest = orjson.loads((result.path / "manifest.json").read_bytes())
    assert manifest["seq"] is None and manifest["records"] == 0
    assert "no records: the trail holds no event on 2024-03-02" in manifest["notes"]
    assert (result.path / "events.jsonl").read_bytes() == b""
    assert rows(result.path / "orders.csv") == []
    assert "Records: none" in (result.path / "README.md").read_text()
    proofs = orjson.loads((result.path / "proofs.json").read_bytes())
    assert proofs["first"] is None and proofs["last"] is None
    day1 = export_daily(small, "2024-03-01")
    assert (
        manifest["checkpoint"]
        == orjson.loads((day1.path / "manifest.json").read_bytes())["checkpoint"]
    )
    vkey = read_vkey(small / VKEY_FILE)
    verify_proof_json(proofs["consistency"], [vkey])  # the same tree as the day before
    assert verify_pack(result.path, [vkey]).ok
    doc = orjson.loads((result.path / "config_snapshot.json").read_bytes())
    assert [c["on_this_day"] for c in doc["changes_since_snapshot"]] == [False]
    assert len(proofs["config_records"]) == 1  # the earlier change, proven into the checkpoint
    script = tmp_path_of(result.path) / "check_pack.py"
    script.write_text(CHECK_SCRIPT)
    done = subprocess.run(
        [sys.executable, "-I", str(script), str(result.path), str(small / VKEY_FILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and "OK: 2024-03-02: 0 records" in done.stdout, done.stderr


def test_a_day_without_trading_says_so(small: Path) -> None:
    result = export_daily(small, "2024-03-03")
    assert result.records == 1 and not result.trading
    manifest = orjson.loads((result.path / "manifest.json").read_bytes())
    assert manifest["trading"] is False and manifest["summary"]["executions"] == 0
    assert any(n.startswith("no trading") for n in manifest["notes"])
    assert "Trading: none" in (result.path / "README.md").read_text()
    assert len((result.path / "access.jsonl").read_bytes().split(b"\n")) == 2
    assert verify_pack(result.path, [read_vkey(small / VKEY_FILE)]).ok


def test_a_checkpoint_missing_at_the_seal_is_linked_by_a_proof(demo: Path, tmp_path: Path) -> None:
    home = tmp_path / "trail"
    shutil.copytree(demo, home, ignore=shutil.ignore_patterns("exports"))
    size = day_records(home, DAY1)[-1]["seq"] + 1
    (home / "checkpoints" / str(size)).unlink()
    result = export_daily(home, DAY1)
    manifest = orjson.loads((result.path / "manifest.json").read_bytes())
    assert manifest["checkpoint"]["at_seal"] is False and manifest["checkpoint"]["size"] > size
    proofs = orjson.loads((result.path / "proofs.json").read_bytes())
    assert proofs["extension"]["old_size"] == size
    assert verify_pack(result.path, [read_vkey(home / VKEY_FILE)]).ok


def test_a_tampered_journal_is_not_packed(demo: Path, tmp_path: Path) -> None:
    home = tmp_path / "trail"
    shutil.copytree(demo, home, ignore=shutil.ignore_patterns("exports"))
    path = home / "journal" / "audit-20240304.jsonl"
    path.chmod(0o644)
    path.write_bytes(path.read_bytes().replace(b'"fill_qty":"', b'"fill_qty":"1', 1))
    with pytest.raises(tradetrail.TrailCorruptError):
        export_daily(home, DAY1)
    assert not (home / "exports" / "daily" / DAY1).exists()


def test_a_file_snapshot_brings_its_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `tradetrail snapshot` of the configuration files (taken at open here) is the
    configuration in force; the pack carries its stored document, proven by its hash."""
    config = tmp_path / "desk.toml"
    config.write_text('limit = 5\napi_key = "s3cr3t-value-123"\n')
    monkeypatch.setenv("TRADETRAIL_CONFIG_PATHS", str(config))
    home = tmp_path / "trail"
    clock = SimClock("2024-03-01T09:00:00")
    with tradetrail.open(home, clock=clock, min_free_bytes=0) as trail:
        trail.record("order.submitted", {"side": "buy", "qty": "1"}, order_id="O-1")
        trail.record(
            "config.changed",
            {"path": str(config), "new_hash": "sha256:new", "keys": ["limit"], "new_value": "6"},
        )
        trail.flush()
        clock.set("2024-03-02T09:00:00")
        trail.record("auth.login", {"method": "sso"})
    result = export_daily(home, "2024-03-01")
    doc = orjson.loads((result.path / "config_snapshot.json").read_bytes())
    assert doc["status"] == "ok" and doc["snapshot"]["kind"] == "files"
    assert [f["path"] for f in doc["in_force"]["files"]] == [str(config)]
    document = doc["document"]
    digest = doc["snapshot"]["hash"]
    assert hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest() == digest
    assert "s3cr3t" not in (result.path / "config_snapshot.json").read_text()
    [change] = doc["changes_since_snapshot"]
    assert change["applied"] is False and "noted" in change["note"]  # not applied by key
    vkey = read_vkey(home / VKEY_FILE)
    assert verify_pack(result.path, [vkey]).ok
    path = result.path / "config_snapshot.json"
    path.write_bytes(path.read_bytes().replace(b"limit = 5", b"limit = 9"))
    report = verify_pack(result.path, [vkey])
    assert any(f.file == "config_snapshot.json" and f.line for f in report.faults), report.faults


def test_corrections_are_listed_field_by_field_and_verified(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    clock = SimClock("2024-03-01T09:00:00")
    with tradetrail.open(home, clock=clock, min_free_bytes=0) as trail:
        trail.record("order.submitted", {"side": "buy", "qty": "1"}, order_id="O-1")
        fill = trail.record(
            "order.filled",
            {"fill_qty": "1", "fill_price": "100.5", "fee": "0.10", "trade_id": "T-1"},
            order_id="O-1",
        ).wait()
        trail.record(
            "compliance.record_corrected",
            {
                "reason": "fee misbooked: venue rebate applied late",
                "corrects_seq": fill,
                "corrections": {"fee": "0.05", "liquidity": "=maker"},
                "approved_by": "ops-lead",
            },
            actor="cco",
        )
        trail.record("compliance.record_corrected", {"reason": "wrong account", "corrects_seq": 0})
        trail.flush()
        clock.set("2024-03-02T09:00:00")
        trail.record("auth.login", {"method": "sso"})
    result = export_daily(home, "2024-03-01")
    found = rows(result.path / "corrections.csv")
    assert [(r["corrects_seq"], r["field"], r["corrected_value"]) for r in found] == [
        (str(fill), "fee", "0.05"),
        (str(fill), "liquidity", "'=maker"),  # a formula is neutralised here too
        ("0", "", ""),
    ]
    assert found[0]["actor"] == "cco" and found[0]["approved_by"] == "ops-lead"
    assert found[2]["reason"] == "wrong account"
    fills = rows(result.path / "fills.csv")
    assert fills[0]["fee"] == "0.10", "the corrected record itself is never edited"
    manifest = orjson.loads((result.path / "manifest.json").read_bytes())
    assert {f["name"]: f["rows"] for f in manifest["files"]}["corrections.csv"] == 3
    vkey = read_vkey(home / VKEY_FILE)
    assert verify_pack(result.path, [vkey]).ok
    path = result.path / "corrections.csv"
    path.write_bytes(path.read_bytes().replace(b"0.05", b"0.01"))
    report = verify_pack(result.path, [vkey])
    assert any(
        f.file == "corrections.csv" and f.row == 2 and f.column == "corrected_value"
        for f in report.faults
    ), report.faults


def test_nav_and_position_cells_are_neutralised_exactly_once(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    clock = SimClock("2024-03-01T09:00:00")
    with tradetrail.open(home, clock=clock, min_free_bytes=0) as trail:
        trail.record(
            "portfolio.nav_computed",
            {"cash": "1", "positions_at_mark": "2", "fees": "0", "accruals": "0", "nav": "3",
             "currency": "USD", "pricing_source": "=HYPERLINK(\"x\")"},
            account="@acc",
        )  # fmt: skip
        trail.record(
            "portfolio.position_snapshot",
            {"positions": [{"symbol": "+XS", "qty": "-5", "avg_price": "10"}]},
            account="@acc",
        )
        trail.flush()
        clock.set("2024-03-02T09:00:00")
        trail.record("auth.login", {"method": "sso"})
    result = export_daily(home, "2024-03-01")
    [nav] = rows(result.path / "nav.csv")
    assert nav["account"] == "'@acc" and nav["pricing_source"] == '\'=HYPERLINK("x")'
    [position] = rows(result.path / "positions.csv")
    assert position["account"] == "'@acc" and position["symbol"] == "'+XS"
    assert position["qty"] == "-5", "a plain number is left as it is"
    assert verify_pack(result.path, [read_vkey(home / VKEY_FILE)]).ok


# ------------------------------------------------------------------------------ formats

V1_FIXTURE = FIXTURES / "pack_v1"
"""A tiny trail and its pack of 2024-03-01 in format /1, made by the code of that format."""
V1_DAY = "2024-03-01"


def test_packs_are_made_in_format_3(demo: Path) -> None:
    manifest = orjson.loads((pack(demo, DAY1) / "manifest.json").read_bytes())
    assert manifest["format"] == FORMAT == "tradetrail.daily-pack/3"
    assert "corrections.csv" in {f["name"] for f in manifest["files"]}
    readme = (pack(demo, DAY1) / "README.md").read_text()
    assert "format `tradetrail.daily-pack/3`" in readme and "`corrections.csv`" in readme
    report = verify_pack(pack(demo, DAY1), [read_vkey(demo / VKEY_FILE)])
    assert report.ok and not any("format /" in w for w in report.warnings)


@pytest.fixture
def v1_trail(tmp_path: Path) -> Path:
    """The fixture trail with its /1 pack where `export daily` puts the day's pack."""
    home = tmp_path / "trail"
    shutil.copytree(V1_FIXTURE / "trail", home)
    # the writer leaves a sealed day read-only; a checkout does not keep the mode
    (home / "journal" / f"audit-{V1_DAY.replace('-', '')}.jsonl").chmod(0o444)
    shutil.copytree(V1_FIXTURE / "pack", pack(home, V1_DAY))
    return home


def pack_bytes(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in path.iterdir()}


def test_an_existing_format_1_pack_is_kept(v1_trail: Path, tmp_path: Path) -> None:
    before = pack_bytes(pack(v1_trail, V1_DAY))
    result = export_use_case.export_daily(v1_trail, V1_DAY)
    assert not result.created and result.path == pack(v1_trail, V1_DAY)
    assert any("kept the existing pack" in w and "format /1" in w for w in result.warnings)
    assert {f.name for f in result.files} == set(before) - {"manifest.json", "manifest.sig",
                                                            "SHA256SUMS"}  # fmt: skip
    assert result.records == 5 and (result.first_seq, result.last_seq) == (0, 4)
    assert pack_bytes(pack(v1_trail, V1_DAY)) == before, "left exactly as it was"
    cli = run("export", "daily", "--home", v1_trail, "--date", V1_DAY, "--json")
    assert cli.exit_code == 0, cli.output
    assert orjson.loads(cli.stdout)["created"] is False and "format /1" in cli.stderr
    assert pack_bytes(pack(v1_trail, V1_DAY)) == before

    # a /3 pack of the same day, elsewhere: the same events, corrections.csv, single quotes
    fresh = export_daily(v1_trail, V1_DAY, out=tmp_path / "v3")
    assert fresh.created and not fresh.warnings
    manifest = orjson.loads((fresh.path / "manifest.json").read_bytes())
    assert manifest["format"] == "tradetrail.daily-pack/3"
    assert (fresh.path / "events.jsonl").read_bytes() == before["events.jsonl"]
    assert [(r["field"], r["corrected_value"]) for r in rows(fresh.path / "corrections.csv")] == [
        ("fee", "0.05"),
        ("liquidity", "'=maker"),
    ]
    [nav] = rows(fresh.path / "nav.csv")
    assert nav["account"] == "'@acc" and nav["pricing_source"] == '\'=HYPERLINK("x")'
    assert nav["strategy"] == "'-momentum"
    [old_nav] = list(csv.DictReader(io.StringIO(before["nav.csv"].decode(), newline="")))
    assert old_nav["account"] == "''@acc", "the /1 pack keeps its double quote"
    report = verify_pack(fresh.path, [read_vkey(v1_trail / VKEY_FILE)])
    assert report.ok and not any("format /1" in w for w in report.warnings)


def test_a_format_1_pack_that_does_not_verify_is_not_kept_silently(v1_trail: Path) -> None:
    nav = pack(v1_trail, V1_DAY) / "nav.csv"
    nav.write_bytes(nav.read_bytes().replace(b"''@acc", b"''@acd"))
    before = pack_bytes(pack(v1_trail, V1_DAY))
    with pytest.raises(PackError, match=r"format tradetrail\.daily-pack/1 that does not verify"):
        export_use_case.export_daily(v1_trail, V1_DAY)
    assert pack_bytes(pack(v1_trail, V1_DAY)) == before
    assert not [p for p in pack(v1_trail, V1_DAY).parent.iterdir() if p.name.startswith(".")]
    cli = run("export", "daily", "--home", v1_trail, "--date", V1_DAY)
    assert cli.exit_code != 0 and "that does not verify" in cli.output


def test_without_a_checker_an_older_pack_is_neither_kept_nor_replaced(v1_trail: Path) -> None:
    """export/ cannot run verify-pack (a sibling layer): unchecked, the /1 pack is not
    reported as kept and verified, and not overwritten either."""
    before = pack_bytes(pack(v1_trail, V1_DAY))
    with pytest.raises(PackError, match=r"format tradetrail\.daily-pack/1, which is kept only"):
        export_daily(v1_trail, V1_DAY)
    assert pack_bytes(pack(v1_trail, V1_DAY)) == before
    assert not [p for p in pack(v1_trail, V1_DAY).parent.iterdir() if p.name.startswith(".")]
    checked: list[Path] = []

    def check(path: Path, vkeys: Any) -> list[str]:
        checked.append(path)
        return []

    result = export_daily(v1_trail, V1_DAY, check_pack=check)
    assert checked == [pack(v1_trail, V1_DAY)] and not result.created


def test_a_format_1_pack_of_another_day_is_something_else(v1_trail: Path, tmp_path: Path) -> None:
    target = tmp_path / "other"
    shutil.copytree(pack(v1_trail, V1_DAY), target)
    with pytest.raises(PackError, match="holds something else"):
        export_daily(v1_trail, "2024-03-05", out=target)


# ------------------------------------------------------------------------------ format /3

TIME_COLUMNS = {
    "orders.csv": ("ts", "event_ts"),
    "fills.csv": ("ts", "event_ts"),
    "blotter.csv": ("trade_time", "recorded_at"),
    "positions.csv": ("as_of", "ts"),
    "nav.csv": ("ts", "as_of"),
    "corrections.csv": ("ts",),
}
DECIMAL_COLUMNS = {
    "orders.csv": ("qty", "price", "new_qty", "new_price", "remaining_qty", "filled_qty"),
    "fills.csv": ("fill_qty", "fill_price", "cum_qty", "remaining_qty", "avg_price", "fee"),
    "blotter.csv": ("quantity", "price", "gross_amount", "fees"),
    "positions.csv": ("qty", "mark_price", "market_value"),
}
MICROSECONDS = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")


def test_the_blotter_joins_order_fill_and_instrument(demo: Path) -> None:
    for day in (DAY1, DAY2):
        blotter = rows(pack(demo, day) / "blotter.csv")
        assert blotter
        records = day_records(demo, day)
        submitted = {r["order_id"]: r for r in records if r["type"] == "order.submitted"}
        kinds = ("order.filled", "order.partially_filled")
        fills = {r["seq"]: r for r in records if r["type"] in kinds}
        for row in blotter:
            for column in ("currency", "client_order_id", "counterparty", "settlement_date",
                           "account", "venue", "exchange_order_id", "execution_id"):  # fmt: skip
                assert row[column], (day, column, row)
            order = submitted[row["order_id"]]
            fill = fills[int(row["seq"])]
            assert row["client_order_id"] == order["client_order_id"]
            assert row["currency"] == order["data"]["currency"] == "USD"
            assert row["counterparty"] == fill["data"]["counterparty"]
            trade_date = date.fromisoformat(row["trade_date"])
            settles = date.fromisoformat(row["settlement_date"])
            if row["symbol"] == "AAPL":  # T+1 on weekdays (instrument.defined)
                assert settles.weekday() < 5 and 1 <= (settles - trade_date).days <= 3
            else:  # crypto: T+0 every day
                assert settles == trade_date
        # the same order's cells agree with orders.csv
        orders = {r["order_id"]: r for r in rows(pack(demo, day) / "orders.csv")
                  if r["type"] == "order.submitted"}  # fmt: skip
        for row in blotter:
            assert row["client_order_id"] == orders[row["order_id"]]["client_order_id"]
    readme = (pack(demo, DAY1) / "README.md").read_text()
    assert "A value that no event gives stays empty" in readme and "`counterparty`" in readme


def test_csv_times_have_microseconds(demo: Path) -> None:
    for name, columns in TIME_COLUMNS.items():
        for row in rows(pack(demo, DAY1) / name):
            for column in columns:
                assert row[column] == "" or MICROSECONDS.fullmatch(row[column]), (name, row)
    records = {r["seq"]: r for r in day_records(demo, DAY1)}
    blotter = rows(pack(demo, DAY1) / "blotter.csv")
    nine = [r for r in blotter if len(records[int(r["seq"])].get("event_ts", "")) == 30]
    assert nine, "the demo records nanosecond event times"
    for row in nine:  # truncated, not rounded: the recorded time starts with the cell's digits
        assert records[int(row["seq"])]["event_ts"][:26] == row["trade_time"][:26]
    assert "microseconds" in (pack(demo, DAY1) / "README.md").read_text()
    events = (pack(demo, DAY1) / "events.jsonl").read_bytes()
    assert events == (demo / "journal" / f"audit-{DAY1.replace('-', '')}.jsonl").read_bytes()


def scale(text: str) -> int:
    return len(text.partition(".")[2])


def test_decimal_columns_have_one_scale_per_instrument(demo: Path) -> None:
    records = {r["seq"]: r for r in day_records(demo, DAY1)}
    padded = 0
    for name, columns in DECIMAL_COLUMNS.items():
        table = rows(pack(demo, DAY1) / name)
        for column in columns:
            scales: dict[str, set[int]] = {}
            for row in table:
                if row[column]:
                    scales.setdefault(row["symbol"], set()).add(scale(row[column]))
            assert scales, (name, column)
            assert all(len(s) == 1 for s in scales.values()), (name, column, scales)
    for row in rows(pack(demo, DAY1) / "fills.csv"):  # never rounded: the same value
        data = records[int(row["seq"])]["data"]
        for column in ("fill_qty", "fill_price", "fee", "avg_price"):
            assert Decimal(row[column]) == Decimal(data[column]), (column, row)
            padded += row[column] != data[column]
    assert padded, "the demo has values of different scales in a column"
    nav = rows(pack(demo, DAY1) / "nav.csv")
    for column in ("cash", "positions_at_mark", "fees", "accruals", "nav"):
        assert len({scale(r[column]) for r in nav}) == 1, column


def test_an_order_and_instrument_of_an_earlier_day_are_joined(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    clock = SimClock("2024-03-01T09:00:00")  # a Friday
    with tradetrail.open(home, clock=clock, min_free_bytes=0) as trail:
        trail.record(
            "instrument.defined",
            {"currency": "EUR", "settlement_days": 2, "holidays": ["2024-03-05"]},
            symbol="SAP",
        )
        trail.record(
            "order.submitted",
            {"side": "buy", "qty": "10", "price": "180.5", "currency": "EUR"},
            order_id="O-1",
            client_order_id="C-1",
            account="ACC-1",
            symbol="SAP",
        )
        trail.flush()
        clock.set("2024-03-04T09:00:00")  # Monday: filled after the weekend
        trail.record(
            "order.filled",
            {"fill_qty": "10", "fill_price": "180.25", "trade_id": "T-1", "counterparty": "CCP"},
            order_id="O-1",
            event_ts=datetime(2024, 3, 4, 9, 0, 0, 123456, tzinfo=UTC),
        )
        trail.flush()
        clock.set("2024-03-05T09:00:00")
        trail.record("auth.login", {"method": "sso"})
    result = export_daily(home, "2024-03-04")
    [row] = rows(result.path / "blotter.csv")
    assert (row["client_order_id"], row["account"], row["symbol"], row["side"]) == (
        "C-1", "ACC-1", "SAP", "buy"
    )  # fmt: skip
    assert (row["currency"], row["counterparty"]) == ("EUR", "CCP")
    assert row["settlement_date"] == "2024-03-07", "T+2 on weekdays, skipping the 5th"
    assert (row["quantity"], row["price"], row["gross_amount"]) == ("10", "180.25", "1802.50")
    assert row["trade_time"] == "2024-03-04T09:00:00.123456Z"
    proofs = orjson.loads((result.path / "proofs.json").read_bytes())
    assert [orjson.loads(r["record"])["type"] for r in proofs["reference_records"]] == [
        "instrument.defined",
        "order.submitted",
    ]
    vkey = read_vkey(home / VKEY_FILE)
    report = verify_pack(result.path, [vkey])
    assert report.ok, [str(f) for f in report.faults]
    # a reference record that is not the trail's is caught
    altered = orjson.loads((result.path / "proofs.json").read_bytes())
    altered["reference_records"][1]["record"] = altered["reference_records"][1]["record"].replace(
        "C-1", "C-9"
    )
    (result.path / "proofs.json").write_bytes(orjson.dumps(altered))
    assert not verify_pack(result.path, [vkey]).ok
    # a tampered blotter row is caught
    fresh = export_daily(home, "2024-03-04", out=tmp_path / "again")
    blotter = fresh.path / "blotter.csv"
    blotter.write_bytes(blotter.read_bytes().replace(b"2024-03-07", b"2024-03-06"))
    report = verify_pack(fresh.path, [vkey])
    assert any(f.file == "blotter.csv" and f.column == "settlement_date" for f in report.faults)


def test_time_and_decimal_cells() -> None:
    assert micro("2026-12-05T08:00:49.652745999Z") == "2026-12-05T08:00:49.652745Z"
    assert micro("2026-12-05T08:00:49Z") == "2026-12-05T08:00:49.000000Z"
    assert micro("2026-12-05T08:00:49.5+01:00") == "2026-12-05T08:00:49.500000+01:00"
    assert micro("not a time") == "not a time"
    assert pad("724", 4) == "724.0000" and pad("-67.50", 4) == "-67.5000"
    assert pad("1.5E-7", 4) == "1.5E-7" and pad("100302.2360", 2) == "100302.2360"


V2_FIXTURE = FIXTURES / "pack_v2"
"""A small demo trail and its pack of 2026-03-02 in format /2, made by the code of that format
(tests/fixtures/make_pack_v2.py)."""
V2_DAY = "2026-03-02"


def test_an_existing_format_2_pack_is_kept_and_verifies(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    shutil.copytree(V2_FIXTURE / "trail", home)
    (home / "journal" / f"audit-{V2_DAY.replace('-', '')}.jsonl").chmod(0o444)
    shutil.copytree(V2_FIXTURE / "pack", pack(home, V2_DAY))
    before = pack_bytes(pack(home, V2_DAY))
    report = verify_pack(pack(home, V2_DAY), [read_vkey(home / VKEY_FILE)])
    assert report.ok, [str(f) for f in report.faults]
    assert any("format /2" in w for w in report.warnings)
    result = export_use_case.export_daily(home, V2_DAY)
    assert not result.created and any("format /2" in w for w in result.warnings)
    assert pack_bytes(pack(home, V2_DAY)) == before, "left exactly as it was"
    # the same day in format /3: the same events; the blotter joined with the orders
    fresh = export_daily(home, V2_DAY, out=tmp_path / "v3")
    assert (fresh.path / "events.jsonl").read_bytes() == before["events.jsonl"]
    old = list(csv.DictReader(io.StringIO(before["blotter.csv"].decode(), newline="")))
    new = rows(fresh.path / "blotter.csv")
    assert [r["seq"] for r in old] == [r["seq"] for r in new]
    assert all(r["client_order_id"] == "" for r in old)
    assert all(r["client_order_id"].startswith("C-") and r["currency"] == "USD" for r in new)
    assert verify_pack(fresh.path, [read_vkey(home / VKEY_FILE)]).ok


def _line(seq: int, kind: str, symbol: str, data: dict[str, Any], **envelope: Any) -> bytes:
    record = {"seq": seq, "ts": "2024-03-04T09:00:00Z", "type": kind, "symbol": symbol}
    return orjson.dumps({**record, **envelope, "data": data}, option=orjson.OPT_SORT_KEYS)


def test_format_3_tables_pad_every_waiting_row_and_follow_a_redefined_instrument(
    tmp_path: Path,
) -> None:
    """Rows wait (in a temporary file beyond a few thousand) until the day's scales are known:
    a scale raised by the day's last row pads the first; an instrument defined again during
    the day settles the executions after it by its new cycle."""
    fills = ["5", "1.5", "1.2.3", "1.5E-7", "-2.25", *(f"{n}.1" for n in range(5000)), "7.125"]
    lines = [_line(1, "instrument.defined", "SAP", {"settlement_days": 1})]
    for n, qty in enumerate(fills, start=2):
        if n == 4000:
            lines.append(_line(n, "instrument.defined", "SAP", {"settlement_days": 3}))
            continue
        data = {"fill_qty": qty, "fill_price": "10", "trade_id": f"T-{n}"}
        lines.append(_line(n, "order.filled", "SAP", data, order_id=f"O-{n}"))
    tables = DayTables(tmp_path, "2024-03-04")
    tables.add_lines(lines)
    tables.finish()
    got = rows(tmp_path / "fills.csv")
    want = [pad(q, 3) for n, q in enumerate(fills, start=2) if n != 4000]
    assert [r["fill_qty"] for r in got] == want
    assert want[:5] == ["5.000", "1.500", "1.2.3", "1.5E-7", "-2.250"]
    blotter = rows(tmp_path / "blotter.csv")
    assert [r["quantity"] for r in blotter] == want
    settled = [(int(r["seq"]) > 4000, r["settlement_date"]) for r in blotter]
    assert set(settled) == {(False, "2024-03-05"), (True, "2024-03-07")}
