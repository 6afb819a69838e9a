"""Issuing and revoking the service's tokens, each recorded in the trail as an auth.* event
(auth.api_key_created / auth.api_key_revoked, never the secret), so that who could reach the
books and records, and since when, is itself on the record."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from ..errors import TokenError, TradetrailError
from ..store.tokens import Token, TokenStore
from ..writer.admin_events import record_admin_event


def create_token(
    home: Path,
    name: str,
    scopes: list[str],
    *,
    expires: datetime | None = None,
    origin: str | None = None,
    type_prefix: str | None = None,
    rate: float | None = None,
    max_bytes: int | None = None,
) -> tuple[str, Token]:
    """A new token (its secret, shown once). A token whose creation cannot be recorded is
    revoked at once: no token exists that the trail does not know of."""
    store = TokenStore(home)
    secret, token = store.create(
        name,
        scopes,
        expires=expires,
        origin=origin,
        type_prefix=type_prefix,
        rate=rate,
        max_bytes=max_bytes,
    )
    data = {"key_id": token.id, "subject": name, "permissions": list(token.scopes)}
    if token.expires is not None:
        data["expires_at"] = token.expires
    try:
        record_admin_event(home, "auth.api_key_created", data)
    except (TradetrailError, OSError) as exc:
        store.revoke(token.id, "its creation could not be recorded")
        raise TokenError(f"token {token.id} was not issued: cannot record it ({exc})") from exc
    return secret, token


def revoke_token(home: Path, ident: str, reason: str | None = None) -> Token:
    """Revoke a token (at once, also in a running service), then record it."""
    token = TokenStore(home).revoke(ident, reason)
    data = {"key_id": token.id, "subject": token.name}
    if reason:
        data["reason"] = reason
    record_admin_event(home, "auth.api_key_revoked", data)
    return token


def list_tokens(home: Path) -> list[Token]:
    return TokenStore(home).list()
