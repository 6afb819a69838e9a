"""The daily pack format (`tradetrail.daily-pack/N`, docs/FORMATS.md): its file names and
versions, the manifest, SHA256SUMS and the README, each a function of what the pack holds.
The exporter writes a pack with these and verify-pack rebuilds them to compare: neither
imports the other."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, Final

import orjson

from .._version import __version__
from . import layout
from .checkpoint import Checkpoint
from .documents import (
    CsvDialect,
    ListedFile,
    Manifest,
    PackCheckpoint,
    PackSummary,
    PreviousCheckpoint,
    SeqRange,
    ToolInfo,
    encode_manifest,
)
from .merkle import EMPTY_ROOT
from .packtables import (
    PACK_VERSION,
    PACK_VERSIONS,
    SORT,
    VERSION_CSV_COLUMNS,
    DayTables,
    FileInfo,
    check_version,
)

if TYPE_CHECKING:  # packscan folds with this module's fold()
    from .packscan import ScanResult

FORMAT_PREFIX: Final = "tradetrail.daily-pack/"


def format_name(version: int) -> str:
    """The manifest's `format` of a pack format version: `tradetrail.daily-pack/<version>`."""
    return f"{FORMAT_PREFIX}{check_version(version)}"


FORMAT: Final = format_name(PACK_VERSION)
"""The format of the packs made now. /2 added corrections.csv and neutralises nav.csv and
positions.csv cells once; /3 joins the blotter with orders and instruments, writes CSV times in
microseconds and pads decimals; /1 and /2 packs stay verifiable (rebuilt in their format)."""
FORMATS: Final[dict[str, int]] = {format_name(v): v for v in PACK_VERSIONS}
"""Every pack format verify-pack checks, and its version."""


def format_version(value: Any) -> int | None:
    """The version of a manifest's `format`, or None when it is not a known pack format."""
    return FORMATS.get(value) if isinstance(value, str) else None


EVENTS_FILE: Final = "events.jsonl"
PROOFS_FILE: Final = "proofs.json"
CHECKPOINT_FILE: Final = "checkpoint"
README_FILE: Final = "README.md"
MANIFEST_FILE: Final = "manifest.json"
SIGNATURE_FILE: Final = "manifest.sig"
SUMS_FILE: Final = "SHA256SUMS"
HISTORY_FILE: Final = layout.HISTORY_FILE
"""From 0.2, in a pack made from a trail whose key was rotated: its key history, so that a
verifier holding any one key of the trail (the first, say) can check signatures by the others."""
UNLISTED: Final = (MANIFEST_FILE, SIGNATURE_FILE, SUMS_FILE)
"""Files of a pack that the manifest does not list (it cannot list itself or what signs it)."""


_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


CSV_RULE: Final = (
    "A cell starting with = + - @ tab, carriage return or ' gets one ' put in front, unless the "
    "whole cell is a plain number (sign, digits, optional fraction and exponent, e.g. -506.7); "
    "drop the first character of any cell that starts with ' to get the recorded value."
)


def parse_date(text: str) -> str:
    """`YYYY-MM-DD` checked to be a calendar date."""
    if not _DATE.fullmatch(text):
        raise ValueError(f"--date {text!r}: expected YYYY-MM-DD, e.g. 2024-03-04")
    try:
        date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"--date {text!r}: {exc}") from None
    return text


def embedded_document_ok(document: Any, digest: str) -> bool:
    """Whether a document parsed from JSON hashes, in canonical form, to `digest`."""
    try:
        return hashlib.sha256(orjson.dumps(document, option=SORT)).hexdigest() == digest
    except (TypeError, orjson.JSONEncodeError):
        return False


def fold(nodes: Sequence[bytes]) -> bytes:
    """The root of a compact range [0, n) from its subtree roots (largest first)."""
    if not nodes:
        return EMPTY_ROOT
    h = nodes[-1]
    for node in reversed(nodes[:-1]):
        h = hashlib.sha256(b"\x01" + node + h).digest()
    return h


# ------------------------------------------------------------------------------ manifest, README


def build_manifest(
    *,
    date: str,
    origin: str,
    partial: bool,
    at_seal: bool,
    scan: ScanResult,
    checkpoint: Checkpoint,
    previous: Checkpoint | None,
    tables: DayTables,
    files: Iterable[FileInfo],
    tool_version: str = __version__,
) -> Manifest:
    """The manifest of a pack (without its README entry when `files` lacks it), in the format
    that `tables` were written in."""
    notes = []
    if partial:
        notes.append(
            f"partial: {date} was still open when this pack was made; it covers the day's "
            f"records up to the checkpoint of size {checkpoint.size} and will differ from the "
            "pack made once the day is sealed"
        )
    if not scan.count:
        notes.append(f"no records: the trail holds no event on {date}")
    if not tables.trading:
        notes.append(f"no trading: no order, fill or trade event was recorded on {date}")
    if not at_seal and not partial:
        notes.append(
            f"the checkpoint (size {checkpoint.size}) was signed after the end of the day (no "
            "checkpoint was stored at the seal); proofs.json `extension` links the day to it"
        )
    return Manifest(
        format=format_name(tables.version),
        tool=ToolInfo(name="tradetrail", version=tool_version),
        origin=origin,
        date=date,
        status="partial" if partial else "sealed",
        partial=partial,
        trading=tables.trading,
        notes=notes,
        records=scan.count,
        seq=_seq_range(scan),
        checkpoint=PackCheckpoint(
            file=CHECKPOINT_FILE,
            size=checkpoint.size,
            root=checkpoint.root.hex(),
            at_seal=at_seal,
        ),
        previous_checkpoint=(
            PreviousCheckpoint(size=previous.size, root=previous.root.hex())
            if previous is not None
            else None
        ),
        summary=PackSummary(
            orders=tables.orders,
            executions=tables.executions,
            events_by_type=dict(sorted(tables.counts.items())),
        ),
        csv=CsvDialect(format="RFC 4180, UTF-8 without BOM, CRLF", neutralised=CSV_RULE),
        files=[
            ListedFile(name=info.name, sha256=info.sha256, size=info.size, rows=info.rows)
            for info in sorted(files, key=lambda f: f.name)
        ],
    )


def _seq_range(scan: ScanResult) -> SeqRange | None:
    if not scan.count:
        return None
    if scan.first_seq is None or scan.last_seq is None:
        raise ValueError(f"scan: {scan.count} records but no seq range")
    return SeqRange(first=scan.first_seq, last=scan.last_seq)


def manifest_bytes(manifest: Manifest | dict[str, Any]) -> bytes:
    """Canonical JSON (sorted keys, no spaces) and a newline: the exact text that is signed.
    A dict (a manifest read back, or a test's) is written the same way."""
    if isinstance(manifest, Manifest):
        return encode_manifest(manifest)
    return orjson.dumps(manifest, option=SORT | orjson.OPT_APPEND_NEWLINE)


def sha256sums(manifest: Manifest | dict[str, Any], manifest_data: bytes) -> bytes:
    """`sha256sum -c` input for every listed file and manifest.json."""
    if isinstance(manifest, Manifest):
        manifest = manifest.to_dict()
    rows = [(f["sha256"], f["name"]) for f in manifest.get("files", []) if isinstance(f, dict)]
    rows.append((hashlib.sha256(manifest_data).hexdigest(), MANIFEST_FILE))
    return "".join(f"{sha}  {name}\n" for sha, name in sorted(rows, key=lambda r: r[1])).encode()


_FILE_ROLES: Final[tuple[tuple[str, str], ...]] = (
    (EVENTS_FILE, "the day's journal lines, byte for byte (one JSON record per line)"),
    ("orders.csv", "every order event (submitted, accepted, rejected, replaced, cancelled, ...)"),
    ("fills.csv", "every execution report (order.filled, order.partially_filled)"),
    (
        "blotter.csv",
        "the trade blotter: trade date and time, symbol, side, quantity, price, gross amount "
        "(quantity x price, exact), fees, account, venue or counterparty, order and execution "
        "ids; one row per execution",
    ),
    ("positions.csv", "end-of-day positions: the last snapshot of each account and symbol"),
    ("nav.csv", "every NAV computed during the day"),
    (
        "corrections.csv",
        "every compliance.record_corrected record of the day, one row per corrected field: "
        "earlier rows are never edited; apply a correction on top of the record it names "
        "(corrects_seq / corrects_event_id)",
    ),
    ("alerts.jsonl", "the day's alert.sent records (journal lines)"),
    ("risk_events.jsonl", "the day's risk.* records (journal lines)"),
    ("access.jsonl", "the day's auth.* records (journal lines)"),
    ("config_snapshot.json", "the configuration in force at the end of the day, and its source"),
    ("config.diff", "the configuration changes of the day, as unified diffs"),
    (
        PROOFS_FILE,
        "Merkle proofs: first and last record in the checkpoint, consistency with the previous "
        "day's checkpoint, and the tree before the day (`frontier`)",
    ),
    (CHECKPOINT_FILE, "the signed tree head (C2SP checkpoint) that covers the day"),
    (README_FILE, "this file"),
    (MANIFEST_FILE, "every file with SHA-256, size and rows; seq range; tool version"),
    (SIGNATURE_FILE, "manifest.json as a C2SP signed note (Ed25519); more signatures may follow"),
    (SUMS_FILE, "SHA-256 of every file and of manifest.json, for `sha256sum -c`"),
)
_FORMAT_2_FILES: Final = frozenset({"corrections.csv"})


def file_roles(version: int = PACK_VERSION) -> tuple[tuple[str, str], ...]:
    """The README's table of files of a pack format, in order: (name, what it is)."""
    if check_version(version) >= 2:
        return _FILE_ROLES
    return tuple(item for item in _FILE_ROLES if item[0] not in _FORMAT_2_FILES)


CHECK_SCRIPT: Final = """\
# check_pack.py: python3 check_pack.py PACK_DIR VKEY  (VKEY: the line of trail.vkey, or its file)
import base64, hashlib, json, pathlib, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

pack, vkey = pathlib.Path(sys.argv[1]), sys.argv[2].strip()
if pathlib.Path(vkey).is_file():
    vkey = pathlib.Path(vkey).read_text().strip()
name, key_id, key64 = vkey.split("+", 2)
raw = base64.b64decode(key64)
assert raw[0] == 1, "not an Ed25519 verifier key"
public = Ed25519PublicKey.from_public_bytes(raw[1:])
kid = hashlib.sha256(name.encode() + b"\\n\\x01" + raw[1:]).digest()[:4]
assert kid.hex() == key_id.lower(), "the key id does not match the key"


def read(file):
    return (pack / file).read_bytes()


def opened(note, label):  # the text of a C2SP signed note, once the key's signature verifies
    text, _, signatures = note.rpartition("\\n\\n")
    text += "\\n"
    for line in signatures.splitlines():
        signer, sig = line.removeprefix("\\u2014 ").split(" ")
        sig = base64.b64decode(sig)
        if signer == name and sig[:4] == kid:
            public.verify(sig[4:], text.encode())  # raises InvalidSignature if forged
            return text
    raise SystemExit(f"{label}: no signature by {name}")


def node(left, right):
    return hashlib.sha256(b"\\x01" + left + right).digest()


def fold(nodes):  # root of a compact range [0, n): its subtree roots, largest first
    h = nodes[-1] if nodes else hashlib.sha256(b"").digest()
    for left in reversed(nodes[:-1]):
        h = node(left, h)
    return h


# 1. the manifest is signed, and lists every file with its size and SHA-256
signed = opened(read("manifest.sig").decode(), "manifest.sig")
assert signed.encode() == read("manifest.json"), "manifest.json is not the signed text"
manifest = json.loads(signed)
for f in manifest["files"]:
    data = read(f["name"])
    assert len(data) == f["size"], f["name"] + ": size differs"
    assert hashlib.sha256(data).hexdigest() == f["sha256"], f["name"] + ": sha256 differs"

# 2. the checkpoint is signed, and is the one the manifest names
origin, size, root = opened(read("checkpoint").decode(), "checkpoint").split("\\n")[:3]
size, root = int(size), base64.b64decode(root)
assert size == manifest["checkpoint"]["size"] and root.hex() == manifest["checkpoint"]["root"]

# 3. events.jsonl: the seq and prev chain; and the tree before the day (proofs.json frontier)
#    extended by every line gives the checkpoint's root: nothing left out, added or changed
proofs = json.loads(read("proofs.json"))
nodes = [bytes.fromhex(h) for h in proofs["frontier"]["hashes"]]
n = proofs["frontier"]["size"]
before, prev = fold(nodes), None
lines = read("events.jsonl").split(b"\\n")[:-1]
for number, line in enumerate(lines, 1):
    record = json.loads(line)
    assert record["seq"] == n and prev in (None, record["prev"]), f"events.jsonl line {number}"
    leaf = hashlib.sha256(b"\\x00" + line).digest()
    prev, h, k = leaf.hex(), leaf, n
    while k & 1:
        h, k = node(nodes.pop(), h), k >> 1
    nodes.append(h)
    n += 1
if proofs.get("extension"):  # checkpoint signed after the day: the RFC 9162 consistency proof
    ext = proofs["extension"]  # proofs.json "extension" links this root to it (verify-pack)
    assert n == ext["old_size"] and fold(nodes).hex() == ext["old_root"], "events.jsonl"
else:
    assert n == size and fold(nodes) == root, "events.jsonl does not give the checkpoint root"

# 4. the previous day's signed checkpoint is the tree before the day: the packs chain
old = proofs.get("consistency")
if old and old.get("old_checkpoint") and old["old_size"] == proofs["frontier"]["size"]:
    _, old_size, old_root = opened(old["old_checkpoint"], "previous checkpoint").split("\\n")[:3]
    assert int(old_size) == old["old_size"] and base64.b64decode(old_root) == before, "chain"

# 5. the inclusion proofs of the first and last record (RFC 9162, section 2.1.3.2)
for which, line in (("first", lines[:1]), ("last", lines[-1:])):
    p = proofs.get(which)
    if p is None:
        continue
    assert [p["record"].encode()] == line, which + " record: not the line of events.jsonl"
    fn, sn = p["leaf_index"], p["tree_size"] - 1
    r = hashlib.sha256(b"\\x00" + p["record"].encode()).digest()
    for h in map(bytes.fromhex, p["hashes"]):
        if fn & 1 or fn == sn:
            r = node(h, r)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node(r, h)
        fn, sn = fn >> 1, sn >> 1
    assert sn == 0 and r == root and p["tree_size"] == size, which + " record: proof fails"
print(f"OK: {manifest['date']}: {manifest['records']} records, {len(manifest['files'])} files")
"""


def _csv_text_v2() -> list[str]:
    """How the CSV files of formats 1 and 2 are written (their README, unchanged)."""
    return [
        "CSV files follow RFC 4180 (CRLF line ends, quoted only when needed), UTF-8 without a "
        "BOM, with a header row and a fixed column order. Amounts are exact decimals as "
        "recorded (the blotter's gross amount is the exact product of quantity and price) and "
        "times are RFC 3339 UTC as recorded. Spreadsheet safety: "
        + CSV_RULE[0].lower()
        + CSV_RULE[1:],
        "",
        "In the blotter, `trade_time` is the execution's time at its source (the event's "
        "`event_ts`) when recorded, else the time of the record (`ts`, also in "
        "`recorded_at`); `trade_date` is the event's `trade_date` when given, else the date of "
        "`trade_time`. An execution reported twice (a fill and a `trade.executed` with the "
        "same order and execution id) is one row.",
    ]


def _csv_text_v3() -> list[str]:
    """How the CSV files of format 3 are written."""
    return [
        "CSV files follow RFC 4180 (CRLF line ends, quoted only when needed), UTF-8 without a "
        "BOM, with a header row and a fixed column order. Spreadsheet safety: "
        + CSV_RULE[0].lower()
        + CSV_RULE[1:],
        "",
        "- Times: every time column holds RFC 3339 times with exactly six fraction digits "
        "(microseconds, e.g. `2026-12-05T08:00:49.652745Z`), which Excel and LibreOffice "
        "parse. A recorded time with more digits is truncated to microseconds (never rounded, "
        "so rows keep their order), one with fewer is padded with zeros; the zone is as "
        "recorded. The exact recorded times (nanoseconds where given) are in events.jsonl.",
        "- Decimals: never rounded. Each decimal column is padded with trailing zeros to one "
        "scale per instrument (`symbol`; in nav.csv per `currency`): the most fraction digits "
        "any value of that instrument has in that column on this day (`724.0000`, `-67.5000`, "
        "`100302.2360`). The value is unchanged; a number in exponent form is left as "
        "recorded. The blotter's gross amount is the exact product of quantity and price.",
        "",
        "In the blotter, `trade_time` is the execution's time at its source (the event's "
        "`event_ts`) when recorded, else the time of the record (`ts`, also in "
        "`recorded_at`); `trade_date` is the event's `trade_date` when given, else the date of "
        "`trade_time`. An execution reported twice (a fill and a `trade.executed` with the "
        "same order and execution id) is one row. Each column comes from the execution's event "
        "when it holds it, else from its order (the `order.submitted` of its `order_id`: "
        "`client_order_id`, `exchange_order_id`, `account`, `strategy`, `symbol`, `venue`, "
        "`currency`), else from the instrument's newest `instrument.defined` (`currency`). An "
        "order or instrument recorded before this day is in proofs.json `reference_records`, "
        "proven into the checkpoint. `settlement_date` is the event's when it gives one, else "
        "the trade date plus the instrument's settlement cycle (`settlement_days` on its "
        "`settlement_calendar`, less its `holidays`). A value that no event gives stays empty: "
        "`counterparty` when the fill does not name one; `currency` when neither the order nor "
        "the instrument is on the trail; `settlement_date` when the instrument records no "
        "settlement cycle; `client_order_id`, `exchange_order_id` and `liquidity` when the "
        "firm or venue gave none; `fees` and `fee_currency` when no fee was reported. See "
        "docs/BLOTTER.md of tradetrail for each column's source and the rule that asks for it.",
    ]


def render_readme(manifest: Manifest | dict[str, Any]) -> bytes:
    """The pack's README.md, from its manifest alone (so verify-pack can rebuild it, from the
    manifest as read, however damaged), in the format the manifest names (the current one when
    it names none that is known)."""
    if isinstance(manifest, Manifest):
        manifest = manifest.to_dict()
    version = format_version(manifest.get("format")) or PACK_VERSION
    day = manifest.get("date")
    cp = manifest.get("checkpoint") or {}
    seq = manifest.get("seq")
    rows = {f.get("name"): f.get("rows") for f in manifest.get("files", []) if isinstance(f, dict)}
    summary = manifest.get("summary") or {}
    lines = [
        f"# Daily pack {day}",
        "",
        f"The audit trail `{manifest.get('origin')}` for the UTC day {day}, made by tradetrail "
        f"{(manifest.get('tool') or {}).get('version')} (format `{manifest.get('format')}`).",
        "",
    ]
    if manifest.get("partial"):
        lines += [
            "**Partial pack.** The day was still open when this pack was made: it covers the "
            f"day's records up to the checkpoint of size {cp.get('size')} only.",
            "",
        ]
    if seq:
        lines.append(
            f"- Records: {manifest.get('records')} (seq {seq.get('first')} to {seq.get('last')})."
        )
    else:
        lines.append("- Records: none. The trail holds no event on this day.")
    if manifest.get("trading"):
        lines.append(
            f"- Trading: {summary.get('orders')} order(s) submitted, "
            f"{summary.get('executions')} execution(s)."
        )
    else:
        lines.append("- Trading: none. No order, fill or trade event was recorded on this day.")
    lines.append(
        f"- Checkpoint: tree size {cp.get('size')}, root `{cp.get('root')}`"
        + (", signed when the day was sealed." if cp.get("at_seal") else ".")
    )
    previous = manifest.get("previous_checkpoint")
    if previous:
        lines.append(
            f"- Previous day's checkpoint: size {previous.get('size')}, root "
            f"`{previous.get('root')}`; proofs.json proves this tree extends it."
        )
    for note in manifest.get("notes") or []:
        lines.append(f"- Note: {note}.")
    if HISTORY_FILE in rows:
        lines.append(
            f"- Key history: the trail's signing key was rotated. `{HISTORY_FILE}` chains each "
            "key to the one before it by a statement both keys signed, so `tradetrail "
            "verify-pack --vkey <any key of the trail>` (the first one, say) checks signatures "
            "by the others. The stand-alone checker below takes one key: the one that signed."
        )
    lines += ["", "## Files", "", "| file | rows | what it is |", "|---|---|---|"]
    for name, role in file_roles(version):
        count = rows.get(name)
        lines.append(f"| `{name}` | {'' if count is None else count} | {role} |")
    if HISTORY_FILE in rows:
        lines.append(f"| `{HISTORY_FILE}` |  | the trail's key history (signed key rotations) |")
    lines += ["", *(_csv_text_v3() if version >= 3 else _csv_text_v2()), ""]
    lines += [
        "Every row of a derived file comes from the events in events.jsonl; "
        "`tradetrail verify-pack` rebuilds each one from events.jsonl and compares them. "
        "Columns, in order (`other`: the event's remaining data fields as JSON):",
        "",
        *[
            f"- `{name}`: {', '.join(columns)}"
            for name, columns in VERSION_CSV_COLUMNS[version].items()
        ],
        "",
        "## Checking this pack without tradetrail",
        "",
        "Get the verifier key of the trail (the line of `trail.vkey`, `<name>+<key id>+<key>`) "
        "from the firm through a channel other than this pack. Then:",
        "",
        "1. File integrity, with coreutils: `sha256sum -c SHA256SUMS` (every file and "
        "manifest.json).",
        "2. Signatures, chain and proofs, with Python 3 and the `cryptography` package only: "
        "save the script below as `check_pack.py` and run `python3 check_pack.py . "
        "'<verifier key>'` in this directory. It checks the Ed25519 signatures of manifest.sig "
        "(over manifest.json) and of the checkpoint, every file's size and SHA-256 against the "
        "manifest, the seq and prev chain of events.jsonl, that the tree before the day "
        "(proofs.json `frontier`) extended by the leaf hash of every line of events.jsonl "
        "(SHA-256 of 0x00 and the line) gives the checkpoint's root, that the tree before the "
        "day is the previous day's signed checkpoint, and the inclusion proofs of the first "
        "and last record.",
        "",
        "```python",
        CHECK_SCRIPT.rstrip("\n"),
        "```",
        "",
        "Signatures are C2SP signed notes: the text, a blank line, then lines "
        "`— <key name> <base64(4-byte key id, 64-byte Ed25519 signature)>`; signatures by other "
        "keys (an attestation, say) may follow and are ignored unless you trust those keys. "
        "Formats: RFC 6962/9162 Merkle trees, C2SP tlog-checkpoint and signed-note.",
        "",
    ]
    return "\n".join(lines).encode("utf-8")
