"""A throw-away PostgreSQL server for tests, as a pytest plugin (``pytest_plugins = ["tests.postgres"]``).

Fixtures:
- ``pg_server`` (session): one server for the whole run, started from the installed binaries in a
  temporary directory and stopped at the end; or an existing server if ``WATCHNET_TEST_POSTGRES_URL``
  gives its admin URL (e.g. a CI service container).
- ``pg_url``: a fresh, empty database on that server for one test, dropped afterwards.
- ``db_url``: parametrized over ``sqlite`` (a file under ``tmp_path``) and ``postgresql`` (``pg_url``),
  so one test body checks both backends. The PostgreSQL case carries the ``postgres`` marker.

Why a real server and not a mock: the store's upserts, JSONB and timestamptz behave differently per
backend, which is exactly what the tests must catch. The server runs with fsync off: its data is
thrown away, and per-test databases then cost milliseconds.

Binaries are looked up in ``WATCHNET_PG_BIN``, next to ``pg_ctl`` on PATH, then in
``/usr/lib/postgresql/<version>/bin`` (Debian's ``postgresql`` package, see scripts/system-deps.sh).
If none is found the tests fail, saying so, unless ``WATCHNET_SKIP_POSTGRES=1`` (then they skip).
initdb and postgres refuse to run as root, so under root they run as the ``postgres`` system user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql

ENV_SKIP = "WATCHNET_SKIP_POSTGRES"
ENV_URL = "WATCHNET_TEST_POSTGRES_URL"
ENV_BIN = "WATCHNET_PG_BIN"
START_TIMEOUT_S = 60.0
START_ATTEMPTS = 3  # a free port can be taken by someone else between choosing and binding it
SERVER_OPTIONS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=200")


def find_pg_bin() -> Path | None:
    """The directory holding initdb, postgres and pg_ctl, or None."""
    candidates: list[Path] = []
    if os.environ.get(ENV_BIN):
        candidates.append(Path(os.environ[ENV_BIN]))
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).parent)

    def version(p: Path) -> float:
        with contextlib.suppress(ValueError):
            return float(p.parent.name)
        return 0.0

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    for directory in candidates:
        if all((directory / tool).is_file() for tool in ("initdb", "postgres", "pg_ctl")):
            return directory
    return None


@dataclass(frozen=True)
class PostgresServer:
    """A reachable server and the admin URL (SQLAlchemy form) used to create test databases."""

    admin_url: str

    def url(self, dbname: str) -> str:
        """SQLAlchemy URL of one database on this server."""
        return sa.make_url(self.admin_url).set(database=dbname).render_as_string(hide_password=False)

    def _admin(self) -> psycopg.Connection[Any]:
        libpq = sa.make_url(self.admin_url).set(drivername="postgresql")
        conninfo = libpq.render_as_string(hide_password=False)
        return psycopg.connect(conninfo, autocommit=True, connect_timeout=10)

    def create_database(self) -> str:
        """Create an empty database with a unique name and return the name."""
        name = f"watchnet_test_{uuid.uuid4().hex[:12]}"
        with self._admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def drop_database(self, name: str) -> None:
        """Drop a test database, closing any connection a test left open."""
        with self._admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class _LocalServer:
    """initdb + postgres in a temporary directory, owned by the postgres user when we are root."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="watchnet-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sock"
        self.log = self.root / "postgres.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._as_user: dict[str, Any] = {}
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")  # KeyError: no such user; the caller explains
            self._as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self.sockets.mkdir()
        if self._as_user:
            os.chown(self.sockets, self._as_user["user"], self._as_user["group"])

    def _run(self, *args: str) -> None:
        done = subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]], cwd=self.root, capture_output=True, text=True,
            check=False, **self._as_user,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")

    def start(self) -> str:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        for attempt in range(1, START_ATTEMPTS + 1):
            self.port = _free_port()
            if self._start_once():
                return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
            if attempt == START_ATTEMPTS or "already in use" not in self._log_tail():
                break
        raise RuntimeError(f"PostgreSQL did not start; log {self.log}:\n{self._log_tail()}")

    def _start_once(self) -> bool:
        options = [arg for opt in SERVER_OPTIONS for arg in ("-c", opt)]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(self.bin_dir / "postgres"), "-D", str(self.data), "-k", str(self.sockets),
                 "-p", str(self.port), "-c", "listen_addresses=127.0.0.1", *options],
                cwd=self.root, stdout=log, stderr=subprocess.STDOUT, **self._as_user,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            with contextlib.suppress(psycopg.OperationalError), psycopg.connect(
                host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", connect_timeout=2
            ):
                return True
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"PostgreSQL not ready after {START_TIMEOUT_S:.0f} s; log:\n{self._log_tail()}")

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else "(no log)"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(RuntimeError):
                self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "30")
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the test session (see the module docstring)."""
    if os.environ.get(ENV_SKIP) == "1":
        pytest.skip(f"PostgreSQL tests skipped: {ENV_SKIP}=1")
    if os.environ.get(ENV_URL):
        yield PostgresServer(os.environ[ENV_URL])
        return
    bin_dir = find_pg_bin()
    if bin_dir is None:
        pytest.fail(
            "PostgreSQL server binaries (initdb, postgres, pg_ctl) not found in $WATCHNET_PG_BIN, on PATH or "
            "in /usr/lib/postgresql/*/bin. Install them with `bash scripts/system-deps.sh` (Debian package "
            f"`postgresql`), point {ENV_URL} at a server, or set {ENV_SKIP}=1 to skip these tests.",
            pytrace=False,
        )
    try:
        server = _LocalServer(bin_dir)
    except KeyError:
        pytest.fail("running as root, but there is no `postgres` system user to run the server as",
                    pytrace=False)
    try:
        admin_url = server.start()
    except RuntimeError as exc:
        server.stop()
        pytest.fail(str(exc), pytrace=False)
    try:
        yield PostgresServer(admin_url)
    finally:
        server.stop()


@pytest.fixture()
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty database, dropped after the test."""
    name = pg_server.create_database()
    try:
        yield pg_server.url(name)
    finally:
        pg_server.drop_database(name)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database URL, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'watchnet.db'}"
    return str(request.getfixturevalue("pg_url"))
