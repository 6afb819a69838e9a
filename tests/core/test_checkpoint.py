"""Tests of tradetrail.core.checkpoint: the c2sp.org/tlog-checkpoint body, strict parsing and signed
checkpoints opened against the right (and wrong) keys and origins."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import VECTORS
from tradetrail.core.checkpoint import (
    MAX_TREE_SIZE,
    Checkpoint,
    open_checkpoint,
    parse_checkpoint_body,
    sign_checkpoint,
)
from tradetrail.core.note import Signer, Verifier, add_signatures, open_note, sign_note
from tradetrail.errors import CheckpointError, NoteError

ORIGIN = "trail.example.com/desk-1"
LOG = Signer.generate(ORIGIN)
OTHER = Signer.generate("trail.example.com/desk-2")
ROOT = hashlib.sha256(b"root").digest()
ROOT64 = base64.b64encode(ROOT).decode()
EMPTY_ROOT = hashlib.sha256(b"").digest()

# The example body of the tlog-checkpoint spec.
SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def test_body_format() -> None:
    cp = Checkpoint(ORIGIN, 7, ROOT)
    assert cp.body() == f"{ORIGIN}\n7\n{ROOT64}\n"
    with_ext = Checkpoint(ORIGIN, 7, ROOT, ("ext one", "ext two"))
    assert with_ext.body() == f"{ORIGIN}\n7\n{ROOT64}\next one\next two\n"


def test_spec_example_parses() -> None:
    cp = parse_checkpoint_body(SPEC_BODY)
    assert cp.origin == "example.com/behind-the-sofa"
    assert cp.size == 20852163
    assert len(cp.root) == 32
    assert cp.extensions == ()
    assert cp.body() == SPEC_BODY


def test_empty_tree_and_extension_round_trip() -> None:
    for cp in (
        Checkpoint(ORIGIN, 0, EMPTY_ROOT),
        Checkpoint(ORIGIN, MAX_TREE_SIZE, ROOT, ("— an extension + with spaces",)),
    ):
        assert parse_checkpoint_body(cp.body()) == cp


def test_extensions_are_stored_as_tuple() -> None:
    cp = Checkpoint(ORIGIN, 1, ROOT, ["a", "b"])  # type: ignore[arg-type]
    assert cp.extensions == ("a", "b")
    assert hash(cp) == hash(Checkpoint(ORIGIN, 1, ROOT, ("a", "b")))


origins = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=60)
extensions = st.lists(
    st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=30),
    max_size=3,
).map(tuple)


@given(origins, st.integers(0, MAX_TREE_SIZE), st.binary(min_size=32, max_size=32), extensions)
def test_body_round_trip(origin: str, size: int, root: bytes, ext: tuple[str, ...]) -> None:
    cp = Checkpoint(origin, size, root, ext)
    assert parse_checkpoint_body(cp.body()) == cp
    assert open_checkpoint(sign_checkpoint(cp, LOG), [LOG.verifier()], origin=origin) == cp


def _body(origin: str = ORIGIN, size: str = "7", root: str = ROOT64, *rest: str) -> str:
    return "\n".join((origin, size, root, *rest)) + "\n"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (_body(size="07"), "line 2.*leading zeros"),
        (_body(size="00"), "line 2.*leading zeros"),
        (_body(size="-1"), "line 2.*negative"),
        (_body(size="-0"), "line 2.*negative"),
        (_body(size="+1"), "line 2.*not a plain decimal"),
        (_body(size=" 1"), "line 2.*not a plain decimal"),
        (_body(size="1 "), "line 2.*not a plain decimal"),
        (_body(size="1.0"), "line 2.*not a plain decimal"),
        (_body(size="1_000"), "line 2.*not a plain decimal"),
        (_body(size="0x10"), "line 2.*not a plain decimal"),
        (_body(size="\u0661"), "line 2.*not a plain decimal"),  # ARABIC-INDIC DIGIT ONE
        (_body(size=""), "line 2.*empty"),
        (_body(size=str(MAX_TREE_SIZE + 1)), "line 2.*larger"),
        (_body(root=ROOT64[:-1]), "line 3.*base64"),
        (_body(root=ROOT64 + "="), "line 3.*base64"),
        (_body(root="!" + ROOT64[1:]), "line 3.*base64"),
        (_body(root=ROOT.hex()), "line 3.*(base64|bytes)"),
        (_body(root=ROOT64[:-2] + "J="), "line 3.*canonical"),
        (_body(root=base64.b64encode(ROOT[:31]).decode()), "line 3.*31 bytes"),
        (_body(root=base64.b64encode(ROOT + b"\x00").decode()), "line 3.*33 bytes"),
        (_body(root=""), "line 3.*empty"),
        (_body(origin=""), "line 1.*origin.*empty"),
        (_body(ORIGIN, "7", ROOT64, ""), "line 4.*extension.*empty"),
        (_body(ORIGIN, "7", ROOT64, "ext", ""), "line 5.*extension.*empty"),
        (_body(origin="a\rb"), "line 1.*U\\+000D"),
        (f"{ORIGIN}\n7\n{ROOT64}", "newline"),
        (f"{ORIGIN}\n7\n", "missing: root hash"),
        (f"{ORIGIN}\n", "missing: tree size, root hash"),
        ("\n", "missing"),
        ("", "newline"),
    ],
)
def test_parse_refuses(text: str, match: str) -> None:
    with pytest.raises(CheckpointError, match=match):
        parse_checkpoint_body(text)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"origin": ""}, "origin is empty"),
        ({"origin": "a\nb"}, "origin contains a newline"),
        ({"size": -1}, "out of range"),
        ({"size": MAX_TREE_SIZE + 1}, "out of range"),
        ({"size": True}, "must be an int"),
        ({"root": ROOT[:31]}, "32 bytes"),
        ({"root": ROOT64}, "must be bytes"),
        ({"extensions": ("",)}, "extension line 1 is empty"),
        ({"extensions": ("ok", "a\nb")}, "extension line 2 contains a newline"),
    ],
)
def test_constructor_refuses(kwargs: dict[str, object], match: str) -> None:
    fields: dict[str, object] = {"origin": ORIGIN, "size": 1, "root": ROOT, **kwargs}
    with pytest.raises(CheckpointError, match=match):
        Checkpoint(**fields)  # type: ignore[arg-type]


def test_sign_and_open() -> None:
    cp = Checkpoint(ORIGIN, 12, ROOT)
    signed = sign_checkpoint(cp, LOG)
    assert signed.startswith(cp.body() + "\n— " + ORIGIN + " ")
    assert open_checkpoint(signed, [LOG.verifier()]) == cp
    assert open_checkpoint(signed, [LOG.verifier()], origin=ORIGIN) == cp
    # A witness co-signature does not disturb the log's.
    cosigned = add_signatures(signed, OTHER)
    assert open_checkpoint(cosigned, [LOG.verifier()], origin=ORIGIN) == cp
    assert open_checkpoint(cosigned, [OTHER.verifier()], origin=ORIGIN) == cp


def test_origin_mismatch() -> None:
    signed = sign_checkpoint(Checkpoint(ORIGIN, 12, ROOT), LOG)
    with pytest.raises(CheckpointError, match=r"origin.*expected"):
        open_checkpoint(signed, [LOG.verifier()], origin="trail.example.com/desk-2")


def test_signature_by_another_key_refused() -> None:
    signed = sign_checkpoint(Checkpoint(ORIGIN, 12, ROOT), OTHER)
    with pytest.raises(NoteError, match="no signature by a known key"):
        open_checkpoint(signed, [LOG.verifier()], origin=ORIGIN)
    impostor = Signer.generate(ORIGIN)
    with pytest.raises(NoteError, match="no signature by a known key"):
        open_checkpoint(sign_checkpoint(Checkpoint(ORIGIN, 12, ROOT), impostor), [LOG.verifier()])


def test_tampered_checkpoint_refused() -> None:
    signed = sign_checkpoint(Checkpoint(ORIGIN, 12, ROOT), LOG)
    with pytest.raises(NoteError, match="invalid signature"):
        open_checkpoint(signed.replace("\n12\n", "\n11\n", 1), [LOG.verifier()])


def test_signed_note_that_is_not_a_checkpoint() -> None:
    signed = sign_note("just a note\n", LOG)
    assert open_note(signed, [LOG.verifier()])[0].text == "just a note\n"
    with pytest.raises(CheckpointError, match="missing"):
        open_checkpoint(signed, [LOG.verifier()])
    bad_size = sign_note(_body(size="012"), LOG)
    with pytest.raises(CheckpointError, match="leading zeros"):
        open_checkpoint(bad_size, [LOG.verifier()])


def test_vector_key_signs_checkpoints() -> None:
    path = VECTORS / "signed-note.json"
    if not path.is_file():
        pytest.skip(f"reference vectors not found at {path}")
    vector = json.loads(path.read_text(encoding="utf-8"))
    signer = Signer.from_skey(vector["skey"])
    cp = parse_checkpoint_body(SPEC_BODY)
    signed = sign_checkpoint(cp, signer)
    assert signed == sign_checkpoint(cp, signer)  # Ed25519 is deterministic
    assert open_checkpoint(signed, [Verifier.from_vkey(vector["vkey"])]) == cp
