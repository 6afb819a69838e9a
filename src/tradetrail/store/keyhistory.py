"""Rotating the signing key: the key-change statement both keys sign, and the trail's key
history (`trail.vkeys`), from which a verifier takes the key valid at each tree size.

A trail lives for years and its key will be replaced (routine rotation, a departing operator,
a suspected compromise). Old checkpoints stay signed by the old key, so a verifier needs every
key with the tree sizes it may sign, and a reason to trust each: the first key is the one the
auditor holds; every later key is vouched for by a statement signed by both the key it
replaces and itself, so neither key alone can invent a rotation (docs/FORMATS.md).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core import layout
from ..core.note import Signer, Verifier, open_note, parse_note, sign_note
from ..errors import ConfigError, NoteError

__all__ = [
    "HISTORY_FILE",
    "ROTATION_HEADER",
    "ROTATION_TYPE",
    "KeyHistory",
    "KeySpan",
    "Rotation",
    "check_signed_at",
    "open_rotation",
    "parse_key_spec",
    "read_history",
    "rotation_statement",
    "sign_rotation",
    "trusted_spans",
]

HISTORY_FILE = layout.HISTORY_FILE
ROTATION_TYPE = "trail.key_rotated"
ROTATION_HEADER = "tradetrail key rotation v1"
"""First line of the statement: a domain separator, so that a rotation statement can never be
taken for a checkpoint or a removal seal signed by the same key, nor the reverse."""

_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")
_LINE = re.compile(r"(0|[1-9][0-9]*)-((?:0|[1-9][0-9]*)?) (\S+)(?: (\S+))?")


def rotation_statement(origin: str, size: int, old: Verifier, new: Verifier) -> str:
    """The text both keys sign: from tree size `size` on, `new` signs the log `origin`."""
    return f"{ROTATION_HEADER}\n{origin}\n{size}\n{old.vkey()}\n{new.vkey()}\n"


def sign_rotation(origin: str, size: int, old: Signer, new: Signer) -> str:
    """The rotation statement as a signed note carrying both signatures (old key first)."""
    if old.verifier() == new.verifier():
        raise NoteError("key rotation: the new key is the old key")
    return sign_note(rotation_statement(origin, size, old.verifier(), new.verifier()), old, new)


@dataclass(frozen=True, slots=True)
class Rotation:
    """A verified key change: from tree size `size` on, `new` signs `origin` instead of `old`."""

    origin: str
    size: int
    old: Verifier
    new: Verifier
    note: str


def open_rotation(note: str, where: str) -> Rotation:
    """Parse and verify a signed rotation statement: both keys it names must have signed it.
    Errors (NoteError) start with `where`."""
    try:
        text = parse_note(note).text
    except NoteError as exc:
        raise NoteError(f"{where}: {exc}") from None
    lines = text[:-1].split("\n")
    if len(lines) != 5 or lines[0] != ROTATION_HEADER:
        raise NoteError(f"{where}: not a key rotation statement ({ROTATION_HEADER!r} + 4 lines)")
    origin, size_text, old_text, new_text = lines[1:]
    if not _SIZE.fullmatch(size_text):
        raise NoteError(f"{where}: rotation size {size_text!r} is not a plain decimal number")
    try:
        old, new = Verifier.from_vkey(old_text), Verifier.from_vkey(new_text)
    except NoteError as exc:
        raise NoteError(f"{where}: {exc}") from None
    if old == new:
        raise NoteError(f"{where}: the rotation names the same key twice")
    try:
        _, verified = open_note(note, [old, new])
    except NoteError as exc:
        raise NoteError(f"{where}: {exc}") from None
    for role, key in (("old", old), ("new", new)):
        if key not in verified:
            raise NoteError(
                f"{where}: the rotation at size {size_text} is not signed by the {role} key "
                f"{key.name}+{key.key_id.hex()}; a rotation needs the signatures of both keys"
            )
    return Rotation(origin, int(size_text), old, new, note)


@dataclass(frozen=True, slots=True)
class KeySpan:
    """One key of the history and the tree sizes it signs: first..last inclusive (last is None
    for the current key). A checkpoint at a rotation size is signed by both keys."""

    verifier: Verifier
    first: int
    last: int | None
    rotation: Rotation | None  # what vouches for this key (None: the trail's first key)

    def covers(self, size: int) -> bool:
        return self.first <= size and (self.last is None or size <= self.last)

    def line(self) -> str:
        last = "" if self.last is None else str(self.last)
        out = f"{self.first}-{last} {self.verifier.vkey()}"
        if self.rotation is not None:
            out += " " + base64.b64encode(self.rotation.note.encode("utf-8")).decode("ascii")
        return out


@dataclass(frozen=True)
class KeyHistory:
    """The trail's keys in order. `broken` lists rotations that do not verify (by span index):
    trust does not cross them."""

    spans: tuple[KeySpan, ...]
    broken: tuple[tuple[int, str], ...] = ()

    @classmethod
    def first_key(cls, verifier: Verifier) -> KeyHistory:
        return cls((KeySpan(verifier, 0, None, None),))

    @property
    def current(self) -> Verifier:
        return self.spans[-1].verifier

    def keys(self) -> list[Verifier]:
        return [span.verifier for span in self.spans]

    def span_of(self, verifier: Verifier) -> KeySpan | None:
        return next((s for s in self.spans if s.verifier == verifier), None)

    def rotated(self, rotation: Rotation) -> KeyHistory:
        """The history with `rotation` appended (it must replace the current key)."""
        if rotation.old != self.current:
            raise ConfigError(
                f"{HISTORY_FILE}: the rotation replaces {rotation.old.vkey()}, but the current "
                f"key is {self.current.vkey()}"
            )
        last = self.spans[-1]
        if rotation.size < last.first:
            raise ConfigError(
                f"{HISTORY_FILE}: a rotation at size {rotation.size} is before the current key's "
                f"first size {last.first}"
            )
        closed = KeySpan(last.verifier, last.first, rotation.size, last.rotation)
        opened = KeySpan(rotation.new, rotation.size, None, rotation)
        return KeyHistory((*self.spans[:-1], closed, opened), self.broken)

    def text(self) -> str:
        header = "# tradetrail key history: first-last tree size, verifier key, rotation note\n"
        return header + "".join(span.line() + "\n" for span in self.spans)

    def trusted(self, roots: Sequence[Verifier]) -> list[KeySpan]:
        """The spans trusted from `roots`: a root's own span, and every span joined to it by
        verified rotations (each signed by both keys, so trust runs both ways across it)."""
        cut = {index for index, _ in self.broken}  # span i is not joined to span i-1
        groups: list[list[KeySpan]] = [[]]
        for index, span in enumerate(self.spans):
            if index in cut:
                groups.append([])
            groups[-1].append(span)
        root_set = set(roots)
        return [s for group in groups if any(s.verifier in root_set for s in group) for s in group]

    @classmethod
    def parse(cls, text: str, where: str = HISTORY_FILE) -> KeyHistory:
        """Read a history file. Its layout must be exact (ConfigError naming the line); a
        rotation that does not verify is kept in `broken`, so that a verifier can report it
        and still check what the rest vouches for."""
        spans: list[KeySpan] = []
        broken: list[tuple[int, str]] = []
        for number, raw in enumerate(text.split("\n"), 1):
            line = raw.rstrip("\r")
            if not line or line.startswith("#"):
                continue
            at = f"{where} line {number}"
            m = _LINE.fullmatch(line)
            if m is None:
                raise ConfigError(
                    f"{at}: expected '<first>-<last> <verifier key> [<rotation note, base64>]'"
                )
            first, last = int(m.group(1)), int(m.group(2)) if m.group(2) else None
            try:
                verifier = Verifier.from_vkey(m.group(3))
            except NoteError as exc:
                raise ConfigError(f"{at}: {exc}") from None
            if last is not None and last < first:
                raise ConfigError(f"{at}: last size {last} is before first size {first}")
            if spans:
                before = spans[-1]
                if before.last is None or before.last != first:
                    raise ConfigError(
                        f"{at}: starts at size {first}, but the key before ends at "
                        f"{before.last if before.last is not None else '(open)'}"
                    )
            elif first != 0:
                raise ConfigError(f"{at}: the first key must start at size 0, not {first}")
            rotation = None
            if spans:
                rotation, problem = _rotation_of(m.group(4), at, spans[-1].verifier, verifier)
                if problem is not None:
                    broken.append((len(spans), problem))
                elif rotation is not None and rotation.size != first:
                    broken.append((len(spans), f"{at}: the rotation is for size {rotation.size}"))
            elif m.group(4) is not None:
                raise ConfigError(f"{at}: the first key has no rotation note")
            if any(s.verifier == verifier for s in spans):
                raise ConfigError(f"{at}: key {verifier.vkey()} appears twice")
            spans.append(KeySpan(verifier, first, last, rotation))
        if not spans:
            raise ConfigError(f"{where}: no keys")
        if spans[-1].last is not None:
            raise ConfigError(f"{where}: the last key must be open-ended ('{spans[-1].first}-')")
        origins = {s.rotation.origin for s in spans if s.rotation is not None}
        if len(origins) > 1:
            raise ConfigError(f"{where}: rotations name several logs: {sorted(origins)}")
        return cls(tuple(spans), tuple(broken))


def _rotation_of(
    encoded: str | None, at: str, old: Verifier, new: Verifier
) -> tuple[Rotation | None, str | None]:
    if encoded is None:
        return None, f"{at}: no rotation note vouches for this key"
    try:
        note = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, f"{at}: the rotation note is not base64 of UTF-8 text"
    try:
        rotation = open_rotation(note, at)
    except NoteError as exc:
        return None, str(exc)
    if rotation.old != old or rotation.new != new:
        return None, f"{at}: the rotation note is not from the key before to this key"
    return rotation, None


def parse_key_spec(spec: str, option: str) -> Verifier | KeyHistory:
    """A verifier key (text or file, as --vkey takes) or a key history file (trail.vkeys)."""
    from .keys import parse_verifier

    path = Path(spec.strip())
    if "+" not in spec or path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
        if any(line[:1].isdigit() for line in text.splitlines()):
            return KeyHistory.parse(text, f"{option} {spec}")
    return parse_verifier(spec, option)


def trusted_spans(
    roots: Sequence[Verifier], history: KeyHistory | None, where: str
) -> list[KeySpan] | None:
    """The spans of `history` to trust. Keys given beside it are the roots of trust; a history
    given alone is trusted whole (as a trail.vkey file would be), but only if every rotation
    in it verifies. None: no history, the keys are valid at every size."""
    if history is None:
        return None
    if roots:
        return history.trusted(roots)
    if history.broken:
        raise NoteError(f"{where}: {history.broken[0][1]}")
    return list(history.spans)


def check_signed_at(spans: Sequence[KeySpan], verified: Sequence[Verifier], size: int) -> None:
    """A checkpoint at `size` counts only when a trusted key valid at that size signed it: a
    stolen key cannot sign sizes outside its range (NoteError when none did)."""
    if any(s.verifier in verified and s.covers(size) for s in spans):
        return
    ranges = "; ".join(
        f"{s.verifier.name}+{s.verifier.key_id.hex()} signs sizes {s.first}.."
        f"{'' if s.last is None else s.last}"
        for s in spans
        if s.verifier in verified
    )
    raise NoteError(
        f"signed at size {size} by a key not valid at that size ({ranges or 'no trusted key'}; "
        f"the key history {HISTORY_FILE} does not allow there)"
    )


def read_history(home: Path) -> KeyHistory | None:
    """The trail's key history, or None when its key was never rotated (no trail.vkeys)."""
    path = Path(home) / HISTORY_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    return KeyHistory.parse(text, str(path))


def trail_keys(home: Path) -> list[Verifier]:
    """Every key a checkpoint of the trail at `home` may be signed by: its current key
    (trail.vkey) and, after rotations, each earlier key joined to it by verified rotations.
    Exports, reports and proofs open old checkpoints with these."""
    from .keys import VKEY_FILE, read_vkey

    current = read_vkey(Path(home) / VKEY_FILE)
    history = read_history(home)
    if history is None:
        return [current]
    return [span.verifier for span in history.trusted([current])] or [current]
