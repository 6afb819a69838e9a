"""Inclusion and consistency proofs served from the tiles of trails written by the real writer,
checked offline with `verify_proof_json`; altered proofs are refused; the `tradetrail proof`
commands round-trip (CliRunner and the real console script)."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import random
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import tradetrail
from conftest import console_script
from tradetrail.cli import main
from tradetrail.core.note import Signer, Verifier
from tradetrail.errors import ProofError
from tradetrail.store.journal import journal_files
from tradetrail.store.keys import read_vkey
from tradetrail.store.proofs import consistency_proof_json, inclusion_proof_json, verify_proof_json
from tradetrail.testing import SimClock

ORIGIN = "trail.example.com/proof-desk"
SECOND = 1_000_000_000
DAY = 86_400 * SECOND
T0 = 1_767_225_600 * SECOND + 9 * 3600 * SECOND  # 2026-01-01T09:00:00Z


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 MTH over leaf hashes (naive, recursive)."""
    if not leaves:
        return sha(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return sha(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


class Trail:
    """A trail on disk and what a test needs to know about it."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.lines = [ln for p in journal_files(home) for ln in p.read_bytes().split(b"\n")[:-1]]
        self.leaves = [sha(b"\x00" + ln) for ln in self.lines]
        self.sizes = sorted(int(p.name) for p in (home / "checkpoints").iterdir())
        self.vkey = read_vkey(home / "trail.vkey")

    @property
    def size(self) -> int:
        return len(self.lines)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Trail:
    """3 UTC days of 10 records, a checkpoint every 4 records, at each day seal and at close."""
    home = tmp_path_factory.mktemp("small") / "trail"
    clock = SimClock(T0)
    trail = tradetrail.open(
        home,
        clock=clock,
        origin=ORIGIN,
        checkpoint_every=4,
        checkpoint_interval=1e6,
        durability="write",
        min_free_bytes=0,
    )
    with trail:
        for d in range(3):
            clock.set(T0 + d * DAY)
            for i in range(10):
                clock.advance(1)
                trail.record("order.filled", {"qty": str(i), "day": d}, order_id=f"O-{d}-{i}").wait(
                    timeout=10
                )
    t = Trail(home)
    assert t.size == 30 and len(journal_files(home)) == 3
    assert t.sizes == [0, 4, 8, 10, 14, 18, 20, 24, 28, 30]
    return t


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Trail:
    """70,000 records over two UTC days: full level-0 and level-1 tiles, a level-2 partial."""
    home = tmp_path_factory.mktemp("big") / "trail"
    clock = SimClock(T0)
    trail = tradetrail.open(
        home,
        clock=clock,
        origin=ORIGIN,
        checkpoint_every=9000,
        checkpoint_interval=1e6,
        durability="write",
        min_free_bytes=0,
    )
    with trail:
        for i in range(70_000):
            if i == 35_000:
                trail.flush()
                clock.set(T0 + DAY)
            clock.advance(0.001)
            trail.record("order.accepted", {"i": i}, symbol="ETH-USD")
            if i % 5000 == 4999:
                trail.flush()
    t = Trail(home)
    assert t.size == 70_000 and len(journal_files(home)) == 2
    assert t.sizes[-1] == 70_000 and len(t.sizes) >= 6
    return t


def check_inclusion(t: Trail, seq: int, size: int | None = None) -> dict[str, Any]:
    proof = inclusion_proof_json(t.home, seq, size)
    size = size or t.sizes[-1]
    assert proof["leaf_index"] == seq and proof["tree_size"] == size
    assert proof["leaf_hash"] == t.leaves[seq].hex()
    assert proof["record"] == t.lines[seq].decode()
    assert json.loads(proof["record"])["seq"] == seq
    said = verify_proof_json(proof, [t.vkey], require_signed=False)
    assert said[-1] == f"record {seq} is included in the tree of size {size}"
    if size in t.sizes:
        assert "checkpoint" in proof
        assert said[0].startswith("checkpoint: signed by")
        assert verify_proof_json(proof, [t.vkey]) == said
    else:
        assert "checkpoint" not in proof
        assert "none attached" in said[0]
        with pytest.raises(ProofError, match="no signed checkpoint attached"):
            verify_proof_json(proof, [t.vkey])
    return proof


def check_consistency(t: Trail, old: int, new: int | None = None) -> dict[str, Any]:
    proof = consistency_proof_json(t.home, old, new)
    new = new or t.sizes[-1]
    assert (proof["old_size"], proof["new_size"]) == (old, new)
    said = verify_proof_json(proof, [t.vkey], require_signed=False)
    assert said[-1] == f"the tree of size {old} is a prefix of the tree of size {new}"
    if new not in t.sizes:
        with pytest.raises(ProofError, match="no signed checkpoint attached"):
            verify_proof_json(proof, [t.vkey])
    assert ("old_checkpoint" in proof) == (old in t.sizes)
    assert ("checkpoint" in proof) == (new in t.sizes)
    return proof


# ------------------------------------------------------------------------------- small trail


def test_inclusion_of_every_record_at_every_checkpoint_size(small: Trail) -> None:
    for size in small.sizes[1:]:
        root = mth(small.leaves[:size]).hex()
        for seq in range(size):
            proof = check_inclusion(small, seq, size)
            assert proof["root"] == root
    for seq in range(small.size):  # default: the latest signed checkpoint
        assert check_inclusion(small, seq)["tree_size"] == small.size


def test_inclusion_at_sizes_without_a_checkpoint(small: Trail) -> None:
    for size in range(1, small.size + 1):
        if size in small.sizes:
            continue
        root = mth(small.leaves[:size]).hex()
        for seq in range(size):
            assert check_inclusion(small, seq, size)["root"] == root


def test_consistency_between_every_pair_of_checkpoints(small: Trail) -> None:
    sizes = small.sizes[1:]
    for i, old in enumerate(sizes):
        for new in sizes[i:]:
            proof = check_consistency(small, old, new)
            assert proof["old_root"] == mth(small.leaves[:old]).hex()
            assert proof["new_root"] == mth(small.leaves[:new]).hex()
    for size in range(1, small.size + 1):  # from any size to the latest, and to any size
        check_consistency(small, size)
        check_consistency(small, 1, size)


def test_proof_requests_out_of_range(small: Trail) -> None:
    with pytest.raises(ProofError, match="not in a tree of size 30"):
        inclusion_proof_json(small.home, 30)
    with pytest.raises(ProofError, match="not in a tree of size 4"):
        inclusion_proof_json(small.home, 4, 4)
    with pytest.raises(ProofError, match="beyond the latest signed checkpoint"):
        inclusion_proof_json(small.home, 0, 31)
    with pytest.raises(ProofError, match="beyond the latest signed checkpoint"):
        consistency_proof_json(small.home, 4, 31)
    with pytest.raises(ProofError, match="0 < old size <= new size"):
        consistency_proof_json(small.home, 0)
    with pytest.raises(ProofError, match="0 < old size <= new size"):
        consistency_proof_json(small.home, 20, 10)


def test_proofs_need_the_tiles(small: Trail, tmp_path: Path) -> None:
    home = tmp_path / "trail"
    shutil.copytree(small.home, home)
    shutil.rmtree(home / "tiles")
    with pytest.raises(ProofError, match="cannot build the proof from the stored tiles"):
        inclusion_proof_json(home, 3)
    with pytest.raises(ProofError, match="cannot build the proof from the stored tiles"):
        consistency_proof_json(home, 4)
    (home / "checkpoint").unlink()
    with pytest.raises(tradetrail.ConfigError, match="no signed checkpoint"):
        inclusion_proof_json(home, 3)


# ------------------------------------------------------------------------------- big trail


def test_inclusion_of_random_records_in_a_70k_trail(big: Trail) -> None:
    rng = random.Random(1234)
    latest = big.sizes[-1]
    seqs = {0, 1, 255, 256, 34_999, 35_000, 65_535, 65_536, 69_999}
    seqs |= {rng.randrange(latest) for _ in range(20)}
    for seq in sorted(seqs):
        check_inclusion(big, seq)
    for size in big.sizes[1:-1]:
        signed = json.loads(json.dumps(check_inclusion(big, size - 1, size)))
        for seq in sorted({rng.randrange(size) for _ in range(4)}):
            proof = check_inclusion(big, seq, size)
            assert proof["root"] == signed["root"]
            assert proof["checkpoint"] == (big.home / "checkpoints" / str(size)).read_text()


def test_consistency_between_every_pair_of_checkpoints_in_a_70k_trail(big: Trail) -> None:
    sizes = big.sizes[1:]
    roots = {s: check_inclusion(big, s - 1, s)["root"] for s in sizes}
    for i, old in enumerate(sizes):
        for new in sizes[i:]:
            proof = check_consistency(big, old, new)
            assert proof["old_root"] == roots[old] and proof["new_root"] == roots[new]
    check_consistency(big, 65_536)
    check_consistency(big, 1, 65_537)


def test_big_trail_latest_root_is_the_naive_root(big: Trail) -> None:
    proof = inclusion_proof_json(big.home, 12_345)
    assert proof["root"] == mth(big.leaves).hex()


# ------------------------------------------------------------------------------- altered proofs


def flip_hex(value: str) -> str:
    return ("f" if value[0] != "f" else "e") + value[1:]


def forge_note(text: str) -> str:
    origin, size, root, *rest = text.split("\n")
    raw = bytearray(base64.b64decode(root))
    raw[0] ^= 1
    return "\n".join([origin, size, base64.b64encode(bytes(raw)).decode(), *rest])


Mutation = Callable[[dict[str, Any], Trail], None]

INCLUSION_MUTATIONS: dict[str, Mutation] = {
    "hash changed": lambda p, t: p["hashes"].__setitem__(1, flip_hex(p["hashes"][1])),
    "hash removed": lambda p, t: p["hashes"].pop(),
    "hash added": lambda p, t: p["hashes"].append(p["hashes"][0]),
    "hashes reordered": lambda p, t: p["hashes"].reverse(),
    "leaf_index + 1": lambda p, t: p.update(leaf_index=p["leaf_index"] + 1),
    "leaf_index - 1": lambda p, t: p.update(leaf_index=p["leaf_index"] - 1),
    "leaf_index out of tree": lambda p, t: p.update(leaf_index=p["tree_size"]),
    "leaf_index negative": lambda p, t: p.update(leaf_index=-1),
    "leaf_index a string": lambda p, t: p.update(leaf_index=str(p["leaf_index"])),
    "leaf_index a bool": lambda p, t: p.update(leaf_index=True),
    "tree_size changed": lambda p, t: p.update(tree_size=p["tree_size"] - 1),
    "root changed": lambda p, t: p.update(root=flip_hex(p["root"])),
    "root changed, checkpoint dropped": lambda p, t: (
        p.update(root=flip_hex(p["root"])),
        p.pop("checkpoint"),
    ),
    "leaf_hash changed": lambda p, t: p.update(leaf_hash=flip_hex(p["leaf_hash"])),
    "leaf_hash changed, record dropped": lambda p, t: (
        p.update(leaf_hash=flip_hex(p["leaf_hash"])),
        p.pop("record"),
    ),
    "record edited": lambda p, t: p.update(record=p["record"].replace('"qty":"3"', '"qty":"9"')),
    "record edited, leaf_hash recomputed": lambda p, t: (
        p.update(record=p["record"].replace('"qty":"3"', '"qty":"9"')),
        p.update(leaf_hash=sha(b"\x00" + p["record"].encode()).hex()),
    ),
    "record of another seq": lambda p, t: p.update(record=t.lines[2].decode()),
    "checkpoint of another size": lambda p, t: p.update(
        checkpoint=(t.home / "checkpoints" / "20").read_text()
    ),
    "checkpoint forged": lambda p, t: p.update(checkpoint=forge_note(p["checkpoint"])),
    "checkpoint not text": lambda p, t: p.update(checkpoint=7),
    "hashes not a list": lambda p, t: p.update(hashes=",".join(p["hashes"])),
    "hash not hex": lambda p, t: p["hashes"].__setitem__(0, "zz" * 32),
    "hash not a string": lambda p, t: p["hashes"].__setitem__(0, 5),
    "hash too short": lambda p, t: p["hashes"].__setitem__(0, p["hashes"][0][:62]),
    "root not hex": lambda p, t: p.update(root="xyz"),
    "root missing": lambda p, t: p.pop("root"),
}


@pytest.mark.parametrize("mutation", sorted(INCLUSION_MUTATIONS))
def test_altered_inclusion_proof_is_refused(small: Trail, mutation: str) -> None:
    proof = inclusion_proof_json(small.home, 3)  # record 3 of the latest tree (30)
    assert verify_proof_json(copy.deepcopy(proof), [small.vkey])
    INCLUSION_MUTATIONS[mutation](proof, small)
    with pytest.raises(ProofError):
        verify_proof_json(proof, [small.vkey])


CONSISTENCY_MUTATIONS: dict[str, Mutation] = {
    "hash changed": lambda p, t: p["hashes"].__setitem__(0, flip_hex(p["hashes"][0])),
    "hash removed": lambda p, t: p["hashes"].pop(),
    "hash added": lambda p, t: p["hashes"].append(p["hashes"][0]),
    "old_root changed": lambda p, t: p.update(old_root=flip_hex(p["old_root"])),
    "old_root changed, old_checkpoint dropped": lambda p, t: (
        p.update(old_root=flip_hex(p["old_root"])),
        p.pop("old_checkpoint"),
    ),
    "new_root changed": lambda p, t: p.update(new_root=flip_hex(p["new_root"])),
    "new_root changed, checkpoint dropped": lambda p, t: (
        p.update(new_root=flip_hex(p["new_root"])),
        p.pop("checkpoint"),
    ),
    "old_size changed": lambda p, t: p.update(old_size=p["old_size"] + 1),
    "new_size changed": lambda p, t: p.update(new_size=p["new_size"] - 1),
    "sizes swapped": lambda p, t: p.update(old_size=p["new_size"], new_size=p["old_size"]),
    "old_size zero": lambda p, t: p.update(old_size=0),
    "checkpoint forged": lambda p, t: p.update(checkpoint=forge_note(p["checkpoint"])),
    "old_checkpoint of another size": lambda p, t: p.update(
        old_checkpoint=(t.home / "checkpoints" / "8").read_text()
    ),
}


@pytest.mark.parametrize("mutation", sorted(CONSISTENCY_MUTATIONS))
def test_altered_consistency_proof_is_refused(small: Trail, mutation: str) -> None:
    proof = consistency_proof_json(small.home, 14, 28)
    assert verify_proof_json(copy.deepcopy(proof), [small.vkey])
    CONSISTENCY_MUTATIONS[mutation](proof, small)
    with pytest.raises(ProofError):
        verify_proof_json(proof, [small.vkey])


def test_wrong_vkey_is_refused(small: Trail) -> None:
    stranger = Signer.generate(ORIGIN).verifier()
    renamed = Signer.generate("trail.example.com/other").verifier()
    for proof in (inclusion_proof_json(small.home, 5), consistency_proof_json(small.home, 10)):
        for vkeys in ([stranger], [renamed], []):
            with pytest.raises(ProofError):
                verify_proof_json(proof, vkeys)
        # the right key among others is fine
        assert verify_proof_json(proof, [stranger, small.vkey])


def test_not_a_proof(small: Trail) -> None:
    for obj in ([], "proof", {}, {"hashes": []}, {"leaf_index": 0}, {"old_size": 1}):
        with pytest.raises(ProofError):
            verify_proof_json(obj, [small.vkey])  # type: ignore[arg-type]


def test_a_proof_for_a_forged_tree_is_refused_when_a_checkpoint_is_attached(
    small: Trail,
) -> None:
    """Someone builds a proof over a different record set: the attached signed checkpoint
    (the real one) does not have that root."""
    fake_leaves = list(small.leaves)
    fake_line = small.lines[3].replace(b'"qty":"3"', b'"qty":"9"')
    fake_leaves[3] = sha(b"\x00" + fake_line)
    proof = inclusion_proof_json(small.home, 2, 4)
    proof.update(
        leaf_index=3,
        leaf_hash=fake_leaves[3].hex(),
        record=fake_line.decode(),
        root=mth(fake_leaves[:4]).hex(),
        hashes=[fake_leaves[2].hex(), mth(fake_leaves[:2]).hex()],
    )
    no_checkpoint = {k: v for k, v in proof.items() if k != "checkpoint"}
    # without a checkpoint the proof is only self-consistent, and says so
    said = verify_proof_json(no_checkpoint, [small.vkey], require_signed=False)
    assert "none attached" in said[0]
    with pytest.raises(ProofError, match="no signed checkpoint attached"):
        verify_proof_json(no_checkpoint, [small.vkey])
    with pytest.raises(ProofError, match="signed checkpoint is for size 4"):
        verify_proof_json(proof, [small.vkey])


# ------------------------------------------------------------------------------- CLI


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output, result.output
    return result


def test_cli_inclusion_round_trip(small: Trail, tmp_path: Path) -> None:
    home = str(small.home)
    vkey = str(small.home / "trail.vkey")
    result = invoke("proof", "inclusion", "--home", home, "--seq", "7")
    assert result.exit_code == 0, result.output
    proof = json.loads(result.stdout)
    assert proof == inclusion_proof_json(small.home, 7)
    path = tmp_path / "proof.json"
    path.write_text(result.stdout)
    ok = invoke("proof", "verify", str(path), "--vkey", vkey)
    assert ok.exit_code == 0
    assert "ok record 7 is included in the tree of size 30" in ok.stdout
    ok = invoke("proof", "verify", str(path), "--vkey", small.vkey.vkey(), "--json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["ok"] is True

    older = invoke("proof", "inclusion", "--home", home, "--seq", "7", "--size", "10")
    assert older.exit_code == 0 and json.loads(older.stdout)["tree_size"] == 10

    proof["hashes"][0] = flip_hex(proof["hashes"][0])
    path.write_text(json.dumps(proof))
    bad = invoke("proof", "verify", str(path), "--vkey", vkey)
    assert bad.exit_code == 1
    assert "INVALID" in bad.stderr
    bad = invoke("proof", "verify", str(path), "--vkey", vkey, "--json")
    assert bad.exit_code == 1
    out = json.loads(bad.stdout)
    assert out["ok"] is False and "does not lead to the given root" in out["error"]


def test_cli_consistency_round_trip(small: Trail, tmp_path: Path) -> None:
    home = str(small.home)
    vkey = str(small.home / "trail.vkey")
    result = invoke("proof", "consistency", "--home", home, "--old-size", "8", "--new-size", "24")
    assert result.exit_code == 0, result.output
    proof = json.loads(result.stdout)
    assert (proof["old_size"], proof["new_size"]) == (8, 24)
    path = tmp_path / "consistency.json"
    path.write_text(result.stdout)
    ok = invoke("proof", "verify", str(path), "--vkey", vkey)
    assert ok.exit_code == 0
    assert "prefix of the tree of size 24" in ok.stdout
    latest = invoke("proof", "consistency", "--home", home, "--old-size", "8")
    assert json.loads(latest.stdout)["new_size"] == 30
    proof["old_root"] = flip_hex(proof["old_root"])
    path.write_text(json.dumps(proof))
    assert invoke("proof", "verify", str(path), "--vkey", vkey).exit_code == 1
    stranger = Signer.generate(ORIGIN).verifier().vkey()
    path.write_text(latest.stdout)
    assert invoke("proof", "verify", str(path), "--vkey", stranger).exit_code == 1


def test_cli_proof_errors(small: Trail, tmp_path: Path) -> None:
    home = str(small.home)
    for args in (
        ("proof", "inclusion", "--home", home, "--seq", "30"),
        ("proof", "inclusion", "--home", home, "--seq", "1", "--size", "99"),
        ("proof", "consistency", "--home", home, "--old-size", "29", "--new-size", "10"),
        ("proof", "inclusion", "--home", str(tmp_path / "none"), "--seq", "1"),
    ):
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.startswith("tradetrail: error:")
        assert len(result.stderr.strip().splitlines()) == 1
    junk = tmp_path / "junk.json"
    junk.write_text("not json")
    result = invoke("proof", "verify", str(junk), "--vkey", str(small.home / "trail.vkey"))
    assert result.exit_code == 2 and result.stderr.startswith("tradetrail: error:")
    result = invoke("proof", "verify", str(junk), "--vkey", "nonsense+vkey")
    assert result.exit_code == 2 and result.stderr.startswith("tradetrail: error: --vkey")


def test_console_script_round_trip(small: Trail, tmp_path: Path) -> None:
    """The installed `tradetrail` command, as an auditor would run it."""
    console = console_script()
    proof = subprocess.run(
        [console, "proof", "inclusion", "--home", small.home, "--seq", "12"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    path = tmp_path / "p.json"
    path.write_bytes(proof.stdout)
    vkey = small.home / "trail.vkey"
    ok = subprocess.run(
        [console, "proof", "verify", path, "--vkey", vkey, "--json"],
        capture_output=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["ok"] is True
    obj = json.loads(proof.stdout)
    obj["leaf_index"] = 13
    path.write_text(json.dumps(obj))
    bad = subprocess.run(
        [console, "proof", "verify", path, "--vkey", vkey], capture_output=True, timeout=60
    )
    assert bad.returncode == 1
    assert b"INVALID" in bad.stderr and b"Traceback" not in bad.stderr


def test_verifier_from_vkey_file_round_trip(small: Trail) -> None:
    text = (small.home / "trail.vkey").read_text().strip()
    assert Verifier.from_vkey(text).vkey() == text == small.vkey.vkey()
    assert text.startswith(ORIGIN + "+")


# ------------------------------------------------------------- proofs from Python, unsigned tail


def test_a_record_newer_than_the_latest_checkpoint_says_how_to_get_one(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    clock = SimClock(T0)
    opts: dict[str, Any] = {"checkpoint_every": 10**6, "checkpoint_interval": 1e6}
    with tradetrail.open(home, clock=clock, origin=ORIGIN, min_free_bytes=0, **opts) as trail:
        seqs = [trail.record("order.note", {"i": i}).wait(timeout=10) for i in range(3)]
        trail.checkpoint()
        late = trail.record("order.note", {"i": 3}).wait(timeout=10)
        # the writer holds the trail; a read-only caller asks for the same proof
        for ask in (trail.inclusion_proof, lambda s: tradetrail.inclusion_proof(home, s)):
            with pytest.raises(tradetrail.NotYetSignedError) as caught:
                ask(late)
            assert (caught.value.seq, caught.value.checkpoint_size) == (3, 3)
            message = str(caught.value)
            assert "seq 3 is journaled but not yet under a signed checkpoint" in message
            assert "tradetrail checkpoint --home" in message and "trail.checkpoint()" in message
        with pytest.raises(tradetrail.NotYetSignedError, match="size 4 is beyond"):
            trail.consistency_proof(2, 4)
        with pytest.raises(ProofError, match="there is no record 9 yet"):
            trail.inclusion_proof(9)
        trail.checkpoint()
        proof = trail.inclusion_proof(late)
        assert proof["tree_size"] == 4 and json.loads(proof["record"])["seq"] == late
        vkey = trail.verifier
        said = tradetrail.verify_proof(proof, [vkey])
        assert said[-1] == "record 3 is included in the tree of size 4"
        consistency = trail.consistency_proof(3)
        assert tradetrail.verify_proof(consistency, [vkey.vkey()])[-1].endswith("size 4")
        assert tradetrail.inclusion_proof(home, seqs[0]) == trail.inclusion_proof(seqs[0])
        assert tradetrail.consistency_proof(home, 3) == consistency


def test_cli_proof_of_an_unsigned_record_names_the_fix(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    opts: dict[str, Any] = {"checkpoint_every": 10**6, "checkpoint_interval": 1e6}
    trail = tradetrail.open(home, origin=ORIGIN, min_free_bytes=0, **opts)
    trail.record("order.note", {"i": 0}).wait(timeout=10)
    try:
        result = invoke("proof", "inclusion", "--home", str(home), "--seq", "0")
    finally:
        trail.close()
    assert result.exit_code == 2
    assert "seq 0 is journaled but not yet under a signed checkpoint" in result.stderr
    assert "tradetrail checkpoint" in result.stderr
    result = invoke("proof", "inclusion", "--home", str(home), "--seq", "0")
    assert result.exit_code == 0, result.stderr  # close() signed it


def test_verify_from_python_returns_the_report(small: Trail, tmp_path: Path) -> None:
    report = tradetrail.verify(small.home)
    assert report.ok and report.size == 30 and report.faults == []
    assert tradetrail.verify(str(small.home), vkeys=[str(small.home / "trail.vkey")]).ok
    stranger = Signer.generate(ORIGIN).verifier()
    report = tradetrail.verify(small.home, vkeys=[stranger])
    assert not report.ok and "does not verify" in str(report.faults[0])
    from tradetrail.verify.trail import verify_trail  # the submodule stays importable

    assert verify_trail(small.home).ok
    assert tradetrail.verify(small.home).ok  # and the package's name stays the function
