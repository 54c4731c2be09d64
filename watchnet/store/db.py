"""Open the database: one engine per process, tuned per backend, migrated to the newest schema.

SQLite is the zero-set-up default (a file under ``Settings.home``); PostgreSQL is for deployments with
many cameras or several processes. Both run the same Alembic migrations, so code above this module
never branches on the backend, except the recorder's upsert which needs the dialect's ``insert``.

SQLite notes. WAL lets the API read while cameras write; ``synchronous=NORMAL`` is durable enough in
WAL mode and much faster; ``busy_timeout`` (``store.busy_timeout_s``) makes a writer wait for another
writer instead of failing. We also take over transaction control from the ``sqlite3`` module (its
legacy mode starts transactions late and commits before DDL), so a transaction begins with an explicit
``BEGIN``, in one of two modes:

- an explicit transaction (``with conn.begin():``, ``engine.begin()``) is a *write* transaction and
  starts ``BEGIN IMMEDIATE``: it takes the write lock up front, waiting its turn. A transaction that
  started as a reader (``BEGIN DEFERRED``) and then writes cannot wait: SQLite refuses the upgrade at
  once with "database is locked" whenever another writer is busy or has committed since it read (the
  read-check-then-insert of creating a user, under load, failed that way half the time);
- an implicit one (a plain ``conn.execute`` of a query outside ``begin()``) is a reader, ``BEGIN
  DEFERRED``, and never waits for writers (WAL), unless its first statement writes.

The execution option ``sqlite_begin="DEFERRED" | "IMMEDIATE" | "EXCLUSIVE"`` overrides the mode. In
one process, write transactions also queue on a lock (fair, no busy-polling between threads); other
processes are ordered by SQLite's lock and ``busy_timeout``. A writer that still cannot get its turn
raises ``OperationalError: database is locked``, which the API answers with 503 and Retry-After.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker

from watchnet.core.config import Settings, StoreConfig
from watchnet.core.errors import StoreError

__all__ = [  # Engine and Connection are re-exported: the layers above name the type without importing SQLAlchemy
    "BUSY_ERRORS",
    "DEFAULT_CONNECT_TIMEOUT_S",
    "MIGRATIONS_DIR",
    "STORE_ERRORS",
    "Connection",
    "Engine",
    "alembic_config",
    "is_busy",
    "is_sqlite",
    "make_engine",
    "migrate",
    "open_store",
    "public_url",
    "read_connection",
    "session_factory",
    "write_transaction",
]

log = logging.getLogger(__name__)
#: What the store raises when its lock or pool stays busy past its wait: the API answers 503, not 500.
BUSY_ERRORS: tuple[type[Exception], ...] = (OperationalError, PoolTimeoutError)
#: Anything a failed read or write of the store raises (a service that must go on without its record catches these).
STORE_ERRORS: tuple[type[Exception], ...] = (SQLAlchemyError, StoreError)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: How long a PostgreSQL client waits for the server to answer a connect.
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


def make_engine(
    url: str | URL, *, busy_timeout_s: float | None = None, store: StoreConfig | None = None,
) -> Engine:
    """Create an engine for a SQLite or PostgreSQL URL (``postgresql://`` means psycopg 3).

    Nothing is connected yet; a SQLite file's parent directory is created now so that a bad home
    directory fails here, with its path in the message, rather than deep inside the first query.
    ``store`` sizes the pool and the waits; ``busy_timeout_s`` overrides its ``busy_timeout_s``.
    """
    cfg = store or StoreConfig()
    if busy_timeout_s is not None:
        cfg = cfg.model_copy(update={"busy_timeout_s": busy_timeout_s})
    try:
        parsed = sa.make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"invalid database URL {public_url(url)!r}: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, cfg)
    if backend in ("postgresql", "postgres"):
        return _postgres_engine(parsed, cfg)
    raise StoreError(
        f"unsupported database {public_url(parsed)!r}: use sqlite:///path/to/file.db or "
        "postgresql://user:password@host/dbname"
    )


def is_busy(exc: BaseException) -> bool:
    """True for errors that mean "the store is busy, try again": a lock wait or a pool wait ran out."""
    if isinstance(exc, sa.exc.TimeoutError):  # no free connection in the pool within pool_timeout_s
        return True
    if isinstance(exc, sa.exc.OperationalError):
        text = str(getattr(exc, "orig", None) or exc).lower()
        return any(word in text for word in ("locked", "busy", "timeout", "timed out", "could not obtain lock"))
    return False


def _json_default(value: Any) -> Any:
    """Let numpy scalars/arrays and tuples from the analysis stages land in JSON columns."""
    if hasattr(value, "tolist"):  # numpy ndarray and numpy scalar types
        return value.tolist()
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot store {type(value).__name__} in a JSON column")


def _json_dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, separators=(",", ":"))


def _sqlite_engine(url: URL, cfg: StoreConfig) -> Engine:
    database = url.database or ""
    memory = not database or database == ":memory:" or "mode=memory" in database
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
    pool: dict[str, Any] = {} if memory else {
        "pool_size": cfg.pool_size, "max_overflow": cfg.max_overflow, "pool_timeout": cfg.pool_timeout_s,
    }
    engine = sa.create_engine(url, json_serializer=_json_dumps,
                              connect_args={"timeout": cfg.busy_timeout_s, "check_same_thread": False}, **pool)
    busy_ms = int(cfg.busy_timeout_s * 1000)
    writers = _WriterQueue(cfg.busy_timeout_s)

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

    @sa.event.listens_for(engine, "before_execute")
    def _before_execute(conn: Connection, clause: Any, *_args: Any) -> None:
        if not conn.in_transaction():  # the transaction about to begin is SQLAlchemy's autobegin
            conn.info[_IMPLICIT] = "IMMEDIATE" if isinstance(clause, _WRITES) else "DEFERRED"

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        implicit = conn.info.pop(_IMPLICIT, None)
        asked = conn.get_execution_options().get("sqlite_begin")
        mode = asked or implicit or "IMMEDIATE"
        if mode not in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE"):
            raise ValueError(f"sqlite_begin must be DEFERRED, IMMEDIATE or EXCLUSIVE, not {mode!r}")
        if asked is None and mode == "IMMEDIATE" and writers.held_by_this_thread():
            # a transaction opened inside this thread's own write transaction: it can only be a reader
            # (a nested writer would wait for itself), so it must not queue behind its own caller
            mode = "DEFERRED"
        if mode != "DEFERRED":
            writers.acquire(conn)
        try:
            conn.exec_driver_sql(f"BEGIN {mode}")
        except BaseException:
            writers.release(conn)
            raise

    @sa.event.listens_for(engine, "commit")
    @sa.event.listens_for(engine, "rollback")
    def _on_end(conn: Connection) -> None:
        writers.release(conn)

    @sa.event.listens_for(engine, "reset")
    @sa.event.listens_for(engine, "invalidate")
    def _on_reset(_dbapi_connection: Any, record: Any, _detail: Any) -> None:
        writers.release_record(record)  # a connection returned to the pool or dropped never keeps the turn
        if record is not None and getattr(record, "info", None) is not None:
            record.info.pop(_IMPLICIT, None)  # an autobegin that never happened must not mark the next one

    return engine


#: ``conn.info`` key: the mode of the autobegin that SQLAlchemy is about to start.
_IMPLICIT = "watchnet_implicit_begin"
_HOLDS = "watchnet_holds_write_turn"
_WRITES = (sa.Insert, sa.Update, sa.Delete)


class _WriterQueue:
    """The process's write turn on one SQLite file: threads wait here, in turn, not in SQLite's busy loop.

    SQLite's busy handler polls with growing sleeps, so under load a writer that just arrived often
    overtakes one that has waited for seconds; a lock hands the turn over on release. The wait is
    bounded like SQLite's own, and ends with the same "database is locked" error.
    """

    def __init__(self, timeout_s: float) -> None:
        self._lock = threading.Lock()
        self._timeout_s = timeout_s
        self._owner: int | None = None

    def held_by_this_thread(self) -> bool:
        return self._owner == threading.get_ident()

    def acquire(self, conn: Connection) -> None:
        if conn.info.get(_HOLDS):
            return
        if not self._lock.acquire(timeout=self._timeout_s):
            raise sa.exc.OperationalError(
                "BEGIN IMMEDIATE", None,
                Exception(f"database is locked (no write turn within {self._timeout_s:g} s)"),
            )
        self._owner = threading.get_ident()
        conn.info[_HOLDS] = True

    def release(self, conn: Connection) -> None:
        self.release_record(conn)

    def release_record(self, holder: Any) -> None:
        info = getattr(holder, "info", None)
        if info is not None and info.pop(_HOLDS, False):
            self._owner = None
            self._lock.release()


def _postgres_engine(url: URL, cfg: StoreConfig) -> Engine:
    url = url.set(drivername="postgresql+psycopg")
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = DEFAULT_CONNECT_TIMEOUT_S
    return sa.create_engine(
        url, json_serializer=_json_dumps, pool_pre_ping=True, connect_args=connect_args,
        pool_size=cfg.pool_size, max_overflow=cfg.max_overflow, pool_timeout=cfg.pool_timeout_s,
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
    engine = make_engine(settings.resolved_database_url, store=settings.store)
    try:
        migrate(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


@contextlib.contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One write transaction that takes SQLite's write lock up front (``BEGIN IMMEDIATE``, see above).

    Repositories run their statements in it; a service may hold it around several repository calls
    (and its own file writes) so that they commit or roll back together.
    """
    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            yield conn


@contextlib.contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A connection for a group of repository reads; services use it instead of reaching for SQLAlchemy."""
    with engine.connect() as conn:
        yield conn


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """ORM sessions for the read/write paths that want them; objects stay usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)
