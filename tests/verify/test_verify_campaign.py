"""The mutation campaign: random single mutations of every class an attacker (or a broken disk)
can make to a trail, seeded and reproducible, each of which `verify` must catch and, for the
record-level classes, locate to the exact record.

One genuine trail (the tamper matrix's template: 3 days of 100 records, checkpoints every 40
records and at each day seal) is written once and copied per mutation. The class "forged
records appended after a clean close" is covered by the writer's tests (the writer refuses to
sign such a tail); it is not in this campaign.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from test_verify import (
    PER_DAY,
    SIZE,
    build_trail,
    canonical,
    day_name,
    edit_file,
    edit_record,
    rebuild_tiles,
    rechain_from,
    stored_sizes,
    tile_files,
    truncate_to,
    where,
)

from tradetrail.core.checkpoint import open_checkpoint, sign_checkpoint
from tradetrail.core.note import Signer
from tradetrail.store.keys import read_vkey
from tradetrail.verify.trail import VerifyReport, verify_trail

SEED = 20261112
PER_CLASS = 20

# A mutation changes the trail and returns what verify must say: the (file, line) of the
# record it must name as a cause (None: any cause), and external checkpoints to pass.
Outcome = tuple[tuple[str, int] | None, list[Path]]
Mutation = Callable[[Path, random.Random, Path], Outcome]


def _lines(home: Path, d: int) -> list[bytes]:
    return (home / day_name(d)).read_bytes().split(b"\n")[:-1]


def m_delete(home: Path, rng: random.Random, _tmp: Path) -> Outcome:
    seq = rng.randrange(1, SIZE - 1)  # deleting the very last record is truncation
    file, line = where(seq)
    edit_file(home / file, lambda ls: ls[: line - 1] + ls[line:])
    # the record now at its place, or the next day's first record if it ended its day
    after = where(seq + 1)
    return ((file, line) if after[0] == file else after), []


def m_duplicate(home: Path, rng: random.Random, _tmp: Path) -> Outcome:
    seq = rng.randrange(SIZE - 1)
    file, line = where(seq)
    edit_file(home / file, lambda ls: [*ls[:line], ls[line - 1], *ls[line:]])
    return (file, line + 1), []


def m_swap(home: Path, rng: random.Random, _tmp: Path) -> Outcome:
    seq = rng.randrange(SIZE)
    while seq % PER_DAY == PER_DAY - 1:
        seq = rng.randrange(SIZE)
    file, line = where(seq)

    def swap(ls: list[bytes]) -> list[bytes]:
        ls[line - 1], ls[line] = ls[line], ls[line - 1]
        return ls

    edit_file(home / file, swap)
    return (file, line), []


def m_seq(home: Path, rng: random.Random, _tmp: Path) -> Outcome:
    seq = rng.randrange(SIZE)
    new = rng.choice([seq + 1, seq - 1 if seq else seq + 2, seq + 1000, rng.randrange(10**6)])
    if new == seq:
        new += 7
    edit_record(home, seq, lambda r: r.update(seq=new))
    return where(seq), []


def m_ts(home: Path, rng: random.Random, _tmp: Path) -> Outcome:
    seq = rng.randrange(SIZE)
    day = seq // PER_DAY + 1
    ts = f"2026-01-0{day}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00.000000Z"
    edit_record(home, seq, lambda r: r.update(ts=ts))
    return where(seq), []


def m_prev(home: Path, rng: random.Random, _tmp: Path) -> Outcome:
    seq = rng.randrange(SIZE)
    forged = "".join(rng.choice("0123456789abcdef") for _ in range(64))
    edit_record(home, seq, lambda r: r.update(prev=forged))
    return where(seq), []


def _edit_byte(home: Path, rng: random.Random, change: Callable[[int], int | None]) -> Outcome:
    while True:
        seq = rng.randrange(SIZE)
        file, line = where(seq)
        raw = bytearray(_lines(home, seq // PER_DAY)[line - 1])
        offset = rng.randrange(len(raw))
        new = change(raw[offset])
        if new is None or new == raw[offset] or new == 0x0A:
            continue  # a new line would be an insertion, not an edit
        raw[offset] = new

        def put(ls: list[bytes], line: int = line, raw: bytes = bytes(raw)) -> list[bytes]:
            ls[line - 1] = raw
            return ls

        edit_file(home / file, put)
        return (file, line), []


def m_bit_flip(home: Path, rng: random.Random, _tmp: Path) -> Outcome:
    return _edit_byte(home, rng, lambda b: b ^ (1 << rng.randrange(8)))


def m_digit(home: Path, rng: random.Random, _tmp: Path) -> Outcome:
    return _edit_byte(
        home, rng, lambda b: ord(rng.choice("0123456789")) if chr(b).isdigit() else None
    )


def m_rechained(home: Path, rng: random.Random, _tmp: Path) -> Outcome:
    seq = rng.randrange(SIZE)
    qty = f"{rng.randrange(10**6)}.5"
    rechain_from(home, seq, lambda r: r["data"].update(qty=qty))
    return where(seq), []


def m_rechained_tiles_rebuilt(home: Path, rng: random.Random, _tmp: Path) -> Outcome:
    """The careful forger: re-chains every later prev and rebuilds every tile with the public
    tile code; only the signed checkpoints remember, so verify brackets the record between
    the last checkpoint that still matches and the first that does not."""
    seq = rng.randrange(SIZE)
    qty = f"{rng.randrange(10**6)}.5"
    rechain_from(home, seq, lambda r: r["data"].update(qty=qty))
    rebuild_tiles(home, stored_sizes(home))
    return None, []


def m_day_file(home: Path, rng: random.Random, _tmp: Path) -> Outcome:
    d = rng.randrange(2)  # deleting the newest day is truncation
    path = home / day_name(d)
    if rng.random() < 0.5:
        path.unlink()
    else:
        path.rename(home / "journal" / f"audit-2026010{rng.choice([4, 5, 9])}.jsonl")
    return None, []


def m_tile(home: Path, rng: random.Random, _tmp: Path) -> Outcome:
    rel = rng.choice(tile_files(home))
    path = home / "tiles" / rel
    data = bytearray(path.read_bytes())
    data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))
    return None, []


def m_resigned_checkpoint(home: Path, rng: random.Random, _tmp: Path) -> Outcome:
    name = rng.choice([f"checkpoints/{n}" for n in stored_sizes(home)] + ["checkpoint"])
    path = home / name
    cp = open_checkpoint(path.read_text(), [read_vkey(home / "trail.vkey")])
    path.write_text(sign_checkpoint(cp, Signer.generate(cp.origin)))
    return None, []


def m_truncate(home: Path, rng: random.Random, tmp: Path) -> Outcome:
    external = tmp / "auditor-checkpoint"
    shutil.copy(home / "checkpoint", external)
    truncate_to(home, rng.randrange(2 * PER_DAY + 1, SIZE))
    return None, [external]


def m_insert(home: Path, rng: random.Random, _tmp: Path) -> Outcome:
    """A forged record inside the history (appending after a clean close is the writer's)."""
    seq = rng.randrange(SIZE - 1)
    file, line = where(seq)
    rec = orjson.loads(_lines(home, seq // PER_DAY)[line - 1])
    rec["event_id"] = f"01a2080c-bf44-7104-a61b-{rng.randrange(10**12):012d}"
    rec["data"]["qty"] = "999.5"
    forged = canonical(rec)
    edit_file(home / file, lambda ls: [*ls[:line], forged, *ls[line:]])
    return (file, line + 1), []


CLASSES: dict[str, Mutation] = {
    name[2:]: fn for name, fn in sorted(globals().items()) if name.startswith("m_")
}


@pytest.fixture(scope="module")
def genuine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("campaign") / "trail"
    build_trail(home)
    report = verify_trail(home)
    assert report.ok and report.warnings == [], report.summary
    return home


def causes_at(report: VerifyReport, file: str, line: int) -> list[Any]:
    return [f for f in report.faults if (f.file, f.line) == (file, line)]


@pytest.mark.parametrize("cls", sorted(CLASSES))
def test_every_mutation_is_caught_and_located(genuine: Path, tmp_path: Path, cls: str) -> None:
    rng = random.Random(f"{SEED}-{cls}")
    for trial in range(PER_CLASS):
        work = tmp_path / f"t{trial}"
        work.mkdir()
        home = work / "trail"
        shutil.copytree(genuine, home)
        located, external = CLASSES[cls](home, rng, work)
        report = verify_trail(home, checkpoints=external)
        context = f"{cls} trial {trial} (seed {SEED}):\n" + "\n".join(map(str, report.faults))
        assert not report.ok, context
        assert report.summary.startswith(f"{report.fault_count} FAULT(S)"), context
        if located is not None:
            # the record itself is the first cause named in the journal, not its neighbour
            assert causes_at(report, *located), context
            journal = [f for f in report.faults if (f.file or "").startswith("journal/")]
            assert (journal[0].file, journal[0].line) == located, context
        if cls == "rechained":
            assert report.fault_count == 1, context  # tiles and checkpoints follow from it
        if cls == "rechained_tiles_rebuilt":
            [cause] = report.faults
            assert "between seq" in cause.message and cause.seq is not None, context
        if cls == "tile":
            assert all((f.file or "").startswith("tiles/") for f in report.faults), context
        shutil.rmtree(work)
