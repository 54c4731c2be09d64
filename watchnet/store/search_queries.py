"""The forensic search's reads: sightings by filter or by id, a subject's alerts and photos, thumbnails.

Why the filters are a dataclass and not SQL handed in by the caller: ``watchnet.services.search`` decides
*what* to look for (and ranks by vectors in memory); only this module knows the columns and indexes, so a
filter is a plain value here and becomes a ``WHERE`` clause only inside these functions. One filter is
used in three ways: a page ordered by time, the full id set when it is small (then every candidate is
scored exactly), and a check of vector-first candidates.

Ids travel in chunks of ``IN_CHUNK`` because every backend bounds the number of bound parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, cast

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping

from watchnet.store.schema import Camera
from watchnet.store.schema_sightings import SightingRecord
from watchnet.store.schema_watchlist import AlertRow, SubjectPhoto
from watchnet.store.sightings import vector_from_bytes

_s = cast(sa.Table, SightingRecord.__table__)
_cameras = cast(sa.Table, Camera.__table__)
_alerts = cast(sa.Table, AlertRow.__table__)
_photos = cast(sa.Table, SubjectPhoto.__table__)
IN_CHUNK = 900  # ids per IN (...) list: below every backend's bound-parameter limit


@dataclass(frozen=True, slots=True)
class SearchResult:
    """One sighting found: where, when, what, and why it ranked (``score`` for similarity/plate).

    The store fills the sighting's own fields; the search service sets ``score`` and ``match`` (with
    ``dataclasses.replace``) when it ranks, and the API's response model is validated from this row.
    """

    id: int
    camera: str
    track_id: int
    label: str
    first_seen: datetime
    last_seen: datetime
    plate: str | None
    thumbnail_path: str | None
    attributes: dict[str, Any]
    score: float | None = None
    match: str = "filter"  # filter | plate | face | appearance | alert

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-able values (datetimes in ISO 8601), as exports write it."""
        out = asdict(self)
        out["first_seen"], out["last_seen"] = self.first_seen.isoformat(), self.last_seen.isoformat()
        return out


@dataclass(frozen=True, slots=True)
class SightingFilter:
    """Conditions on sightings, all of which must hold; an unset field matches everything.

    Times compare with the sighting's own span: ``seen_since`` on ``last_seen``, ``started_since`` and
    ``started_until`` on ``first_seen`` (both indexed with the camera). ``ids`` limits the match to
    those sightings (an empty tuple matches none); ``plate_key`` is an exact ``plate_key`` match.
    """

    cameras: tuple[str, ...] = ()
    seen_since: datetime | None = None
    started_since: datetime | None = None
    started_until: datetime | None = None
    label: str | None = None
    upper_colour: str | None = None
    lower_colour: str | None = None
    vehicle_colour: str | None = None
    age_band: str | None = None
    gender: str | None = None
    plate_key: str | None = None
    ids: tuple[int, ...] | None = None

    def narrows(self) -> bool:
        """True when any condition is set (an empty filter lets the search skip the database)."""
        return bool(self.cameras) or any(
            value is not None for value in (
                self.seen_since, self.started_since, self.started_until, self.label, self.upper_colour,
                self.lower_colour, self.vehicle_colour, self.age_band, self.gender, self.plate_key, self.ids,
            )
        )


@dataclass(frozen=True, slots=True)
class SubjectAlert:
    """One alert raised on a watchlist subject, as a subject's history shows it."""

    id: int
    camera: str
    track_id: int
    kind: str
    at: datetime
    state: str
    subject_name: str
    score: float
    crop_path: str | None
    snapshot_path: str | None


@dataclass(frozen=True, slots=True)
class AlertSpot:
    """Where and when an alert was raised on a track (to tell whether a sighting is that track)."""

    camera: str
    track_id: int
    at: datetime


def filtered_page(engine: Engine, where: SightingFilter, offset: int, limit: int) -> tuple[list[SearchResult], int]:
    """One page of matching sightings, newest first, and how many match in all."""
    with engine.connect() as conn:
        clauses = _clauses(conn, where)
        query = _select().where(*clauses).order_by(_s.c.first_seen.desc(), _s.c.id.desc()).limit(limit).offset(offset)
        rows = [_result(r) for r in conn.execute(query).mappings()]
        count = sa.select(sa.func.count()).select_from(_s).where(*clauses)
        return rows, int(conn.execute(count).scalar_one())


def ids_if_at_most(engine: Engine, where: SightingFilter, bound: int) -> np.ndarray | None:
    """Ids of the matching sightings when there are at most ``bound`` of them, else None.

    Counted first (inside the index, at most ``bound + 1`` entries, nothing sent back), so an unselective
    filter costs an index walk instead of shipping tens of thousands of ids to Python.
    """
    with engine.connect() as conn:
        clauses = _clauses(conn, where)
        bounded = sa.select(_s.c.id).where(*clauses).limit(bound + 1).subquery()
        if conn.execute(sa.select(sa.func.count()).select_from(bounded)).scalar_one() > bound:
            return None
        return np.array(conn.execute(sa.select(_s.c.id).where(*clauses)).scalars().all(), np.int64)


def passing_ids(engine: Engine, where: SightingFilter, ids: Sequence[int]) -> list[int]:
    """Those of ``ids`` whose sightings match ``where`` (in no particular order)."""
    out: list[int] = []
    with engine.connect() as conn:
        clauses = _clauses(conn, where)
        for start in range(0, len(ids), IN_CHUNK):
            chunk = list(ids[start : start + IN_CHUNK])
            out += conn.execute(sa.select(_s.c.id).where(_s.c.id.in_(chunk), *clauses)).scalars().all()
    return out


def rows_by_id(engine: Engine, where: SightingFilter, ids: Sequence[int]) -> list[SearchResult]:
    """The sightings with these ids that match ``where`` (in no particular order)."""
    out: list[SearchResult] = []
    with engine.connect() as conn:
        clauses = _clauses(conn, where)
        for start in range(0, len(ids), IN_CHUNK):
            query = _select().where(_s.c.id.in_(list(ids[start : start + IN_CHUNK])), *clauses)
            out += [_result(r) for r in conn.execute(query).mappings()]
    return out


def has_alerts_table(engine: Engine) -> bool:
    """Whether the watchlist's migration has created the ``alerts`` table in this database."""
    return "alerts" in sa.inspect(engine).get_table_names()


def subject_alerts(engine: Engine, subject_id: int, since: datetime, limit: int) -> list[SubjectAlert]:
    """A subject's alerts since ``since``, newest first, at most ``limit``."""
    query = (
        sa.select(_alerts.c.id, _alerts.c.camera, _alerts.c.track_id, _alerts.c.kind, _alerts.c.at, _alerts.c.state,
                  _alerts.c.subject_name, _alerts.c.score, _alerts.c.crop_path, _alerts.c.snapshot_path)
        .where(_alerts.c.subject_id == subject_id, _alerts.c.at >= since)
        .order_by(_alerts.c.at.desc()).limit(limit)
    )
    with engine.connect() as conn:
        return [
            SubjectAlert(id=r["id"], camera=r["camera"], track_id=r["track_id"], kind=r["kind"], at=r["at"],
                         state=r["state"], subject_name=r["subject_name"], score=float(r["score"]),
                         crop_path=r["crop_path"], snapshot_path=r["snapshot_path"])
            for r in conn.execute(query).mappings()
        ]


def subject_embeddings(engine: Engine, subject_id: int, model: str) -> list[np.ndarray]:
    """The face embeddings of a subject's enrolled photos made by the embedder ``model``."""
    query = sa.select(_photos.c.embedding).where(_photos.c.subject_id == subject_id, _photos.c.model == model)
    with engine.connect() as conn:
        return [vector_from_bytes(b) for b in conn.execute(query).scalars()]


def confirmed_face_alerts(engine: Engine, tracks: Sequence[tuple[str, int]], states: Sequence[str]) -> list[AlertSpot]:
    """Face alerts in one of ``states`` raised on any of these (camera, track id) pairs."""
    query = sa.select(_alerts.c.camera, _alerts.c.track_id, _alerts.c.at).where(
        _alerts.c.kind == "face", _alerts.c.state.in_(list(states)),
        sa.tuple_(_alerts.c.camera, _alerts.c.track_id).in_(list(tracks)),
    )
    with engine.connect() as conn:
        return [AlertSpot(c, int(t), at) for c, t, at in conn.execute(query).all()]


def thumbnail_path(engine: Engine, sighting_id: int) -> str | None:
    """The stored thumbnail path of a sighting, or None (no such sighting, or none stored)."""
    query = sa.select(_s.c.thumbnail_path).where(_s.c.id == sighting_id)
    with engine.connect() as conn:
        return cast(str | None, conn.execute(query).scalar_one_or_none())


def _clauses(conn: Connection, f: SightingFilter) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = []
    if f.cameras:  # ids as literals, not a sub-select: SQLite then picks the (camera_id, first_seen) index
        ids = conn.execute(sa.select(_cameras.c.id).where(_cameras.c.name.in_(f.cameras))).scalars().all()
        where.append(_s.c.camera_id.in_(ids) if ids else sa.false())
    if f.seen_since is not None:
        where.append(_s.c.last_seen >= f.seen_since)
    if f.started_since is not None:
        where.append(_s.c.first_seen >= f.started_since)
    if f.started_until is not None:
        where.append(_s.c.first_seen <= f.started_until)
    for column, value in (
        (_s.c.label, f.label), (_s.c.upper_colour, f.upper_colour), (_s.c.lower_colour, f.lower_colour),
        (_s.c.vehicle_colour, f.vehicle_colour), (_s.c.age_band, f.age_band), (_s.c.gender, f.gender),
        (_s.c.plate_key, f.plate_key),
    ):
        if value is not None:
            where.append(column == value)
    if f.ids is not None:
        where.append(_in_ids(list(f.ids)))
    return where


def _select() -> sa.Select[Any]:
    return sa.select(_s, _cameras.c.name.label("camera")).join(_cameras, _cameras.c.id == _s.c.camera_id)


def _result(row: RowMapping) -> SearchResult:
    return SearchResult(
        id=row["id"], camera=row["camera"], track_id=row["track_id"], label=row["label"],
        first_seen=row["first_seen"], last_seen=row["last_seen"], plate=row["plate"],
        thumbnail_path=row["thumbnail_path"], attributes=row["attributes"],
    )


def _in_ids(ids: list[int]) -> sa.ColumnElement[bool]:
    if not ids:
        return sa.false()
    return sa.or_(*(_s.c.id.in_(ids[i : i + IN_CHUNK]) for i in range(0, len(ids), IN_CHUNK)))
