"""Tests of tradetrail.core.note: the reference vector byte for byte, key formats, malformed notes,
verification rules of c2sp.org/signed-note, and properties over random texts and mutations."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import VECTORS
from tradetrail.core.note import (
    ALG_ED25519,
    MAX_SIGNATURES,
    Note,
    NoteSignature,
    Signer,
    Verifier,
    add_signatures,
    key_id,
    open_note,
    parse_note,
    sign_note,
)
from tradetrail.errors import NoteError

VECTOR_FILE = VECTORS / "signed-note.json"


@pytest.fixture(scope="module")
def vector() -> dict[str, Any]:
    if not VECTOR_FILE.is_file():
        pytest.skip(f"reference vectors not found at {VECTOR_FILE}")
    data: dict[str, Any] = json.loads(VECTOR_FILE.read_text(encoding="utf-8"))
    return data


ALICE = Signer.generate("alice.example/log")
BOB = Signer.generate("bob.example/witness")
TEXT = "alice.example/log\n42\nsome text\n"


def sig_line(name: str, raw: bytes) -> str:
    return f"— {name} {base64.b64encode(raw).decode()}\n"


# --- the reference vector -------------------------------------------------------------------


def test_vector_sign_byte_for_byte(vector: dict[str, Any]) -> None:
    signer = Signer.from_skey(vector["skey"])
    assert sign_note(vector["text"], signer) == vector["signed"]
    assert sign_note(vector["text"], signer).encode("utf-8") == vector["signed"].encode("utf-8")


def test_vector_keys_round_trip(vector: dict[str, Any]) -> None:
    signer = Signer.from_skey(vector["skey"])
    assert signer.skey() == vector["skey"]
    assert signer.verifier().vkey() == vector["vkey"]
    verifier = Verifier.from_vkey(vector["vkey"])
    assert verifier == signer.verifier()
    assert verifier.vkey() == vector["vkey"]
    assert verifier.name == signer.name == "PeterNeumann"
    assert verifier.key_id == signer.key_id == bytes.fromhex(vector["vkey"].split("+")[1])
    assert key_id(verifier.name, verifier.public_key) == verifier.key_id


def test_vector_open(vector: dict[str, Any]) -> None:
    verifier = Verifier.from_vkey(vector["vkey"])
    note, verified = open_note(vector["signed"], [verifier])
    assert note.text == vector["text"]
    assert verified == [verifier]
    (sig,) = note.signatures
    assert sig.name == "PeterNeumann"
    assert sig.key_id == verifier.key_id
    assert len(sig.signature) == 64
    assert sig.line() == vector["signed"][len(vector["text"]) + 1 :]


def test_vector_bad_vkeys_refused(vector: dict[str, Any]) -> None:
    assert len(vector["bad_vkeys"]) == 2
    messages = {}
    for vkey in vector["bad_vkeys"]:
        with pytest.raises(NoteError) as info:
            Verifier.from_vkey(vkey)
        messages[vkey] = str(info.value)
    length, algorithm = messages.values()
    assert "key length" in length
    assert "algorithm" in algorithm


def test_vector_wrong_key_refuses(vector: dict[str, Any]) -> None:
    with pytest.raises(NoteError, match="no signature by a known key"):
        open_note(vector["signed"], [ALICE.verifier()])


def test_vector_tampered_text_fails(vector: dict[str, Any]) -> None:
    tampered = vector["signed"].replace("answer", "anwser", 1)
    with pytest.raises(NoteError, match="invalid signature by PeterNeumann"):
        open_note(tampered, [Verifier.from_vkey(vector["vkey"])])


# --- keys -------------------------------------------------------------------------------------


def test_generated_keys_round_trip() -> None:
    signer = Signer.generate("example.com/log42")
    again = Signer.from_skey(signer.skey())
    assert again.key_id == signer.key_id
    assert again.skey() == signer.skey()
    assert again.verifier() == signer.verifier()
    verifier = Verifier.from_vkey(signer.verifier().vkey())
    assert verifier == signer.verifier()
    assert hash(verifier) == hash(signer.verifier())
    assert verifier.verify(b"msg", signer.sign(b"msg"))
    assert not verifier.verify(b"msg!", signer.sign(b"msg"))
    assert not verifier.verify(b"msg", signer.sign(b"msg")[:63])
    assert len(signer.sign(b"msg")) == 64


def test_key_id_definition() -> None:
    import hashlib

    pub = ALICE.verifier().public_key
    expected = hashlib.sha256(b"alice.example/log\n\x01" + pub).digest()[:4]
    assert key_id("alice.example/log", pub) == expected == ALICE.key_id
    assert ALG_ED25519 == 1


def test_signer_repr_hides_secret() -> None:
    # PRIVATE+KEY+<name>+<hex id>+<base64 key>; the base64 itself may hold a '+'
    secret = ALICE.skey().split("+", 4)[4]
    assert len(secret) >= 44
    assert secret not in repr(ALICE)
    assert "alice.example/log" in repr(ALICE)


def test_uppercase_hex_id_accepted_and_normalised() -> None:
    name, hex_id, key64 = BOB.verifier().vkey().split("+", 2)
    verifier = Verifier.from_vkey(f"{name}+{hex_id.upper()}+{key64}")
    assert verifier.vkey() == BOB.verifier().vkey()


def _vkey_parts() -> tuple[str, str, str]:
    name, hex_id, key64 = ALICE.verifier().vkey().split("+", 2)
    return name, hex_id, key64


def _vkey_for(name: str, raw: bytes) -> str:
    """An encoded key whose id is right for its bytes, so only the intended fault remains."""
    import hashlib

    digest = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    return f"{name}+{digest.hex()}+{base64.b64encode(raw).decode()}"


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda n, h, k: f"{n}+{h}", "expected"),
        (lambda n, h, k: n, "expected"),
        (lambda n, h, k: f"{n}+{h}+{k}!", "base64"),
        (lambda n, h, k: f"{n}+{h}+{k[:-1]}", "base64"),
        (lambda n, h, k: f"{n}+{h}+", "empty"),
        (lambda n, h, k: f"{n}+{h[:7]}+{k}", "8 hexadecimal"),
        (lambda n, h, k: f"{n}+0x{h[:6]}+{k}", "8 hexadecimal"),
        (lambda n, h, k: f"{n}+{h[:7]}g+{k}", "8 hexadecimal"),
        (lambda n, h, k: f"{n}+{int(h, 16) ^ 1:08x}+{k}", "does not match"),
        (lambda n, h, k: f"other+{h}+{k}", "does not match"),
        (lambda n, h, k: f"+{h}+{k}", "empty"),
        (lambda n, h, k: f"a b+{h}+{k}", "whitespace"),
        (lambda n, h, k: f"a\tb+{h}+{k}", "whitespace"),
        (lambda n, h, k: f"a\u00a0b+{h}+{k}", "whitespace"),
        (lambda n, h, k: f"a\u200bb+{h}+{k}", "non-printable"),
        (lambda n, h, k: f"a\x7fb+{h}+{k}", "non-printable"),
        (lambda n, h, k: f"{n}+{h}+{k}\n", "whitespace"),
        (lambda n, h, k: f" {n}+{h}+{k}", "whitespace"),
    ],
)
def test_bad_vkeys_refused(make: Any, match: str) -> None:
    with pytest.raises(NoteError, match=match):
        Verifier.from_vkey(make(*_vkey_parts()))


def test_bad_vkey_algorithm_and_length_named() -> None:
    pub = ALICE.verifier().public_key
    with pytest.raises(NoteError, match="unknown algorithm byte 0x02"):
        Verifier.from_vkey(_vkey_for("k", b"\x02" + pub))
    with pytest.raises(NoteError, match="wrong key length: 31"):
        Verifier.from_vkey(_vkey_for("k", b"\x01" + pub[:31]))
    with pytest.raises(NoteError, match="wrong key length: 33"):
        Verifier.from_vkey(_vkey_for("k", b"\x01" + pub + b"\x00"))


def test_verifier_constructor_validates() -> None:
    pub = ALICE.verifier().public_key
    with pytest.raises(NoteError, match="contains '\\+'"):
        Verifier("a+b", pub)
    with pytest.raises(NoteError, match="key length"):
        Verifier("a", pub[:16])
    with pytest.raises(NoteError, match="empty"):
        Signer.generate("")
    with pytest.raises(NoteError, match="'\\+'"):
        Signer.generate("a+b")
    with pytest.raises(NoteError, match="whitespace"):
        Signer.generate("a b")


def _skey_parts() -> tuple[str, str, str]:
    rest = ALICE.skey().removeprefix("PRIVATE+KEY+")
    name, hex_id, key64 = rest.split("+", 2)
    return name, hex_id, key64


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda n, h, k: f"{n}+{h}+{k}", "must start with"),
        (lambda n, h, k: f"PRIVATE+KEY+{n}+{h}", "expected"),
        (lambda n, h, k: f"PRIVATE+KEY+{n}+{h}+{k}=", "base64"),
        (lambda n, h, k: f"PRIVATE+KEY+{n}+{h[:6]}+{k}", "8 hexadecimal"),
        (lambda n, h, k: f"PRIVATE+KEY+{n}+{int(h, 16) ^ 1:08x}+{k}", "does not match"),
        (lambda n, h, k: f"PRIVATE+KEY+bob+{h}+{k}", "does not match"),
        (lambda n, h, k: f"PRIVATE+KEY+ +{h}+{k}", "whitespace"),
    ],
)
def test_bad_skeys_refused(make: Any, match: str) -> None:
    name, hex_id, key64 = _skey_parts()
    with pytest.raises(NoteError, match=match) as info:
        Signer.from_skey(make(name, hex_id, key64))
    assert key64 not in str(info.value)


def test_bad_skey_algorithm_and_length() -> None:
    seed = base64.b64decode(_skey_parts()[2])[1:]
    with pytest.raises(NoteError, match="unknown algorithm"):
        Signer.from_skey("PRIVATE+KEY+" + _vkey_for("k", b"\x07" + seed))
    with pytest.raises(NoteError, match="wrong key length: 31"):
        Signer.from_skey("PRIVATE+KEY+" + _vkey_for("k", b"\x01" + seed[:31]))


# --- signing ----------------------------------------------------------------------------------


def test_sign_note_format() -> None:
    signed = sign_note(TEXT, ALICE)
    sig = ALICE.sign(TEXT.encode())
    assert signed == TEXT + "\n" + sig_line(ALICE.name, ALICE.key_id + sig)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty"),
        ("no final newline", "end with a newline"),
        ("carriage return\r\n", "U\\+000D"),
        ("tab\there\n", "U\\+0009"),
        ("nul\x00\n", "U\\+0000"),
        ("lone surrogate \ud800\n", "U\\+D800"),
    ],
)
def test_sign_note_refuses_bad_text(text: str, match: str) -> None:
    with pytest.raises(NoteError, match=match):
        sign_note(text, ALICE)


def test_sign_note_needs_a_signer() -> None:
    with pytest.raises(NoteError, match="at least one signer"):
        sign_note(TEXT)


def test_text_may_hold_blank_lines_and_unicode() -> None:
    text = "first\n\n\nlast — é 日本 \u2028 \x7f\n\n"
    note, _ = open_note(sign_note(text, ALICE), [ALICE.verifier()])
    assert note.text == text
    assert open_note(sign_note("\n", ALICE), [ALICE.verifier()])[0].text == "\n"


def test_repeated_signer_signs_once() -> None:
    assert sign_note(TEXT, ALICE, ALICE) == sign_note(TEXT, ALICE)


# --- parsing malformed notes ------------------------------------------------------------------


GOOD_LINE = sig_line("alice", b"\x01\x02\x03\x04" + bytes(64))


@pytest.mark.parametrize(
    ("signed", "match"),
    [
        ("text\n" + GOOD_LINE, "no blank line"),
        ("text\n\n", "no signature lines"),
        ("text\n\n" + GOOD_LINE[:-1], "does not end with a newline"),
        ("text\n\n" + GOOD_LINE.replace("—", "-"), "em dash"),
        ("text\n\n" + GOOD_LINE.replace("— ", "—"), "em dash"),
        ("text\n\n— alice\n", "no space"),
        ("text\n\n— " + GOOD_LINE[2:].replace(" ", "", 1), "no space"),
        ("text\n\n—  AAAAAAA=\n", "bad key name"),
        ("text\n\n— a+b AQIDBAU=\n", "bad key name"),
        ("text\n\n— a\u00a0b AQIDBAU=\n", "bad key name"),
        ("text\n\n— alice AQID!AU=\n", "base64"),
        ("text\n\n— alice AQIDBAU\n", "base64"),
        ("text\n\n— alice AQIDBAV=\n", "canonical base64"),
        ("text\n\n— alice AQIDBAU= \n", "base64"),
        ("text\n\n— alice \n", "too short"),
        ("text\n\n— alice AQIDBA==\n", "too short"),
        ("text\n\n" + GOOD_LINE + "\n", "no signature lines"),
        ("text\r\n\n" + GOOD_LINE, "U\\+000D"),
        ("text\n\n" + GOOD_LINE + "trailing junk\n", "signature line 2"),
        ("text\n\n" + GOOD_LINE * (MAX_SIGNATURES + 1), "limit"),
        ("", "no blank line"),
    ],
)
def test_parse_refuses_malformed(signed: str, match: str) -> None:
    with pytest.raises(NoteError, match=match):
        parse_note(signed)
    with pytest.raises(NoteError, match=match):
        open_note(signed, [ALICE.verifier()])


def test_parse_splits_at_last_blank_line() -> None:
    signed = "a\n\nb\n\n" + GOOD_LINE
    note = parse_note(signed)
    assert note == Note("a\n\nb\n", (NoteSignature("alice", b"\x01\x02\x03\x04", bytes(64)),))


def test_parse_accepts_max_signatures() -> None:
    note = parse_note("t\n\n" + GOOD_LINE * MAX_SIGNATURES)
    assert len(note.signatures) == MAX_SIGNATURES


# --- verification rules -----------------------------------------------------------------------


def test_unknown_signer_only() -> None:
    with pytest.raises(NoteError, match=r"no signature by a known key.*unknown signer") as info:
        open_note(sign_note(TEXT, ALICE), [BOB.verifier()])
    assert f"{ALICE.name}+{ALICE.key_id.hex()}" in str(info.value)
    with pytest.raises(NoteError, match="no signature by a known key"):
        open_note(sign_note(TEXT, ALICE), [])


def test_wrong_key_same_name_is_unknown() -> None:
    impostor = Signer.generate(ALICE.name)
    with pytest.raises(NoteError, match="no signature by a known key"):
        open_note(sign_note(TEXT, impostor), [ALICE.verifier()])


def test_known_key_bad_signature_rejects_note() -> None:
    forged = TEXT + "\n" + sig_line(ALICE.name, ALICE.key_id + BOB.sign(TEXT.encode()))
    with pytest.raises(NoteError, match=f"invalid signature by {ALICE.name}"):
        open_note(forged, [ALICE.verifier()])
    short = TEXT + "\n" + sig_line(ALICE.name, ALICE.key_id + b"\x00")
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(short, [ALICE.verifier()])
    # A bad signature by a known key rejects the note even beside a good one.
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(
            sign_note(TEXT, BOB) + forged[len(TEXT) + 1 :], [ALICE.verifier(), BOB.verifier()]
        )


def test_tampered_text_fails() -> None:
    signed = sign_note(TEXT, ALICE)
    tampered = signed.replace("42", "43", 1)
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(tampered, [ALICE.verifier()])


def test_signatures_sharing_name_or_id_with_known_key_are_ignored() -> None:
    signed = sign_note(TEXT, ALICE)
    junk = sig_line(ALICE.name, b"\x00\x00\x00\x00" + bytes(64))
    junk += sig_line("someone-else", ALICE.key_id + bytes(64))
    note, verified = open_note(signed + junk, [ALICE.verifier()])
    assert verified == [ALICE.verifier()]
    assert len(note.signatures) == 3


def test_two_signers_open_with_either() -> None:
    signed = sign_note(TEXT, ALICE, BOB)
    a, b = ALICE.verifier(), BOB.verifier()
    assert open_note(signed, [a]) == (parse_note(signed), [a])
    assert open_note(signed, [b])[1] == [b]
    assert open_note(signed, [b, a])[1] == [a, b]
    assert open_note(signed, [Signer.generate("x").verifier(), b])[1] == [b]
    assert [sig.name for sig in parse_note(signed).signatures] == [ALICE.name, BOB.name]


def test_duplicate_verifiers_and_ambiguous_keys() -> None:
    signed = sign_note(TEXT, ALICE)
    a = ALICE.verifier()
    assert open_note(signed, [a, Verifier.from_vkey(a.vkey())])[1] == [a]
    twin = object.__new__(Verifier)
    for attr in ("name", "key_id", "public_key", "_key"):
        object.__setattr__(twin, attr, getattr(BOB.verifier(), attr))
    object.__setattr__(twin, "name", a.name)
    object.__setattr__(twin, "key_id", a.key_id)
    with pytest.raises(NoteError, match="ambiguous"):
        open_note(signed, [a, twin])


def test_add_signatures_cosigns() -> None:
    signed = sign_note(TEXT, ALICE)
    cosigned = add_signatures(signed, BOB)
    assert cosigned.startswith(signed)
    assert cosigned == sign_note(TEXT, ALICE, BOB)
    assert open_note(cosigned, [BOB.verifier()])[1] == [BOB.verifier()]
    assert open_note(cosigned, [ALICE.verifier(), BOB.verifier()])[1] == [
        ALICE.verifier(),
        BOB.verifier(),
    ]
    # Signing again with a key already present replaces its line rather than repeating it.
    again = add_signatures(cosigned, ALICE)
    assert [s.name for s in parse_note(again).signatures] == [BOB.name, ALICE.name]
    # Unknown signatures are carried along untouched.
    foreign = signed + sig_line("witness.example", b"\x09\x09\x09\x09" + bytes(64))
    kept = parse_note(add_signatures(foreign, BOB)).signatures
    assert [s.name for s in kept] == [ALICE.name, "witness.example", BOB.name]


def test_add_signatures_refuses_bad_input() -> None:
    with pytest.raises(NoteError, match="no blank line"):
        add_signatures(TEXT, BOB)
    with pytest.raises(NoteError, match="at least one signer"):
        add_signatures(sign_note(TEXT, ALICE))
    full = "t\n\n" + "".join(sig_line(f"w{i}", b"\x01\x02\x03\x04" + bytes(64)) for i in range(100))
    assert len(parse_note(full).signatures) == MAX_SIGNATURES
    with pytest.raises(NoteError, match="at most"):
        add_signatures(full, BOB)


# --- properties -------------------------------------------------------------------------------

# Everything the spec allows in a text: any Unicode scalar value except ASCII controls, plus
# newline (so texts with blank lines, dashes and line-separator look-alikes are exercised).
TEXT_CHARS = st.characters(
    exclude_categories=["Cs"],
    exclude_characters=[chr(c) for c in range(0x20) if c != 0x0A],
)
texts = st.text(TEXT_CHARS, max_size=200).map(lambda t: t + "\n")


@given(texts)
def test_random_texts_round_trip(text: str) -> None:
    signed = sign_note(text, ALICE, BOB)
    note, verified = open_note(signed, [ALICE.verifier()])
    assert note.text == text
    assert verified == [ALICE.verifier()]
    assert add_signatures(sign_note(text, ALICE), BOB) == signed


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(texts, st.data())
def test_single_byte_mutation_never_yields_another_text(text: str, data: st.DataObject) -> None:
    original = sign_note(text, ALICE).encode("utf-8")
    index = data.draw(st.integers(0, len(original) - 1), label="index")
    value = data.draw(st.integers(0, 255).filter(lambda v: v != original[index]), label="byte")
    mutated = bytearray(original)
    mutated[index] = value
    try:
        note, _ = open_note(bytes(mutated).decode("utf-8"), [ALICE.verifier()])
    except (UnicodeDecodeError, NoteError):
        return
    assert note.text == text
