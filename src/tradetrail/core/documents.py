"""The JSON documents that are formats (docs/FORMATS.md) as typed structs: the daily pack's
manifest, the inclusion and consistency proofs, the configuration snapshot document and the
retention tombstone (pruned.json). Each encodes to exactly the bytes written
before they were typed (the producers build a struct, so a misspelt or missing field fails
where it is made) and decodes with an error that names the field at fault. Pure: no I/O."""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, TypeVar

import msgspec
import orjson

from ..errors import DocumentError

__all__ = [
    "UNSET",
    "ConsistencyProof",
    "DocumentError",
    "InclusionProof",
    "Manifest",
    "PrunedBatch",
    "PrunedDayEntry",
    "SnapshotDocument",
    "SnapshotFile",
    "SnapshotRepo",
    "Tombstone",
    "decode_manifest",
    "decode_proof",
    "decode_snapshot",
    "decode_tombstone",
    "encode_manifest",
    "encode_snapshot",
    "encode_tombstone",
]

SORT: Final = orjson.OPT_SORT_KEYS
Count = Annotated[int, msgspec.Meta(ge=0)]
UNSET: Final = msgspec.UNSET
UnsetType = msgspec.UnsetType

T = TypeVar("T", bound=msgspec.Struct)


class _Document(msgspec.Struct, frozen=True, kw_only=True):
    def to_dict(self) -> dict[str, Any]:
        """The document as JSON values, keys in the order they are written."""
        out: dict[str, Any] = msgspec.to_builtins(self)
        return out


def _convert(value: Any, kind: type[T], what: str) -> T:
    """`value` (parsed JSON) as `kind`; DocumentError naming the field (`$.seq.first`)."""
    try:
        return msgspec.convert(value, kind, strict=True)
    except msgspec.ValidationError as exc:
        raise DocumentError(f"{what}: {exc}") from None


def _decode(data: bytes | str | dict[str, Any], kind: type[T], what: str) -> T:
    """`data` (bytes, text or parsed JSON) as `kind`; DocumentError naming the field."""
    if isinstance(data, dict):
        return _convert(data, kind, what)
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DocumentError(f"{what}: not JSON ({exc})") from None
    return _convert(parsed, kind, what)


# ------------------------------------------------------------------------- the pack manifest


class ToolInfo(_Document, frozen=True):
    name: str
    version: str


class SeqRange(_Document, frozen=True):
    first: Count
    last: Count


class PackCheckpoint(_Document, frozen=True):
    file: str
    size: Count
    root: str
    at_seal: bool


class PreviousCheckpoint(_Document, frozen=True):
    size: Count
    root: str


class PackSummary(_Document, frozen=True):
    orders: Count
    executions: Count
    events_by_type: dict[str, Count]


class CsvDialect(_Document, frozen=True):
    format: str
    neutralised: str


class ListedFile(_Document, frozen=True):
    name: str
    sha256: str
    size: Count
    rows: Count | None


class Manifest(_Document, frozen=True):
    """manifest.json of a daily pack (every format so far: /1, /2 and /3 share its shape).
    Written with sorted keys, `seq` and `previous_checkpoint` as null when there is none."""

    format: str
    tool: ToolInfo
    origin: str
    date: str
    status: str
    partial: bool
    trading: bool
    notes: list[str]
    records: Count
    seq: SeqRange | None
    checkpoint: PackCheckpoint
    previous_checkpoint: PreviousCheckpoint | None
    summary: PackSummary
    csv: CsvDialect
    files: list[ListedFile]


def encode_manifest(manifest: Manifest) -> bytes:
    """Canonical JSON (sorted keys, no spaces) and a newline: the exact text that is signed."""
    return orjson.dumps(manifest.to_dict(), option=SORT | orjson.OPT_APPEND_NEWLINE)


def decode_manifest(data: bytes | str | dict[str, Any]) -> Manifest:
    """A manifest from its bytes (or parsed JSON); DocumentError naming the field at fault."""
    if isinstance(data, dict):
        return _convert(data, Manifest, "manifest.json")
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DocumentError(f"manifest.json: not JSON ({exc})") from None
    return _convert(parsed, Manifest, "manifest.json")


# ------------------------------------------------------------------------------ the proofs


class InclusionProof(_Document, frozen=True, omit_defaults=True):
    """An RFC 9162 inclusion proof as `tradetrail proof inclusion` prints it: keys in this
    order; `record` (the journal line) and `checkpoint` (signed note) only when known."""

    leaf_index: Count
    tree_size: Count
    leaf_hash: str
    root: str
    hashes: list[str]
    record: str | None = None
    checkpoint: str | None = None


class ConsistencyProof(_Document, frozen=True, omit_defaults=True):
    """An RFC 9162 consistency proof: `old_checkpoint` and `checkpoint` only when a signed
    checkpoint at that size is stored."""

    old_size: Count
    new_size: Count
    old_root: str
    new_root: str
    hashes: list[str]
    old_checkpoint: str | None = None
    checkpoint: str | None = None


def decode_proof(obj: Any) -> InclusionProof | ConsistencyProof:
    """A parsed proof as its struct (an inclusion proof has `leaf_index`, a consistency proof
    `old_size`); DocumentError naming the field at fault, hex fields checked too."""
    if not isinstance(obj, dict):
        raise DocumentError("a proof is a JSON object")
    proof: InclusionProof | ConsistencyProof
    if "leaf_index" in obj:
        proof = _convert(obj, InclusionProof, "inclusion proof")
        hex_fields = {"leaf_hash": proof.leaf_hash, "root": proof.root}
    elif "old_size" in obj:
        proof = _convert(obj, ConsistencyProof, "consistency proof")
        hex_fields = {"old_root": proof.old_root, "new_root": proof.new_root}
    else:
        raise DocumentError(
            "neither an inclusion proof (leaf_index) nor a consistency proof (old_size)"
        )
    hex_fields |= {f"hashes[{i}]": h for i, h in enumerate(proof.hashes)}
    for name, text in hex_fields.items():
        try:
            bytes.fromhex(text)
        except ValueError:
            raise DocumentError(f"{name}: not valid hex") from None
    return proof


# --------------------------------------------------------------- the configuration snapshot


class SnapshotRepo(_Document, frozen=True, omit_defaults=True):
    """A git repository holding snapshotted files; `commit` only when it has one."""

    root: str
    dirty: bool
    commit: str | None = None


class SnapshotRedacted(_Document, frozen=True, omit_defaults=True):
    """What redaction changed in a file: each entry only when there is something to say."""

    whole_text: bool | None = None
    lines: list[int] | None = None
    keys: list[str] | None = None


class SnapshotFile(_Document, frozen=True, omit_defaults=True):
    """One file of a snapshot: `content` (redacted) or `content_omitted` (why not kept);
    `format`/`parsed` for a file of a known syntax; `repo`/`git` when it sits in one."""

    path: str
    sha256: str
    size: Count
    content: str | None = None
    content_omitted: str | None = None
    format: str | None = None
    parsed: bool | None = None
    redacted: SnapshotRedacted | None = None
    repo: str | None = None
    git: str | None = None


class SnapshotDocument(_Document, frozen=True, omit_defaults=True):
    """snapshots/<id>.json (tradetrail.snapshot/1), stored as canonical JSON: sorted keys, no
    spaces. `redaction` is absent only from the document made of a snapshot an application
    recorded inline in its event (never stored)."""

    format: str
    paths: list[str]
    files: list[SnapshotFile]
    repos: list[SnapshotRepo]
    redaction: str | None = None


def encode_snapshot(document: SnapshotDocument) -> bytes:
    """The stored bytes (sorted keys, no spaces, UTF-8): their SHA-256 is the snapshot's hash."""
    return orjson.dumps(document.to_dict(), option=SORT)


def decode_snapshot(data: bytes | str | dict[str, Any]) -> SnapshotDocument:
    """A snapshot document from its bytes (or parsed JSON); DocumentError naming the field."""
    return _decode(data, SnapshotDocument, "snapshot document")


# ------------------------------------------------------------- the retention tombstone


PrunedState = Literal["intent", "removed"]
CompactDay = Annotated[str, msgspec.Meta(pattern="^[0-9]{8}$")]


class _Pruned(_Document, frozen=True, forbid_unknown_fields=True):
    """pruned.json is rewritten from what was read: a field this version does not know is
    refused rather than dropped."""


class PrunedDayEntry(_Pruned, frozen=True):
    """A day file removed or being removed. apply writes every field (`first_prev` and the
    pack's fields may be null); only the four every reader needs are required (UNSET: the
    field is absent and stays absent)."""

    day: CompactDay
    first_seq: Count
    last_seq: Count
    state: PrunedState
    date: str | UnsetType = UNSET
    file: str | UnsetType = UNSET
    batch: str | UnsetType = UNSET
    records: Count | UnsetType = UNSET
    file_sha256: str | UnsetType | None = UNSET
    first_prev: str | UnsetType | None = UNSET
    last_leaf: str | UnsetType | None = UNSET
    compact_range: list[str] | UnsetType = UNSET
    classes: dict[str, Count] | UnsetType = UNSET
    pack: str | UnsetType | None = UNSET
    pack_manifest_sha256: str | UnsetType | None = UNSET


class PrunedBatch(_Pruned, frozen=True):
    """One removal: `event_seq` null until it is recorded; `first_seq`/`last_seq` when it was
    narrowed, `retracted` the days a later decision kept, `removed_at` once unlinked."""

    id: str
    state: PrunedState
    created: str | UnsetType = UNSET
    as_of: str | UnsetType = UNSET
    policy: str | UnsetType = UNSET
    policy_sha256: str | UnsetType = UNSET
    journal_size: Count | UnsetType = UNSET
    event_seq: Count | UnsetType | None = UNSET
    days: list[str] | UnsetType = UNSET
    first_seq: Count | UnsetType = UNSET
    last_seq: Count | UnsetType = UNSET
    retracted: list[str] | UnsetType = UNSET
    removed_at: str | UnsetType = UNSET


class Tombstone(_Pruned, frozen=True):
    """<home>/pruned.json (tradetrail-pruned/1): the days removed under retention and the
    batches that removed them, written with sorted keys, indented by 2, and a newline."""

    format: str
    days: list[PrunedDayEntry]
    batches: list[PrunedBatch]


def encode_tombstone(tombstone: Tombstone) -> bytes:
    """The bytes of pruned.json."""
    return orjson.dumps(
        tombstone.to_dict(), option=SORT | orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
    )


def decode_tombstone(data: bytes | str | dict[str, Any]) -> Tombstone:
    """pruned.json from its bytes (or parsed JSON); DocumentError naming the field at fault,
    or the day whose seq range runs backwards."""
    tombstone = _decode(data, Tombstone, "pruned.json")
    for i, day in enumerate(tombstone.days):
        if day.first_seq > day.last_seq:
            raise DocumentError(
                f"pruned.json: seq range {day.first_seq}..{day.last_seq} runs backwards - at "
                f"`$.days[{i}]`"
            )
    return tombstone
