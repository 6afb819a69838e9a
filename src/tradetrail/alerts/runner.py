"""Running rules over a trail: `replay` (a past range, nothing sent: `tradetrail alerts test`)
and `Runner` (follows the live journal and sends: `tradetrail alerts run`).

The runner reads the journal through `store` and records `alert.sent` through `open()`, like
any other client of the writer: the recording path never waits for a rule or a channel. Its
position (the next seq to read) lives in a state file outside the trail, which only store/ and
writer/ write into."""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from ..core.timefmt import Clock, parse_ts
from ..store import journal
from .channels import Channel, build_channel
from .dispatch import Dispatcher, Recorder
from .engine import Alert, Engine
from .rules import RuleSet

__all__ = ["Runner", "default_state_path", "replay"]

logger = logging.getLogger("tradetrail.alerts")
_MINUTE = 60 * 10**9


def _records(home: Path, first_day: str | None, last_day: str | None) -> Iterator[dict[str, Any]]:
    lo = first_day.replace("-", "") if first_day else None
    hi = last_day.replace("-", "") if last_day else None
    for path in journal.journal_files(home):
        day = journal.file_day(path)
        if (lo and day < lo) or (hi and day > hi):
            continue
        for n, (_, line, complete) in enumerate(journal.iter_lines(path), 1):
            if complete:
                yield journal.parse_record(line, str(path), n)


def replay(
    home: Path, rules: RuleSet, first_day: str | None = None, last_day: str | None = None
) -> list[Alert]:
    """What the rules would have sent over the days given (UTC, both ends included): time
    runs on the records' `ts`, and time-based rules are checked before each record and at the
    end of the range (or now, if earlier)."""
    now = [0]
    records = _records(home, first_day, last_day)
    first = next(records, None)
    if first_day is not None:
        now[0] = int(datetime.fromisoformat(first_day).replace(tzinfo=UTC).timestamp()) * 10**9
    elif first is not None:
        now[0] = parse_ts(str(first["ts"]))
    engine = Engine(rules, lambda: now[0])
    alerts: list[Alert] = []

    def advance(to: int) -> None:
        """Tick at each minute boundary up to `to`, as the live runner's clock would."""
        minute = (now[0] // _MINUTE + 1) * _MINUTE
        while minute <= to:
            now[0] = minute
            alerts.extend(engine.tick())
            minute += _MINUTE
        now[0] = max(now[0], to)

    last_ts = now[0]
    for record in itertools.chain([first] if first is not None else [], records):
        ts = record.get("ts")
        if isinstance(ts, str):
            advance(parse_ts(ts))
            last_ts = now[0]
        alerts += engine.tick()
        alerts += engine.feed(record)
    if last_day is not None:
        end = datetime.fromisoformat(last_day).replace(tzinfo=UTC) + timedelta(days=1)
        advance(min(int(end.timestamp()) * 10**9 - 1, time.time_ns()))
    else:
        advance(last_ts)
    alerts += engine.tick()
    return alerts


def default_state_path(home: Path) -> Path:
    """~/.local/state/tradetrail/alerts-<16 hex of the home's real path>.json (XDG)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    digest = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:16]
    return Path(base) / "tradetrail" / f"alerts-{digest}.json"


def _journal_size(home: Path) -> int:
    for path in reversed(journal.journal_files(home)):
        lines, _ = journal.tail_lines(path, 1)
        if lines:
            return journal.record_seq(lines[-1], str(path)) + 1
    return 0


@dataclass
class Runner:
    """Follows `home`'s journal from the state file's position (or from its end, the first
    time), feeds the engine, ticks it, and hands alerts to the dispatcher's worker thread.

    It reads the journal every `poll_s`; given `size` (the writer's durable size, beside the
    writer in `serve --alerts`) it also looks at that number every `watch_s` and reads as soon
    as the journal grew, so an alert leaves within milliseconds instead of half a poll on
    average, for the price of reading an attribute. Time-based rules are ticked every `poll_s`
    either way: a tick costs O(rules), and a step per record burst would multiply it."""

    home: Path
    rules: RuleSet
    state_path: Path
    recorder: Recorder | None
    channels: dict[str, Channel] | None = None
    clock: Clock = time.time_ns
    poll_s: float = 0.5
    origin: str = ""
    size: Callable[[], int] | None = None
    watch_s: float = 0.005

    def __post_init__(self) -> None:
        if self.channels is None:
            self.channels = {n: build_channel(n, c) for n, c in self.rules.channels.items()}
        self.engine = Engine(self.rules, self.clock)
        self.dispatcher = Dispatcher(
            self.channels,
            self.recorder,
            self.origin or str(self.home),
            retries=self.rules.retries,
            backoff_s=self.rules.backoff_ns / 1e9,
        )
        self.next_seq = self._load_state()
        self.muted: list[Alert] = []
        self._tail = journal.JournalTail(self.home)  # reads on from where the last step stopped
        self._saved: tuple[int, float] | None = None  # next_seq saved, and when (monotonic)
        self._ticked: float | None = None  # when the engine last ticked (monotonic)
        # alerts handed to the dispatcher and not yet handled: (its number, the seq to read
        # again from for it to fire again); the saved position never passes the oldest
        self._pending: deque[tuple[int, int]] = deque()

    def _load_state(self) -> int:
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return _journal_size(self.home)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{self.state_path}: unreadable alerts state ({exc})") from None
        if state.get("home") != str(self.home.resolve()) or type(state.get("next_seq")) is not int:
            raise ValueError(f"{self.state_path}: the state of another trail, or not a state")
        return int(state["next_seq"])

    def safe_seq(self) -> int:
        """Where a restart must read from: the record of the oldest alert not yet delivered
        (at least once: a crash between sending and saving sends it again), else next_seq."""
        handled = self.dispatcher.handled
        while self._pending and self._pending[0][0] <= handled:
            self._pending.popleft()
        return self._pending[0][1] if self._pending else self.next_seq

    def _save_state(self, seq: int) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        tmp.write_text(json.dumps({"home": str(self.home.resolve()), "next_seq": seq}))
        os.replace(tmp, self.state_path)

    def _save_due(self, force: bool) -> None:
        """The state file when the position moved, at most every poll_s (the window a crash
        re-reads stays what it was with polling alone); always with `force`."""
        now = time.monotonic()
        seq = self.safe_seq()
        if self._saved is not None and self._saved[0] == seq:
            return
        if force or self._saved is None or now - self._saved[1] >= self.poll_s:
            self._save_state(seq)
            self._saved = (seq, now)

    def step(self) -> list[Alert]:
        """Read what was journaled since the last step, tick, and hand over the alerts due."""
        alerts: list[Alert] = []
        # all that is durable was read once a day file is done: no need to list the days
        size = self.size
        caught_up = None if size is None else lambda: size() <= self.next_seq
        for path, line in self._tail.lines(self.next_seq, caught_up):
            record = orjson.loads(line)
            seq = record.get("seq")
            if isinstance(seq, int) and seq < self.next_seq:
                continue  # read from a day's start: what came before the position
            if seq != self.next_seq:  # a pruned or odd range: skip ahead
                logger.warning("tradetrail alerts: expected seq %d in %s", self.next_seq, path)
            fired = self.engine.feed(record)
            for alert in fired:
                if not alert.muted:
                    self._pending.append((self.dispatcher.submitted + 1, int(record["seq"])))
                    self.dispatcher.submit(alert)
                else:
                    self.muted.append(alert)
            self.next_seq = int(record["seq"]) + 1
            alerts += fired
        now = time.monotonic()
        if self._ticked is None or now - self._ticked >= self.poll_s:  # time-based rules: O(rules)
            self._ticked = now
            ticked = self.engine.tick()
            for alert in ticked:
                if alert.muted:
                    self.muted.append(alert)
                else:
                    self._pending.append((self.dispatcher.submitted + 1, self.next_seq))
                    self.dispatcher.submit(alert)
            alerts += ticked
        self._save_due(force=False)
        return alerts

    def run(self, stop: threading.Event) -> None:
        self.dispatcher.start()
        try:
            while not stop.is_set():
                before = self.next_seq
                self.step()
                self._wait(stop, before)
        finally:
            self.close()

    def close(self) -> None:
        """Send what is queued, then save the position (past what was sent)."""
        self.dispatcher.close()
        self._save_due(force=True)

    def _wait(self, stop: threading.Event, before: int) -> None:
        """Until the next step: poll_s, or until the durable size passes what was read."""
        if self.size is None or (self.next_seq == before and self.size() > self.next_seq):
            stop.wait(self.poll_s)  # polling alone, or a step that read nothing it was due to
            return
        deadline = time.monotonic() + self.poll_s
        while not stop.wait(self.watch_s):
            if self.size() > self.next_seq or time.monotonic() >= deadline:
                return
