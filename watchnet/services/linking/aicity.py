"""Journeys in the AI City Challenge multi-camera tracking format, the lingua franca of MTMC tools.

One line per box: ``camera_id obj_id frame_id xmin ymin width height xworld yworld``, space
separated, integers except the world position; ``obj_id`` is the journey id (global across cameras),
``camera_id`` the 1-based position of the camera's name in sorted order (the mapping is returned, and
written by the CLI next to the file), ``xworld yworld`` the longitude and latitude of the box's foot point
where the camera has a ground mapping, else the camera's own position when known, else -1.

Boxes come from each track's stored path, which keeps every ``tracker.path_every``-th box; with
``interpolate`` the frames in between are filled linearly, as evaluation tools expect every frame.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TextIO

from watchnet.services.linking.topology import Topology
from watchnet.store import journeys as repo
from watchnet.store.db import Engine, read_connection


def _boxes(path: list[list[float]], interpolate: bool) -> Iterator[tuple[int, float, float, float, float]]:
    points = sorted((int(p[0]), (float(p[1]), float(p[2]), float(p[3]), float(p[4]))) for p in path if len(p) >= 5)
    for i, (frame, box) in enumerate(points):
        yield frame, *box
        if interpolate and i + 1 < len(points):
            nxt_frame, nxt = points[i + 1]
            span = nxt_frame - frame
            for k in range(1, span):
                t = k / span
                cx, cy, w, h = (a + (b - a) * t for a, b in zip(box, nxt, strict=True))
                yield frame + k, cx, cy, w, h


def rows(engine: Engine, *, since: datetime | None = None, until: datetime | None = None,
         min_cameras: int = 1, interpolate: bool = True,
         topology: Topology | None = None) -> tuple[list[tuple[float, ...]], dict[str, int]]:
    """The export's rows (sorted by camera, frame, object) and the camera name -> id mapping."""
    with read_connection(engine) as conn:
        members = repo.all_journey_members(conn, since, until)
        cams_of: dict[int, set[str]] = {}
        for m in members:
            cams_of.setdefault(m.journey_id, set()).add(m.camera)
        members = [m for m in members if len(cams_of[m.journey_id]) >= min_cameras]
        infos = repo.sightings_by_id(conn, [m.sighting_id for m in members])
        paths = repo.track_paths(conn, infos)
    by_id = {i.id: i for i in infos}
    camera_ids = {name: i + 1 for i, name in enumerate(sorted({i.camera for i in infos}))}
    out: list[tuple[float, ...]] = []
    for m in members:
        info = by_id.get(m.sighting_id)
        if info is None:
            continue
        xw: float = round(info.lon, 6) if info.lon is not None else -1
        yw: float = round(info.lat, 6) if info.lat is not None else -1
        for frame, cx, cy, w, h in _boxes(paths.get(m.sighting_id, []), interpolate):
            foot = topology.to_map(info.camera, (cx, cy + h / 2)) if topology is not None else None
            world = (xw, yw) if foot is None else (round(foot[1], 7), round(foot[0], 7))
            out.append((camera_ids[info.camera], m.journey_id, frame, round(cx - w / 2), round(cy - h / 2),
                        round(w), round(h), *world))
    out.sort(key=lambda r: (r[0], r[2], r[1]))
    return out, camera_ids


def write(handle: TextIO, found: list[tuple[float, ...]]) -> int:
    """Write rows as the space-separated text file; return how many."""
    for row in found:
        handle.write(" ".join(str(v) for v in row) + "\n")
    return len(found)
