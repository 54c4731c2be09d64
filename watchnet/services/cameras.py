"""Which cameras run, and with what settings: the YAML's cameras merged with the store's camera rows.

The store's ``cameras`` table is what the console edits (URL, position, and the per-camera settings an admin
saved, a JSON object of ``CameraSettings`` keys); the YAML gives the rest (neighbours, overlaps, anything not
set in the console). Both supervisors (in-process threads and worker processes) start cameras from
``effective_cameras``, so a setting saved in the console means the same wherever the camera runs.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from watchnet.core.config import CameraConfig, CameraSettings, Settings
from watchnet.core.errors import InputError
from watchnet.store.cameras import save_camera_settings
from watchnet.store.db import Engine
from watchnet.store.queries import CameraRow, list_cameras

log = logging.getLogger("watchnet.cameras")


def stored_settings(row: CameraRow) -> dict[str, Any]:
    """The settings saved for ``row``, validated; only the keys an admin set. A stored object that no longer
    validates (written by another version) is ignored with a warning rather than stopping the camera."""
    if not row.settings:
        return {}
    try:
        valid = CameraSettings.model_validate(row.settings)
    except ValidationError as exc:
        log.warning("camera %s: stored settings ignored: %s", row.name, exc)
        return {}
    return {key: getattr(valid, key) for key in row.settings if key in CameraSettings.model_fields}


def apply_row(base: CameraConfig | None, row: CameraRow) -> CameraConfig:
    """The configured camera ``base`` (None: added in the console) with the store's URL, position and settings."""
    update: dict[str, Any] = {"url": row.url, "lat": row.lat, "lon": row.lon, **stored_settings(row)}
    if base is None:
        return CameraConfig.model_validate({"name": row.name, **update})
    return base.model_copy(update=update)


def effective_cameras(settings: Settings, engine: Engine, first: bool) -> list[CameraConfig]:
    """The cameras to run, by name: config cameras on the first start (``first``), then the store's camera table
    (which the API edits), each with its stored settings on top. Files play in real time (a console is live
    operation) unless configured otherwise."""
    configured = {c.name: c for c in settings.cameras}
    cameras: dict[str, CameraConfig] = dict(configured) if first else {}
    for row in list_cameras(engine):
        cameras[row.name] = apply_row(configured.get(row.name), row)
    return sorted((c if c.live is not None else c.model_copy(update={"live": True}) for c in cameras.values()),
                  key=lambda c: c.name)


def effective_settings(settings: Settings, row: CameraRow) -> CameraSettings:
    """What camera ``row`` runs with: its YAML settings with the stored ones on top."""
    base = next((c for c in settings.cameras if c.name == row.name), None)
    camera = apply_row(base, row)
    return CameraSettings.model_validate(camera.model_dump(include=set(CameraSettings.model_fields)))


def update_settings(settings: Settings, engine: Engine, name: str, changes: CameraSettings) -> CameraSettings | None:
    """Save the keys set in ``changes`` over camera ``name``'s stored settings (the others stay); None when there
    is no such camera. Raises InputError for what a field model cannot know: plate codes not in plates.formats."""
    unknown = settings.plates.unknown_countries(changes.plate_countries or [])
    if unknown:
        raise InputError(f"plate_countries: unknown country codes {unknown}; known: "
                         f"{sorted(settings.plates.all_formats())}")
    row = next((r for r in list_cameras(engine) if r.name == name), None)
    if row is None:
        return None
    merged = {**(row.settings or {}), **changes.model_dump(mode="json", include=changes.model_fields_set)}
    if not save_camera_settings(engine, name, merged):
        return None
    return effective_settings(settings, CameraRow(row.id, row.name, row.url, row.lat, row.lon, row.created_at,
                                                  merged))
