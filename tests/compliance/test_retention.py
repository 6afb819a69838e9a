"""Retention and legal hold (`tradetrail retention plan|apply`) on real trails: a hand-made
trail whose days differ in class (system-only days, an order day, debug events), packs made,
days removed, and everything that must still hold afterwards (verify, proofs, reopen, index,
export), plus the faults verify must still find and crashes between the steps of a removal."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

import tradetrail
import tradetrail.cli.retention
from conftest import SimClock, journal_records
from helpers import run
from tradetrail.compliance import retention
from tradetrail.compliance.retention import (
    EVENT_TYPE,
    Period,
    PolicyError,
    RetentionError,
    apply_retention,
    load_policy,
    parse_policy,
    plan_retention,
)
from tradetrail.errors import JournalFormatError, TrailCorruptError
from tradetrail.export import PackError, export_daily
from tradetrail.index import SqliteIndex, update_index
from tradetrail.index.rebuild import rebuild
from tradetrail.store.journal import pruned_days
from tradetrail.store.keys import read_vkey
from tradetrail.store.proofs import inclusion_proof_json, verify_proof_json
from tradetrail.verify.trail import verify_trail

ORIGIN = "retention.test/desk"
TODAY = date(2024, 3, 4)
AS_OF = date(2024, 7, 1)  # past 90 days for 1-3 March, long before 7 years
D1, D2, D3, D4 = "2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04"
SYS_DAYS = [D1, D3]


def _make(home: Path) -> None:
    """1 March: 300 system events; 2 March: 200 order events (account ACC-1, BTC-USD);
    3 March: 290 debug events, one with account ACC-9; 4 March: open, one event."""
    clock = SimClock("2024-03-01T09:00:00")
    with tradetrail.open(home, origin=ORIGIN, clock=clock, min_free_bytes=0) as trail:
        for i in range(300):
            trail.record("system.heartbeat", {"n": i})
            clock.advance(1)
        trail.flush()
        clock.set("2024-03-02T09:00:00")
        for i in range(200):
            trail.record(
                "order.heartbeat", {"n": i}, order_id=f"O-{i}", account="ACC-1", symbol="BTC-USD"
            )
            clock.advance(1)
        trail.flush()
        clock.set("2024-03-03T09:00:00")
        for i in range(290):
            fields = {"account": "ACC-9"} if i == 7 else {}
            trail.record("debug.tick", {"n": i}, **fields)
            clock.advance(1)
        trail.flush()
        clock.set("2024-03-04T09:00:00")
        trail.record("system.heartbeat", {"n": -1})
        trail.flush()


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("retention") / "trail"
    _make(home)
    for day in (D1, D2, D3):
        export_daily(home, day, today=TODAY)
    return home


@pytest.fixture
def trail_home(base: Path, tmp_path: Path) -> Path:
    home = tmp_path / "trail"
    shutil.copytree(base, home)
    return home


def _file(home: Path, day: str) -> Path:
    return home / "journal" / f"audit-{day.replace('-', '')}.jsonl"


def _tree_files(home: Path) -> dict[str, bytes]:
    out = {}
    for sub in ("tiles", "checkpoints"):
        for p in sorted((home / sub).rglob("*")):
            if p.is_file():
                out[str(p.relative_to(home))] = p.read_bytes()
    return out


def _policy(home: Path, text: str = "") -> retention.Policy:
    if not text:
        return load_policy(home)
    path = home.parent / "policy.toml"
    path.write_text(text)
    return load_policy(home, path)


def decisions(home: Path, policy: retention.Policy, as_of: date = AS_OF) -> dict[str, Any]:
    return {d.day: d for d in plan_retention(home, policy, as_of=as_of).days}


# ------------------------------------------------------------------------------ policy


def test_default_policy_classes_and_periods() -> None:
    policy = parse_policy(retention.DEFAULT_POLICY_TOML)
    assert policy.classify("order.accepted") == "orders"
    assert policy.classify("trade.executed") == "fills"
    assert policy.classify("portfolio.nav_computed") == "nav"
    assert policy.classify("auth.login") == "access"
    assert policy.classify("config.changed") == "configuration"
    assert policy.classify("system.clock_sync") == "system"
    assert policy.classify("demo.session_started") == retention.UNCLASSIFIED
    assert str(policy.periods["trading"]) == "7y" and str(policy.periods["system"]) == "90d"
    # unknown categories take the longest period
    assert policy.expires(retention.UNCLASSIFIED, date(2024, 3, 1)) == date(2031, 3, 2)


def test_period_arithmetic_is_calendar_and_rounds_up() -> None:
    assert Period(years=7).expires(date(2024, 3, 1)) == date(2031, 3, 2)
    assert Period(days=90).expires(date(2024, 3, 1)) == date(2024, 5, 31)
    # 28 Feb 2024 ends on 29 Feb; a year later that date does not exist: round up
    assert Period(years=1).expires(date(2024, 2, 28)) == date(2025, 3, 1)
    assert Period(forever=True).expires(date(2024, 1, 1)) is None


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[retention]\ntrading = '7 years'\n", "retention.trading: bad duration '7 years'"),
        ("[retention]\ntrades = '7y'\n", "retention.trades: unknown class"),
        ("[rentention]\ntrading = '7y'\n", "rentention: unknown key"),
        ("[categories]\norder = 'nosuch'\n", "categories.order: class 'nosuch'"),
        ("[types]\n'Order' = 'orders'\n", "types.Order: not a dotted event type"),
        ("[[hold]]\nname = 'x'\nfrom = 2024-13-01\n", "not valid TOML"),
        ("[[hold]]\nname = 'x'\nfrom = 'March'\n", "hold 'x'.from: bad date 'March'"),
        ("[[hold]]\nname = 'x'\nacount = 'A'\n", "hold[0].acount: unknown key"),
        ("[[hold]]\nname = 'x'\n", "hold 'x': names no dates"),
        ("[[hold]]\nname = 'x'\nfrom = 2024-03-05\nto = 2024-03-01\n", "is before from"),
        ("[[hold]]\naccount = 'A'\n", "hold[0].name: expected a non-empty string"),
        ("version = 2\n", "version: only version 1"),
    ],
)
def test_bad_policy_files_name_the_file_and_key(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(PolicyError) as info:
        load_policy(tmp_path, path)
    assert str(path) in str(info.value) and needle in str(info.value), str(info.value)


def test_cli_bad_policy_exits_2(trail_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("[retention]\nsystem = '-3d'\n")
    result = run("retention", "plan", "--home", trail_home, "--policy", path)
    assert result.exit_code == 2 and "retention.system: bad duration" in result.output
    missing = run("retention", "plan", "--home", trail_home, "--policy", tmp_path / "none.toml")
    assert missing.exit_code == 2 and "no such policy file" in missing.output


# ------------------------------------------------------------------------------ plan


def test_plan_decides_each_day_and_says_why(trail_home: Path) -> None:
    got = decisions(trail_home, _policy(trail_home))
    assert got[D1].decision == "removable" and got[D3].decision == "removable"
    assert got[D2].decision == "kept"
    assert got[D2].keep_until == "2031-03-03"
    assert "class orders until 2031-03-03" in got[D2].reasons[0]
    assert got[D4].decision == "open"
    assert (got[D1].first_seq, got[D1].last_seq) == (0, 299)
    # too early: not even the shortest period has run, and the file is not read
    early = decisions(trail_home, _policy(trail_home), as_of=date(2024, 5, 1))
    assert early[D1].decision == "kept" and "shortest period (90d)" in early[D1].reasons[0]
    # the day after the period ends it may go, not on the last day
    edge = decisions(trail_home, _policy(trail_home), as_of=date(2024, 5, 30))
    assert edge[D1].decision == "kept"
    assert decisions(trail_home, _policy(trail_home), date(2024, 5, 31))[D1].decision == (
        "removable"
    )


def test_unknown_category_takes_the_longest_period(trail_home: Path) -> None:
    policy = _policy(trail_home, "[categories]\nsystem = 'system'\n[retention]\ndebug = '9y'\n")
    got = decisions(trail_home, policy)
    assert got[D3].decision == "kept" and "class debug until 2033-03-04" in got[D3].reasons[0]
    # without the debug mapping, debug events are unclassified -> the longest period (9y)
    categories = {k: v for k, v in policy.categories.items() if k != "debug"}
    unmapped = dataclasses.replace(policy, categories=categories)
    unknown = plan_retention(trail_home, unmapped, as_of=AS_OF).days
    d3 = next(d for d in unknown if d.day == D3)
    assert d3.decision == "kept" and "unclassified category debug" in d3.reasons[0]


def test_no_pack_or_a_bad_pack_blocks_removal(trail_home: Path) -> None:
    shutil.rmtree(trail_home / "exports" / "daily" / D1)
    events = trail_home / "exports" / "daily" / D3 / "events.jsonl"
    events.chmod(0o644)
    events.write_bytes(events.read_bytes().replace(b'"n":3}', b'"n":4}', 1))
    got = decisions(trail_home, _policy(trail_home))
    assert (
        got[D1].decision == "kept" and "no pack at exports/daily/2024-03-01" in got[D1].reasons[0]
    )
    assert got[D3].decision == "kept" and "does not verify" in got[D3].reasons[0]


@pytest.mark.parametrize(
    ("hold", "held_days"),
    [
        ("from = 2024-03-03\nto = 2024-03-10\n", [D3]),
        ("to = 2024-03-01\n", [D1]),
        ("account = 'ACC-9'\n", [D3]),
        ("type = 'debug.*'\naccount = 'ACC-9'\n", [D3]),
        ("type = 'system.*'\nfrom = 2024-03-01\nto = 2024-03-01\n", [D1]),
        ("symbol = 'ETH-USD'\n", []),
    ],
)
def test_holds_override_the_policy(trail_home: Path, hold: str, held_days: list[str]) -> None:
    got = decisions(trail_home, _policy(trail_home, f"[[hold]]\nname = 'H1'\n{hold}"))
    for day in SYS_DAYS:
        if day in held_days:
            assert got[day].decision == "held" and got[day].holds == ["H1"]
            assert "held by 'H1'" in got[day].reasons[0]
        else:
            assert got[day].decision == "removable"


def test_cli_plan_json(trail_home: Path) -> None:
    result = run("retention", "plan", "--home", trail_home, "--as-of", AS_OF, "--json")
    assert result.exit_code == 0, result.output
    doc = orjson.loads(result.output)
    assert doc["removable"] == [D1, D3]
    assert {d["day"]: d["decision"] for d in doc["days"]}[D2] == "kept"
    table = run("retention", "plan", "--home", trail_home, "--as-of", AS_OF)
    assert table.exit_code == 0 and "removable" in table.output
    bad = run("retention", "plan", "--home", trail_home, "--as-of", "July")
    assert bad.exit_code == 2 and "--as-of 'July'" in bad.output


# ------------------------------------------------------------------------------ apply


def test_apply_removes_only_eligible_days_and_everything_still_holds(trail_home: Path) -> None:
    before = _tree_files(trail_home)
    kept_bytes = _file(trail_home, D2).read_bytes()
    result = apply_retention(trail_home, _policy(trail_home), as_of=AS_OF)
    assert result.removed == [D1, D3]
    assert not _file(trail_home, D1).exists() and not _file(trail_home, D3).exists()
    assert _file(trail_home, D2).read_bytes() == kept_bytes
    after = _tree_files(trail_home)
    assert all(after[name] == data for name, data in before.items()), "tiles/checkpoints kept"

    # the tombstone names every pruned day with its range and hashes
    doc = orjson.loads((trail_home / "pruned.json").read_bytes())
    assert [(d["date"], d["first_seq"], d["last_seq"], d["state"]) for d in doc["days"]] == [
        (D1, 0, 299, "removed"),
        (D3, 500, 789, "removed"),
    ]
    assert doc["batches"][0]["state"] == "removed"

    # the removal is on the record
    events = [r for r in journal_records(trail_home) if r["type"] == EVENT_TYPE]
    assert len(events) == 1 and events[0]["seq"] == result.event_seqs[0]
    data = events[0]["data"]
    assert data["days"] == [D1, D3] and (data["first_seq"], data["last_seq"]) == (0, 789)
    assert data["policy_digest"] == load_policy(trail_home).sha256
    manifest = trail_home / "exports" / "daily" / D1 / "manifest.json"
    assert data["pack_digests"][D1] == hashlib.sha256(manifest.read_bytes()).hexdigest()
    assert "schema_error" not in events[0]
    # range_root: the RFC 6962 root of the removed records, recomputable from the packs
    from tradetrail.core.merkle import Frontier

    tree = Frontier()
    for day in (D1, D3):
        pack_events = trail_home / "exports" / "daily" / day / "events.jsonl"
        for line in pack_events.read_bytes().split(b"\n")[:-1]:
            tree.append(hashlib.sha256(b"\x00" + line).digest())
    assert data["range_root"] == tree.root().hex()

    report = verify_trail(trail_home)
    assert report.ok, [str(f) for f in report.faults]
    assert any("removed under the retention policy" in n for n in report.notes)

    # proofs: kept records with their bytes, pruned ones from the tiles alone
    vkeys = [read_vkey(trail_home / "trail.vkey")]
    kept = inclusion_proof_json(trail_home, 400)
    assert "record" in kept and verify_proof_json(kept, vkeys)
    gone = inclusion_proof_json(trail_home, 10)
    assert "record" not in gone and verify_proof_json(gone, vkeys)

    # plan now shows them pruned; a second apply removes nothing
    again = plan_retention(trail_home, _policy(trail_home), as_of=AS_OF)
    assert {d.day: d.decision for d in again.days}[D1] == "pruned"
    assert apply_retention(trail_home, _policy(trail_home), as_of=AS_OF).removed == []

    # the trail reopens and keeps appending, and still verifies
    with tradetrail.open(trail_home, min_free_bytes=0) as trail:
        seq = trail.record("system.heartbeat", {"n": 1}).wait()
    assert seq == result.event_seqs[0] + 1
    assert verify_trail(trail_home).ok

    # index: rebuilt and updated skipping the pruned days
    url = f"sqlite:///{trail_home / 'index.sqlite'}"
    built = rebuild(trail_home, url)
    assert built.last_seq == seq
    index = SqliteIndex(trail_home / "index.sqlite")
    try:
        assert index.leaf_hash(built.origin, 10) is None
        assert index.leaf_hash(built.origin, 400) is not None
        assert update_index(trail_home, index).added == 0
    finally:
        index.close()

    # export: a kept day still packs; a pruned day is refused, naming the reason
    assert export_daily(trail_home, D2, out=trail_home.parent / "again").records == 200
    with pytest.raises(PackError, match="removed under the retention policy"):
        export_daily(trail_home, D1, out=trail_home.parent / "d1")


def test_existing_index_is_purged_of_pruned_rows(trail_home: Path) -> None:
    index = SqliteIndex(trail_home / "index.sqlite")
    try:
        origin = update_index(trail_home, index).origin
        assert index.leaf_hash(origin, 10) is not None
    finally:
        index.close()
    apply_retention(trail_home, _policy(trail_home), as_of=AS_OF)
    index = SqliteIndex(trail_home / "index.sqlite")
    try:
        assert index.leaf_hash(origin, 10) is None and index.leaf_hash(origin, 400) is not None
    finally:
        index.close()


def test_verify_faults_a_day_deleted_without_tombstone(trail_home: Path) -> None:
    # D1 pruned properly (D3 held), then D3 deleted by hand: the tombstone does not excuse it
    held = _policy(trail_home, "[[hold]]\nname='h'\nfrom=2024-03-03\n")
    assert apply_retention(trail_home, held, as_of=AS_OF).removed == [D1]
    assert verify_trail(trail_home).ok
    _file(trail_home, D3).unlink()
    report = verify_trail(trail_home)
    assert not report.ok
    assert any("records 500..789 are missing" in f.message for f in report.faults)


def test_verify_faults_an_altered_leaf_tile_of_a_pruned_range(trail_home: Path) -> None:
    apply_retention(trail_home, _policy(trail_home), as_of=AS_OF)
    assert verify_trail(trail_home).ok
    tile = trail_home / "tiles" / "tile" / "0" / "000"
    data = bytearray(tile.read_bytes())
    data[32 * 5] ^= 1  # the leaf hash of seq 5, a pruned record
    tile.chmod(0o644)
    tile.write_bytes(bytes(data))
    report = verify_trail(trail_home)
    assert not report.ok
    assert any("differs from this signed checkpoint" in f.message for f in report.all_faults())


def claim_removed_and_delete(home: Path, day: str, first: int, last: int) -> None:
    """What an attacker does: list a day as pruned in pruned.json and delete its file."""
    doc = orjson.loads((home / "pruned.json").read_bytes())
    compact = day.replace("-", "")
    doc["days"].append(
        {"day": compact, "date": day, "file": f"journal/audit-{compact}.jsonl", "batch": "x",
         "state": "removed", "first_seq": first, "last_seq": last}
    )  # fmt: skip
    (home / "pruned.json").write_bytes(orjson.dumps(doc))
    _file(home, day).unlink()


class Crash(Exception):
    """A simulated crash between two steps of a removal."""


def crash_apply_at(home: Path, point: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run apply until `point`, crash there, and put the hook back (as a restart would)."""

    def crash(name: str) -> None:
        if name == point:
            raise Crash(name)

    monkeypatch.setattr(retention, "_crash_point", crash)
    with pytest.raises(Crash):
        apply_retention(home, _policy(home), as_of=AS_OF)
    monkeypatch.setattr(retention, "_crash_point", lambda name: None)


@pytest.mark.parametrize("point", ["after_intent", "after_event", "after_unlink"])
def test_a_crash_between_steps_leaves_a_verifiable_trail(
    trail_home: Path, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    crash_apply_at(trail_home, point, monkeypatch)
    report = verify_trail(trail_home)
    assert report.ok, [str(f) for f in report.faults]
    with tradetrail.open(trail_home, min_free_bytes=0):
        pass
    assert verify_trail(trail_home).ok
    result = apply_retention(trail_home, _policy(trail_home), as_of=AS_OF)
    assert result.resumed and result.removed == []
    assert not _file(trail_home, D1).exists() and not _file(trail_home, D3).exists()
    events = [r for r in journal_records(trail_home) if r["type"] == EVENT_TYPE]
    assert len(events) == 1, "the removal is recorded exactly once"
    doc = orjson.loads((trail_home / "pruned.json").read_bytes())
    assert doc["batches"][0]["state"] == "removed"
    assert doc["batches"][0]["event_seq"] == events[0]["seq"]
    assert verify_trail(trail_home).ok


def test_apply_is_refused_while_a_writer_holds_the_trail(trail_home: Path) -> None:
    with tradetrail.open(trail_home, min_free_bytes=0):
        with pytest.raises(RetentionError, match="needs the trail to itself"):
            apply_retention(trail_home, _policy(trail_home), as_of=AS_OF)
        result = run("retention", "apply", "--home", trail_home, "--as-of", AS_OF, "--yes")
        assert result.exit_code == 2 and "already open for writing" in result.output
    assert _file(trail_home, D1).exists()


def test_cli_apply(trail_home: Path) -> None:
    refused = run("retention", "apply", "--home", trail_home, "--as-of", AS_OF)
    assert refused.exit_code == 2 and "--yes" in refused.output
    assert _file(trail_home, D1).exists()
    result = run("retention", "apply", "--home", trail_home, "--as-of", AS_OF, "--yes")
    assert result.exit_code == 0, result.output
    assert "removed 2 day file(s): 2024-03-01, 2024-03-03" in result.output
    verified = run("verify", "--home", trail_home)
    assert verified.exit_code == 0, verified.output


def test_policy_file_in_the_trail_is_the_default(trail_home: Path) -> None:
    (trail_home / "retention.toml").write_text("[retention]\nsystem = '10y'\n")
    policy = load_policy(trail_home)
    assert policy.source.endswith("retention.toml") and str(policy.periods["system"]) == "10y"
    got = decisions(trail_home, policy)
    assert got[D1].decision == "kept" and got[D3].decision == "removable"
    assert tradetrail.cli.retention.retention.name == "retention"


# ------------------------------------------------------------------------------ review fixes


def test_a_forged_tombstone_does_not_excuse_a_deleted_day(trail_home: Path) -> None:
    """pruned.json alone proves nothing: a gap needs a journaled removal event."""
    _file(trail_home, D1).unlink()
    (trail_home / "pruned.json").write_bytes(
        orjson.dumps(
            {
                "format": "tradetrail-pruned/1",
                "days": [{"day": "20240301", "first_seq": 0, "last_seq": 299, "state": "removed"}],
                "batches": [],
            }
        )
    )
    report = verify_trail(trail_home)
    assert not report.ok
    assert any("does not record their removal" in f.message for f in report.faults)


def test_a_day_added_to_a_real_tombstone_is_still_a_fault(trail_home: Path) -> None:
    held = _policy(trail_home, "[[hold]]\nname='h'\nfrom=2024-03-03\n")
    assert apply_retention(trail_home, held, as_of=AS_OF).removed == [D1]
    doc = orjson.loads((trail_home / "pruned.json").read_bytes())
    forged = dict(doc["days"][0], day="20240302", date=D2, first_seq=300, last_seq=499)
    doc["days"].append(forged)
    (trail_home / "pruned.json").write_bytes(orjson.dumps(doc))
    _file(trail_home, D2).unlink()
    report = verify_trail(trail_home)
    assert not report.ok
    assert any("does not record their removal" in f.message for f in report.faults)


def test_a_tombstone_that_is_not_one_is_a_fault(trail_home: Path) -> None:
    (trail_home / "pruned.json").write_bytes(b'{"days": [{"day": "x"}]}')
    report = verify_trail(trail_home)
    assert not report.ok and any("pruned.json" in str(f) for f in report.faults)


def test_a_damaged_tombstone_is_refused_naming_its_field(trail_home: Path) -> None:
    """Every reader of pruned.json reads it as a Tombstone: a seq written as text (once read
    as a number) or a field this version does not know (it would be dropped on rewrite)."""
    held = _policy(trail_home, "[[hold]]\nname='h'\nfrom=2024-03-03\n")
    assert apply_retention(trail_home, held, as_of=AS_OF).removed == [D1]
    good = (trail_home / "pruned.json").read_bytes()
    doc = orjson.loads(good)
    doc["days"][0]["first_seq"] = "0"
    (trail_home / "pruned.json").write_bytes(orjson.dumps(doc))
    with pytest.raises(JournalFormatError, match=r"at `\$\.days\[0\]\.first_seq`"):
        pruned_days(trail_home)
    with pytest.raises(RetentionError, match=r"at `\$\.days\[0\]\.first_seq`"):
        retention.read_tombstone(trail_home)
    with pytest.raises(TrailCorruptError, match=r"at `\$\.days\[0\]\.first_seq`"):
        apply_retention(trail_home, _policy(trail_home), as_of=AS_OF)  # the writer refuses it
    doc = orjson.loads(good)
    doc["batches"][0]["note"] = "x"
    (trail_home / "pruned.json").write_bytes(orjson.dumps(doc))
    with pytest.raises(RetentionError, match=r"unknown field `note` - at `\$\.batches\[0\]`"):
        retention.read_tombstone(trail_home)
    with pytest.raises(TrailCorruptError, match=r"unknown field `note`"):
        apply_retention(trail_home, _policy(trail_home), as_of=AS_OF)
    assert _file(trail_home, D2).exists() and _file(trail_home, D3).exists()
    (trail_home / "pruned.json").write_bytes(good)
    assert verify_trail(trail_home).ok


def test_a_hold_added_after_an_interrupted_intent_abandons_the_batch(
    trail_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crash_apply_at(trail_home, "after_intent", monkeypatch)
    held = _policy(trail_home, "[[hold]]\nname='late hold'\nfrom=2024-03-01\nto=2024-03-01\n")
    result = apply_retention(trail_home, held, as_of=AS_OF)
    assert _file(trail_home, D1).exists(), "the day put on hold after the crash stays"
    assert any("abandoned" in w and D1 in w for w in result.warnings)
    assert result.removed == [D3]
    assert verify_trail(trail_home).ok


def test_a_hold_added_after_the_removal_was_recorded_narrows_it(
    trail_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The removal was recorded, then a hold keeps one of its days: apply records the removal
    again without that day, and the newest record is the one verify goes by, so deleting the
    held day later (with pruned.json edited to match) is still a fault."""
    crash_apply_at(trail_home, "after_event", monkeypatch)
    held = _policy(trail_home, "[[hold]]\nname='late hold'\nfrom=2024-03-01\nto=2024-03-01\n")
    result = apply_retention(trail_home, held, as_of=AS_OF)
    assert any("narrowed" in w and D1 in w for w in result.warnings)
    assert _file(trail_home, D1).exists() and not _file(trail_home, D3).exists()
    events = [r for r in journal_records(trail_home) if r["type"] == EVENT_TYPE]
    assert len(events) == 2
    assert events[-1]["data"]["days"] == [D3]
    assert events[-1]["data"]["pruned_spans"] == [[500, 789]]
    assert verify_trail(trail_home).ok
    # someone puts 1 March back into pruned.json and deletes it: the old record no longer counts
    first = events[0]["data"]
    claim_removed_and_delete(trail_home, D1, 0, 299)
    report = verify_trail(trail_home)
    assert not report.ok, "an older removal record that was narrowed excuses nothing"
    assert first["pruned_spans"] == [[0, 299], [500, 789]]


def test_a_removal_record_anyone_could_record_excuses_nothing(trail_home: Path) -> None:
    """Without the trail's key no removal counts: a record(ed) or spilled removal event with
    made-up spans, then a deleted day, is a fault."""
    from tradetrail.compliance.retention import spans_root

    spans = [[0, 299]]
    forged = {
        "reason": "cleanup", "days": [D1], "first_seq": 0, "last_seq": 299,
        "pruned_spans": spans, "pruned_root": spans_root(trail_home, spans),
        "seal": "forged\n\n— retention.test/desk AAAAAAAA\n",
    }  # fmt: skip
    with tradetrail.open(trail_home, min_free_bytes=0) as trail:
        trail.record(EVENT_TYPE, forged).wait()
    (trail_home / "pruned.json").write_bytes(
        orjson.dumps({
            "format": "tradetrail-pruned/1",
            "days": [{"day": "20240301", "first_seq": 0, "last_seq": 299, "state": "removed"}],
            "batches": [],
        })
    )  # fmt: skip
    _file(trail_home, D1).unlink()
    report = verify_trail(trail_home)
    assert not report.ok
    assert any("did not seal" in w for w in report.warnings)


def test_a_day_slipped_into_pruned_json_is_never_signed(trail_home: Path) -> None:
    """A line added to pruned.json must not get signed into the next legitimate removal."""
    held = _policy(trail_home, "[[hold]]\nname='h'\nfrom=2024-03-03\n")
    apply_retention(trail_home, held, as_of=AS_OF)  # removes 1 March, properly
    doc = orjson.loads((trail_home / "pruned.json").read_bytes())
    doc["days"].append(dict(doc["days"][0], day="20240302", date=D2, first_seq=300,
                            last_seq=499))  # fmt: skip
    (trail_home / "pruned.json").write_bytes(orjson.dumps(doc))
    with pytest.raises(RetentionError, match="no sealed removal covers"):
        apply_retention(trail_home, _policy(trail_home), as_of=AS_OF)
    assert _file(trail_home, D3).exists() and _file(trail_home, D2).exists()


def test_apply_refuses_a_future_as_of(trail_home: Path) -> None:
    with pytest.raises(RetentionError, match="in the future"):
        apply_retention(trail_home, _policy(trail_home), as_of=date(2099, 1, 1))
    result = run("retention", "apply", "--home", trail_home, "--as-of", "2099-01-01", "--yes")
    assert result.exit_code == 2 and "in the future" in result.output
    assert _file(trail_home, D1).exists()
    assert run("retention", "plan", "--home", trail_home, "--as-of", "2099-01-01").exit_code == 0


def test_reports_and_attestations_read_pruned_days_from_their_packs(trail_home: Path) -> None:
    from tradetrail.compliance.attest import list_attestations
    from tradetrail.reports import build_report, render

    before = orjson.loads(render(build_report(trail_home, "daily", D1, D2), "json"))
    apply_retention(trail_home, _policy(trail_home), as_of=AS_OF)
    assert not _file(trail_home, D1).exists()
    after = orjson.loads(render(build_report(trail_home, "daily", D1, D2), "json"))
    assert after == before, "a pruned day reads from its pack: the same figures"
    listed = list_attestations(trail_home, today=TODAY)
    assert listed.days[0].date == D1, "the first day of the trail is the first pruned day"
    assert listed.days[0].status != "before trail"


def test_info_lists_pruned_days_and_packs(trail_home: Path) -> None:
    apply_retention(trail_home, _policy(trail_home), as_of=AS_OF)
    result = run("info", "--home", trail_home, "--json")
    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.stdout)
    assert [(p["day"], p["state"]) for p in summary["pruned"]] == [
        ("20240301", "removed"),
        ("20240303", "removed"),
    ]
    assert summary["daily_packs"] == [D1, D2, D3]
    text = run("info", "--home", trail_home)
    assert "audit-20240301.jsonl  removed under retention (removed), seq 0-299" in text.output


def test_separate_runs_and_a_pruned_removal_record_still_verify(trail_home: Path) -> None:
    """Daily runs remove adjacent days one run at a time, and in time the day holding an
    earlier removal record goes too: each removal record lists everything pruned so far."""
    short = _policy(
        trail_home,
        "[retention]\ntrading = '1d'\norders = '1d'\ncompliance = '1d'\nsystem = '1d'\n"
        "debug = '1d'\n[[hold]]\nname='h'\nfrom=2024-03-02\n",
    )
    first = apply_retention(trail_home, short, as_of=AS_OF, clock=SimClock("2024-03-05T08:00:00"))
    assert first.removed == [D1]
    assert verify_trail(trail_home).ok
    # the hold is released: 2 and 3 March go, then the day that holds the first removal record
    with tradetrail.open(trail_home, min_free_bytes=0, clock=SimClock("2024-03-06T08:00")) as t:
        t.record("system.heartbeat", {"n": 0})  # seals 5 March
    for day in ("2024-03-04", "2024-03-05"):
        export_daily(trail_home, day, today=date(2024, 3, 8))
    released = _policy(
        trail_home,
        "[retention]\ntrading = '1d'\norders = '1d'\ncompliance = '1d'\nsystem = '1d'\n"
        "debug = '1d'\n",
    )
    second = apply_retention(
        trail_home, released, as_of=AS_OF, clock=SimClock("2024-03-07T08:00:00")
    )
    assert second.removed == [D2, D3, "2024-03-04", "2024-03-05"]
    events = [r for r in journal_records(trail_home) if r["type"] == EVENT_TYPE]
    assert len(events) == 1, "the first removal record was itself pruned"
    assert events[0]["data"]["pruned_spans"] == [[0, 791]]  # 1-5 March: seq 0..791
    report = verify_trail(trail_home)
    assert report.ok, [str(f) for f in report.faults]
    with tradetrail.open(trail_home, min_free_bytes=0, clock=SimClock("2024-03-08T08:00:00")):
        pass
    assert verify_trail(trail_home).ok


def test_an_exam_query_reaches_into_pruned_days_through_their_packs(trail_home: Path) -> None:
    from tradetrail.compliance.exam import ExamError, export_exam
    from tradetrail.compliance.verify_exam import verify_exam

    apply_retention(trail_home, _policy(trail_home), as_of=AS_OF)
    assert not _file(trail_home, D3).exists()
    out = trail_home.parent / "exam.zip"
    result = export_exam(trail_home, D1, D3, out=out, query="type=debug.* account=ACC-9")
    assert result.query_records == 1, "the one ACC-9 record of pruned 3 March"
    vkey = read_vkey(trail_home / "trail.vkey")
    report = verify_exam(out, [vkey])
    assert report.ok, [str(f) for f in report.faults]
    everything = export_exam(
        trail_home, D1, D3, out=trail_home.parent / "all.zip", query="type=debug.*"
    )
    assert everything.query_records == 290
    with pytest.raises(ExamError, match="full-text"):
        export_exam(trail_home, D1, D3, out=trail_home.parent / "t.zip", query="text=tick")


def test_an_empty_day_between_pruned_days_gets_the_right_bounds(tmp_path: Path) -> None:
    from tradetrail.compliance.exam import export_exam
    from tradetrail.compliance.verify_exam import verify_exam
    from tradetrail.export.daily import day_bounds

    home = tmp_path / "trail"
    clock = SimClock("2024-03-01T09:00:00")
    with tradetrail.open(home, origin=ORIGIN, clock=clock, min_free_bytes=0) as trail:
        for day in ("2024-03-01", "2024-03-03"):  # nothing on 2 March
            clock.set(f"{day}T09:00:00")
            for i in range(20):
                trail.record("system.heartbeat", {"n": i})
            trail.flush()
        clock.set("2024-03-04T09:00:00")
        trail.record("system.heartbeat", {"n": -1})
        trail.flush()
    for day in ("2024-03-01", "2024-03-03"):
        export_daily(home, day, today=TODAY)
    removed = apply_retention(home, _policy(home), as_of=AS_OF).removed
    assert removed == ["2024-03-01", "2024-03-03"]
    bounds = day_bounds(home, "2024-03-02", TODAY)
    assert (bounds.start, bounds.end, bounds.sealed) == (20, 20, True)
    out = tmp_path / "exam.zip"
    export_exam(home, "2024-03-01", "2024-03-03", out=out)
    report = verify_exam(out, [read_vkey(home / "trail.vkey")])
    assert report.ok, [str(f) for f in report.faults]


# ------------------------------------------------------------------------------ fourth review


SHORT = (
    "[retention]\ntrading = '1d'\norders = '1d'\ncompliance = '1d'\nsystem = '1d'\ndebug = '1d'\n"
)


def test_a_forged_intent_for_a_deleted_day_is_refused(trail_home: Path) -> None:
    """Apply unlinks only after recording: a batch never recorded whose day file is gone was
    made up (or the file deleted by hand), and nothing gets sealed for it."""
    _file(trail_home, D2).unlink()
    doc = {
        "format": "tradetrail-pruned/1",
        "days": [{"day": "20240302", "date": D2, "file": "journal/audit-20240302.jsonl",
                  "batch": "b", "state": "intent", "first_seq": 300, "last_seq": 499,
                  "file_sha256": "0" * 64, "pack_manifest_sha256": "0" * 64}],
        "batches": [{"id": "b", "state": "intent", "event_seq": None, "journal_size": 0,
                     "days": [D2], "as_of": "x", "policy": "p", "policy_sha256": "0"}],
    }  # fmt: skip
    (trail_home / "pruned.json").write_bytes(orjson.dumps(doc))
    with pytest.raises(RetentionError, match="never recorded"):
        apply_retention(trail_home, _policy(trail_home), as_of=AS_OF)
    assert not [r for r in journal_records(trail_home) if r["type"] == EVENT_TYPE]
    assert not verify_trail(trail_home).ok


def test_a_replayed_old_removal_record_is_out_of_the_chain(
    trail_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crash_apply_at(trail_home, "after_event", monkeypatch)
    held = _policy(trail_home, "[[hold]]\nname='late hold'\nfrom=2024-03-01\nto=2024-03-01\n")
    apply_retention(trail_home, held, as_of=AS_OF)  # narrowed: 1 March kept
    first = next(r for r in journal_records(trail_home) if r["type"] == EVENT_TYPE)
    with tradetrail.open(trail_home, min_free_bytes=0) as trail:  # replay it, twice
        trail.record(EVENT_TYPE, first["data"], event_id=first["event_id"]).wait()
        trail.record(EVENT_TYPE, first["data"]).wait()
    claim_removed_and_delete(trail_home, D1, 0, 299)
    assert not verify_trail(trail_home).ok


def test_a_laundered_batch_in_pruned_json_is_refused(
    trail_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crash_apply_at(trail_home, "after_event", monkeypatch)
    held = _policy(trail_home, "[[hold]]\nname='late hold'\nfrom=2024-03-01\nto=2024-03-01\n")
    apply_retention(trail_home, held, as_of=AS_OF)
    doc = orjson.loads((trail_home / "pruned.json").read_bytes())
    doc["batches"].append({"id": "fake", "state": "removed", "event_seq": 10**9, "days": []})
    (trail_home / "pruned.json").write_bytes(orjson.dumps(doc))
    apply_retention(
        trail_home, _policy(trail_home, SHORT), as_of=AS_OF
    )  # pruned.json decides nothing
    report = verify_trail(trail_home)
    assert report.ok, [str(f) for f in report.faults]


def test_a_crash_inside_a_narrowing_then_the_hold_released_still_verifies(
    trail_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crash_apply_at(trail_home, "after_event", monkeypatch)
    held = _policy(trail_home, "[[hold]]\nname='late hold'\nfrom=2024-03-01\nto=2024-03-01\n")
    real = retention._unlink_days

    def crash_before_unlink(*args: Any) -> None:
        raise Crash("inside the narrowing")

    monkeypatch.setattr(retention, "_unlink_days", crash_before_unlink)
    with pytest.raises(Crash):
        apply_retention(trail_home, held, as_of=AS_OF)
    monkeypatch.setattr(retention, "_unlink_days", real)
    apply_retention(trail_home, _policy(trail_home), as_of=AS_OF)  # the hold is gone
    report = verify_trail(trail_home)
    assert report.ok, [str(f) for f in report.faults]
    events = [r for r in journal_records(trail_home) if r["type"] == EVENT_TYPE]
    assert [e["data"]["days"] for e in events] == [[D1, D3], [D3], [D1]]
    assert events[-1]["data"]["previous_removal"] == events[1]["event_id"]


def test_a_narrowing_after_some_files_were_unlinked(
    trail_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crash_apply_at(trail_home, "after_unlink", monkeypatch)  # 1 March unlinked, 3 March not
    assert not _file(trail_home, D1).exists() and _file(trail_home, D3).exists()
    held = _policy(trail_home, "[[hold]]\nname='late hold'\nfrom=2024-03-03\nto=2024-03-03\n")
    result = apply_retention(trail_home, held, as_of=AS_OF)
    assert any("narrowed" in w for w in result.warnings)
    assert _file(trail_home, D3).exists()
    assert verify_trail(trail_home).ok


def test_daily_runs_with_a_crash_keep_the_trail_openable(
    trail_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adjacent days removed on consecutive runs, the second crashing after its record: the
    trail still opens and verifies, and the next run finishes."""
    hold = "[[hold]]\nname='h'\nfrom=2024-03-02\n"
    apply_retention(trail_home, _policy(trail_home, SHORT + hold), as_of=AS_OF)
    policy = _policy(trail_home, SHORT + "[[hold]]\nname='h'\nfrom=2024-03-03\n")

    def crash(name: str) -> None:
        if name == "after_event":
            raise Crash(name)

    monkeypatch.setattr(retention, "_crash_point", crash)
    with pytest.raises(Crash):
        apply_retention(trail_home, policy, as_of=AS_OF)
    monkeypatch.setattr(retention, "_crash_point", lambda name: None)
    assert verify_trail(trail_home).ok
    with tradetrail.open(trail_home, min_free_bytes=0):
        pass
    apply_retention(trail_home, policy, as_of=AS_OF)
    assert not _file(trail_home, D2).exists()
    assert verify_trail(trail_home).ok


# ------------------------------------------------------------------------------ fifth review


def test_the_newest_sealed_record_decides_even_when_an_older_one_is_held(
    trail_home: Path,
) -> None:
    """The day holding an earlier removal record is kept by a hold while later ones go: the
    record in between is pruned, and the newest sealed record still decides."""

    def run_at(when: str, holds: str) -> list[str]:
        policy = _policy(trail_home, SHORT + holds)
        return apply_retention(trail_home, policy, as_of=AS_OF, clock=SimClock(when)).removed

    def seal_with_a_record(when: str, days: tuple[str, ...]) -> None:
        with tradetrail.open(trail_home, min_free_bytes=0, clock=SimClock(when)) as t:
            t.record("system.heartbeat", {"n": 0})
        for day in days:
            export_daily(trail_home, day, today=date(2024, 3, 20))

    hold = "[[hold]]\nname='{n}'\nfrom={a}\nto={b}\n"
    assert run_at("2024-03-05T08:00", hold.format(n="h", a=D2, b=D3)) == [D1]  # record R1
    seal_with_a_record("2024-03-06T08:00", ("2024-03-04", "2024-03-05"))
    keep = hold.format(n="r1", a="2024-03-05", b="2024-03-05") + hold.format(n="d3", a=D3, b=D3)
    assert run_at("2024-03-07T08:00", keep) == [D2, "2024-03-04"]  # record R2
    seal_with_a_record("2024-03-08T08:00", ("2024-03-06", "2024-03-07"))
    assert run_at("2024-03-09T08:00", keep) == ["2024-03-06", "2024-03-07"]  # R2's day goes
    report = verify_trail(trail_home)
    assert report.ok, [str(f) for f in report.faults]


def test_a_copied_sealed_record_is_sealed_for_nowhere(
    trail_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crash_apply_at(trail_home, "after_event", monkeypatch)
    held = _policy(trail_home, "[[hold]]\nname='late hold'\nfrom=2024-03-01\nto=2024-03-01\n")
    apply_retention(trail_home, held, as_of=AS_OF)  # narrowed: 1 March kept
    wide = next(r for r in journal_records(trail_home) if r["type"] == EVENT_TYPE)
    with tradetrail.open(trail_home, min_free_bytes=0) as trail:
        copy = trail.record(EVENT_TYPE, wide["data"], event_id=wide["event_id"]).wait()
    doc = orjson.loads((trail_home / "pruned.json").read_bytes())
    doc["batches"][-1]["event_seq"] = copy  # steer apply to the copy
    (trail_home / "pruned.json").write_bytes(orjson.dumps(doc))
    apply_retention(trail_home, _policy(trail_home, SHORT), as_of=AS_OF)  # the copy is ignored
    report = verify_trail(trail_home)
    assert report.ok, [str(f) for f in report.faults]
    assert any("did not seal at this position" in w for w in report.warnings)


def test_dropping_the_newest_checkpoints_does_not_bring_back_a_wider_removal(
    trail_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crash_apply_at(trail_home, "after_event", monkeypatch)
    held = _policy(trail_home, "[[hold]]\nname='late hold'\nfrom=2024-03-01\nto=2024-03-01\n")
    apply_retention(trail_home, held, as_of=AS_OF)
    events = [r for r in journal_records(trail_home) if r["type"] == EVENT_TYPE]
    narrow = events[-1]["seq"]
    for cp in (trail_home / "checkpoints").iterdir():
        if int(cp.name) > narrow:
            cp.unlink()
    shutil.copy(trail_home / "checkpoints" / str(narrow), trail_home / "checkpoint")
    claim_removed_and_delete(trail_home, D1, 0, 299)
    assert not verify_trail(trail_home).ok


def test_a_process_killed_after_an_unlink_leaves_a_verifiable_trail(trail_home: Path) -> None:
    """A real kill (no finally, no close): the removal was checkpointed before any unlink."""
    code = (
        "import os, sys\n"
        "from datetime import date\n"
        "from tradetrail.compliance import retention\n"
        "def crash(name):\n"
        "    if name == 'after_unlink':\n"
        "        os._exit(9)\n"
        "retention._crash_point = crash\n"
        "home = sys.argv[1]\n"
        "retention.apply_retention(home, retention.load_policy(__import__('pathlib').Path(home)),"
        " as_of=date(2024, 7, 1))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(trail_home)], capture_output=True)
    assert done.returncode == 9, done.stderr
    report = verify_trail(trail_home)
    assert report.ok, [str(f) for f in report.faults]


def test_a_removal_record_the_redactor_would_alter_is_never_acted_on(
    trail_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should anything in a removal record look like a secret, the journaled record would not
    match its seal: apply notices before unlinking anything."""
    real = retention._event_data

    def leaky(*args: Any, **kwargs: Any) -> dict[str, Any]:
        data = real(*args, **kwargs)
        data["reason"] += " see https://ops:hunter2@wiki.example/retention"
        return data

    monkeypatch.setattr(retention, "_event_data", leaky)
    with pytest.raises(RetentionError, match="journaled differently"):
        apply_retention(trail_home, _policy(trail_home), as_of=AS_OF)
    assert _file(trail_home, D1).exists() and _file(trail_home, D3).exists()
    assert verify_trail(trail_home).ok


# ------------------------------------------------------------------------------ sixth review


def test_a_dropped_batch_does_not_stop_the_narrowing(
    trail_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pruned.json decides nothing: with the interrupted batch gone from it, apply still finds
    the recorded removal in the journal, keeps the held day by narrowing it, and finishes."""
    crash_apply_at(trail_home, "after_event", monkeypatch)
    (trail_home / "pruned.json").write_bytes(
        orjson.dumps({"format": "tradetrail-pruned/1", "days": [], "batches": []})
    )
    held = _policy(trail_home, "[[hold]]\nname='late hold'\nfrom=2024-03-01\nto=2024-03-01\n")
    result = apply_retention(trail_home, held, as_of=AS_OF)
    assert any("narrowed" in w for w in result.warnings)
    assert _file(trail_home, D1).exists() and not _file(trail_home, D3).exists()
    assert verify_trail(trail_home).ok
    claim_removed_and_delete(trail_home, D1, 0, 299)
    assert not verify_trail(trail_home).ok


def test_an_emptied_pruned_json_cannot_make_apply_sign_away_earlier_removals(
    trail_home: Path,
) -> None:
    held = _policy(trail_home, "[[hold]]\nname='h'\nfrom=2024-03-03\n")
    assert apply_retention(trail_home, held, as_of=AS_OF).removed == [D1]
    doc = orjson.loads((trail_home / "pruned.json").read_bytes())
    for day in doc["days"]:
        day["state"] = "intent"
    doc["batches"] = []
    (trail_home / "pruned.json").write_bytes(orjson.dumps(doc))
    apply_retention(trail_home, _policy(trail_home), as_of=AS_OF)  # removes 3 March
    events = [r for r in journal_records(trail_home) if r["type"] == EVENT_TYPE]
    assert events[-1]["data"]["pruned_spans"] == [[0, 299], [500, 789]]
    report = verify_trail(trail_home)
    assert report.ok, [str(f) for f in report.faults]
