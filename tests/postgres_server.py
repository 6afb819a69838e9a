"""A throw-away PostgreSQL cluster for tests: initdb in a temp dir, Unix socket only, no fsync.

Real server, no mocks: the PostgreSQL index is only trusted if triggers, grants, partitions and
COPY are exercised for real. tests/conftest.py loads this module as a pytest plugin, so the
`postgres_dsns` fixture is there for every test module without an import: one server per
session, started by the first test that asks for it (`.server.create_database()` makes a fresh
database). When no PostgreSQL is installed the fixture fails rather than skips: CI installs it,
and a silently skipped backend is an untested one. psycopg is imported only once a server
starts, so the sessions that need none do not pay for it.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest

if TYPE_CHECKING:
    import psycopg

SUPERUSER = "tt_super"
OWNER_ROLE = "tt_owner"
APP_ROLE = "tt_app"
OWNER_PASSWORD = "owner-secret-8Jq"
APP_PASSWORD = "app-secret-3Vx"
_SETTINGS = """
listen_addresses = ''
unix_socket_directories = '{socket_dir}'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 50
shared_buffers = 128MB
max_wal_size = 2GB
log_min_messages = warning
"""
_HBA = f"""
local all {SUPERUSER} trust
local all all scram-sha-256
"""


def find_bindir() -> Path | None:
    """The directory holding initdb/pg_ctl: `pg_config --bindir`, the Debian layout, PATH."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=30
            ).stdout.strip()
            candidates.append(Path(out))
        except (OSError, subprocess.SubprocessError):
            pass
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    versions.sort(key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0)
    candidates.extend(Path(p) for p in reversed(versions))
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(os.path.realpath(initdb)).parent)
    for directory in candidates:
        if all((directory / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return directory
    return None


@dataclass(frozen=True)
class PostgresDsns:
    """Connection URLs of one test database: superuser (setup and inspection only), the owner
    role (runs migrations) and the app role (INSERT and SELECT once migrated)."""

    server: PostgresServer
    database: str
    superuser: str
    owner: str
    app: str
    owner_role: str = OWNER_ROLE
    app_role: str = APP_ROLE


class PostgresServer:
    """One cluster in a temp dir. As root the server runs as the `postgres` OS user (PostgreSQL
    refuses root); the test process connects through the socket either way."""

    def __init__(self, bindir: Path | None = None) -> None:
        found = bindir or find_bindir()
        if found is None:
            raise RuntimeError(
                "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found via "
                "`pg_config --bindir`, /usr/lib/postgresql/*/bin or PATH; install PostgreSQL "
                "(e.g. `apt-get install postgresql`, as scripts/test does)"
            )
        self.bindir = found
        self.base = Path(tempfile.mkdtemp(prefix="tt-pg-"))  # short: socket paths are <108
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self._as_user: str | None = None
        self._started = False
        self._names = itertools.count(1)
        self._lock = threading.Lock()

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._as_user:
            command = ["runuser", "-u", self._as_user, "--", *command]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=120, cwd=self.base, check=False
        )
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(
                f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}"
                f"{result.stderr}\n{log}"
            )

    def start(self) -> PostgresServer:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        if os.geteuid() == 0:
            try:
                entry = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError(
                    "running as root, but there is no `postgres` OS user to run the server as "
                    "(PostgreSQL refuses root)"
                ) from None
            if not shutil.which("runuser"):
                raise RuntimeError("running as root needs `runuser` to start PostgreSQL")
            self._as_user = "postgres"
            os.chown(self.base, entry.pw_uid, entry.pw_gid)
        os.chmod(self.base, 0o700)
        self._run(
            "initdb", "-D", str(self.data), "-U", SUPERUSER, "-E", "UTF8", "--locale=C",
            "--auth=trust", "--no-sync",
        )  # fmt: skip
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(_SETTINGS.format(socket_dir=self.base))
        (self.data / "pg_hba.conf").write_text(_HBA)
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")
        self._started = True
        atexit.register(self.stop)
        with self._superuser_connection("postgres") as conn:
            for role, password in ((OWNER_ROLE, OWNER_PASSWORD), (APP_ROLE, APP_PASSWORD)):
                conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")

    def stop(self) -> None:
        if self._started:
            self._started = False
            with contextlib.suppress(RuntimeError, OSError, subprocess.SubprocessError):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def dsn(self, user: str, database: str, password: str | None = None) -> str:
        auth = f"{user}:{quote(password, safe='')}" if password else user
        return f"postgresql://{auth}@/{database}?host={quote(str(self.base), safe='')}"

    def _superuser_connection(self, database: str) -> psycopg.Connection[tuple[object, ...]]:
        import psycopg

        return psycopg.connect(self.dsn(SUPERUSER, database), autocommit=True)

    def create_database(self, name: str | None = None) -> PostgresDsns:
        """A new empty database owned by the owner role (nothing migrated yet)."""
        with self._lock:
            name = name or f"tt_test_{next(self._names)}"
        with self._superuser_connection("postgres") as conn:
            conn.execute(f'CREATE DATABASE "{name}" OWNER {OWNER_ROLE}')
        return PostgresDsns(
            server=self,
            database=name,
            superuser=self.dsn(SUPERUSER, name),
            owner=self.dsn(OWNER_ROLE, name, OWNER_PASSWORD),
            app=self.dsn(APP_ROLE, name, APP_PASSWORD),
        )


@pytest.fixture(scope="session")
def postgres_dsns() -> Iterator[PostgresDsns]:
    """DSNs of a fresh database on the session's throw-away server (owner, app, superuser);
    `.server.create_database()` makes more. Fails when PostgreSQL is not installed."""
    import psycopg

    failure = None
    try:
        server = PostgresServer().start()
    except (RuntimeError, OSError, psycopg.Error) as exc:
        failure = f"cannot start a test PostgreSQL server: {exc}"
    if failure is not None:
        pytest.fail(failure, pytrace=False)
    try:
        yield server.create_database()
    finally:
        server.stop()
