"""Rotating the signing key: old checkpoints keep verifying, each new key is vouched for by the
key before it (both sign the change), and an auditor holding only the first key can follow."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import tradetrail
from tradetrail.cli import main
from tradetrail.core.note import Signer, Verifier, open_note, parse_note, sign_note
from tradetrail.errors import ConfigError, ProofError
from tradetrail.store.keyhistory import KeyHistory, read_history, rotation_statement
from tradetrail.store.proofs import verify_proof_json
from tradetrail.testing import SimClock
from tradetrail.verify.trail import verify_trail

ORIGIN = "trail.example.com/rotating-desk"
SECOND = 1_000_000_000
DAY = 86_400 * SECOND
T0 = 1_767_225_600 * SECOND + 9 * 3600 * SECOND  # 2026-01-01T09:00:00Z


def open_trail(home: Path, key: Signer, clock: SimClock) -> tradetrail.Trail:
    return tradetrail.open(
        home,
        clock=clock,
        origin=ORIGIN,
        signing_key=key.skey(),
        checkpoint_every=4,
        checkpoint_interval=1e6,
        durability="write",
        min_free_bytes=0,
    )


def record(trail: tradetrail.Trail, clock: SimClock, count: int) -> None:
    for _ in range(count):
        clock.advance(1)
        trail.record("order.submitted", {"side": "buy", "qty": "1"}, order_id="O").wait(10)


def checkpoint_signers(home: Path, size: int, keys: list[Verifier]) -> list[Verifier]:
    text = (home / "checkpoints" / str(size)).read_text()
    return open_note(text, keys)[1]


@pytest.fixture()
def rotated(tmp_path: Path) -> dict[str, Any]:
    """10 records on day 1, a rotation mid-day, 5 more, then day 2 with a second rotation."""
    home = tmp_path / "trail"
    clock = SimClock(T0)
    first, second, third = (Signer.generate(ORIGIN) for _ in range(3))
    with open_trail(home, first, clock) as trail:
        record(trail, clock, 10)
        note = trail.rotate_key(second, reason="yearly rotation")
        assert trail.size == 11  # the rotation record is seq 10, the last under `first` alone
        record(trail, clock, 5)
        clock.set(T0 + DAY)
        record(trail, clock, 3)
    with open_trail(home, second, clock) as trail:
        record(trail, clock, 2)
        trail.rotate_key(third)
        record(trail, clock, 6)
    return {"home": home, "keys": [first, second, third], "note": note, "clock": clock}


def test_rotations_mid_day_and_across_days_verify(rotated: dict[str, Any]) -> None:
    home: Path = rotated["home"]
    first, second, third = (k.verifier() for k in rotated["keys"])
    history = read_history(home)
    assert history is not None and history.keys() == [first, second, third]
    assert [(s.first, s.last) for s in history.spans] == [(0, 11), (11, 22), (22, None)]
    assert (home / "trail.vkey").read_text().strip() == third.vkey()
    # old checkpoints keep their old signature; the one at each rotation carries both
    every = [first, second, third]
    assert checkpoint_signers(home, 8, every) == [first]
    assert checkpoint_signers(home, 11, every) == [first, second]
    assert checkpoint_signers(home, 22, every) == [second, third]
    assert checkpoint_signers(home, 28, every) == [third]
    rotation = json.loads((home / "journal" / "audit-20260101.jsonl").read_text().split("\n")[10])
    assert rotation["type"] == "trail.key_rotated" and rotation["seq"] == 10
    assert rotation["data"]["from_size"] == 11 and rotation["data"]["note"] == rotated["note"]
    assert "schema_error" not in rotation
    report = verify_trail(home)  # the trail's own keys (trail.vkey = the current one)
    assert report.ok, report.faults
    for roots in ([first], [second], [third], [first, third]):
        report = verify_trail(home, vkeys=roots)
        assert report.ok and report.checkpoints_checked > 8, (roots, report.faults)
    assert tradetrail.verify(home, vkeys=[first.vkey()]).ok
    stranger = Signer.generate(ORIGIN).verifier()
    report = verify_trail(home, vkeys=[stranger])
    assert not report.ok
    assert any(
        "none of the verifier keys given is in the key history" in str(f) for f in report.faults
    )


def test_without_the_history_the_original_key_does_not_vouch_for_new_checkpoints(
    rotated: dict[str, Any],
) -> None:
    home: Path = rotated["home"]
    (home / "trail.vkeys").unlink()
    first = rotated["keys"][0].verifier()
    report = verify_trail(home, vkeys=[first])
    assert not report.ok
    assert any("checkpoints/28" in str(f) for f in report.faults)


def test_a_rotation_signed_by_one_key_only_is_a_fault(rotated: dict[str, Any]) -> None:
    """Whoever holds a key alone (an attacker with a stolen new key, or with their own key)
    cannot make a rotation that a holder of the original key accepts."""
    home: Path = rotated["home"]
    first, second, third = rotated["keys"]
    history = (home / "trail.vkeys").read_text().splitlines()
    statement = rotation_statement(ORIGIN, 11, first.verifier(), second.verifier())
    for forger in (second, first):
        forged = sign_note(statement, forger)
        line = history[2].split(" ")
        line[2] = base64.b64encode(forged.encode()).decode()
        lines = [*history[:2], " ".join(line), *history[3:]]
        (home / "trail.vkeys").write_text("\n".join(lines) + "\n")
        report = verify_trail(home, vkeys=[first.verifier()])
        assert not report.ok
        text = "\n".join(str(f) for f in report.faults)
        assert "key rotation does not verify" in text and "a rotation needs the signatures" in text
        assert "checkpoints/28" in text  # the keys after the broken link are not trusted
    # an attacker's own key, "vouched for" by a rotation only it signed, replacing the history
    mallory = Signer.generate(ORIGIN)
    fake = KeyHistory.first_key(first.verifier()).text() + "\n".join(history[2:]) + "\n"
    (home / "trail.vkeys").write_text(
        fake.replace(third.verifier().vkey(), mallory.verifier().vkey())
    )
    assert not verify_trail(home, vkeys=[first.verifier()]).ok


def test_opening_with_a_retired_key_is_refused(rotated: dict[str, Any]) -> None:
    home: Path = rotated["home"]
    first, second, third = rotated["keys"]
    for retired, size in ((first, 11), (second, 22)):
        with pytest.raises(
            ConfigError, match=rf"was retired at tree size {size} by a key rotation"
        ):
            open_trail(home, retired, rotated["clock"])
    with pytest.raises(ConfigError, match="is not this trail's key"):
        open_trail(home, Signer.generate(ORIGIN), rotated["clock"])
    with open_trail(home, third, rotated["clock"]) as trail:
        assert trail.verifier == third.verifier()
    with (
        open_trail(home, third, rotated["clock"]) as trail,
        pytest.raises(ConfigError, match="already used by this trail"),
    ):
        trail.rotate_key(first)


def test_proofs_across_rotations(rotated: dict[str, Any]) -> None:
    home: Path = rotated["home"]
    first, _second, third = (k.verifier() for k in rotated["keys"])
    history = read_history(home)
    inclusion = tradetrail.inclusion_proof(home, 3)  # an old record, at the latest size (third)
    consistency = tradetrail.consistency_proof(home, 8)  # from a checkpoint signed by `first`
    assert verify_proof_json(inclusion, [third])  # the current key signs the latest checkpoint
    with pytest.raises(ProofError, match="old_checkpoint: note has no signature by a known key"):
        verify_proof_json(consistency, [third])  # its old end was signed by `first`
    for proof in (inclusion, consistency):
        assert verify_proof_json(proof, [], history=history)
        assert verify_proof_json(proof, [first], history=history)
        with pytest.raises(ProofError, match="no signature by a known key"):
            verify_proof_json(proof, [first])
        assert tradetrail.verify_proof(proof, [str(home / "trail.vkeys")])
    said = verify_proof_json(consistency, [first], history=history)
    assert said[1].startswith("old_checkpoint: signed by")
    old_proof = tradetrail.inclusion_proof(home, 3, 8)
    assert verify_proof_json(old_proof, [first])
    # the current key re-signing an old size (a stolen key rewriting history) is refused
    body = parse_note(old_proof["checkpoint"]).text
    old_proof["checkpoint"] = sign_note(body, rotated["keys"][2])
    assert verify_proof_json(old_proof, [third])  # without the history nothing tells
    with pytest.raises(ProofError, match="does not allow there"):
        verify_proof_json(old_proof, [first], history=history)


def test_cli_proof_verify_takes_the_history_file(rotated: dict[str, Any], tmp_path: Path) -> None:
    home: Path = rotated["home"]
    first = rotated["keys"][0].verifier()
    runner = CliRunner()
    proof = runner.invoke(main, ["proof", "inclusion", "--home", str(home), "--seq", "2"])
    assert proof.exit_code == 0, proof.output
    path = tmp_path / "proof.json"
    path.write_text(proof.stdout)
    history = str(home / "trail.vkeys")
    ok = runner.invoke(main, ["proof", "verify", str(path), "--vkey", history])
    assert ok.exit_code == 0, ok.output
    ok = runner.invoke(
        main, ["proof", "verify", str(path), "--vkey", first.vkey(), "--vkey", history]
    )
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(main, ["proof", "verify", str(path), "--vkey", first.vkey()])
    assert bad.exit_code == 1


@pytest.mark.embedded
def test_cli_keygen_rotate(tmp_path: Path) -> None:
    home = tmp_path / "trail"
    with tradetrail.open(home, origin=ORIGIN, min_free_bytes=0) as trail:  # key beside the trail
        trail.record("order.note", {"text": "before"}).wait(10)
        old = trail.verifier
    runner = CliRunner()
    result = runner.invoke(main, ["keygen", "--rotate", "--home", str(home), "--reason", "drill"])
    assert result.exit_code == 0, result.output
    assert (
        "at tree size 2" in result.stdout and "signing.key now holds the new key" in result.stdout
    )
    new = Signer.from_skey((home / "signing.key").read_text().strip()).verifier()
    assert new != old and (home / "trail.vkey").read_text().strip() == new.vkey()
    with tradetrail.open(home, min_free_bytes=0) as trail:
        trail.record("order.note", {"text": "after"}).wait(10)
        locked = runner.invoke(main, ["keygen", "--rotate", "--home", str(home)])
    assert locked.exit_code == 2 and "trail.rotate_key(" in locked.stderr
    assert verify_trail(home, vkeys=[old]).ok
    # a new key from a file, the old one configured elsewhere
    keys = tmp_path / "keys"
    made = runner.invoke(main, ["keygen", "--name", ORIGIN, "--out", str(keys)])
    assert made.exit_code == 0, made.output
    key_file = keys / (ORIGIN.replace("/", "_") + ".key")
    result = runner.invoke(
        main, ["keygen", "--rotate", "--home", str(home), "--new-key", str(key_file)]
    )
    assert result.exit_code == 0, result.output
    assert verify_trail(home, vkeys=[old]).ok
    assert len(read_history(home).spans) == 3  # type: ignore[union-attr]


def test_an_interrupted_rotation_is_finished_by_the_new_key(tmp_path: Path) -> None:
    """A crash after the rotation record but before trail.vkeys/trail.vkey were written."""
    home = tmp_path / "trail"
    clock = SimClock(T0)
    first, second = Signer.generate(ORIGIN), Signer.generate(ORIGIN)
    with open_trail(home, first, clock) as trail:
        record(trail, clock, 3)
        trail.rotate_key(second)
    (home / "trail.vkeys").unlink()
    (home / "trail.vkey").write_text(first.verifier().vkey() + "\n")
    with open_trail(home, second, clock) as trail:
        record(trail, clock, 2)
    assert (home / "trail.vkey").read_text().strip() == second.verifier().vkey()
    assert verify_trail(home, vkeys=[first.verifier()]).ok


def test_a_checkpoint_signed_outside_its_keys_range_is_a_fault(rotated: dict[str, Any]) -> None:
    """A stolen current key cannot re-sign history from before it took over."""
    home: Path = rotated["home"]
    path = home / "checkpoints" / "8"
    path.write_text(sign_note(parse_note(path.read_text()).text, rotated["keys"][2]))
    report = verify_trail(home)
    assert not report.ok
    assert any(
        "checkpoints/8" in str(f) and "not valid at that size" in str(f) for f in report.faults
    )


def test_a_day_sealed_before_rotations_is_exported_reported_and_verified(
    rotated: dict[str, Any],
) -> None:
    """Day 1 was sealed under the second key (its checkpoints span two keys); after a later
    rotation the pack is still made, and verifies with the key history given as --vkey, or
    with any one key of the trail (the pack carries the history that joins them)."""
    home: Path = rotated["home"]
    day = "2026-01-01"
    runner = CliRunner()
    env = {"TRADETRAIL_SIGNING_KEY": rotated["keys"][2].skey()}
    made = runner.invoke(main, ["export", "daily", "--home", str(home), "--date", day], env=env)
    assert made.exit_code == 0, made.output
    pack = home / "exports" / "daily" / day
    history = runner.invoke(main, ["verify-pack", str(pack), "--vkey", str(home / "trail.vkeys")])
    assert history.exit_code == 0, history.output
    for key in rotated["keys"]:
        one = runner.invoke(main, ["verify-pack", str(pack), "--vkey", key.verifier().vkey()])
        assert one.exit_code == 0, one.output
    report = runner.invoke(
        main, ["report", "daily", "--home", str(home), "--date", day, "--format", "md"]
    )
    assert report.exit_code == 0 and "(signature verified)" in report.output


def test_a_crash_between_the_history_and_trail_vkey_is_a_warning_not_a_fault(
    tmp_path: Path,
) -> None:
    """The writer writes trail.vkeys, then trail.vkey: a crash between leaves trail.vkey one
    key behind. verify says what reopening repairs (exit 0); any other key there is a fault."""
    home = tmp_path / "trail"
    clock = SimClock(T0)
    first, second = Signer.generate(ORIGIN), Signer.generate(ORIGIN)
    with open_trail(home, first, clock) as trail:
        record(trail, clock, 3)
        trail.rotate_key(second)
    (home / "trail.vkey").write_text(first.verifier().vkey() + "\n")
    report = verify_trail(home, vkeys=[first.verifier()])
    assert report.ok, [str(f) for f in report.faults]
    assert any("a rotation was interrupted" in w for w in report.warnings)
    (home / "trail.vkey").write_text(Signer.generate(ORIGIN).verifier().vkey() + "\n")
    assert not verify_trail(home, vkeys=[first.verifier()]).ok


def _crash_before_the_key_was_replaced(home: Path, old: Signer) -> None:
    """What a kill -9 between the journaled rotation and the key's replacement leaves."""
    (home / "trail.vkeys").unlink()
    (home / "trail.vkey").write_text(old.verifier().vkey() + "\n")


@pytest.mark.embedded
def test_a_rotation_interrupted_before_the_key_was_replaced_is_finished(tmp_path: Path) -> None:
    """The new key was kept aside (signing.key.next) before the rotation was journaled: the
    next open takes it up; the rotation is never lost and the old key never signs again."""
    home = tmp_path / "trail"
    old, new = Signer.generate(ORIGIN), Signer.generate(ORIGIN)
    home.mkdir()
    (home / "signing.key").write_text(old.skey() + "\n")
    with tradetrail.open(home, origin=ORIGIN, min_free_bytes=0) as trail:
        trail.record("order.note", {"n": 1}).wait(timeout=10)
        trail.rotate_key(new)
    assert (home / "signing.key").read_text().strip() == new.skey()
    assert not (home / "signing.key.next").exists()
    # the crash: the old key is still in place, the new one kept aside
    (home / "signing.key.next").write_text(new.skey() + "\n")
    (home / "signing.key").write_text(old.skey() + "\n")
    _crash_before_the_key_was_replaced(home, old)
    with tradetrail.open(home, min_free_bytes=0) as trail:
        assert trail.signer.verifier() == new.verifier()
        trail.record("order.note", {"n": 2}).wait(timeout=10)
    assert (home / "trail.vkey").read_text().strip() == new.verifier().vkey()
    assert verify_trail(home, vkeys=[old.verifier()]).ok


def test_a_rotation_interrupted_with_the_new_key_elsewhere_refuses_the_old_key(
    tmp_path: Path,
) -> None:
    home = tmp_path / "trail"
    clock = SimClock(T0)
    old, new = Signer.generate(ORIGIN), Signer.generate(ORIGIN)
    with open_trail(home, old, clock) as trail:
        record(trail, clock, 2)
        trail.rotate_key(new)
    _crash_before_the_key_was_replaced(home, old)
    with pytest.raises(ConfigError, match="configure the new key"):
        open_trail(home, old, clock)
    with open_trail(home, new, clock) as trail:  # the new key finishes the rotation
        record(trail, clock, 1)
    assert verify_trail(home, vkeys=[old.verifier()]).ok


def test_a_retired_key_cannot_rewrite_what_followed_its_rotation(tmp_path: Path) -> None:
    """The point of rotating a compromised key: its holder drops the history, rewrites a
    record after the rotation and has the writer re-sign it with the old key. The rotation
    record, signed by both keys, stays in the journal and binds: verify names it."""
    import hashlib
    import re

    home = tmp_path / "trail"
    clock = SimClock(T0)
    old, new = Signer.generate(ORIGIN), Signer.generate(ORIGIN)
    with open_trail(home, old, clock) as trail:
        record(trail, clock, 3)
        trail.rotate_key(new)
        record(trail, clock, 3)
    assert verify_trail(home, vkeys=[old.verifier()]).ok
    (home / "trail.vkeys").unlink()
    (home / "trail.vkey").write_text(old.verifier().vkey() + "\n")
    (home / "closed").unlink()
    for cp in (home / "checkpoints").iterdir():
        if int(cp.name) > 4:
            cp.unlink()
    (home / "checkpoint").write_bytes((home / "checkpoints" / "4").read_bytes())
    shutil.rmtree(home / "tiles")
    path = sorted((home / "journal").iterdir())[-1]
    path.chmod(0o644)
    lines = path.read_bytes().split(b"\n")[:-1]
    lines[5] = lines[5].replace(b'"qty":"1"', b'"qty":"9"')
    leaf = hashlib.sha256(b"\x00" + lines[5]).hexdigest().encode()
    lines[6] = re.sub(rb'"prev":"[0-9a-f]{64}"', b'"prev":"' + leaf + b'"', lines[6])
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    open_trail(home, old, clock).close()  # the writer re-signs the rewritten tail
    for keys in (None, [old.verifier()]):
        report = verify_trail(home, vkeys=keys)
        assert not report.ok
        [cause] = report.faults
        assert cause.seq == 3 and "does not list that rotation" in cause.message
