"""Alerts: the list with filters, one alert with its decision history, its pictures, the live WebSocket,
and the decisions (confirm by two distinct users, dismiss with an optional negative example, close).

Reads go through the alerts repository (``watchnet.store.alerts``: the tables are the record); decisions go
through the alert manager
(``watchnet.services.alerts``), which owns the rules (who may confirm twice, what a dismissal teaches the
matcher) and writes the audit log. Every decision is also pushed to connected dashboards, so the second
operator sees "1 of 2" change to confirmed without reloading.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, WebSocket, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from watchnet.api.bus_socket import follow_bus
from watchnet.api.deps import (
    CAN_OPERATE,
    CAN_READ_ALERTS,
    AlertReader,
    EngineDep,
    JourneysDep,
    OperatorUser,
    SettingsDep,
    StateDep,
    require,
)
from watchnet.api.files import picture
from watchnet.api.schemas import Id, Strict
from watchnet.api.state import ApiState
from watchnet.core.config import Settings
from watchnet.core.records import Alert
from watchnet.services.accounts import Principal
from watchnet.services.sinks.base import alert_json
from watchnet.store import evidence as store
from watchnet.store.alerts import AlertFilter, AlertStore, StoredAlert
from watchnet.vision.clips import clip_path

router = APIRouter(prefix="/api/alerts", tags=["alerts"], dependencies=[Depends(require(*CAN_READ_ALERTS))])
ws_router = APIRouter(prefix="/api/alerts", tags=["alerts"])
STATES = "^(new|confirmed|closed|dismissed)$"


class DecisionOut(BaseModel):
    """One decision as stored (``watchnet.store.alerts.DecisionInfo``)."""

    model_config = ConfigDict(from_attributes=True)

    action: str
    actor: str
    at: datetime
    from_state: str
    to_state: str
    note: str


class AlertOut(BaseModel):
    id: int
    subject_id: int | None
    subject_name: str
    kind: str
    score: float
    camera: str
    lat: float | None
    lon: float | None
    track_id: int
    at: datetime
    state: str
    confirmations: int = Field(description="Distinct users who confirmed so far")
    confirmations_needed: int
    crop: str | None
    snapshot: str | None
    decisions: list[DecisionOut] | None = None
    matches: int = Field(default=1, description="Matches grouped here (one subject, one camera, alerts.group_window_s)")
    last_seen: datetime | None = Field(default=None, description="The group's latest match (`at` is its first)")
    track_ids: list[int] = Field(default_factory=list, description="Every track that matched")


class AlertPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[AlertOut]


class DecisionIn(Strict):
    note: str = Field(default="", max_length=2000)


class DismissIn(DecisionIn):
    negative: bool = Field(default=False, description="Keep the face as a negative example of the subject")


def alert_out(settings: Settings, row: StoredAlert, confirmations: int, decisions: list[DecisionOut] | None = None,
              ) -> AlertOut:
    """The stored alert as the API shows it: picture URLs instead of server paths, the group filled in."""
    return AlertOut(
        id=row.id, subject_id=row.subject_id, subject_name=row.subject_name, kind=row.kind,
        score=round(float(row.score), 4), camera=row.camera, lat=row.lat, lon=row.lon,
        track_id=row.track_id, at=row.at, state=row.state, confirmations=confirmations,
        confirmations_needed=settings.alerts.confirmations,
        crop=f"/api/alerts/{row.id}/crop.jpg" if row.crop_path else None,
        snapshot=f"/api/alerts/{row.id}/snapshot.jpg" if row.snapshot_path else None, decisions=decisions,
        matches=row.matches or 1, last_seen=row.last_seen or row.at,
        track_ids=list(row.track_ids or [row.track_id]),
    )


def load_alert(state: ApiState, alert: Id, with_decisions: bool = True) -> AlertOut:
    """The alert as the API shows it, or 404."""
    found = AlertStore(state.engine).get(alert, by_time=True)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert with id {alert}")
    row, history = found
    decisions = [DecisionOut.model_validate(d, from_attributes=True) for d in history]
    confirmations = len({d.actor for d in decisions if d.action == "confirm"})
    return alert_out(state.settings, row, confirmations, decisions if with_decisions else None)


@router.get("", response_model=AlertPage)
def alerts(
    settings: SettingsDep,
    engine: EngineDep,
    state_: str | None = Query(None, alias="state", pattern=STATES),
    camera: str | None = Query(None, max_length=64),
    subject_id: int | None = Query(None, ge=1, le=2**62),
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=10**7),
) -> AlertPage:
    """Alerts matching every filter, newest first."""
    where = AlertFilter(state=state_ or None, subject_id=subject_id or None, camera=camera or None, since=since,
                        until=until)
    store = AlertStore(engine)
    total = store.count(where)
    rows = store.page(where, limit=limit, offset=offset)
    counts = store.confirmations([r.id for r in rows])
    return AlertPage(total=total, limit=limit, offset=offset,
                     items=[alert_out(settings, r, counts.get(r.id, 0)) for r in rows])


@router.get("/{alert}", response_model=AlertOut, responses={404: {}})
def alert(alert: Id, state: StateDep) -> AlertOut:
    """One alert with every decision taken on it."""
    return load_alert(state, alert)


def _picture(state: ApiState, alert: Id, column: Literal["crop_path", "snapshot_path"]) -> FileResponse:
    found = AlertStore(state.engine).pictures(alert, column)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert with id {alert}")
    return picture(state.settings, found[0], f"alert {alert}")


@router.get("/{alert}/crop.jpg", response_class=FileResponse, responses={404: {}})
def crop(alert: Id, state: StateDep) -> FileResponse:
    """The face crop that matched."""
    return _picture(state, alert, "crop_path")


@router.get("/{alert}/snapshot.jpg", response_class=FileResponse, responses={404: {}})
def snapshot(alert: Id, state: StateDep) -> FileResponse:
    """The whole frame at the match (operators see it as recorded)."""
    return _picture(state, alert, "snapshot_path")


@router.get("/{alert}/clip.mp4", response_class=FileResponse, responses={200: {"content": {"video/mp4": {}}},
                                                                   404: {}})
def clip(alert: Id, state: StateDep) -> FileResponse:
    """A few seconds of video before and after the match (H.264 MP4, written next to the snapshot once the
    seconds after the match have passed: 404 until then, or when clips are off). Same readers as the snapshot."""
    found = AlertStore(state.engine).pictures(alert, "snapshot_path")
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert with id {alert}")
    return picture(state.settings, str(clip_path(found[0])) if found[0] else None, f"alert {alert}")


class EvidenceTrack(BaseModel):
    sighting_id: int
    track_id: int
    first_seen: datetime
    last_seen: datetime
    thumbnail: str | None


class EvidenceOut(BaseModel):
    alert: AlertOut
    photos: list[str] = Field(description="The subject's enrolled reference faces")
    tracks: list[EvidenceTrack] = Field(description="Stored best crop of each grouped track, in time order")
    journey: dict[str, Any] | None = Field(default=None, description="The cross-camera journey, when linked")
    journey_note: str = ""


@router.get("/{alert}/evidence", response_model=EvidenceOut, responses={404: {}})
def evidence(alert: Id, user: AlertReader, state: StateDep, journeys: JourneysDep) -> EvidenceOut:
    """Everything the decision view shows side by side: the alert, the subject's enrolled photos, the
    stored crops of every grouped track and, for operators, the journey across cameras (audited)."""
    out = load_alert(state, alert)
    photos = [f"/api/watchlist/photos/{p}/face.jpg" for p in
              (store.subject_photo_ids(state.engine, out.subject_id) if out.subject_id else [])]
    found = store.alert_sightings(state.engine, out.camera, out.track_ids or [out.track_id], out.at,
                                  out.last_seen or out.at)
    tracks = [EvidenceTrack(sighting_id=s.id, track_id=s.track_id, first_seen=s.first_seen, last_seen=s.last_seen,
                            thumbnail=f"/api/sightings/{s.id}/thumbnail.jpg" if s.has_thumbnail else None)
              for s in found]
    journey, note = None, "no stored sighting of this track yet (a track is stored when it ends)"
    if user.role not in CAN_OPERATE:
        note = "journeys are shown to operators"
    elif found:
        journey, note = journeys.of_sightings([s.id for s in found], actor=user.name,
                                              reason=f"alert {alert} decision view")
    return EvidenceOut(alert=out, photos=photos, tracks=tracks, journey=journey, journey_note=note)


async def _decide(state: ApiState, alert: Id, action: str, user: Principal, note: str, negative: bool = False,
                  ) -> AlertOut:
    await run_in_threadpool(load_alert, state, alert, False)  # 404 before anything else
    # the manager enforces the rules, audits and publishes the update
    await run_in_threadpool(state.services.alerts.decide, action, alert, user.name, note, negative)
    return await run_in_threadpool(load_alert, state, alert)


@router.post("/{alert}/confirm", response_model=AlertOut, responses={404: {}, 409: {}},
             dependencies=[Depends(require(*CAN_OPERATE))])
async def confirm(alert: Id, user: OperatorUser, state: StateDep, body: DecisionIn | None = None) -> AlertOut:
    """Confirm the match; it becomes confirmed once enough distinct users did (default two)."""
    return await _decide(state, alert, "confirm", user, body.note if body else "")


@router.post("/{alert}/dismiss", response_model=AlertOut, responses={404: {}, 409: {}},
             dependencies=[Depends(require(*CAN_OPERATE))])
async def dismiss(alert: Id, user: OperatorUser, state: StateDep, body: DismissIn | None = None) -> AlertOut:
    """Reject the match (a false alarm); with ``negative`` the face vetoes future look-alike matches."""
    return await _decide(state, alert, "dismiss", user, body.note if body else "", bool(body and body.negative))


@router.post("/{alert}/close", response_model=AlertOut, responses={404: {}, 409: {}},
             dependencies=[Depends(require(*CAN_OPERATE))])
async def close(alert: Id, user: OperatorUser, state: StateDep, body: DecisionIn | None = None) -> AlertOut:
    """Close a handled alert."""
    return await _decide(state, alert, "close", user, body.note if body else "")


def live_message(alert: Alert) -> dict[str, Any]:
    """What a dashboard gets for an alert raised or decided: no server paths, picture URLs instead."""
    body = alert_json(alert)
    body.pop("crop_path", None)
    body.pop("snapshot_path", None)
    body["crop"] = f"/api/alerts/{alert.id}/crop.jpg" if alert.id and alert.crop_path else None
    return {"type": "alert", "alert": body}


@ws_router.websocket("/ws")
async def alerts_ws(websocket: WebSocket) -> None:
    """Alerts as they are raised and whenever a decision changes one: ``{"type": "alert", "alert": {...}}``.

    The dashboard tells the two apart by the alert id (new to it, or one it shows) and reloads the
    alert for its confirmations. A client that falls behind loses its oldest messages (the bus is
    bounded), and reloads the list when it reconnects.
    """
    async def send(alert: Alert) -> None:
        await websocket.send_json(live_message(alert))

    await follow_bus(websocket, send)
