"""`tradetrail serve --listen` subprocesses for the service benchmarks (http_ingest.py, fleet.py):
a trail made, a token minted, the service started on a free loopback port and waited for."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

import tradetrail
from tradetrail.compliance.tokens import create_token


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_trail(home: Path, origin: str | None = None) -> str:
    """A new trail at `home` and a bearer token for it with ingest and read scope."""
    tradetrail.open(home, writer="embedded", serve=False, origin=origin).close()
    secret, _ = create_token(home, "bench", ["ingest", "read"])
    return secret


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a service: ours without TRADETRAIL_* settings (defaults: fsync)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADETRAIL_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    env.update(extra)
    return env


class Served:
    """One `tradetrail serve --home H --listen 127.0.0.1:PORT` process."""

    def __init__(self, home: Path, *args: str, **env: str) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home.parent / f"serve-{home.name}.log"
        command = [sys.executable, "-m", "tradetrail", "serve", "--home", str(home)]
        command += ["--listen", f"127.0.0.1:{self.port}", *args]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                command, env=child_env(**env), stdout=log, stderr=subprocess.STDOUT
            )

    def wait(self, timeout: float = 120.0) -> Served:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.home}: the service exited: {self.tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.home}: the service did not start: {self.tail()}")
            time.sleep(0.05)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its waited-for children (/proc/PID/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    return ticks / os.sysconf("SC_CLK_TCK")
