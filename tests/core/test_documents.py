"""The typed documents (core/documents.py) give back today's bytes exactly: every manifest,
proof, snapshot document and pruned.json on record round-trips through its struct, and a
damaged one names its field."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from conftest import DEMO_TODAY
from helpers import FIXTURES
from tradetrail.core.documents import (
    ConsistencyProof,
    DocumentError,
    InclusionProof,
    decode_manifest,
    decode_proof,
    decode_snapshot,
    decode_tombstone,
    encode_manifest,
    encode_snapshot,
    encode_tombstone,
)
from tradetrail.export import export_daily
from tradetrail.store.proofs import consistency_proof_json, inclusion_proof_json

PRETTY = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
DOCUMENTS = FIXTURES / "documents"  # made by `tradetrail snapshot take` and `retention apply`


@pytest.fixture(scope="module")
def packs(demo_trail_template: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A /3 pack of each sealed demo day (made elsewhere: the template is not written) and the
    /1 and /2 packs kept as fixtures."""
    out = tmp_path_factory.mktemp("packs")
    made = [export_daily(demo_trail_template, day, out=out / day).path for day in _days()]
    return [*made, FIXTURES / "pack_v1" / "pack", FIXTURES / "pack_v2" / "pack"]


def _days() -> list[str]:
    return [(DEMO_TODAY - timedelta(days=n)).date().isoformat() for n in (2, 1)]


def test_every_manifest_round_trips_byte_for_byte(packs: list[Path]) -> None:
    formats = set()
    for pack in packs:
        data = (pack / "manifest.json").read_bytes()
        manifest = decode_manifest(data)
        assert encode_manifest(manifest) == data, pack
        assert decode_manifest(orjson.loads(data)) == manifest
        formats.add(manifest.format)
    assert formats == {f"tradetrail.daily-pack/{v}" for v in (1, 2, 3)}


def test_every_proof_of_a_pack_round_trips(packs: list[Path]) -> None:
    for pack in packs:
        proofs = orjson.loads((pack / "proofs.json").read_bytes())
        for key in ("first", "last", "consistency", "extension"):
            if proofs.get(key) is None:
                continue
            proof = decode_proof(proofs[key])
            assert orjson.dumps(proof.to_dict(), option=PRETTY) == orjson.dumps(
                proofs[key], option=PRETTY
            )


def test_the_proofs_of_a_trail_keep_their_keys_and_order(demo_trail_readonly: Path) -> None:
    full = inclusion_proof_json(demo_trail_readonly, 5)
    assert list(full) == [
        "leaf_index", "tree_size", "leaf_hash", "root", "hashes", "record", "checkpoint"
    ]  # fmt: skip
    assert decode_proof(full).to_dict() == full
    cons = consistency_proof_json(demo_trail_readonly, 1)
    assert list(cons)[:5] == ["old_size", "new_size", "old_root", "new_root", "hashes"]
    assert isinstance(decode_proof(cons), ConsistencyProof)
    bare = InclusionProof(leaf_index=0, tree_size=1, leaf_hash="00", root="00", hashes=[])
    assert "record" not in bare.to_dict() and "checkpoint" not in bare.to_dict()


def test_a_damaged_manifest_names_its_field(packs: list[Path]) -> None:
    doc = orjson.loads((packs[0] / "manifest.json").read_bytes())
    doc["seq"]["first"] = "0"
    with pytest.raises(DocumentError, match=r"at `\$\.seq\.first`"):
        decode_manifest(orjson.dumps(doc))
    doc = orjson.loads((packs[0] / "manifest.json").read_bytes())
    del doc["files"][1]["sha256"]
    with pytest.raises(DocumentError, match=r"sha256.*at `\$\.files\[1\]`"):
        decode_manifest(doc)
    with pytest.raises(DocumentError, match=r"manifest\.json: not JSON"):
        decode_manifest(b"{")


def test_a_damaged_proof_names_its_field(demo_trail_readonly: Path) -> None:
    proof = inclusion_proof_json(demo_trail_readonly, 5)
    with pytest.raises(DocumentError, match=r"at `\$\.tree_size`"):
        decode_proof({**proof, "tree_size": -1})
    with pytest.raises(DocumentError, match=r"at `\$\.leaf_index`"):
        decode_proof({**proof, "leaf_index": True})
    with pytest.raises(DocumentError, match=r"hashes\[1\]: not valid hex"):
        decode_proof({**proof, "hashes": [proof["hashes"][0], "zz"]})
    with pytest.raises(DocumentError, match="neither an inclusion proof"):
        decode_proof({"hashes": []})


def test_every_snapshot_document_round_trips_byte_for_byte() -> None:
    """Files with secrets redacted, a binary, a parsed TOML/JSON/YAML file, a dirty git
    repository: the stored bytes, and so the snapshot's id, come back exactly."""
    for name in ("snapshot-files.json", "snapshot-git.json"):
        data = (DOCUMENTS / name).read_bytes()
        document = decode_snapshot(data)
        assert encode_snapshot(document) == data, name
        assert decode_snapshot(orjson.loads(data)) == document
    files = decode_snapshot((DOCUMENTS / "snapshot-files.json").read_bytes()).files
    binary = next(f for f in files if f.content is None)
    assert binary.content_omitted == "binary" and "content" not in binary.to_dict()


def test_a_damaged_snapshot_document_names_its_field() -> None:
    doc = orjson.loads((DOCUMENTS / "snapshot-git.json").read_bytes())
    doc["files"][0]["size"] = "34"
    with pytest.raises(DocumentError, match=r"snapshot document: .*at `\$\.files\[0\]\.size`"):
        decode_snapshot(doc)
    doc = orjson.loads((DOCUMENTS / "snapshot-git.json").read_bytes())
    del doc["repos"][0]["dirty"]
    with pytest.raises(DocumentError, match=r"dirty.*at `\$\.repos\[0\]`"):
        decode_snapshot(orjson.dumps(doc))
    with pytest.raises(DocumentError, match=r"snapshot document: not JSON"):
        decode_snapshot(b"[")


def test_every_tombstone_round_trips_byte_for_byte() -> None:
    """An intent left by a crash (event_seq null) and a finished, narrowed batch (first_seq,
    last_seq, retracted, removed_at) next to a plain one."""
    for name in ("pruned.intent.json", "pruned.final.json"):
        data = (DOCUMENTS / name).read_bytes()
        tombstone = decode_tombstone(data)
        assert encode_tombstone(tombstone) == data, name
    intent = decode_tombstone((DOCUMENTS / "pruned.intent.json").read_bytes())
    assert intent.batches[0].event_seq is None and "event_seq" in intent.batches[0].to_dict()
    final = decode_tombstone((DOCUMENTS / "pruned.final.json").read_bytes())
    assert [b.state for b in final.batches] == ["removed", "removed"]


def test_a_damaged_tombstone_names_its_field() -> None:
    data = (DOCUMENTS / "pruned.final.json").read_bytes()
    for path, value, field in [
        (("days", 0, "day"), "2024-03-01", r"at `\$\.days\[0\]\.day`"),
        (("days", 1, "state"), "gone", r"at `\$\.days\[1\]\.state`"),
        (("batches", 0, "event_seq"), -1, r"at `\$\.batches\[0\]\.event_seq`"),
        (("days", 0, "last_seq"), 0, r"runs backwards - at `\$\.days\[0\]`"),
        (("batches", 1, "removed"), True, r"unknown field `removed` - at `\$\.batches\[1\]`"),
    ]:
        doc = orjson.loads(data)
        *parents, key = path
        target = doc
        for step in parents:
            target = target[step]
        target[key] = value
        with pytest.raises(DocumentError, match=field):
            decode_tombstone(doc)
    doc = orjson.loads(data)
    del doc["days"][0]["first_seq"]
    with pytest.raises(DocumentError, match=r"first_seq.*at `\$\.days\[0\]`"):
        decode_tombstone(doc)
