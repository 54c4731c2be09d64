"""The map: camera positions plus how to draw the background (tiles, a site plan, or a plain canvas).

Nothing is fetched from outside unless ``api.map_tiles`` is set; without it the dashboard draws the
cameras on the configured site-plan image, or on a plain grid fitted around them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Response, UploadFile, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel

from watchnet.api.deps import CAN_VIEW_LIVE, AdminUser, EngineDep, SettingsDep, require
from watchnet.api.uploads import read_upload
from watchnet.services.cameras import effective_settings
from watchnet.services.site_plan import PlanError, current_plan, remove_plan, save_plan
from watchnet.store import audit
from watchnet.store.queries import list_cameras

router = APIRouter(prefix="/api/map", tags=["map"], dependencies=[Depends(require(*CAN_VIEW_LIVE))])
_IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml",
                ".webp": "image/webp"}


class MapCamera(BaseModel):
    name: str
    lat: float
    lon: float
    heading: float | None = None
    fov: float | None = None


class MapOut(BaseModel):
    mode: str  # "tiles" | "plan" | "canvas"
    tiles: str | None
    attribution: str
    image: str | None
    bounds: tuple[tuple[float, float], tuple[float, float]] | None
    cameras: list[MapCamera]
    uploaded: bool = False  # the plan was uploaded in the console (an admin may replace or remove it)


class PlanOut(BaseModel):
    image: str
    width: int
    height: int
    bounds: tuple[tuple[float, float], tuple[float, float]]


@router.get("", response_model=MapOut)
def map_config(settings: SettingsDep, engine: EngineDep) -> MapOut:
    """How to draw the map and where each camera with a position stands."""
    cfg = settings.api
    placed: dict[str, MapCamera] = {}
    for row in list_cameras(engine):
        if row.lat is not None and row.lon is not None:  # heading and field of view: config or console settings
            own = effective_settings(settings, row)
            placed[row.name] = MapCamera(name=row.name, lat=row.lat, lon=row.lon, heading=own.heading, fov=own.fov)
    for c in settings.cameras:
        if c.name not in placed and c.lat is not None and c.lon is not None:
            placed[c.name] = MapCamera(name=c.name, lat=c.lat, lon=c.lon, heading=c.heading, fov=c.fov)
    cameras = sorted(placed.values(), key=lambda c: c.name)
    plan = current_plan(settings)
    if plan is not None:  # uploaded in the console: it wins while it exists
        return MapOut(mode="plan", tiles=None, attribution=cfg.map_attribution, bounds=plan.bounds,
                      image=f"/api/map/image?v={int(plan.uploaded_at)}", cameras=cameras, uploaded=True)
    mode = "tiles" if cfg.map_tiles else "plan" if cfg.map_image else "canvas"
    bounds = cfg.map_bounds or _around([(c.lat, c.lon) for c in placed.values()])
    return MapOut(mode=mode, tiles=cfg.map_tiles, attribution=cfg.map_attribution,
                  image="/api/map/image" if cfg.map_image else None, bounds=bounds, cameras=cameras)


@router.get("/image", response_class=FileResponse, responses={404: {}})
def map_image(settings: SettingsDep) -> FileResponse:
    """The site-plan image: the one uploaded in the console, else the configured one."""
    plan = current_plan(settings)
    if plan is not None:
        return FileResponse(plan.path, media_type=plan.media_type, headers={"x-content-type-options": "nosniff"})
    path = settings.api.map_image
    if path is None or not path.is_file() or path.suffix.lower() not in _IMAGE_TYPES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no site-plan image configured (api.map_image)")
    return FileResponse(path, media_type=_IMAGE_TYPES[path.suffix.lower()])


@router.put("/plan", response_model=PlanOut, responses={413: {}, 415: {}, 422: {}})
async def upload_plan(
    user: AdminUser, settings: SettingsDep, engine: EngineDep,
    image: Annotated[UploadFile, File(description="PNG, JPEG or WebP site plan (api.max_upload_bytes at most)")],
    south: Annotated[float, Form(ge=-90, le=90, description="Latitude of the plan's bottom edge")],
    west: Annotated[float, Form(ge=-180, le=180, description="Longitude of its left edge")],
    north: Annotated[float, Form(ge=-90, le=90, description="Latitude of its top edge")],
    east: Annotated[float, Form(ge=-180, le=180, description="Longitude of its right edge")],
) -> PlanOut:
    """Upload a site plan with the corner coordinates it spans (admins); it replaces any earlier upload and
    the configured ``api.map_image`` on the map."""
    if south >= north or west >= east:
        raise HTTPException(422, "the plan's corners: south must be below north and west left of east")
    data = await read_upload(image, settings.api.max_upload_bytes)
    bounds = ((south, west), (north, east))
    try:
        plan = await run_in_threadpool(save_plan, settings, data, bounds, user.name, settings.api.max_upload_bytes)
    except PlanError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    audit.record(engine, user.name, "map.plan", plan.path.name,
                 {"bytes": len(data), "width": plan.width, "height": plan.height, "bounds": [list(b) for b in bounds]})
    return PlanOut(image=f"/api/map/image?v={int(plan.uploaded_at)}", width=plan.width, height=plan.height,
                   bounds=plan.bounds)


@router.delete("/plan", status_code=204, response_class=Response, responses={404: {}})
def delete_plan(user: AdminUser, settings: SettingsDep, engine: EngineDep) -> Response:
    """Remove the uploaded site plan (admins); the configured one, tiles or the plain grid show again."""
    if not remove_plan(settings):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no site plan was uploaded")
    audit.record(engine, user.name, "map.plan.delete", "plan")
    return Response(status_code=204)


def _around(points: list[tuple[float, float]]) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """Bounds around the cameras with a margin (at least ~200 m), for the plain canvas."""
    if not points:
        return None
    lats, lons = [p[0] for p in points], [p[1] for p in points]
    pad_lat = max((max(lats) - min(lats)) * 0.15, 0.002)
    pad_lon = max((max(lons) - min(lons)) * 0.15, 0.003)
    return (min(lats) - pad_lat, min(lons) - pad_lon), (max(lats) + pad_lat, max(lons) + pad_lon)
