"""Loading and creating the Ed25519 key that signs checkpoints."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..core import layout
from ..core.note import Signer, Verifier
from ..errors import ConfigError, IndexStoreError, NoteError

logger = logging.getLogger("tradetrail")

DEFAULT_KEY_FILE = layout.SIGNING_KEY_FILE
VKEY_FILE = layout.VKEY_FILE


def write_private(path: Path, text: str) -> None:
    """Create a private key file readable by its owner only (0600), refusing to overwrite."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, text.encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def parse_signer(spec: str, where: str) -> Signer:
    """A signer from skey text or from a file holding it; `where` names the setting."""
    text = spec.strip()
    if not text.startswith("PRIVATE+KEY+"):
        path = Path(text)
        try:
            text = path.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read key file {path}: {exc.strerror}") from None
    try:
        return Signer.from_skey(text)
    except NoteError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def load_or_create_signer(spec: str | None, home: Path, origin: str) -> Signer:
    """The configured key, else `<home>/signing.key`, created on first use with a warning:
    a key kept beside the journal lets whoever can rewrite the journal re-sign it too."""
    if spec:
        return parse_signer(spec, "signing key (TRADETRAIL_SIGNING_KEY)")
    path = home / DEFAULT_KEY_FILE
    if path.exists():
        return parse_signer(str(path), str(path))
    signer = Signer.generate(origin)
    write_private(path, signer.skey())
    logger.warning(
        "generated a signing key at %s; it sits beside the journal, so it proves little against "
        "someone who can edit the trail. In production keep the key elsewhere (a secrets "
        "manager, HSM or another host) and set TRADETRAIL_SIGNING_KEY.",
        path,
    )
    return signer


def read_vkey(path: Path) -> Verifier:
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read verifier key {path}: {exc.strerror}") from None
    try:
        return Verifier.from_vkey(text)
    except NoteError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def parse_verifier(spec: str, option: str) -> Verifier:
    """A verifier key given as its text or as a file holding it (`option` names the setting
    in errors): what --vkey and --attester take."""
    text = spec.strip()
    if "+" not in text or Path(text).exists():
        try:
            text = Path(text).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{option} {spec}: cannot read ({exc.strerror})") from None
    try:
        return Verifier.from_vkey(text)
    except NoteError as exc:
        raise ConfigError(f"{option} {spec}: {exc}") from None


def trail_origin(home: Path) -> str:
    """The log name of the trail at `home` (its verifier key's name)."""
    path = Path(home) / VKEY_FILE
    if not path.exists():
        raise IndexStoreError(f"{home}: not a trail (no {VKEY_FILE})")
    return read_vkey(path).name
