"""`tradetrail verify-pack`: a good pack passes; each kind of tampering is reported with its file
and row or line; exit codes 0/1/2; and the pack's README tells the truth (its stand-alone check
script runs, and `sha256sum -c SHA256SUMS` passes)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

from conftest import copy_demo_trail
from helpers import FIXTURES
from tradetrail.cli import main
from tradetrail.compliance.exam import export_exam
from tradetrail.compliance.verify_exam import verify_exam
from tradetrail.core.note import Signer, add_signatures, sign_note
from tradetrail.core.pack import CHECK_SCRIPT, manifest_bytes, sha256sums
from tradetrail.core.packscan import run_passes, tables_pass
from tradetrail.core.packtables import DERIVED_FILES, DayTables
from tradetrail.export import export_daily
from tradetrail.store.keys import VKEY_FILE, load_or_create_signer, read_vkey
from tradetrail.verify.pack import PackUsageError, verify_pack

TODAY = datetime(2024, 3, 6, tzinfo=UTC)
DAY1, DAY2 = "2024-03-04", "2024-03-05"


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory, demo_trail_template: Path) -> Iterator[Path]:
    """A copy of the session's demo trail with the packs of both sealed days made."""
    home = copy_demo_trail(demo_trail_template, tmp_path_factory.mktemp("verify-pack") / "trail")
    export_daily(home, DAY1)
    export_daily(home, DAY2)
    yield home


@pytest.fixture
def pack(trail: Path, tmp_path: Path) -> Path:
    """A writable copy of day 2's pack."""
    copy = tmp_path / "pack"
    shutil.copytree(trail / "exports" / "daily" / DAY2, copy)
    return copy


def vkey_file(trail: Path) -> Path:
    return trail / VKEY_FILE


def check(trail: Path, path: Path, *extra: Any) -> Result:
    args = ["verify-pack", str(path), "--vkey", str(vkey_file(trail)), *map(str, extra)]
    return CliRunner().invoke(main, args)


def faults(trail: Path, path: Path) -> list[dict[str, Any]]:
    result = check(trail, path, "--json")
    assert result.exit_code == 1, result.output
    report = orjson.loads(result.stdout)
    assert report["ok"] is False and report["fault_count"] >= 1
    found: list[dict[str, Any]] = report["faults"]
    return found


# ------------------------------------------------------------------------------ good packs


def test_a_good_pack_passes(trail: Path, pack: Path) -> None:
    result = check(trail, pack)
    assert result.exit_code == 0, result.output
    assert f"OK: pack {DAY2}" in result.output
    result = check(trail, pack, "--json")
    report = orjson.loads(result.stdout)
    assert report["ok"] is True and report["faults"] == []
    assert report["records"] == orjson.loads((pack / "manifest.json").read_bytes())["records"]
    assert any("every line is in the signed tree" in s for s in report["established"])
    assert any("previous day's checkpoint" in s for s in report["established"])
    vkey_text = vkey_file(trail).read_text().strip()
    assert CliRunner().invoke(main, ["verify-pack", str(pack), "--vkey", vkey_text]).exit_code == 0


def test_an_attestation_signature_by_another_key_is_fine(trail: Path, pack: Path) -> None:
    sig = pack / "manifest.sig"
    sig.write_text(add_signatures(sig.read_text(), Signer.generate("compliance.example/cco")))
    assert check(trail, pack).exit_code == 0


def test_both_passes_agree_in_one_process_and_in_two(trail: Path, tmp_path: Path) -> None:
    """The tree pass runs in a second process for large days: same result either way."""
    events = trail / "exports" / "daily" / DAY1 / "events.jsonl"
    results = []
    for parallel in (False, True):
        (tmp_path / str(parallel)).mkdir()
        tables = DayTables(tmp_path / str(parallel), DAY1)
        scan = run_passes(
            events, limit=None, start=0, frontier=[], day=DAY1, tables=tables, parallel=parallel
        )
        results.append((scan, tables.finish()))
    assert results[0] == results[1]


# ------------------------------------------------------------------------------ tampering


def test_a_changed_byte_in_events_jsonl_is_located(trail: Path, pack: Path) -> None:
    path = pack / "events.jsonl"
    lines = path.read_bytes().split(b"\n")
    number = 40  # 1-based
    lines[number - 1] = lines[number - 1].replace(b'"seq":', b'"seq": ', 1)
    path.write_bytes(b"\n".join(lines))
    found = faults(trail, pack)
    events = [f for f in found if f["file"] == "events.jsonl"]
    assert any(f["line"] == number and "altered" in f["message"] for f in events), events
    assert any("sha256 differs" in f["message"] for f in events)
    assert any("not the signed checkpoint" in f["message"] for f in events)
    assert not [f for f in found if f["file"].endswith(".csv")], "the tables are not blamed"


def test_a_changed_value_in_the_last_line_is_located(trail: Path, pack: Path) -> None:
    path = pack / "events.jsonl"
    data = bytearray(path.read_bytes())
    count = data.count(b"\n")
    digit = data.rindex(b'Z","type":"') - 1  # the last digit of the last record's ts
    data[digit] = ord("1") if data[digit] != ord("1") else ord("2")
    path.write_bytes(bytes(data))
    found = faults(trail, pack)
    assert any(
        f["file"] == "events.jsonl" and f["line"] == count and "last record" in f["message"]
        for f in found
    ), found


def test_an_edited_csv_cell_is_located(trail: Path, pack: Path) -> None:
    path = pack / "fills.csv"
    text = path.read_bytes().decode()
    rows = text.split("\r\n")
    header = rows[0].split(",")
    column = header.index("fill_price")
    target = 3  # the third data row: spreadsheet row 4
    cells = rows[target].split(",")
    original = cells[column]
    cells[column] = original + "1"
    rows[target] = ",".join(cells)
    path.write_bytes("\r\n".join(rows).encode())
    found = faults(trail, pack)
    assert {"file": "fills.csv", "row": None, "line": None, "column": None} | {
        "message": "sha256 differs from the manifest"
    } in found
    [cell] = [f for f in found if f["file"] == "fills.csv" and f["column"]]
    assert cell["row"] == target + 1 and cell["column"] == "fill_price"
    assert repr(original) in cell["message"] and repr(original + "1") in cell["message"]
    result = check(trail, pack)
    assert f"fills.csv row {target + 1} column fill_price" in result.output


def test_an_added_jsonl_line_is_located(trail: Path, pack: Path) -> None:
    path = pack / "alerts.jsonl"
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join([*lines[:-1], lines[0], b""]))
    found = faults(trail, pack)
    assert any(f["file"] == "alerts.jsonl" and f["line"] == len(lines) for f in found), found


def test_a_deleted_file_is_reported(trail: Path, pack: Path) -> None:
    (pack / "nav.csv").unlink()
    found = faults(trail, pack)
    assert found == [
        {
            "file": "nav.csv",
            "message": "missing (listed in the manifest)",
            "line": None,
            "row": None,
            "column": None,
        }
    ]


def test_an_extra_file_is_reported(trail: Path, pack: Path) -> None:
    (pack / "notes.txt").write_text("added later")
    found = faults(trail, pack)
    assert [f["file"] for f in found] == ["notes.txt"]


def test_a_changed_manifest_is_reported(trail: Path, pack: Path) -> None:
    path = pack / "manifest.json"
    manifest = orjson.loads(path.read_bytes())
    manifest["summary"]["orders"] += 1
    path.write_bytes(orjson.dumps(manifest, option=orjson.OPT_SORT_KEYS) + b"\n")
    found = faults(trail, pack)
    assert any(
        f["file"] == "manifest.json" and "changed after signing" in f["message"] for f in found
    )
    assert {f["file"] for f in found} == {"manifest.json"}  # the rest agrees with the signed one


def test_a_manifest_signed_by_another_key_is_reported(trail: Path, pack: Path) -> None:
    path = pack / "manifest.json"
    manifest = orjson.loads(path.read_bytes())
    manifest["trading"] = False
    text = orjson.dumps(manifest, option=orjson.OPT_SORT_KEYS).decode() + "\n"
    path.write_text(text)
    forger = Signer.generate("demo.tradetrail.local/simulated-desk")
    (pack / "manifest.sig").write_text(sign_note(text, forger))
    found = faults(trail, pack)
    assert any(
        f["file"] == "manifest.sig" and "no signature by a known key" in f["message"] for f in found
    ), found
    # the unsigned manifest is still checked, and its false statement named
    assert any(f["file"] == "manifest.json" and "trading" in f["message"] for f in found)


def test_a_swapped_checkpoint_is_reported(trail: Path, pack: Path) -> None:
    shutil.copy(trail / "exports" / "daily" / DAY1 / "checkpoint", pack / "checkpoint")
    found = faults(trail, pack)
    messages = [f["message"] for f in found if f["file"] == "checkpoint"]
    assert any("the manifest names" in m for m in messages), found
    assert all(f["file"] == "checkpoint" for f in found), "the rest is checked against the proofs"


def test_a_forged_checkpoint_is_reported(trail: Path, pack: Path) -> None:
    text = (pack / "checkpoint").read_text()
    body = text[: text.index("\n\n") + 1]
    forged = sign_note(body, Signer.generate("demo.tradetrail.local/simulated-desk"))
    (pack / "checkpoint").write_text(forged)
    found = faults(trail, pack)
    assert any(f["file"] == "checkpoint" and "does not verify" in f["message"] for f in found), (
        found
    )


def test_a_broken_proof_is_reported(trail: Path, pack: Path) -> None:
    path = pack / "proofs.json"
    proofs = orjson.loads(path.read_bytes())
    proofs["last"]["hashes"][0] = "00" * 32
    path.write_bytes(orjson.dumps(proofs))
    found = faults(trail, pack)
    assert any(f["file"] == "proofs.json" and f["message"].startswith("last:") for f in found)


# ------------------------------------------------------------------------------ exit 2


def test_usage_errors_exit_2(trail: Path, pack: Path, tmp_path: Path) -> None:
    assert check(trail, tmp_path / "nowhere").exit_code == 2
    (tmp_path / "empty").mkdir()
    result = check(trail, tmp_path / "empty")
    assert result.exit_code == 2 and "not a pack" in result.output
    result = CliRunner().invoke(main, ["verify-pack", str(pack), "--vkey", "not-a-key+zz+abc"])
    assert result.exit_code == 2
    result = CliRunner().invoke(main, ["verify-pack", str(pack)])
    assert result.exit_code == 2 and "--vkey" in result.output
    with pytest.raises(PackUsageError):
        verify_pack(pack, [])


def test_a_key_that_signed_nothing_here_is_a_fault_not_a_usage_error(
    trail: Path, pack: Path
) -> None:
    other = Signer.generate("someone.else/log").verifier().vkey()
    result = CliRunner().invoke(main, ["verify-pack", str(pack), "--vkey", other])
    assert result.exit_code == 1
    assert "manifest.sig" in result.output and "checkpoint" in result.output


# ------------------------------------------------------------------------------ the README


def readme_script(pack: Path) -> str:
    readme = (pack / "README.md").read_text()
    [script] = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert script == CHECK_SCRIPT
    return script


def run_script(
    script: str, tmp_path: Path, pack: Path, vkey: str
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "check_pack.py"
    path.write_text(script)
    return subprocess.run(
        [sys.executable, "-I", str(path), str(pack), vkey],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_readme_script_checks_a_pack_without_tradetrail(trail: Path, tmp_path: Path) -> None:
    vkey = vkey_file(trail).read_text().strip()
    for day in (DAY1, DAY2):
        pack = trail / "exports" / "daily" / day
        script = readme_script(pack)
        assert "tradetrail" not in script.replace("trail.vkey", "")
        done = run_script(script, tmp_path, pack, vkey)
        assert done.returncode == 0, done.stderr
        records = orjson.loads((pack / "manifest.json").read_bytes())["records"]
        assert done.stdout.strip() == f"OK: {day}: {records} records, 15 files"
    done = run_script(readme_script(pack), tmp_path, pack, str(vkey_file(trail)))
    assert done.returncode == 0, done.stderr  # the key file works too


@pytest.mark.parametrize("tamper", ["event", "checkpoint", "manifest", "key"])
def test_the_readme_script_fails_on_a_tampered_pack(
    trail: Path, pack: Path, tmp_path: Path, tamper: str
) -> None:
    vkey = vkey_file(trail).read_text().strip()
    if tamper == "event":
        path = pack / "events.jsonl"
        path.write_bytes(path.read_bytes().replace(b'"fill_qty":"', b'"fill_qty":"9', 1))
        manifest = orjson.loads((pack / "manifest.json").read_bytes())
        # even with the manifest's hash "fixed", the Merkle root gives it away
        for entry in manifest["files"]:
            if entry["name"] == "events.jsonl":
                import hashlib

                data = path.read_bytes()
                entry["sha256"], entry["size"] = hashlib.sha256(data).hexdigest(), len(data)
        text = orjson.dumps(manifest, option=orjson.OPT_SORT_KEYS).decode() + "\n"
        (pack / "manifest.json").write_text(text)
        signer = Signer.from_skey((trail / "signing.key").read_text().strip())
        (pack / "manifest.sig").write_text(sign_note(text, signer))
    elif tamper == "checkpoint":
        shutil.copy(trail / "exports" / "daily" / DAY1 / "checkpoint", pack / "checkpoint")
    elif tamper == "manifest":
        path = pack / "manifest.json"
        path.write_bytes(path.read_bytes().replace(b'"trading":true', b'"trading":false'))
    else:
        vkey = Signer.generate("demo.tradetrail.local/simulated-desk").verifier().vkey()
    done = run_script(readme_script(pack), tmp_path, pack, vkey)
    assert done.returncode != 0


def test_sha256sums_checks_with_coreutils(trail: Path, pack: Path) -> None:
    if shutil.which("sha256sum") is None:
        pytest.skip("no sha256sum on this system")
    ok = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=pack, capture_output=True, text=True, check=False
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count(": OK") == 16  # 15 listed files and manifest.json
    (pack / "orders.csv").write_bytes((pack / "orders.csv").read_bytes() + b"x")
    bad = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=pack, capture_output=True, text=True, check=False
    )
    assert bad.returncode == 1 and "orders.csv: FAILED" in bad.stdout


# ------------------------------------------------------------------------------ format /1

FIXTURE = FIXTURES / "pack_v1"
"""A tiny trail and its pack of 2024-03-01 in format /1, made by the code of that format
(tests/fixtures/make_pack_v1.py): no corrections.csv, nav and position cells like ''=x."""
V1_DAY = "2024-03-01"


@pytest.fixture
def v1(tmp_path: Path) -> Path:
    """A writable copy of the format /1 fixture: <copy>/trail and <copy>/pack."""
    copy = tmp_path / "v1"
    shutil.copytree(FIXTURE, copy)
    # the writer leaves a sealed day read-only; a checkout does not keep the mode
    (copy / "trail" / "journal" / f"audit-{V1_DAY.replace('-', '')}.jsonl").chmod(0o444)
    return copy


def v1_check(v1: Path, *extra: Any) -> Result:
    args = ["verify-pack", str(v1 / "pack"), "--vkey", str(v1 / "trail" / VKEY_FILE)]
    return CliRunner().invoke(main, [*args, *map(str, extra)])


def test_a_format_1_pack_made_by_the_old_code_verifies(v1: Path) -> None:
    pack_dir = v1 / "pack"
    manifest = orjson.loads((pack_dir / "manifest.json").read_bytes())
    assert manifest["format"] == "tradetrail.daily-pack/1"
    assert not (pack_dir / "corrections.csv").exists()
    assert "compliance.record_corrected" in manifest["summary"]["events_by_type"]
    assert b"''@acc" in (pack_dir / "nav.csv").read_bytes(), "the /1 double neutralisation"
    assert b"''+XS" in (pack_dir / "positions.csv").read_bytes()
    report = verify_pack(pack_dir, [read_vkey(v1 / "trail" / VKEY_FILE)])
    assert report.ok, [str(f) for f in report.faults]
    assert report.records == manifest["records"] == 5
    assert any("format /1" in w and "corrections.csv" in w for w in report.warnings)
    result = v1_check(v1)
    assert result.exit_code == 0, result.output
    assert "format /1" in result.output


def test_format_1_derived_files_are_rebuilt_byte_for_byte(v1: Path, tmp_path: Path) -> None:
    events = v1 / "pack" / "events.jsonl"
    for version in (1, 2):
        (tmp_path / str(version)).mkdir()
        tables = DayTables(tmp_path / str(version), V1_DAY, version=version)
        tables_pass(events, limit=None, tables=tables)
        assert list(tables.finish()) == list(DERIVED_FILES[version])
    assert "corrections.csv" not in DERIVED_FILES[1] and "corrections.csv" in DERIVED_FILES[2]
    for name in DERIVED_FILES[1]:
        made = (tmp_path / "1" / name).read_bytes()
        assert made == (v1 / "pack" / name).read_bytes(), name
    assert not (tmp_path / "1" / "corrections.csv").exists()
    for name in ("nav.csv", "positions.csv"):  # /2 neutralises once
        v2 = (tmp_path / "2" / name).read_bytes()
        assert v2 == (v1 / "pack" / name).read_bytes().replace(b"''", b"'"), name
    assert b"'=maker" in (tmp_path / "2" / "corrections.csv").read_bytes()


def test_tampering_a_format_1_pack_is_found(v1: Path) -> None:
    nav = v1 / "pack" / "nav.csv"
    nav.write_bytes(nav.read_bytes().replace(b"''=HYPERLINK", b"'=HYPERLINK"))  # "fixed" to /2
    positions = v1 / "pack" / "positions.csv"
    positions.write_bytes(positions.read_bytes().replace(b",-5,", b",-6,"))
    readme = v1 / "pack" / "README.md"
    readme.write_bytes(readme.read_bytes().replace(b"| `nav.csv` | 1 |", b"| `nav.csv` | 2 |"))
    result = v1_check(v1, "--json")
    assert result.exit_code == 1, result.output
    found = orjson.loads(result.stdout)["faults"]
    assert any(
        f["file"] == "nav.csv" and f["row"] == 2 and f["column"] == "pricing_source" for f in found
    ), found
    assert any(
        f["file"] == "positions.csv" and f["row"] == 2 and f["column"] == "qty" for f in found
    ), found
    assert any(f["file"] == "README.md" and f["line"] for f in found), found


def test_a_format_1_pack_listing_corrections_csv_is_a_fault(v1: Path) -> None:
    """Each format is held to its own file list: /1 never had corrections.csv."""
    signer = load_or_create_signer(None, v1 / "trail", "unused")
    pack_dir = v1 / "pack"
    extra = pack_dir / "corrections.csv"
    extra.write_bytes(b"seq\r\n")
    manifest = orjson.loads((pack_dir / "manifest.json").read_bytes())
    manifest["files"].append(
        {"name": extra.name, "sha256": sha256(extra.read_bytes()).hexdigest(), "size": 5,
         "rows": 0}
    )  # fmt: skip
    resign(pack_dir, manifest, signer)
    report = verify_pack(pack_dir, [read_vkey(v1 / "trail" / VKEY_FILE)])
    assert any(
        f.file == "manifest.json" and "corrections.csv" in f.message and "not part" in f.message
        for f in report.faults
    ), [str(f) for f in report.faults]


def test_an_unknown_format_is_a_fault(v1: Path) -> None:
    signer = load_or_create_signer(None, v1 / "trail", "unused")
    manifest = orjson.loads((v1 / "pack" / "manifest.json").read_bytes())
    manifest["format"] = "tradetrail.daily-pack/9"
    resign(v1 / "pack", manifest, signer)
    report = verify_pack(v1 / "pack", [read_vkey(v1 / "trail" / VKEY_FILE)])
    assert any(
        f.file == "manifest.json" and "daily-pack/9" in f.message and "is not" in f.message
        for f in report.faults
    ), [str(f) for f in report.faults]


def resign(pack_dir: Path, manifest: dict[str, Any], signer: Signer) -> None:
    data = manifest_bytes(manifest)
    (pack_dir / "manifest.json").write_bytes(data)
    (pack_dir / "manifest.sig").write_text(sign_note(data.decode(), signer))
    (pack_dir / "SHA256SUMS").write_bytes(sha256sums(manifest, data))


def test_an_exam_package_holding_a_format_1_pack_verifies(v1: Path, tmp_path: Path) -> None:
    """`export exam` uses the /1 pack in exports/daily as made; the examiner's verify-pack
    checks it as /1."""
    home = v1 / "trail"
    kept = home / "exports" / "daily" / V1_DAY
    kept.parent.mkdir(parents=True)
    shutil.copytree(v1 / "pack", kept)
    out = tmp_path / "exam.zip"
    export_exam(home, V1_DAY, V1_DAY, out=out)
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        [manifest] = [n for n in names if n.endswith(f"packs/{V1_DAY}/manifest.json")]
        assert zf.read(manifest) == (v1 / "pack" / "manifest.json").read_bytes()
        assert not [n for n in names if n.endswith("corrections.csv")]
    report = verify_exam(out, [read_vkey(home / VKEY_FILE)])
    assert report.ok, [str(f) for f in report.faults]
    assert report.packs_checked == 1 and report.records == 5
    assert any("format /1" in w for w in report.warnings), report.warnings
    result = CliRunner().invoke(main, ["verify-pack", str(out), "--vkey", str(home / VKEY_FILE)])
    assert result.exit_code == 0, result.output


# ------------------------------------------------------------------------------ format /2

V2_FIXTURE = FIXTURES / "pack_v2"
"""A small demo trail and its pack of 2026-03-02 in format /2, made by the code of that format
(tests/fixtures/make_pack_v2.py)."""
V2_DAY = "2026-03-02"


def test_a_format_2_pack_made_by_the_old_code_verifies(tmp_path: Path) -> None:
    copy = tmp_path / "v2"
    shutil.copytree(V2_FIXTURE, copy)
    manifest = orjson.loads((copy / "pack" / "manifest.json").read_bytes())
    assert manifest["format"] == "tradetrail.daily-pack/2"
    report = verify_pack(copy / "pack", [read_vkey(copy / "trail" / VKEY_FILE)])
    assert report.ok, [str(f) for f in report.faults]
    assert report.records == manifest["records"]
    blotter = copy / "pack" / "blotter.csv"
    blotter.write_bytes(blotter.read_bytes().replace(b",taker,", b",maker,", 1))
    report = verify_pack(copy / "pack", [read_vkey(copy / "trail" / VKEY_FILE)])
    assert not report.ok and any(f.file == "blotter.csv" for f in report.faults)
