"""Who may call what: a bearer token of `store.tokens`, its scope, the origin it is bound to,
and a token-bucket rate per token (429 with Retry-After). A rejected token is counted, never
logged with its secret."""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Final

from fastapi import Request

from ..errors import ConfigError, TokenError
from ..store.tokens import Token, TokenStore
from .problems import Problem

logger = logging.getLogger("tradetrail.service")
_LATER: Final = {"Retry-After": "5"}
DEFAULT_RATE: Final = 100.0
"""Requests per second a token may make unless it says otherwise (bursts of twice that)."""


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class Gate:
    """The service's check of every request but /healthz and /readyz."""

    store: TokenStore
    origin: str
    rate: float = DEFAULT_RATE
    rejected: int = 0
    _broken: str = ""
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, request: Request, scope: str) -> Token:
        header = request.headers.get("authorization", "")
        scheme, _, presented = header.partition(" ")
        challenge = {"WWW-Authenticate": 'Bearer realm="tradetrail"'}
        if scheme.lower() != "bearer" or not presented.strip():
            self.rejected += 1
            raise Problem(401, "no bearer token (Authorization: Bearer tt_...)", headers=challenge)
        try:
            token = self.store.check(presented.strip())
        except TokenError as exc:
            self.rejected += 1
            raise Problem(401, str(exc), headers=challenge) from None
        except ConfigError as exc:  # no token is good until the file is fixed: say so once
            if str(exc) != self._broken:
                self._broken = str(exc)
                logger.error("tradetrail service: every request refused: %s", exc)
            raise Problem(
                503, "the service cannot read its token file; its log says why", headers=_LATER
            ) from None
        self._broken = ""
        if not token.allows(scope):
            self.rejected += 1
            raise Problem(
                403, f"token {token.id} has scope {', '.join(token.scopes)}, this needs {scope}"
            )
        if token.origin is not None and token.origin != self.origin:
            self.rejected += 1
            raise Problem(403, f"token {token.id} is for origin {token.origin}, not {self.origin}")
        self._take(token)
        return token

    def still_good(self, token: Token) -> bool:
        """Whether `token` is still neither revoked nor expired (an open stream asks)."""
        return self.store.still_good(token.id)

    def _take(self, token: Token) -> None:
        rate = token.rate or self.rate
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.setdefault(token.id, _Bucket(2 * rate, now))
            bucket.tokens = min(2 * rate, bucket.tokens + (now - bucket.stamp) * rate)
            bucket.stamp = now
            if bucket.tokens < 1:
                wait = math.ceil((1 - bucket.tokens) / rate)
                raise Problem(
                    429,
                    f"token {token.id} is over its rate of {rate:g} requests/s",
                    headers={"Retry-After": str(wait)},
                )
            bucket.tokens -= 1
