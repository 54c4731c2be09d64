"""What the console's alert decision view puts side by side: the subject's enrolled photos and the stored
sightings (best crop per track) of the tracks an alert grouped. Read-only queries; the route adds URLs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from watchnet.store.journeys import journeys_of
from watchnet.store.schema import Camera
from watchnet.store.schema_sightings import SightingRecord
from watchnet.store.schema_watchlist import SubjectPhoto

_photos = cast(sa.Table, SubjectPhoto.__table__)
_sightings = cast(sa.Table, SightingRecord.__table__)
_cameras = cast(sa.Table, Camera.__table__)


@dataclass(frozen=True)
class TrackSighting:
    id: int
    track_id: int
    first_seen: datetime
    last_seen: datetime
    has_thumbnail: bool


def subject_photo_ids(engine: Engine, subject_id: int, limit: int = 8) -> list[int]:
    """The subject's reference photos, oldest first (what the operator compares the match against)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(_photos.c.id).where(_photos.c.subject_id == subject_id)
                            .order_by(_photos.c.id).limit(limit)).all()
    return [int(r[0]) for r in rows]


def alert_sightings(engine: Engine, camera: str, track_ids: list[int], first: datetime, last: datetime,
                    slack_s: float = 120.0, limit: int = 24) -> list[TrackSighting]:
    """Sightings of ``track_ids`` on ``camera`` that overlap the alert's span (tracker ids restart per run,
    so the time window tells this run's track from an older one with the same id)."""
    if not track_ids:
        return []
    slack = timedelta(seconds=slack_s)
    query = (sa.select(_sightings.c.id, _sightings.c.track_id, _sightings.c.first_seen, _sightings.c.last_seen,
                       _sightings.c.thumbnail_path)
             .join(_cameras, _cameras.c.id == _sightings.c.camera_id)
             .where(_cameras.c.name == camera, _sightings.c.track_id.in_(track_ids),
                    _sightings.c.first_seen <= last + slack, _sightings.c.last_seen >= first - slack)
             .order_by(_sightings.c.first_seen).limit(limit))
    with engine.connect() as conn:
        return [TrackSighting(int(r.id), int(r.track_id), r.first_seen, r.last_seen, bool(r.thumbnail_path))
                for r in conn.execute(query).all()]


def linked_journeys(engine: Engine, sighting_ids: list[int]) -> dict[int, int]:
    """sighting id -> journey id for those of an alert's sightings that the linker joined to a journey."""
    with engine.connect() as conn:
        return journeys_of(conn, sighting_ids)
