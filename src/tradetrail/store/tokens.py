"""The service's bearer tokens, kept in `<home>/tokens.jsonl` as an append-only list of
created and revoked entries: only a SHA-256 of each token is stored, so the file leaks nothing
that opens the service, and a revocation written by `tradetrail token revoke` takes effect in a
running service at its next request (the file is re-read when it changes)."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import orjson

from ..core import layout
from ..core.timefmt import format_ns
from ..errors import ConfigError, TokenError

SCOPES: Final = ("ingest", "read", "admin")
"""What a token may do: ingest events, read (search, proofs, tiles, stream), admin (all)."""
PREFIX: Final = "tt_"
_TOKEN: Final = re.compile(r"^tt_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class Token:
    """A token as stored: never its secret."""

    id: str
    name: str
    scopes: tuple[str, ...]
    created: str
    sha256: str = field(repr=False)
    expires: str | None = None
    origin: str | None = None
    type_prefix: str | None = None
    rate: float | None = None
    max_bytes: int | None = None
    revoked: str | None = None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes

    def expired(self, now: datetime) -> bool:
        return self.expires is not None and datetime.fromisoformat(self.expires) <= now

    def public(self) -> dict[str, Any]:
        """What `token list` shows and the auth.* events carry."""
        out: dict[str, Any] = {"id": self.id, "name": self.name, "scopes": list(self.scopes)}
        for key in ("created", "expires", "origin", "type_prefix", "rate", "max_bytes", "revoked"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    """The tokens of one trail. `check()` is what the service calls on every request."""

    def __init__(self, home: Path) -> None:
        self.path = Path(home) / layout.TOKENS_FILE
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._tokens: dict[str, Token] = {}

    def _load(self, serving: bool = False) -> dict[str, Token]:
        """The tokens, re-read when the file changed (a revocation from the CLI). `serving`:
        refuse a file others may write (they could add a token of their own)."""
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if serving and stamp is not None and st.st_mode & 0o022:
            raise ConfigError(
                f"{self.path}: writable by group or others (mode {st.st_mode & 0o777:o}), so "
                f"anyone could add a token: chmod 600 {self.path}"
            )
        with self._lock:
            if stamp != self._stamp:
                self._tokens = self._read() if stamp is not None else {}
                self._stamp = stamp
            return self._tokens

    def _read(self) -> dict[str, Token]:
        tokens: dict[str, Token] = {}
        for lineno, line in enumerate(self.path.read_bytes().splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = orjson.loads(line)
                if entry["op"] == "create":
                    args = {k: v for k, v in entry.items() if k != "op"}
                    args["scopes"] = tuple(args["scopes"])
                    tokens[entry["id"]] = Token(**args)
                elif entry["op"] == "revoke":
                    old = tokens[entry["id"]]
                    tokens[old.id] = Token(**{**old.__dict__, "revoked": entry["at"]})
                else:
                    raise ValueError(f"unknown op {entry['op']!r}")
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise ConfigError(f"{self.path}:{lineno}: not a token entry ({exc})") from None
        return tokens

    def _append(self, entry: dict[str, Any]) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE))
            os.fsync(fd)
        finally:
            os.close(fd)

    def create(
        self,
        name: str,
        scopes: list[str] | tuple[str, ...],
        *,
        expires: datetime | None = None,
        origin: str | None = None,
        type_prefix: str | None = None,
        rate: float | None = None,
        max_bytes: int | None = None,
    ) -> tuple[str, Token]:
        """A new token: (the secret, shown once, and what is stored)."""
        bad = [s for s in scopes if s not in SCOPES]
        if bad or not scopes:
            raise ConfigError(f"scope: {bad or scopes!r}; choose from {', '.join(SCOPES)}")
        if expires is not None and expires.tzinfo is None:
            raise ConfigError("expires: give a time zone (RFC 3339)")
        ident = secrets.token_hex(6)
        secret = f"{PREFIX}{ident}_{secrets.token_urlsafe(32)}"
        token = Token(
            id=ident,
            name=name,
            scopes=tuple(dict.fromkeys(scopes)),
            created=format_ns(time.time_ns()),
            sha256=_digest(secret),
            expires=None if expires is None else format_ns(int(expires.timestamp() * 10**9)),
            origin=origin,
            type_prefix=type_prefix,
            rate=rate,
            max_bytes=max_bytes,
        )
        entry = {"op": "create", **{k: v for k, v in token.__dict__.items() if v is not None}}
        entry["scopes"] = list(token.scopes)
        self._append(entry)
        return secret, token

    def revoke(self, ident: str, reason: str | None = None) -> Token:
        token = self._load().get(ident)
        if token is None:
            raise TokenError(f"no token {ident!r} in {self.path}")
        if token.revoked is not None:
            raise TokenError(f"token {ident} was revoked at {token.revoked}")
        entry: dict[str, Any] = {"op": "revoke", "id": ident, "at": format_ns(time.time_ns())}
        if reason:
            entry["reason"] = reason
        self._append(entry)
        return self._load()[ident]

    def list(self) -> list[Token]:
        return sorted(self._load().values(), key=lambda t: t.created)

    def still_good(self, ident: str, now: datetime | None = None) -> bool:
        """Whether token `ident`, checked once, may still be used: not revoked, not expired,
        and the file still readable (a request already holding it, such as a stream, asks)."""
        try:
            token = self._load(serving=True).get(ident)
        except ConfigError:
            return False
        return (
            token is not None
            and token.revoked is None
            and not token.expired(now or datetime.now(UTC))
        )

    def check(self, presented: str, now: datetime | None = None) -> Token:
        """The token a request presented, or TokenError saying why not (never the secret)."""
        match = _TOKEN.match(presented)
        tokens = self._load(serving=True)  # ConfigError: no token is good until fixed
        token = tokens.get(match.group(1)) if match else None
        # compared in constant time whether or not the id exists
        stored = token.sha256 if token is not None else "0" * 64
        same = hmac.compare_digest(_digest(presented), stored)
        if token is None or not same:
            raise TokenError("unknown token")
        if token.revoked is not None:
            raise TokenError(f"token {token.id} was revoked")
        if token.expired(now or datetime.now(UTC)):
            raise TokenError(f"token {token.id} expired at {token.expires}")
        return token
