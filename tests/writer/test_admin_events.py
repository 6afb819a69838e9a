"""Events recorded by tradetrail's own commands: journaled directly, or through the spill
directory when a trading process holds the trail (and then merged by that process)."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

import tradetrail
from tradetrail.store.journal import journal_files
from tradetrail.verify.trail import verify_trail
from tradetrail.writer.admin_events import record_admin_event

EVENT = "compliance.exception_noted"


def records(home: Path) -> list[dict[str, object]]:
    out = []
    for path in journal_files(home):
        out += [orjson.loads(line) for line in path.read_bytes().splitlines()]
    return out


def note_data() -> dict[str, str]:
    return {"description": "export made", "rule": "R-1"}


def test_a_free_trail_journals_the_event_at_once(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    with tradetrail.open(home) as trail:
        trail.record("order.accepted", None, order_id="O-1").wait()
    result = record_admin_event(home, EVENT, note_data(), actor="cli")
    assert result.seq is not None and result.spill_file is None
    assert "recorded as seq" in result.describe()
    recs = records(home)
    assert recs[result.seq]["type"] == EVENT and recs[result.seq]["actor"] == "cli"
    assert "spill" not in recs[result.seq]
    assert verify_trail(home).ok


@pytest.mark.embedded
def test_a_held_trail_gets_the_event_through_the_spill_directory(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    trail = tradetrail.open(home)
    try:
        trail.record("order.accepted", None, order_id="O-1").wait()
        result = record_admin_event(home, EVENT, note_data(), actor="cli")
        assert result.seq is None and result.spill_file is not None
        assert result.spill_file.is_file() and "queued in" in result.describe()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (
            result.spill_file.exists() or not any(r["type"] == EVENT for r in records(home))
        ):  # the running writer looks for foreign spill files every 2 s, removes them once merged
            time.sleep(0.2)
        found = [r for r in records(home) if r["type"] == EVENT]
        assert len(found) == 1, "the running writer merged the command's event exactly once"
        assert found[0]["spill"]["reason"].startswith("recorded by a tradetrail command")
        assert found[0]["data"] == note_data()
        assert not result.spill_file.exists()
        trail.record("order.accepted", None, order_id="O-2").wait()
    finally:
        trail.close()
    assert [r["type"] for r in records(home)].count(EVENT) == 1
    assert verify_trail(home).ok


@pytest.mark.embedded
def test_an_event_left_behind_is_merged_at_the_next_open(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    trail = tradetrail.open(home)
    trail.record("order.accepted", None, order_id="O-1").wait()
    trail._last_foreign_check = time.monotonic() + 3600  # this writer will not look in time
    result = record_admin_event(home, EVENT, note_data())
    assert result.spill_file is not None
    trail.close()
    assert not any(r["type"] == EVENT for r in records(home))
    with tradetrail.open(home):
        pass
    assert [r["type"] for r in records(home)].count(EVENT) == 1
    assert verify_trail(home).ok


def test_a_malformed_admin_event_raises_and_records_nothing(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    with tradetrail.open(home) as trail:
        trail.record("order.accepted", None, order_id="O-1").wait()
    before = records(home)
    with pytest.raises((TypeError, ValueError)):
        record_admin_event(home, EVENT, {"description": 5, "unknown_field": True})
    after = records(home)
    assert [r["type"] for r in after if r["type"] == EVENT] == []
    assert len(after) >= len(before)


@pytest.mark.embedded
def test_a_writer_with_its_own_spill_directory_still_finds_command_events(
    tmp_path: Path,
) -> None:
    home = tmp_path / "trail"
    trail = tradetrail.open(home, spill_dir=tmp_path / "elsewhere")
    try:
        trail.record("order.accepted", None, order_id="O-1").wait()
        result = record_admin_event(home, EVENT, note_data())
        assert result.spill_file is not None and result.spill_file.parent == home / "spill"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not any(r["type"] == EVENT for r in records(home)):
            time.sleep(0.2)
        assert [r["type"] for r in records(home)].count(EVENT) == 1
    finally:
        trail.close()
    assert verify_trail(home).ok
