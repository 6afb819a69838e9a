"""Configuration change history: every `config.changed` (who, when, which keys, old and new
values as recorded, reason, approval, ticket) and every `config.snapshot`, with the keys that
differ from the previous snapshot of the same path in the range."""

from __future__ import annotations

from typing import Any, Final

import orjson

from .common import Finished, day_of, label
from .model import Cell, Chart, Header, Section, Table

__all__ = ["ConfigCollector", "changed_keys"]

MAX_ROWS: Final = 5000
_VALUE_CHARS: Final = 120


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted keys of nested objects; lists and scalars are leaves."""
    if not isinstance(value, dict):
        return {prefix: value}
    out: dict[str, Any] = {}
    for key in sorted(value):
        name = f"{prefix}.{key}" if prefix else str(key)
        sub = value[key]
        if isinstance(sub, dict) and sub:
            out.update(_flat(sub, name))
        else:
            out[name] = sub
    return out


def changed_keys(old: Any, new: Any) -> list[str]:
    """The dotted keys whose values differ between two configurations (added, removed or
    changed), sorted."""
    a, b = _flat(old), _flat(new)
    return sorted(k for k in a.keys() | b.keys() if a.get(k, a) != b.get(k, b))


def _short(value: Any) -> str:
    text = (
        value if type(value) is str else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    )
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 1] + "…"


def _when(rec: dict[str, Any]) -> str:
    value = rec.get("event_ts") or rec.get("ts")
    return value if type(value) is str else ""


def _text(value: Any) -> str | None:
    return value if type(value) is str and value else None


class ConfigCollector:
    """Change and snapshot rows (bounded), counts per key, actor and day."""

    needles: tuple[bytes, ...] = (b'"config.',)

    def __init__(self) -> None:
        self.changes: list[tuple[Cell, ...]] = []
        self.snapshots: list[tuple[Cell, ...]] = []
        self.change_count = 0
        self.snapshot_count = 0
        self.by_key: dict[str, tuple[int, str, str]] = {}
        self.by_actor: dict[str, list[int]] = {}
        self.by_day: dict[str, int] = {}
        self.paths: set[str] = set()
        self._last: dict[str, Any] = {}

    def add(self, rec: dict[str, Any]) -> None:
        kind = rec.get("type")
        if kind not in ("config.changed", "config.snapshot"):
            return
        data = rec.get("data")
        data = data if type(data) is dict else {}
        actor = label(rec.get("actor"))
        when = _when(rec)
        seq = rec.get("seq") if type(rec.get("seq")) is int else None
        path = label(data.get("path"))
        self.paths.add(path)
        counts = self.by_actor.setdefault(actor, [0, 0])
        if kind == "config.changed":
            self.change_count += 1
            counts[0] += 1
            self.by_day[day_of(rec)] = self.by_day.get(day_of(rec), 0) + 1
            keys = data.get("keys")
            old, new = data.get("old_value"), data.get("new_value")
            if isinstance(keys, list) and keys:
                names = sorted({k if type(k) is str else str(k) for k in keys})
            elif isinstance(old, dict) and isinstance(new, dict):
                names = changed_keys(old, new)
            else:
                names = []
            for name in names or ["(whole file)"]:
                n, _, _ = self.by_key.get(name, (0, "", ""))
                self.by_key[name] = (n + 1, when, actor)
            change = None
            if "old_value" in data or "new_value" in data:
                change = f"{_short(old)} → {_short(new)}"
            if len(self.changes) < MAX_ROWS:
                self.changes.append(
                    (
                        when,
                        seq,
                        path,
                        actor,
                        ", ".join(names) or None,
                        change,
                        _text(data.get("reason")),
                        _text(data.get("approved_by")),
                        _text(data.get("ticket")),
                        f"{_hash(data.get('old_hash'))} → {_hash(data.get('new_hash'))}",
                    )
                )
            return
        self.snapshot_count += 1
        counts[1] += 1
        content = data.get("content")
        if isinstance(content, dict):
            previous = self._last.get(path)
            diff = (
                "first in range"
                if previous is None
                else (", ".join(changed_keys(previous, content)) or "no change")
            )
            self._last[path] = content
        else:
            diff = "content not recorded"
        if len(self.snapshots) < MAX_ROWS:
            self.snapshots.append(
                (when, seq, path, actor, _text(data.get("version")), _hash(data.get("hash")), diff)
            )

    def finish(self, header: Header) -> Finished:
        summary: dict[str, Any] = {
            "empty": self.change_count == 0 and self.snapshot_count == 0,
            "changes": self.change_count,
            "snapshots": self.snapshot_count,
            "paths": sorted(self.paths),
            "keys_changed": sorted(self.by_key),
            "actors": sorted(self.by_actor),
        }
        notes = (
            "Values are shown as the journal holds them (secrets were redacted before "
            "recording); long values are cut at 120 characters.",
            "Hashes are the first 12 hex digits of the recorded sha256.",
        )
        if summary["empty"]:
            return (
                "Configuration change history",
                summary,
                (Section("Configuration", text=("No configuration events in this range.",)),),
                notes,
            )
        keys = sorted(self.by_key)
        sections = [
            Section(
                "Changes",
                text=() if self.changes else ("No configuration change in this range.",),
                tables=(
                    Table(
                        "config.changed",
                        (
                            "time",
                            "seq",
                            "path",
                            "who",
                            "keys",
                            "old → new",
                            "reason",
                            "approved by",
                            "ticket",
                            "hash",
                        ),
                        tuple(self.changes),
                        self.change_count if self.change_count > len(self.changes) else None,
                    ),
                    Table(
                        "Changes by key",
                        ("key", "changes", "last change", "last changed by"),
                        tuple((k, *self.by_key[k]) for k in keys),
                    ),
                )
                if self.changes
                else (),
                charts=(
                    Chart(
                        "Changes by key",
                        "barh",
                        tuple(keys),
                        (("changes", tuple(float(self.by_key[k][0]) for k in keys)),),
                        xlabel="changes",
                        ylabel="configuration key",
                        integer=True,
                    ),
                )
                if keys
                else (),
            ),
            Section(
                "Snapshots",
                text=() if self.snapshots else ("No configuration snapshot in this range.",),
                tables=(
                    Table(
                        "config.snapshot",
                        ("time", "seq", "path", "who", "version", "hash", "keys changed"),
                        tuple(self.snapshots),
                        self.snapshot_count if self.snapshot_count > len(self.snapshots) else None,
                    ),
                )
                if self.snapshots
                else (),
            ),
            Section(
                "Who",
                tables=(
                    Table(
                        "Configuration events by actor",
                        ("actor", "changes", "snapshots"),
                        tuple((a, c[0], c[1]) for a, c in sorted(self.by_actor.items())),
                    ),
                ),
            ),
        ]
        return "Configuration change history", summary, tuple(sections), notes


def _hash(value: Any) -> str:
    if type(value) is not str or not value:
        return "—"
    return value.removeprefix("sha256:")[:12]
