"""Packs made after a key rotation carry the trail's key history (trail.vkeys), so that an
examiner holding only the trail's first verifier key can check checkpoints and manifests signed
by a later key; a history that is missing, broken or does not reach the given key is a fault
that names trail.vkeys."""

from __future__ import annotations

import base64
import hashlib
import shutil
import zipfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

import tradetrail
from tradetrail.cli import main
from tradetrail.compliance.exam import export_exam, package_folder
from tradetrail.compliance.verify_exam import verify_exam
from tradetrail.core.note import Signer, Verifier, parse_note, sign_note
from tradetrail.export.daily import PackError, export_daily
from tradetrail.store.keyhistory import rotation_statement
from tradetrail.testing import SimClock
from tradetrail.verify.pack import PackReport, verify_pack

ORIGIN = "trail.example.com/packs-rotating"
SECOND = 1_000_000_000
DAY = 86_400 * SECOND
T0 = 1_767_225_600 * SECOND + 9 * 3600 * SECOND  # 2026-01-01T09:00:00Z
DAY1, DAY2 = "2026-01-01", "2026-01-02"


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


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Day 1 packed under the first key; the key rotated mid day 2; day 2 packed after, and
    day 1 packed again after the rotation (its manifest signed by the second key)."""
    base = tmp_path_factory.mktemp("packkeys")
    home = base / "trail"
    clock = SimClock(T0)
    first, second = Signer.generate(ORIGIN), Signer.generate(ORIGIN)
    with open_trail(home, first, clock) as trail:
        record(trail, clock, 6)
        clock.set(T0 + DAY)
        record(trail, clock, 3)
    before = export_daily(home, DAY1, signing_key=first.skey()).path
    with open_trail(home, first, clock) as trail:
        record(trail, clock, 2)
        trail.rotate_key(second)
        record(trail, clock, 4)
        clock.set(T0 + 2 * DAY)
        record(trail, clock, 2)
    after = export_daily(home, DAY2, signing_key=second.skey()).path
    again = export_daily(home, DAY1, out=base / "again", signing_key=second.skey()).path
    return {
        "home": home,
        "first": first,
        "second": second,
        "before": before,
        "after": after,
        "again": again,
    }


def faults(report: PackReport) -> list[str]:
    return [str(f) for f in report.faults]


def copy(pack: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(pack, tmp_path / pack.name))


def test_a_pack_from_before_the_rotation_has_no_history(made: dict[str, Any]) -> None:
    before: Path = made["before"]
    assert not (before / "trail.vkeys").exists()
    listed = [f["name"] for f in orjson.loads((before / "manifest.json").read_bytes())["files"]]
    assert "trail.vkeys" not in listed
    assert verify_pack(before, [made["first"].verifier()]).ok
    later_only = verify_pack(before, [made["second"].verifier()])
    assert not later_only.ok  # signed by the first key, and nothing here joins the second to it
    assert any(
        "checkpoint: does not verify" in f and "carries no key history" in f
        for f in faults(later_only)
    )


def test_a_pack_after_the_rotation_verifies_with_either_key(made: dict[str, Any]) -> None:
    after: Path = made["after"]
    assert (after / "trail.vkeys").read_bytes() == (made["home"] / "trail.vkeys").read_bytes()
    manifest = orjson.loads((after / "manifest.json").read_bytes())
    assert "trail.vkeys" in [f["name"] for f in manifest["files"]]
    assert "trail.vkeys" in (after / "SHA256SUMS").read_text()
    assert "Key history" in (after / "README.md").read_text()
    for key in ("first", "second"):
        report = verify_pack(after, [made[key].verifier()])
        assert report.ok, (key, faults(report))


def test_a_day_packed_again_after_the_rotation_verifies_with_the_first_key(
    made: dict[str, Any],
) -> None:
    """Its checkpoint is the first key's, its manifest the second key's: the carried history
    joins them."""
    again: Path = made["again"]
    assert (again / "trail.vkeys").is_file()
    report = verify_pack(again, [made["first"].verifier()])
    assert report.ok, faults(report)
    assert verify_pack(again, [made["second"].verifier()]).ok


def test_the_cli_takes_the_first_key_alone(made: dict[str, Any]) -> None:
    vkey = made["first"].verifier().vkey()
    result = CliRunner().invoke(main, ["verify-pack", str(made["after"]), "--vkey", vkey])
    assert result.exit_code == 0, result.output


def test_an_unrelated_key_is_refused_and_the_history_named(made: dict[str, Any]) -> None:
    stranger = Signer.generate(ORIGIN).verifier()
    report = verify_pack(made["after"], [stranger])
    assert not report.ok
    found = faults(report)
    assert any(f.startswith("trail.vkeys: does not reach any verifier key given") for f in found)
    assert any(f.startswith("checkpoint: does not verify") for f in found)


def test_a_missing_history_is_a_fault(made: dict[str, Any], tmp_path: Path) -> None:
    pack = copy(made["after"], tmp_path)
    (pack / "trail.vkeys").unlink()
    report = verify_pack(pack, [made["first"].verifier()])
    assert not report.ok
    assert "trail.vkeys: missing (listed in the manifest)" in faults(report)
    assert any(f.startswith("manifest.sig: does not verify") for f in faults(report))


def forged_history(made: dict[str, Any], attacker: Signer) -> str:
    """The pack's history with the second key replaced by `attacker`, vouched for by a
    rotation statement that only the attacker signed (it does not hold the first key)."""
    text = (made["after"] / "trail.vkeys").read_text()
    lines = text.splitlines()
    first, size = made["first"].verifier(), int(lines[-1].split("-")[0])
    statement = rotation_statement(ORIGIN, size, first, attacker.verifier())
    note = base64.b64encode(sign_note(statement, attacker).encode()).decode()
    lines[-1] = f"{size}- {attacker.verifier().vkey()} {note}"
    return "\n".join(lines) + "\n"


def test_a_tampered_history_is_a_fault(made: dict[str, Any], tmp_path: Path) -> None:
    pack = copy(made["after"], tmp_path)
    (pack / "trail.vkeys").write_text(forged_history(made, Signer.generate(ORIGIN)))
    report = verify_pack(pack, [made["first"].verifier()])
    assert not report.ok
    found = faults(report)
    assert any(
        f.startswith("trail.vkeys: key rotation does not verify") and "old key" in f for f in found
    ), found
    assert "trail.vkeys: sha256 differs from the manifest" in found


def test_a_pack_re_signed_with_a_forged_history_is_refused(
    made: dict[str, Any], tmp_path: Path
) -> None:
    """An attacker with a key of their own rewrites the history, the manifest and its
    signature consistently: the first key does not vouch for the attacker's key."""
    attacker = Signer.generate(ORIGIN)
    pack = copy(made["after"], tmp_path)
    history = forged_history(made, attacker).encode()
    (pack / "trail.vkeys").write_bytes(history)
    genuine = (made["after"] / "trail.vkeys").read_bytes()
    data = (pack / "manifest.json").read_text()
    data = data.replace(
        f'"sha256":"{hashlib.sha256(genuine).hexdigest()}","size":{len(genuine)}}}',
        f'"sha256":"{hashlib.sha256(history).hexdigest()}","size":{len(history)}}}',
    )
    assert data != (pack / "manifest.json").read_text()
    (pack / "manifest.json").write_text(data)
    (pack / "manifest.sig").write_text(sign_note(data, attacker))
    cp = parse_note((pack / "checkpoint").read_text()).text
    (pack / "checkpoint").write_text(sign_note(cp, attacker))
    report = verify_pack(pack, [made["first"].verifier()])
    assert not report.ok
    found = faults(report)
    assert any(f.startswith("trail.vkeys: key rotation does not verify") for f in found)
    assert any(f.startswith("manifest.sig: does not verify") for f in found)
    assert any(f.startswith("checkpoint: does not verify") for f in found)
    assert not any(f.startswith("trail.vkeys: sha256") for f in found)  # consistent forgery


def exam(made: dict[str, Any], tmp_path: Path) -> Path:
    out = tmp_path / "exam.zip"
    export_exam(made["home"], DAY1, DAY2, out=out, signing_key=made["second"].skey())
    return out


def test_an_exam_package_after_a_rotation_verifies_with_the_first_key(
    made: dict[str, Any], tmp_path: Path
) -> None:
    """Day 1's pack was made before the rotation (signed by the first key), day 2's after;
    the package carries the history and is signed by the second key."""
    out = exam(made, tmp_path)
    folder = package_folder(DAY1, DAY2)
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        assert f"{folder}/trail.vkeys" in names
        assert f"{folder}/packs/{DAY2}/trail.vkeys" in names
        assert f"{folder}/packs/{DAY1}/trail.vkeys" not in names
    for key in ("first", "second"):
        verifier: Verifier = made[key].verifier()
        report = verify_exam(out, [verifier])
        if key == "second":  # day 1's pack carries no history: the second key cannot reach it
            assert not report.ok
            assert any(f.startswith(f"packs/{DAY1}/checkpoint") for f in map(str, report.faults))
        else:
            assert report.ok, [str(f) for f in report.faults]
            assert report.reports_checked > 0


def test_an_exam_package_checked_with_an_unrelated_key_names_the_history(
    made: dict[str, Any], tmp_path: Path
) -> None:
    out = exam(made, tmp_path)
    report = verify_exam(out, [Signer.generate(ORIGIN).verifier()])
    assert not report.ok
    found = [str(f) for f in report.faults]
    assert any(f.startswith("trail.vkeys: does not reach any verifier key given") for f in found)
    assert any(f.startswith(f"packs/{DAY2}/trail.vkeys: does not reach") for f in found)


def test_a_day_packed_before_the_rotation_is_not_overwritten(made: dict[str, Any]) -> None:
    """Made again after the rotation, day 1's pack differs (it lists the history): the pack
    made before stays as it was, and verifies with the first key."""
    before: Path = made["before"]
    kept = {p.name: p.read_bytes() for p in before.iterdir()}
    with pytest.raises(PackError, match="already exists"):
        export_daily(made["home"], DAY1, signing_key=made["second"].skey())
    assert {p.name: p.read_bytes() for p in before.iterdir()} == kept
