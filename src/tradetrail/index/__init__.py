"""The search index: a projection of the journal on SQLite (default, in the trail) or
PostgreSQL (`TRADETRAIL_DATABASE_URL=postgresql://...`), behind one Protocol."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ..errors import ConfigError
from ..store.keys import trail_origin
from .base import IndexBackend
from .feed import IndexCheck, UpdateResult, check_index, update_index
from .lineage import Lineage, lineage
from .query import (
    Query,
    QueryError,
    parse_query_text,
    parse_when,
    query_from_json,
    query_json,
    query_matches,
)
from .rows import IndexRow, row_from_line
from .sqlite import INDEX_FILE, SqliteIndex

__all__ = [
    "INDEX_FILE",
    "IndexBackend",
    "IndexCheck",
    "IndexRow",
    "Lineage",
    "Query",
    "QueryError",
    "SqliteIndex",
    "UpdateResult",
    "check_index",
    "index_url",
    "lineage",
    "open_index",
    "parse_query_text",
    "parse_when",
    "query_from_json",
    "query_json",
    "query_matches",
    "row_from_line",
    "trail_origin",
    "update_index",
]


def index_url(
    home: str | os.PathLike[str], url: str | None = None, env: Mapping[str, str] | None = None
) -> str:
    """Argument, then TRADETRAIL_DATABASE_URL, then SQLite in the trail."""
    env = os.environ if env is None else env
    chosen = url or env.get("TRADETRAIL_DATABASE_URL") or None
    return chosen or f"sqlite:///{Path(home) / INDEX_FILE}"


def open_index(
    home: str | os.PathLike[str], url: str | None = None, env: Mapping[str, str] | None = None
) -> IndexBackend:
    """The index backend the URL names (see index_url)."""
    chosen = index_url(home, url, env)
    if chosen.startswith("sqlite:///"):
        return SqliteIndex(Path(chosen[len("sqlite:///") :]))
    if chosen.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresIndex

        return PostgresIndex(chosen)
    scheme = chosen.split(":", 1)[0]
    raise ConfigError(
        f"database URL (TRADETRAIL_DATABASE_URL): scheme {scheme!r} is not supported "
        "(use sqlite:///PATH or postgresql://USER@HOST/DB)"
    )
