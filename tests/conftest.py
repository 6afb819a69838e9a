"""Shared fixtures of the writer tests: a trail home, a settable clock (tradetrail.testing's
SimClock, re-exported here for the tests that import it from conftest), journal readers."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from tradetrail.core.canonical import is_canonical
from tradetrail.testing import SimClock

# the PostgreSQL (`postgres_dsns`) and S3 (`s3`) fixtures for every module, without an import
pytest_plugins = ["postgres_server", "s3_server"]

ENV_VARS = (
    "TRADETRAIL_HOME",
    "TRADETRAIL_ORIGIN",
    "TRADETRAIL_DURABILITY",
    "TRADETRAIL_SIGNING_KEY",
    "TRADETRAIL_SPILL_DIR",
    "TRADETRAIL_MAX_EVENT_BYTES",
    "TRADETRAIL_QUEUE_SIZE",
    "TRADETRAIL_CHECKPOINT_EVERY",
    "TRADETRAIL_CHECKPOINT_INTERVAL",
    "TRADETRAIL_CHECKPOINT_SPACING",
    "TRADETRAIL_MIN_FREE_BYTES",
    "TRADETRAIL_SERVICE",
    "TRADETRAIL_STRICT",
    "TRADETRAIL_DATABASE_URL",
    "TRADETRAIL_DATABASE_OWNER_URL",
    "TRADETRAIL_CONFIG_PATHS",
    "TRADETRAIL_WRITER",
    "TRADETRAIL_ARCHIVE_URL",
    "TRADETRAIL_ARCHIVE_ENDPOINT",
)


def ns_of(text: str) -> int:
    """Nanoseconds of an ISO time such as '2024-03-01T23:59:59.5'. UTC is assumed."""
    dt = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000


# for module- and session-scoped fixtures too (they run outside _clean_env below)
os.environ["TRADETRAIL_WRITER"] = os.environ.get("TRADETRAIL_TEST_WRITER", "embedded")
os.environ["TRADETRAIL_CHECKPOINT_SPACING"] = "0"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """No TRADETRAIL_* variable of the developer's shell leaks into a test. The writer runs
    in the test's process (TRADETRAIL_WRITER=embedded), where white-box tests can reach it;
    tests of the writer process and of attached clients (tests/writer/test_process.py, the
    CLI's channel tests) ask for it explicitly, and `TRADETRAIL_TEST_WRITER=auto` runs the
    whole suite through writer processes."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    writer = os.environ.get("TRADETRAIL_TEST_WRITER", "embedded")
    if request.node.get_closest_marker("embedded") is not None:
        writer = "embedded"  # the test is about the embedded writer's own behaviour
    monkeypatch.setenv("TRADETRAIL_WRITER", writer)
    # checkpoints exactly every `checkpoint_every` records, however fast the test writes (the
    # product spaces count-triggered checkpoints a second apart: test_config covers that)
    monkeypatch.setenv("TRADETRAIL_CHECKPOINT_SPACING", "0")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A trail directory that does not exist yet."""
    return tmp_path / "trail"


@pytest.fixture
def clock() -> SimClock:
    return SimClock()


@pytest.fixture
def open_trail(home: Path, clock: SimClock) -> Iterator[Callable[..., Any]]:
    """`open_trail(**options)` opens the trail at `home` with the simulated clock; every trail
    opened this way is closed at the end of the test."""
    import tradetrail

    opened: list[Any] = []

    def _open(**options: Any) -> Any:
        options.setdefault("clock", clock)
        options.setdefault("min_free_bytes", 0)
        trail = tradetrail.open(options.pop("home", home), **options)
        opened.append(trail)
        return trail

    yield _open
    for trail in opened:
        trail.close(timeout=30)


def journal_lines(home: Path) -> list[tuple[Path, bytes]]:
    """(day file, line without newline) of every complete journal line, in file order."""
    out: list[tuple[Path, bytes]] = []
    for path in sorted((home / "journal").glob("audit-*.jsonl")):
        data = path.read_bytes()
        for line in data.split(b"\n")[:-1]:
            out.append((path, line))
    return out


def journal_records(home: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for _, line in journal_lines(home)]


def leaf_hex(line: bytes) -> str:
    return hashlib.sha256(b"\x00" + line).hexdigest()


def check_chain(home: Path) -> list[dict[str, Any]]:
    """The invariants a test can check cheaply from raw bytes: canonical lines, seq 0.. with
    no gaps, prev = leaf hash of the line before, ts non-decreasing, each record in the file of
    its UTC day. Returns the parsed records."""
    records = []
    prev = "0" * 64
    last_ts = ""
    for i, (path, line) in enumerate(journal_lines(home)):
        record = orjson.loads(line)
        assert is_canonical(line, record), f"not canonical: {line!r}"
        assert record["seq"] == i, f"{path.name}: seq {record['seq']} where {i} was expected"
        assert record["prev"] == prev, f"seq {i}: prev does not chain"
        assert record["ts"] >= last_ts, f"seq {i}: ts {record['ts']} < {last_ts}"
        ts = record["ts"]
        assert path.name == f"audit-{ts[0:4]}{ts[5:7]}{ts[8:10]}.jsonl", (path.name, ts)
        prev, last_ts = leaf_hex(line), ts
        records.append(record)
    return records


@pytest.fixture
def verify_ok() -> Callable[..., Any]:
    """`verify_ok(home, **kw)` runs tradetrail.verify.trail.verify_trail and asserts it passes."""

    def _verify(home: Path, **kw: Any) -> Any:
        from tradetrail.verify.trail import verify_trail

        report = verify_trail(home, **kw)
        assert report.ok, "verify failed:\n" + "\n".join(
            f"{f.file}:{f.line} seq={f.seq}: {f.message}" for f in report.faults[:20]
        )
        return report

    return _verify


def wait_until(predicate: Callable[[], object], timeout: float = 5.0, step: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def console_script() -> Path:
    """The installed `tradetrail` command: beside the running interpreter (its venv's bin),
    else on PATH. A missing one fails the test rather than skipping it: the README's install
    makes it, so its absence is a broken install, not an optional feature."""
    beside = Path(sys.executable).parent / "tradetrail"
    if beside.is_file():
        return beside
    found = shutil.which("tradetrail")
    if found is None:
        pytest.fail(
            f"the tradetrail console script is not installed: neither {beside} nor PATH has it"
            " (install the checkout with pip install -e '.[test]')",
            pytrace=False,
        )
    return Path(found)


def file_mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777


class JournalFault:
    """Makes os.write fail with `err` for descriptors of journal day files while active; `calls`
    names more os functions taking a descriptor to fail the same way (a read-only remount fails
    ftruncate and fsync as well)."""

    def __init__(
        self,
        monkeypatch: pytest.MonkeyPatch,
        err: int = errno.ENOSPC,
        calls: tuple[str, ...] = ("write",),
    ) -> None:
        self.active = False
        self.hits = 0
        for name in calls:
            monkeypatch.setattr(os, name, self._failing(getattr(os, name), err))

    def _failing(self, real: Callable[..., Any], err: int) -> Callable[..., Any]:
        def call(fd: int, *args: Any) -> Any:
            if self.active:
                try:
                    target = os.readlink(f"/proc/self/fd/{fd}")
                except OSError:
                    target = ""
                if "/journal/audit-" in target:
                    self.hits += 1
                    raise OSError(err, os.strerror(err))
            return real(fd, *args)

        return call


class JournalSpace:
    """A journal filesystem of `capacity` bytes (the day files' total size) while active: a
    write past it is cut short and the next one fails with ENOSPC, as on a full disk; cutting a
    file off gives the space back."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capacity: int = 0) -> None:
        self.active = False
        self.capacity = capacity
        self.refused = 0
        real_write = os.write

        def write(fd: int, data: Any) -> int:
            if self.active:
                try:
                    target = os.readlink(f"/proc/self/fd/{fd}")
                except OSError:
                    target = ""
                if "/journal/audit-" in target:
                    folder = os.path.dirname(target)
                    used = sum(
                        os.stat(os.path.join(folder, name)).st_size
                        for name in os.listdir(folder)
                        if name.startswith("audit-")
                    )
                    room = self.capacity - used
                    if room <= 0:
                        self.refused += 1
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    return real_write(fd, memoryview(data)[:room])
            return real_write(fd, data)

        monkeypatch.setattr(os, "write", write)

    def fill(self, home: Path) -> int:
        """Make the disk full as the journal stands now; returns the bytes in use."""
        used = sum(p.stat().st_size for p in (home / "journal").glob("audit-*"))
        self.capacity, self.active = used, True
        return used


WRITER_THREAD_NAME = "tradetrail-writer"


class GateClock(SimClock):
    """A SimClock that can hold the writer thread: while the gate is shut, the writer blocks
    on its next clock reading (so records pile up in the queue and form one batch)."""

    def __init__(self, start: str = "2024-03-01T12:00:00") -> None:
        super().__init__(start)
        self.gate = threading.Event()
        self.gate.set()
        self.writer_held = threading.Event()

    def __call__(self) -> int:
        if not self.gate.is_set() and threading.current_thread().name == WRITER_THREAD_NAME:
            self.writer_held.set()
            self.gate.wait()
        return super().__call__()

    def hold_writer(self) -> None:
        self.writer_held.clear()
        self.gate.clear()
        assert self.writer_held.wait(5), "the writer thread never read the clock"

    def release_writer(self) -> None:
        self.gate.set()


# ------------------------------------------------------------------- the shared demo trail

DEMO_TODAY = datetime(2024, 3, 6, tzinfo=UTC)
"""The demo's "today": it seals 2024-03-04 and 2024-03-05 and leaves 2024-03-06 open."""
DEMO_EVENTS, DEMO_SEED = 3000, 11


def tree_digest(root: Path) -> str:
    """A digest of every path, mode and file content under `root`: what must not change."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        h.update(str(path.relative_to(root)).encode() + b"\0")
        h.update(oct(file_mode(path)).encode() + b"\0")
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()


def copy_demo_trail(source: Path, dest: Path) -> Path:
    """A private copy of a demo trail; modes are kept (sealed day files stay read-only)."""
    shutil.copytree(source, dest, copy_function=shutil.copy2)
    return dest


@pytest.fixture(scope="session")
def demo_trail_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The one demo trail of the session (3,000 events over two sealed days and an open one,
    seed 11), simulated once. Never modify it: take `demo_trail` (a fresh copy) or
    `copy_demo_trail`; the session checks at its end that nobody wrote to it."""
    from tradetrail.demo import run_demo

    home = tmp_path_factory.mktemp("demo-template") / "trail"
    run_demo(home, events=DEMO_EVENTS, days=2, seed=DEMO_SEED, today=DEMO_TODAY)
    before = tree_digest(home)
    yield home
    assert tree_digest(home) == before, "a test wrote to the shared demo trail template"


@pytest.fixture
def demo_trail_readonly(demo_trail_template: Path) -> Path:
    """The shared demo trail itself, for tests that only read it."""
    return demo_trail_template


@pytest.fixture
def demo_trail(demo_trail_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the shared demo trail that the test may change."""
    return copy_demo_trail(demo_trail_template, tmp_path / "trail")
