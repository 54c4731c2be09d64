"""The map: camera positions plus how to draw the background (tiles, a site plan, or a plain canvas).

Nothing is fetched from outside unless ``api.map_tiles`` is set; without it the dashboard draws the
cameras on the configured site-plan image, or on a plain grid fitted around them.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.responses import FileResponse
from pydantic import BaseModel

from watchnet.api.deps import CAN_VIEW_LIVE, EngineDep, SettingsDep, require
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


@router.get("", response_model=MapOut)
def map_config(settings: SettingsDep, engine: EngineDep) -> MapOut:
    """How to draw the map and where each camera with a position stands."""
    cfg = settings.api
    placed = {c.name: MapCamera(name=c.name, lat=c.lat, lon=c.lon) for c in list_cameras(engine)
              if c.lat is not None and c.lon is not None}
    for c in settings.cameras:
        if c.name not in placed and c.lat is not None and c.lon is not None:
            placed[c.name] = MapCamera(name=c.name, lat=c.lat, lon=c.lon)
        if c.name in placed:  # heading and field of view live in the configuration only
            placed[c.name].heading, placed[c.name].fov = c.heading, c.fov
    mode = "tiles" if cfg.map_tiles else "plan" if cfg.map_image else "canvas"
    bounds = cfg.map_bounds or _around([(c.lat, c.lon) for c in placed.values()])
    return MapOut(mode=mode, tiles=cfg.map_tiles, attribution=cfg.map_attribution,
                  image="/api/map/image" if cfg.map_image else None, bounds=bounds,
                  cameras=sorted(placed.values(), key=lambda c: c.name))


@router.get("/image", response_class=FileResponse, responses={404: {}})
def map_image(settings: SettingsDep) -> FileResponse:
    """The configured site-plan image."""
    path = settings.api.map_image
    if path is None or not path.is_file() or path.suffix.lower() not in _IMAGE_TYPES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no site-plan image configured (api.map_image)")
    return FileResponse(path, media_type=_IMAGE_TYPES[path.suffix.lower()])


def _around(points: list[tuple[float, float]]) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """Bounds around the cameras with a margin (at least ~200 m), for the plain canvas."""
    if not points:
        return None
    lats, lons = [p[0] for p in points], [p[1] for p in points]
    pad_lat = max((max(lats) - min(lats)) * 0.15, 0.002)
    pad_lon = max((max(lons) - min(lons)) * 0.15, 0.003)
    return (min(lats) - pad_lat, min(lons) - pad_lon), (max(lats) + pad_lat, max(lons) + pad_lon)
