"""Alembic environment: migrates to ``watchnet.store.schema.Base.metadata``.

Two ways in. ``watchnet.store.db.migrate`` passes an open connection (already inside a transaction)
in ``config.attributes["connection"]``, so the packaged migrations run from an installed wheel with no
alembic.ini. The ``alembic`` command line (``alembic -c watchnet/store/alembic.ini ...``), used to
write new migrations, gets its URL from ``sqlalchemy.url`` or else from ``Settings`` (that is,
``WATCHNET_DATABASE_URL`` or the SQLite file under ``WATCHNET_HOME``).
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

from watchnet.core.config import Settings
from watchnet.store.db import make_engine
from watchnet.store.schema import UTCDateTime
from watchnet.store.tables import load_all_tables

config = context.config
if config.config_file_name is not None and "connection" not in config.attributes:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Write our TypeDecorators as plain SQLAlchemy types: a migration must not import schema.py,
    which will have changed by the time an old migration runs."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _options(dialect_name: str) -> dict[str, Any]:
    return {
        "target_metadata": load_all_tables(),
        "render_as_batch": dialect_name == "sqlite",  # SQLite can only ALTER by copying the table
        "render_item": _render_item,
        "compare_type": True,
        "compare_server_default": True,
    }


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or Settings().resolved_database_url


def _run(connection: Connection) -> None:
    context.configure(connection=connection, **_options(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Print the SQL instead of running it (``alembic upgrade head --sql``)."""
    engine = make_engine(_url())
    context.configure(
        url=engine.url, literal_binds=True, dialect_opts={"paramstyle": "named"},
        **_options(engine.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
