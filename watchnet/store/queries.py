"""The read path: plain frozen rows for the API, CLI and exports, never ORM objects.

Returning small immutable dataclasses keeps sessions, lazy loading and the schema's column layout
out of the layers above; they can be serialised as they are.

Time filters take tz-aware datetimes (naive ones are read as UTC) or epoch seconds. A track matches
a window when it was visible at some point in it (``last_seen >= since`` and ``first_seen <= until``);
an event matches when it happened in it. Newest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Engine, RowMapping

from watchnet.store.schema import Camera, Run, TrackEventRecord, TrackRecord

DEFAULT_LIMIT = 100
TimeArg = datetime | float | None

_cameras = cast(sa.Table, Camera.__table__)
_runs = cast(sa.Table, Run.__table__)
_tracks = cast(sa.Table, TrackRecord.__table__)
_events = cast(sa.Table, TrackEventRecord.__table__)


@dataclass(frozen=True, slots=True)
class CameraRow:
    """A camera as stored."""

    id: int
    name: str
    url: str
    lat: float | None
    lon: float | None
    created_at: datetime
    settings: dict[str, Any] | None = None  # CameraSettings keys saved from the console


@dataclass(frozen=True, slots=True)
class RunRow:
    """One processing session."""

    id: int
    started_at: datetime
    ended_at: datetime | None
    config: dict[str, Any]
    stats: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class TrackRow:
    """A stored track summary; ``camera`` is the camera's name, datetimes are tz-aware UTC."""

    id: int
    run_id: int
    camera: str
    track_id: int
    label: str
    first_frame: int
    last_frame: int
    first_seen: datetime
    last_seen: datetime
    best_score: float
    hits: int
    best_xyxy: tuple[float, float, float, float] | None
    snapshot_path: str | None
    path: tuple[tuple[int, float, float, float, float], ...]
    attributes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class EventRow:
    """A stored track event; ``at`` is tz-aware UTC."""

    id: int
    run_id: int
    camera: str
    track_id: int
    kind: str
    label: str
    rule: str | None
    frame_index: int
    at: datetime
    detail: dict[str, Any]


def _as_datetime(value: datetime | float) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime.fromtimestamp(value, tz=UTC)


def _check_limit(limit: int) -> int:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    return limit


def _track_filters(
    camera: str | None, label: str | None, since: TimeArg, until: TimeArg, run_id: int | None
) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = []
    if camera is not None:
        where.append(_cameras.c.name == camera)
    if label is not None:
        where.append(_tracks.c.label == label)
    if since is not None:
        where.append(_tracks.c.last_seen >= _as_datetime(since))
    if until is not None:
        where.append(_tracks.c.first_seen <= _as_datetime(until))
    if run_id is not None:
        where.append(_tracks.c.run_id == run_id)
    return where


def list_tracks(
    engine: Engine,
    camera: str | None = None,
    label: str | None = None,
    since: TimeArg = None,
    until: TimeArg = None,
    run_id: int | None = None,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
) -> list[TrackRow]:
    """Tracks matching every given filter, newest first."""
    query = (
        sa.select(_tracks, _cameras.c.name.label("camera"))
        .join(_cameras, _cameras.c.id == _tracks.c.camera_id)
        .where(*_track_filters(camera, label, since, until, run_id))
        .order_by(_tracks.c.first_seen.desc(), _tracks.c.id.desc())
        .limit(_check_limit(limit))
        .offset(offset)
    )
    with engine.connect() as conn:
        return [_track_row(row) for row in conn.execute(query).mappings()]


def count_tracks(
    engine: Engine,
    camera: str | None = None,
    label: str | None = None,
    since: TimeArg = None,
    until: TimeArg = None,
    run_id: int | None = None,
) -> int:
    """How many tracks ``list_tracks`` would return without a limit."""
    query = (
        sa.select(sa.func.count())
        .select_from(_tracks.join(_cameras, _cameras.c.id == _tracks.c.camera_id))
        .where(*_track_filters(camera, label, since, until, run_id))
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def list_events(
    engine: Engine,
    camera: str | None = None,
    kind: str | None = None,
    label: str | None = None,
    since: TimeArg = None,
    until: TimeArg = None,
    run_id: int | None = None,
    track_id: int | None = None,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
) -> list[EventRow]:
    """Track events matching every given filter, newest first."""
    where: list[sa.ColumnElement[bool]] = []
    if camera is not None:
        where.append(_cameras.c.name == camera)
    if kind is not None:
        where.append(_events.c.kind == str(kind))
    if label is not None:
        where.append(_events.c.label == label)
    if since is not None:
        where.append(_events.c.at >= _as_datetime(since))
    if until is not None:
        where.append(_events.c.at <= _as_datetime(until))
    if run_id is not None:
        where.append(_events.c.run_id == run_id)
    if track_id is not None:
        where.append(_events.c.track_id == track_id)
    query = (
        sa.select(_events, _cameras.c.name.label("camera"))
        .join(_cameras, _cameras.c.id == _events.c.camera_id)
        .where(*where)
        .order_by(_events.c.at.desc(), _events.c.id.desc())
        .limit(_check_limit(limit))
        .offset(offset)
    )
    with engine.connect() as conn:
        return [_event_row(row) for row in conn.execute(query).mappings()]


def list_cameras(engine: Engine) -> list[CameraRow]:
    """All cameras ever registered, by name."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(_cameras).order_by(_cameras.c.name)).mappings()
        return [CameraRow(**row) for row in rows]


def list_runs(engine: Engine, limit: int = DEFAULT_LIMIT) -> list[RunRow]:
    """Processing sessions, newest first."""
    query = sa.select(_runs).order_by(_runs.c.started_at.desc(), _runs.c.id.desc()).limit(_check_limit(limit))
    with engine.connect() as conn:
        return [RunRow(**row) for row in conn.execute(query).mappings()]


def get_track(engine: Engine, track_row_id: int) -> TrackRow | None:
    """One stored track by its row id (``TrackRow.id``), or None."""
    query = (
        sa.select(_tracks, _cameras.c.name.label("camera"))
        .join(_cameras, _cameras.c.id == _tracks.c.camera_id)
        .where(_tracks.c.id == track_row_id)
    )
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    return None if row is None else _track_row(row)


def _track_row(row: RowMapping) -> TrackRow:
    xyxy = row["best_xyxy"]
    return TrackRow(
        id=row["id"],
        run_id=row["run_id"],
        camera=row["camera"],
        track_id=row["track_id"],
        label=row["label"],
        first_frame=row["first_frame"],
        last_frame=row["last_frame"],
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
        best_score=row["best_score"],
        hits=row["hits"],
        best_xyxy=(float(xyxy[0]), float(xyxy[1]), float(xyxy[2]), float(xyxy[3])) if xyxy else None,
        snapshot_path=row["snapshot_path"],
        path=tuple((int(p[0]), float(p[1]), float(p[2]), float(p[3]), float(p[4])) for p in row["path"]),
        attributes=row["attributes"],
    )


def _event_row(row: RowMapping) -> EventRow:
    return EventRow(
        id=row["id"],
        run_id=row["run_id"],
        camera=row["camera"],
        track_id=row["track_id"],
        kind=row["kind"],
        label=row["label"],
        rule=row["rule"],
        frame_index=row["frame_index"],
        at=row["at"],
        detail=row["detail"],
    )
