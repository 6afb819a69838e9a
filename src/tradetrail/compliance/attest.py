"""Attestation: the compliance officer's daily certification of a daily pack.

`attest(home, day, by=..., signer=...)` adds the officer's own Ed25519 signature to the pack's
`manifest.sig` (a co-signature on the same signed note, so every other byte of the pack stays as
made and `export daily` still recognises the pack) and records a `compliance.attestation` event
in the trail. The signature makes the certification checkable from the pack alone (`verify-pack
--attester KEY`); the event puts it, with its statement and time, in the tamper-evident journal.

The event's data (events.ComplianceAttestation):

    statement     what the officer certifies
    subject       `daily_pack:<date>`
    signer_key    the officer's full verifier key (not just its id: the journal must hold what
                  is needed to check the signature on the pack)
    period_start  the day; period_end the day
    digest        `sha256:<hex>` of the pack's manifest.json (the text both signatures sign)

and the envelope's `actor` is the officer (--by), which must be the key's name: the signature
line in manifest.sig names the key, and the journal must not name someone else.

`list_attestations(home, start, end)` reads the attestation events back from the journal, checks
each against the signatures on the pack it names, and flags every sealed day without one.
"""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import orjson

from ..core import layout
from ..core.note import Note, NoteSignature, Signer, Verifier, add_signatures, open_note, parse_note
from ..core.pack import MANIFEST_FILE, SIGNATURE_FILE, parse_date
from ..errors import (
    AttestDateError,
    AttestError,
    AttestKeyError,
    AttestNameError,
    ConfigError,
    NoPackError,
    NoteError,
    PackInvalidError,
    PartialPackError,
    TradetrailError,
)
from ..model.events import ComplianceAttestation
from ..store.journal import JOURNAL_DIR, file_day, journal_files, pruned_days
from ..store.keys import VKEY_FILE, parse_verifier, read_vkey
from ..store.tilestore import write_atomic

__all__ = [
    "ATTESTATION_TYPE",
    "AttestDateError",
    "AttestError",
    "AttestKeyError",
    "AttestNameError",
    "AttestResult",
    "AttestationEntry",
    "AttestationReport",
    "DayAttestations",
    "NoPackError",
    "PackInvalidError",
    "PartialPackError",
    "attest",
    "default_statement",
    "list_attestations",
    "load_verifier",
    "pack_dir",
    "parse_subject",
]

ATTESTATION_TYPE: Final = ComplianceAttestation.TYPE
SUBJECT_PREFIX: Final = "daily_pack:"
_SIGNER_FIELD: Final = "signer="
_NEEDLE: Final = b'"type":"compliance.attestation"'
_BLOCK: Final = 1 << 22


# ------------------------------------------------------------------------------ errors


# ------------------------------------------------------------------------------ helpers


def _day(text: str, option: str, today: date) -> str:
    try:
        day = parse_date(text)
    except ValueError as exc:
        raise AttestDateError(str(exc).replace("--date", option, 1)) from None
    if date.fromisoformat(day) > today:
        raise AttestDateError(f"{option} {day} is in the future (today is {today} UTC)")
    return day


def pack_dir(home: Path, day: str) -> Path:
    """Where `export daily` puts the pack of `day` by default (the pack attest signs)."""
    return layout.daily_pack(home, day)


def default_statement(day: str) -> str:
    """The certification an officer makes unless they write their own."""
    return (
        f"I have reviewed the daily pack of {day} (UTC) and certify that, to the best of my "
        "knowledge, it is a complete and accurate record of that day's trading activity."
    )


def parse_subject(subject: object) -> tuple[str, Verifier | None] | None:
    """(day, signer key or None) of an attestation subject naming a daily pack, else None.
    Version 1 events carried the key in the subject (`signer=<vkey>`); version 2 has
    `signer_key`."""
    if not isinstance(subject, str) or not subject.startswith(SUBJECT_PREFIX):
        return None
    head, _, rest = subject[len(SUBJECT_PREFIX) :].partition(" ")
    try:
        day = parse_date(head)
    except ValueError:
        return None
    verifier = None
    for part in rest.split(" "):
        if part.startswith(_SIGNER_FIELD):
            try:
                verifier = Verifier.from_vkey(part[len(_SIGNER_FIELD) :])
            except NoteError:
                verifier = None
    return day, verifier


def load_verifier(spec: str, option: str) -> Verifier:
    """A verifier key from its text or from a file holding it; `option` names the setting."""
    try:
        return parse_verifier(spec, option)
    except ConfigError as exc:
        raise AttestKeyError(str(exc)) from None


def key_file_warning(spec: str) -> str | None:
    """A warning when the officer's private key file can be read by others than its owner."""
    path = Path(spec.strip())
    if spec.strip().startswith("PRIVATE+KEY+"):
        return "--key: a private key given on the command line is visible to other users; " + (
            "pass the path of a 0600 key file instead"
        )
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return f"--key {path}: readable by others (mode {stat.S_IMODE(mode):o}); chmod 600 it"
    return None


def _trail_verifier(home: Path) -> Verifier:
    if not (home / JOURNAL_DIR).is_dir():
        raise AttestError(f"{home} is not a trail (no journal/ directory)")
    try:
        return read_vkey(home / VKEY_FILE)
    except ConfigError as exc:
        raise AttestError(str(exc)) from None


def _same_key(sig: NoteSignature, verifier: Verifier) -> bool:
    return sig.name == verifier.name and sig.key_id == verifier.key_id


def _write_atomic(path: Path, text: str) -> None:
    """Replace a file so a crash leaves the old or the new text, never half of one."""
    write_atomic(path, text.encode("utf-8"), sync=True, make_dirs=False)


# ------------------------------------------------------------------------------ journal


@dataclass(frozen=True)
class RecordedAttestation:
    """One compliance.attestation event about a daily pack, as the journal holds it."""

    seq: int
    ts: str
    day: str
    actor: str | None
    signer: Verifier | None
    statement: str
    digest: str | None


def _attestation_lines(path: Path) -> Iterator[bytes]:
    """The lines of one day file that may be attestation events (a byte search, not a parse of
    every line: a day can hold millions of records)."""
    with open(path, "rb") as fh:
        rest = b""
        while True:
            chunk = fh.read(_BLOCK)
            if not chunk:
                break
            block = rest + chunk
            cut = block.rfind(b"\n") + 1
            whole, rest = block[:cut], block[cut:]
            pos = whole.find(_NEEDLE)
            while pos >= 0:
                begin = whole.rfind(b"\n", 0, pos) + 1
                stop = whole.find(b"\n", pos)
                yield whole[begin:stop]
                pos = whole.find(_NEEDLE, stop)


def recorded_attestations(home: Path, since: str | None = None) -> list[RecordedAttestation]:
    """Every daily-pack attestation in the journal, in seq order; only day files from `since`
    on are read (an attestation is recorded after the day it certifies)."""
    found: list[RecordedAttestation] = []
    floor = since.replace("-", "") if since else ""
    sources = {file_day(p): p for p in journal_files(home)}
    for gone in pruned_days(home):  # removed under retention: its pack has the same lines
        day = f"{gone.day[:4]}-{gone.day[4:6]}-{gone.day[6:]}"
        pack_events = pack_dir(home, day) / "events.jsonl"
        if gone.day not in sources and pack_events.is_file():
            sources[gone.day] = pack_events
    for day_name, path in sorted(sources.items()):
        if day_name < floor:
            continue
        for line in _attestation_lines(path):
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # `tradetrail verify` reports it
            if type(rec) is dict and type(rec.get("seq")) is int:
                parsed = _parse_record(rec, rec["seq"])
                if parsed is not None:
                    found.append(parsed)
    return found


def _parse_record(rec: dict[str, Any], seq: int) -> RecordedAttestation | None:
    """A daily-pack attestation from a record (or a queued event), else None."""
    data = rec.get("data")
    if rec.get("type") != ATTESTATION_TYPE or type(data) is not dict:
        return None
    parsed = parse_subject(data.get("subject"))
    if parsed is None:
        return None
    signer = parsed[1]
    if isinstance(data.get("signer_key"), str):
        try:
            signer = Verifier.from_vkey(data["signer_key"])
        except NoteError:
            signer = None
    digest, actor = data.get("digest"), rec.get("actor")
    return RecordedAttestation(
        seq=seq,
        ts=str(rec.get("ts", rec.get("event_ts", ""))),
        day=parsed[0],
        actor=actor if isinstance(actor, str) else None,
        signer=signer,
        statement=str(data.get("statement", "")),
        digest=digest if isinstance(digest, str) else None,
    )


# ------------------------------------------------------------------------------ attest


@dataclass
class AttestResult:
    """What attest did: `signed` (signature added to manifest.sig), `recorded` (event seq)."""

    date: str
    by: str
    vkey: str
    key_id: str
    manifest_sha256: str
    statement: str
    pack: Path
    signed: bool
    seq: int | None
    already: bool
    queued: bool = False
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "date": self.date,
            "by": self.by,
            "vkey": self.vkey,
            "key_id": self.key_id,
            "manifest_sha256": self.manifest_sha256,
            "statement": self.statement,
            "pack": str(self.pack),
            "signed": self.signed,
            "seq": self.seq,
            "already_attested": self.already,
            "queued": self.queued,
            "warnings": self.warnings,
        }


def _record_event(home: Path, event_type: str, data: dict[str, Any], actor: str) -> int | None:
    """Record one event and wait until it is durable: its seq, or None when a running writer
    holds the trail and the event waits, fsynced, in the spill directory for it."""
    from ..writer.admin_events import record_admin_event

    return record_admin_event(home, event_type, data, actor=actor).seq


def pending_attestations(home: Path) -> list[RecordedAttestation]:
    """Attestation events that a tradetrail command queued in the spill directory while
    another process held the trail, not journaled yet (seq -1): counted by attest so that
    running it again does not queue the same attestation twice."""
    from ..store.keys import trail_origin
    from ..writer.config import resolve as resolve_settings
    from ..writer.spill import Spill

    try:
        spill = Spill(resolve_settings(home).spill_dir, trail_origin(home))
        files = sorted(spill.directory.glob(f"{spill.prefix}*.jsonl"))
    except (OSError, TradetrailError, ValueError):
        return []
    found: list[RecordedAttestation] = []
    for path in files:
        try:
            lines = path.read_bytes().splitlines()
        except OSError:
            continue  # journaled and removed meanwhile
        for line in lines:
            if _NEEDLE not in line:
                continue
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            event = entry.get("event") if type(entry) is dict else None
            if type(event) is dict:
                parsed = _parse_record(event, -1)
                if parsed is not None:
                    found.append(parsed)
    return found


def _open_pack(home: Path, day: str, trail_key: Verifier) -> tuple[Path, Note, str, bytes]:
    """The pack of `day`, its signed note (the trail's signature verified), the note's text
    and manifest.json's bytes; refuses whatever is not a finished, trail-signed pack."""
    path = pack_dir(home, day)
    make = f"make it with `tradetrail export daily --date {day}`"
    if not path.is_dir():
        if pack_dir(home, f"{day}.partial").is_dir():
            raise PartialPackError(
                f"{day} has only a partial pack ({path}.partial): a day still open cannot be "
                f"attested; once it is sealed, {make}"
            )
        if date.fromisoformat(day) >= datetime.now(UTC).date():
            raise NoPackError(
                f"{day} is still open: a day is attested once it is sealed (after 00:00 UTC "
                f"the next day, when the writer seals its file), then {make} and attest"
            )
        raise NoPackError(f"{day} has no daily pack at {path}; {make}, then attest")
    try:
        signed = (path / SIGNATURE_FILE).read_text(encoding="utf-8")
        data = (path / MANIFEST_FILE).read_bytes()
    except FileNotFoundError as exc:
        raise PackInvalidError(f"{path}: {Path(str(exc.filename)).name} is missing") from None
    except UnicodeDecodeError:
        raise PackInvalidError(f"{path / SIGNATURE_FILE}: not UTF-8 text") from None
    try:
        note, _ = open_note(signed, [trail_key])
    except NoteError as exc:
        raise PackInvalidError(
            f"{path / SIGNATURE_FILE} does not verify against the trail's key "
            f"({trail_key.name}+{trail_key.key_id.hex()}): {exc}; not signing it"
        ) from None
    if note.text.encode("utf-8") != data:
        raise PackInvalidError(
            f"{path / MANIFEST_FILE} is not the text signed in {SIGNATURE_FILE} (changed after "
            "signing); not signing it"
        )
    try:
        manifest = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise PackInvalidError(f"{path / MANIFEST_FILE}: not JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("date") != day:
        said = manifest.get("date") if isinstance(manifest, dict) else None
        raise PackInvalidError(f"{path / MANIFEST_FILE} is the pack of {said!r}, not of {day}")
    if manifest.get("partial") is not False:
        raise PartialPackError(
            f"{path} is a partial pack (the day was still open when it was made); {make} once "
            "the day is sealed"
        )
    return path, note, signed, data


def attest(
    home: Path | str,
    day: str,
    *,
    by: str,
    signer: Signer,
    statement: str | None = None,
    today: date | None = None,
    verify: bool = True,
) -> AttestResult:
    """Sign the pack of `day` with the officer's key and record the attestation; see the module
    docstring. Idempotent: a day already attested with this key is left as it is (`already`).
    `verify` runs the whole of verify-pack first (an officer signs only a pack that checks out);
    `today` is for tests. When a running process holds the trail, the event is queued in its
    spill directory (`queued`) and that writer journals it."""
    home = Path(home)
    today = today or datetime.now(UTC).date()
    day = _day(day, "--date", today)
    trail_key = _trail_verifier(home)
    officer = signer.verifier()
    if signer.name != by:
        raise AttestNameError(
            f"--by {by!r} is not the name of the key ({signer.name!r}): the signature in "
            "manifest.sig names the key, so the two must agree (make a key for that name with "
            "`tradetrail keygen --name NAME`)"
        )
    if officer == trail_key or (officer.name, officer.key_id) == (trail_key.name, trail_key.key_id):
        raise AttestKeyError(
            "--key is the trail's own signing key: an attestation must be signed with the "
            "officer's own key (`tradetrail keygen --name NAME --out DIR`)"
        )
    text = (statement if statement is not None else default_statement(day)).strip()
    if not text:
        raise AttestError("--statement is empty: say what is certified (or leave it out)")
    path, note, signed, data = _open_pack(home, day, trail_key)
    digest = hashlib.sha256(data).hexdigest()
    message = note.text.encode("utf-8")
    mine = [sig for sig in note.signatures if _same_key(sig, officer)]
    has_signature = any(officer.verify(message, sig.signature) for sig in mine)
    recorded = [
        r
        for r in recorded_attestations(home, since=day) + pending_attestations(home)
        if r.day == day and r.signer == officer and r.digest == f"sha256:{digest}"
    ]
    result = AttestResult(
        date=day,
        by=by,
        vkey=officer.vkey(),
        key_id=officer.key_id.hex(),
        manifest_sha256=digest,
        statement=recorded[0].statement if recorded else text,
        pack=path,
        signed=False,
        seq=recorded[0].seq if recorded and recorded[0].seq >= 0 else None,
        already=bool(recorded) and has_signature,
        queued=bool(recorded) and recorded[0].seq < 0,
    )
    where = (f"seq {recorded[0].seq}" if recorded[0].seq >= 0 else "queued") if recorded else ""
    if result.already:
        if statement is not None and recorded[0].statement != text:
            result.warnings.append(
                f"already attested ({where}) with another statement; the "
                "recorded one stands (a correction is a new compliance event, not a re-signing)"
            )
        return result
    if mine and not has_signature:
        result.warnings.append(
            f"{SIGNATURE_FILE} held a signature by this key that does not verify; replaced it"
        )
    if verify:
        _verify_whole_pack(path, trail_key)
    new_signed = signed
    if not has_signature:
        new_signed = add_signatures(signed, signer)
        _write_atomic(path / SIGNATURE_FILE, new_signed)
        result.signed = True
    if recorded:
        result.warnings.append(
            f"the attestation was already recorded ({where}) but its signature "
            f"was missing from {SIGNATURE_FILE}; restored it"
        )
        return result
    event = {
        "statement": text,
        "subject": f"{SUBJECT_PREFIX}{day}",
        "signer_key": officer.vkey(),
        "period_start": date.fromisoformat(day),
        "period_end": date.fromisoformat(day),
        "digest": f"sha256:{digest}",
    }
    try:
        result.seq = _record_event(home, ATTESTATION_TYPE, event, by)
    except BaseException:
        if result.signed:
            _write_atomic(path / SIGNATURE_FILE, signed)  # no signature without its record
        raise
    result.queued = result.seq is None
    return result


def _verify_whole_pack(path: Path, trail_key: Verifier) -> None:
    from ..verify.pack import verify_pack

    report = verify_pack(path, [trail_key])
    if not report.ok:
        shown = "; ".join(str(f) for f in report.faults[:3])
        more = f" (and {report.fault_count - 3} more)" if report.fault_count > 3 else ""
        raise PackInvalidError(
            f"{path} does not verify: {shown}{more}; run `tradetrail verify-pack {path} "
            f"--vkey trail.vkey` for the full report; not signing it"
        )


# ------------------------------------------------------------------------------ listing


@dataclass
class AttestationEntry:
    """One recorded attestation, checked against the pack: `status` is `verified`,
    `signature missing`, `signature invalid`, `no signer key recorded` or `pack changed`."""

    seq: int
    ts: str
    by: str | None
    vkey: str | None
    statement: str
    status: str

    @property
    def ok(self) -> bool:
        return self.status == "verified"

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "ts": self.ts,
            "by": self.by,
            "vkey": self.vkey,
            "statement": self.statement,
            "status": self.status,
        }


@dataclass
class DayAttestations:
    """One day of the range: `status` is `attested`, `missing` (sealed, no valid attestation),
    `open` (not sealed yet: nothing is due) or `before trail` (before the first journal day)."""

    date: str
    status: str
    pack: str | None
    attestations: list[AttestationEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unrecorded: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return self.status == "missing" or bool(self.problems)

    def to_json(self) -> dict[str, Any]:
        return {
            "date": self.date,
            "status": self.status,
            "flagged": self.flagged,
            "pack": self.pack,
            "attestations": [a.to_json() for a in self.attestations],
            "problems": self.problems,
            "unrecorded_signatures": self.unrecorded,
        }


@dataclass
class AttestationReport:
    start: str
    end: str
    days: list[DayAttestations]

    @property
    def ok(self) -> bool:
        return not any(d.flagged for d in self.days)

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.start,
            "to": self.end,
            "ok": self.ok,
            "flagged": [d.date for d in self.days if d.flagged],
            "days": [d.to_json() for d in self.days],
        }


def _sealed_days(home: Path, today: date) -> tuple[str | None, Callable[[str], bool]]:
    """The first journal day and whether a day is sealed, by the rule of export.daily's
    day_bounds (computed once for a whole range rather than per day)."""
    files = journal_files(home)
    days = [file_day(p) for p in files]
    read_only = {file_day(p) for p in files if not p.stat().st_mode & 0o222}
    last = days[-1] if days else None
    earliest = min([*days, *(d.day for d in pruned_days(home))], default=None)
    first = f"{earliest[:4]}-{earliest[4:6]}-{earliest[6:]}" if earliest else None

    def sealed(day: str) -> bool:
        compact = day.replace("-", "")
        if last is not None and last > compact:
            return True
        if compact in days:
            return compact in read_only
        return date.fromisoformat(day) < today

    return first, sealed


def _check_day(
    home: Path, day: str, trail_key: Verifier, events: list[RecordedAttestation]
) -> DayAttestations:
    path = pack_dir(home, day)
    entry = DayAttestations(day, "missing", str(path) if path.is_dir() else None)
    note: Note | None = None
    digest: str | None = None
    if not path.is_dir():
        entry.problems.append(f"no pack (make it with `tradetrail export daily --date {day}`)")
    else:
        try:
            signed = (path / SIGNATURE_FILE).read_text(encoding="utf-8")
            data = (path / MANIFEST_FILE).read_bytes()
            note = parse_note(signed)
            digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
            open_note(signed, [trail_key])
            if note.text.encode("utf-8") != data:
                entry.problems.append(f"{MANIFEST_FILE} is not the text signed in manifest.sig")
        except (OSError, UnicodeDecodeError, NoteError) as exc:
            entry.problems.append(f"{SIGNATURE_FILE} does not verify against trail.vkey: {exc}")
    for event in events:
        status = "verified"
        if event.signer is None:
            status = "no signer key recorded"
        elif note is None:
            status = "signature missing"
        else:
            mine = [s for s in note.signatures if _same_key(s, event.signer)]
            message = note.text.encode("utf-8")
            if not mine:
                status = "signature missing"
            elif not all(event.signer.verify(message, s.signature) for s in mine):
                status = "signature invalid"
            elif event.digest != digest:
                status = "pack changed"
        vkey = event.signer.vkey() if event.signer is not None else None
        entry.attestations.append(
            AttestationEntry(event.seq, event.ts, event.actor, vkey, event.statement, status)
        )
        if status != "verified":
            who = event.actor or "?"
            entry.problems.append(f"attestation seq {event.seq} by {who}: {status} on the pack")
    if note is not None:
        known = [e.signer for e in events if e.signer is not None] + [trail_key]
        for sig in note.signatures:
            if not any(_same_key(sig, k) for k in known):
                label = f"{sig.name}+{sig.key_id.hex()}"
                if label not in entry.unrecorded:
                    entry.unrecorded.append(label)
    if any(a.ok for a in entry.attestations):
        entry.status = "attested"
    elif not events:
        entry.problems.insert(0, "no attestation")
    return entry


def list_attestations(
    home: Path | str,
    start: str | None = None,
    end: str | None = None,
    *,
    today: date | None = None,
) -> AttestationReport:
    """Every day from `start` (default: the first journal day) to `end` (default: yesterday,
    UTC) with its attestations, each checked against the signatures on its pack; sealed days
    without a valid attestation are flagged. `today` is for tests."""
    home = Path(home)
    today = today or datetime.now(UTC).date()
    trail_key = _trail_verifier(home)
    first, sealed = _sealed_days(home, today)
    start = _day(start, "--from", today) if start else first
    end = _day(end, "--to", today) if end else (today - timedelta(days=1)).isoformat()
    if start is None:
        return AttestationReport(end, end, [])
    if start > end:
        raise AttestDateError(f"--from {start} is after --to {end}")
    by_day: dict[str, list[RecordedAttestation]] = {}
    for event in recorded_attestations(home, since=start):
        by_day.setdefault(event.day, []).append(event)
    days: list[DayAttestations] = []
    current = date.fromisoformat(start)
    while current <= date.fromisoformat(end):
        day = current.isoformat()
        current += timedelta(days=1)
        events = by_day.get(day, [])
        if first is None or day < first:
            days.append(DayAttestations(day, "before trail", None))
        elif not sealed(day) and not events:
            days.append(DayAttestations(day, "open", None))
        else:
            days.append(_check_day(home, day, trail_key, events))
    return AttestationReport(start, end, days)
