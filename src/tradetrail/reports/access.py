"""Access summary: logins and login failures by user and by source address, logouts,
permission changes and API keys. A failed login names the attempted user in `data.username`
(the user may not exist), else the envelope actor."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from .common import Finished, label
from .model import Cell, Chart, Header, Section, Table

__all__ = ["AccessCollector"]

MAX_ROWS: Final = 5000


@dataclass
class _Who:
    logins: int = 0
    mfa: int = 0
    failures: int = 0
    attempts: int = 0
    logouts: int = 0
    others: set[str] = field(default_factory=set)


def _when(rec: dict[str, Any]) -> str:
    value = rec.get("event_ts") or rec.get("ts")
    return value if type(value) is str else ""


def _list(value: Any) -> str | None:
    if isinstance(value, list) and value:
        return ", ".join(sorted(str(v) for v in value))
    return None


def _text(value: Any) -> str | None:
    return value if type(value) is str and value else None


class AccessCollector:
    """Per user and per source tallies; failure, permission and key rows (bounded)."""

    needles: tuple[bytes, ...] = (b'"auth.',)

    def __init__(self) -> None:
        self.users: dict[str, _Who] = {}
        self.sources: dict[str, _Who] = {}
        self.failures: list[tuple[Cell, ...]] = []
        self.failure_count = 0
        self.permissions: list[tuple[Cell, ...]] = []
        self.permission_count = 0
        self.keys: list[tuple[Cell, ...]] = []
        self.key_count = 0
        self.logouts = 0

    def _who(self, user: str, source: str) -> tuple[_Who, _Who]:
        u = self.users.setdefault(user, _Who())
        s = self.sources.setdefault(source, _Who())
        u.others.add(source)
        s.others.add(user)
        return u, s

    def add(self, rec: dict[str, Any]) -> None:
        kind = rec.get("type")
        data = rec.get("data")
        data = data if type(data) is dict else {}
        seq = rec.get("seq") if type(rec.get("seq")) is int else None
        if kind == "auth.login":
            user, source = label(rec.get("actor")), label(data.get("remote_addr"))
            for w in self._who(user, source):
                w.logins += 1
                w.mfa += data.get("mfa") is True
        elif kind == "auth.login_failed":
            user = label(data.get("username") or rec.get("actor"))
            source = label(data.get("remote_addr"))
            attempts = data.get("attempts")
            count = attempts if type(attempts) is int and attempts > 0 else 1
            for w in self._who(user, source):
                w.failures += 1
                w.attempts += count
            self.failure_count += 1
            if len(self.failures) < MAX_ROWS:
                self.failures.append(
                    (
                        _when(rec),
                        seq,
                        user,
                        source,
                        _text(data.get("reason")),
                        count,
                        _text(data.get("method")),
                    )
                )
        elif kind == "auth.logout":
            self.logouts += 1
            self.users.setdefault(label(rec.get("actor")), _Who()).logouts += 1
        elif kind == "auth.permission_changed":
            self.permission_count += 1
            if len(self.permissions) < MAX_ROWS:
                role = _text(data.get("role"))
                old = _text(data.get("old_role"))
                self.permissions.append(
                    (
                        _when(rec),
                        seq,
                        label(rec.get("actor")),
                        label(data.get("subject")),
                        _list(data.get("granted")),
                        _list(data.get("revoked")),
                        f"{old or '—'} → {role}" if role else None,
                        _text(data.get("approved_by")),
                        _text(data.get("reason")),
                    )
                )
        elif kind in ("auth.api_key_created", "auth.api_key_revoked"):
            self.key_count += 1
            if len(self.keys) < MAX_ROWS:
                self.keys.append(
                    (
                        _when(rec),
                        seq,
                        "created" if kind == "auth.api_key_created" else "revoked",
                        label(rec.get("actor")),
                        label(data.get("key_id")),
                        _text(data.get("subject")),
                        _list(data.get("permissions")) or _text(data.get("reason")),
                    )
                )

    def finish(self, header: Header) -> Finished:
        logins = sum(u.logins for u in self.users.values())
        summary: dict[str, Any] = {
            "empty": not (self.users or self.permission_count or self.key_count),
            "logins": logins,
            "login_failures": self.failure_count,
            "failed_attempts": sum(u.attempts for u in self.users.values()),
            "logouts": self.logouts,
            "users": len([u for u, w in self.users.items() if w.logins or w.failures]),
            "permission_changes": self.permission_count,
            "api_key_events": self.key_count,
        }
        notes = (
            "A failure event may report several attempts (data.attempts); both are counted.",
            "Source is the recorded remote address.",
        )
        if summary["empty"]:
            return (
                "Access summary",
                summary,
                (Section("Access", text=("No access events in this range.",)),),
                notes,
            )
        names = sorted(u for u, w in self.users.items() if w.logins or w.failures)
        user_rows = tuple(
            (
                u,
                w.logins,
                w.mfa,
                w.failures,
                w.attempts,
                w.logouts,
                ", ".join(sorted(w.others)) or None,
            )
            for u, w in sorted(self.users.items())
        )
        source_rows = tuple(
            (s, w.logins, w.failures, w.attempts, ", ".join(sorted(w.others)) or None)
            for s, w in sorted(self.sources.items())
        )
        sections = [
            Section(
                "Logins",
                tables=(
                    Table(
                        "By user",
                        (
                            "user",
                            "logins",
                            "with MFA",
                            "failure events",
                            "failed attempts",
                            "logouts",
                            "sources",
                        ),
                        user_rows,
                    ),
                    Table(
                        "By source",
                        ("source", "logins", "failure events", "failed attempts", "users"),
                        source_rows,
                    ),
                ),
                charts=(
                    Chart(
                        "Logins and failed attempts by user",
                        "barh",
                        tuple(names),
                        (
                            ("logins", tuple(float(self.users[u].logins) for u in names)),
                            (
                                "failed attempts",
                                tuple(float(self.users[u].attempts) for u in names),
                            ),
                        ),
                        xlabel="count",
                        ylabel="user",
                        integer=True,
                    ),
                )
                if names
                else (),
            ),
            Section(
                "Login failures",
                text=() if self.failures else ("No login failures in this range.",),
                tables=(
                    Table(
                        "Login failures",
                        ("time", "seq", "user", "source", "reason", "attempts", "method"),
                        tuple(self.failures),
                        self.failure_count if self.failure_count > len(self.failures) else None,
                    ),
                )
                if self.failures
                else (),
            ),
            Section(
                "Permission changes",
                text=() if self.permissions else ("No permission changes in this range.",),
                tables=(
                    Table(
                        "Permission changes",
                        (
                            "time",
                            "seq",
                            "changed by",
                            "subject",
                            "granted",
                            "revoked",
                            "role",
                            "approved by",
                            "reason",
                        ),
                        tuple(self.permissions),
                        self.permission_count
                        if self.permission_count > len(self.permissions)
                        else None,
                    ),
                )
                if self.permissions
                else (),
            ),
        ]
        if self.keys:
            sections.append(
                Section(
                    "API keys",
                    tables=(
                        Table(
                            "API keys",
                            ("time", "seq", "event", "by", "key id", "subject", "scope or reason"),
                            tuple(self.keys),
                            self.key_count if self.key_count > len(self.keys) else None,
                        ),
                    ),
                )
            )
        return "Access summary", summary, tuple(sections), notes
