"""Attestation (`tradetrail attest`, `tradetrail attestations`, `verify-pack --attester`) on real
trails and real packs: a demo trail with two sealed days, both packed, copied for each test so
every test starts from an unattested trail."""

from __future__ import annotations

import hashlib
import shutil
import stat
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import Result

from conftest import copy_demo_trail
from helpers import run
from tradetrail.compliance.attest import (
    AttestDateError,
    AttestKeyError,
    AttestNameError,
    NoPackError,
    PackInvalidError,
    PartialPackError,
    attest,
    list_attestations,
    parse_subject,
)
from tradetrail.core.note import (
    NoteSignature,
    Signer,
    Verifier,
    add_signatures,
    open_note,
    parse_note,
)
from tradetrail.export import export_daily
from tradetrail.store.keys import DEFAULT_KEY_FILE, VKEY_FILE, read_vkey
from tradetrail.verify.pack import verify_pack

TODAY = datetime(2024, 3, 6, tzinfo=UTC)
DAY1, DAY2, OPEN_DAY = "2024-03-04", "2024-03-05", "2024-03-06"
OFFICER = "cco.example.com/jane"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, demo_trail_template: Path) -> Iterator[Path]:
    """A copy of the session's demo trail with the packs of both sealed days made."""
    home = copy_demo_trail(demo_trail_template, tmp_path_factory.mktemp("attest") / "trail")
    export_daily(home, DAY1, today=TODAY.date())
    export_daily(home, DAY2, today=TODAY.date())
    yield home


@pytest.fixture
def home(base: Path, tmp_path: Path) -> Path:
    """A private copy of the trail and its packs."""
    copy = tmp_path / "trail"
    shutil.copytree(base, copy)
    return copy


@pytest.fixture
def officer(tmp_path: Path) -> tuple[Path, Path]:
    """The officer's key pair, made with `tradetrail keygen`: (private key file, vkey file)."""
    result = run("keygen", "--name", OFFICER, "--out", tmp_path / "keys")
    assert result.exit_code == 0, result.output
    key = tmp_path / "keys" / "cco.example.com_jane.key"
    vkey = tmp_path / "keys" / "cco.example.com_jane.vkey"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert vkey.read_text().strip() in result.output
    return key, vkey


def pack(home: Path, day: str) -> Path:
    return home / "exports" / "daily" / day


def do_attest(home: Path, key: Path, day: str = DAY1, *extra: Any) -> Result:
    return run("attest", "--home", home, "--date", day, "--by", OFFICER, "--key", key, *extra)


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def attestation_events(home: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted((home / "journal").iterdir()):
        for line in path.read_bytes().splitlines():
            rec = orjson.loads(line)
            if rec["type"] == "compliance.attestation":
                found.append(rec)
    return found


def listing(home: Path, start: str = DAY1, end: str = DAY2) -> tuple[int, dict[str, Any]]:
    result = run("attestations", "--home", home, "--from", start, "--to", end, "--json")
    report: dict[str, Any] = orjson.loads(result.stdout)
    return result.exit_code, report


def verify(home: Path, day: str, *extra: Any) -> Result:
    args = ["verify-pack", pack(home, day), "--vkey", home / VKEY_FILE, *extra]
    return run(*args)


# ------------------------------------------------------------------------------ attest


def test_attest_cosigns_the_manifest_and_records_the_event(
    home: Path, officer: tuple[Path, Path]
) -> None:
    key, vkey_path = officer
    before = snapshot(pack(home, DAY1))
    result = do_attest(home, key)
    assert result.exit_code == 0, result.output
    assert f"attested {DAY1} as {OFFICER}" in result.output
    after = snapshot(pack(home, DAY1))
    assert set(after) == set(before)
    changed = [name for name in before if before[name] != after[name]]
    assert changed == ["manifest.sig"], "the rest of the pack stays byte for byte"

    officer_key = Verifier.from_vkey(vkey_path.read_text().strip())
    trail_key = read_vkey(home / VKEY_FILE)
    signed = after["manifest.sig"].decode()
    note, verified = open_note(signed, [trail_key, officer_key])
    assert verified == [trail_key, officer_key]
    assert [s.name for s in note.signatures] == [trail_key.name, OFFICER]
    assert signed.startswith(before["manifest.sig"].decode()), "the trail's signature stays first"

    (event,) = attestation_events(home)
    digest = hashlib.sha256(after["manifest.json"]).hexdigest()
    data = event["data"]
    assert event["actor"] == OFFICER
    assert data["digest"] == f"sha256:{digest}"
    assert data["period_start"] == data["period_end"] == DAY1
    assert DAY1 in data["statement"] and "certify" in data["statement"]
    assert data["subject"] == f"daily_pack:{DAY1}" and parse_subject(data["subject"]) == (
        DAY1,
        None,
    )
    assert data["signer_key"] == officer_key.vkey()
    assert "schema_error" not in event and "redacted" not in event
    assert f"recorded as seq {event['seq']}" in result.output


def test_a_statement_of_ones_own_is_recorded(home: Path, officer: tuple[Path, Path]) -> None:
    words = "Reviewed; two late fills explained in ticket COMP-12."
    result = do_attest(home, officer[0], DAY2, "--statement", words, "--json")
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert report["statement"] == words and report["signed"] and report["seq"] is not None
    assert attestation_events(home)[0]["data"]["statement"] == words


def test_attesting_twice_changes_nothing(home: Path, officer: tuple[Path, Path]) -> None:
    assert do_attest(home, officer[0]).exit_code == 0
    journal = snapshot(home / "journal")
    signed = (pack(home, DAY1) / "manifest.sig").read_bytes()
    again = do_attest(home, officer[0])
    assert again.exit_code == 0, again.output
    assert "already attested" in again.output
    assert (pack(home, DAY1) / "manifest.sig").read_bytes() == signed
    assert len(attestation_events(home)) == 1
    assert snapshot(home / "journal") == journal, "not even a record"
    other = do_attest(home, officer[0], DAY1, "--statement", "something else")
    assert other.exit_code == 0 and "another statement" in other.output


def test_a_second_officer_adds_a_third_signature(home: Path, officer: tuple[Path, Path]) -> None:
    assert do_attest(home, officer[0]).exit_code == 0
    deputy = Signer.generate("cco.example.com/deputy")
    (home.parent / "deputy.key").write_text(deputy.skey() + "\n")
    (home.parent / "deputy.key").chmod(0o600)
    result = run(
        "attest", "--home", home, "--date", DAY1, "--by", deputy.name,
        "--key", home.parent / "deputy.key",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(parse_note((pack(home, DAY1) / "manifest.sig").read_text()).signatures) == 3
    code, report = listing(home, DAY1, DAY1)
    assert code == 0
    assert {a["by"] for a in report["days"][0]["attestations"]} == {OFFICER, deputy.name}


def test_re_exporting_an_attested_pack_keeps_the_attestation(
    home: Path, officer: tuple[Path, Path]
) -> None:
    assert do_attest(home, officer[0]).exit_code == 0
    signed = (pack(home, DAY1) / "manifest.sig").read_bytes()
    assert not export_daily(home, DAY1).created
    result = run("export", "daily", "--home", home, "--date", DAY1, "--json")
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["created"] is False
    assert (pack(home, DAY1) / "manifest.sig").read_bytes() == signed
    assert verify(home, DAY1, "--attester", officer[1]).exit_code == 0


# ------------------------------------------------------------------------------ verify-pack


def test_verify_pack_checks_the_attester_when_given(home: Path, officer: tuple[Path, Path]) -> None:
    assert do_attest(home, officer[0]).exit_code == 0
    plain = verify(home, DAY1)
    assert plain.exit_code == 0, plain.output
    assert "not checked" in plain.output and OFFICER in plain.output
    checked = verify(home, DAY1, "--attester", officer[1])
    assert checked.exit_code == 0, checked.output
    assert f"attestation {OFFICER}" in checked.output and "verified" in checked.output
    report = orjson.loads(verify(home, DAY1, "--attester", officer[1], "--json").stdout)
    assert report["attested_by"] == [OFFICER]
    roles = {(s["role"], s["status"]) for s in report["signatures"]}
    assert roles == {("trail", "verified"), ("attester", "verified")}
    assert any("attested by" in s for s in report["established"])
    unknown = orjson.loads(verify(home, DAY1, "--json").stdout)["signatures"]
    assert {(s["name"], s["status"]) for s in unknown if s["role"] == "unknown"} == {
        (OFFICER, "not checked")
    }


def test_verify_pack_faults_a_given_attester_that_did_not_sign(
    home: Path, officer: tuple[Path, Path]
) -> None:
    result = verify(home, DAY2, "--attester", officer[1], "--json")
    assert result.exit_code == 1, result.output
    faults = orjson.loads(result.stdout)["faults"]
    assert any(
        f["file"] == "manifest.sig" and "no attestation signature by" in f["message"]
        for f in faults
    )
    bad = verify(home, DAY2, "--attester", "not-a-key")
    assert bad.exit_code == 2 and "--attester" in bad.output


def test_an_officer_key_never_stands_in_for_the_trail_key(
    home: Path, officer: tuple[Path, Path]
) -> None:
    assert do_attest(home, officer[0]).exit_code == 0
    sig = pack(home, DAY1) / "manifest.sig"
    note = parse_note(sig.read_text())
    sig.write_text(note.text + "\n" + note.signatures[1].line())  # the trail's signature dropped
    result = verify(home, DAY1, "--attester", officer[1], "--json")
    assert result.exit_code == 1
    faults = orjson.loads(result.stdout)["faults"]
    assert any(f["file"] == "manifest.sig" and "does not verify" in f["message"] for f in faults)


def test_a_tampered_attestation_signature_is_caught(home: Path, officer: tuple[Path, Path]) -> None:
    assert do_attest(home, officer[0]).exit_code == 0
    sig = pack(home, DAY1) / "manifest.sig"
    note = parse_note(sig.read_text())
    trail_sig, mine = note.signatures
    flipped = bytes([mine.signature[0] ^ 1]) + mine.signature[1:]
    forged = NoteSignature(mine.name, mine.key_id, flipped)
    sig.write_text(note.text + "\n" + trail_sig.line() + forged.line())
    result = verify(home, DAY1, "--attester", officer[1], "--json")
    assert result.exit_code == 1
    report = orjson.loads(result.stdout)
    assert report["attested_by"] == []
    assert any("attestation signature by" in f["message"] for f in report["faults"])
    assert verify(home, DAY1).exit_code == 0, "without the officer's key it is not checked"
    code, listed = listing(home)
    assert code == 1
    day = listed["days"][0]
    assert day["flagged"] and day["attestations"][0]["status"] == "signature invalid"
    repaired = do_attest(home, officer[0])  # the officer signs again: the bad one is replaced
    assert repaired.exit_code == 0 and "replaced" in repaired.output
    assert len(attestation_events(home)) == 1
    assert verify(home, DAY1, "--attester", officer[1]).exit_code == 0


# ------------------------------------------------------------------------------ attestations


def test_attestations_flags_a_day_without_one(home: Path, officer: tuple[Path, Path]) -> None:
    code, report = listing(home)
    assert code == 1 and report["flagged"] == [DAY1, DAY2]
    assert do_attest(home, officer[0], DAY1).exit_code == 0
    code, report = listing(home)
    assert code == 1 and report["flagged"] == [DAY2]
    first = report["days"][0]
    assert first["status"] == "attested" and first["attestations"][0]["status"] == "verified"
    assert first["attestations"][0]["by"] == OFFICER
    assert report["days"][1]["status"] == "missing"
    text = run("attestations", "--home", home, "--from", DAY1, "--to", DAY2)
    assert text.exit_code == 1 and "1 day(s) flagged" in text.output and DAY2 in text.output
    assert do_attest(home, officer[0], DAY2).exit_code == 0
    code, report = listing(home)
    assert code == 0 and report["ok"] and report["flagged"] == []
    text = run("attestations", "--home", home, "--from", DAY1, "--to", DAY2)
    assert text.exit_code == 0 and "every sealed day" in text.output


def test_attestations_flags_a_signature_missing_from_the_pack(
    home: Path, officer: tuple[Path, Path]
) -> None:
    sig = pack(home, DAY1) / "manifest.sig"
    original = sig.read_text()
    assert do_attest(home, officer[0]).exit_code == 0
    sig.write_text(original)  # the officer's signature lost (say, the pack was restored)
    code, report = listing(home, DAY1, DAY1)
    assert code == 1
    day = report["days"][0]
    assert day["status"] == "missing" and day["attestations"][0]["status"] == "signature missing"
    assert any("signature missing" in p for p in day["problems"])
    result = do_attest(home, officer[0])  # restores the signature, records nothing new
    assert result.exit_code == 0 and "restored" in result.output
    assert len(attestation_events(home)) == 1
    assert listing(home, DAY1, DAY1)[0] == 0


def test_attestations_flags_a_pack_changed_after_attesting(
    home: Path, officer: tuple[Path, Path]
) -> None:
    assert do_attest(home, officer[0]).exit_code == 0
    shutil.rmtree(pack(home, DAY1))
    code, report = listing(home, DAY1, DAY1)
    assert code == 1
    assert report["days"][0]["attestations"][0]["status"] == "signature missing"
    assert any("no pack" in p for p in report["days"][0]["problems"])


def test_an_unrecorded_signature_is_listed_not_flagged(
    home: Path, officer: tuple[Path, Path]
) -> None:
    assert do_attest(home, officer[0]).exit_code == 0
    sig = pack(home, DAY1) / "manifest.sig"
    stranger = Signer.generate("someone.else")
    sig.write_text(add_signatures(sig.read_text(), stranger))
    code, report = listing(home, DAY1, DAY1)
    assert code == 0
    assert report["days"][0]["unrecorded_signatures"] == [f"someone.else+{stranger.key_id.hex()}"]


def test_attestations_skips_open_days_and_days_before_the_trail(home: Path) -> None:
    report = list_attestations(home, "2024-03-01", OPEN_DAY, today=TODAY.date())
    status = {d.date: d.status for d in report.days}
    assert status["2024-03-01"] == "before trail" and status[OPEN_DAY] == "open"
    assert [d.date for d in report.days if d.flagged] == [DAY1, DAY2]
    default = list_attestations(home, today=TODAY.date())
    assert (default.start, default.end) == (DAY1, DAY2)


def test_attestations_refuses_bad_ranges(home: Path) -> None:
    for args, message in (
        (("--from", "2024-13-01"), "--from"),
        (("--to", "03/05/2024"), "--to"),
        (("--from", DAY2, "--to", DAY1), "is after"),
        (("--from", "2999-01-01"), "future"),
    ):
        result = run("attestations", "--home", home, *args)
        assert result.exit_code == 2, result.output
        assert message in result.output
    # a range reaching into the future ends today, with a note (a month listed mid-month)
    clamped = run("attestations", "--home", home, "--to", "2999-01-01", "--json")
    assert "is in the future; the range ends today" in clamped.stderr


# ------------------------------------------------------------------------------ refusals


def test_refuses_a_day_without_a_pack(home: Path, officer: tuple[Path, Path]) -> None:
    shutil.rmtree(pack(home, DAY2))
    result = do_attest(home, officer[0], DAY2)
    assert result.exit_code == 2
    assert "no daily pack" in result.output and f"tradetrail export daily --date {DAY2}" in (
        result.output.replace("\n", " ")
    )
    assert attestation_events(home) == []


def test_refuses_a_partial_pack(home: Path, officer: tuple[Path, Path]) -> None:
    export_daily(home, OPEN_DAY, partial=True, today=TODAY.date())
    with pytest.raises(PartialPackError, match="partial"):
        attest(home, OPEN_DAY, by=OFFICER, signer=Signer.generate(OFFICER), today=TODAY.date())
    partial = pack(home, f"{OPEN_DAY}.partial")
    shutil.move(partial, pack(home, OPEN_DAY))  # a partial pack moved where a full one goes
    with pytest.raises(PartialPackError, match="partial pack"):
        attest(home, OPEN_DAY, by=OFFICER, signer=Signer.generate(OFFICER), today=TODAY.date())


def test_refuses_a_pack_the_trail_key_did_not_sign(home: Path, officer: tuple[Path, Path]) -> None:
    sig = pack(home, DAY1) / "manifest.sig"
    original = sig.read_text()
    text = parse_note(original).text
    impostor = Signer.generate(read_vkey(home / VKEY_FILE).name)
    forged = parse_note(add_signatures(original, impostor)).signatures[1]
    sig.write_text(text + "\n" + forged.line())
    result = do_attest(home, officer[0])
    assert result.exit_code == 1
    assert "does not verify against the trail's key" in result.output
    assert attestation_events(home) == []


def test_refuses_a_manifest_changed_after_signing(home: Path, officer: tuple[Path, Path]) -> None:
    manifest = pack(home, DAY1) / "manifest.json"
    manifest.write_bytes(manifest.read_bytes().replace(b'"records":', b'"records": '))
    result = do_attest(home, officer[0])
    assert result.exit_code == 1 and "changed after signing" in result.output


def test_refuses_a_pack_that_does_not_verify(home: Path, officer: tuple[Path, Path]) -> None:
    blotter = pack(home, DAY1) / "blotter.csv"
    blotter.write_bytes(blotter.read_bytes().replace(b"\r\n", b"\r\nx,", 1)[:-2] + b"\r\n")
    signed = (pack(home, DAY1) / "manifest.sig").read_bytes()
    result = do_attest(home, officer[0])
    assert result.exit_code == 1, result.output
    assert "does not verify" in result.output and "blotter.csv" in result.output
    assert (pack(home, DAY1) / "manifest.sig").read_bytes() == signed
    assert attestation_events(home) == []


def test_refuses_a_name_other_than_the_keys(home: Path, officer: tuple[Path, Path]) -> None:
    result = run(
        "attest", "--home", home, "--date", DAY1, "--by", "someone.else", "--key", officer[0]
    )
    assert result.exit_code == 2
    assert "--by 'someone.else' is not the name of the key" in result.output
    with pytest.raises(AttestNameError):
        attest(home, DAY1, by="x", signer=Signer.generate(OFFICER), today=TODAY.date())


def test_refuses_the_trails_own_key(home: Path) -> None:
    trail_key = home / DEFAULT_KEY_FILE
    name = read_vkey(home / VKEY_FILE).name
    result = run("attest", "--home", home, "--date", DAY1, "--by", name, "--key", trail_key)
    assert result.exit_code == 2 and "trail's own signing key" in result.output
    with pytest.raises(AttestKeyError):
        attest(home, DAY1, by=name, signer=Signer.from_skey(trail_key.read_text().strip()))


def test_refuses_an_unreadable_or_malformed_key(home: Path, tmp_path: Path) -> None:
    result = do_attest(home, tmp_path / "missing.key")
    assert result.exit_code == 2 and "--key" in result.output and "cannot read" in result.output
    (tmp_path / "bad.key").write_text("PRIVATE+KEY+nonsense\n")
    result = do_attest(home, tmp_path / "bad.key")
    assert result.exit_code == 2 and "--key" in result.output


@pytest.mark.parametrize(
    ("day", "message"),
    [
        ("2024-02-30", "day is out of range"),
        ("last tuesday", "expected YYYY-MM-DD"),
        ("2024-3-4", "expected YYYY-MM-DD"),
        ("2999-01-01", "in the future"),
    ],
)
def test_refuses_bad_dates(home: Path, officer: tuple[Path, Path], day: str, message: str) -> None:
    result = do_attest(home, officer[0], day)
    assert result.exit_code == 2, result.output
    assert message in result.output and "--date" in result.output
    with pytest.raises(AttestDateError):
        attest(home, day, by=OFFICER, signer=Signer.generate(OFFICER), today=date(2024, 3, 6))


def test_refuses_an_empty_statement(home: Path, officer: tuple[Path, Path]) -> None:
    result = do_attest(home, officer[0], DAY1, "--statement", "  ")
    assert result.exit_code == 2 and "--statement is empty" in result.output


@pytest.mark.embedded
def test_a_busy_trail_queues_the_event_once(home: Path, officer: tuple[Path, Path]) -> None:
    from tradetrail.writer.trail import open as open_trail

    writer = open_trail(home)  # a running trading process holds the trail
    try:
        result = do_attest(home, officer[0], DAY1, "--json")
        assert result.exit_code == 0, result.output
        report = orjson.loads(result.stdout)
        assert report["queued"] is True and report["seq"] is None and report["signed"]
        again = do_attest(home, officer[0], DAY1, "--json")
        assert again.exit_code == 0, again.output
        assert orjson.loads(again.stdout)["already_attested"] is True, "not queued twice"
        assert "event queued" in do_attest(home, officer[0]).output
    finally:
        writer.close()
    open_trail(home).close()  # the next open journals what was queued
    (event,) = attestation_events(home)
    assert event["actor"] == OFFICER
    assert listing(home, DAY1, DAY1)[0] == 0


def test_library_refusals_name_what_is_wrong(home: Path) -> None:
    with pytest.raises(NoPackError, match="tradetrail export daily --date 2024-03-01"):
        attest(home, "2024-03-01", by=OFFICER, signer=Signer.generate(OFFICER))
    (pack(home, DAY1) / "manifest.sig").unlink()
    with pytest.raises(PackInvalidError, match=r"manifest\.sig is missing"):
        attest(home, DAY1, by=OFFICER, signer=Signer.generate(OFFICER))


def test_verify_pack_library_lists_every_signature(home: Path) -> None:
    trail_key = read_vkey(home / VKEY_FILE)
    jane = Signer.generate(OFFICER)
    attest(home, DAY1, by=OFFICER, signer=jane, today=TODAY.date())
    report = verify_pack(pack(home, DAY1), [trail_key], attesters=[jane.verifier()])
    assert report.ok and report.attested_by == [OFFICER]
    other = Signer.generate(OFFICER)  # same name, another key: a different key id
    report = verify_pack(pack(home, DAY1), [trail_key], attesters=[other.verifier()])
    assert not report.ok
    assert [s["status"] for s in report.signatures] == ["verified", "not checked"]


def test_a_failed_record_leaves_the_pack_unsigned(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tradetrail.compliance.attest

    def broken(*_args: Any) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tradetrail.compliance.attest, "_record_event", broken)
    signed = (pack(home, DAY1) / "manifest.sig").read_bytes()
    with pytest.raises(OSError, match="No space"):
        attest(home, DAY1, by=OFFICER, signer=Signer.generate(OFFICER))
    assert (pack(home, DAY1) / "manifest.sig").read_bytes() == signed, "no signature unrecorded"
