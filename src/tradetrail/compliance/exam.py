"""The exam package: one file an examiner can check without trusting us, for any date range.

`export_exam(home, "2024-03-01", "2024-03-31", out="exam.zip")` writes a deterministic zip
whose entries all sit under one folder, `exam-2024-03-01_2024-03-31/`:

    README.md            for examiners: what is inside and how to check it with standard tools
    CONTENTS.md          the index of contents: every day with its records, seq range, trading
                         and attestation signatures; the reports; the query selection
    packs/YYYY-MM-DD/    the daily pack of every UTC day of the range (made if missing), as made
    reports/*.html|json  the daily, risk, execution, configuration and access reports
    query/               with a query: the matching journal lines, byte for byte, and an
                         inclusion proof of each into the package's checkpoint
    checkpoint           the signed checkpoint of the last day (every pack chains up to it)
    trail.vkey           the trail's verifier key (check it against one obtained independently)
    trail.vkeys          after a key rotation: the key history that joins the trail's keys
    manifest.json        every file with SHA-256 and size, the packs, the reports, the query
    manifest.sig         manifest.json as a C2SP signed note
    SHA256SUMS           `sha256sum -c SHA256SUMS` inside the folder checks every file

Deterministic: the same trail and arguments give the same bytes (fixed entry times and
permissions, entries in a fixed order, nothing that says when it was made). Large ranges
stream: files go into the zip in blocks, so memory stays bounded whatever the range.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Final

import orjson

from .._version import __version__
from ..core import layout
from ..core.checkpoint import Checkpoint, open_checkpoint
from ..core.merkle import inclusion_proof, leaf_hash
from ..core.note import parse_note, sign_note
from ..core.pack import CHECKPOINT_FILE, MANIFEST_FILE, SIGNATURE_FILE, SUMS_FILE, parse_date
from ..core.packtables import SORT
from ..errors import ConfigError, ExamError, NoteError, PackError, TileError
from ..export.daily import check_not_before_trail, day_bounds, resolve_signer
from ..index import (
    Query,
    open_index,
    parse_query_text,
    query_json,
    query_matches,
    row_from_line,
    trail_origin,
    update_index,
)
from ..store.journal import JOURNAL_DIR, day_file_name, pruned_days
from ..store.keyhistory import HISTORY_FILE, trail_keys
from ..store.keys import VKEY_FILE, read_vkey
from ..store.tilestore import TileStore
from .export import export_daily

__all__ = [
    "EXAM_FORMAT",
    "ExamError",
    "ExamResult",
    "chains",
    "exam_sums",
    "export_exam",
    "package_folder",
    "render_exam_readme",
]

EXAM_FORMAT: Final = "tradetrail.exam-package/1"
README: Final = "README.md"
CONTENTS: Final = "CONTENTS.md"
QUERY_RECORDS: Final = "query/records.jsonl"
QUERY_PROOFS: Final = "query/proofs.jsonl"
REPORT_FORMATS: Final = ("html", "json")
ZIP_TIME: Final = (1980, 1, 1, 0, 0, 0)
"""Every entry's time: the zip epoch, so nothing in the package says when it was made."""
_BLOCK: Final = 1 << 20


@dataclass
class ExamResult:
    """What export_exam wrote."""

    path: Path
    start: str
    end: str
    days: int
    records: int
    made_packs: list[str]
    files: int
    bytes: int
    manifest_sha256: str
    checkpoint_size: int
    query_records: int | None
    created: bool
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "from": self.start,
            "to": self.end,
            "days": self.days,
            "records": self.records,
            "made_packs": self.made_packs,
            "files": self.files,
            "bytes": self.bytes,
            "manifest_sha256": self.manifest_sha256,
            "checkpoint_size": self.checkpoint_size,
            "query_records": self.query_records,
            "created": self.created,
            "warnings": self.warnings,
        }


def package_folder(start: str, end: str) -> str:
    """The one folder every entry of the zip sits in (unzipping never scatters files)."""
    return f"exam-{start}_{end}"


def _days(start: str, end: str) -> list[str]:
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def _signers_of(note_text: str) -> list[str]:
    try:
        return [f"{sig.name}+{sig.key_id.hex()}" for sig in parse_note(note_text).signatures]
    except NoteError:
        return []


@dataclass
class _Entry:
    """One file of the package: its name inside the folder and where its bytes come from."""

    name: str
    path: Path | None = None
    data: bytes | None = None

    def size(self) -> int:
        return len(self.data) if self.data is not None else self.path.stat().st_size  # type: ignore[union-attr]

    def chunks(self) -> Iterator[bytes]:
        if self.data is not None:
            yield self.data
            return
        assert self.path is not None
        with self.path.open("rb") as fh:
            while block := fh.read(_BLOCK):
                yield block


def _sha256(entry: _Entry) -> str:
    digest = hashlib.sha256()
    for block in entry.chunks():
        digest.update(block)
    return digest.hexdigest()


def _pack_summary(pack: Path) -> dict[str, Any]:
    manifest = orjson.loads((pack / MANIFEST_FILE).read_bytes())
    signature = (pack / SIGNATURE_FILE).read_text(encoding="utf-8")
    return {
        "date": manifest["date"],
        "folder": f"packs/{manifest['date']}",
        "manifest_sha256": hashlib.sha256((pack / MANIFEST_FILE).read_bytes()).hexdigest(),
        "records": manifest["records"],
        "seq": manifest["seq"],
        "trading": manifest["trading"],
        "checkpoint": manifest["checkpoint"],
        "previous_checkpoint": manifest["previous_checkpoint"],
        "summary": manifest.get("summary"),
        "signatures": _signers_of(signature),
    }


def _query_text(query: str | None) -> Query | None:
    if query is None:
        return None
    try:
        return parse_query_text(query)
    except ValueError as exc:
        raise ExamError(str(exc)) from None


def export_exam(
    home: Path | str,
    start: str,
    end: str,
    *,
    out: Path | str,
    query: str | None = None,
    signing_key: str | None = None,
    database_url: str | None = None,
    today: date | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> ExamResult:
    """Write the exam package of the UTC days `start`..`end` (inclusive) to the zip `out`.

    Every day must be sealed; its daily pack is made when missing, else the one in
    `<home>/exports/daily` is used as made (its signature is checked here; the examiner checks
    the rest). `query` (see parse_query_text) adds the matching records with inclusion proofs.
    `progress(phase, done, total)` reports "packs" (days) then "zip" (bytes). Refuses to
    overwrite a different file; an identical one is left alone (created=False)."""
    home = Path(home)
    try:
        start, end = parse_date(start), parse_date(end)
    except ValueError as exc:
        raise ExamError(str(exc)) from None
    if start > end:
        raise ExamError(f"--from {start} is after --to {end}")
    if not (home / JOURNAL_DIR).is_dir():
        raise ConfigError(f"{home} is not a trail (no journal/ directory)")
    parsed_query = _query_text(query)
    out = Path(out)
    if out.suffix.lower() != ".zip":
        raise ExamError(f"--out {out}: an exam package is a .zip file")
    read_vkey(home / VKEY_FILE)  # refuse a trail without its key before making anything
    try:  # days before the first record may open the range, but not make all of it
        check_not_before_trail(home, end)
    except PackError as exc:
        raise ExamError(f"--to {exc}") from None
    days = _days(start, end)
    for day in days:  # refuse before making anything
        bounds = day_bounds(home, day, today)
        if not bounds.sealed:
            state = "has not begun" if bounds.future else "is still open"
            raise ExamError(
                f"{day} {state} (UTC): an exam package covers sealed days only; end the range "
                "at the last finished day"
            )

    made: list[str] = []
    packs: list[Path] = []
    warnings: list[str] = []
    for number, day in enumerate(days):
        if progress is not None:
            progress("packs", number, len(days))
        pack = layout.daily_pack(home, day)
        manifest = pack / MANIFEST_FILE
        if not manifest.is_file() or orjson.loads(manifest.read_bytes()).get("partial") is True:
            result = export_daily(
                home, day, signing_key=signing_key, today=today, before_trail=True
            )
            warnings += result.warnings
            if result.created:
                made.append(day)
            pack = result.path
        _check_pack_signature(pack, signing_key, home)
        packs.append(pack)
    if progress is not None:
        progress("packs", len(days), len(days))
    summaries = [_pack_summary(p) for p in packs]
    _check_chain(summaries)

    last = packs[-1]
    cp_text = (last / CHECKPOINT_FILE).read_text(encoding="utf-8")
    checkpoint = open_checkpoint(cp_text, trail_keys(home))
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as scratch:
        return _package(
            home, out, start, end, days, made, packs, summaries, checkpoint, cp_text,
            parsed_query, query, signing_key, database_url, warnings, progress, Path(scratch),
        )  # fmt: skip


def _package(
    home: Path,
    out: Path,
    start: str,
    end: str,
    days: list[str],
    made: list[str],
    packs: list[Path],
    summaries: list[dict[str, Any]],
    checkpoint: Checkpoint,
    cp_text: str,
    parsed_query: Query | None,
    query: str | None,
    signing_key: str | None,
    database_url: str | None,
    warnings: list[str],
    progress: Callable[[str, int, int], None] | None,
    scratch: Path,
) -> ExamResult:
    entries: list[_Entry] = []
    for pack in packs:
        for file in sorted(pack.iterdir(), key=lambda p: p.name):
            entries.append(_Entry(f"packs/{pack.name}/{file.name}", path=file))
    report_names = _report_entries(home, start, end, entries)
    query_info: dict[str, Any] | None = None
    if parsed_query is not None:
        query_info = _query_entries(
            home, parsed_query, query or "", start, end, checkpoint, database_url, entries,
            scratch,
        )  # fmt: skip
    entries.append(_Entry(CHECKPOINT_FILE, data=cp_text.encode("utf-8")))
    entries.append(_Entry(VKEY_FILE, data=(home / VKEY_FILE).read_bytes()))
    if (home / HISTORY_FILE).is_file():  # after a key rotation: what joins its keys
        entries.append(_Entry(HISTORY_FILE, data=(home / HISTORY_FILE).read_bytes()))

    listed: list[dict[str, Any]] = [
        {"name": e.name, "sha256": _sha256(e), "size": e.size()} for e in entries
    ]
    records = sum(s["records"] for s in summaries)
    manifest_doc: dict[str, Any] = {
        "format": EXAM_FORMAT,
        "tool": {"name": "tradetrail", "version": __version__},
        "origin": checkpoint.origin,
        "period": {"from": start, "to": end, "days": len(days)},
        "records": records,
        "checkpoint": {
            "file": CHECKPOINT_FILE,
            "size": checkpoint.size,
            "root": checkpoint.root.hex(),
        },
        "packs": summaries,
        "reports": report_names,
        "query": query_info,
        "files": listed,
    }
    for name, render in ((README, render_exam_readme), (CONTENTS, render_contents)):
        data = render(manifest_doc)  # the listing so far: they cannot list themselves
        entries.append(_Entry(name, data=data))
        listed.append({"name": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})
    listed.sort(key=lambda f: str(f["name"]))
    manifest_data = orjson.dumps(manifest_doc, option=SORT | orjson.OPT_APPEND_NEWLINE)
    signer = resolve_signer(home, signing_key, checkpoint.origin)
    entries.append(_Entry(MANIFEST_FILE, data=manifest_data))
    entries.append(_Entry(SIGNATURE_FILE, data=sign_note(manifest_data.decode(), signer).encode()))
    entries.append(_Entry(SUMS_FILE, data=exam_sums(manifest_doc, manifest_data)))
    created, size = _write_zip(out, package_folder(start, end), entries, progress)
    return ExamResult(
        path=out,
        start=start,
        end=end,
        days=len(days),
        records=records,
        made_packs=made,
        files=len(entries),
        bytes=size,
        manifest_sha256=hashlib.sha256(manifest_data).hexdigest(),
        checkpoint_size=checkpoint.size,
        query_records=None if query_info is None else query_info["records"],
        created=created,
        warnings=warnings,
    )


def exam_sums(manifest: dict[str, Any], manifest_data: bytes) -> bytes:
    """SHA256SUMS: every listed file and manifest.json, by name."""
    rows = [(str(f["sha256"]), str(f["name"])) for f in manifest["files"]]
    rows.append((hashlib.sha256(manifest_data).hexdigest(), MANIFEST_FILE))
    return "".join(f"{sha}  {name}\n" for sha, name in sorted(rows, key=lambda r: r[1])).encode()


def _check_pack_signature(pack: Path, signing_key: str | None, home: Path) -> None:
    """The pack's manifest must be signed by a key of the trail (one before a rotation, for a
    pack made then) or the export key in use."""
    from ..core.note import open_note

    keys = trail_keys(home)
    if signing_key is not None:
        keys.append(resolve_signer(home, signing_key, keys[0].name).verifier())
    try:
        note, _ = open_note((pack / SIGNATURE_FILE).read_text(encoding="utf-8"), keys)
    except (OSError, NoteError, UnicodeDecodeError) as exc:
        raise ExamError(
            f"{pack}: manifest.sig does not verify against {VKEY_FILE} ({exc}); run "
            f"`tradetrail verify-pack {pack} --vkey {home / VKEY_FILE}`"
        ) from None
    if note.text.encode("utf-8") != (pack / MANIFEST_FILE).read_bytes():
        raise ExamError(f"{pack}: manifest.sig does not sign manifest.json")


def chains(checkpoint: Any, previous: Any) -> bool:
    """Whether a pack whose manifest names `previous` as its previous checkpoint follows the
    pack whose checkpoint is `checkpoint`. A pack with none starts the tree: the one before it
    can only be a day before the first record (a checkpoint of size 0)."""
    if not isinstance(checkpoint, dict):
        return False
    if previous is None:
        return checkpoint.get("size") == 0
    return (
        isinstance(previous, dict)
        and previous.get("size") == checkpoint.get("size")
        and previous.get("root") == checkpoint.get("root")
    )


def _check_chain(summaries: list[dict[str, Any]]) -> None:
    """Consecutive packs must chain: each one's previous checkpoint is the one before it."""
    for before, after in itertools.pairwise(summaries):
        prev = after["previous_checkpoint"]
        cp = before["checkpoint"]
        if not chains(cp, prev):
            raise ExamError(
                f"the pack of {after['date']} does not chain to the pack of {before['date']} "
                f"(its previous checkpoint is {prev}, the earlier pack's is size {cp['size']}); "
                "remake it with `tradetrail export daily`"
            )


def _report_entries(home: Path, start: str, end: str, entries: list[_Entry]) -> list[str]:
    from ..reports import REPORT_KINDS, build_reports, render

    names = []
    for kind, report in zip(
        REPORT_KINDS, build_reports(home, REPORT_KINDS, start, end), strict=True
    ):
        for fmt in REPORT_FORMATS:
            name = f"reports/{kind}.{fmt}"
            entries.append(_Entry(name, data=render(report, fmt)))
            names.append(name)
    return names


def _query_entries(
    home: Path,
    query: Query,
    text: str,
    start: str,
    end: str,
    checkpoint: Checkpoint,
    database_url: str | None,
    entries: list[_Entry],
    scratch: Path,
) -> dict[str, Any]:
    """The records the query selects within the range, each proven into the checkpoint.
    Searched one day at a time and written to scratch files, so memory holds one day's
    matches at most, whatever the range. A day pruned under retention is not in the index
    any more: its pack's events.jsonl (the same lines) is searched instead."""
    from dataclasses import replace

    size, root = checkpoint.size, checkpoint.root.hex()
    store = TileStore(home / layout.TILES_DIR)
    pruned = {d.day for d in pruned_days(home)}
    records_path, proofs_path = scratch / "query-records.jsonl", scratch / "query-proofs.jsonl"
    count, first, last = 0, None, None
    index = open_index(home, database_url)
    try:
        update_index(home, index)
        with records_path.open("wb") as records, proofs_path.open("wb") as proofs:
            for day in _days(start, end):
                since = f"{day}T00:00:00.000000Z"
                until = f"{date.fromisoformat(day) + timedelta(days=1)}T00:00:00.000000Z"
                window = replace(
                    query,
                    since=max(query.since or since, since),
                    until=min(query.until or until, until),
                    origin=trail_origin(home),
                    limit=None,
                    descending=False,
                )
                if window.since is None or window.until is None or window.since >= window.until:
                    continue
                compact = day.replace("-", "")
                if compact in pruned and not (home / JOURNAL_DIR / day_file_name(compact)).exists():
                    found = _pack_matches(home, day, window)
                else:
                    found = [
                        (row.seq, row.record.encode("utf-8"))
                        for row in sorted(index.search(window), key=lambda r: r.seq)
                    ]
                for seq, line in found:
                    if seq >= size:
                        continue
                    try:
                        hashes = inclusion_proof(seq, size, store.node)
                        leaf = store.node(0, seq)
                    except TileError as exc:
                        raise ExamError(f"cannot prove seq {seq} from the tiles: {exc}") from None
                    if leaf_hash(line) != leaf:
                        raise ExamError(
                            f"the record of seq {seq} found by the query is not the one the "
                            "tiles commit to (run `tradetrail verify --index`)"
                        )
                    records.write(line + b"\n")
                    proof = {
                        "leaf_index": seq,
                        "tree_size": size,
                        "leaf_hash": leaf.hex(),
                        "root": root,
                        "hashes": [h.hex() for h in hashes],
                    }
                    proofs.write(orjson.dumps(proof, option=SORT) + b"\n")
                    count += 1
                    first = seq if first is None else first
                    last = seq
    finally:
        index.close()
    entries.append(_Entry(QUERY_RECORDS, path=records_path))
    entries.append(_Entry(QUERY_PROOFS, path=proofs_path))
    return {
        "text": text,
        "resolved": query_json(query),
        "records": count,
        "seq": [first, last] if count else None,
        "files": [QUERY_RECORDS, QUERY_PROOFS],
    }


def _pack_matches(home: Path, day: str, window: Query) -> list[tuple[int, bytes]]:
    """(seq, line) of the records of a pruned day's pack that the query selects."""
    if window.text is not None:
        raise ExamError(
            f"{day} was removed under retention and is searched in its pack, where full-text "
            "terms cannot be matched as the index does: drop `text=` or narrow the range"
        )
    events = layout.daily_pack(home, day) / "events.jsonl"
    found = []
    with events.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            line = raw.rstrip(b"\n")
            row = row_from_line("", line, f"{events} line {number}")
            if query_matches(window, row):
                found.append((row.seq, line))
    return found


def _zip_info(name: str, size: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # Unix, so the permissions below are read as such everywhere
    info.external_attr = 0o100644 << 16
    info.file_size = size
    return info


def _write_zip(
    out: Path,
    folder: str,
    entries: list[_Entry],
    progress: Callable[[str, int, int], None] | None,
) -> tuple[bool, int]:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    total = sum(e.size() for e in entries)
    done = 0
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            for entry in entries:
                info = _zip_info(f"{folder}/{entry.name}", entry.size())
                with zf.open(info, "w", force_zip64=info.file_size > 0x7FFFFFFF) as dst:
                    for block in entry.chunks():
                        dst.write(block)
                        done += len(block)
                        if progress is not None:
                            progress("zip", done, total)
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        if out.exists():
            if _same_file(out, tmp):
                tmp.unlink()
                return False, out.stat().st_size
            raise ExamError(
                f"{out} already exists and holds something else than this package; not "
                "overwriting it (move it away, or choose another --out)"
            )
        os.rename(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True, out.stat().st_size


def _same_file(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with a.open("rb") as fa, b.open("rb") as fb:
        while True:
            x, y = fa.read(_BLOCK), fb.read(_BLOCK)
            if x != y:
                return False
            if not x:
                return True


# ------------------------------------------------------------------------------ documents


def render_contents(manifest: dict[str, Any]) -> bytes:
    """CONTENTS.md, the index of contents, from the manifest alone."""
    period = manifest["period"]
    lines = [
        f"# Contents: exam package {period['from']} to {period['to']}",
        "",
        f"Trail `{manifest['origin']}`: {manifest['records']} record(s) over {period['days']} "
        f"UTC day(s); every pack chains to the checkpoint of size "
        f"{manifest['checkpoint']['size']}.",
        "",
        "## Daily packs",
        "",
        "| day | records | seq | orders | executions | trading | signatures on manifest.sig |",
        "|---|---:|---|---:|---:|---|---|",
    ]
    for pack in manifest["packs"]:
        seq = pack["seq"]
        summary = pack.get("summary") or {}
        lines.append(
            f"| [{pack['date']}]({pack['folder']}/README.md) | {pack['records']} | "
            + (f"{seq['first']}–{seq['last']}" if seq else "—")
            + f" | {summary.get('orders', 0)} | {summary.get('executions', 0)} | "
            + ("yes" if pack["trading"] else "no")
            + f" | {', '.join(pack['signatures']) or '—'} |"
        )
    lines += ["", "## Reports", ""]
    for name in manifest["reports"]:
        lines.append(f"- [{name}]({name})")
    query = manifest.get("query")
    if query is not None:
        lines += [
            "",
            "## Query selection",
            "",
            f"`{query['text']}` selects {query['records']} record(s) of the range: "
            f"[{QUERY_RECORDS}]({QUERY_RECORDS}) holds their journal lines byte for byte, "
            f"[{QUERY_PROOFS}]({QUERY_PROOFS}) an inclusion proof of each (same order) into "
            "`checkpoint`.",
        ]
    lines += ["", "## Every file", "", "| file | bytes | SHA-256 |", "|---|---:|---|"]
    for entry in sorted(manifest["files"], key=lambda f: str(f["name"])):
        if entry["name"] in (README, CONTENTS):
            continue  # written from this very listing: they cannot list their own hashes
        lines.append(f"| {entry['name']} | {entry['size']} | `{entry['sha256']}` |")
    lines.append("")
    return "\n".join(lines).encode("utf-8")


def render_exam_readme(manifest: dict[str, Any]) -> bytes:
    """The examiner README, from the manifest alone (so verification can rebuild it)."""
    period = manifest["period"]
    cp = manifest["checkpoint"]
    lines = [
        f"# Exam package {period['from']} to {period['to']}",
        "",
        f"Books and records of the audit trail `{manifest['origin']}` for {period['days']} UTC "
        f"day(s), made by tradetrail {manifest['tool']['version']} (format "
        f"`{manifest['format']}`). It holds the daily pack of every day ([CONTENTS.md]"
        "(CONTENTS.md) lists them), reports, and everything needed to check them without "
        "trusting whoever made it.",
        "",
        "## Check it with tradetrail",
        "",
        "    tradetrail verify-pack this-package.zip --vkey <the trail's verifier key>",
        "",
        "checks every file hash, the signatures, every daily pack in full (chain, Merkle root,"
        " proofs, every CSV row against the events), that consecutive packs chain, every report"
        " against the one the packs give, and every query proof and that the query left no"
        " matching record out.",
        "",
        "## Check it without tradetrail",
        "",
        "1. Obtain the trail's verifier key from its operator through a channel other than this "
        f"package and compare it with `{VKEY_FILE}` (a C2SP note verifier key: "
        "`<name>+<key id>+<base64(0x01 ‖ Ed25519 public key)>`).",
        "2. `sha256sum -c SHA256SUMS` in this folder checks every file and `manifest.json`.",
        "3. `manifest.sig` is `manifest.json` as a C2SP signed note: the text before the blank "
        "line must equal `manifest.json`, and the Ed25519 signature on the `— <name> <base64>` "
        "line (after its 4-byte key id) must verify over that text with the key above.",
        "4. Each `packs/<day>/` is a daily pack with its own README and a stand-alone Python "
        "checker (it needs only the `cryptography` package): run it in each pack folder.",
        "5. Packs chain: the `previous_checkpoint` of each pack's `manifest.json` is the "
        "`checkpoint` of the pack of the day before, and its `proofs.json` `consistency` proof "
        "(RFC 9162 §2.1.4) shows the earlier tree is a prefix of the later one, so no record "
        "was removed, altered or reordered between the days.",
        f"6. `checkpoint` (size {cp['size']}, root `{cp['root']}`) is the last day's signed "
        "tree head; every earlier pack's checkpoint is a prefix of it through that chain.",
    ]
    if manifest.get("query") is not None:
        lines.append(
            f"7. `{QUERY_RECORDS}`: for line i, hash the line's bytes without its newline as "
            "SHA-256(0x00 ‖ bytes) (RFC 6962 leaf hash); line i of "
            f"`{QUERY_PROOFS}` proves that leaf into `checkpoint` (RFC 9162 §2.1.3.2)."
        )
    lines += [
        "",
        "Reports (`reports/`) are derived from the packs' `events.jsonl` for reading; the "
        "evidence is the packs, and `tradetrail verify-pack` rebuilds every report from them "
        "and compares it byte for byte. A day with no records still has a pack that says so. "
        "Signatures on a pack's `manifest.sig` by other keys are compliance attestations.",
        "",
    ]
    return "\n".join(lines).encode("utf-8")
