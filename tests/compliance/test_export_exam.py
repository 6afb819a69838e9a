"""The exam package (`tradetrail export exam`) and its offline check, on real trails: a demo
trail with two sealed days, and a small trail with a day without records in the range."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

import tradetrail
import tradetrail.cli.export
from conftest import SimClock, copy_demo_trail
from helpers import run
from tradetrail.compliance.exam import ExamError, export_exam, package_folder
from tradetrail.compliance.verify_exam import is_exam_package, verify_exam
from tradetrail.core.note import Signer
from tradetrail.export.daily import PackError
from tradetrail.store.journal import journal_files
from tradetrail.store.keys import VKEY_FILE, read_vkey

TODAY = datetime(2024, 3, 6, tzinfo=UTC)
DAY1, DAY2, OPEN_DAY = "2024-03-04", "2024-03-05", "2024-03-06"
FOLDER = package_folder(DAY1, DAY2)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, demo_trail_template: Path) -> Path:
    """A copy of the session's demo trail (the package is made into it)."""
    return copy_demo_trail(demo_trail_template, tmp_path_factory.mktemp("exam") / "trail")


@pytest.fixture(scope="module")
def package(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pkg") / "exam.zip"
    result = export_exam(demo, DAY1, DAY2, out=out)
    assert result.created and result.made_packs == [DAY1, DAY2]
    return out


def names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        return zf.namelist()


def read(path: Path, name: str) -> bytes:
    with zipfile.ZipFile(path) as zf:
        return zf.read(f"{FOLDER}/{name}")


def rewrite(src: Path, dst: Path, change: Callable[[str, bytes], bytes | None]) -> Path:
    """A copy of the zip with entries changed (None drops one); extra entries via `change`."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = change(info.filename.split("/", 1)[1], zin.read(info))
            if data is not None:
                zout.writestr(info, data)
    return dst


def vkey(home: Path) -> list[Any]:
    return [read_vkey(home / VKEY_FILE)]


def day_lines(home: Path, day: str) -> list[bytes]:
    path = home / "journal" / f"audit-{day.replace('-', '')}.jsonl"
    return path.read_bytes().splitlines()


# ------------------------------------------------------------------------------ contents


def test_the_package_holds_both_packs_reports_and_documents(demo: Path, package: Path) -> None:
    listed = names(package)
    assert all(n.startswith(FOLDER + "/") for n in listed), "one folder, nothing scattered"
    inside = {n.split("/", 1)[1] for n in listed}
    for day in (DAY1, DAY2):
        pack = demo / "exports" / "daily" / day
        for file in pack.iterdir():
            assert read(package, f"packs/{day}/{file.name}") == file.read_bytes()
    for kind in ("daily", "risk", "execution", "config", "access"):
        assert {f"reports/{kind}.html", f"reports/{kind}.json"} <= inside
    top = {"README.md", "CONTENTS.md", "manifest.json", "manifest.sig", "SHA256SUMS"}
    assert top | {"checkpoint", VKEY_FILE} <= inside
    assert not any(n.startswith("query/") for n in inside), "no query asked"
    manifest = orjson.loads(read(package, "manifest.json"))
    assert manifest["format"] == "tradetrail.exam-package/1"
    assert manifest["period"] == {"from": DAY1, "to": DAY2, "days": 2}
    records = len(day_lines(demo, DAY1)) + len(day_lines(demo, DAY2))
    assert manifest["records"] == records
    last = orjson.loads(day_lines(demo, DAY2)[-1])
    assert manifest["checkpoint"]["size"] == last["seq"] + 1
    assert {f["name"] for f in manifest["files"]} == inside - {
        "manifest.json",
        "manifest.sig",
        "SHA256SUMS",
    }
    for entry in manifest["files"]:
        data = read(package, entry["name"])
        assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["size"], entry["sha256"])
    contents = read(package, "CONTENTS.md").decode()
    assert f"[{DAY1}](packs/{DAY1}/README.md)" in contents and "reports/risk.html" in contents
    assert "verify-pack" in read(package, "README.md").decode()


def test_the_zip_is_deterministic_and_not_overwritten(
    demo: Path, package: Path, tmp_path: Path
) -> None:
    again = export_exam(demo, DAY1, DAY2, out=tmp_path / "again.zip")
    assert again.made_packs == [], "the packs already exist: used as made"
    assert (tmp_path / "again.zip").read_bytes() == package.read_bytes()
    same = export_exam(demo, DAY1, DAY2, out=tmp_path / "again.zip")
    assert not same.created
    with zipfile.ZipFile(package) as zf:
        for info in zf.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.external_attr >> 16 == 0o100644
    other = tmp_path / "other.zip"
    other.write_bytes(b"not this package")
    with pytest.raises(ExamError, match="already exists"):
        export_exam(demo, DAY1, DAY1, out=other)
    assert other.read_bytes() == b"not this package"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temp file left"


def test_a_fresh_process_makes_the_same_bytes(demo: Path, package: Path, tmp_path: Path) -> None:
    code = (
        "import sys; from tradetrail.compliance.exam import export_exam; "
        "export_exam(sys.argv[1], sys.argv[2], sys.argv[3], out=sys.argv[4])"
    )
    out = tmp_path / "fresh.zip"
    subprocess.run([sys.executable, "-c", code, demo, DAY1, DAY2, out], check=True)
    assert out.read_bytes() == package.read_bytes()


# ------------------------------------------------------------------------------ verification


def test_an_intact_package_verifies_zipped_and_unzipped(
    demo: Path, package: Path, tmp_path: Path
) -> None:
    assert is_exam_package(package)
    report = verify_exam(package, vkey(demo))
    assert report.ok, [str(f) for f in report.faults]
    assert report.packs_checked == 2 and report.records > 0
    assert report.established and "chain" in report.established[0]
    with zipfile.ZipFile(package) as zf:
        zf.extractall(tmp_path)
    assert is_exam_package(tmp_path) and is_exam_package(tmp_path / FOLDER)
    assert verify_exam(tmp_path, vkey(demo)).ok
    if shutil.which("sha256sum"):
        done = subprocess.run(
            ["sha256sum", "-c", "SHA256SUMS"], cwd=tmp_path / FOLDER, capture_output=True
        )
        assert done.returncode == 0, done.stdout


def test_every_kind_of_tampering_is_found_with_its_place(
    demo: Path, package: Path, tmp_path: Path
) -> None:
    def check(change: Callable[[str, bytes], bytes | None], where: str) -> None:
        bad = rewrite(package, tmp_path / "bad.zip", change)
        report = verify_exam(bad, vkey(demo))
        assert not report.ok
        assert any(str(f).startswith(where) for f in report.faults), [str(f) for f in report.faults]

    def orders(name: str, data: bytes) -> bytes:
        if name == f"packs/{DAY1}/orders.csv":
            return data.replace(b",buy,", b",sell,", 1)
        return data

    check(orders, f"packs/{DAY1}/orders.csv")
    check(lambda n, d: d + b"x" if n == "reports/risk.html" else d, "reports/risk.html")
    check(lambda n, d: None if n.startswith(f"packs/{DAY2}/") else d, f"packs/{DAY2}")
    check(lambda n, d: d.replace(b"2024", b"2025", 1) if n == "CONTENTS.md" else d, "CONTENTS")
    check(
        lambda n, d: d.replace(b'"records":', b'"records":1', 1) if n == "manifest.json" else d,
        "manifest.sig",
    )

    def extra(name: str, data: bytes) -> bytes:
        return data + b"\n" if name == "SHA256SUMS" else data

    check(extra, "SHA256SUMS")
    # a file slipped in that the manifest does not list
    bad = tmp_path / "added.zip"
    shutil.copy(package, bad)
    with zipfile.ZipFile(bad, "a") as zf:
        zf.writestr(f"{FOLDER}/packs/{DAY1}/extra.csv", b"a,b\r\n")
    report = verify_exam(bad, vkey(demo))
    assert any("not listed" in str(f) and "extra.csv" in str(f) for f in report.faults)


def test_a_wrong_key_fails_and_no_key_is_a_usage_error(package: Path) -> None:
    from tradetrail.verify.pack import PackUsageError

    stranger = Signer.generate("someone.example/other").verifier()
    report = verify_exam(package, [stranger])
    assert not report.ok and any(str(f).startswith("manifest.sig") for f in report.faults)
    assert any("not a key you gave" in w for w in report.warnings)
    with pytest.raises(PackUsageError, match="--vkey"):
        verify_exam(package, [])


# ------------------------------------------------------------------------------ query


def test_a_query_adds_the_matching_records_with_proofs(demo: Path, tmp_path: Path) -> None:
    lines = day_lines(demo, DAY1) + day_lines(demo, DAY2)
    records = [orjson.loads(line) for line in lines]
    account = next(r["account"] for r in records if r.get("account"))
    expected = [line for line, r in zip(lines, records, strict=True) if r.get("account") == account]
    out = tmp_path / "q.zip"
    result = export_exam(demo, DAY1, DAY2, out=out, query=f"account={account}")
    assert result.query_records == len(expected) > 0
    folder = FOLDER
    with zipfile.ZipFile(out) as zf:
        selected = zf.read(f"{folder}/query/records.jsonl").splitlines()
        proofs = [orjson.loads(p) for p in zf.read(f"{folder}/query/proofs.jsonl").splitlines()]
    assert selected == expected, "the journal lines themselves, in seq order"
    assert [p["leaf_index"] for p in proofs] == [orjson.loads(s)["seq"] for s in selected]
    manifest = orjson.loads(zipfile.ZipFile(out).read(f"{folder}/manifest.json"))
    assert manifest["query"]["text"] == f"account={account}"
    report = verify_exam(out, vkey(demo))
    assert report.ok and report.query_records == len(expected)

    def forged(name: str, data: bytes) -> bytes:
        if name == "query/records.jsonl":
            return data.replace(account.encode(), b"ACC-OTHER", 1)
        return data

    bad = rewrite(out, tmp_path / "forged.zip", forged)
    faults = [str(f) for f in verify_exam(bad, vkey(demo)).faults]
    assert any(f.startswith("query/records.jsonl line 1") for f in faults), faults


# ------------------------------------------------------------------------------ refusals


def test_bad_requests_are_refused_before_anything_is_written(demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.zip"
    with pytest.raises(ExamError, match="still open"):
        export_exam(demo, DAY1, OPEN_DAY, out=out)
    with pytest.raises(ExamError, match="after"):
        export_exam(demo, DAY2, DAY1, out=out)
    with pytest.raises(PackError, match=r"month must be in 1\.\.12"):
        export_exam(demo, "2024-13-01", DAY2, out=out)
    with pytest.raises(ExamError, match=r"\.zip"):
        export_exam(demo, DAY1, DAY2, out=tmp_path / "x.tar")
    with pytest.raises(ExamError, match="unknown name 'colour'"):
        export_exam(demo, DAY1, DAY2, out=out, query="colour=red")
    assert not out.exists()
    result = run("export", "exam", "--home", demo, "--from", DAY1, "--to", OPEN_DAY, "--out", out)
    assert result.exit_code == 2 and "still open" in result.output


# ------------------------------------------------------------------------------ small trail


@pytest.fixture
def gap_trail(tmp_path: Path) -> Path:
    """Records on 2024-03-01 and 2024-03-03, none on 2024-03-02; 2024-03-04 open."""
    home = tmp_path / "trail"
    clock = SimClock("2024-03-01T09:00:00")
    with tradetrail.open(home, clock=clock, min_free_bytes=0) as trail:
        trail.record("order.submitted", {"side": "buy", "qty": "1"}, order_id="O-1", symbol="X")
        trail.flush()  # ts is taken when the writer journals the record
        clock.set("2024-03-03T10:00:00")
        trail.record("auth.login", {"method": "password"}, actor="alice")
        trail.flush()
        clock.set("2024-03-04T08:00:00")
        trail.record("auth.logout", None, actor="alice").wait()
    return home


def test_a_day_without_records_is_in_the_package_and_chains(gap_trail: Path) -> None:
    out = gap_trail.parent / "gap.zip"
    result = export_exam(gap_trail, "2024-03-01", "2024-03-03", out=out)
    assert result.days == 3 and result.records == 2
    folder = package_folder("2024-03-01", "2024-03-03")
    with zipfile.ZipFile(out) as zf:
        empty = orjson.loads(zf.read(f"{folder}/packs/2024-03-02/manifest.json"))
    assert empty["records"] == 0 and empty["seq"] is None
    report = verify_exam(out, vkey(gap_trail))
    assert report.ok, [str(f) for f in report.faults]


def test_the_cli_writes_verifies_and_records_the_export(gap_trail: Path) -> None:
    out = gap_trail.parent / "cli.zip"
    before = sum(len(p.read_bytes().splitlines()) for p in journal_files(gap_trail))
    result = run(
        "export", "exam", "--home", gap_trail, "--from", "2024-03-01", "--to", "2024-03-03",
        "--out", out, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.stdout)
    assert summary["created"] and summary["days"] == 3
    assert summary["recorded"].startswith("recorded as seq")
    lines = [line for p in journal_files(gap_trail) for line in p.read_bytes().splitlines()]
    # the daily packs made on the way are not recorded one by one; the package is
    assert len(lines) == before + 1
    event = orjson.loads(lines[-1])
    assert event["type"] == "compliance.export_made"
    assert event["data"]["kind"] == "exam_package"
    assert event["data"]["digest"] == "sha256:" + summary["manifest_sha256"]
    assert event["data"]["period_start"] == "2024-03-01"
    checked = run("verify-pack", out, "--vkey", gap_trail / VKEY_FILE)
    assert checked.exit_code == 0, checked.output
    assert "exam package" in checked.output
    bad = rewrite(
        out, gap_trail.parent / "bad.zip", lambda n, d: d + b" " if "CONTENTS" in n else d
    )
    failed = run("verify-pack", bad, "--vkey", gap_trail / VKEY_FILE, "--json")
    assert failed.exit_code == 1
    assert orjson.loads(failed.stdout)["ok"] is False
    daily = run("export", "daily", "--home", gap_trail, "--date", "2024-03-01", "--out",
                gap_trail.parent / "d1", "--json")  # fmt: skip
    assert daily.exit_code == 0, daily.output
    assert orjson.loads(daily.stdout)["recorded"].startswith("recorded as seq")


def test_a_hostile_zip_cannot_write_outside_and_duplicates_fail(
    demo: Path, package: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    bad = tmp_path / "evil.zip"
    shutil.copy(package, bad)
    escape = "../" * 12 + str(victim).lstrip("/")
    with zipfile.ZipFile(bad, "a") as zf:
        zf.writestr(f"{FOLDER}/packs/{DAY1}/{escape}", b"owned")
        zf.writestr(f"{FOLDER}/packs/{DAY1}/sub/x.csv", b"a")
    report = verify_exam(bad, vkey(demo))
    assert not victim.exists(), "nothing is written outside the verifier's temp folder"
    assert not report.ok
    assert any("sub-folders" in str(f) for f in report.faults)

    dup = tmp_path / "dup.zip"
    with (
        zipfile.ZipFile(package) as zin,
        zipfile.ZipFile(dup, "w") as zout,
        pytest.warns(UserWarning, match="Duplicate name"),
    ):
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith(f"packs/{DAY1}/orders.csv"):
                zout.writestr(info, data.replace(b",buy,", b",sell,", 1))  # shown by some tools
            zout.writestr(info, data)
    report = verify_exam(dup, vkey(demo))
    assert not report.ok
    assert any("more than once" in str(f) for f in report.faults)


def test_an_incomplete_selection_is_found_offline(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The packs hold every record of the range, so the examiner's check replays the query
    over them: a selection that left a record out (a stale index, a bug) is a fault."""
    from tradetrail.index import SqliteIndex

    search = SqliteIndex.search

    def lossy(self: SqliteIndex, query: Any) -> list[Any]:
        return search(self, query)[1:]

    monkeypatch.setattr(SqliteIndex, "search", lossy)
    records = [orjson.loads(line) for line in day_lines(demo, DAY1)]
    account = next(r["account"] for r in records if r.get("account"))
    out = tmp_path / "lossy.zip"
    export_exam(demo, DAY1, DAY2, out=out, query=f"account={account} type=order.*")
    monkeypatch.setattr(SqliteIndex, "search", search)
    report = verify_exam(out, vkey(demo))
    assert not report.ok
    assert any("leaves out record seq" in str(f) for f in report.faults), report.faults
    text = tmp_path / "text.zip"
    export_exam(demo, DAY1, DAY2, out=text, query=f"account={account} text=order")
    checked = verify_exam(text, vkey(demo))
    assert checked.ok and any("full-text" in w for w in checked.warnings)


def test_reports_are_rebuilt_from_the_packs_and_compared(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signed package whose report does not follow from its evidence is caught."""
    from tradetrail.reports import render as real_render

    def flattering(report: Any, fmt: str) -> bytes:
        data = real_render(report, fmt)
        return data.replace(b"rejects", b"rejekts", 1) if report.kind == "daily" else data

    monkeypatch.setattr("tradetrail.reports.render", flattering)
    out = tmp_path / "flattering.zip"
    export_exam(demo, DAY1, DAY2, out=out)
    monkeypatch.undo()
    report = verify_exam(out, vkey(demo))
    found = [str(f) for f in report.faults]
    assert any(f.startswith("reports/daily.html") and "rebuilt" in f for f in found), found
    assert not any(f.startswith("reports/risk") for f in found)
    assert report.reports_checked == 10


# ------------------------------------------------------------------------------ second review


def test_query_terms_are_resolved_and_case_folded_when_made(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`since=...d` is resolved once, when the package is made, and kept in the signed
    manifest: checking the package later replays the same times; `type=ORDER.*` selects and
    replays like the index (types are lower case)."""
    out = tmp_path / "relative.zip"
    result = export_exam(demo, DAY1, DAY2, out=out, query="type=ORDER.* since=9999d")
    assert result.query_records and result.query_records > 0
    manifest = orjson.loads(zipfile.ZipFile(out).read(f"{FOLDER}/manifest.json"))
    resolved = manifest["query"]["resolved"]
    assert resolved["types"] == ["order.*"] and resolved["since"].endswith("Z")
    import tradetrail.index.query as query_module

    class Later(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return datetime(2999, 1, 1, tzinfo=UTC)

    monkeypatch.setattr(query_module, "datetime", Later)  # 9999d later no longer reaches back
    report = verify_exam(out, vkey(demo))
    assert report.ok, [str(f) for f in report.faults]


def test_a_range_starting_before_the_first_record_chains(gap_trail: Path) -> None:
    out = gap_trail.parent / "early.zip"
    result = export_exam(gap_trail, "2024-02-27", "2024-03-03", out=out)
    assert result.days == 6 and result.records == 2
    report = verify_exam(out, vkey(gap_trail))
    assert report.ok, [str(f) for f in report.faults]


def test_a_range_wholly_before_the_first_record_is_refused(gap_trail: Path) -> None:
    out = gap_trail.parent / "before.zip"
    with pytest.raises(ExamError, match=r"--to 2024-02-29 is before .* first day is 2024-03-01"):
        export_exam(gap_trail, "2024-02-20", "2024-02-29", out=out)
    result = run(
        "export", "exam", "--home", gap_trail, "--from", "2024-02-20", "--to", "2024-02-29",
        "--out", out,
    )  # fmt: skip
    assert result.exit_code == 2 and "first day is 2024-03-01" in result.stderr
    assert not out.exists() and not (gap_trail / "exports").exists()


def test_a_truncated_zip_is_reported_damaged(demo: Path, package: Path, tmp_path: Path) -> None:
    """A package cut short (an interrupted copy) is a damaged zip, named, not 'not a pack'."""
    key = demo / VKEY_FILE
    for name, size in (("cut.zip", package.stat().st_size // 2), ("cut-package", 1000)):
        cut = tmp_path / name
        cut.write_bytes(package.read_bytes()[:size])
        result = run("verify-pack", cut, "--vkey", key)
        assert result.exit_code == 1, result.output
        assert f"{name}: the zip file is damaged (truncated" in result.stdout
        assert "not a pack" not in result.output and "Traceback" not in result.output
        as_json = orjson.loads(run("verify-pack", cut, "--vkey", key, "--json").stdout)
        assert as_json["ok"] is False and "damaged" in as_json["faults"][0]["message"]
    (tmp_path / "empty.zip").write_bytes(b"")
    result = run("verify-pack", tmp_path / "empty.zip", "--vkey", key)
    assert result.exit_code == 1 and "empty.zip: the zip file is empty" in result.stdout
    (tmp_path / "notes.txt").write_text("not a package")
    result = run("verify-pack", tmp_path / "notes.txt", "--vkey", key)
    assert result.exit_code == 2 and "not a pack directory nor an exam package" in result.stderr


def test_a_damaged_or_malformed_package_is_faulted_not_crashed(
    demo: Path, package: Path, tmp_path: Path
) -> None:
    damaged = tmp_path / "damaged.zip"
    data = bytearray(package.read_bytes())
    with zipfile.ZipFile(package) as zf:
        info = zf.getinfo(f"{FOLDER}/packs/{DAY1}/events.jsonl")
    middle = info.header_offset + 30 + len(info.filename) + info.compress_size // 2
    data[middle] ^= 0xFF
    damaged.write_bytes(bytes(data))
    report = verify_exam(damaged, vkey(demo))
    assert not report.ok
    assert any("cannot be read" in str(f) for f in report.faults), [str(f) for f in report.faults]

    for change in (
        lambda m: {**m, "tool": "x"},
        lambda m: {**m, "packs": [1, 2]},
        lambda m: {**m, "files": [{"name": "README.md"}]},
        lambda m: {**m, "reports": 5},
        lambda m: {**m, "period": {"from": DAY1, "to": "garbage"}},
    ):

        def edit(name: str, data: bytes, change: Any = change) -> bytes:
            if name != "manifest.json":
                return data
            return orjson.dumps(change(orjson.loads(data)), option=orjson.OPT_SORT_KEYS)

        bad = rewrite(package, tmp_path / "malformed.zip", edit)
        report = verify_exam(bad, vkey(demo))
        assert not report.ok
        assert any(str(f).startswith("manifest.json: malformed") for f in report.faults), [
            str(f) for f in report.faults
        ]
