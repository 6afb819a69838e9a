"""The JSON documents that are formats (docs/FORMATS.md) as typed structs: the daily pack's
manifest and the inclusion and consistency proofs. Each encodes to exactly the bytes written
before they were typed (the producers build a struct, so a misspelt or missing field fails
where it is made) and decodes with an error that names the field at fault. Pure: no I/O."""

from __future__ import annotations

from typing import Annotated, Any, Final, TypeVar

import msgspec
import orjson

from ..errors import DocumentError

__all__ = [
    "ConsistencyProof",
    "DocumentError",
    "InclusionProof",
    "Manifest",
    "decode_manifest",
    "decode_proof",
    "encode_manifest",
]

SORT: Final = orjson.OPT_SORT_KEYS
Count = Annotated[int, msgspec.Meta(ge=0)]

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
