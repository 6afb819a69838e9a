"""RFC 3339 UTC timestamps for the journal: fixed width, `Z`, microseconds, cheap to make."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], int]
"""A clock returns nanoseconds since the Unix epoch (like `time.time_ns`)."""

system_clock: Clock = time.time_ns

MAX_TS_NS = 253_402_300_800 * 1_000_000_000
"""10000-01-01T00:00:00Z in ns: RFC 3339 has four-digit years, so times end before it."""

RFC3339_UTC = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{6,9})Z$")
RFC3339_ANY = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)


class TimestampFormatter:
    """Formats nanosecond times as `YYYY-MM-DDTHH:MM:SS.ffffffZ`, caching the per-second prefix."""

    __slots__ = ("_bprefix", "_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""
        self._bprefix = b""

    def _roll(self, second: int) -> None:
        self._second = second
        self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        self._bprefix = self._prefix.encode()

    def format(self, ns: int) -> str:
        second, rest = divmod(ns, 1_000_000_000)
        if second != self._second:
            self._roll(second)
        return f"{self._prefix}.{rest // 1000:06d}Z"

    def format_bytes(self, ns: int) -> bytes:
        """The same as `format`, as ASCII bytes for the journal line."""
        second, rest = divmod(ns, 1_000_000_000)
        if second != self._second:
            self._roll(second)
        return self._bprefix + b".%06dZ" % (rest // 1000)


def format_ns(ns: int) -> str:
    """One-off formatting (microsecond precision)."""
    return TimestampFormatter().format(ns)


def format_ns_precise(ns: int) -> str:
    """Nanosecond precision, for source timestamps that carry it (1970 to 9999)."""
    if not 0 <= ns < MAX_TS_NS:
        raise ValueError(f"{ns} ns is outside 1970-01-01..9999-12-31 UTC")
    second, rest = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)) + f".{rest:09d}Z"


def format_datetime(value: datetime) -> str:
    """An aware datetime as RFC 3339 UTC with microseconds; naive datetimes are refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            "naive datetime (no timezone); pass an aware datetime, e.g. with tzinfo=UTC"
        )
    try:
        utc = value.astimezone(UTC)
    except OverflowError:  # the offset takes it before year 1 or after year 9999
        raise ValueError(f"{value.isoformat()} is outside years 0001..9999 in UTC") from None
    # not strftime: its %Y gives "1", not "0001", for year 1 on glibc
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:"
        f"{utc.second:02d}.{utc.microsecond:06d}Z"
    )


def parse_ts(text: str) -> int:
    """Parse a journal `ts` (strict RFC 3339 UTC with 6-9 fraction digits) to nanoseconds."""
    m = RFC3339_UTC.match(text)
    if m is None:
        raise ValueError(f"not an RFC 3339 UTC timestamp with microseconds: {text!r}")
    y, mo, d, h, mi, s, frac = m.groups()
    base = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=UTC)
    return int(base.timestamp()) * 1_000_000_000 + int(frac.ljust(9, "0"))


def parse_time(text: str) -> datetime:
    """Parse any RFC 3339 timestamp (offsets allowed) to an aware datetime."""
    if not RFC3339_ANY.match(text):
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    return datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))


def day_of(ts: str) -> str:
    """`YYYYMMDD` of a journal timestamp: the day file it belongs in."""
    return ts[0:4] + ts[5:7] + ts[8:10]
