"""Key rotation of the writer: the rotation step on the writer thread (`Trail.rotate_key`), and
at open, finishing or taking up a rotation that a crash interrupted, or refusing a retired key."""

from __future__ import annotations

import logging
import os
from typing import Any, Final

from ..core import layout
from ..core.canonical import prepare
from ..core.note import Signer, Verifier
from ..errors import ConfigError, TradetrailError
from ..store import journal
from ..store.journal import journal_files
from ..store.keyhistory import (
    HISTORY_FILE,
    ROTATION_TYPE,
    KeyHistory,
    Rotation,
    open_rotation,
    read_history,
    sign_rotation,
)
from ..store.keys import DEFAULT_KEY_FILE, VKEY_FILE, parse_signer
from ..store.tilestore import write_atomic
from .state import WriterState

logger = logging.getLogger("tradetrail")

NEXT_KEY_FILE: Final = layout.NEXT_KEY_FILE


class RotationMixin(WriterState):
    """The key-rotation steps of a Trail."""

    def _retired_message(self, history: KeyHistory) -> str:
        key = self.signer.verifier()
        span = history.span_of(key)
        where = self.home / HISTORY_FILE
        if span is None:
            return (
                f"signing key {key.name}+{key.key_id.hex()} is not this trail's key: {where} "
                f"names {history.current.vkey()} as the current one; a trail is signed by one key "
                "at a time (change it with `tradetrail keygen --rotate`)"
            )
        return (
            f"signing key {key.name}+{key.key_id.hex()} was retired at tree size {span.last} by "
            f"a key rotation ({where}); configure the current key {history.current.vkey()} "
            "(TRADETRAIL_SIGNING_KEY, or <home>/signing.key)"
        )

    def _finish_rotation(self, on_file: Verifier) -> None:
        """The configured key differs from trail.vkey: fine only when it is the new key of a
        rotation that a crash interrupted before trail.vkey was replaced; then finish it."""
        key = self.signer.verifier()
        history = read_history(self.home)
        if history is None or history.current != key:
            rotation = self._last_record_rotation()
            if rotation is None or rotation.old != on_file or rotation.new != key:
                if history is not None:
                    raise ConfigError(self._retired_message(history))
                raise ConfigError(
                    f"signing key {key.name}+{key.key_id.hex()} does not match "
                    f"{self.home / VKEY_FILE} ({on_file.vkey()}); a trail is signed by one key "
                    "at a time (change it with `tradetrail keygen --rotate`)"
                )
            history = (history or KeyHistory.first_key(on_file)).rotated(rotation)
            write_atomic(self.home / HISTORY_FILE, history.text().encode(), sync=True)
        write_atomic(self.home / VKEY_FILE, (key.vkey() + "\n").encode(), sync=True)
        logger.warning("finished the key rotation to %s that a crash interrupted", key.vkey())

    def _take_up_interrupted_rotation(self, on_file: Verifier) -> None:
        """The configured key is trail.vkey's, but the last record rotates it away: a crash came
        between the journaled rotation and the key's replacement. The rotation is binding (the
        old key may be compromised: that is why keys are rotated), so switch to the new key
        kept aside by rotate_key, or refuse and say which key to configure."""
        rotation = self._last_record_rotation()
        if rotation is None or rotation.old != on_file:
            return
        pending = self.home / NEXT_KEY_FILE
        if not self.settings.signing_key and pending.exists():
            new = parse_signer(str(pending), str(pending))
            if new.verifier() == rotation.new:
                os.replace(pending, self.home / DEFAULT_KEY_FILE)
                journal.fsync_dir(self.home)
                self.signer = new
                return
        raise ConfigError(
            f"the last record of this trail rotates its key from {on_file.vkey()} to "
            f"{rotation.new.vkey()} at tree size {rotation.size}, and a crash came before the "
            "rotation finished; the old key may no longer sign: configure the new key "
            "(TRADETRAIL_SIGNING_KEY) and open the trail again to finish the rotation"
        )

    def _last_record_rotation(self) -> Rotation | None:
        """The verified rotation journaled as the last record, if it is one."""
        files = journal_files(self.home)
        lines = journal.tail_lines(files[-1], 1)[0] if files else []
        if not lines:
            return None
        try:
            record = journal.parse_record(lines[0], str(files[-1]))
            data = record.get("data")
            if record.get("type") != ROTATION_TYPE or not isinstance(data, dict):
                return None
            return open_rotation(str(data.get("note")), f"{files[-1].name} (last record)")
        except TradetrailError:
            return None

    def _rotate_signing_key(self, new: Signer, reason: str | None) -> str:
        """On the writer thread, between batches: see rotate_key."""
        old = self.signer
        history = read_history(self.home) or KeyHistory.first_key(old.verifier())
        if history.span_of(new.verifier()) is not None:
            raise ConfigError(
                f"new_signer: key {new.name}+{new.key_id.hex()} was already used by this trail; "
                "a rotation needs a fresh key"
            )
        if self._degraded is not None:
            raise TradetrailError(
                f"cannot rotate the key while the trail is degraded: {self._degraded}"
            )
        size = self._size + 1  # the rotation record is the last record under the old key alone
        note = sign_rotation(self.origin, size, old, new)
        beside = not self.settings.signing_key  # the key lives beside the trail
        if beside:  # durable before the rotation is journaled: a crash cannot lose the new key
            write_atomic(
                self.home / NEXT_KEY_FILE, (new.skey() + "\n").encode(), sync=True, mode=0o600
            )
        data: dict[str, Any] = {
            "old_vkey": old.verifier().vkey(),
            "new_vkey": new.verifier().vkey(),
            "from_size": size,
            "note": note,
        }
        if reason is not None:
            data["reason"] = reason
        event = prepare(
            ROTATION_TYPE,
            data,
            {},
            self._source,
            max(self.settings.max_event_bytes, 1 << 16),
            model=self.model,
            strict=True,
        )
        if self._write_entries([(event, None, None)]) != 1 or self._size != size:
            raise TradetrailError(f"cannot journal the key rotation: {self._last_error}")
        history = history.rotated(open_rotation(note, "key rotation"))
        if self._sign_checkpoint(also=new) is None:
            raise TradetrailError(f"cannot sign the rotation checkpoint: {self._last_error}")
        if beside:  # the key kept aside replaces the old one
            os.replace(self.home / NEXT_KEY_FILE, self.home / DEFAULT_KEY_FILE)
            journal.fsync_dir(self.home)
        write_atomic(self.home / HISTORY_FILE, history.text().encode(), sync=True)
        write_atomic(self.home / VKEY_FILE, (new.verifier().vkey() + "\n").encode(), sync=True)
        self.signer = new
        self.verifier = new.verifier()
        logger.warning(
            "rotated the signing key of %s at tree size %d: %s replaces %s",
            self.origin,
            size,
            new.verifier().vkey(),
            old.verifier().vkey(),
        )
        return note
