"""A search over the index, independent of the backend, and the parsing of its time bounds."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from ..core.timefmt import RFC3339_ANY, format_datetime, parse_time
from ..errors import QueryError as QueryError  # re-exported: its old home

if TYPE_CHECKING:
    from .base import IndexBackend
    from .rows import IndexRow

_RELATIVE: Final = re.compile(r"^(\d+)(s|m|h|d|w)$")
_UNITS: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FILTER_FIELDS: Final = (
    "category",
    "symbol",
    "account",
    "order_id",
    "client_order_id",
    "exchange_order_id",
    "parent_order_id",
    "signal_id",
    "correlation_id",
    "actor",
    "strategy",
    "venue",
)


def parse_when(text: str, option: str, now: datetime | None = None) -> str:
    """An RFC 3339 time, a date (midnight UTC) or a relative age (`2h`, `7d`: that long before
    now) as the journal's `ts` form, so it compares as a string."""
    text = text.strip()
    m = _RELATIVE.match(text)
    if m:
        now = now or datetime.now(UTC)
        return format_datetime(now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))}))
    if _DATE.match(text):
        text += "T00:00:00Z"
    if not RFC3339_ANY.match(text):
        raise QueryError(
            f"{option}: {text!r} is not a time (RFC 3339 such as 2024-03-01T14:00:00Z, a date "
            "such as 2024-03-01, or an age such as 30m, 2h, 7d)"
        )
    try:
        return format_datetime(parse_time(text))
    except ValueError as exc:
        raise QueryError(f"{option}: {exc}") from None


@dataclass(frozen=True)
class Query:
    """What to find. Every given filter must hold (AND); `types` match exactly or, ending in
    `.*`, by prefix; `text` is a full-text query (words, all must appear); `since` is inclusive
    and `until` exclusive, both in the journal's `ts` form (see parse_when)."""

    types: tuple[str, ...] = ()
    equals: dict[str, str] = field(default_factory=dict)
    since: str | None = None
    until: str | None = None
    text: str | None = None
    origin: str | None = None
    limit: int | None = 100
    descending: bool = False

    def __post_init__(self) -> None:
        for name in self.equals:
            if name not in FILTER_FIELDS:
                raise QueryError(f"unknown field {name!r} (searchable: {', '.join(FILTER_FIELDS)})")
        if self.limit is not None and self.limit < 1:
            raise QueryError(f"limit: {self.limit} must be at least 1")
        if self.text is not None and not self.text.strip():
            raise QueryError("text: empty full-text query")


def search_origins(
    index: IndexBackend, query: Query, origins: Sequence[str] | None
) -> list[IndexRow]:
    """Hits of several trails feeding one index (a fleet), in the index's order (ts, seq,
    origin) and cut to the limit; `origins` None: every trail."""
    if origins is None:
        return index.search(replace(query, origin=None))
    rows = sorted(
        (r for o in origins for r in index.search(replace(query, origin=o))),
        key=lambda r: (r.ts, r.seq, r.origin.encode()),  # ts: the writer's fixed-width form
        reverse=query.descending,
    )
    return rows if query.limit is None else rows[: query.limit]


def words(text: str) -> list[str]:
    """The words of a full-text query, as both backends tokenise them (letters and digits)."""
    return re.findall(r"[0-9A-Za-z_]+", text)


_TEXT_TERMS: Final = ("type", "text", "since", "until", *FILTER_FIELDS)


def parse_query_text(text: str, option: str = "--query") -> Query:
    """A search written as one string, `NAME=VALUE` terms separated by spaces (shell quoting
    for values with spaces): `account=ACC-1 type=order.* text="limit breach"`. Names are the
    search filters plus `type` (repeatable), `text`, `since` and `until`. It is what an examiner's
    request looks like when it travels in a file or a cron line; the result has no limit."""
    import shlex

    try:
        terms = shlex.split(text)
    except ValueError as exc:
        raise QueryError(f"{option}: {text!r}: {exc}") from None
    if not terms:
        raise QueryError(f"{option}: empty query (expected NAME=VALUE terms, e.g. account=ACC-1)")
    types: list[str] = []
    equals: dict[str, str] = {}
    since = until = words_text = None
    for term in terms:
        name, sep, value = term.partition("=")
        name = name.strip().lower().replace("-", "_")
        if not sep or not value:
            raise QueryError(f"{option}: {term!r} is not NAME=VALUE (e.g. symbol=AAPL)")
        if name not in _TEXT_TERMS:
            raise QueryError(
                f"{option}: {term!r}: unknown name {name!r} (use one of {', '.join(_TEXT_TERMS)})"
            )
        if name == "type":
            types.append(value.lower())  # types are lower case; the index matches them so
        elif name == "text":
            words_text = f"{words_text} {value}" if words_text else value
        elif name in ("since", "until"):
            when = parse_when(value, f"{option} {name}")
            since, until = (when, until) if name == "since" else (since, when)
        elif name in equals and equals[name] != value:
            raise QueryError(f"{option}: {name} given twice ({equals[name]!r}, {value!r})")
        else:
            equals[name] = value
    return Query(
        types=tuple(types), equals=equals, since=since, until=until, text=words_text, limit=None
    )


def query_matches(query: Query, row: IndexRow) -> bool:
    """Whether the index would select this record for `query`, full text aside: the same
    rules, for records outside the index (a pruned day's pack, an examiner's replay)."""
    if query.types and not any(
        row.type.startswith(t[:-1]) if t.endswith(".*") else row.type == t for t in query.types
    ):
        return False
    if any(getattr(row, name) != value for name, value in query.equals.items()):
        return False
    if query.since is not None and row.ts < query.since:
        return False
    return query.until is None or row.ts < query.until


def query_json(query: Query) -> dict[str, Any]:
    """A query with its times resolved (`since=3d` becomes a time), to be replayed later."""
    return {
        "types": list(query.types),
        "equals": dict(sorted(query.equals.items())),
        "since": query.since,
        "until": query.until,
        "text": query.text,
    }


def query_from_json(doc: Any, where: str) -> Query:
    """The query `query_json` wrote; QueryError naming `where` when it is not one."""
    try:
        return Query(
            types=tuple(str(t) for t in doc["types"]),
            equals={str(k): str(v) for k, v in dict(doc["equals"]).items()},
            since=None if doc["since"] is None else str(doc["since"]),
            until=None if doc["until"] is None else str(doc["until"]),
            text=None if doc["text"] is None else str(doc["text"]),
            limit=None,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise QueryError(f"{where}: not a resolved query ({exc!r})") from None
