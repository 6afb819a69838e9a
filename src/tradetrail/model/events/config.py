"""config.*: configuration changes and the baseline they are changes of."""

from typing import Any

from .base import EventData

__all__ = [
    "ConfigChanged",
    "ConfigSnapshot",
]


class ConfigChanged(EventData, kw_only=True, frozen=True):
    """A configuration change: who (envelope actor), what, and the hashes before and after."""

    TYPE = "config.changed"
    VERSION = 1
    path: str
    new_hash: str
    old_hash: str | None = None
    keys: list[str] | None = None
    old_value: Any = None
    new_value: Any = None
    reason: str | None = None
    approved_by: str | None = None
    ticket: str | None = None


class ConfigSnapshot(EventData, kw_only=True, frozen=True):
    """The full effective configuration, so any later change has a baseline."""

    TYPE = "config.snapshot"
    VERSION = 1
    hash: str
    path: str | None = None
    version: str | None = None
    content: dict[str, Any] | None = None
