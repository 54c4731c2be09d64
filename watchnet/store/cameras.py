"""Removing a camera from the store and saving its console settings (adding one and changing its URL or
position is ``Recorder.upsert_cameras``).

Why this is all: a camera's tracks, events and sightings reference it with ``ON DELETE CASCADE``, so one
statement removes the camera and its whole history; the API asks for ``purge=true`` before calling it on a
camera that has any.
"""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from watchnet.store.schema import Camera

_cameras = cast(sa.Table, Camera.__table__)


def delete_camera(engine: Engine, name: str) -> bool:
    """Delete the camera named ``name`` with everything recorded from it; False when there was none."""
    with engine.connect() as conn, conn.begin():
        return conn.execute(_cameras.delete().where(_cameras.c.name == name)).rowcount > 0


def save_camera_settings(engine: Engine, name: str, settings: dict[str, Any]) -> bool:
    """Store the console's settings of camera ``name`` (validated ``CameraSettings`` keys, replacing the stored
    ones); False when there is no such camera."""
    with engine.connect() as conn, conn.begin():
        query = _cameras.update().where(_cameras.c.name == name).values(settings=settings or None)
        return conn.execute(query).rowcount > 0
