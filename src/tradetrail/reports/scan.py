"""Reading a range of the journal for a report: the UTC days asked for, their records streamed
line by line in seq order, and the header that ties the figures to the log (origin, seq range,
the signed checkpoint covering the last record)."""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Final

import orjson

from ..core import layout
from ..core.checkpoint import open_checkpoint
from ..errors import CheckpointError, JournalFormatError, NoteError
from ..store.checkpoints import covering_checkpoint
from ..store.journal import JOURNAL_DIR, day_file_name, iter_lines, pruned_days
from ..store.keyhistory import trail_keys
from ..store.keys import VKEY_FILE, read_vkey
from .model import CheckpointInfo, Header, ReportError

__all__ = ["MAX_DAYS", "Scan", "event_ns", "parse_range", "scan_range"]

MAX_DAYS: Final = 3660
"""Longest range a report covers (ten years): a typo such as 2204 fails fast instead."""

_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"([Zz]|([+-])(\d{2}):(\d{2}))"
)


def _date(text: str, what: str) -> date:
    if not isinstance(text, str) or not _DATE.fullmatch(text):
        raise ReportError(f"{what} {text!r}: expected a date YYYY-MM-DD, e.g. 2024-03-04")
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ReportError(f"{what} {text!r}: {exc}") from None


def parse_range(start: str, end: str) -> list[str]:
    """The UTC days from `start` to `end` inclusive (YYYY-MM-DD), checked."""
    first, last = _date(start, "--from"), _date(end, "--to")
    if first > last:
        raise ReportError(f"--from {start} is after --to {end}")
    count = (last - first).days + 1
    if count > MAX_DAYS:
        raise ReportError(f"--from {start} --to {end}: {count} days; a report covers {MAX_DAYS}")
    return [(first + timedelta(days=i)).isoformat() for i in range(count)]


def event_ns(rec: dict[str, Any]) -> int | None:
    """When the event happened, in ns since the epoch: `event_ts` (the source's clock) when
    present, else the writer's `ts`; None when neither parses."""
    value = rec.get("event_ts")
    if type(value) is str:
        found = _ns(value)
        if found is not None:
            return found
    value = rec.get("ts")
    return _ns(value) if type(value) is str else None


def _ns(text: str) -> int | None:
    m = _TIME.fullmatch(text)
    if m is None:
        return None
    y, mo, d, h, mi, s, frac, _, sign, oh, om = m.groups()
    try:
        seconds = calendar.timegm((int(y), int(mo), int(d), int(h), int(mi), int(s), 0, 0, 0))
    except (ValueError, OverflowError):
        return None
    if sign is not None:
        offset = int(oh) * 3600 + int(om) * 60
        seconds -= offset if sign == "+" else -offset
    return seconds * 1_000_000_000 + (int(frac.ljust(9, "0")) if frac else 0)


@dataclass
class Scan:
    """What reading the range found, for the header."""

    days: list[str]
    present: list[str]
    open_days: list[str]
    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None


def scan_range(
    home: Path,
    days: list[str],
    wanted: Callable[[bytes], bool],
    handle: Callable[[dict[str, Any]], None],
) -> Scan:
    """Stream the complete lines of the day files of `days` in order; parse and hand on those
    that `wanted` (a cheap test on the raw bytes) keeps. Memory stays bounded by one line."""
    if not (home / JOURNAL_DIR).is_dir():
        raise ReportError(f"{home} is not a trail (no {JOURNAL_DIR}/ directory)")
    scan = Scan(days=days, present=[], open_days=[])
    pruned = {d.day for d in pruned_days(home)}
    files = sorted(p.name for p in (home / JOURNAL_DIR).glob("audit-*.jsonl"))
    newest = files[-1] if files else None
    for day in days:
        path = home / JOURNAL_DIR / day_file_name(day.replace("-", ""))
        if not path.is_file() and day.replace("-", "") in pruned:
            # removed under retention: its daily pack holds the same lines, byte for byte
            path = layout.daily_pack(home, day) / "events.jsonl"
            if not path.is_file():
                raise ReportError(
                    f"{day} was removed under the retention policy and its pack "
                    f"(exports/daily/{day}) is not in the trail: the report would be incomplete"
                )
        elif not path.is_file():
            continue
        scan.present.append(day)
        # open: the newest day file while still writable (the rule of export's day_bounds)
        if path.name == newest and path.parent.name == JOURNAL_DIR and path.stat().st_mode & 0o222:
            scan.open_days.append(day)
        last: bytes | None = None
        for lineno, (_, line, complete) in enumerate(iter_lines(path), 1):
            if not complete:  # a torn tail is the writer's to recover, not a record
                break
            if scan.first_seq is None:
                scan.first_seq = _seq(line, path, lineno)
            last = line
            scan.records += 1
            if wanted(line):
                try:
                    rec = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise JournalFormatError(f"not valid JSON: {exc}", str(path), lineno) from None
                if type(rec) is dict:
                    handle(rec)
        if last is not None:
            scan.last_seq = _seq(last, path, None)
    return scan


def _seq(line: bytes, path: Path, lineno: int | None) -> int:
    try:
        seq = orjson.loads(line).get("seq")
    except (orjson.JSONDecodeError, AttributeError):
        seq = None
    if type(seq) is not int:
        raise JournalFormatError("record has no integer seq", str(path), lineno)
    return seq


def header(home: Path, scan: Scan, start: str, end: str) -> Header:
    """The report's header; the checkpoint's root is shown only once its signature verifies
    against the trail's verifier key (the text of a note is not trusted before that)."""
    origin: str | None = None
    verifier = None
    vkey = home / VKEY_FILE
    if vkey.is_file():
        try:
            verifier = read_vkey(vkey)
            origin = verifier.name
        except (NoteError, OSError, ValueError):
            verifier = None
    checkpoint: CheckpointInfo | None = None
    if scan.last_seq is not None:
        found = covering_checkpoint(home, scan.last_seq + 1)
        if found is not None:
            size, text, exact = found
            root: str | None = None
            verified = False
            if verifier is not None:
                try:
                    cp = open_checkpoint(text, trail_keys(home))
                except (NoteError, CheckpointError):
                    pass
                else:
                    root, verified = cp.root.hex(), True
                    origin = cp.origin
            checkpoint = CheckpointInfo(size, root, verified, exact)
    return Header(
        origin=origin,
        start=start,
        end=end,
        days=tuple(scan.present),
        records=scan.records,
        first_seq=scan.first_seq,
        last_seq=scan.last_seq,
        open_days=tuple(scan.open_days),
        checkpoint=checkpoint,
    )
