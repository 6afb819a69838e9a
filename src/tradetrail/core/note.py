"""C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys.

Pure: no I/O. Signed checkpoints and verifier keys are a public contract (DESIGN.md), so a note
signed here must open with golang.org/x/mod/sumdb/note and the reverse. The rules follow the spec
and the Go reference; they are stricter only where that removes ambiguity:

* signature lines must use canonical base64, so one signed note has exactly one encoding;
* key names we create or load must also be printable (no invisible look-alike names);
* every signature by a known key is verified, duplicates included (Go skips repeats).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tradetrail.errors import NoteError

__all__ = [
    "ALG_ED25519",
    "MAX_SIGNATURES",
    "Note",
    "NoteSignature",
    "Signer",
    "Verifier",
    "add_signatures",
    "key_id",
    "open_note",
    "parse_note",
    "sign_note",
]

ALG_ED25519 = 0x01
"""Signature type byte of Ed25519 in key ids and encoded keys (c2sp.org/signed-note)."""

MAX_SIGNATURES = 100
"""Most signature lines a note may carry: the Go reference's limit (the spec asks for >= 16)."""

ED25519_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
KEY_ID_SIZE = 4

_SIG_PREFIX = "— "  # U+2014 EM DASH, U+0020 SPACE
_SKEY_PREFIX = "PRIVATE+KEY+"
_HEX_ID = re.compile(r"[0-9a-fA-F]{8}")
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
# What may not appear anywhere in a signed note: ASCII controls other than newline (spec), and
# lone surrogates, which a Python str can hold but UTF-8 cannot encode.
_FORBIDDEN = re.compile("[\x00-\x09\x0b-\x1f\ud800-\udfff]")


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte Ed25519 key id: SHA-256(name || 0x0A || 0x01 || public key)[:4] (the spec's
    recommended id, and what the Go reference computes)."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key)
    return digest.digest()[:KEY_ID_SIZE]


def _char(ch: str) -> str:
    """Name a character unambiguously in an error message (invisible ones included)."""
    return f"U+{ord(ch):04X}"


def _name_problem(name: str, *, strict: bool) -> str | None:
    """Why a key name is invalid, or None. The spec rule (non-empty, no Unicode space, no '+');
    strict also refuses non-printable characters, for keys that we create or load."""
    if not name:
        return "empty"
    if "+" in name:
        return "contains '+'"
    for ch in name:
        if ch.isspace():
            return f"contains whitespace ({_char(ch)})"
        if _FORBIDDEN.match(ch) or (strict and not ch.isprintable()):
            return f"contains non-printable character {_char(ch)}"
    return None


def _check_key_name(name: str, what: str) -> None:
    problem = _name_problem(name, strict=True)
    if problem is not None:
        raise NoteError(f"{what}: bad key name {name!r}: {problem}")


def _b64decode(text: str, *, canonical: bool) -> bytes | None:
    """Standard padded base64 (RFC 4648 §4) or None. canonical also refuses encodings that do
    not round-trip (non-zero padding bits), so that the same bytes have a single text form."""
    # The exact RFC 4648 padded grammar: Python's decoders tolerate stray padding that Go refuses.
    if not _BASE64.fullmatch(text):
        return None
    raw = base64.b64decode(text)
    if canonical and base64.b64encode(raw).decode("ascii") != text:
        return None
    return raw


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _parse_hex_id(hex_id: str, what: str) -> bytes:
    if not _HEX_ID.fullmatch(hex_id):
        raise NoteError(f"{what}: key id {hex_id!r} is not 8 hexadecimal digits")
    return bytes.fromhex(hex_id)


def _split_key(text: str, what: str, parts: int, layout: str) -> list[str]:
    """Split an encoded key on '+': names cannot hold '+', but base64 can, so the last field
    takes the rest."""
    if text != text.strip():
        raise NoteError(f"{what} has leading or trailing whitespace (strip the line first)")
    fields = text.split("+", parts - 1)
    if len(fields) != parts:
        raise NoteError(f"malformed {what}: expected {layout}")
    return fields


def _decode_key_material(key64: str, what: str, name: str) -> bytes:
    """Decode base64(0x01 || 32 bytes) and return the 32 bytes. Non-canonical base64 is accepted
    here as in the Go reference: the key id binds the decoded bytes, not their spelling."""
    raw = _b64decode(key64, canonical=False)
    if raw is None:
        raise NoteError(f"{what} {name}: key is not valid base64")
    if not raw:
        raise NoteError(f"{what} {name}: key is empty")
    if raw[0] != ALG_ED25519:
        raise NoteError(
            f"{what} {name}: unknown algorithm byte 0x{raw[0]:02x} "
            "(only Ed25519, 0x01, is supported)"
        )
    if len(raw) - 1 != ED25519_KEY_SIZE:
        raise NoteError(
            f"{what} {name}: wrong key length: {len(raw) - 1} bytes, "
            f"Ed25519 needs {ED25519_KEY_SIZE}"
        )
    return raw[1:]


@dataclass(frozen=True, slots=True, repr=False)
class Verifier:
    """A named Ed25519 public key that can check note signatures. Immutable and comparable, so
    callers can keep sets of trusted keys."""

    name: str
    key_id: bytes = field(init=False)
    public_key: bytes
    _key: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_key_name(self.name, "verifier key")
        if len(self.public_key) != ED25519_KEY_SIZE:
            raise NoteError(
                f"verifier key {self.name}: wrong key length: {len(self.public_key)} bytes, "
                f"Ed25519 needs {ED25519_KEY_SIZE}"
            )
        public_key = bytes(self.public_key)
        try:
            key = Ed25519PublicKey.from_public_bytes(public_key)
        except ValueError as exc:
            raise NoteError(f"verifier key {self.name}: not an Ed25519 public key: {exc}") from exc
        object.__setattr__(self, "public_key", public_key)
        object.__setattr__(self, "key_id", key_id(self.name, public_key))
        object.__setattr__(self, "_key", key)

    def __repr__(self) -> str:
        return f"Verifier.from_vkey({self.vkey()!r})"

    @classmethod
    def from_vkey(cls, vkey: str) -> Verifier:
        """Load a verifier key in the note format `<name>+<8 hex id>+<base64(0x01 || key)>`,
        refusing anything malformed, so a typo in trail.vkey cannot silently trust nothing."""
        name, hex_id, key64 = _split_key(
            vkey, "verifier key", 3, "<name>+<8 hex key id>+<base64 key>"
        )
        _check_key_name(name, "verifier key")
        wanted = _parse_hex_id(hex_id, f"verifier key {name}")
        verifier = cls(name, _decode_key_material(key64, "verifier key", name))
        if verifier.key_id != wanted:
            raise NoteError(
                f"verifier key {name}: key id {hex_id} does not match the key "
                f"(it hashes to {verifier.key_id.hex()})"
            )
        return verifier

    def vkey(self) -> str:
        """The verifier key in the note format (what trail.vkey holds)."""
        key64 = _b64encode(bytes([ALG_ED25519]) + self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{key64}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether signature (raw, without key id) is this key's Ed25519 signature of message."""
        if len(signature) != ED25519_SIGNATURE_SIZE:
            return False
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


class Signer:
    """A named Ed25519 private key. Its repr never shows the key, so it is safe to log."""

    __slots__ = ("_key", "key_id", "name")

    name: str
    key_id: bytes

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        _check_key_name(name, "signer key")
        self.name = name
        self._key = private_key
        self.key_id = key_id(name, private_key.public_key().public_bytes_raw())

    def __repr__(self) -> str:
        return f"Signer(name={self.name!r}, key_id={self.key_id.hex()!r})"

    @classmethod
    def generate(cls, name: str) -> Signer:
        """A new random key for name."""
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_skey(cls, skey: str) -> Signer:
        """Load `PRIVATE+KEY+<name>+<8 hex id>+<base64(0x01 || seed)>` (the Go reference's
        format). The id is checked against the derived public key, which catches a key file
        paired with the wrong name. Error messages never include the secret."""
        if not skey.startswith(_SKEY_PREFIX):
            raise NoteError("signer key must start with 'PRIVATE+KEY+'")
        name, hex_id, key64 = _split_key(
            skey[len(_SKEY_PREFIX) :],
            "signer key",
            3,
            "PRIVATE+KEY+<name>+<8 hex key id>+<base64 key>",
        )
        _check_key_name(name, "signer key")
        wanted = _parse_hex_id(hex_id, f"signer key {name}")
        seed = _decode_key_material(key64, "signer key", name)
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(seed))
        if signer.key_id != wanted:
            raise NoteError(
                f"signer key {name}: key id {hex_id} does not match the key "
                f"(its public key hashes to {signer.key_id.hex()})"
            )
        return signer

    def skey(self) -> str:
        """The private key in the same text format as from_skey reads. Keep it secret."""
        key64 = _b64encode(bytes([ALG_ED25519]) + self._key.private_bytes_raw())
        return f"{_SKEY_PREFIX}{self.name}+{self.key_id.hex()}+{key64}"

    def verifier(self) -> Verifier:
        """The matching public verifier key."""
        return Verifier(self.name, self._key.public_key().public_bytes_raw())

    def sign(self, message: bytes) -> bytes:
        """The raw 64-byte Ed25519 signature of message (deterministic, RFC 8032)."""
        return self._key.sign(message)


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line: key name, 4-byte key id and the signature without the id."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        """The signature line as it appears in a note, newline included."""
        return f"{_SIG_PREFIX}{self.name} {_b64encode(self.key_id + self.signature)}\n"


@dataclass(frozen=True, slots=True)
class Note:
    """A note text (ending in newline) and its signature lines, in order."""

    text: str
    signatures: tuple[NoteSignature, ...]


def _check_text(text: str) -> None:
    """Refuse a text that could not be signed as a valid note."""
    if not text:
        raise NoteError("note text is empty")
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    bad = _FORBIDDEN.search(text)
    if bad is not None:
        raise NoteError(
            f"note text contains forbidden character {_char(bad.group())} at offset {bad.start()} "
            "(no control characters but newline, valid UTF-8 only)"
        )


def _signatures(text: str, signers: Iterable[Signer]) -> list[NoteSignature]:
    """Sign text with each signer once (a repeated key would only repeat the same line)."""
    message = text.encode("utf-8")
    out: list[NoteSignature] = []
    seen: set[tuple[str, bytes]] = set()
    for signer in signers:
        if (signer.name, signer.key_id) in seen:
            continue
        seen.add((signer.name, signer.key_id))
        out.append(NoteSignature(signer.name, signer.key_id, signer.sign(message)))
    return out


def _render(text: str, signatures: Sequence[NoteSignature]) -> str:
    if len(signatures) > MAX_SIGNATURES:
        raise NoteError(f"a note may carry at most {MAX_SIGNATURES} signatures")
    return text + "\n" + "".join(sig.line() for sig in signatures)


def sign_note(text: str, *signers: Signer) -> str:
    """Sign text (UTF-8 bytes, exactly as given) with each signer and return the signed note."""
    _check_text(text)
    if not signers:
        raise NoteError("sign_note needs at least one signer")
    return _render(text, _signatures(text, signers))


def add_signatures(signed_note: str, *signers: Signer) -> str:
    """Add signatures (a co-signature) to a signed note, keeping the existing ones first, as the
    Go reference does. A signer's own earlier signature is replaced, not repeated. The existing
    signatures are not verified here: open the note first if the co-signer must trust it."""
    if not signers:
        raise NoteError("add_signatures needs at least one signer")
    note = parse_note(signed_note)
    new = _signatures(note.text, signers)
    replaced = {(sig.name, sig.key_id) for sig in new}
    kept: list[NoteSignature] = []
    for sig in note.signatures:
        if (sig.name, sig.key_id) not in replaced and sig not in kept:
            kept.append(sig)
    return _render(note.text, kept + new)


def _parse_signature_line(line: str, number: int) -> NoteSignature:
    where = f"malformed note: signature line {number}"
    if not line.startswith(_SIG_PREFIX):
        raise NoteError(f"{where} does not start with an em dash (U+2014) and a space")
    name, space, sig64 = line[len(_SIG_PREFIX) :].partition(" ")
    if not space:
        raise NoteError(f"{where} has no space between key name and signature")
    problem = _name_problem(name, strict=False)
    if problem is not None:
        raise NoteError(f"{where}: bad key name {name!r}: {problem}")
    raw = _b64decode(sig64, canonical=True)
    if raw is None:
        raise NoteError(f"{where} ({name}): signature is not valid canonical base64")
    if len(raw) <= KEY_ID_SIZE:
        raise NoteError(
            f"{where} ({name}): signature too short ({len(raw)} bytes; "
            "a 4-byte key id and a signature are needed)"
        )
    return NoteSignature(name, raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:])


def parse_note(signed: str) -> Note:
    """Split a signed note into text and signature lines, checking only the syntax. The text
    ends at the last blank line (the spec's rule, so texts may hold blank lines themselves).
    Nothing here is verified: use open_note before trusting the text."""
    bad = _FORBIDDEN.search(signed)
    if bad is not None:
        raise NoteError(
            f"malformed note: forbidden character {_char(bad.group())} at offset {bad.start()}"
        )
    split = signed.rfind("\n\n")
    if split < 0:
        raise NoteError("malformed note: no blank line between text and signatures")
    text, block = signed[: split + 1], signed[split + 2 :]
    if not block:
        raise NoteError("malformed note: no signature lines after the blank line")
    if not block.endswith("\n"):
        raise NoteError("malformed note: the last signature line does not end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(
            f"malformed note: {len(lines)} signature lines, more than the limit of {MAX_SIGNATURES}"
        )
    return Note(text, tuple(_parse_signature_line(line, n) for n, line in enumerate(lines, 1)))


def open_note(signed: str, verifiers: Sequence[Verifier]) -> tuple[Note, list[Verifier]]:
    """Verify a signed note; return it and the given verifiers whose signature verified.

    Per the spec, signatures by unknown keys (name and id not both matching) are ignored, a
    failing signature by a known key rejects the whole note, and so does the absence of any
    signature by a known key."""
    note = parse_note(signed)
    known: dict[tuple[str, bytes], Verifier] = {}
    for verifier in verifiers:
        ident = (verifier.name, verifier.key_id)
        other = known.setdefault(ident, verifier)
        if other.public_key != verifier.public_key:
            raise NoteError(
                f"ambiguous verifier keys: two different keys are named "
                f"{verifier.name}+{verifier.key_id.hex()}"
            )
    message = note.text.encode("utf-8")
    verified: list[Verifier] = []
    unknown: list[str] = []
    for sig in note.signatures:
        match = known.get((sig.name, sig.key_id))
        if match is None:
            label = f"{sig.name}+{sig.key_id.hex()}"
            if label not in unknown:
                unknown.append(label)
            continue
        if not match.verify(message, sig.signature):
            raise NoteError(f"invalid signature by {sig.name} (key id {sig.key_id.hex()})")
        if match not in verified:
            verified.append(match)
    if not verified:
        raise NoteError(
            "note has no signature by a known key; unknown signer(s): " + ", ".join(unknown)
        )
    return note, verified
