"""`tradetrail token create|list|revoke`: the bearer tokens of the HTTP service."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from .common import HOME_OPTION, JSON_OPTION, emit_json, err, fail, out, require_trail


@click.group()
def token() -> None:
    """Bearer tokens of the HTTP service (`tradetrail serve --listen`). Only a SHA-256 of each
    token is stored (<home>/tokens.jsonl); creating and revoking one is recorded as an auth.*
    event."""


@token.command("create")
@HOME_OPTION
@click.option("--name", required=True, help="Who or what uses it (a desk, a service).")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(["ingest", "read", "admin"]),
    help="ingest (POST events), read (search, proofs, tiles, stream), admin (all); repeatable.",
)
@click.option("--expires", help="RFC 3339 time, or a lifetime such as 90d or 12h.")
@click.option("--origin", help="Valid only on the service of this trail origin.")
@click.option("--type-prefix", help="Only events whose type starts with this, e.g. order.")
@click.option("--rate", type=click.FloatRange(0.1, None), help="Requests per second.")
@click.option("--max-bytes", type=click.IntRange(1024, None), help="Bytes per request body.")
@JSON_OPTION
def token_create(
    home: Path,
    name: str,
    scopes: tuple[str, ...],
    expires: str | None,
    origin: str | None,
    type_prefix: str | None,
    rate: float | None,
    max_bytes: int | None,
    as_json: bool,
) -> None:
    """Issue a token; its secret is printed once and stored nowhere.

    \b
    Example:
      tradetrail token create --name risk-service --scope ingest --expires 90d
    """
    from ..compliance.tokens import create_token
    from ..errors import TradetrailError

    require_trail(home)
    when = _expiry(expires) if expires else None
    try:
        secret, made = create_token(
            home,
            name,
            list(scopes),
            expires=when,
            origin=origin,
            type_prefix=type_prefix,
            rate=rate,
            max_bytes=max_bytes,
        )
    except TradetrailError as exc:
        fail(str(exc), 1)
    if as_json:
        emit_json({"token": secret, **made.public()})
        return
    out.print(secret)
    err.print(
        f"token {made.id} ({', '.join(made.scopes)}) for {name}: keep it now, it is not shown again"
    )


@token.command("list")
@HOME_OPTION
@JSON_OPTION
def token_list(home: Path, as_json: bool) -> None:
    """The tokens issued, revoked ones included (never a secret).

    \b
    Example:
      tradetrail token list --json
    """
    from ..compliance.tokens import list_tokens

    require_trail(home)
    tokens = list_tokens(home)
    if as_json:
        emit_json([t.public() for t in tokens])
        return
    if not tokens:
        out.print("no token issued")
    for t in tokens:
        state = f"revoked {t.revoked}" if t.revoked else f"expires {t.expires or 'never'}"
        out.print(f"{t.id}  {t.name}  {','.join(t.scopes)}  created {t.created}  {state}")


@token.command("revoke")
@HOME_OPTION
@click.argument("token_id")
@click.option("--reason", help="Why (recorded with the auth.api_key_revoked event).")
def token_revoke(home: Path, token_id: str, reason: str | None) -> None:
    """Revoke a token by its id (a running service refuses it from its next request).

    \b
    Example:
      tradetrail token revoke 0123456789ab --reason "desk closed"
    """
    from ..compliance.tokens import revoke_token
    from ..errors import TradetrailError

    require_trail(home)
    try:
        revoke_token(home, token_id, reason)
    except TradetrailError as exc:
        fail(str(exc), 1)
    out.print(f"revoked {token_id}")


def _expiry(text: str) -> datetime:
    from datetime import UTC, timedelta

    units = {"d": 86400, "h": 3600, "m": 60}
    if text[:-1].isdigit() and text[-1:] in units:
        return datetime.now(UTC) + timedelta(seconds=int(text[:-1]) * units[text[-1]])
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--expires {text!r}: give RFC 3339 (2027-01-01T00:00:00Z) or a lifetime (90d)")
    if when.tzinfo is None:
        fail(f"--expires {text!r}: give a time zone (Z or +hh:mm)")
    return when
