"""Statistics: how many tracks per camera, class and hour in a window (counts only, no people)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel

from watchnet.api.deps import CAN_VIEW_LIVE, get_state, require
from watchnet.store.schema import Camera, TrackRecord

router = APIRouter(prefix="/api/stats", tags=["statistics"], dependencies=[Depends(require(*CAN_VIEW_LIVE))])
_tracks = cast(sa.Table, TrackRecord.__table__)
_cameras = cast(sa.Table, Camera.__table__)
MAX_WINDOW = timedelta(days=366)


class Bucket(BaseModel):
    camera: str
    label: str
    hour: datetime
    count: int


class Stats(BaseModel):
    since: datetime
    until: datetime
    total: int
    per_camera: dict[str, int]
    per_class: dict[str, int]
    hourly: list[Bucket]


def _hour(engine: sa.Engine) -> sa.ColumnElement[str]:
    if engine.dialect.name == "sqlite":
        return sa.func.strftime("%Y-%m-%dT%H:00:00", _tracks.c.first_seen)
    return sa.func.to_char(sa.func.date_trunc("hour", _tracks.c.first_seen), 'YYYY-MM-DD"T"HH24:00:00')


@router.get("", response_model=Stats, responses={400: {}})
def stats(request: Request, since: datetime | None = None, until: datetime | None = None,
          camera: str | None = Query(None, max_length=64)) -> Stats:
    """Tracks that started in [since, until] (default: the last 24 hours), counted per camera/class/hour."""
    until = _utc(until) if until else datetime.now(UTC)
    since = _utc(since) if since else until - timedelta(hours=24)
    if since > until or until - since > MAX_WINDOW:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "since must be before until, at most a year apart")
    engine = get_state(request).engine
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
    hourly = [Bucket(camera=r[0], label=r[1], hour=datetime.fromisoformat(r[2]).replace(tzinfo=UTC), count=r[3])
              for r in rows]
    per_camera: dict[str, int] = {}
    per_class: dict[str, int] = {}
    for b in hourly:
        per_camera[b.camera] = per_camera.get(b.camera, 0) + b.count
        per_class[b.label] = per_class.get(b.label, 0) + b.count
    return Stats(since=since, until=until, total=sum(per_camera.values()), per_camera=per_camera,
                 per_class=per_class, hourly=hourly)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
