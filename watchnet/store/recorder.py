"""The pipeline's write path: batched, one transaction per batch, safe from one thread per camera.

The pipeline re-sends a track's summary as it grows and once more when it ends, so tracks are upserted
on their natural key (run, camera, track_id) instead of inserted; events are append-only. Cameras
call ``write`` every few seconds with whatever accumulated, never once per frame: a commit costs an
fsync (PostgreSQL) or a WAL append plus the write lock (SQLite), and one per frame would cap the
frame rate of every camera together.

Concurrency. On SQLite only one writer can hold the database at a time, so writers in this process
queue on a lock (cheap, fair enough, and no busy-wait) and each transaction starts ``BEGIN IMMEDIATE``
so a writer in another process waits on ``busy_timeout`` instead of failing. PostgreSQL handles
concurrent upserts of different rows itself, so no lock is taken there.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from watchnet.core.config import CameraConfig
from watchnet.core.errors import StoreError
from watchnet.core.records import Track, TrackEvent
from watchnet.store.db import is_sqlite, public_url
from watchnet.store.schema import Camera, Run, TrackEventRecord, TrackRecord

_cameras = cast(sa.Table, Camera.__table__)
_runs = cast(sa.Table, Run.__table__)
_tracks = cast(sa.Table, TrackRecord.__table__)
_events = cast(sa.Table, TrackEventRecord.__table__)

#: Columns a re-sent track summary overwrites (everything but the key and the surrogate id).
_TRACK_UPDATE_COLUMNS = (
    "label", "first_frame", "last_frame", "first_seen", "last_seen", "best_score", "hits",
    "best_xyxy", "snapshot_path", "path", "attributes",
)


def to_utc(timestamp: float) -> datetime:
    """Epoch seconds (what the records carry) as a tz-aware UTC datetime (what the store keeps)."""
    return datetime.fromtimestamp(timestamp, tz=UTC)


class Recorder:
    """Writes cameras, runs, tracks and events. One instance may be shared by all camera threads."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if is_sqlite(engine) else contextlib.nullcontext()
        )
        self._camera_ids: dict[str, int] = {}
        self._insert: Callable[[sa.Table], Any] = sqlite.insert if is_sqlite(engine) else postgresql.insert

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """One write transaction, serialised on SQLite; database errors become ``StoreError``."""
        try:
            with self._lock, self._engine.connect() as conn:
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
                with conn.begin():
                    yield conn
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            where = public_url(self._engine.url)
            raise StoreError(f"writing to the database {where} failed: {reason}") from exc

    def upsert_cameras(self, cameras: Sequence[CameraConfig]) -> dict[str, int]:
        """Insert new cameras, update url/position of known ones; return {name: id} for them."""
        if not cameras:
            return {}
        rows = [{"name": c.name, "url": c.url, "lat": c.lat, "lon": c.lon, "created_at": datetime.now(UTC)}
                for c in cameras]
        stmt = self._insert(_cameras)
        stmt = stmt.on_conflict_do_update(
            index_elements=[_cameras.c.name],
            set_={"url": stmt.excluded.url, "lat": stmt.excluded.lat, "lon": stmt.excluded.lon},
        )
        names = [c.name for c in cameras]
        with self._transaction() as conn:
            conn.execute(stmt, rows)
            ids = self._lookup_cameras(conn, names)
        self._camera_ids.update(ids)
        return ids

    @staticmethod
    def _lookup_cameras(conn: Connection, names: Iterable[str]) -> dict[str, int]:
        query = sa.select(_cameras.c.name, _cameras.c.id).where(_cameras.c.name.in_(set(names)))
        return {name: id_ for name, id_ in conn.execute(query)}

    def start_run(self, config: dict[str, Any]) -> int:
        """Open a processing session; its id scopes the tracker ids written under it."""
        with self._transaction() as conn:
            run_id = conn.execute(
                sa.insert(_runs).values(started_at=datetime.now(UTC), config=config).returning(_runs.c.id)
            ).scalar_one()
        return int(run_id)

    def end_run(self, run_id: int, stats: dict[str, Any]) -> None:
        """Close a session with its final statistics."""
        with self._transaction() as conn:
            updated = conn.execute(
                sa.update(_runs).where(_runs.c.id == run_id).values(ended_at=datetime.now(UTC), stats=stats)
            ).rowcount
        if updated != 1:
            raise StoreError(f"run {run_id} does not exist in {public_url(self._engine.url)}")

    def write(self, tracks: Sequence[Track], events: Sequence[TrackEvent], run_id: int) -> None:
        """Upsert track summaries and append events for one run, all in one transaction."""
        if not tracks and not events:
            return
        latest: dict[tuple[str, int], Track] = {}
        for track in tracks:  # one statement may not touch a row twice: keep each track's last summary
            latest[(track.camera, track.track_id)] = track
        with self._transaction() as conn:
            ids = self._camera_ids_for(conn, {t.camera for t in latest.values()} | {e.camera for e in events})
            if latest:
                stmt = self._insert(_tracks)
                stmt = stmt.on_conflict_do_update(
                    index_elements=[_tracks.c.run_id, _tracks.c.camera_id, _tracks.c.track_id],
                    set_={name: stmt.excluded[name] for name in _TRACK_UPDATE_COLUMNS},
                )
                conn.execute(stmt, [_track_row(t, run_id, ids[t.camera]) for t in latest.values()])
            if events:
                conn.execute(sa.insert(_events), [_event_row(e, run_id, ids[e.camera]) for e in events])

    def _camera_ids_for(self, conn: Connection, names: set[str]) -> dict[str, int]:
        missing = names - self._camera_ids.keys()
        if missing:
            self._camera_ids.update(self._lookup_cameras(conn, missing))
            unknown = missing - self._camera_ids.keys()
            if unknown:
                raise StoreError(
                    f"unknown camera(s) {sorted(unknown)}: register them with Recorder.upsert_cameras first"
                )
        return self._camera_ids


def _track_row(track: Track, run_id: int, camera_id: int) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "camera_id": camera_id,
        "track_id": int(track.track_id),
        "label": track.label,
        "first_frame": int(track.first_frame),
        "last_frame": int(track.last_frame),
        "first_seen": to_utc(track.first_seen),
        "last_seen": to_utc(track.last_seen),
        "best_score": float(track.best_score),
        "hits": int(track.hits),
        "best_xyxy": [float(v) for v in track.best_xyxy] if track.best_xyxy is not None else None,
        "snapshot_path": track.snapshot_path,
        "path": [[int(p[0]), *(float(v) for v in p[1:])] for p in track.path],
        "attributes": track.attributes,
    }


def _event_row(event: TrackEvent, run_id: int, camera_id: int) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "camera_id": camera_id,
        "track_id": int(event.track_id),
        "kind": str(event.kind),
        "label": event.label,
        "rule": event.rule,
        "frame_index": int(event.frame_index),
        "at": to_utc(event.timestamp),
        "detail": event.detail,
    }
