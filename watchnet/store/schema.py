"""The database schema: every table is declared here, on one ``Base``, and nowhere else.

The migrations in ``watchnet/store/migrations/versions`` must always produce exactly this metadata
(a test compares them with Alembic's autogenerate). To change the schema, edit the models here, then
generate the next migration from a scratch database at the current head, review it, and commit it::

    export WATCHNET_DATABASE_URL=sqlite:////tmp/watchnet-dev.db
    alembic -c watchnet/store/alembic.ini upgrade head
    alembic -c watchnet/store/alembic.ini revision --autogenerate --rev-id 0002 -m "add subjects"

Conventions that keep both backends identical: a naming convention so every constraint and index has
a stable name (Alembic can drop it later by name, SQLite batch mode can rebuild it); ``UTCDateTime``
so datetimes come back tz-aware in UTC on SQLite too; ``JSONType`` (JSONB on PostgreSQL); ``BigId``
(64-bit ids on PostgreSQL, SQLite's rowid alias ``INTEGER PRIMARY KEY`` there).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back tz-aware (SQLite keeps no zone of its own).

    Naive datetimes are taken to be UTC already. On SQLite the value is stored as naive UTC text, so
    string order is time order and range filters use the index.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """Now, tz-aware in UTC (the default for created/started columns)."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """The one declarative base; its metadata is what Alembic migrates to."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    # float is explicit: the default mapping for it differs between SQLAlchemy versions (Float or Double)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
        float: sa.Double(),
    }


class Camera(Base):
    """A configured camera; rows outlive runs so history stays attached to a stable id."""

    __tablename__ = "cameras"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    url: Mapped[str] = mapped_column(sa.Text())
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # per-camera settings saved from the console (CameraSettings, only the keys set there): they win over the YAML
    settings: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class Run(Base):
    """One processing session. Tracker ids restart per run, so (run, camera, track_id) names a track."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stats: Mapped[dict[str, Any] | None]


class TrackRecord(Base):
    """The latest summary of one track; rewritten in place as the track grows (see ``Recorder``)."""

    __tablename__ = "tracks"
    __table_args__ = (
        sa.UniqueConstraint("run_id", "camera_id", "track_id"),
        sa.Index("ix_tracks_camera_id_first_seen", "camera_id", "first_seen"),
        sa.Index("ix_tracks_label_first_seen", "label", "first_seen"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("runs.id", ondelete="CASCADE"))
    camera_id: Mapped[int] = mapped_column(sa.ForeignKey("cameras.id", ondelete="CASCADE"))
    track_id: Mapped[int]
    label: Mapped[str] = mapped_column(sa.String(32))
    first_frame: Mapped[int]
    last_frame: Mapped[int]
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    best_score: Mapped[float]
    hits: Mapped[int]
    best_xyxy: Mapped[list[float] | None] = mapped_column(JSONType)
    snapshot_path: Mapped[str | None] = mapped_column(sa.Text())
    # thinned trajectory: [[frame_index, cx, cy, w, h], ...]
    path: Mapped[list[list[float]]] = mapped_column(JSONType, default=list)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)


class TrackEventRecord(Base):
    """An append-only life-cycle or rule event for one track."""

    __tablename__ = "track_events"
    __table_args__ = (
        sa.Index("ix_track_events_camera_id_at", "camera_id", "at"),
        sa.Index("ix_track_events_run_id_track_id", "run_id", "track_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("runs.id", ondelete="CASCADE"))
    camera_id: Mapped[int] = mapped_column(sa.ForeignKey("cameras.id", ondelete="CASCADE"))
    track_id: Mapped[int]
    kind: Mapped[str] = mapped_column(sa.String(32))
    label: Mapped[str] = mapped_column(sa.String(32))
    rule: Mapped[str | None] = mapped_column(sa.String(128))
    frame_index: Mapped[int]
    at: Mapped[datetime]
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
