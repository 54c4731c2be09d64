"""Tracks and their events from the store, with thumbnails behind the login (operators and admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict

from watchnet.api.deps import CAN_OPERATE, EngineDep, SettingsDep, require
from watchnet.api.files import picture
from watchnet.api.schemas import Id
from watchnet.core.records import CLASSES
from watchnet.store.queries import TrackRow, count_tracks, get_track, list_events, list_tracks

router = APIRouter(prefix="/api", tags=["tracks"], dependencies=[Depends(require(*CAN_OPERATE))])
LABEL = "^(" + "|".join(CLASSES) + ")$"


class TrackOut(BaseModel):
    id: int
    run_id: int
    camera: str
    track_id: int
    label: str
    first_seen: datetime
    last_seen: datetime
    best_score: float
    hits: int
    attributes: dict[str, Any]
    thumbnail: str | None
    path: list[list[float]] | None = None


class TrackPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[TrackOut]


class EventOut(BaseModel):
    """An ``EventRow`` as the API shows it (without the frame index)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    run_id: int
    camera: str
    track_id: int
    kind: str
    label: str
    rule: str | None
    at: datetime
    detail: dict[str, Any]


def track_out(row: TrackRow, with_path: bool = False) -> TrackOut:
    return TrackOut(
        id=row.id, run_id=row.run_id, camera=row.camera, track_id=row.track_id, label=row.label,
        first_seen=row.first_seen, last_seen=row.last_seen, best_score=round(row.best_score, 3), hits=row.hits,
        attributes=row.attributes, thumbnail=f"/api/tracks/{row.id}/thumbnail.jpg" if row.snapshot_path else None,
        path=[list(p) for p in row.path] if with_path else None,
    )


@router.get("/tracks", response_model=TrackPage)
def tracks(
    engine: EngineDep,
    camera: str | None = Query(None, max_length=64),
    label: str | None = Query(None, pattern=LABEL),
    since: datetime | None = None,
    until: datetime | None = None,
    run_id: int | None = Query(None, ge=1, le=2**62),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=10**7),
) -> TrackPage:
    """Tracks visible at some time in [since, until], newest first."""
    rows = list_tracks(engine, camera, label, since, until, run_id, limit, offset)
    total = count_tracks(engine, camera, label, since, until, run_id)
    return TrackPage(total=total, limit=limit, offset=offset, items=[track_out(r) for r in rows])


def find_track(track: Id, engine: EngineDep) -> TrackRow:
    """One stored track by its row id, as ``queries`` shapes it, or 404 (a dependency of the track routes)."""
    found = get_track(engine, track)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no track with id {track}")
    return found


FoundTrack = Annotated[TrackRow, Depends(find_track)]


@router.get("/tracks/{track}", response_model=TrackOut, responses={404: {}})
def track(row: FoundTrack) -> TrackOut:
    """One track with its thinned trajectory ([frame, cx, cy, w, h] rows)."""
    return track_out(row, with_path=True)


@router.get("/tracks/{track}/thumbnail.jpg", response_class=FileResponse, responses={404: {}})
def thumbnail(row: FoundTrack, settings: SettingsDep) -> FileResponse:
    """The track's best crop."""
    return picture(settings, row.snapshot_path, f"track {row.id}")


@router.get("/events", response_model=list[EventOut])
def events(
    engine: EngineDep,
    camera: str | None = Query(None, max_length=64),
    kind: str | None = Query(None, max_length=32),
    track_id: int | None = Query(None, ge=0, le=2**62),
    run_id: int | None = Query(None, ge=1, le=2**62),
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=10**7),
) -> list[EventOut]:
    """Track life-cycle and rule events, newest first (a track's timeline: filter by run_id + track_id)."""
    rows = list_events(engine, camera, kind, None, since, until, run_id, track_id, limit, offset)
    return [EventOut.model_validate(r) for r in rows]
