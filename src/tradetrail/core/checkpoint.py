"""C2SP transparency-log checkpoints (c2sp.org/tlog-checkpoint), signed as notes.

Pure: no I/O. A checkpoint kept outside the trail is what makes truncation of the journal
visible, so its text is a public contract: parsing is strict (one spelling per checkpoint) and a
Checkpoint cannot even be built with a value that would not round-trip through its body.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from tradetrail.core.note import Signer, Verifier, open_note, sign_note
from tradetrail.errors import CheckpointError

__all__ = [
    "HASH_SIZE",
    "MAX_TREE_SIZE",
    "Checkpoint",
    "open_checkpoint",
    "parse_checkpoint_body",
    "sign_checkpoint",
]

HASH_SIZE = 32
"""Bytes in an RFC 6962 SHA-256 root hash."""

MAX_TREE_SIZE = 2**64 - 1
"""Largest tree size: the reference parsers read it as an unsigned 64-bit integer."""

_SIZE = re.compile(r"0|[1-9][0-9]*")  # explicit [0-9]: str.isdigit would accept other scripts
# Characters a signed note cannot carry (see tradetrail.core.note); newline is handled by line
# split.
_FORBIDDEN = re.compile("[\x00-\x1f\ud800-\udfff]")


def _line_problem(value: str) -> str | None:
    """Why value cannot be one line of a checkpoint body, or None."""
    if not value:
        return "is empty"
    bad = _FORBIDDEN.search(value)
    if bad is not None:
        what = "a newline" if bad.group() == "\n" else f"character U+{ord(bad.group()):04X}"
        return f"contains {what}, which a signed note cannot carry on this line"
    return None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log's tree head: origin (the log's name), tree size, RFC 6962 root hash and optional
    opaque extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "extensions", tuple(self.extensions))
        problem = _line_problem(self.origin)
        if problem is not None:
            raise CheckpointError(f"checkpoint origin {problem}")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise CheckpointError(f"checkpoint size must be an int, not {type(self.size).__name__}")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise CheckpointError(f"checkpoint size {self.size} is out of range 0..2**64-1")
        if not isinstance(self.root, bytes | bytearray | memoryview):
            raise CheckpointError(f"checkpoint root must be bytes, not {type(self.root).__name__}")
        if len(self.root) != HASH_SIZE:
            raise CheckpointError(
                f"checkpoint root must be {HASH_SIZE} bytes, not {len(self.root)}"
            )
        object.__setattr__(self, "root", bytes(self.root))
        for number, line in enumerate(self.extensions, 1):
            problem = _line_problem(line)
            if problem is not None:
                raise CheckpointError(f"checkpoint extension line {number} {problem}")

    def body(self) -> str:
        """The note text: origin, size, base64 root and extension lines, each ending in newline."""
        root64 = base64.b64encode(self.root).decode("ascii")
        return f"{self.origin}\n{self.size}\n{root64}\n" + "".join(
            line + "\n" for line in self.extensions
        )


def _parse_size(line: str) -> int:
    where = "checkpoint line 2 (tree size)"
    if not _SIZE.fullmatch(line):
        if not line:
            raise CheckpointError(f"{where} is empty")
        if line.startswith("-"):
            raise CheckpointError(f"{where} {line!r} is negative")
        if re.fullmatch(r"0[0-9]+", line):
            raise CheckpointError(f"{where} {line!r} has leading zeros")
        raise CheckpointError(f"{where} {line!r} is not a plain decimal number")
    size = int(line)
    if size > MAX_TREE_SIZE:
        raise CheckpointError(f"{where} {line} is larger than 2**64-1")
    return size


def _parse_root(line: str) -> bytes:
    where = "checkpoint line 3 (root hash)"
    try:
        root = binascii.a2b_base64(line.encode("ascii"), strict_mode=True)
    except ValueError as exc:  # binascii.Error, or non-ASCII input
        raise CheckpointError(f"{where} is not valid base64: {line!r}") from exc
    if base64.b64encode(root).decode("ascii") != line:
        raise CheckpointError(f"{where} is not canonical base64: {line!r}")
    if len(root) != HASH_SIZE:
        raise CheckpointError(f"{where} decodes to {len(root)} bytes, not {HASH_SIZE}")
    return root


def parse_checkpoint_body(text: str) -> Checkpoint:
    """Parse a checkpoint note text strictly; errors name the offending line. Only call this on
    a verified text (open_checkpoint does both)."""
    if not text.endswith("\n"):
        raise CheckpointError("checkpoint body does not end with a newline")
    lines = text[:-1].split("\n")
    wanted = ("origin", "tree size", "root hash")
    if len(lines) < len(wanted):
        missing = ", ".join(wanted[len(lines) :])
        raise CheckpointError(f"checkpoint body has only {len(lines)} line(s); missing: {missing}")
    for number, line in enumerate(lines, 1):
        problem = _line_problem(line)
        if problem is not None:
            label = wanted[number - 1] if number <= len(wanted) else "extension"
            raise CheckpointError(f"checkpoint line {number} ({label}) {problem}")
    origin, size_line, root_line, *extensions = lines
    return Checkpoint(origin, _parse_size(size_line), _parse_root(root_line), tuple(extensions))


def sign_checkpoint(cp: Checkpoint, signer: Signer) -> str:
    """The checkpoint as a signed note. The spec recommends a signer named like the origin."""
    return sign_note(cp.body(), signer)


def open_checkpoint(
    signed: str, verifiers: Sequence[Verifier], *, origin: str | None = None
) -> Checkpoint:
    """Verify the signed note (NoteError passes through), then parse its text; if origin is
    given, the checkpoint must be for that log. Verification comes first: the text of a note
    must not be trusted, or even interpreted, before its signature checks out."""
    note, _ = open_note(signed, verifiers)
    cp = parse_checkpoint_body(note.text)
    if origin is not None and cp.origin != origin:
        raise CheckpointError(f"checkpoint is for origin {cp.origin!r}, expected {origin!r}")
    return cp
