"""The packaged migrations build exactly the schema the models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from watchnet.core.config import Settings
from watchnet.core.errors import StoreError
from watchnet.store.db import alembic_config, make_engine, migrate, open_store
from watchnet.store.tables import load_all_tables

TABLES = {"cameras", "runs", "tracks", "track_events"}


def _head() -> set[str]:
    """Every head: domains add migrations on parallel branches and the store upgrades to all of them."""
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    assert heads
    return heads


def _current(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def test_fresh_migrate_creates_tables_at_head(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    assert set(sa.inspect(engine).get_table_names()) >= TABLES
    assert _current(engine) == _head()
    engine.dispose()


def test_migrate_twice_is_a_noop(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    before = {t: sa.inspect(engine).get_columns(t) for t in TABLES}
    migrate(engine)
    after = {t: sa.inspect(engine).get_columns(t) for t in TABLES}
    assert _current(engine) == _head()
    assert repr(before) == repr(after)
    engine.dispose()


def test_migrated_database_matches_models(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    with engine.connect() as conn:
        opts = {"compare_type": True, "compare_server_default": True}
        context = MigrationContext.configure(conn, opts=opts)
        assert compare_metadata(context, load_all_tables()) == []
    engine.dispose()


def test_constraints_have_convention_names(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    inspector = sa.inspect(engine)
    uniques = [u["name"] for u in inspector.get_unique_constraints("tracks")]
    assert uniques == ["uq_tracks_run_id_camera_id_track_id"]
    assert {fk["name"] for fk in inspector.get_foreign_keys("tracks")} == {
        "fk_tracks_run_id_runs", "fk_tracks_camera_id_cameras"
    }
    assert {ix["name"] for ix in inspector.get_indexes("track_events")} == {
        "ix_track_events_camera_id_at", "ix_track_events_run_id_track_id"
    }
    engine.dispose()


def test_open_store_uses_settings_home(tmp_path: Path) -> None:
    settings = Settings.load(home=tmp_path / "new" / "home")
    engine = open_store(settings)
    assert (tmp_path / "new" / "home" / "watchnet.db").is_file()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    engine.dispose()


def test_unwritable_home_is_a_clear_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the home directory should go")  # unwritable even for root
    with pytest.raises(StoreError, match="not-a-dir") as info:
        open_store(Settings.load(home=blocker / "home"))
    assert "WATCHNET_HOME" in str(info.value)


def test_unreachable_postgres_names_url_without_password() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    engine = make_engine(f"postgresql://watch:s3cret-pw@127.0.0.1:{port}/watchnet")
    assert engine.dialect.driver == "psycopg"
    with pytest.raises(StoreError, match=f"127.0.0.1:{port}/watchnet") as info:
        migrate(engine)
    assert "s3cret-pw" not in str(info.value)
    assert "watch:***@" in str(info.value)


def test_unsupported_url_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="unsupported database"):
        make_engine("mysql://u:p@localhost/x")
