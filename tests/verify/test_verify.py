"""The tamper matrix: trails written by the real writer over several simulated UTC days, then
altered on disk the way an attacker (or a broken disk) would; `verify_trail` and
`tradetrail verify` must report each alteration with its file, line and/or seq.

The template trail: 3 UTC days (2026-01-01..03) of 100 records each, one simulated second
apart, signed checkpoints every 40 records plus at each day seal and at close, so the stored
checkpoint sizes are 0, 40, 80, 100, 140, 180, 200, 240, 280, 300. Record `seq` lives in
`journal/audit-2026010{seq // 100 + 1}.jsonl` at line `seq % 100 + 1`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

import tradetrail
from tradetrail.cli import main
from tradetrail.core.canonical import encode_record, is_canonical
from tradetrail.core.checkpoint import Checkpoint, sign_checkpoint
from tradetrail.core.merkle import Frontier
from tradetrail.core.note import Signer, Verifier
from tradetrail.core.tiles import TILE_HEIGHT, TILE_WIDTH, TileBuilder, parse_tile_path, tile_path
from tradetrail.store.journal import journal_files
from tradetrail.store.keys import read_vkey
from tradetrail.testing import SimClock
from tradetrail.verify.trail import VerifyReport, verify_trail

ORIGIN = "trail.example.com/tamper-desk"
SECOND = 1_000_000_000
DAY = 86_400 * SECOND
T0 = 1_767_225_600 * SECOND + 9 * 3600 * SECOND  # 2026-01-01T09:00:00Z
DAYS = 3
PER_DAY = 100
SIZE = DAYS * PER_DAY
CHECKPOINT_SIZES = [0, 40, 80, 100, 140, 180, 200, 240, 280, 300]
ZERO = "0" * 64


def build_trail(home: Path, *, days: int = DAYS, per_day: int = PER_DAY, every: int = 40) -> None:
    clock = SimClock(T0)
    trail = tradetrail.open(
        home,
        clock=clock,
        origin=ORIGIN,
        checkpoint_every=every,
        checkpoint_interval=1e6,
        durability="write",
        min_free_bytes=0,
    )
    try:
        for d in range(days):
            clock.set(T0 + d * DAY)
            for i in range(per_day):
                clock.advance(1)
                trail.record(
                    "order.accepted",
                    {"qty": f"{i}.5", "px": "101.25", "day": d},
                    order_id=f"O-{d}-{i}",
                    symbol="BTC-USD",
                ).wait(timeout=10)
    finally:
        trail.close()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("template") / "trail"
    build_trail(home)
    return home


@pytest.fixture
def home(template: Path, tmp_path: Path) -> Path:
    """A private copy of the template trail (modes preserved: sealed days stay 0444)."""
    dest = tmp_path / "trail"
    shutil.copytree(template, dest)
    return dest


# ------------------------------------------------------------------------------- helpers


def day_name(d: int) -> str:
    return f"journal/audit-2026010{d + 1}.jsonl"


def where(seq: int) -> tuple[str, int]:
    """(file, 1-based line) of record `seq` in the untouched template."""
    return day_name(seq // PER_DAY), seq % PER_DAY + 1


def leaf(line: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + line).digest()


def canonical(rec: dict[str, Any]) -> bytes:
    return orjson.dumps(rec, option=orjson.OPT_SORT_KEYS)


def edit_file(path: Path, fn: Callable[[list[bytes]], list[bytes]]) -> None:
    """Rewrite a journal file's lines, chmod-ing a sealed (0444) file and restoring its mode."""
    mode = path.stat().st_mode & 0o777
    path.chmod(0o644)
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    new = fn(lines[:-1])
    path.write_bytes(b"".join(line + b"\n" for line in new))
    path.chmod(mode)


def edit_record(home: Path, seq: int, fn: Callable[[dict[str, Any]], None]) -> None:
    """Edit one record, keeping the line canonical so only the intended defect shows."""
    file, line = where(seq)

    def change(lines: list[bytes]) -> list[bytes]:
        rec = orjson.loads(lines[line - 1])
        assert rec["seq"] == seq
        fn(rec)
        lines[line - 1] = canonical(rec)
        return lines

    edit_file(home / file, change)


def all_lines(home: Path) -> list[bytes]:
    return [ln for p in journal_files(home) for ln in p.read_bytes().split(b"\n")[:-1]]


def stored_sizes(home: Path) -> list[int]:
    return sorted(int(p.name) for p in (home / "checkpoints").iterdir())


def run(home: Path, **kwargs: Any) -> VerifyReport:
    return verify_trail(home, **kwargs)


def matching(
    report: VerifyReport,
    file: str | None = None,
    line: int | None = None,
    seq: int | None = None,
    words: str = "",
) -> list[Any]:
    return [
        f
        for f in report.all_faults()  # causes and what follows from them
        if (file is None or f.file == file)
        and (line is None or f.line == line)
        and (seq is None or f.seq == seq)
        and words.lower() in f.message.lower()
    ]


def cli_verify(home: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["verify", "--home", str(home), "--json", *args])
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.stdout)


def rechain_from(home: Path, seq: int, mutate: Callable[[dict[str, Any]], None]) -> None:
    """The attacker's rewrite: edit record `seq`, then recompute every later `prev` so the
    hash chain and the seq numbers are perfect again."""
    prev = ZERO
    for path in journal_files(home):
        out = []
        for raw in path.read_bytes().split(b"\n")[:-1]:
            rec = orjson.loads(raw)
            if rec["seq"] == seq:
                mutate(rec)
            if rec["seq"] >= seq:
                rec["prev"] = prev
            line = canonical(rec)
            assert rec["seq"] >= seq or line == raw
            prev = leaf(line).hex()
            out.append(line)
        edit_file(path, lambda _lines, out=out: out)


def rebuild_tiles(home: Path, sizes: list[int]) -> dict[int, bytes]:
    """The attacker's tile forgery: recompute every tile from the (rewritten) journal, writing
    partial tiles at each checkpoint size as the writer does; returns the root at each size."""
    shutil.rmtree(home / "tiles")
    frontier, builder = Frontier(), TileBuilder()
    roots = {0: hashlib.sha256(b"").digest()} if 0 in sizes else {}

    def write(level: int, index: int, width: int, data: bytes) -> None:
        path = home / "tiles" / tile_path(level, index, width)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    for line in all_lines(home):
        for level, index, data in builder.add(frontier.append(leaf(line))):
            write(level, index, TILE_WIDTH, data)
        if frontier.size in sizes:
            roots[frontier.size] = frontier.root()
            for level, index, width, data in builder.partial_tiles():
                write(level, index, width, data)
    return roots


def flip_byte(path: Path, offset: int) -> None:
    mode = path.stat().st_mode & 0o777
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
    path.chmod(mode)


def tile_files(home: Path) -> list[str]:
    root = home / "tiles"
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "tmp" not in p.name
    )


# ------------------------------------------------------------------------------- clean trail


def test_template_layout(template: Path) -> None:
    assert stored_sizes(template) == CHECKPOINT_SIZES
    files = journal_files(template)
    assert [f"journal/{p.name}" for p in files] == [day_name(d) for d in range(DAYS)]
    # finished days are sealed read-only, the current day is not
    assert [p.stat().st_mode & 0o777 for p in files] == [0o444, 0o444, 0o644]
    for seq in (0, 99, 100, 150, 299):
        file, line = where(seq)
        raw = (template / file).read_bytes().split(b"\n")[line - 1]
        rec = orjson.loads(raw)
        assert rec["seq"] == seq
        assert rec["ts"].startswith(f"2026-01-0{seq // PER_DAY + 1}T09:")
    assert "tile/0/000" in tile_files(template)


def test_clean_trail_verifies(home: Path) -> None:
    report = run(home)
    assert report.ok, report.faults
    assert report.faults == [] and report.fault_count == 0
    assert report.size == SIZE
    assert report.files == DAYS
    assert report.checkpoints_checked == len(CHECKPOINT_SIZES) + 1  # + the latest `checkpoint`
    assert report.tiles_checked >= 1
    assert report.warnings == []
    assert report.latest_checkpoint is not None
    assert report.latest_checkpoint["size"] == SIZE
    assert report.latest_checkpoint["origin"] == ORIGIN
    code, out = cli_verify(home)
    assert code == 0
    assert out["ok"] is True and out["faults"] == [] and out["size"] == SIZE


def test_clean_trail_verifies_with_explicit_key_and_external_checkpoint(
    home: Path, tmp_path: Path
) -> None:
    auditor = tmp_path / "auditor"
    auditor.mkdir()
    shutil.copy(home / "checkpoints" / "140", auditor / "cp-140")
    shutil.copy(home / "trail.vkey", auditor / "trail.vkey")
    vkey = read_vkey(auditor / "trail.vkey")
    report = run(home, checkpoints=[auditor / "cp-140"], vkeys=[vkey])
    assert report.ok, report.faults
    assert report.external_checkpoints_checked == 1
    code, out = cli_verify(
        home, "--checkpoint", str(auditor / "cp-140"), "--vkey", str(auditor / "trail.vkey")
    )
    assert code == 0 and out["ok"] is True


# ------------------------------------------------------------------------------- the matrix


@dataclass
class Expect:
    """A fault that must be reported: file, line, seq (None: not checked) and message words."""

    file: str | None
    line: int | None
    seq: int | None
    words: str


def t_flip_byte_in_data(home: Path) -> list[Expect]:
    file, line = where(150)
    path = home / file
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    offset = sum(len(ln) + 1 for ln in lines[: line - 1])
    target = lines[line - 1].index(b'"qty":"50.5"') + len(b'"qty":"')
    flip_byte(path, offset + target)  # "50.5" -> "40.5": still valid, canonical JSON
    assert b'"qty":"40.5"' in path.read_bytes().split(b"\n")[line - 1]
    # the edited record's hash no longer matches its tile entry nor the next record's prev
    # (which both still hold the original): the record itself is named; the Merkle root no
    # longer matches the checkpoints signed after it
    return [
        Expect(file, line, 150, "its leaf hash differs from the one committed in tiles/tile/0/000"),
        Expect(file, line + 1, 151, "prev does not match"),
        Expect("checkpoints/180", None, None, "differs from this signed checkpoint"),
        Expect("checkpoint", None, None, "differs from this signed checkpoint"),
    ]


def t_deleted_line(home: Path) -> list[Expect]:
    file, line = where(150)
    edit_file(home / file, lambda ls: ls[: line - 1] + ls[line:])
    return [
        Expect(file, line, 151, "seq 151 where 150 was expected"),
        Expect(file, line, 151, "prev"),
        Expect("checkpoints/180", None, None, "differs from this signed checkpoint"),
        Expect("checkpoint", None, None, "journal holds only 299"),
    ]


def t_inserted_line(home: Path) -> list[Expect]:
    file, line = where(150)
    _, src = where(120)
    edit_file(home / file, lambda ls: [*ls[: line - 1], ls[src - 1], *ls[line - 1 :]])
    return [
        Expect(file, line, 120, "seq 120 where 150 was expected"),
        Expect(file, line, 120, "prev"),
    ]


def t_duplicated_line(home: Path) -> list[Expect]:
    file, line = where(150)
    edit_file(home / file, lambda ls: [*ls[:line], ls[line - 1], *ls[line:]])
    return [
        Expect(file, line + 1, 150, "seq 150 where 151 was expected"),
        Expect(file, line + 1, 150, "prev"),
    ]


def t_swapped_lines(home: Path) -> list[Expect]:
    file, line = where(150)

    def swap(ls: list[bytes]) -> list[bytes]:
        ls[line - 1], ls[line] = ls[line], ls[line - 1]
        return ls

    edit_file(home / file, swap)
    return [
        Expect(file, line, 151, "seq 151 where 150 was expected"),
        Expect(file, line + 1, 150, "where 152 was expected"),
    ]


def t_edited_seq(home: Path) -> list[Expect]:
    edit_record(home, 150, lambda r: r.update(seq=1500))
    file, line = where(150)
    return [Expect(file, line, 1500, "seq 1500 where 150 was expected")]


def t_edited_prev(home: Path) -> list[Expect]:
    other = hashlib.sha256(b"forged").hexdigest()
    edit_record(home, 150, lambda r: r.update(prev=other))
    file, line = where(150)
    return [
        Expect(file, line, 150, "prev does not match"),
        Expect(file, line + 1, 151, "prev does not match"),
    ]


def t_removed_prev(home: Path) -> list[Expect]:
    edit_record(home, 150, lambda r: r.pop("prev"))
    file, line = where(150)
    return [Expect(file, line, 150, "prev missing")]


def t_edited_ts_forward(home: Path) -> list[Expect]:
    # same day, later than the records after it: the next record then goes back in time
    edit_record(home, 150, lambda r: r.update(ts="2026-01-02T23:00:00.000000Z"))
    file, line = where(150)
    return [
        Expect(file, line, 150, "the record was altered after it was written"),
        Expect(file, line + 1, 151, "goes back before 2026-01-02T23:00:00.000000Z"),
        Expect(file, line + 1, 151, "prev does not match"),
    ]


def t_edited_ts_back(home: Path) -> list[Expect]:
    edit_record(home, 150, lambda r: r.update(ts="2026-01-02T00:00:01.000000Z"))
    file, line = where(150)
    return [Expect(file, line, 150, "ts 2026-01-02T00:00:01.000000Z goes back")]


def t_ts_not_rfc3339(home: Path) -> list[Expect]:
    edit_record(home, 150, lambda r: r.update(ts="2026-01-02T09:02:31+00:00"))
    file, line = where(150)
    return [Expect(file, line, 150, "not RFC 3339 UTC")]


def t_moved_to_other_day(home: Path) -> list[Expect]:
    # the last record of day 1 moved to the top of day 2's file: the seq order, the chain and
    # the Merkle tree are all unchanged, only the day-file rule catches it
    src, dst = home / day_name(0), home / day_name(1)
    moved = src.read_bytes().split(b"\n")[-2]
    assert orjson.loads(moved)["seq"] == 99
    edit_file(src, lambda ls: ls[:-1])
    edit_file(dst, lambda ls: [moved, *ls])
    return [Expect(day_name(1), 1, 99, "record of day 2026-01-01 in the file of day 20260102")]


def t_non_canonical(home: Path) -> list[Expect]:
    file, line = where(10)

    def respace(ls: list[bytes]) -> list[bytes]:
        ls[line - 1] = json.dumps(json.loads(ls[line - 1])).encode()  # ", " and ": "
        assert b": " in ls[line - 1]
        return ls

    edit_file(home / file, respace)
    return [
        Expect(file, line, 10, "not canonical"),
        Expect(file, line + 1, 11, "prev does not match"),
    ]


def t_unsorted_keys(home: Path) -> list[Expect]:
    file, line = where(10)

    def reorder(ls: list[bytes]) -> list[bytes]:
        rec = json.loads(ls[line - 1])
        ls[line - 1] = json.dumps(dict(reversed(rec.items())), separators=(",", ":")).encode()
        return ls

    edit_file(home / file, reorder)
    return [Expect(file, line, 10, "not canonical")]


def t_garbage_line(home: Path) -> list[Expect]:
    file, line = where(150)

    def garble(ls: list[bytes]) -> list[bytes]:
        ls[line - 1] = ls[line - 1][:40]
        return ls

    edit_file(home / file, garble)
    return [
        Expect(file, line, 150, "not valid JSON"),
        Expect(file, line + 1, 151, "prev does not match"),
    ]


def t_deleted_day_file(home: Path) -> list[Expect]:
    path = home / day_name(1)
    path.unlink()
    return [
        Expect(day_name(2), 1, 200, "seq 200 where 100 was expected"),
        Expect("checkpoints/140", None, None, "differs from this signed checkpoint"),
        Expect("checkpoints/300", None, None, "journal holds only 200"),
    ]


MATRIX = {
    name[2:]: fn for name, fn in sorted(globals().items()) if name.startswith("t_") and callable(fn)
}


@pytest.mark.parametrize("case", sorted(MATRIX))
def test_tamper_matrix(home: Path, case: str) -> None:
    expected = MATRIX[case](home)
    report = run(home)
    assert not report.ok
    assert report.fault_count == len(report.faults) >= 1
    assert report.summary.startswith(f"{report.fault_count} FAULT(S)")
    for e in expected:
        assert matching(report, e.file, e.line, e.seq, e.words), (
            f"{case}: no fault {e} among:\n" + "\n".join(map(str, report.faults))
        )
    # the first fault reported in the journal is at the tampered place (faults come in
    # journal order), not somewhere earlier
    journal = [f for f in report.all_faults() if (f.file or "").startswith("journal/")]
    if expected[0].file and expected[0].file.startswith("journal/"):
        assert (journal[0].file, journal[0].line) == (expected[0].file, expected[0].line)
    code, out = cli_verify(home)
    assert code == 1
    assert out["ok"] is False
    assert out["fault_count"] == report.fault_count
    flat = [g for f in out["faults"] for g in [f, *f["consequences"]]]
    for e in expected:
        assert any(
            (e.file is None or g["file"] == e.file)
            and (e.line is None or g["line"] == e.line)
            and (e.seq is None or g["seq"] == e.seq)
            and e.words.lower() in g["message"].lower()
            for g in flat
        ), e


def test_moved_record_is_the_only_fault(home: Path) -> None:
    t_moved_to_other_day(home)
    report = run(home)
    assert [(f.file, f.line, f.seq) for f in report.faults] == [(day_name(1), 1, 99)]


def test_duplicated_line_faults_only_on_the_duplicate(home: Path) -> None:
    t_duplicated_line(home)
    report = run(home)
    journal = [f for f in report.faults if f.file and f.file.startswith("journal/")]
    assert journal and {(f.file, f.line) for f in journal} == {(day_name(1), 52)}


def test_text_output_names_the_location(home: Path) -> None:
    t_deleted_line(home)
    result = CliRunner().invoke(main, ["verify", "--home", str(home)])
    assert result.exit_code == 1
    assert f"FAULT {day_name(1)}:51 (seq 151)" in result.stdout
    assert "FAULT(S)" in result.stdout


# ------------------------------------------------------------------------------- rewritten history


def test_rewritten_history_is_caught_by_the_signed_checkpoints(home: Path) -> None:
    rechain_from(home, 150, lambda r: r["data"].update(qty="5000.5"))
    rebuild_tiles(home, stored_sizes(home))
    report = run(home)
    assert not report.ok
    # the journal itself is flawless now: every fault is a checkpoint signed after seq 150
    assert all(not (f.file or "").startswith(("journal/", "tiles/")) for f in report.all_faults())
    faulted = {f.file for f in report.all_faults()}
    later = {f"checkpoints/{n}" for n in CHECKPOINT_SIZES if n > 150} | {"checkpoint"}
    assert faulted == later
    for f in report.all_faults():
        assert "differs from this signed checkpoint" in f.message
        assert "rewritten" in f.message
    # one cause: the first checkpoint that no longer matches, which brackets the altered
    # record between the last checkpoint that still does (140) and itself (180)
    [cause] = report.faults
    assert cause.file == "checkpoints/180" and cause.seq == 140
    assert "between seq 140 and 179" in cause.message
    assert cause.consequence_count == len(later) - 1
    code, out = cli_verify(home)
    assert code == 1 and out["fault_count"] == 1
    assert {g["file"] for f in out["faults"] for g in [f, *f["consequences"]]} == later


def test_rewritten_history_against_an_external_checkpoint(home: Path, tmp_path: Path) -> None:
    external = tmp_path / "auditor-checkpoint"
    shutil.copy(home / "checkpoint", external)
    rechain_from(home, 150, lambda r: r["data"].update(qty="5000.5"))
    rebuild_tiles(home, stored_sizes(home))
    # the attacker also throws away every stored checkpoint (and the signed clean-close mark);
    # only the auditor's copy is left
    shutil.rmtree(home / "checkpoints")
    (home / "checkpoint").unlink()
    (home / "closed").unlink()
    # records without any checkpoint: a genuine trail always has checkpoints/0
    alone = run(home)
    assert not alone.ok
    assert matching(alone, "checkpoints/0", None, None, "no signed checkpoint at all")
    report = run(home, checkpoints=[external])
    assert not report.ok
    assert matching(report, str(external), None, None, "differs from this signed checkpoint")
    code, out = cli_verify(home, "--checkpoint", str(external))
    assert code == 1 and any(f["file"] == str(external) for f in out["faults"])


# ------------------------------------------------------------------------------- truncation


def truncate_to(home: Path, keep: int) -> None:
    """Cut records from the end and remove every trace of them: later checkpoints (the latest
    becomes the newest one left, nothing re-signed) and tiles that cover them."""
    path = journal_files(home)[-1]
    first = orjson.loads(path.read_bytes().split(b"\n")[0])["seq"]
    assert first <= keep
    edit_file(path, lambda ls: ls[: keep - first])
    for cp in (home / "checkpoints").iterdir():
        if int(cp.name) > keep:
            cp.unlink()
    shutil.copy(home / "checkpoints" / str(max(stored_sizes(home))), home / "checkpoint")
    (home / "closed").unlink(missing_ok=True)  # the signed clean-close mark names the size too
    for rel in tile_files(home):
        level, index, width = parse_tile_path(rel)
        if (index * TILE_WIDTH + width) << (TILE_HEIGHT * level) > keep:
            (home / "tiles" / rel).unlink()


@pytest.mark.parametrize("keep", [SIZE - 7, 250])
def test_truncated_tail_held_against_an_external_checkpoint(
    home: Path, tmp_path: Path, keep: int
) -> None:
    external = tmp_path / "checkpoint-from-auditor"
    shutil.copy(home / "checkpoint", external)
    truncate_to(home, keep)
    # the cut is invisible to the trail alone: a hash chain cannot show a missing tail
    alone = run(home)
    assert alone.ok, alone.faults
    assert alone.size == keep
    report = run(home, checkpoints=[external])
    assert not report.ok
    assert report.external_checkpoints_checked == 1
    found = matching(report, str(external), None, None, f"covers {SIZE} records")
    assert found and f"holds only {keep}" in found[0].message
    assert "truncation" in found[0].message
    code, out = cli_verify(home, "--checkpoint", str(external))
    assert code == 1 and out["faults"][0]["file"] == str(external)
    assert cli_verify(home)[0] == 0


def test_truncation_is_caught_by_the_clean_close_mark_left_behind(home: Path) -> None:
    """A forger who cleans up checkpoints and tiles but leaves `closed` is caught by it."""
    closed = (home / "closed").read_bytes()
    truncate_to(home, 250)
    (home / "closed").write_bytes(closed)
    report = run(home)
    assert not report.ok
    assert matching(report, "closed", None, None, f"covers {SIZE} records")


def test_truncation_without_cleanup_is_caught_by_stored_checkpoints_and_tiles(
    home: Path,
) -> None:
    path = home / day_name(2)
    edit_file(path, lambda ls: ls[:-7])
    report = run(home)
    assert matching(report, "checkpoints/300", None, None, "journal holds only 293")
    assert matching(report, "checkpoint", None, None, "truncation")
    assert matching(report, "tiles/tile/0/001.p/44", None, None, "describes 300 records")


# ------------------------------------------------------------------------------- checkpoints


def forge_root(path: Path) -> None:
    """Replace the root line of a signed checkpoint, keeping its signature."""
    origin, size, root, *rest = path.read_text().split("\n")
    raw = bytearray(base64.b64decode(root))
    raw[0] ^= 0xFF
    path.write_text("\n".join([origin, size, base64.b64encode(bytes(raw)).decode(), *rest]))


@pytest.mark.parametrize("name", ["checkpoints/140", "checkpoint"])
def test_forged_checkpoint_root(home: Path, name: str) -> None:
    forge_root(home / name)
    report = run(home)
    found = matching(report, name, None, None, "does not verify")
    assert found, report.faults
    code, out = cli_verify(home)
    assert code == 1 and any(f["file"] == name for f in out["faults"])


def test_forged_checkpoint_size(home: Path) -> None:
    path = home / "checkpoints" / "140"
    text = path.read_text().replace("\n140\n", "\n141\n", 1)
    path.write_text(text)
    assert matching(run(home), "checkpoints/140", None, None, "does not verify")


def test_checkpoint_file_renamed(home: Path) -> None:
    (home / "checkpoints" / "140").rename(home / "checkpoints" / "150")
    assert matching(run(home), "checkpoints/150", None, None, "does not match its size 140")


def test_external_checkpoint_signed_by_a_stranger(home: Path, tmp_path: Path) -> None:
    stranger = Signer.generate(ORIGIN)
    external = tmp_path / "cp"
    external.write_text(
        sign_checkpoint(Checkpoint(ORIGIN, 100, hashlib.sha256(b"x").digest()), stranger)
    )
    report = run(home, checkpoints=[external])
    assert matching(report, str(external), None, None, "external checkpoint does not verify")


def rekey(home: Path) -> Signer:
    """The full attack: rewrite history, re-chain, rebuild the tiles, make a new key, re-sign
    every checkpoint with it and replace trail.vkey (and signing.key)."""
    rechain_from(home, 150, lambda r: r["data"].update(qty="5000.5"))
    sizes = stored_sizes(home)
    roots = rebuild_tiles(home, sizes)
    attacker = Signer.generate(ORIGIN)
    for size in sizes:
        text = sign_checkpoint(Checkpoint(ORIGIN, size, roots[size]), attacker)
        (home / "checkpoints" / str(size)).write_text(text)
    shutil.copy(home / "checkpoints" / str(max(sizes)), home / "checkpoint")
    (home / "trail.vkey").write_text(attacker.verifier().vkey() + "\n")
    (home / "signing.key").unlink()
    (home / "signing.key").write_text(attacker.skey() + "\n")
    return attacker


def test_rekeyed_trail_passes_its_own_key_but_not_the_original(home: Path, tmp_path: Path) -> None:
    original = tmp_path / "original.vkey"
    shutil.copy(home / "trail.vkey", original)
    rekey(home)
    (home / "closed").unlink(missing_ok=True)  # signed by the original key: the forger drops it
    mine = run(home)
    assert mine.ok, mine.faults  # a perfect forgery as far as the trail itself can tell
    report = run(home, vkeys=[read_vkey(original)])
    assert not report.ok
    faulted = {f.file for f in report.faults}
    assert faulted == {f"checkpoints/{n}" for n in CHECKPOINT_SIZES} | {"checkpoint"}
    assert all("does not verify" in f.message for f in report.faults)
    assert cli_verify(home)[0] == 0
    code, out = cli_verify(home, "--vkey", str(original))
    assert code == 1 and len(out["faults"]) == len(CHECKPOINT_SIZES) + 1
    code, _ = cli_verify(home, "--vkey", original.read_text().strip())
    assert code == 1


def test_rekeyed_trail_fails_against_an_external_checkpoint(home: Path, tmp_path: Path) -> None:
    external = tmp_path / "auditor-cp"
    shutil.copy(home / "checkpoints" / "180", external)
    rekey(home)
    report = run(home, checkpoints=[external])
    assert matching(report, str(external), None, None, "does not verify")


def test_trail_vkey_replaced_alone(home: Path, tmp_path: Path) -> None:
    original = read_vkey(home / "trail.vkey")
    other = Signer.generate(ORIGIN)
    (home / "trail.vkey").write_text(other.verifier().vkey() + "\n")
    report = run(home)
    assert len(report.faults) == len(CHECKPOINT_SIZES) + 1
    assert run(home, vkeys=[original]).ok


# ------------------------------------------------------------------------------- tiles


@pytest.mark.parametrize(
    "rel",
    [
        "tile/0/000",  # a full tile
        "tile/0/001.p/44",  # the partial tile of the latest checkpoint (300)
        "tile/0/000.p/140",  # the partial tile of an older checkpoint
        "tile/1/000.p/1",  # a level-1 partial tile (the root of the first 256 leaves)
    ],
)
def test_altered_tile(home: Path, rel: str) -> None:
    path = home / "tiles" / rel
    assert path.exists(), tile_files(home)
    flip_byte(path, 7)
    report = run(home)
    assert [f.file for f in report.faults] == [f"tiles/{rel}"], report.faults
    assert "differs from the hashes recomputed" in report.faults[0].message
    code, out = cli_verify(home)
    assert code == 1 and out["faults"][0]["file"] == f"tiles/{rel}"


def test_short_tile(home: Path) -> None:
    path = home / "tiles" / "tile" / "0" / "000"
    path.write_bytes(path.read_bytes()[:-32])
    assert [f.file for f in run(home).faults] == ["tiles/tile/0/000"]


def test_deleted_full_tile(home: Path) -> None:
    (home / "tiles" / "tile" / "0" / "000").unlink()
    report = run(home)
    assert matching(report, "tiles/tile/0/000", None, None, "tile missing")
    assert cli_verify(home)[0] == 1


def test_tile_beyond_the_journal(home: Path) -> None:
    extra = home / "tiles" / "tile" / "0" / "001.p" / "200"
    extra.write_bytes(b"\x00" * 32 * 200)
    report = run(home)
    assert matching(report, "tiles/tile/0/001.p/200", None, None, "describes 456 records")


def test_deleted_partial_tile_of_latest_checkpoint(home: Path) -> None:
    (home / "tiles" / "tile" / "0" / "001.p" / "44").unlink()
    report = run(home)
    assert matching(report, "tiles/tile/0/001.p/44", None, None, "missing")


# ------------------------------------------------------------------------------- many faults


def test_every_fault_is_reported_not_only_the_first(home: Path) -> None:
    t_edited_seq(home)  # day 2, line 51
    edit_record(home, 30, lambda r: r.update(type="Order.Accepted"))  # day 1
    edit_file(home / day_name(2), lambda ls: ls[:9] + ls[10:])  # day 3, seq 209 gone
    report = run(home)
    assert matching(report, day_name(0), 31, 30, "dotted event type")
    assert matching(report, day_name(1), 51, 1500, "seq 1500")
    assert matching(report, day_name(2), 10, 210, "seq 210 where 209 was expected")
    assert report.fault_count == len(report.faults) >= 3


def test_max_faults_limits_the_list_but_counts_every_fault(home: Path) -> None:
    def bad_ts(lines: list[bytes]) -> list[bytes]:
        out = []
        for raw in lines:
            rec = orjson.loads(raw)
            rec["ts"] = rec["ts"].replace("Z", "+00:00")
            out.append(canonical(rec))
        return out

    edit_file(home / day_name(1), bad_ts)  # 100 bad ts (the broken chains follow from them)
    full = run(home, max_faults=1000)
    assert full.fault_count == len(full.faults) == 100
    limited = run(home, max_faults=5)
    assert len(limited.faults) == 5
    assert limited.fault_count == full.fault_count
    assert limited.faults == full.faults[:5]
    assert not limited.ok
    code, out = cli_verify(home, "--max-faults", "3")
    assert code == 1 and len(out["faults"]) == 3 and out["fault_count"] == full.fault_count
    text = CliRunner().invoke(main, ["verify", "--home", str(home), "--max-faults", "3"])
    assert f"... and {full.fault_count - 3} more fault(s)" in text.stdout


# ------------------------------------------------------------------------------- usage errors


def test_verify_usage_errors(home: Path, tmp_path: Path) -> None:
    with pytest.raises(tradetrail.ConfigError, match="not a trail"):
        verify_trail(tmp_path / "nowhere")
    (home / "trail.vkey").unlink()
    with pytest.raises(tradetrail.ConfigError, match="no verifier key"):
        verify_trail(home)
    with pytest.raises(tradetrail.ConfigError, match="cannot read checkpoint"):
        verify_trail(
            home,
            checkpoints=[tmp_path / "missing"],
            vkeys=[Verifier.from_vkey(Signer.generate(ORIGIN).verifier().vkey())],
        )


def test_stray_files_in_journal_are_warnings(home: Path) -> None:
    (home / "journal" / "notes.txt").write_text("hello\n")
    report = run(home)
    assert report.ok
    assert any("notes.txt" in w for w in report.warnings)


def test_unsealed_finished_day_is_a_warning(home: Path) -> None:
    (home / day_name(0)).chmod(0o644)
    report = run(home)
    assert report.ok
    assert any(day_name(0) in w and "writable" in w for w in report.warnings)


def test_verify_streams_with_progress(home: Path) -> None:
    seen: list[int] = []
    report = run(home, progress=seen.append)
    total = sum(os.path.getsize(p) for p in journal_files(home))
    assert seen and seen[-1] == total == report.bytes
    assert seen == sorted(seen)


def test_records_after_the_latest_checkpoint_are_pointed_out(home: Path) -> None:
    path = home / day_name(2)
    last = path.read_bytes().split(b"\n")[-2]
    rec = orjson.loads(last)
    rec.update(seq=SIZE, prev=leaf(last).hex(), event_id="01a2080c-bf44-7104-a61b-000000000000")
    with open(path, "ab") as fh:
        fh.write(canonical(rec) + b"\n")
    (home / "closed").unlink()  # a writer that crashes leaves no clean-close mark
    report = run(home)
    assert report.ok and report.size == SIZE + 1  # not a fault: a crash can leave this too
    assert any("300" in w and "checkpoint" in w for w in report.warnings + report.notes)


# ------------------------------------------------------------------------------- RFC 8785


def test_lines_written_before_rfc8785_still_verify(home: Path) -> None:
    """Before tradetrail 0.2 lines were orjson's sorted encoding (1e16 as `1e+16`, keys in code
    point order): a trail holding such lines, chained and signed, still verifies; the same
    record in RFC 8785 form verifies too; spacing changes are still faults."""
    extra = {"px": 1e16, "tiny": 1e-7, "\ufb33": 1, "\U0001f600": 2}
    rechain_from(home, 150, lambda r: r["data"].update(extra))
    sizes = stored_sizes(home)
    roots = rebuild_tiles(home, sizes)
    signer = Signer.generate(ORIGIN)
    for size in sizes:
        text = sign_checkpoint(Checkpoint(ORIGIN, size, roots[size]), signer)
        (home / "checkpoints" / str(size)).write_text(text)
    shutil.copy(home / "checkpoints" / str(max(sizes)), home / "checkpoint")
    (home / "trail.vkey").write_text(signer.verifier().vkey() + "\n")
    file, line = where(150)
    old = (home / file).read_bytes().split(b"\n")[line - 1]
    assert b'"px":1e+16' in old and b'"tiny":1e-7' in old
    assert old.index("\ufb33".encode()) < old.index("\U0001f600".encode())
    report = run(home)
    assert report.ok, report.faults
    jcs_line = encode_record(orjson.loads(old))
    assert jcs_line != old and b'"px":10000000000000000' in jcs_line
    assert jcs_line.index("\U0001f600".encode()) < jcs_line.index("\ufb33".encode())
    assert is_canonical(jcs_line, orjson.loads(old))
    spaced = json.dumps(orjson.loads(old), sort_keys=True).encode()
    assert not is_canonical(spaced, orjson.loads(old))


# ------------------------------------------------------------------------------- issue 12


def test_torn_tail_of_the_newest_day_is_a_crash_warning(home: Path) -> None:
    with open(home / day_name(2), "ab") as fh:
        fh.write(b'{"data":{"qty":"1')
    report = run(home)
    assert report.ok, report.faults
    assert any(f"{day_name(2)}:{PER_DAY + 1}" in w and "quarantine" in w for w in report.warnings)
    assert cli_verify(home)[0] == 0


def test_torn_line_in_a_sealed_day_is_a_fault(home: Path) -> None:
    path = home / day_name(0)
    edit_file(path, lambda ls: ls)
    path.chmod(0o644)
    path.write_bytes(path.read_bytes()[:-1])  # its last line loses its newline
    report = run(home)
    assert matching(report, day_name(0), PER_DAY, None, "torn line")


def test_tiles_of_the_unsigned_tail_missing_are_warnings(home: Path) -> None:
    """What a writer killed before writing its tiles leaves: records beyond the latest
    checkpoint with no tile; a missing tile below a signed size stays a fault."""
    for size in (280, 300):
        (home / "checkpoints" / str(size)).unlink()
    shutil.copy(home / "checkpoints" / "240", home / "checkpoint")
    shutil.rmtree(home / "tiles" / "tile" / "0" / "001.p")  # partial tiles of 280 and 300
    (home / "tiles" / "tile" / "1" / "000.p" / "1").unlink()
    (home / "tiles" / "tile" / "0" / "000").unlink()  # covers records up to 256 > 240
    (home / "closed").unlink()  # a writer that crashes leaves no clean-close mark
    report = run(home)
    assert report.ok, report.faults
    assert any("not written yet" in w and "reopening" in w for w in report.warnings)
    code, out = cli_verify(home)
    assert code == 0 and any("not written yet" in w for w in out["warnings"])
    (home / "tiles" / "tile" / "0" / "000.p" / "240").unlink()  # needed by the latest: a fault
    assert matching(run(home), "tiles/tile/0/000.p/240", None, None, "missing")


@pytest.mark.parametrize("gone", [[0], [100], [140, 180], [100, 140, 180]])
def test_deleted_checkpoints_are_reported(home: Path, gone: list[int]) -> None:
    for size in gone:
        (home / "checkpoints" / str(size)).unlink()
    report = run(home)
    assert not report.ok
    # checkpoints/0, each day seal's and each whose partial tiles the writer left must be there
    for size in gone:
        assert matching(report, f"checkpoints/{size}", None, None, "is missing"), size


def test_latest_checkpoint_without_its_copy_is_a_fault(home: Path) -> None:
    (home / "checkpoints" / "300").unlink()
    assert matching(run(home), "checkpoint", None, None, "has no copy checkpoints/300")


def test_range_limits_what_is_reported(home: Path) -> None:
    edit_record(home, 50, lambda r: r["data"].update(qty="7.5"))  # day 1
    edit_record(home, 250, lambda r: r["data"].update(qty="7.5"))  # day 3
    whole = run(home)
    assert [f.seq for f in whole.faults] == [50, 250]
    later = run(home, start="2026-01-03", end="2026-01-03")
    assert later.range == {
        "from_seq": 200,
        "to_seq": 299,
        "from_ts": "2026-01-03T09:00:01.000000Z",
        "to_ts": "2026-01-03T09:01:40.000000Z",
    }
    assert later.records_checked == 100
    # a fault before the range fails it too: the signed roots over the range depend on it
    assert [f.seq for f in later.faults] == [50, 250]
    early = run(home, start=0, end=99)
    assert [f.seq for f in early.faults] == [50] and early.faults_outside_range == 1
    assert "seq 0..99" in early.summary and "1 fault(s) after the range" in early.summary
    code, out = cli_verify(home, "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-01T09:00:30Z")
    assert out["range"]["from_seq"] == 0 and out["range"]["to_seq"] == 29
    assert code == 0 and out["fault_count"] == 0 and out["faults_outside_range"] == 2
    result = CliRunner().invoke(main, ["verify", "--home", str(home), "--from", "yesterday"])
    assert result.exit_code == 2 and "--from 'yesterday'" in result.output


def test_summary_line_and_grouping_in_text_output(home: Path) -> None:
    t_flip_byte_in_data(home)
    result = CliRunner().invoke(main, ["verify", "--home", str(home)])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"FAULT {day_name(1)}:51 (seq 150): its leaf hash differs")
    assert lines[1].lstrip().startswith("and ") and "depend on it" in lines[1]
    assert sum(line.startswith("FAULT") for line in lines) == 1
    assert lines[-1].startswith("1 FAULT(S): 300 records checked, seq 0..299; 1 fault(s)")
