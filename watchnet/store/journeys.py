"""The journeys repository: every SQL statement the linker, follow mode and journey queries need.

Functions take an open ``Connection`` so the caller decides the transaction (the linker writes a
sighting's links and membership in one). Sightings are read with their vectors here, through the
sightings tables, so nothing above the store recomputes a crop.

Why candidates stay cheap as history grows: ``candidates`` reads one time window on the
``(camera_id, first_seen, label, last_seen)`` index of ``sightings`` for the neighbour cameras only;
its cost depends on how many tracks fall inside the window, not on how many are stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from watchnet.core.records import TrackEnd
from watchnet.store.schema import Camera, TrackRecord
from watchnet.store.schema_journeys import (
    Follow,
    FollowHop,
    Journey,
    JourneyLink,
    JourneyMember,
    LinkerState,
    TransitBin,
)
from watchnet.store.schema_sightings import SightingRecord, SightingVector
from watchnet.store.schema_watchlist import AlertRow
from watchnet.store.sightings import vector_from_bytes

_cameras = cast(sa.Table, Camera.__table__)
_tracks = cast(sa.Table, TrackRecord.__table__)
_sightings = cast(sa.Table, SightingRecord.__table__)
_vectors = cast(sa.Table, SightingVector.__table__)
_journeys = cast(sa.Table, Journey.__table__)
_members = cast(sa.Table, JourneyMember.__table__)
_links = cast(sa.Table, JourneyLink.__table__)
_bins = cast(sa.Table, TransitBin.__table__)
_follows = cast(sa.Table, Follow.__table__)
_hops = cast(sa.Table, FollowHop.__table__)
_state = cast(sa.Table, LinkerState.__table__)
_alerts = cast(sa.Table, AlertRow.__table__)

#: Link states that make two sightings one journey.
JOINING = ("auto", "confirmed")


@dataclass(slots=True)
class SightingInfo:
    """What the linker compares: one sighting's place, time, descriptions and vectors."""

    id: int
    camera: str
    label: str
    first_seen: datetime
    last_seen: datetime
    run_id: int | None = None
    track_id: int = 0
    upper_colour: str | None = None
    lower_colour: str | None = None
    vehicle_colour: str | None = None
    plate_key: str | None = None
    lat: float | None = None
    lon: float | None = None
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    provisional: bool = False  # written while its track still ran; the final evidence will update it
    entry: TrackEnd | None = None  # where its track came into the picture (foot point, px/s, height)
    exit: TrackEnd | None = None  # where it left


def _sighting_query() -> sa.Select[Any]:
    s = _sightings
    return sa.select(
        s.c.id, _cameras.c.name.label("camera"), s.c.label, s.c.first_seen, s.c.last_seen, s.c.run_id,
        s.c.track_id, s.c.upper_colour, s.c.lower_colour, s.c.vehicle_colour, s.c.plate_key, _cameras.c.lat,
        _cameras.c.lon, s.c.attributes, s.c.ends,
    ).join(_cameras, _cameras.c.id == s.c.camera_id)


def _infos(conn: Connection, rows: Sequence[Any]) -> list[SightingInfo]:
    infos = [
        SightingInfo(int(r.id), r.camera, r.label, r.first_seen, r.last_seen, r.run_id, int(r.track_id),
                     r.upper_colour, r.lower_colour, r.vehicle_colour, r.plate_key, r.lat, r.lon,
                     provisional=_is_provisional(r.attributes), entry=_end(r.ends, "entry"), exit=_end(r.ends, "exit"))
        for r in rows
    ]
    if infos:
        by_id = {i.id: i for i in infos}
        found = conn.execute(
            sa.select(_vectors.c.sighting_id, _vectors.c.kind, _vectors.c.vector)
            .where(_vectors.c.sighting_id.in_(list(by_id)))
        )
        for sid, kind, blob in found:
            by_id[int(sid)].vectors[kind] = vector_from_bytes(blob)
    return infos


def _end(ends: Any, key: str) -> TrackEnd | None:
    return TrackEnd.from_list(ends.get(key)) if isinstance(ends, dict) else None


def _is_provisional(attributes: Any) -> bool:
    return isinstance(attributes, dict) and bool(attributes.get("provisional"))


def still_provisional(conn: Connection, ids: Iterable[int]) -> dict[int, bool]:
    """sighting id -> whether it is still provisional, for those of the given ids that still exist."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = conn.execute(sa.select(_sightings.c.id, _sightings.c.attributes).where(_sightings.c.id.in_(wanted)))
    return {int(i): _is_provisional(a) for i, a in rows}


def provisional_ids(conn: Connection, after_id: int, upto_id: int) -> list[int]:
    """Ids in ``(after_id, upto_id]`` a restarted linker must settle: still provisional, or made final
    while no linker ran (the journey member still has the provisional time span)."""
    rows = conn.execute(
        sa.select(_sightings.c.id, _sightings.c.attributes, _sightings.c.last_seen, _members.c.last_seen)
        .outerjoin(_members, _members.c.sighting_id == _sightings.c.id)
        .where(_sightings.c.id > after_id, _sightings.c.id <= upto_id))
    return [int(i) for i, a, last, member_last in rows
            if _is_provisional(a) or (member_last is not None and member_last != last)]


def new_sightings(conn: Connection, after_id: int, limit: int) -> list[SightingInfo]:
    """Sightings with an id above ``after_id``, oldest first (the linker's feed)."""
    rows = conn.execute(_sighting_query().where(_sightings.c.id > after_id).order_by(_sightings.c.id).limit(limit))
    return _infos(conn, rows.all())


def sightings_by_id(conn: Connection, ids: Iterable[int]) -> list[SightingInfo]:
    """The given sightings (missing ids are left out), in id order."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    rows = conn.execute(_sighting_query().where(_sightings.c.id.in_(wanted)).order_by(_sightings.c.id))
    return _infos(conn, rows.all())


def candidates(
    conn: Connection, *, before_id: int, cameras: Sequence[str] | None, labels: Sequence[str],
    ends_after: datetime, starts_before: datetime, earliest_start: datetime, limit: int,
) -> list[SightingInfo]:
    """Earlier sightings (id below ``before_id``) of ``labels`` on ``cameras`` (None: all) whose time
    span reaches past ``ends_after`` and starts before ``starts_before``; the newest ``limit``.

    ``earliest_start`` bounds the index range scan (first_seen), which keeps the cost flat.
    """
    s = _sightings
    query = _sighting_query().where(
        s.c.id < before_id, s.c.label.in_(list(labels)), s.c.first_seen >= earliest_start,
        s.c.first_seen <= starts_before, s.c.last_seen >= ends_after,
    )
    if cameras is not None:
        query = query.where(_cameras.c.name.in_(list(cameras)))
    rows = conn.execute(query.order_by(s.c.last_seen.desc()).limit(limit)).all()
    return _infos(conn, rows)


# --- journeys and members --------------------------------------------------------------------------

def journey_of(conn: Connection, sighting_id: int) -> int | None:
    """The journey a sighting belongs to (None before the linker has seen it)."""
    found = conn.execute(sa.select(_members.c.journey_id).where(_members.c.sighting_id == sighting_id)).scalar()
    return None if found is None else int(found)


def journeys_of(conn: Connection, sighting_ids: Iterable[int]) -> dict[int, int]:
    """sighting id -> journey id for those of the given sightings that are linked."""
    ids = list(set(sighting_ids))
    if not ids:
        return {}
    rows = conn.execute(sa.select(_members.c.sighting_id, _members.c.journey_id).where(_members.c.sighting_id.in_(ids)))
    return {int(s): int(j) for s, j in rows}


@dataclass(slots=True)
class MemberRow:
    """One sighting of a journey, as the trail shows it."""

    sighting_id: int
    journey_id: int
    camera: str
    first_seen: datetime
    last_seen: datetime


def members(conn: Connection, journey_id: int) -> list[MemberRow]:
    """A journey's sightings in time order."""
    rows = conn.execute(
        sa.select(_members).where(_members.c.journey_id == journey_id).order_by(_members.c.first_seen)
    )
    return [MemberRow(int(r.sighting_id), int(r.journey_id), r.camera, r.first_seen, r.last_seen) for r in rows]


def journey_row(conn: Connection, journey_id: int) -> Any | None:
    """The journey's own row (label, first and last seen), or None."""
    return conn.execute(sa.select(_journeys).where(_journeys.c.id == journey_id)).first()


def create_journey(conn: Connection, sighting: SightingInfo) -> int:
    """A new journey holding only ``sighting``."""
    journey_id = int(conn.execute(
        sa.insert(_journeys).values(label=sighting.label, first_seen=sighting.first_seen,
                                    last_seen=sighting.last_seen, created_at=datetime.now(UTC))
        .returning(_journeys.c.id)
    ).scalar_one())
    add_member(conn, journey_id, sighting)
    return journey_id


def add_member(conn: Connection, journey_id: int, sighting: SightingInfo) -> None:
    """Put a sighting into a journey and stretch the journey's time span over it."""
    conn.execute(sa.insert(_members).values(
        sighting_id=sighting.id, journey_id=journey_id, camera=sighting.camera,
        first_seen=sighting.first_seen, last_seen=sighting.last_seen,
    ))
    _refresh_span(conn, journey_id)


def refresh_member(conn: Connection, sighting: SightingInfo) -> None:
    """Give a journey member its sighting's current time span (a provisional sighting grew final)."""
    conn.execute(sa.update(_members).where(_members.c.sighting_id == sighting.id).values(
        first_seen=sighting.first_seen, last_seen=sighting.last_seen))
    journey = journey_of(conn, sighting.id)
    if journey is not None:
        _refresh_span(conn, journey)


def _refresh_span(conn: Connection, journey_id: int) -> None:
    span = conn.execute(
        sa.select(sa.func.min(_members.c.first_seen), sa.func.max(_members.c.last_seen))
        .where(_members.c.journey_id == journey_id)
    ).one()
    if span[0] is None:
        conn.execute(sa.delete(_journeys).where(_journeys.c.id == journey_id))
        return
    conn.execute(sa.update(_journeys).where(_journeys.c.id == journey_id).values(first_seen=span[0],
                                                                                  last_seen=span[1]))


def move_members(conn: Connection, sighting_ids: Sequence[int], journey_id: int) -> None:
    """Move sightings into ``journey_id``; journeys left empty are deleted, follows go along."""
    if not sighting_ids:
        return
    old = set(journeys_of(conn, sighting_ids).values()) - {journey_id}
    conn.execute(sa.update(_members).where(_members.c.sighting_id.in_(list(sighting_ids))).values(journey_id=journey_id))
    _refresh_span(conn, journey_id)
    for j in old:
        remaining = conn.execute(sa.select(sa.func.count()).where(_members.c.journey_id == j)).scalar_one()
        if not remaining:
            conn.execute(sa.update(_follows).where(_follows.c.journey_id == j).values(journey_id=journey_id))
        _refresh_span(conn, j)


def new_journey_for(conn: Connection, sighting_ids: Sequence[int], label: str) -> int:
    """A fresh journey for the given sightings (moved out of wherever they were)."""
    now = datetime.now(UTC)
    journey_id = int(conn.execute(
        sa.insert(_journeys).values(label=label, first_seen=now, last_seen=now, created_at=now)
        .returning(_journeys.c.id)
    ).scalar_one())
    move_members(conn, sighting_ids, journey_id)
    return journey_id


def overlapping_members(conn: Connection, journey_id: int, start: datetime, end: datetime) -> list[MemberRow]:
    """Members of a journey whose time span overlaps ``[start, end]`` (the simultaneity check)."""
    rows = conn.execute(sa.select(_members).where(
        _members.c.journey_id == journey_id, _members.c.first_seen <= end, _members.c.last_seen >= start,
    ))
    return [MemberRow(int(r.sighting_id), int(r.journey_id), r.camera, r.first_seen, r.last_seen) for r in rows]


# --- links -----------------------------------------------------------------------------------------

def insert_link(conn: Connection, src_id: int, dst_id: int, score: float, state: str,
                evidence: dict[str, Any]) -> int:
    """Record a scored link (``state``: auto, candidate, confirmed or cut)."""
    return int(conn.execute(sa.insert(_links).values(
        src_id=src_id, dst_id=dst_id, score=float(score), state=state, evidence=evidence,
        created_at=datetime.now(UTC), note="",
    ).returning(_links.c.id)).scalar_one())


def rescore_link(conn: Connection, link_id: int, score: float, evidence: dict[str, Any]) -> None:
    """Replace a link's score and evidence (its state is changed, if at all, by ``set_link_state``)."""
    conn.execute(sa.update(_links).where(_links.c.id == link_id).values(score=float(score), evidence=evidence))


def link_row(conn: Connection, link_id: int) -> Any | None:
    return conn.execute(sa.select(_links).where(_links.c.id == link_id)).first()


def set_link_state(conn: Connection, link_id: int, state: str, by: str, note: str) -> None:
    conn.execute(sa.update(_links).where(_links.c.id == link_id).values(
        state=state, decided_by=by, decided_at=datetime.now(UTC), note=note,
    ))


def links_touching(conn: Connection, sighting_ids: Sequence[int], states: Sequence[str] | None = None) -> list[Any]:
    """Links with either end among the given sightings (optionally only in ``states``)."""
    ids = list(sighting_ids)
    if not ids:
        return []
    query = sa.select(_links).where(sa.or_(_links.c.src_id.in_(ids), _links.c.dst_id.in_(ids)))
    if states is not None:
        query = query.where(_links.c.state.in_(list(states)))
    return list(conn.execute(query.order_by(_links.c.id)).all())


def link_into(conn: Connection, dst_id: int) -> Any | None:
    """The joining link that brought ``dst_id`` into its journey (the best, if several)."""
    return conn.execute(
        sa.select(_links).where(_links.c.dst_id == dst_id, _links.c.state.in_(JOINING))
        .order_by(_links.c.score.desc()).limit(1)
    ).first()


# --- learned topology ------------------------------------------------------------------------------

def add_transit(conn: Connection, src_camera: str, dst_camera: str, bin_index: int) -> None:
    """Count one confirmed trip in its bin."""
    updated = conn.execute(sa.update(_bins).where(
        _bins.c.src_camera == src_camera, _bins.c.dst_camera == dst_camera, _bins.c.bin == bin_index,
    ).values(count=_bins.c.count + 1)).rowcount
    if not updated:
        conn.execute(sa.insert(_bins).values(src_camera=src_camera, dst_camera=dst_camera, bin=bin_index, count=1))


def transit_bins(conn: Connection) -> dict[tuple[str, str], dict[int, int]]:
    """Every learned histogram: (src, dst) -> {bin: count}."""
    out: dict[tuple[str, str], dict[int, int]] = {}
    for r in conn.execute(sa.select(_bins)):
        out.setdefault((r.src_camera, r.dst_camera), {})[int(r.bin)] = int(r._mapping["count"])
    return out


# --- follows ---------------------------------------------------------------------------------------

def insert_follow(conn: Connection, journey_id: int, origin_sighting_id: int | None, alert_id: int | None,
                  reason: str, by: str) -> int:
    return int(conn.execute(sa.insert(_follows).values(
        journey_id=journey_id, origin_sighting_id=origin_sighting_id, alert_id=alert_id, reason=reason,
        started_by=by, started_at=datetime.now(UTC), active=True,
    ).returning(_follows.c.id)).scalar_one())


def follow_row(conn: Connection, follow_id: int) -> Any | None:
    return conn.execute(sa.select(_follows).where(_follows.c.id == follow_id)).first()


def follow_for_alert(conn: Connection, alert_id: int) -> Any | None:
    return conn.execute(sa.select(_follows).where(_follows.c.alert_id == alert_id)).first()


def stop_follow(conn: Connection, follow_id: int) -> None:
    conn.execute(sa.update(_follows).where(_follows.c.id == follow_id).values(active=False,
                                                                                stopped_at=datetime.now(UTC)))


def active_follows(conn: Connection, journey_id: int | None = None) -> list[Any]:
    """Active follows (of one journey, or all)."""
    query = sa.select(_follows).where(_follows.c.active.is_(True))
    if journey_id is not None:
        query = query.where(_follows.c.journey_id == journey_id)
    return list(conn.execute(query.order_by(_follows.c.id)).all())


def add_hop(conn: Connection, follow_id: int, sighting_id: int, camera: str, at: datetime, score: float | None,
            evidence: dict[str, Any]) -> int | None:
    """Append a camera to a follow's timeline; None when that sighting is already on it.

    A hop that was retracted and whose sighting joins the journey again is reinstated (same id, the new
    link's score and evidence) and counts as new: it is delivered again.
    """
    exists = conn.execute(sa.select(_hops.c.id, _hops.c.retracted_at).where(
        _hops.c.follow_id == follow_id, _hops.c.sighting_id == sighting_id)).first()
    if exists is not None:
        if exists.retracted_at is None:
            return None
        conn.execute(sa.update(_hops).where(_hops.c.id == exists.id).values(
            retracted_at=None, retracted_reason=None, score=score, evidence=evidence))
        return int(exists.id)
    return int(conn.execute(sa.insert(_hops).values(
        follow_id=follow_id, sighting_id=sighting_id, camera=camera, at=at, score=score, evidence=evidence,
        created_at=datetime.now(UTC),
    ).returning(_hops.c.id)).scalar_one())


def hops(conn: Connection, follow_id: int) -> list[Any]:
    """A follow's timeline in time order, retracted hops included (``retracted_at`` set)."""
    return list(conn.execute(sa.select(_hops).where(_hops.c.follow_id == follow_id).order_by(_hops.c.at)).all())


def retract_hops(conn: Connection, follow_id: int, keep: set[int], reason: str) -> list[Any]:
    """Mark the follow's live hops whose sighting is not in ``keep`` as retracted; return them."""
    gone = [h for h in hops(conn, follow_id) if h.retracted_at is None and int(h.sighting_id) not in keep]
    if gone:
        conn.execute(sa.update(_hops).where(_hops.c.id.in_([int(h.id) for h in gone])).values(
            retracted_at=datetime.now(UTC), retracted_reason=reason))
    return gone


# --- cursors ---------------------------------------------------------------------------------------

def position(conn: Connection, name: str) -> int:
    found = conn.execute(sa.select(_state.c.position).where(_state.c.name == name)).scalar()
    return int(found or 0)


def set_position(conn: Connection, name: str, value: int) -> None:
    if not conn.execute(sa.update(_state).where(_state.c.name == name).values(position=value)).rowcount:
        conn.execute(sa.insert(_state).values(name=name, position=value))


# --- alerts (read only) ----------------------------------------------------------------------------

def alerts_after(conn: Connection, after_id: int, limit: int = 100) -> list[Any]:
    """Alerts raised after ``after_id`` (id order): the ones follow mode starts from."""
    return list(conn.execute(
        sa.select(_alerts.c.id, _alerts.c.kind, _alerts.c.camera, _alerts.c.track_id, _alerts.c.at,
                  _alerts.c.state, _alerts.c.subject_name)
        .where(_alerts.c.id > after_id).order_by(_alerts.c.id).limit(limit)
    ).all())


def alert_row(conn: Connection, alert_id: int) -> Any | None:
    return conn.execute(sa.select(_alerts).where(_alerts.c.id == alert_id)).first()


def sighting_for_track(conn: Connection, camera: str, track_id: int, at: datetime, slack_s: float) -> int | None:
    """The sighting of a camera's track that spans ``at`` (newest first), or None if not written yet.

    A provisional sighting counts once its track started before ``at``: the track is still running,
    so its stored end is only where it had got to (an alert's follow starts while the person is in view).
    """
    lo, hi = at + timedelta(seconds=slack_s), at - timedelta(seconds=slack_s)
    rows = conn.execute(
        sa.select(_sightings.c.id, _sightings.c.last_seen, _sightings.c.attributes)
        .join(_cameras, _cameras.c.id == _sightings.c.camera_id)
        .where(_cameras.c.name == camera, _sightings.c.track_id == track_id, _sightings.c.first_seen <= lo)
        .order_by(_sightings.c.id.desc()).limit(8)
    ).all()
    for sid, last_seen, attributes in rows:
        if last_seen >= hi or _is_provisional(attributes):
            return int(sid)
    return None


def confirmed_matches(conn: Connection, member_rows: Sequence[MemberRow], slack_s: float) -> list[tuple[int, str]]:
    """(alert id, subject name) of confirmed watchlist alerts raised on one of these sightings' tracks.

    Only a *confirmed* alert names a journey: anonymous journeys stay anonymous.
    """
    if not member_rows:
        return []
    infos = {i.id: i for i in sightings_by_id(conn, [m.sighting_id for m in member_rows])}
    found: list[tuple[int, str]] = []
    cameras = sorted({i.camera for i in infos.values()})
    rows = conn.execute(
        sa.select(_alerts.c.id, _alerts.c.camera, _alerts.c.track_id, _alerts.c.at, _alerts.c.subject_name)
        .where(_alerts.c.state.in_(("confirmed", "closed")), _alerts.c.camera.in_(cameras),
               _alerts.c.track_id.in_(sorted({i.track_id for i in infos.values()})))
    ).all()
    slack = timedelta(seconds=slack_s)
    for r in rows:
        for info in infos.values():
            if (info.camera == r.camera and info.track_id == r.track_id
                    and info.first_seen - slack <= r.at <= info.last_seen + slack):
                found.append((int(r.id), str(r.subject_name)))
                break
    return found


# --- export ----------------------------------------------------------------------------------------

def track_paths(conn: Connection, infos: Sequence[SightingInfo]) -> dict[int, list[list[float]]]:
    """sighting id -> its track's stored path ``[[frame, cx, cy, w, h], ...]`` (the AI City export)."""
    out: dict[int, list[list[float]]] = {}
    for info in infos:
        row = conn.execute(
            sa.select(_tracks.c.path).join(_cameras, _cameras.c.id == _tracks.c.camera_id)
            .where(_cameras.c.name == info.camera, _tracks.c.track_id == info.track_id,
                   _tracks.c.run_id == info.run_id if info.run_id is not None else sa.true())
            .order_by(_tracks.c.id.desc()).limit(1)
        ).first()
        out[info.id] = list(row.path or []) if row is not None else []
    return out


def all_journey_members(conn: Connection, since: datetime | None = None,
                        until: datetime | None = None) -> list[MemberRow]:
    """Every member of every journey overlapping the window (the export's input)."""
    query = sa.select(_members)
    if since is not None:
        query = query.where(_members.c.last_seen >= since)
    if until is not None:
        query = query.where(_members.c.first_seen <= until)
    rows = conn.execute(query.order_by(_members.c.journey_id, _members.c.first_seen))
    return [MemberRow(int(r.sighting_id), int(r.journey_id), r.camera, r.first_seen, r.last_seen) for r in rows]


def set_follow_journey(conn: Connection, follow_id: int, journey_id: int) -> None:
    conn.execute(sa.update(_follows).where(_follows.c.id == follow_id).values(journey_id=journey_id))


def follows_of(conn: Connection, journey_id: int) -> list[Any]:
    """Every follow (active or not) of a journey."""
    return list(conn.execute(sa.select(_follows).where(_follows.c.journey_id == journey_id)).all())


def list_follows(conn: Connection, active: bool | None = True, limit: int = 100) -> list[Any]:
    query = sa.select(_follows)
    if active is not None:
        query = query.where(_follows.c.active.is_(active))
    return list(conn.execute(query.order_by(_follows.c.id.desc()).limit(limit)).all())


def follow_ids(engine: Engine, active: bool | None = True, limit: int = 100) -> list[int]:
    """Ids of follows, newest first (only the active ones unless ``active`` is None or False)."""
    with engine.connect() as conn:
        return [int(r.id) for r in list_follows(conn, active=active, limit=limit)]


def reset_linking(conn: Connection) -> None:
    """Forget every journey, link, follow and the linker's cursors (a bench relinks from scratch)."""
    for table in (_hops, _follows, _links, _members, _journeys, _bins, _state):
        conn.execute(sa.delete(table))


def bulk_singletons(conn: Connection, after_id: int, limit: int) -> int:
    """Put each sighting above ``after_id`` (up to ``limit``) in a journey of its own, in bulk, and move
    the linker's cursor past them: how a bench fills history without linking it one by one. Returns
    the last sighting id handled (``after_id`` when none)."""
    rows = conn.execute(
        sa.select(_sightings.c.id, _sightings.c.label, _sightings.c.first_seen, _sightings.c.last_seen,
                  _cameras.c.name).join(_cameras, _cameras.c.id == _sightings.c.camera_id)
        .where(_sightings.c.id > after_id).order_by(_sightings.c.id).limit(limit)
    ).all()
    if not rows:
        return after_id
    now = datetime.now(UTC)
    ids = conn.execute(
        sa.insert(_journeys).returning(_journeys.c.id, sort_by_parameter_order=True),
        [{"label": r.label, "first_seen": r.first_seen, "last_seen": r.last_seen, "created_at": now} for r in rows],
    ).scalars().all()
    conn.execute(sa.insert(_members), [
        {"sighting_id": r.id, "journey_id": j, "camera": r.name, "first_seen": r.first_seen, "last_seen": r.last_seen}
        for r, j in zip(rows, ids, strict=True)
    ])
    last = int(rows[-1].id)
    set_position(conn, "sightings", last)
    return last


def track_ends(conn: Connection, infos: Sequence[SightingInfo]) -> dict[int, tuple[tuple[float, float], ...]]:
    """sighting id -> (first, last) box centre of its track's stored path (for entry/exit zones)."""
    out: dict[int, tuple[tuple[float, float], ...]] = {}
    keyed = {(i.run_id, i.camera, i.track_id): i.id for i in infos if i.run_id is not None}
    if not keyed:
        return out
    rows = conn.execute(
        sa.select(_tracks.c.run_id, _cameras.c.name, _tracks.c.track_id, _tracks.c.path)
        .join(_cameras, _cameras.c.id == _tracks.c.camera_id)
        .where(_tracks.c.run_id.in_({k[0] for k in keyed}), _cameras.c.name.in_({k[1] for k in keyed}),
               _tracks.c.track_id.in_({k[2] for k in keyed}))
    )
    for run_id, camera, track_id, path in rows:
        sid = keyed.get((run_id, camera, track_id))
        if sid is not None and path:
            points = sorted(path, key=lambda p: p[0])
            first, last = points[0], points[-1]
            out[sid] = ((float(first[1]), float(first[2])), (float(last[1]), float(last[2])))
    return out


def decided_pairs(conn: Connection) -> list[tuple[int, int, bool]]:
    """(sighting, sighting, same) for every link an operator decided: confirmed links are positive
    pairs, cut links negative ones; what a re-id metric refit can learn from."""
    rows = conn.execute(sa.select(_links.c.src_id, _links.c.dst_id, _links.c.state)
                        .where(_links.c.state.in_(("confirmed", "cut"))).order_by(_links.c.id))
    return [(int(s), int(d), state == "confirmed") for s, d, state in rows]
