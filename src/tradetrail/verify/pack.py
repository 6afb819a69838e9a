"""Offline verification of a daily pack: `tradetrail verify-pack PATH --vkey KEY`.

Needs the pack and the verifier key only. Checks the signature of manifest.sig over
manifest.json (attestation signatures are checked against the officers' keys given with
`--attester`; signatures by keys not given are listed as not checked, never as faults),
every file's size and SHA-256 against the signed manifest, SHA256SUMS, the signed checkpoint, the
seq/prev chain and Merkle root of events.jsonl (the tree before the day from proofs.json,
extended by every line, must give the checkpoint's root), the inclusion and consistency proofs,
and every derived file, rebuilt from events.jsonl by the code that made it and compared row by
row. Every fault names its file and, where it has one, the line or row and column.

A pack is checked in the format its signed manifest names: `tradetrail.daily-pack/3` (made now),
`/2` (CSV times and decimals as recorded, the blotter from each execution's event alone) or `/1`
(no corrections.csv; nav.csv and positions.csv cells neutralised twice), whose derived files,
file list and README are rebuilt as that format made them; any other format is a fault. The
records from before the day that the derived files depend on (proofs.json `config_records` and,
from /3, `reference_records`) are used only once proven into the pack's checkpoint.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from .._version import __version__
from ..core.checkpoint import Checkpoint, parse_checkpoint_body
from ..core.note import Note, Verifier, open_note, parse_note
from ..core.pack import (
    CHECKPOINT_FILE,
    EVENTS_FILE,
    FORMAT,
    FORMATS,
    HISTORY_FILE,
    MANIFEST_FILE,
    PROOFS_FILE,
    README_FILE,
    SIGNATURE_FILE,
    SUMS_FILE,
    UNLISTED,
    build_manifest,
    embedded_document_ok,
    fold,
    format_version,
    parse_date,
    render_readme,
    sha256sums,
)
from ..core.packscan import ScanResult, file_sha256, run_passes, tables_pass
from ..core.packtables import (
    DERIVED_FILES,
    PACK_VERSION,
    VERSION_CSV_COLUMNS,
    DayTables,
    FileInfo,
)
from ..errors import CheckpointError, ConfigError, NoteError, PackUsageError, ProofError
from ..store.keyhistory import KeyHistory, KeySpan, check_signed_at
from ..store.proofs import verify_proof_json
from .trail import FaultReport

__all__ = ["PackFault", "PackKeys", "PackReport", "PackUsageError", "verify_pack"]

_ROW_FAULTS_PER_FILE: Final = 20
_HEX64: Final = frozenset("0123456789abcdef")


@dataclass
class PackFault:
    """One thing wrong with a pack, and where."""

    file: str | None
    message: str
    line: int | None = None
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = self.file or "pack"
        if self.line is not None:
            where += f" line {self.line}"
        if self.row is not None:
            where += f" row {self.row}"
        if self.column is not None:
            where += f" column {self.column}"
        return f"{where}: {self.message}"


@dataclass
class PackReport(FaultReport):
    path: str
    date: str | None = None
    partial: bool | None = None
    records: int = 0
    seq: dict[str, int] | None = None
    checkpoint_size: int | None = None
    files_checked: int = 0
    faults: list[PackFault] = field(default_factory=list)
    fault_count: int = 0
    warnings: list[str] = field(default_factory=list)
    established: list[str] = field(default_factory=list)
    signatures: list[dict[str, str]] = field(default_factory=list)
    """Every signature on manifest.sig: name, key_id, role (trail, attester, unknown) and
    status (verified, invalid, not checked)."""

    @property
    def attested_by(self) -> list[str]:
        """The names of the given attester keys whose signature verified."""
        return [
            s["name"]
            for s in self.signatures
            if s["role"] == "attester" and s["status"] == "verified"
        ]

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out["attested_by"] = self.attested_by
        return out


class _Faults:
    def __init__(self, report: PackReport, limit: int) -> None:
        self.report = report
        self.limit = limit

    def __call__(
        self,
        file: str | None,
        message: str,
        *,
        line: int | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.report.fault_count += 1
        if len(self.report.faults) < self.limit:
            self.report.faults.append(PackFault(file, message, line, row, column))


def _first_difference(a: bytes, b: bytes) -> int:
    """1-based line number of the first line where two texts differ."""
    for number, (x, y) in enumerate(itertools.zip_longest(a.split(b"\n"), b.split(b"\n")), 1):
        if x != y:
            return number
    return 1


# ------------------------------------------------------------------------------ manifest shape


def _manifest_problem(manifest: Any) -> str | None:
    """Why a manifest cannot be used to check a pack, or None."""
    if not isinstance(manifest, dict):
        return "not a JSON object"
    files = manifest.get("files")
    if not isinstance(files, list):
        return "files: missing or not a list"
    names: set[str] = set()
    for i, entry in enumerate(files):
        if not isinstance(entry, dict):
            return f"files[{i}]: not an object"
        name = entry.get("name")
        if not isinstance(name, str) or not name or "/" in name or "\\" in name or name[0] == ".":
            return f"files[{i}].name: {name!r} is not a plain file name"
        if name in names:
            return f"files[{i}].name: {name} is listed twice"
        names.add(name)
        sha = entry.get("sha256")
        if not isinstance(sha, str) or len(sha) != 64 or not set(sha) <= _HEX64:
            return f"files[{i}].sha256: not 64 lowercase hex digits"
        if type(entry.get("size")) is not int:
            return f"files[{i}].size: not an integer"
    day = manifest.get("date")
    try:
        parse_date(day if isinstance(day, str) else "")
    except ValueError:
        return f"date: {day!r} is not a YYYY-MM-DD date"
    cp = manifest.get("checkpoint")
    if not isinstance(cp, dict) or type(cp.get("size")) is not int:
        return "checkpoint: missing or without a size"
    if not isinstance(cp.get("root"), str):
        return "checkpoint.root: missing"
    return None


# ------------------------------------------------------------------------------ comparisons


def _csv_rows(path: Path) -> Iterator[list[str]]:
    with open(path, encoding="utf-8", newline="", errors="replace") as fh:
        yield from csv.reader(fh)


def _compare_csv(
    name: str, columns: Sequence[str], pack: Path, rebuilt: Path, fault: _Faults
) -> None:
    seq_at = columns.index("seq") if "seq" in columns else -1
    shown = 0
    more = 0
    identical_cells = True
    try:
        pairs = itertools.zip_longest(_csv_rows(pack), _csv_rows(rebuilt))
        for number, (got, want) in enumerate(pairs, 1):
            if got == want:
                continue
            identical_cells = False
            if shown >= _ROW_FAULTS_PER_FILE:
                more += 1
                continue
            shown += 1
            if want is None:
                fault(name, "row not given by the events (added)", row=number)
            elif got is None:
                fault(name, "row missing: the events give it (removed)", row=number)
            elif number == 1:
                fault(name, f"header is not {','.join(columns)}", row=1)
            else:
                bad = [
                    i for i in range(max(len(got), len(want))) if i >= len(got) or i >= len(want)
                ] or [i for i in range(len(want)) if got[i] != want[i]]
                source = f" (seq {want[seq_at]})" if 0 <= seq_at < len(want) else ""
                for i in bad[:5]:
                    column = columns[i] if i < len(columns) else f"#{i + 1}"
                    pack_cell = got[i] if i < len(got) else None
                    event_cell = want[i] if i < len(want) else None
                    fault(
                        name,
                        f"pack has {pack_cell!r}, the events{source} give {event_cell!r}",
                        row=number,
                        column=column,
                    )
    except csv.Error as exc:
        fault(name, f"not valid CSV: {exc}")
        return
    if more:
        fault(name, f"... and {more} more differing row(s)")
    if identical_cells:
        line = _first_difference(pack.read_bytes(), rebuilt.read_bytes())
        fault(name, "same cells, different bytes (quoting or line ends)", line=line)


def _compare_lines(name: str, pack: Path, rebuilt: Path, fault: _Faults) -> None:
    shown = more = 0
    with open(pack, "rb") as got_fh, open(rebuilt, "rb") as want_fh:
        for number, (got, want) in enumerate(itertools.zip_longest(got_fh, want_fh), 1):
            if got == want:
                continue
            if shown >= _ROW_FAULTS_PER_FILE:
                more += 1
                continue
            shown += 1
            if want is None:
                fault(name, "line not given by the events (added)", line=number)
            elif got is None:
                fault(name, "line missing: the events give it (removed)", line=number)
            else:
                fault(name, "differs from what the events give", line=number)
    if more:
        fault(name, f"... and {more} more differing line(s)")


# ------------------------------------------------------------------------------ the check


@dataclass
class PackKeys:
    """The keys a pack's signatures may be by: the given ones and, when the pack carries the
    trail's key history (trail.vkeys, after a key rotation), every key that verified rotations
    join to one of them, each valid only at the tree sizes the history gives it (see
    keyhistory; `tradetrail verify` trusts a trail's history the same way)."""

    roots: list[Verifier]
    history: KeyHistory | None = None
    spans: list[KeySpan] | None = None

    @property
    def keys(self) -> list[Verifier]:
        return list(dict.fromkeys([*self.roots, *(s.verifier for s in self.spans or ())]))

    @classmethod
    def load(
        cls, text: bytes | None, roots: Sequence[Verifier], fault: Callable[[str, str], None]
    ) -> PackKeys:
        """From the bytes of a carried trail.vkeys (None: the pack carries none); `fault(file,
        message)` is told what is wrong with it."""
        keys = cls(list(roots))
        if text is None:
            return keys
        try:
            history = KeyHistory.parse(text.decode("utf-8"), HISTORY_FILE)
        except UnicodeDecodeError:
            fault(HISTORY_FILE, "not UTF-8 text")
            return keys
        except ConfigError as exc:
            fault(HISTORY_FILE, f"does not parse: {exc}")
            return keys
        for _index, problem in history.broken:
            fault(HISTORY_FILE, f"key rotation does not verify: {problem}")
        keys.history, keys.spans = history, history.trusted(roots)
        if not keys.spans:
            fault(
                HISTORY_FILE,
                "does not reach any verifier key given (none of them is in the key history, so "
                "no key of it is trusted): " + ", ".join(v.vkey() for v in roots),
            )
        return keys

    def open_checkpoint(self, text: str) -> Checkpoint:
        """Verify a signed checkpoint: by a trusted key valid at its size."""
        note, verified = open_note(text, self.keys)
        cp = parse_checkpoint_body(note.text)
        if self.spans is not None:
            check_signed_at(self.spans, verified, cp.size)
        return cp

    def verify_proof(self, proof: dict[str, Any]) -> list[str]:
        return verify_proof_json(proof, self.roots, history=self.history)


@dataclass
class _Context:
    path: Path
    keys: PackKeys
    fault: _Faults
    report: PackReport
    manifest: dict[str, Any]
    manifest_data: bytes
    listed: dict[str, dict[str, Any]]
    version: int = PACK_VERSION
    """The pack format the manifest names: the derived files are rebuilt in it."""
    pack_hashes: dict[str, tuple[str, int]] = field(default_factory=dict)


def verify_pack(
    path: Path | str,
    vkeys: Sequence[Verifier],
    *,
    attesters: Sequence[Verifier] = (),
    max_faults: int = 200,
    progress: Callable[[int], None] | None = None,
) -> PackReport:
    """Check a daily pack offline against verifier keys; see the module docstring. Each of
    `attesters` (compliance officers' keys, never trusted for the trail's own signatures) must
    have a valid signature on manifest.sig. Raises PackUsageError when `path` is not a pack or
    no key is given."""
    path = Path(path)
    if not path.exists():
        raise PackUsageError(f"{path}: no such file or directory")
    if not path.is_dir():
        raise PackUsageError(f"{path}: not a pack directory nor an exam package (a .zip)")
    if not (path / MANIFEST_FILE).exists() and not (path / SIGNATURE_FILE).exists():
        raise PackUsageError(f"{path}: not a pack (no {MANIFEST_FILE} nor {SIGNATURE_FILE})")
    if not vkeys:
        raise PackUsageError("give the verifier key of the trail (--vkey)")
    report = PackReport(str(path))
    fault = _Faults(report, max_faults)
    history = path / HISTORY_FILE
    keys = PackKeys.load(history.read_bytes() if history.is_file() else None, vkeys, fault)
    opened = _open_manifest(path, keys.keys, fault, report)
    _check_attestations(path, keys.keys, attesters, fault, report)
    if opened is None:
        return report
    manifest, data = opened
    listed = {entry["name"]: entry for entry in manifest["files"]}
    version = format_version(manifest.get("format"))
    ctx = _Context(path, keys, fault, report, manifest, data, listed, version or PACK_VERSION)
    report.date = manifest["date"]
    report.partial = manifest.get("partial") is True
    report.checkpoint_size = manifest["checkpoint"]["size"]
    if version is None:
        known = " or ".join(repr(name) for name in FORMATS)
        fault(MANIFEST_FILE, f"format {manifest.get('format')!r} is not {known}")
    elif version == 1:
        report.warnings.append(
            "made in format /1 (no corrections.csv; nav.csv and positions.csv cells starting "
            "with = + - @ tab, carriage return or ' were neutralised twice, e.g. ''=x: drop "
            f"both quotes there): checked as /1; packs are now made in {FORMAT}"
        )
    elif version == 2:
        report.warnings.append(
            "made in format /2 (times and decimals as recorded; the blotter's currency, "
            "client_order_id, counterparty and settlement_date only from the execution's own "
            f"event): checked as /2; packs are now made in {FORMAT}"
        )
    made_by = (manifest.get("tool") or {}).get("version")
    if made_by != __version__:
        report.warnings.append(
            f"the pack was made by tradetrail {made_by}; this is {__version__}: derived files "
            "are rebuilt with this version's code"
        )
    if report.partial:
        report.warnings.append(
            "partial pack: the day was still open when it was made; it covers the day's records "
            "up to its checkpoint only"
        )
    proofs = _load_proofs(ctx)
    checkpoint = _check_checkpoint(ctx, proofs)
    if (path / EVENTS_FILE).is_file() and proofs is not None:
        with tempfile.TemporaryDirectory(prefix="tradetrail-verify-pack-") as tmp:
            _check_events(ctx, Path(tmp), checkpoint, proofs, progress)
    else:
        _check_files(ctx)
        if proofs is None:
            fault(PROOFS_FILE, "cannot check events.jsonl and the derived files without it")
    if report.ok:
        report.established.append(
            f"{report.date}: {report.records} record(s) and every derived file agree with the "
            f"signed checkpoint at size {report.checkpoint_size}"
        )
    return report


def _open_manifest(
    path: Path, vkeys: Sequence[Verifier], fault: _Faults, report: PackReport
) -> tuple[dict[str, Any], bytes] | None:
    """The signed manifest when its signature verifies (else manifest.json, flagged)."""
    try:
        data: bytes | None = (path / MANIFEST_FILE).read_bytes()
    except FileNotFoundError:
        fault(MANIFEST_FILE, "missing")
        data = None
    signed: bytes | None = None
    try:
        note, verified = open_note((path / SIGNATURE_FILE).read_text(encoding="utf-8"), vkeys)
        signed = note.text.encode("utf-8")
        names = ", ".join(v.name for v in verified)
        report.established.append(f"{SIGNATURE_FILE}: signed by {names}")
    except FileNotFoundError:
        fault(SIGNATURE_FILE, "missing: the manifest is not signed")
    except UnicodeDecodeError:
        fault(SIGNATURE_FILE, "not UTF-8 text")
    except NoteError as exc:
        fault(SIGNATURE_FILE, f"does not verify with the given key(s): {exc}")
    if signed is not None and data is not None and signed != data:
        fault(
            MANIFEST_FILE,
            "is not the text signed in manifest.sig (it was changed after signing)",
            line=_first_difference(data, signed),
        )
    text = signed if signed is not None else data
    if text is None:
        return None
    try:
        manifest = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        fault(MANIFEST_FILE, f"not JSON: {exc}")
        return None
    problem = _manifest_problem(manifest)
    if problem is not None:
        fault(MANIFEST_FILE, problem)
        return None
    return manifest, text


def _check_attestations(
    path: Path,
    vkeys: Sequence[Verifier],
    attesters: Sequence[Verifier],
    fault: _Faults,
    report: PackReport,
) -> None:
    """List every signature on manifest.sig and check those by the given attester keys. A
    signature by a key nobody gave is not checked (and not a fault: anyone may co-sign a
    note); a given attester without a valid signature is a fault, since the caller asked for
    that attestation."""
    try:
        note: Note | None = parse_note((path / SIGNATURE_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, NoteError):
        note = None  # reported by _open_manifest
    trail = {(v.name, v.key_id): v for v in vkeys}
    officers = {(v.name, v.key_id): v for v in attesters if (v.name, v.key_id) not in trail}
    signed: list[tuple[str, bytes]] = []
    message = note.text.encode("utf-8") if note is not None else b""
    for sig in note.signatures if note is not None else ():
        ident = (sig.name, sig.key_id)
        entry = {"name": sig.name, "key_id": sig.key_id.hex()}
        if ident in trail:  # a fault here is reported by _open_manifest
            ok = trail[ident].verify(message, sig.signature)
            entry |= {"role": "trail", "status": "verified" if ok else "invalid"}
        elif ident in officers:
            ok = officers[ident].verify(message, sig.signature)
            entry |= {"role": "attester", "status": "verified" if ok else "invalid"}
            if ok:
                if ident not in signed:
                    signed.append(ident)
            else:
                fault(
                    SIGNATURE_FILE,
                    f"attestation signature by {sig.name} (key id {sig.key_id.hex()}) does "
                    "not verify with the --attester key",
                )
        else:
            entry |= {"role": "unknown", "status": "not checked"}
        report.signatures.append(entry)
    present = {(sig.name, sig.key_id) for sig in note.signatures} if note is not None else set()
    for ident, officer in officers.items():
        if ident not in present:
            fault(
                SIGNATURE_FILE,
                f"no attestation signature by {officer.name} (key id {officer.key_id.hex()}, "
                "given with --attester)",
            )
    if signed:
        names = ", ".join(name for name, _ in signed)
        report.established.append(f"{SIGNATURE_FILE}: attested by {names}")


def _check_files(ctx: _Context) -> None:
    fault, path = ctx.fault, ctx.path
    present = sorted(p.name for p in path.iterdir())
    for name in present:
        if name not in ctx.listed and name not in UNLISTED:
            fault(name, "not listed in the manifest")
    for name, entry in sorted(ctx.listed.items()):
        file = path / name
        if not file.is_file():
            fault(name, "missing (listed in the manifest)")
            continue
        if name == EVENTS_FILE:
            continue  # hashed while it is read
        if name not in ctx.pack_hashes:
            ctx.pack_hashes[name] = file_sha256(file)
        sha, size = ctx.pack_hashes[name]
        ctx.report.files_checked += 1
        if size != entry["size"]:
            fault(name, f"size {size} bytes, the manifest says {entry['size']}")
        if sha != entry["sha256"]:
            fault(name, "sha256 differs from the manifest")
    sums = path / SUMS_FILE
    if not sums.is_file():
        fault(SUMS_FILE, "missing")
        return
    want = sha256sums(ctx.manifest, ctx.manifest_data)
    got = sums.read_bytes()
    if got != want:
        for number, (a, b) in enumerate(
            itertools.zip_longest(got.split(b"\n"), want.split(b"\n")), 1
        ):
            if a != b:
                fault(SUMS_FILE, "line differs from the manifest", line=number)


def _open_checkpoint_text(ctx: _Context, text: Any) -> Checkpoint | None:
    if not isinstance(text, str):
        return None
    try:
        return ctx.keys.open_checkpoint(text)
    except (NoteError, CheckpointError):
        return None


def _check_checkpoint(ctx: _Context, proofs: dict[str, Any] | None) -> Checkpoint | None:
    """The pack's signed checkpoint. When the file is missing, forged or not the one the
    manifest names, the same checkpoint attached to the proofs (signed too) stands in, so the
    rest of the pack is still checked rather than buried under follow-on faults."""
    fault, said = ctx.fault, ctx.manifest["checkpoint"]
    checkpoint: Checkpoint | None = None
    try:
        text = (ctx.path / CHECKPOINT_FILE).read_text(encoding="utf-8")
        checkpoint = ctx.keys.open_checkpoint(text)
    except FileNotFoundError:
        pass  # reported as missing
    except (UnicodeDecodeError, NoteError, CheckpointError) as exc:
        hint = (
            f" (the pack carries no key history, {HISTORY_FILE}: if the trail's key was rotated, "
            "give the key that signed, or the trail's history: --vkey trail.vkeys)"
            if ctx.keys.history is None
            else ""
        )
        fault(CHECKPOINT_FILE, f"does not verify with the given key(s): {exc}{hint}")
    if checkpoint is not None and (
        checkpoint.size != said["size"] or checkpoint.root.hex() != said["root"]
    ):
        fault(
            CHECKPOINT_FILE,
            f"is for size {checkpoint.size}, root {checkpoint.root.hex()}; the manifest names "
            f"size {said['size']}, root {said['root']}",
        )
        checkpoint = None
    if checkpoint is None:
        for key in ("last", "first", "consistency"):
            proof = proofs.get(key) if proofs is not None else None
            if not isinstance(proof, dict):
                continue
            candidate = _open_checkpoint_text(ctx, proof.get("checkpoint"))
            if (
                candidate is not None
                and candidate.size == said["size"]
                and candidate.root.hex() == said["root"]
            ):
                ctx.report.warnings.append(
                    f"checked against the signed checkpoint attached to proofs.json {key} "
                    f"instead of the {CHECKPOINT_FILE} file"
                )
                checkpoint = candidate
                break
        else:
            return None
    assert checkpoint is not None
    if checkpoint.origin != ctx.manifest.get("origin"):
        fault(CHECKPOINT_FILE, f"is for log {checkpoint.origin!r}, not the manifest's origin")
    ctx.report.established.append(
        f"{CHECKPOINT_FILE}: signed, {checkpoint.origin} at size {checkpoint.size}"
    )
    return checkpoint


def _load_proofs(ctx: _Context) -> dict[str, Any] | None:
    try:
        proofs = orjson.loads((ctx.path / PROOFS_FILE).read_bytes())
    except FileNotFoundError:
        return None
    except orjson.JSONDecodeError as exc:
        ctx.fault(PROOFS_FILE, f"not JSON: {exc}")
        return None
    frontier = proofs.get("frontier") if isinstance(proofs, dict) else None
    if not isinstance(frontier, dict):
        ctx.fault(PROOFS_FILE, "frontier: missing")
        return None
    size, hashes = frontier.get("size"), frontier.get("hashes")
    if (
        type(size) is not int
        or size < 0
        or not isinstance(hashes, list)
        or len(hashes) != size.bit_count()
        or not all(isinstance(h, str) and len(h) == 64 and set(h) <= _HEX64 for h in hashes)
    ):
        ctx.fault(PROOFS_FILE, "frontier: not a compact range (size and one hash per set bit)")
        return None
    assert isinstance(proofs, dict)
    return proofs


def _proof(
    ctx: _Context, proofs: dict[str, Any], key: str, checkpoint: Checkpoint | None
) -> dict[str, Any] | None:
    return _verify_one(ctx, proofs.get(key), key, checkpoint)


def _verify_one(
    ctx: _Context, proof: Any, label: str, checkpoint: Checkpoint | None
) -> dict[str, Any] | None:
    """Verify one proof of proofs.json against the keys and the pack's checkpoint."""
    if not isinstance(proof, dict):
        ctx.fault(PROOFS_FILE, f"{label}: missing or not an object")
        return None
    try:
        ctx.keys.verify_proof(proof)
    except ProofError as exc:
        ctx.fault(PROOFS_FILE, f"{label}: {exc}")
        return None
    if checkpoint is not None:
        size = proof.get("tree_size", proof.get("new_size"))
        root = proof.get("root", proof.get("new_root"))
        if size != checkpoint.size or root != checkpoint.root.hex():
            ctx.fault(PROOFS_FILE, f"{label}: proves into size {size}, not the pack's checkpoint")
            return None
    return proof


def _check_events(
    ctx: _Context,
    tmp: Path,
    checkpoint: Checkpoint | None,
    proofs: dict[str, Any],
    progress: Callable[[int], None] | None,
) -> None:
    fault, manifest, report = ctx.fault, ctx.manifest, ctx.report
    day = manifest["date"]
    frontier = [bytes.fromhex(h) for h in proofs["frontier"]["hashes"]]
    start = proofs["frontier"]["size"]
    found: list[tuple[int, bytes]] = []
    # config_records: the configuration in force; reference_records (format 3): the orders and
    # instruments from before the day that its blotter joins
    for key in ("config_records", "reference_records"):
        records = proofs.get(key) or []
        if not isinstance(records, list):
            fault(PROOFS_FILE, f"{key}: not a list")
            records = []
        for i, item in enumerate(records):
            proof = _verify_one(ctx, item, f"{key}[{i}]", checkpoint)
            if proof is None:
                continue
            if not isinstance(proof.get("record"), str) or proof["leaf_index"] >= start:
                fault(PROOFS_FILE, f"{key}[{i}]: no record from before the day")
                continue
            found.append((proof["leaf_index"], proof["record"].encode("utf-8")))
    prior = [line for _, line in sorted(found)]
    documents = _embedded_documents(ctx.path)
    tables = DayTables(None, day, prior, documents, version=ctx.version)  # hashed only
    others = [n for n in sorted(ctx.listed) if n != EVENTS_FILE and (ctx.path / n).is_file()]
    try:
        scan = run_passes(
            ctx.path / EVENTS_FILE,
            limit=None,
            start=start,
            frontier=frontier,
            day=day,
            tables=tables,
            progress=progress,
            hash_files=[str(ctx.path / n) for n in others],  # hashed beside, in the tree pass
        )
        rebuilt = tables.finish()
    except BaseException:
        tables.abort()
        raise
    ctx.pack_hashes.update({Path(p).name: h for p, h in scan.file_hashes.items()})
    _check_files(ctx)
    for message, line in scan.faults:
        fault(EVENTS_FILE, message, line=line)
    _report_chain_breaks(ctx, scan.chain_breaks)
    report.records = scan.count
    if scan.count:
        assert scan.first_seq is not None and scan.last_seq is not None
        report.seq = {"first": scan.first_seq, "last": scan.last_seq}
    report.files_checked += 1
    entry = ctx.listed.get(EVENTS_FILE)
    events_intact = entry is not None and scan.sha256 == entry["sha256"]
    if entry is not None:
        if scan.bytes != entry["size"]:
            fault(EVENTS_FILE, f"size {scan.bytes} bytes, the manifest says {entry['size']}")
        if scan.sha256 != entry["sha256"]:
            fault(EVENTS_FILE, "sha256 differs from the manifest")
    _check_root(ctx, proofs, scan, checkpoint)
    previous = _check_proofs(ctx, proofs, scan, checkpoint, frontier)
    made: list[Path] = []

    def rebuilt_files() -> Path:
        """The derived files rebuilt into `tmp` (a second pass, only when one differs)."""
        if not made:
            again = DayTables(tmp, day, prior, documents, version=ctx.version)
            try:
                tables_pass(ctx.path / EVENTS_FILE, limit=None, tables=again)
                again.finish()
            except BaseException:
                again.abort()
                raise
            made.append(tmp)
        return made[0]

    _check_derived(ctx, rebuilt_files, rebuilt, events_intact)
    _check_manifest_content(ctx, scan, checkpoint, previous, tables, rebuilt)


def _embedded_documents(path: Path) -> Callable[[str], Any]:
    """The snapshot document embedded in the pack's config_snapshot.json, for the hash it has
    in canonical form: the configuration files' text comes from the pack, proven by the hash
    that the snapshot event (in the signed tree) records."""
    try:
        embedded = orjson.loads((path / "config_snapshot.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        embedded = None
    document = embedded.get("document") if isinstance(embedded, dict) else None

    def load(digest: str) -> Any:
        if document is not None and embedded_document_ok(document, digest):
            return document
        return None

    return load


def _check_root(
    ctx: _Context, proofs: dict[str, Any], scan: ScanResult, checkpoint: Checkpoint | None
) -> None:
    fault, manifest = ctx.fault, ctx.manifest
    if checkpoint is None:
        fault(EVENTS_FILE, "cannot be held against a checkpoint: none verifies")
        return
    extension = proofs.get("extension")
    if extension is None:
        if scan.size != checkpoint.size or scan.root != checkpoint.root:
            fault(
                EVENTS_FILE,
                f"the tree before the day extended by these {scan.count} line(s) (size "
                f"{scan.size}, root {scan.root.hex()}) is not the signed checkpoint (size "
                f"{checkpoint.size}): records were altered, added, removed or reordered",
            )
        else:
            ctx.report.established.append(
                f"{EVENTS_FILE}: every line is in the signed tree, in order, none missing"
            )
    else:
        proof = _verify_one(ctx, extension, "extension", checkpoint)
        if proof is not None and (
            proof.get("old_size") != scan.size or proof.get("old_root") != scan.root.hex()
        ):
            fault(
                EVENTS_FILE,
                f"the records give the tree of size {scan.size}, root {scan.root.hex()}, not "
                "the one the extension proof starts from",
            )
    if manifest["checkpoint"].get("at_seal") is True and scan.size != checkpoint.size:
        fault(
            MANIFEST_FILE,
            f"says the checkpoint was signed at the seal, but the day ends at size {scan.size}",
        )


def _check_proofs(
    ctx: _Context,
    proofs: dict[str, Any],
    scan: ScanResult,
    checkpoint: Checkpoint | None,
    frontier: list[bytes],
) -> Checkpoint | None:
    """The first/last inclusion proofs and the consistency proof; returns the previous day's
    checkpoint as the consistency proof establishes it."""
    fault, manifest = ctx.fault, ctx.manifest
    for key, line in (("first", scan.first_line), ("last", scan.last_line)):
        if line is None:
            if proofs.get(key) is not None:
                fault(PROOFS_FILE, f"{key}: a proof, but events.jsonl has no records")
            continue
        proof = _proof(ctx, proofs, key, checkpoint)
        if proof is None:
            continue
        if proof.get("record", "").encode("utf-8") != line:
            number = 1 if key == "first" else scan.count
            fault(EVENTS_FILE, f"differs from the {key} record proven in proofs.json", line=number)
    previous_said = manifest.get("previous_checkpoint")
    consistency = proofs.get("consistency")
    if previous_said is None and consistency is None:
        if scan.size - scan.count > 0:
            ctx.report.warnings.append("no consistency proof from a previous day's checkpoint")
        return None
    proof = _proof(ctx, proofs, "consistency", checkpoint)
    if proof is None:
        return None
    old_size, old_root = proof.get("old_size"), proof.get("old_root")
    if not isinstance(previous_said, dict) or (
        previous_said.get("size") != old_size or previous_said.get("root") != old_root
    ):
        fault(PROOFS_FILE, "consistency: not from the previous checkpoint the manifest names")
    start = scan.size - scan.count
    if old_size == start and old_root != fold(frontier).hex():
        fault(
            PROOFS_FILE,
            "frontier: the tree before the day is not the previous day's checkpoint",
        )
    if not isinstance(proof.get("old_checkpoint"), str):
        ctx.report.warnings.append("consistency: no signed checkpoint of the previous day")
    ctx.report.established.append(
        f"{PROOFS_FILE}: the tree extends the previous day's checkpoint (size {old_size})"
    )
    origin = checkpoint.origin if checkpoint is not None else str(manifest.get("origin"))
    return Checkpoint(origin, int(str(old_size)), bytes.fromhex(str(old_root)))


def _report_chain_breaks(ctx: _Context, breaks: list[int]) -> None:
    """Name the altered line from where the prev chain breaks: a line whose bytes changed
    breaks the link to the next line only; a changed prev field breaks its own link and the
    next one."""
    i = 0
    while i < len(breaks):
        line = breaks[i]
        if i + 1 < len(breaks) and breaks[i + 1] == line + 1:
            ctx.fault(
                EVENTS_FILE, "altered: its prev does not chain, nor does the next line's", line=line
            )
            i += 2
        else:
            ctx.fault(
                EVENTS_FILE,
                f"altered: its leaf hash is not the prev of line {line} (or that line's prev was "
                "changed)",
                line=line - 1,
            )
            i += 1


def _check_derived(
    ctx: _Context,
    rebuilt_files: Callable[[], Path],
    rebuilt: dict[str, FileInfo],
    events_intact: bool,
) -> None:
    """Each derived file against the one rebuilt from events.jsonl. When events.jsonl itself
    was altered, a derived file that still matches the signed manifest is left alone: the
    difference is events.jsonl's, reported there."""
    fault = ctx.fault
    columns = VERSION_CSV_COLUMNS[ctx.version]
    for name in DERIVED_FILES[ctx.version]:
        info = rebuilt[name]
        entry = ctx.listed.get(name)
        sha = ctx.pack_hashes.get(name, (None, None))[0]
        if entry is None:
            fault(name, "not listed in the manifest")
        elif not events_intact and sha == entry["sha256"]:
            continue
        elif entry["sha256"] != info.sha256:
            fault(MANIFEST_FILE, f"lists a sha256 for {name} that the events do not give")
        pack_file = ctx.path / name
        if not pack_file.is_file() or sha == info.sha256:
            continue
        if name in columns:
            _compare_csv(name, columns[name], pack_file, rebuilt_files() / name, fault)
        else:
            _compare_lines(name, pack_file, rebuilt_files() / name, fault)


def _check_manifest_content(
    ctx: _Context,
    scan: ScanResult,
    checkpoint: Checkpoint | None,
    previous: Checkpoint | None,
    tables: DayTables,
    rebuilt: dict[str, FileInfo],
) -> None:
    """The manifest's own statements (records, seq range, summary, notes ...) against what the
    pack's data give, and the README against what the manifest gives."""
    fault, manifest = ctx.fault, ctx.manifest
    readme = render_readme(manifest)
    readme_file = ctx.path / README_FILE
    same_tool = (manifest.get("tool") or {}).get("version") == __version__
    if readme_file.is_file() and same_tool:  # its wording may change between versions
        got = readme_file.read_bytes()
        if got != readme:
            fault(
                README_FILE,
                "differs from what the manifest gives",
                line=_first_difference(got, readme),
            )
    if checkpoint is None:
        return
    files = [FileInfo(EVENTS_FILE, scan.sha256, scan.bytes, scan.count), *rebuilt.values()]
    for name in (PROOFS_FILE, CHECKPOINT_FILE, HISTORY_FILE):
        if name in ctx.pack_hashes:
            sha, size = ctx.pack_hashes[name]
            files.append(FileInfo(name, sha, size, None))
    if same_tool:
        files.append(FileInfo(README_FILE, hashlib.sha256(readme).hexdigest(), len(readme), None))
    elif README_FILE in ctx.pack_hashes:
        sha, size = ctx.pack_hashes[README_FILE]
        files.append(FileInfo(README_FILE, sha, size, None))
    expected = build_manifest(
        date=manifest["date"],
        origin=checkpoint.origin,
        partial=manifest.get("partial") is True,
        at_seal=manifest["checkpoint"].get("at_seal") is True,
        scan=scan,
        checkpoint=checkpoint,
        previous=previous,
        tables=tables,
        files=files,
        tool_version=str((manifest.get("tool") or {}).get("version")),
    ).to_dict()
    for key in sorted(set(expected) | set(manifest)):
        if key == "files":
            continue
        if expected.get(key) != manifest.get(key):
            fault(
                MANIFEST_FILE,
                f"{key}: says {_short(manifest.get(key))}, the pack's data give "
                f"{_short(expected.get(key))}",
            )
    want = {f["name"]: f for f in expected["files"]}
    for name, entry in sorted(ctx.listed.items()):
        if name not in want:
            fault(MANIFEST_FILE, f"files: lists {name}, which is not part of a daily pack")
        elif entry.get("rows") != want[name]["rows"]:
            fault(
                MANIFEST_FILE,
                f"files: {name} has {want[name]['rows']} row(s), the manifest says "
                f"{entry.get('rows')}",
            )
    for name in sorted(set(want) - set(ctx.listed)):
        fault(MANIFEST_FILE, f"files: does not list {name}")


def _short(value: Any) -> str:
    text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return text if len(text) <= 200 else text[:197] + "..."
