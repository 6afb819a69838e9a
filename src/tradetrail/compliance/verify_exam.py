"""Offline verification of an exam package (the zip of `tradetrail export exam`, or the folder
it unzips to): `tradetrail verify-pack PACKAGE --vkey KEY` detects it and comes here.

Checks the package manifest's signature, every file's size and SHA-256 and that nothing
unlisted was slipped in, SHA256SUMS, README.md and CONTENTS.md against the manifest, the
package checkpoint, every daily pack in full with verify_pack (each extracted on its own to a
temporary folder, so memory and disk stay bounded), that consecutive packs chain and the last
one ends at the package checkpoint, every report against the one rebuilt from the packs'
events, every query record's inclusion proof, and that the query left no matching record out.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, Final

import orjson

from .._version import __version__
from ..core import layout
from ..core.checkpoint import Checkpoint
from ..core.merkle import leaf_hash
from ..core.note import Verifier, open_note
from ..core.pack import CHECKPOINT_FILE, EVENTS_FILE, MANIFEST_FILE, SIGNATURE_FILE, SUMS_FILE
from ..errors import CheckpointError, IndexStoreError, NoteError, ProofError, TradetrailError
from ..index import QueryError, parse_query_text, query_from_json, query_matches, row_from_line
from ..store.journal import JOURNAL_DIR, day_file_name
from ..store.keyhistory import HISTORY_FILE
from ..store.keys import VKEY_FILE
from ..store.proofs import verify_proof_json
from ..verify.pack import PackFault, PackKeys, PackUsageError, verify_pack
from ..verify.trail import FaultReport
from .exam import (
    CONTENTS,
    EXAM_FORMAT,
    QUERY_PROOFS,
    QUERY_RECORDS,
    README,
    chains,
    exam_sums,
    render_contents,
    render_exam_readme,
)

__all__ = ["ExamReport", "is_exam_package", "verify_exam"]

_BLOCK: Final = 1 << 20
_UNLISTED: Final = (MANIFEST_FILE, SIGNATURE_FILE, SUMS_FILE)
_UNREADABLE: Final = (zipfile.BadZipFile, zlib.error, EOFError, OSError)
"""What reading a damaged zip entry raises."""
_DAY: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ZIP_MAGIC: Final = (b"PK\x03\x04", b"PK\x05\x06")
"""How a zip starts (a local file header, or the end record of an empty zip)."""


class _DamagedZip(Exception):
    """A file that is meant to be a zip (its name or first bytes say so) but cannot be opened:
    a fault of the package, not a wrong argument."""


def _meant_as_zip(path: Path) -> bool:
    if path.suffix.lower() == ".zip":
        return True
    try:
        with open(path, "rb") as fh:
            return fh.read(4) in _ZIP_MAGIC
    except OSError:
        return False


@dataclass
class ExamReport(FaultReport):
    path: str
    period: dict[str, Any] | None = None
    records: int = 0
    checkpoint_size: int | None = None
    packs_checked: int = 0
    reports_checked: int = 0
    files_checked: int = 0
    query_records: int | None = None
    faults: list[PackFault] = field(default_factory=list)
    fault_count: int = 0
    warnings: list[str] = field(default_factory=list)
    established: list[str] = field(default_factory=list)
    kind: str = "exam package"


class _Source:
    """The package's files by their name inside its folder, from a zip or a directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zip: zipfile.ZipFile | None = None
        self.root: Path | None = None
        self.prefix = ""
        if path.is_file():
            try:
                self.zip = zipfile.ZipFile(path)
            except zipfile.BadZipFile as exc:
                if _meant_as_zip(path):
                    size = path.stat().st_size
                    raise _DamagedZip(
                        f"the zip file is damaged (truncated or corrupted: {size} bytes and "
                        "no readable central directory); obtain the package again"
                        if size
                        else "the zip file is empty (0 bytes); obtain the package again"
                    ) from None
                raise PackUsageError(f"{path}: not a zip file ({exc})") from None
            except OSError as exc:
                raise PackUsageError(f"{path}: cannot be read ({exc})") from None
            names = self.zip.namelist()
            folders = {n.split("/", 1)[0] for n in names}
            if len(folders) != 1 or not all("/" in n for n in names):
                raise PackUsageError(
                    f"{path}: not an exam package (its entries are not all in one folder)"
                )
            self.prefix = folders.pop() + "/"
            self.names = [n[len(self.prefix) :] for n in names if not n.endswith("/")]
            # two entries of one name: tools disagree on which one an examiner sees
            counts = Counter(self.names)
            self.duplicates = sorted(n for n, c in counts.items() if c > 1)
        else:
            root = path
            if not (root / MANIFEST_FILE).is_file():
                inner = [p for p in path.iterdir() if p.is_dir() and (p / MANIFEST_FILE).is_file()]
                if len(inner) == 1:
                    root = inner[0]
            self.root = root
            self.duplicates = []
            self.names = sorted(
                p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()
            )
        self._known = set(self.names)
        self.by_folder: dict[str, list[str]] = {}
        for name in self.names:
            self.by_folder.setdefault(name.rpartition("/")[0], []).append(name)

    def __contains__(self, name: str) -> bool:
        return name in self._known

    @contextmanager
    def open(self, name: str) -> Iterator[IO[bytes]]:
        if self.zip is not None:
            with self.zip.open(self.prefix + name) as fh:
                yield fh
        else:
            assert self.root is not None
            with (self.root / name).open("rb") as fh:
                yield fh

    def read(self, name: str) -> bytes:
        with self.open(name) as fh:
            return fh.read()

    def read_or_none(self, name: str) -> bytes | None:
        """The bytes, or None when the entry cannot be read (a damaged zip): a fault, not a
        crash, for the caller to report."""
        try:
            return self.read(name)
        except _UNREADABLE:
            return None

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()


def _manifest_problem(manifest: dict[str, Any]) -> str | None:
    """What is wrong with the shape of an exam package manifest, before anything trusts it."""

    def is_date(value: Any) -> bool:
        return isinstance(value, str) and _DAY.fullmatch(value) is not None

    period, cp = manifest.get("period"), manifest.get("checkpoint")
    if not isinstance(period, dict) or not (
        is_date(period.get("from")) and is_date(period.get("to"))
    ):
        return "period: expected {from, to} dates"
    if (
        not isinstance(cp, dict)
        or type(cp.get("size")) is not int
        or not isinstance(cp.get("root"), str)
    ):
        return "checkpoint: expected {size, root}"
    if not isinstance(manifest.get("tool"), dict):
        return "tool: expected an object"
    files = manifest.get("files")
    if not isinstance(files, list) or not all(
        isinstance(f, dict)
        and isinstance(f.get("name"), str)
        and isinstance(f.get("sha256"), str)
        and type(f.get("size")) is int
        for f in files
    ):
        return "files: expected a list of {name, sha256, size}"
    packs = manifest.get("packs")
    if not isinstance(packs, list) or not all(
        isinstance(p, dict) and is_date(p.get("date")) for p in packs
    ):
        return "packs: expected a list of objects with a date"
    reports = manifest.get("reports")
    if not isinstance(reports, list) or not all(isinstance(r, str) for r in reports):
        return "reports: expected a list of file names"
    query = manifest.get("query")
    if query is not None and (
        not isinstance(query, dict) or not isinstance(query.get("text"), str)
    ):
        return "query: expected an object with the query text"
    return None


def is_exam_package(path: Path) -> bool:
    """A zip, or a folder whose manifest (or its one sub-folder's) says exam package."""
    if path.is_file():  # a damaged zip too: its check says so rather than "not a pack"
        return zipfile.is_zipfile(path) or _meant_as_zip(path)
    for candidate in (path, *(p for p in path.iterdir() if p.is_dir())) if path.is_dir() else ():
        manifest = candidate / MANIFEST_FILE
        if manifest.is_file():
            try:
                if orjson.loads(manifest.read_bytes()).get("format") == EXAM_FORMAT:
                    return True
            except (orjson.JSONDecodeError, AttributeError, OSError):
                return False
    return False


def verify_exam(
    path: Path | str,
    vkeys: Sequence[Verifier],
    *,
    attesters: Sequence[Verifier] = (),
    max_faults: int = 200,
    progress: Callable[[int], None] | None = None,
) -> ExamReport:
    """Check an exam package offline; see the module docstring. Raises PackUsageError when
    `path` is not an exam package or no key is given."""
    path = Path(path)
    if not path.exists():
        raise PackUsageError(f"{path}: no such file or directory")
    if not vkeys:
        raise PackUsageError("give the verifier key of the trail (--vkey)")
    report = ExamReport(str(path))
    try:
        source = _Source(path)
    except _DamagedZip as exc:
        report.fault_count += 1
        report.faults.append(PackFault(path.name, str(exc)))
        return report
    try:
        _verify(source, vkeys, attesters, report, max_faults, progress)
    except _UNREADABLE as exc:  # a damaged entry not caught where it is read
        report.fault_count += 1
        report.faults.append(PackFault(None, f"the package cannot be read (damaged?): {exc}"))
    finally:
        source.close()
    if report.ok and report.period is not None:
        report.established.append(
            f"{report.period['from']} to {report.period['to']}: {report.packs_checked} daily "
            f"pack(s) with {report.records} record(s) verify and chain to the signed checkpoint "
            f"at size {report.checkpoint_size}"
        )
    return report


def _verify(
    source: _Source,
    vkeys: Sequence[Verifier],
    attesters: Sequence[Verifier],
    report: ExamReport,
    max_faults: int,
    progress: Callable[[int], None] | None,
) -> None:
    def fault(file: str | None, message: str, line: int | None = None) -> None:
        report.fault_count += 1
        if len(report.faults) < max_faults:
            report.faults.append(PackFault(file, message, line))

    if MANIFEST_FILE not in source:
        raise PackUsageError(f"{source.path}: not an exam package (no {MANIFEST_FILE})")
    data = source.read(MANIFEST_FILE)
    try:
        manifest = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        fault(MANIFEST_FILE, f"not JSON: {exc}")
        return
    if not isinstance(manifest, dict) or manifest.get("format") != EXAM_FORMAT:
        raise PackUsageError(f"{source.path}: {MANIFEST_FILE} is not an exam package manifest")
    history = source.read_or_none(HISTORY_FILE) if HISTORY_FILE in source else None
    keys = PackKeys.load(history, vkeys, fault)
    if SIGNATURE_FILE not in source:
        fault(SIGNATURE_FILE, "missing: the manifest is not signed")
    else:
        try:
            note, _ = open_note(source.read(SIGNATURE_FILE).decode("utf-8"), keys.keys)
            if note.text.encode("utf-8") != data:
                fault(SIGNATURE_FILE, "signs a text that is not manifest.json")
        except (NoteError, UnicodeDecodeError) as exc:
            fault(SIGNATURE_FILE, f"does not verify with the given key(s): {exc}")
    problem = _manifest_problem(manifest)
    if problem is not None:
        fault(MANIFEST_FILE, f"malformed: {problem}")
        return
    report.period = dict(manifest["period"])
    report.checkpoint_size = int(manifest["checkpoint"]["size"])
    listed = {str(f["name"]): f for f in manifest["files"]}
    packs = list(manifest["packs"])
    for name in source.duplicates:
        fault(name, "appears more than once in the zip (which copy a tool shows is undefined)")
    for name in source.names:
        if name not in listed and name not in _UNLISTED:
            fault(name, "not listed in manifest.json (added after the package was made)")
        if PurePosixPath(name).is_absolute() or ".." in PurePosixPath(name).parts:
            fault(name, "unsafe path in the package")
    done = 0
    for name, entry in sorted(listed.items()):
        if name not in source:
            fault(name, "listed in manifest.json but missing")
            continue
        digest, size = hashlib.sha256(), 0
        try:
            with source.open(name) as fh:
                while block := fh.read(_BLOCK):
                    digest.update(block)
                    size += len(block)
        except _UNREADABLE as exc:
            fault(name, f"cannot be read from the package (damaged?): {exc}")
            continue
        done += size
        if progress is not None:
            progress(done)
        report.files_checked += 1
        if size != entry.get("size"):
            fault(name, f"{size} bytes, the manifest says {entry.get('size')}")
        if digest.hexdigest() != entry.get("sha256"):
            fault(name, "SHA-256 differs from the manifest (the file was altered)")
    if SUMS_FILE not in source or source.read_or_none(SUMS_FILE) != exam_sums(manifest, data):
        fault(SUMS_FILE, "does not match the manifest")
    for name, render in ((README, render_exam_readme), (CONTENTS, render_contents)):
        try:
            rebuilt = render(manifest)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            fault(MANIFEST_FILE, f"cannot rebuild {name}: {exc!r}")
            continue
        if name in source and source.read_or_none(name) != rebuilt:
            fault(name, "differs from the text the manifest gives (edited after signing)")
    checkpoint = _package_checkpoint(source, manifest, keys, fault)
    if VKEY_FILE in source:
        shipped = source.read(VKEY_FILE).decode("utf-8", "replace").strip()
        if shipped not in {v.vkey() for v in keys.keys}:
            report.warnings.append(
                f"{VKEY_FILE} in the package ({shipped}) is not a key you gave: the package was "
                "checked against your key(s) only"
            )
    with tempfile.TemporaryDirectory(prefix="tradetrail-exam-") as scratch:
        _verify_packs(
            source, packs, vkeys, attesters, report, fault, checkpoint, max_faults, Path(scratch)
        )
        _verify_reports(source, manifest, Path(scratch), report, fault)
    if manifest.get("query") is not None and checkpoint is not None:
        _verify_query(source, manifest["query"], checkpoint, report, fault)


def _package_checkpoint(
    source: _Source,
    manifest: dict[str, Any],
    keys: PackKeys,
    fault: Callable[..., None],
) -> Checkpoint | None:
    name = "checkpoint"
    if name not in source:
        fault(name, "missing")
        return None
    try:
        checkpoint = keys.open_checkpoint(source.read(name).decode("utf-8"))
    except (NoteError, CheckpointError, ValueError, UnicodeDecodeError) as exc:
        fault(name, f"does not verify with the given key(s): {exc}")
        return None
    cp = manifest.get("checkpoint") or {}
    if cp.get("size") != checkpoint.size or cp.get("root") != checkpoint.root.hex():
        fault(MANIFEST_FILE, "checkpoint size/root differ from the signed checkpoint")
    return checkpoint


def _verify_packs(
    source: _Source,
    packs: list[dict[str, Any]],
    vkeys: Sequence[Verifier],
    attesters: Sequence[Verifier],
    report: ExamReport,
    fault: Callable[..., None],
    checkpoint: Checkpoint | None,
    max_faults: int,
    scratch: Path,
) -> None:
    """Each pack in full; what the reports are made from is kept in `scratch` as a trail:
    journal/ (each day's events.jsonl, read-only like a sealed day file) and checkpoints/."""
    (scratch / JOURNAL_DIR).mkdir()
    (scratch / layout.CHECKPOINTS_DIR).mkdir()
    for name in source.names:
        if name.startswith("packs/") and name.count("/") != 2:
            fault(name, "not a file of a daily pack (packs hold no sub-folders)")
    previous: dict[str, Any] | None = None
    for summary in packs:
        day = str(summary.get("date"))
        if not _DAY.fullmatch(day):
            fault(MANIFEST_FILE, f"pack date {day!r} is not a date")
            continue
        folder = f"packs/{day}"
        names = []
        for name in source.by_folder.get(folder, []):
            leaf = name[len(folder) + 1 :]
            if leaf in ("", ".", "..") or "\\" in leaf:
                fault(name, "not a file of a daily pack")
            else:
                names.append((name, leaf))
        if not names:
            fault(folder, "the pack is missing")
            continue
        with tempfile.TemporaryDirectory(prefix="tradetrail-exam-") as tmp:
            target = Path(tmp) / day
            target.mkdir()
            try:
                for name, leaf in names:
                    with source.open(name) as src, (target / leaf).open("wb") as dst:
                        shutil.copyfileobj(src, dst, _BLOCK)
            except _UNREADABLE as exc:
                fault(folder, f"cannot be read from the package (damaged?): {exc}")
                continue
            try:
                pack_report = verify_pack(target, vkeys, attesters=attesters, max_faults=max_faults)
                pack_manifest = (target / MANIFEST_FILE).read_bytes()
                pack = orjson.loads(pack_manifest)
            except (PackUsageError, OSError, orjson.JSONDecodeError) as exc:
                fault(folder, f"not a daily pack: {exc}")
                continue
            _keep_for_reports(target, day, scratch)
        report.packs_checked += 1
        report.records += pack_report.records
        for pf in pack_report.faults:
            report.fault_count += 1
            if len(report.faults) < max_faults:
                report.faults.append(
                    PackFault(f"{folder}/{pf.file or 'pack'}", pf.message, pf.line, pf.row,
                              pf.column)
                )  # fmt: skip
        report.fault_count += pack_report.fault_count - len(pack_report.faults)
        report.warnings += [f"{folder}: {w}" for w in pack_report.warnings]
        if hashlib.sha256(pack_manifest).hexdigest() != summary.get("manifest_sha256"):
            fault(f"{folder}/{MANIFEST_FILE}", "is not the pack the package manifest lists")
        if not isinstance(pack, dict):
            fault(f"{folder}/{MANIFEST_FILE}", "is not a JSON object")
            continue
        if previous is not None:
            prev, cp = pack.get("previous_checkpoint"), previous.get("checkpoint") or {}
            if not chains(cp, prev):
                fault(
                    f"{folder}/{MANIFEST_FILE}",
                    f"does not chain to the pack of {previous.get('date')}: previous checkpoint "
                    f"{prev}, that pack's checkpoint size {cp.get('size')}",
                )
        previous = pack
    if previous is not None and checkpoint is not None:
        cp = previous.get("checkpoint") or {}
        if cp.get("size") != checkpoint.size or cp.get("root") != checkpoint.root.hex():
            fault("checkpoint", f"is not the checkpoint of the last pack ({previous.get('date')})")


def _keep_for_reports(pack: Path, day: str, scratch: Path) -> None:
    events, cp = pack / EVENTS_FILE, pack / CHECKPOINT_FILE
    if events.is_file() and events.stat().st_size:
        kept = scratch / JOURNAL_DIR / day_file_name(day.replace("-", ""))
        os.replace(events, kept)
        kept.chmod(0o444)
    if cp.is_file():
        lines = cp.read_bytes().split(b"\n")
        if len(lines) > 1 and lines[1].isdigit():
            os.replace(cp, scratch / layout.CHECKPOINTS_DIR / lines[1].decode())


def _verify_reports(
    source: _Source,
    manifest: dict[str, Any],
    scratch: Path,
    report: ExamReport,
    fault: Callable[..., None],
) -> None:
    """Rebuild every report from the packs' events (the same code, over the same lines and
    checkpoints) and compare: a report in the package says only what the evidence says."""
    from ..reports import FORMATS, REPORT_KINDS, build_reports, render

    made_by = (manifest.get("tool") or {}).get("version")
    if made_by != __version__:
        report.warnings.append(
            f"reports not rebuilt: the package was made by tradetrail {made_by}, this is "
            f"{__version__} (their layout may differ)"
        )
        return
    period = manifest.get("period") or {}
    for name in (VKEY_FILE, HISTORY_FILE):  # the keys the reports open checkpoints with
        if name in source:
            (scratch / name).write_bytes(source.read(name))
    wanted: dict[str, list[str]] = {}
    for name in manifest.get("reports") or []:
        kind, _, fmt = str(name).removeprefix("reports/").rpartition(".")
        if kind not in REPORT_KINDS or fmt not in FORMATS:
            fault(str(name), "not a report this version knows")
            continue
        wanted.setdefault(kind, []).append(fmt)
    if not wanted:
        return
    kinds = sorted(wanted, key=REPORT_KINDS.index)
    try:
        rebuilt = build_reports(scratch, kinds, str(period.get("from")), str(period.get("to")))
    except (TradetrailError, OSError) as exc:
        fault("reports", f"cannot be rebuilt from the packs: {exc}")
        return
    for kind, built in zip(kinds, rebuilt, strict=True):
        for fmt in wanted[kind]:
            name = f"reports/{kind}.{fmt}"
            if name in source and source.read_or_none(name) != render(built, fmt):
                fault(name, "is not the report the packs' events give (rebuilt and compared)")
    report.reports_checked = sum(len(v) for v in wanted.values())


def _verify_query(
    source: _Source,
    query: dict[str, Any],
    checkpoint: Checkpoint,
    report: ExamReport,
    fault: Callable[..., None],
) -> None:
    if QUERY_RECORDS not in source or QUERY_PROOFS not in source:
        fault("query", "the query files are missing")
        return
    lines = source.read(QUERY_RECORDS).split(b"\n")
    proofs = source.read(QUERY_PROOFS).split(b"\n")
    if lines[-1] != b"" or proofs[-1] != b"":
        fault(QUERY_RECORDS, "does not end with a newline")
    lines, proofs = lines[:-1], proofs[:-1]
    if len(lines) != len(proofs):
        fault(QUERY_PROOFS, f"{len(proofs)} proof(s) for {len(lines)} record(s)")
    if query.get("records") != len(lines):
        fault(QUERY_RECORDS, f"{len(lines)} record(s), the manifest says {query.get('records')}")
    report.query_records = len(lines)
    _check_selection(source, query, lines, report, fault)
    for number, (line, raw) in enumerate(zip(lines, proofs, strict=False), start=1):
        try:
            proof = orjson.loads(raw)
            verify_proof_json(proof, [], require_signed=False)
        except (orjson.JSONDecodeError, ProofError, ValueError, TypeError) as exc:
            fault(QUERY_PROOFS, f"not a valid inclusion proof: {exc}", number)
            continue
        if proof.get("leaf_hash") != leaf_hash(line).hex():
            fault(QUERY_RECORDS, "the line is not the leaf its proof proves", number)
        if proof.get("tree_size") != checkpoint.size or proof.get("root") != checkpoint.root.hex():
            fault(QUERY_PROOFS, "does not prove into the package checkpoint", number)


def _check_selection(
    source: _Source,
    query: dict[str, Any],
    lines: list[bytes],
    report: ExamReport,
    fault: Callable[..., None],
) -> None:
    """The selection must be complete: every record of the packs that the query matches is
    in query/records.jsonl, and nothing else is (full-text terms excepted: their matching is
    the index's tokenizer, which this check does not replay)."""
    try:
        if query.get("resolved") is not None:  # times as resolved when the package was made
            parsed = query_from_json(query["resolved"], "manifest.json query.resolved")
        else:
            parsed = parse_query_text(str(query.get("text")))
    except QueryError as exc:
        fault(MANIFEST_FILE, f"query: {exc}")
        return
    if parsed.text is not None:
        report.warnings.append(
            "the query has full-text terms: each selected record is proven, but that no "
            "matching record was left out is not checked offline"
        )
        return
    selected = []
    for number, line in enumerate(lines, start=1):
        try:
            selected.append(row_from_line("", line, f"{QUERY_RECORDS} line {number}").seq)
        except IndexStoreError as exc:
            fault(QUERY_RECORDS, str(exc), number)
            return
    expected: list[int] = []
    for name in sorted(n for n in source.names if n.startswith("packs/")):
        if not name.endswith("/events.jsonl") or name.count("/") != 2:
            continue
        with source.open(name) as fh:
            for number, raw in enumerate(fh, start=1):
                try:
                    row = row_from_line("", raw.rstrip(b"\n"), f"{name} line {number}")
                except IndexStoreError:
                    continue  # verify_pack reports the line
                if query_matches(parsed, row):
                    expected.append(row.seq)
    missing = sorted(set(expected) - set(selected))
    extra = sorted(set(selected) - set(expected))
    for seq in missing[:20]:
        fault(QUERY_RECORDS, f"leaves out record seq {seq}, which the query matches")
    for seq in extra[:20]:
        fault(QUERY_RECORDS, f"holds record seq {seq}, which the query does not match")
    if len(missing) + len(extra) > 40:
        fault(QUERY_RECORDS, f"{len(missing)} left out and {len(extra)} extra record(s) in all")
    if selected != sorted(selected):
        fault(QUERY_RECORDS, "records are not in seq order")
