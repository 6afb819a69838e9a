"""Inclusion and consistency proofs served from the stored tiles (O(log n) tile reads), as the
JSON of DESIGN.md plus the signed checkpoint they are anchored in, and their offline check."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..core import layout
from ..core.checkpoint import Checkpoint, open_checkpoint, parse_checkpoint_body
from ..core.documents import ConsistencyProof, DocumentError, InclusionProof, decode_proof
from ..core.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    range_hash,
    verify_consistency,
    verify_inclusion,
)
from ..core.note import Verifier, open_note
from ..errors import (
    CheckpointError,
    ConfigError,
    NoteError,
    NotYetSignedError,
    ProofError,
    TileError,
)
from .journal import journal_files, lines_from_seq, record_seq, tail_lines
from .keyhistory import KeyHistory, KeySpan, check_signed_at, trail_keys, trusted_spans
from .tilestore import TileStore


def _latest(home: Path) -> tuple[Checkpoint, str]:
    path = home / layout.CHECKPOINT_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{home} has no signed checkpoint yet (no {path})") from None
    try:
        return open_checkpoint(text, trail_keys(home)), text
    except (NoteError, CheckpointError) as exc:
        raise ProofError(f"{path} does not verify: {exc}") from None


def _journal_size(home: Path) -> int:
    for path in reversed(journal_files(home)):
        lines, _ = tail_lines(path, 1)
        if lines:
            return record_seq(lines[-1], str(path)) + 1
    return 0


_HOW_TO_SIGN = (
    "the writer signs a checkpoint every checkpoint_every records or checkpoint_interval "
    "seconds (TRADETRAIL_CHECKPOINT_EVERY / _INTERVAL); when no writer runs, "
    "`tradetrail checkpoint --home {home}` signs one now (from Python: trail.checkpoint()), "
    "then ask for the proof again"
)


def _not_signed(home: Path, latest: Checkpoint, seq: int | None, size: int) -> ProofError:
    """Why a proof at `size` (for record `seq`) cannot be made: not yet signed, or not there."""
    journaled = _journal_size(home)
    hint = _HOW_TO_SIGN.format(home=home)
    if seq is not None and seq >= journaled:
        return ProofError(
            f"seq {seq} is not in a tree of size {latest.size}: the journal holds "
            f"{journaled} record(s) (seq 0..{journaled - 1}), so there is no record {seq} yet"
        )
    if size > journaled:
        return ProofError(
            f"size {size} is beyond the latest signed checkpoint ({latest.size}) and beyond the "
            f"journal ({journaled} records)"
        )
    if seq is not None:
        message = (
            f"seq {seq} is journaled but not yet under a signed checkpoint (the latest, size "
            f"{latest.size}, covers seq 0..{latest.size - 1}): {hint}"
        )
    else:
        message = (
            f"size {size} is beyond the latest signed checkpoint ({latest.size}); the journal "
            f"holds {journaled} records: {hint}"
        )
    return NotYetSignedError(message, size - 1 if seq is None else seq, latest.size)


def _checkpoint_at(home: Path, size: int) -> str | None:
    path = home / layout.CHECKPOINTS_DIR / str(size)
    return path.read_text(encoding="utf-8") if path.exists() else None


def _root(store: TileStore, size: int) -> bytes:
    return range_hash(0, size, store.node) if size else EMPTY_ROOT


def inclusion_proof_json(home: Path, index: int, size: int | None = None) -> dict[str, Any]:
    """Proof that record `index` is in the tree of `size` (default: the latest checkpoint)."""
    home = Path(home)
    latest, latest_text = _latest(home)
    if size is None:
        if index >= latest.size:
            raise _not_signed(home, latest, index, index + 1)
        size = latest.size
    if size > latest.size:
        raise _not_signed(home, latest, None, size)
    if not 0 <= index < size:
        raise ProofError(f"seq {index} is not in a tree of size {size}")
    store = TileStore(home / layout.TILES_DIR)
    try:
        hashes = inclusion_proof(index, size, store.node)
        leaf = store.node(0, index)
        root = latest.root if size == latest.size else _root(store, size)
    except TileError as exc:
        raise ProofError(f"cannot build the proof from the stored tiles: {exc}") from None
    record = None
    for _, line in lines_from_seq(home, index):
        if leaf_hash(line) == leaf:
            record = line.decode("utf-8")
        break
    checkpoint = latest_text if size == latest.size else _checkpoint_at(home, size)
    return InclusionProof(
        leaf_index=index,
        tree_size=size,
        leaf_hash=leaf.hex(),
        root=root.hex(),
        hashes=[h.hex() for h in hashes],
        record=record,
        checkpoint=checkpoint,
    ).to_dict()


def consistency_proof_json(
    home: Path, old_size: int, new_size: int | None = None
) -> dict[str, Any]:
    """Proof that the tree of `old_size` is a prefix of the tree of `new_size`."""
    home = Path(home)
    latest, latest_text = _latest(home)
    new_size = latest.size if new_size is None else new_size
    if new_size > latest.size:
        raise _not_signed(home, latest, None, new_size)
    if old_size > latest.size and new_size == latest.size:
        raise _not_signed(home, latest, None, old_size)
    if not 0 < old_size <= new_size:
        raise ProofError(f"need 0 < old size <= new size, got {old_size} and {new_size}")
    store = TileStore(home / layout.TILES_DIR)
    try:
        hashes = consistency_proof(old_size, new_size, store.node)
        old_root = _root(store, old_size)
        new_root = latest.root if new_size == latest.size else _root(store, new_size)
    except TileError as exc:
        raise ProofError(f"cannot build the proof from the stored tiles: {exc}") from None
    new_cp = latest_text if new_size == latest.size else _checkpoint_at(home, new_size)
    return ConsistencyProof(
        old_size=old_size,
        new_size=new_size,
        old_root=old_root.hex(),
        new_root=new_root.hex(),
        hashes=[h.hex() for h in hashes],
        old_checkpoint=_checkpoint_at(home, old_size),
        checkpoint=new_cp,
    ).to_dict()


def _open_signed(text: str, vkeys: Sequence[Verifier], spans: list[KeySpan] | None) -> Checkpoint:
    """Verify a checkpoint; with a key history, by a key valid at the checkpoint's size."""
    note, verified = open_note(text, vkeys)
    cp = parse_checkpoint_body(note.text)
    if spans is not None:
        check_signed_at(spans, verified, cp.size)
    return cp


def _anchor(
    text: str | None,
    key: str,
    size: int,
    root: bytes,
    vkeys: Sequence[Verifier],
    require_signed: bool = True,
    spans: list[KeySpan] | None = None,
) -> str:
    if text is None:
        if not require_signed:
            return f"{key}: none attached; the root was taken from the proof itself"
        raise ProofError(
            f"{key}: no signed checkpoint attached, so the root is not authenticated; make the "
            "proof at a checkpoint size (tradetrail proof ... without --size)"
        )
    try:
        cp = _open_signed(text, vkeys, spans)
    except (NoteError, CheckpointError) as exc:
        raise ProofError(f"{key}: {exc}") from None
    if cp.size != size or cp.root != root:
        raise ProofError(f"{key}: signed checkpoint is for size {cp.size}, root {cp.root.hex()}")
    names = ", ".join(dict.fromkeys(v.name for v in vkeys))
    return f"{key}: signed by {names} for {cp.origin} at size {size}"


def verify_proof_json(
    obj: dict[str, Any],
    vkeys: Sequence[Verifier],
    *,
    require_signed: bool = True,
    history: KeyHistory | None = None,
) -> list[str]:
    """Check an inclusion or consistency proof offline; returns what was established. Unless
    `require_signed` is False, the proof's root must come with a checkpoint signed by one of
    `vkeys`: a bare root proves only that the proof is self-consistent. With a key `history`
    (trail.vkeys of a trail whose key was rotated), a checkpoint must be signed by the key
    valid at its size; `vkeys` are then the keys trusted to start from (none: the whole
    history)."""
    try:
        proof = decode_proof(obj)
    except DocumentError as exc:
        raise ProofError(str(exc)) from None
    try:
        spans = trusted_spans(vkeys, history, "key history")
    except NoteError as exc:
        raise ProofError(str(exc)) from None
    if spans is not None:
        vkeys = list(dict.fromkeys([*vkeys, *(s.verifier for s in spans)]))
    hashes = [bytes.fromhex(h) for h in proof.hashes]
    if isinstance(proof, InclusionProof):
        index, size = proof.leaf_index, proof.tree_size
        leaf, root = bytes.fromhex(proof.leaf_hash), bytes.fromhex(proof.root)
        said = [_anchor(proof.checkpoint, "checkpoint", size, root, vkeys, require_signed, spans)]
        if proof.record is not None:
            if leaf_hash(proof.record.encode("utf-8")) != leaf:
                raise ProofError("record: its leaf hash is not leaf_hash")
            said.append("record: its bytes hash to leaf_hash")
        verify_inclusion(leaf, index, size, hashes, root)
        said.append(f"record {index} is included in the tree of size {size}")
        return said
    old, new = proof.old_size, proof.new_size
    old_root, new_root = bytes.fromhex(proof.old_root), bytes.fromhex(proof.new_root)
    said = [_anchor(proof.checkpoint, "checkpoint", new, new_root, vkeys, require_signed, spans)]
    if proof.old_checkpoint is not None:
        said.append(
            _anchor(proof.old_checkpoint, "old_checkpoint", old, old_root, vkeys, True, spans)
        )
    else:
        said.append("old_root: taken from the proof (no checkpoint at that size attached)")
    verify_consistency(old, new, old_root, new_root, hashes)
    said.append(f"the tree of size {old} is a prefix of the tree of size {new}")
    return said


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
