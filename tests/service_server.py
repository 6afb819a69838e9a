"""A real `tradetrail serve --listen` on loopback, started and stopped by the tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tradetrail.compliance.tokens import create_token

SERVE = [sys.executable, "-m", "tradetrail", "serve"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADETRAIL_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    env["TRADETRAIL_CHECKPOINT_SPACING"] = "0"
    env["TRADETRAIL_CHECKPOINT_INTERVAL"] = "0.2"
    env.update(extra)
    return env


class Service:
    """One `tradetrail serve --listen` process."""

    def __init__(self, home: Path, port: int | None = None, *args: str, **env: str) -> None:
        self.home = home
        self.port = port or free_port()
        self.args = args
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        scheme = "https" if "--tls-cert" in args else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"

    def start(self, verify: Any = True) -> Service:
        """Start and wait for /healthz; `verify`: httpx's (an ssl.SSLContext for TLS)."""
        log = open(self.home.parent / f"serve-{self.port}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [*SERVE, "--home", str(self.home), "--listen", f"127.0.0.1:{self.port}", *self.args],
            env=child_env(**self.env),
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None, self.log()
            try:
                if httpx.get(f"{self.url}/healthz", verify=verify).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the service did not start: " + self.log()
            time.sleep(0.05)

    def log(self) -> str:
        path = self.home.parent / f"serve-{self.port}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(60)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(30)


@contextmanager
def running(home: Path, *args: str, **env: str) -> Iterator[Service]:
    service = Service(home, None, *args, **env).start()
    try:
        yield service
    finally:
        service.stop()


def token(home: Path, *scopes: str, **options: Any) -> str:
    secret, _ = create_token(home, options.pop("name", "test"), list(scopes), **options)
    return secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}
