"""Cameras: the list with live status from the pipeline, and admin CRUD persisted in the store.

A change is saved in the ``cameras`` table and, when a pipeline is attached (``watchnet serve``), only
that camera is started, restarted or ended; the others go on. Each camera's status says where it stands:
``connecting``, ``running``, ``reconnecting`` (it delivered frames, then lost the stream),
``unreachable`` (it never got a picture; ``error`` says why), ``ended``, ``stopped``, ``failed`` (a file
that cannot be read) or ``offline`` (not in the pipeline). Stream URLs can hold passwords, so only
admins see URLs, and even they see the password masked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from watchnet.api.deps import CAN_VIEW_LIVE, AdminUser, LiveUser, SettingsDep, StateDep, require
from watchnet.api.schemas import Strict
from watchnet.api.state import ApiState
from watchnet.core.config import CameraConfig, CameraSettings
from watchnet.core.errors import InputError, WatchnetError
from watchnet.services.accounts import Principal
from watchnet.services.cameras import effective_settings, update_settings
from watchnet.store import audit
from watchnet.store.cameras import delete_camera as delete_stored_camera
from watchnet.store.queries import count_tracks, list_cameras
from watchnet.store.recorder import Recorder
from watchnet.vision.sources.factory import probe

router = APIRouter(prefix="/api/cameras", tags=["cameras"], dependencies=[Depends(require(*CAN_VIEW_LIVE))])
NAME = r"^[A-Za-z0-9_.\-]{1,64}$"


class CameraStatus(BaseModel):
    state: str = Field(default="offline", description="connecting, running, reconnecting, unreachable, ended, "
                       "stopped, failed or offline")
    fps: float = 0.0
    frames: int = 0
    tracks: int = 0
    error: str | None = Field(default=None, description="Why the camera is not running (last connection error)")
    reconnects: int = 0
    loops: int = Field(default=0, description="Times a looping video file has started again")
    last_frame_age_s: float | None = None


class CameraOut(BaseModel):
    name: str
    lat: float | None = None
    lon: float | None = None
    url: str | None = Field(default=None, description="Only for admins, password masked")
    created_at: datetime | None = None
    status: CameraStatus
    settings: CameraSettings | None = Field(
        default=None, description="What the camera runs with: its YAML settings with those saved in the console on top")


class CameraIn(Strict):
    url: str = Field(min_length=1, max_length=2048)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)


class CameraCreate(CameraIn):
    name: str = Field(pattern=NAME)


class CameraSettingsIn(CameraSettings):
    """The settings to change (the fields sent; the others keep their value); unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


def mask_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _status(state: ApiState, name: str, stats: dict[str, dict[str, Any]]) -> CameraStatus:
    row = stats.get(name, {})
    live = state.live.info(name)
    return CameraStatus(
        state=str(row.get("state", "offline")), fps=float(row.get("fps") or 0.0), frames=int(row.get("frames") or 0),
        tracks=int(row.get("tracks") or 0), error=row.get("error"), reconnects=int(row.get("reconnects") or 0),
        loops=int(row.get("loops") or 0),
        last_frame_age_s=round(float(live["age_s"]), 2) if live else None,
    )


def camera_list(state: ApiState, user: Principal) -> list[CameraOut]:
    stats = state.camera_status()
    out = [
        CameraOut(name=c.name, lat=c.lat, lon=c.lon, created_at=c.created_at, status=_status(state, c.name, stats),
                  url=mask_url(c.url) if user.role == "admin" else None, settings=effective_settings(state.settings, c))
        for c in list_cameras(state.engine)
    ]
    known = {c.name for c in out}
    for name in sorted(set(stats) - known):  # running but not yet written to the store
        cam = next((c for c in state.settings.cameras if c.name == name), None)
        out.append(CameraOut(name=name, lat=cam.lat if cam else None, lon=cam.lon if cam else None,
                             status=_status(state, name, stats)))
    return out


@router.get("", response_model=list[CameraOut])
def cameras(user: LiveUser, state: StateDep) -> list[CameraOut]:
    """Every camera with its position and live status (state, fps, frames, last error)."""
    return camera_list(state, user)


@router.get("/{name}", response_model=CameraOut, responses={404: {}})
def camera(name: str, user: LiveUser, state: StateDep) -> CameraOut:
    for cam in camera_list(state, user):
        if cam.name == name:
            return cam
    raise HTTPException(status.HTTP_404_NOT_FOUND, f"no camera named {name!r}")


@router.post("", response_model=CameraOut, status_code=201, responses={409: {}})
def create_camera(body: CameraCreate, user: AdminUser, state: StateDep) -> CameraOut:
    """Add a camera (admins); a running pipeline starts it at once, without touching the others."""
    if any(c.name == body.name for c in list_cameras(state.engine)):
        raise HTTPException(status.HTTP_409_CONFLICT, f"a camera named {body.name!r} exists; use PUT to change it")
    _save(state, CameraConfig(name=body.name, url=body.url, lat=body.lat, lon=body.lon))
    audit.record(state.engine, user.name, "camera.create", body.name,
                 {"url": mask_url(body.url), "lat": body.lat, "lon": body.lon})
    return camera(body.name, user, state)


@router.put("/{name}", response_model=CameraOut, responses={404: {}})
def update_camera(name: str, body: CameraIn, user: AdminUser, state: StateDep) -> CameraOut:
    """Change a camera's URL or position (admins)."""
    if not any(c.name == name for c in list_cameras(state.engine)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no camera named {name!r}")
    _save(state, CameraConfig(name=name, url=body.url, lat=body.lat, lon=body.lon))
    audit.record(state.engine, user.name, "camera.update", name,
                 {"url": mask_url(body.url), "lat": body.lat, "lon": body.lon})
    return camera(name, user, state)


@router.patch("/{name}/settings", response_model=CameraOut, responses={404: {}, 422: {}})
def update_camera_settings(name: str, body: CameraSettingsIn, user: AdminUser, state: StateDep) -> CameraOut:
    """Change a camera's settings (admins): fps cap, zones, lines and privacy masks (frame-relative 0..1 when
    drawn in the console), detection mode, region of interest, least object size, plate countries, heading and
    field of view. Only the fields sent change; a running camera restarts with them, the others go on."""
    try:
        saved = update_settings(state.settings, state.engine, name, body)
    except InputError as exc:
        raise HTTPException(422, str(exc)) from exc
    if saved is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no camera named {name!r}")
    audit.record(state.engine, user.name, "camera.settings", name,
                 body.model_dump(mode="json", include=body.model_fields_set))
    if state.on_cameras_changed:
        state.on_cameras_changed()
    return camera(name, user, state)


@router.delete("/{name}", status_code=204, response_class=Response, responses={404: {}, 409: {}})
def delete_camera(name: str, user: AdminUser, state: StateDep,
                  purge: bool = Query(False, description="Also delete its history")) -> Response:
    """Remove a camera (admins). Its tracks go with it, so a camera with history needs ``purge=true``."""
    if not any(c.name == name for c in list_cameras(state.engine)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no camera named {name!r}")
    tracks = count_tracks(state.engine, camera=name)
    if tracks and not purge:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"camera {name!r} has {tracks} stored tracks; add ?purge=true to delete them too")
    delete_stored_camera(state.engine, name)
    state.live.reset(name)
    audit.record(state.engine, user.name, "camera.delete", name, {"purged_tracks": tracks})
    if state.on_cameras_changed:
        state.on_cameras_changed()
    return Response(status_code=204)


class ConnectionTestIn(Strict):
    url: str = Field(min_length=1, max_length=2048)


class ConnectionTestOut(BaseModel):
    ok: bool
    error: str | None = None
    kind: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    codec: str | None = None


@router.post("/test", response_model=ConnectionTestOut)
def test_connection(body: ConnectionTestIn, user: AdminUser, settings: SettingsDep) -> ConnectionTestOut:
    """Open a stream URL the way a camera would (bounded by the stream timeouts) before saving it (admins).

    Answers 200 either way: ``ok`` false carries the reason, with any password in the URL masked."""
    try:
        info = probe(body.url, settings.stream)
    except WatchnetError as exc:
        return ConnectionTestOut(ok=False, error=str(exc).replace(body.url, mask_url(body.url)))
    fps = info.get("fps")
    return ConnectionTestOut(ok=True, kind=str(info.get("kind")), width=cast(int | None, info.get("width")),
                             height=cast(int | None, info.get("height")),
                             fps=float(cast(float, fps)) if fps else None, codec=cast(str | None, info.get("codec")))


def _save(state: ApiState, cam: CameraConfig) -> None:
    Recorder(state.engine).upsert_cameras([cam])
    if state.on_cameras_changed:
        state.on_cameras_changed()
