"""The one small Protocol every index backend implements (SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from .query import Query
from .rows import IndexRow


class IndexBackend(Protocol):
    """An append-only projection of one or more trails (each its own origin).

    `add` is idempotent: a row already stored with the same leaf hash is skipped; one stored
    with a different hash raises IndexTamperError after the other rows are stored, and is
    never overwritten."""

    url: str

    def last_seq(self, origin: str) -> int:
        """The highest seq indexed for `origin`, -1 when none."""
        ...

    def add(self, rows: Sequence[IndexRow]) -> int:
        """Store rows (one origin, ascending seq); returns how many were new."""
        ...

    def leaf_hash(self, origin: str, seq: int) -> str | None:
        """The stored leaf hash of one record, None when it is not indexed."""
        ...

    def search(self, query: Query) -> list[IndexRow]:
        """Rows matching `query`, by ts then seq (descending if asked)."""
        ...

    def hashes(self, origin: str) -> Iterator[tuple[int, str]]:
        """(seq, leaf hash) of every row of `origin`, ascending seq (for verify --index)."""
        ...

    def origins(self) -> list[str]:
        """Every origin with rows."""
        ...

    def close(self) -> None: ...
