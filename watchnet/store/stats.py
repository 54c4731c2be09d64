"""Counts of tracks per camera, class and hour: the SQL behind ``watchnet.services.stats``.

Why the hour is cut in SQL: a window of a year holds millions of tracks, and grouping them in the
database sends back at most (cameras x classes x hours) rows. The two backends spell "the hour of a
timestamp" differently, so this is one of the few places that branch on the dialect.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from watchnet.store.schema import Camera, TrackRecord

_tracks = cast(sa.Table, TrackRecord.__table__)
_cameras = cast(sa.Table, Camera.__table__)


@dataclass(frozen=True, slots=True)
class HourCount:
    """How many tracks of one class started on one camera in one hour (``hour`` is its tz-aware UTC start)."""

    camera: str
    label: str
    hour: datetime
    count: int


def hourly_track_counts(engine: Engine, since: datetime, until: datetime, camera: str | None = None
                        ) -> list[HourCount]:
    """Tracks that started in [since, until], counted per hour, camera and class (in that order)."""
    hour = _hour(engine).label("hour")
    query = (
        sa.select(_cameras.c.name, _tracks.c.label, hour, sa.func.count().label("n"))
        .join(_cameras, _cameras.c.id == _tracks.c.camera_id)
        .where(_tracks.c.first_seen >= since, _tracks.c.first_seen <= until)
        .group_by(_cameras.c.name, _tracks.c.label, hour)
        .order_by(hour, _cameras.c.name, _tracks.c.label)
    )
    if camera:
        query = query.where(_cameras.c.name == camera)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [HourCount(camera=r[0], label=r[1], hour=datetime.fromisoformat(r[2]).replace(tzinfo=UTC), count=r[3])
            for r in rows]


def _hour(engine: Engine) -> sa.ColumnElement[str]:
    if engine.dialect.name == "sqlite":
        return sa.func.strftime("%Y-%m-%dT%H:00:00", _tracks.c.first_seen)
    return sa.func.to_char(sa.func.date_trunc("hour", _tracks.c.first_seen), 'YYYY-MM-DD"T"HH24:00:00')
