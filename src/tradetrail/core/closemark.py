"""The clean-close mark: `<home>/closed`, a signed note saying "this trail was closed cleanly at
size N with root R" (from tradetrail 0.2).

A trail closed cleanly is fully signed, so a record found beyond the mark's size was not left
by a crash: it was added by something other than the writer. The mark is a C2SP signed note
whose body starts with `tradetrail.closed/v1`, so no checkpoint parser can take it for a
checkpoint (and checkpoints keep their plain C2SP form for witnesses). The writer removes the
mark durably before it writes anything, so a crash never leaves one behind. Pure but for
`read_closed_mark`; `verify` calls `records_after_close` to judge records beyond it.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ..errors import CheckpointError, NoteError
from . import layout
from .checkpoint import Checkpoint, parse_checkpoint_body
from .note import Signer, Verifier, open_note, sign_note

__all__ = [
    "CLOSED_FILE",
    "CLOSED_FORMAT",
    "ClosedMark",
    "open_closed_mark",
    "read_closed_mark",
    "records_after_close",
    "sign_closed_mark",
]

CLOSED_FILE: Final = layout.CLOSED_FILE
CLOSED_FORMAT: Final = "tradetrail.closed/v1"
"""First line of the mark's body: domain separation from checkpoints signed by the same key."""


@dataclass(frozen=True, slots=True)
class ClosedMark:
    """The state a writer left when it closed cleanly: every record up to `size` is signed."""

    origin: str
    size: int
    root: bytes

    def __post_init__(self) -> None:
        Checkpoint(self.origin, self.size, self.root)  # the same field rules, same messages

    def body(self) -> str:
        root64 = base64.b64encode(self.root).decode("ascii")
        return f"{CLOSED_FORMAT}\n{self.origin}\n{self.size}\n{root64}\n"


def sign_closed_mark(mark: ClosedMark, signer: Signer) -> str:
    return sign_note(mark.body(), signer)


def parse_closed_body(text: str) -> ClosedMark:
    """Parse a verified mark text strictly (exactly four lines); errors name the line."""
    first, sep, rest = text.partition("\n")
    if first != CLOSED_FORMAT or not sep:
        raise CheckpointError(f"closed mark line 1 is {first!r}, not {CLOSED_FORMAT!r}")
    try:
        cp = parse_checkpoint_body(rest)
    except CheckpointError as exc:  # its line numbers are one less than the mark's
        raise CheckpointError(f"closed mark (after line 1): {exc}") from None
    if cp.extensions:
        raise CheckpointError(f"closed mark has {len(cp.extensions)} unexpected line(s) after 4")
    return ClosedMark(cp.origin, cp.size, cp.root)


def open_closed_mark(
    signed: str, verifiers: Sequence[Verifier], *, origin: str | None = None
) -> ClosedMark:
    """Verify the signed mark, then parse it (NoteError / CheckpointError on failure)."""
    note, _ = open_note(signed, verifiers)
    mark = parse_closed_body(note.text)
    if origin is not None and mark.origin != origin:
        raise CheckpointError(f"closed mark is for origin {mark.origin!r}, expected {origin!r}")
    return mark


def read_closed_mark(
    home: Path, verifiers: Sequence[Verifier], *, origin: str | None = None
) -> ClosedMark | None:
    """The trail's mark, or None when it has none (never closed cleanly, or a writer is
    running). Raises NoteError/CheckpointError naming the file when it does not verify."""
    path = Path(home) / CLOSED_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise NoteError(f"{path}: cannot read the closed mark: {exc}") from None
    try:
        return open_closed_mark(text, verifiers, origin=origin)
    except (NoteError, CheckpointError) as exc:
        raise type(exc)(f"{path}: {exc}") from None


def records_after_close(mark: ClosedMark, size: int) -> str | None:
    """Why a journal of `size` records contradicts the mark, or None. Records beyond the mark
    are a fault, not an unsigned crash tail: the writer signed everything before it closed."""
    if size > mark.size:
        extra = size - mark.size
        last = f"..{size - 1}" if extra > 1 else ""
        return (
            f"{extra} record(s) (seq {mark.size}{last}) follow the clean close at size "
            f"{mark.size} (signed in `{CLOSED_FILE}`): no writer wrote them; they were added "
            "after the trail was closed"
        )
    if size < mark.size:
        return (
            f"the trail was closed cleanly at size {mark.size} (signed in `{CLOSED_FILE}`) but "
            f"the journal holds {size} records: records were removed after the close"
        )
    return None
