"""What the writer signs when it opens a trail: the clean-close mark (`closed`), records beyond
the latest signed checkpoint (forged after a clean close, or left by a crash), and a trail
whose checkpoints were deleted. Nothing that a forger added may get signed by the next open."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from conftest import SimClock, check_chain, journal_lines, leaf_hex
from tradetrail import TrailCorruptError
from tradetrail.core.canonical import encode_record
from tradetrail.core.checkpoint import open_checkpoint
from tradetrail.core.closemark import (
    CLOSED_FILE,
    CLOSED_FORMAT,
    ClosedMark,
    open_closed_mark,
    read_closed_mark,
    records_after_close,
    sign_closed_mark,
)
from tradetrail.core.note import Signer, Verifier
from tradetrail.errors import CheckpointError, NoteError

DAY = "audit-20240301.jsonl"


def verifier(home: Path) -> Verifier:
    return Verifier.from_vkey((home / "trail.vkey").read_text().strip())


def signed_state(home: Path) -> dict[str, bytes]:
    """Every checkpoint file's bytes: what an open must not change when it refuses."""
    files = {f"checkpoints/{p.name}": p.read_bytes() for p in (home / "checkpoints").iterdir()}
    if (home / "checkpoint").exists():
        files["checkpoint"] = (home / "checkpoint").read_bytes()
    return files


def make_trail(open_trail: Callable[..., Any], n: int = 20) -> None:
    trail = open_trail()
    for i in range(n):
        trail.record("order.filled", {"qty": "1", "i": i}, order_id=f"O-{i}")
    trail.close()


def forged_after(
    home: Path,
    mutate: Callable[[dict[str, Any]], None] = lambda r: None,
    encode: Callable[[dict[str, Any]], bytes] = encode_record,
    count: int = 1,
) -> list[int]:
    """The campaign's forged append: records chained to the last line (new event ids, qty
    changed), appended to the newest day file. Returns their line numbers."""
    path = home / "journal" / DAY
    lines = path.read_bytes().split(b"\n")[:-1]
    last = orjson.loads(lines[-1])
    numbers = []
    for k in range(count):
        record = dict(last)
        record.update(
            seq=last["seq"] + 1,
            prev=leaf_hex(lines[-1]),
            event_id=str(uuid.uuid4()),
            ts=last["ts"][:20] + f"{int(last['ts'][20:26]) + 1:06d}Z",
            data={**last["data"], "qty": "1000"},
        )
        if k == count - 1:
            mutate(record)
        line = encode(record)
        lines.append(line)
        numbers.append(len(lines))
        last = orjson.loads(line)
    path.chmod(0o644)
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return numbers


# ----------------------------------------------------------------------------- the mark


def test_a_new_trail_has_checkpoint_0_and_a_closed_mark_after_close(
    open_trail: Callable[..., Any], home: Path
) -> None:
    trail = open_trail()
    assert (home / "checkpoints" / "0").is_file()  # signed at creation, before any record
    assert not (home / CLOSED_FILE).exists()
    for i in range(7):
        trail.record("order.accepted", {"i": i})
    trail.close()
    mark = read_closed_mark(home, [verifier(home)], origin=trail.origin)
    assert mark is not None and mark.size == 7
    cp = open_checkpoint((home / "checkpoint").read_text(), [verifier(home)])
    assert (mark.origin, mark.size, mark.root) == (cp.origin, cp.size, cp.root)
    text = (home / CLOSED_FILE).read_text()
    assert text.startswith(CLOSED_FORMAT + "\n")
    # the mark is not a checkpoint: no checkpoint parser takes it for one
    with pytest.raises(CheckpointError):
        open_checkpoint(text, [verifier(home)])
    # a running writer has no mark: its crash must not look like a clean close
    again = open_trail()
    assert not (home / CLOSED_FILE).exists()
    again.record("order.accepted", {"i": 7}).wait(timeout=10)
    again.close()
    mark = read_closed_mark(home, [verifier(home)])
    assert mark is not None and mark.size == 8


def test_closed_mark_parsing_is_strict() -> None:
    signer = Signer.generate("example.com/log")
    mark = ClosedMark("example.com/log", 5, b"\x01" * 32)
    text = sign_closed_mark(mark, signer)
    assert open_closed_mark(text, [signer.verifier()]) == mark
    other = Signer.generate("example.com/log")
    with pytest.raises(NoteError):
        open_closed_mark(text, [other.verifier()])
    with pytest.raises(CheckpointError, match="origin"):
        open_closed_mark(text, [signer.verifier()], origin="example.com/other")
    from tradetrail.core.checkpoint import Checkpoint, sign_checkpoint

    cp_text = sign_checkpoint(Checkpoint("example.com/log", 5, b"\x01" * 32), signer)
    with pytest.raises(CheckpointError, match="line 1"):
        open_closed_mark(cp_text, [signer.verifier()])  # a checkpoint is not a close mark
    assert records_after_close(mark, 5) is None
    assert "seq 5..6" in (records_after_close(mark, 7) or "")
    assert "removed" in (records_after_close(mark, 4) or "")


# ------------------------------------------------------------- forged after a clean close


@pytest.mark.parametrize("count", [1, 12])
def test_records_appended_after_a_clean_close_are_refused_and_not_signed(
    open_trail: Callable[..., Any], home: Path, count: int
) -> None:
    make_trail(open_trail)
    before = signed_state(home)
    numbers = forged_after(home, count=count)
    with pytest.raises(TrailCorruptError) as caught:
        open_trail()
    message = str(caught.value)
    assert f"journal/{DAY}:{numbers[0]} (seq 20" in message
    assert "after the trail was closed" in message
    if count > 10:
        assert f"and {count - 10} more" in message
    assert signed_state(home) == before  # nothing signed
    assert (home / CLOSED_FILE).exists()  # the mark stays: the next open refuses again
    assert len(journal_lines(home)) == 20 + count  # nothing appended, nothing removed
    with pytest.raises(TrailCorruptError):
        open_trail()


def test_a_tail_that_verify_flags_is_not_signed_after_a_clean_close(
    open_trail: Callable[..., Any], home: Path, clock: SimClock
) -> None:
    make_trail(open_trail)
    before = signed_state(home)
    forged_after(home, lambda r: r.update(ts="2024-03-01T11:00:00.000000Z"))  # ts goes back
    with pytest.raises(TrailCorruptError, match=f"{DAY}:21"):
        open_trail()
    assert signed_state(home) == before


def test_records_removed_after_a_clean_close_are_refused(
    open_trail: Callable[..., Any], home: Path
) -> None:
    make_trail(open_trail)
    (home / "checkpoints" / "20").unlink()  # a forger hiding the cut from the checkpoints
    shutil.copy(home / "checkpoints" / "0", home / "checkpoint")
    path = home / "journal" / DAY
    path.chmod(0o644)
    path.write_bytes(b"".join(line + b"\n" for _, line in journal_lines(home)[:15]))
    with pytest.raises(TrailCorruptError, match=r"closed cleanly at size 20 .* holds 15"):
        open_trail()


# ------------------------------------------------------------ the tail after a "crash"


def _chain_break(record: dict[str, Any]) -> None:
    record["prev"] = "ab" * 32


TAIL_DEFECTS: dict[str, tuple[Callable[[dict[str, Any]], None], Any, str]] = {
    "ts goes back": (
        lambda r: r.update(ts="2024-03-01T11:00:00.000000Z"),
        encode_record,
        "goes back before",
    ),
    "chain broken": (_chain_break, encode_record, "prev does not chain"),
    "not canonical": (lambda r: None, lambda r: json.dumps(r).encode(), "not in canonical form"),
    "seq skips": (lambda r: r.update(seq=r["seq"] + 1), encode_record, "where 20 was expected"),
    "day of another file": (
        lambda r: r.update(ts="2024-03-02T00:00:01.000000Z"),
        encode_record,
        "day 2024-03-02 in the file",
    ),
}


@pytest.mark.parametrize("defect", sorted(TAIL_DEFECTS))
def test_a_crash_tail_that_no_writer_could_leave_is_refused(
    open_trail: Callable[..., Any], home: Path, clock: SimClock, defect: str
) -> None:
    """The forger deletes `closed` so the added record looks like a crash leftover: it still
    has to be exactly what the writer would have written."""
    make_trail(open_trail)
    (home / CLOSED_FILE).unlink()
    before = signed_state(home)
    mutate, encode, expected = TAIL_DEFECTS[defect]
    (number,) = forged_after(home, mutate, encode)
    clock.advance(60)
    with pytest.raises(TrailCorruptError) as caught:
        open_trail()
    message = str(caught.value)
    assert f"journal/{DAY}:{number}" in message
    assert expected in message
    assert signed_state(home) == before


def test_a_crash_tail_reaching_into_a_sealed_day_is_refused(
    open_trail: Callable[..., Any], home: Path, clock: SimClock
) -> None:
    """Deleting every checkpoint but checkpoints/0 would turn the whole journal into a 'crash
    tail'; a writer signs each day when it seals it, so an honest tail never spans days."""
    make_trail(open_trail)
    clock.set("2024-03-02T09:00:00")
    make_trail(open_trail, 5)
    for cp in (home / "checkpoints").iterdir():
        if cp.name != "0":
            cp.unlink()
    shutil.copy(home / "checkpoints" / "0", home / "checkpoint")
    (home / CLOSED_FILE).unlink()
    with pytest.raises(TrailCorruptError, match=f"journal/{DAY}:1 \\(seq 0\\) and what follows"):
        open_trail()
    assert sorted(p.name for p in (home / "checkpoints").iterdir()) == ["0"]


def test_a_consistent_tail_without_a_mark_is_signed_as_a_crash_tail(
    open_trail: Callable[..., Any], home: Path, clock: SimClock, verify_ok: Any
) -> None:
    """The limit, stated in the README: an unsigned tail that is perfectly consistent cannot be
    told from a crash leftover; only a checkpoint kept elsewhere protects it."""
    make_trail(open_trail)
    (home / CLOSED_FILE).unlink()
    forged_after(home, count=3)
    trail = open_trail()
    assert trail.size == 23
    trail.close()
    check_chain(home)
    verify_ok(home)


def test_a_mark_that_does_not_verify_is_set_aside(
    open_trail: Callable[..., Any], home: Path
) -> None:
    make_trail(open_trail)
    other = Signer.generate("x.example/log")
    forged = sign_closed_mark(ClosedMark("x.example/log", 20, b"\x00" * 32), other)
    (home / CLOSED_FILE).write_text(forged)
    trail = open_trail()
    assert trail.size == 20
    trail.close()
    kept = list((home / "quarantine").glob("closed.*.invalid"))
    assert len(kept) == 1 and kept[0].read_text() == forged


# ------------------------------------------------------------------ deleted checkpoints


@pytest.mark.parametrize("which", ["all", "checkpoints/0"])
def test_a_trail_without_checkpoint_0_is_refused(
    open_trail: Callable[..., Any], home: Path, which: str
) -> None:
    make_trail(open_trail)
    if which == "all":
        shutil.rmtree(home / "checkpoints")
        (home / "checkpoint").unlink()
        (home / CLOSED_FILE).unlink()
    else:
        (home / "checkpoints" / "0").unlink()
    with pytest.raises(TrailCorruptError, match="checkpoints/0 is missing") as caught:
        open_trail()
    assert "restore" in str(caught.value) and "backup" in str(caught.value)
    if which == "all":
        assert list((home / "checkpoints").iterdir()) == []
        assert not (home / "checkpoint").exists()


def test_the_newest_numbered_checkpoint_stands_in_for_a_missing_latest(
    open_trail: Callable[..., Any], home: Path
) -> None:
    """A crash between writing checkpoints/<n> and `checkpoint` leaves the older one there."""
    make_trail(open_trail)
    shutil.copy(home / "checkpoints" / "0", home / "checkpoint")
    (home / CLOSED_FILE).unlink()
    forged_after(home, lambda r: r.update(ts="2024-03-01T11:00:00.000000Z"))
    with pytest.raises(TrailCorruptError, match="size 20"):
        open_trail()


def test_a_rotation_keeps_the_clean_close_mark_valid(
    open_trail: Callable[..., Any], home: Path
) -> None:
    """The mark is signed by the key in force at close: after a rotation, the new key signs it,
    so a forged append after the close is still refused outright."""
    make_trail(open_trail)
    trail = open_trail()
    new = Signer.generate(trail.origin)
    trail.rotate_key(new)
    trail.record("order.filled", {"qty": "1"}, order_id="O-after").wait(timeout=10)
    trail.close()
    mark = read_closed_mark(home, [new.verifier()], origin=trail.origin)
    assert mark is not None and mark.size == trail.size
    before = signed_state(home)
    lines = forged_after(home)
    with pytest.raises(TrailCorruptError, match=rf"{DAY}:{lines[0]}"):
        open_trail()
    assert signed_state(home) == before


def test_verify_names_a_forged_append_after_a_clean_close(
    open_trail: Callable[..., Any], home: Path
) -> None:
    """Before any writer opens the trail again, verify already says it: the clean-close mark
    is signed, so records beyond it are a fault at their file:line, not an unsigned tail."""
    from tradetrail.verify.trail import verify_trail

    make_trail(open_trail)
    assert verify_trail(home).ok
    lines = forged_after(home, count=2)
    report = verify_trail(home)
    assert not report.ok
    cause = report.faults[0]
    assert (cause.file, cause.line, cause.seq) == (f"journal/{DAY}", lines[0], 20)
    assert "follow the clean close at size 20" in cause.message
    assert not any("prove nothing" in w for w in report.warnings)


def test_a_crash_tail_ahead_of_a_clock_set_back_is_signed_with_a_warning(
    open_trail: Callable[..., Any], home: Path, clock: SimClock, caplog: pytest.LogCaptureFixture
) -> None:
    """After a crash the clock may come back behind (an NTP step, a bad RTC): an honest tail
    then lies "in the future". The writer stamps max(clock, last ts), so signing it cannot make
    time go back; refusing would leave an operator no way forward but deleting records."""
    make_trail(open_trail)
    (home / CLOSED_FILE).unlink()
    forged_after(home, lambda r: r.update(ts="2024-03-01T23:00:00.000000Z"))
    with caplog.at_level("WARNING", logger="tradetrail"):
        trail = open_trail()
    assert trail.size == 21
    assert any("more than an hour after this writer's clock" in r.message for r in caplog.records)
    trail.close()
