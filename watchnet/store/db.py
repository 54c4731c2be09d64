"""Open the database: one engine per process, tuned per backend, migrated to the newest schema.

SQLite is the zero-set-up default (a file under ``Settings.home``); PostgreSQL is for deployments with
many cameras or several processes. Both run the same Alembic migrations, so code above this module
never branches on the backend, except the recorder's upsert which needs the dialect's ``insert``.

SQLite notes. WAL lets the API read while cameras write; ``synchronous=NORMAL`` is durable enough in
WAL mode and much faster; ``busy_timeout`` makes a writer wait for another writer instead of failing.
We also take over transaction control from the ``sqlite3`` module (its legacy mode starts transactions
late and commits before DDL), so a transaction begins with an explicit ``BEGIN``. Connections opened
with the execution option ``sqlite_begin="IMMEDIATE"`` take the write lock up front: a transaction that
started as a reader cannot be upgraded to a writer while another writer is busy (SQLite answers
"database is locked" at once, without waiting), so every write path asks for ``IMMEDIATE``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from watchnet.config import Settings
from watchnet.errors import StoreError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: How long a SQLite writer waits for another writer, and a PostgreSQL client for the server to answer.
DEFAULT_BUSY_TIMEOUT_S = 30.0
DEFAULT_CONNECT_TIMEOUT_S = 10
_PG_MIGRATION_LOCK = 0x77617463  # "watc": any constant; serialises concurrent `migrate` calls on PG

_migrate_lock = threading.Lock()


def public_url(url: str | URL) -> str:
    """The URL with its password masked, safe for logs and error messages."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable database URL>"


def is_sqlite(engine: Engine | Connection) -> bool:
    """True when the engine or connection talks to SQLite."""
    return engine.dialect.name == "sqlite"


def make_engine(url: str | URL, *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> Engine:
    """Create an engine for a SQLite or PostgreSQL URL (``postgresql://`` means psycopg 3).

    Nothing is connected yet; a SQLite file's parent directory is created now so that a bad home
    directory fails here, with its path in the message, rather than deep inside the first query.
    """
    try:
        parsed = sa.make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"invalid database URL {public_url(url)!r}: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, busy_timeout_s)
    if backend in ("postgresql", "postgres"):
        return _postgres_engine(parsed)
    raise StoreError(
        f"unsupported database {public_url(parsed)!r}: use sqlite:///path/to/file.db or "
        "postgresql://user:password@host/dbname"
    )


def _json_default(value: Any) -> Any:
    """Let numpy scalars/arrays and tuples from the analysis stages land in JSON columns."""
    if hasattr(value, "tolist"):  # numpy ndarray and numpy scalar types
        return value.tolist()
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot store {type(value).__name__} in a JSON column")


def _json_dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, separators=(",", ":"))


def _sqlite_engine(url: URL, busy_timeout_s: float) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the directory {path.parent} for the database {path}: {exc.strerror or exc}; "
                "point WATCHNET_HOME (or database_url) at a writable directory"
            ) from exc
        if not os.access(path.parent, os.W_OK):
            raise StoreError(
                f"the directory {path.parent} of the database {path} is not writable; "
                "point WATCHNET_HOME (or database_url) at a writable directory"
            )
        url = url.set(database=str(path))
    engine = sa.create_engine(url, json_serializer=_json_dumps)
    busy_ms = int(busy_timeout_s * 1000)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, see the module docstring
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        if mode not in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE"):
            raise ValueError(f"sqlite_begin must be DEFERRED, IMMEDIATE or EXCLUSIVE, not {mode!r}")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _postgres_engine(url: URL) -> Engine:
    url = url.set(drivername="postgresql+psycopg")
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = DEFAULT_CONNECT_TIMEOUT_S
    return sa.create_engine(
        url, json_serializer=_json_dumps, pool_pre_ping=True, connect_args=connect_args
    )


def alembic_config() -> Config:
    """An Alembic config pointing at the packaged migrations; no alembic.ini or CWD needed.

    Pass a connection as ``cfg.attributes["connection"]`` before running a command with it.
    """
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the database to the newest schema (``alembic upgrade head``), in one transaction.

    Safe to call on every start: an up-to-date database is left alone. Concurrent callers are
    serialised (a process lock, plus an advisory lock on PostgreSQL, SQLite's write lock otherwise).
    """
    cfg = alembic_config()
    try:
        with _migrate_lock, engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "heads")
    except SQLAlchemyError as exc:
        raise StoreError(_describe(engine, exc)) from exc


def _describe(engine: Engine, exc: SQLAlchemyError) -> str:
    cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    reason = cause[0] if cause else type(exc).__name__
    hint = (
        "check that the file and its directory are writable"
        if is_sqlite(engine)
        else "check that the server is running and reachable, and the user, password and database name"
    )
    return f"cannot open the database {public_url(engine.url)}: {reason}; {hint}"


def open_store(settings: Settings) -> Engine:
    """The engine for ``settings.resolved_database_url``, migrated and ready for use."""
    engine = make_engine(settings.resolved_database_url)
    try:
        migrate(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """ORM sessions for the read/write paths that want them; objects stay usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)
