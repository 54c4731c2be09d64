"""Camera threads writing at the same time lose nothing, on SQLite (WAL, one writer) and PostgreSQL.

"Shared" is the pipeline's set-up (one Recorder, one engine, used by every camera thread). "Separate"
gives each thread its own engine and Recorder, so nothing in-process serialises them: on SQLite that
exercises BEGIN IMMEDIATE plus busy_timeout, which is what several processes rely on.
"""

from __future__ import annotations

import threading

import pytest

from watchnet.core.config import CameraConfig
from watchnet.core.records import Track, TrackEvent, TrackEventKind
from watchnet.store import queries
from watchnet.store.db import make_engine, migrate
from watchnet.store.recorder import Recorder

CAMERAS = ("north", "south")
BATCHES = 40
TRACKS_PER_BATCH = 3
T0 = 1_700_000_000.0


def _camera_thread(recorder: Recorder, camera: str, run_id: int, errors: list[BaseException]) -> None:
    try:
        for batch in range(BATCHES):
            tracks, events = [], []
            for k in range(TRACKS_PER_BATCH):
                track_id = batch * TRACKS_PER_BATCH + k
                ts = T0 + batch
                tracks.append(Track(camera, track_id, "person", batch, batch + 1, ts, ts + 1, 0.9, 2,
                                    path=[(batch, 1.0, 2.0, 3.0, 4.0)]))
                events.append(TrackEvent(camera, track_id, TrackEventKind.APPEARED, "person", batch, ts))
            recorder.write(tracks, events, run_id)
            # the same tracks grow: upserts of existing rows race with inserts from the other camera
            for t in tracks:
                t.last_frame, t.hits = t.last_frame + 10, 12
            recorder.write(tracks, [], run_id)
    except BaseException as exc:
        errors.append(exc)


@pytest.mark.parametrize("sharing", ["shared", "separate"])
def test_concurrent_camera_writes_lose_nothing(db_url: str, sharing: str) -> None:
    setup = make_engine(db_url)
    migrate(setup)
    first = Recorder(setup)
    first.upsert_cameras([CameraConfig(name=name, url=f"{name}.mp4") for name in CAMERAS])
    run_id = first.start_run({"cameras": list(CAMERAS)})
    engines = [setup] if sharing == "shared" else [make_engine(db_url) for _ in CAMERAS]
    recorders = [first] * len(CAMERAS) if sharing == "shared" else [Recorder(e) for e in engines]

    errors: list[BaseException] = []
    threads = [threading.Thread(target=_camera_thread, args=(r, cam, run_id, errors))
               for r, cam in zip(recorders, CAMERAS, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    per_camera = BATCHES * TRACKS_PER_BATCH
    for cam in CAMERAS:
        assert queries.count_tracks(setup, camera=cam, run_id=run_id) == per_camera
        events = queries.list_events(setup, camera=cam, limit=10 * per_camera)
        assert sorted(e.track_id for e in events) == list(range(per_camera))
        tracks = queries.list_tracks(setup, camera=cam, limit=10 * per_camera)
        assert {t.hits for t in tracks} == {12}
    for e in {*engines, setup}:
        e.dispose()
