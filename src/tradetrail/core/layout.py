"""Every name under a trail's directory `<home>` (docs/FORMATS.md), in one place: code that
finds a file of the trail takes its name from here rather than spelling it."""

from __future__ import annotations

from pathlib import Path
from typing import Final

JOURNAL_DIR: Final = "journal"
"""The day files `audit-YYYYMMDD.jsonl`, one JSON record per line."""
PRUNED_FILE: Final = "pruned.json"
"""In the journal directory: the days retention removed, and what proves them."""
TILES_DIR: Final = "tiles"
"""The Merkle tree as C2SP tlog-tiles."""
CHECKPOINT_FILE: Final = "checkpoint"
"""The latest signed checkpoint."""
CHECKPOINTS_DIR: Final = "checkpoints"
"""Every signed checkpoint, by tree size."""
CLOSED_FILE: Final = "closed"
"""The signed clean-close mark."""
VKEY_FILE: Final = "trail.vkey"
"""The trail's verifier key (signed-note format)."""
HISTORY_FILE: Final = "trail.vkeys"
"""The signed history of the trail's keys, once a key was rotated."""
SIGNING_KEY_FILE: Final = "signing.key"
"""The signing key when it lives beside the trail (demo, tests)."""
LOCK_FILE: Final = "writer.lock"
NEXT_KEY_FILE: Final = "signing.key.next"  # a rotation's new key, kept before it is journaled
"""Held by the one writer of the trail."""
SOCKET_FILE: Final = "writer.sock"
"""The writer process's channel (a Unix socket) while a writer serves the trail."""
WRITER_LOG: Final = "writer.log"
"""What a writer process started by open() says (its stderr)."""
SPILL_DIR: Final = "spill"
"""Events the writer could not take yet (the administrative events' queue)."""
QUARANTINE_DIR: Final = "quarantine"
"""Day files the writer set aside at recovery."""
CHANNEL_QUARANTINE_FILE: Final = "channel.jsonl"
"""In the quarantine directory: what clients sent on the writer's channel that does not
splice into a canonical record (never journaled), one JSON object per line with the reason."""
EXPORTS_DIR: Final = "exports"
"""Daily packs (`exports/daily/YYYY-MM-DD`) and examination packages."""
DAILY_DIR: Final = "daily"
"""Under exports: one pack directory per day."""
SNAPSHOTS_DIR: Final = "snapshots"
"""Configuration snapshot documents, by hash."""
TOKENS_FILE: Final = "tokens.jsonl"
"""The HTTP service's bearer tokens: SHA-256 digests and scopes, never a secret."""
INDEX_FILE: Final = "index.sqlite"
"""The SQLite search index (rebuilt from the journal at will)."""


def daily_packs(home: Path) -> Path:
    """The directory of the daily packs: `<home>/exports/daily`."""
    return home / EXPORTS_DIR / DAILY_DIR


def daily_pack(home: Path, day: str) -> Path:
    """Where `tradetrail export daily` puts the pack of `day` (YYYY-MM-DD) by default."""
    return daily_packs(home) / day
