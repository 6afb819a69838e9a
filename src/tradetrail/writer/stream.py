"""Reading a remote trail as it grows: the service's GET /v1/stream (server-sent events, `id:`
the seq) followed across dropped connections and service restarts, for `tradetrail tail --url`
and `tradetrail top --url`.

A reconnect sends `Last-Event-ID` (the last seq received), so the service resumes right after
it: no record is printed twice or skipped, whatever the filters (the service skips the records
they do not match, before and after the drop alike). Transport errors, a stream the service
ends (it is stopping) and 5xx answers are retried with capped exponential backoff; a refused
token is not (retrying cannot fix it)."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ..errors import ConfigError, StreamError, TokenError, missing_extra
from .remote import TOKEN_ENV, _problem_text, check_url

if TYPE_CHECKING:
    import httpx

BACKOFF_FIRST: Final = 0.1
BACKOFF_CAP: Final = 5.0
READ_TIMEOUT: Final = 45.0
"""Seconds without a byte before a stream counts as dead: the service sends a comment every
15 s, so a silent half-open connection is noticed within this."""
SEARCH_LIMIT: Final = 10_000
"""The most records GET /v1/search answers at once: what `tail -n` can show with filters."""


@dataclass(frozen=True)
class StreamFilter:
    """The stream's filters: types (exact or `prefix.*`, any of them) and field equalities."""

    types: tuple[str, ...] = ()
    symbol: str | None = None
    account: str | None = None
    venue: str | None = None

    @property
    def empty(self) -> bool:
        return not self.types and self.symbol is None and self.account is None and not self.venue

    def params(self) -> list[tuple[str, str | int | float | bool | None]]:
        out: list[tuple[str, str | int | float | bool | None]] = [("type", t) for t in self.types]
        for name in ("symbol", "account", "venue"):
            value = getattr(self, name)
            if value is not None:
                out.append((name, value))
        return out


def sse_events(lines: Iterable[str]) -> Iterator[tuple[str | None, str, str]]:
    """(id, event, data) of each event of a text/event-stream (the WHATWG rules: comments,
    `field: value` with one optional space, multi-line data joined by newlines)."""
    ident: str | None = None
    event = ""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield ident, event or "message", "\n".join(data)
            ident, event, data = None, "", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "id":
            ident = value
        elif name == "event":
            event = value


class ServiceReader:
    """A read-token client of one service: its info, metrics, search and record stream.

    `notify` is told, in one line each, when the stream is lost and when it resumes (the CLI
    prints them on stderr)."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        verify: Any = True,
        timeout: float = 30.0,
        read_timeout: float = READ_TIMEOUT,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        try:
            import httpx
        except ModuleNotFoundError as exc:
            raise missing_extra(exc, "remote trails (--url)", "client") from None
        self.url = check_url(url)
        secret = token or os.environ.get(TOKEN_ENV)
        if not secret:
            raise ConfigError(
                f"token: reading {self.url} needs a bearer token with read scope: pass --token "
                f"or set {TOKEN_ENV} (made by `tradetrail token create --scope read`)"
            )
        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {secret}"},
            timeout=httpx.Timeout(timeout, connect=5.0),
            verify=verify,
        )
        self._stream_timeout = httpx.Timeout(timeout, connect=5.0, read=read_timeout)
        self._transport_errors: tuple[type[Exception], ...] = (httpx.TransportError, OSError)
        self._notify = notify or (lambda _message: None)
        self.last_seq: int | None = None
        """The seq of the last record the stream gave (where a reconnect resumes)."""

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ServiceReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plain reads

    def get(self, path: str, params: Any = None) -> httpx.Response:
        """GET `path`; a refused token raises TokenError, any other failure StreamError."""
        try:
            response = self._http.get(path, params=params)
        except self._transport_errors as exc:
            raise StreamError(f"{self.url}{path}: {exc or type(exc).__name__}") from None
        if response.status_code != 200:
            raise self._refused(path, response)
        return response

    def info(self) -> dict[str, Any]:
        """GET /v1/info: origin, vkey, size."""
        body: dict[str, Any] = self.get("/v1/info").json()
        return body

    def metrics(self) -> str:
        """The Prometheus exposition text of GET /metrics."""
        return self.get("/metrics").text

    def last_seqs(self, count: int, filters: StreamFilter) -> tuple[int, int] | None:
        """(first, last) seq of the last `count` records matching `filters` (at most
        SEARCH_LIMIT), None when none does; from GET /v1/search (the service's index)."""
        if count <= 0:
            return None
        params = [*filters.params(), ("desc", "true"), ("limit", str(min(count, SEARCH_LIMIT)))]
        records = self.get("/v1/search", params).json()["records"]
        if not records:
            return None
        seqs = [int(r["seq"]) for r in records]
        return min(seqs), max(seqs)

    def _refused(self, path: str, response: httpx.Response) -> Exception:
        response.read()
        text = _problem_text(response)
        if response.status_code in (401, 403):
            return TokenError(
                f"{self.url}{path}: the service refused the token ({response.status_code} {text})"
            )
        if 400 <= response.status_code < 500:
            return ConfigError(f"{self.url}{path}: {response.status_code} {text}")
        return StreamError(f"{self.url}{path}: {response.status_code} {text}")

    # ------------------------------------------------------------------ the stream

    def records(
        self,
        filters: StreamFilter = StreamFilter(),  # frozen: shared safely
        *,
        since: int | None = None,
        until: int | None = None,
        follow: bool = True,
    ) -> Iterator[tuple[int, bytes]]:
        """(seq, journal line) of each record matching `filters`, from seq `since` (None: the
        records journaled from now on), in seq order, ending after seq `until` if given.

        With `follow`, a lost stream is resumed after `last_seq`, with backoff, for as long as
        it takes; only the first connection's failure raises (StreamError), so that a wrong URL
        is said at once. Without `follow`, a lost stream raises StreamError."""
        if since is None:  # pinned now: a reconnect before the first match must not skip any
            since = int(self.info()["size"])
        params = [*filters.params(), ("since", str(since))]
        self.last_seq = None
        delay = BACKOFF_FIRST
        connected = False
        lost: str | None = None
        while True:
            headers: dict[str, str] = {}
            if self.last_seq is not None:
                headers["Last-Event-ID"] = str(self.last_seq)
            try:
                with self._http.stream(
                    "GET",
                    "/v1/stream",
                    params=params,
                    headers=headers,
                    timeout=self._stream_timeout,
                ) as response:
                    if response.status_code != 200:
                        refused = self._refused("/v1/stream", response)
                        if not isinstance(refused, StreamError) or not (follow and connected):
                            raise refused
                        reason = str(refused)
                    else:
                        if lost is not None:
                            after = "" if self.last_seq is None else f" after seq {self.last_seq}"
                            self._notify(f"stream resumed{after}")
                            lost = None
                        connected = True
                        delay = BACKOFF_FIRST
                        for ident, event, data in sse_events(response.iter_lines()):
                            if event != "record" or ident is None or not ident.isdigit():
                                continue
                            seq = int(ident)
                            self.last_seq = seq
                            yield seq, data.encode()
                            if until is not None and seq >= until:
                                return
                        reason = "the service ended the stream"
            except self._transport_errors as exc:
                reason = str(exc) or type(exc).__name__
                if not connected:
                    raise StreamError(f"{self.url}/v1/stream: {reason}") from None
            if not follow:
                raise StreamError(f"{self.url}/v1/stream: {reason}")
            if lost is None:
                lost = reason
                self._notify(f"stream lost ({reason}); reconnecting")
            time.sleep(delay * random.uniform(0.5, 1.0))  # jitter, not secrecy
            delay = min(delay * 2, BACKOFF_CAP)


__all__ = ["ServiceReader", "StreamFilter", "sse_events"]
