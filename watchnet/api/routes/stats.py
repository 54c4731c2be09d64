"""Statistics: how many tracks per camera, class and hour in a window (counts only, no people)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict

from watchnet.api.deps import CAN_VIEW_LIVE, EngineDep, require
from watchnet.services.stats import track_stats

router = APIRouter(prefix="/api/stats", tags=["statistics"], dependencies=[Depends(require(*CAN_VIEW_LIVE))])


class Bucket(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    camera: str
    label: str
    hour: datetime
    count: int


class Stats(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    since: datetime
    until: datetime
    total: int
    per_camera: dict[str, int]
    per_class: dict[str, int]
    hourly: list[Bucket]


@router.get("", response_model=Stats, responses={400: {}})
def stats(engine: EngineDep, since: datetime | None = None, until: datetime | None = None,
          camera: str | None = Query(None, max_length=64)) -> Stats:
    """Tracks that started in [since, until] (default: the last 24 hours), counted per camera/class/hour."""
    return Stats.model_validate(track_stats(engine, since, until, camera))
