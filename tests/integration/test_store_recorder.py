"""The recorder's writes read back unchanged through the query functions, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import cast

import numpy as np
import pytest
import sqlalchemy as sa

from watchnet.core.config import CameraConfig
from watchnet.core.errors import StoreError
from watchnet.core.records import Track, TrackEvent, TrackEventKind
from watchnet.store import queries
from watchnet.store.db import make_engine, migrate
from watchnet.store.recorder import Recorder

T0 = 1_700_000_000.25  # 2023-11-14 22:13:20.25 UTC


@pytest.fixture()
def engine(db_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(db_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture()
def recorder(engine: sa.Engine) -> Recorder:
    recorder = Recorder(engine)
    recorder.upsert_cameras([
        CameraConfig(name="gate", url="rtsp://10.0.0.5/stream", lat=52.1, lon=4.3),
        CameraConfig(name="lobby", url="lobby.mp4"),
    ])
    return recorder


def _track(track_id: int = 7, frames: int = 10, camera: str = "gate") -> Track:
    # the analysis stages hand over numpy scalars; the recorder must store them as plain JSON numbers
    path = [(i, cast(float, np.float32(100 + i)), 200.5 + i, 40.0, 80.0) for i in range(0, frames, 5)]
    return Track(
        camera=camera, track_id=track_id, label="person", first_frame=0, last_frame=frames - 1,
        first_seen=T0, last_seen=T0 + frames / 25, best_score=cast(float, np.float32(0.875)), hits=frames,
        best_xyxy=(1.0, 2.0, 41.0, 82.0), snapshot_path="snapshots/gate/7.jpg",
        path=path, attributes={"upper_color": "red", "score": np.float64(0.5)},
    )


def test_write_and_read_back(engine: sa.Engine, recorder: Recorder) -> None:
    run_id = recorder.start_run({"detector": {"stride": 2}})
    event = TrackEvent("gate", 7, TrackEventKind.ZONE_ENTER, "person", 3, T0 + 0.12, rule="door",
                       detail={"direction": "in"})
    recorder.write([_track()], [event], run_id)
    recorder.end_run(run_id, {"frames": 10})

    [row] = queries.list_tracks(engine)
    assert (row.run_id, row.camera, row.track_id, row.label) == (run_id, "gate", 7, "person")
    assert row.first_seen == datetime.fromtimestamp(T0, UTC)
    assert row.first_seen.utcoffset() == timedelta(0)
    assert row.last_seen == datetime.fromtimestamp(T0 + 0.4, UTC)
    assert row.path == ((0, 100.0, 200.5, 40.0, 80.0), (5, 105.0, 205.5, 40.0, 80.0))
    assert row.best_xyxy == (1.0, 2.0, 41.0, 82.0)
    assert row.best_score == pytest.approx(0.875)
    assert row.attributes == {"upper_color": "red", "score": 0.5}
    assert row.snapshot_path == "snapshots/gate/7.jpg"

    [ev] = queries.list_events(engine)
    assert (ev.camera, ev.track_id, ev.kind, ev.rule, ev.frame_index) == ("gate", 7, "zone_enter", "door", 3)
    assert ev.at == datetime.fromtimestamp(T0 + 0.12, UTC)
    assert ev.detail == {"direction": "in"}

    [run] = queries.list_runs(engine)
    assert run.config == {"detector": {"stride": 2}} and run.stats == {"frames": 10}
    assert run.ended_at is not None and run.ended_at >= run.started_at


def test_grown_track_is_updated_not_duplicated(engine: sa.Engine, recorder: Recorder) -> None:
    run_id = recorder.start_run({})
    recorder.write([_track(frames=10)], [], run_id)
    # a batch may carry two summaries of the same track: the last one wins
    recorder.write([_track(frames=30), _track(frames=50)], [], run_id)
    [row] = queries.list_tracks(engine)
    assert (row.last_frame, row.hits, len(row.path)) == (49, 50, 10)
    assert row.last_seen == datetime.fromtimestamp(T0 + 2, UTC)

    next_run = recorder.start_run({})  # tracker ids restart per run: same id, new track
    recorder.write([_track(frames=5)], [], next_run)
    assert queries.count_tracks(engine) == 2
    assert queries.count_tracks(engine, run_id=next_run) == 1


def test_query_filters(engine: sa.Engine, recorder: Recorder) -> None:
    run_id = recorder.start_run({})
    car = _track(track_id=2, camera="lobby")
    car.label, car.first_seen, car.last_seen = "car", T0 + 100, T0 + 110
    recorder.write([_track(track_id=1), car], [], run_id)

    assert [t.track_id for t in queries.list_tracks(engine)] == [2, 1]  # newest first
    assert [t.track_id for t in queries.list_tracks(engine, camera="lobby")] == [2]
    assert [t.track_id for t in queries.list_tracks(engine, label="person")] == [1]
    assert [t.track_id for t in queries.list_tracks(engine, since=T0 + 105)] == [2]
    until = datetime.fromtimestamp(T0 + 50, UTC)
    assert [t.track_id for t in queries.list_tracks(engine, until=until)] == [1]
    assert [t.track_id for t in queries.list_tracks(engine, limit=1)] == [2]
    assert queries.count_tracks(engine, camera="gate", label="person") == 1
    assert queries.count_tracks(engine, camera="nowhere") == 0
    with pytest.raises(ValueError, match="limit"):
        queries.list_tracks(engine, limit=0)


def test_cameras_upsert_updates_in_place(engine: sa.Engine, recorder: Recorder) -> None:
    before = {c.name: c for c in queries.list_cameras(engine)}
    ids = recorder.upsert_cameras([CameraConfig(name="gate", url="rtsp://10.0.0.6/stream")])
    after = {c.name: c for c in queries.list_cameras(engine)}
    assert ids == {"gate": before["gate"].id}
    assert after["gate"].url == "rtsp://10.0.0.6/stream" and after["gate"].lat is None
    assert after["gate"].created_at == before["gate"].created_at
    assert after["lobby"] == before["lobby"]


def test_unknown_camera_is_refused(engine: sa.Engine, recorder: Recorder) -> None:
    run_id = recorder.start_run({})
    with pytest.raises(StoreError, match="upsert_cameras"):
        recorder.write([_track(camera="attic")], [], run_id)
    assert queries.count_tracks(engine) == 0


def test_batch_is_one_transaction(engine: sa.Engine, recorder: Recorder) -> None:
    run_id = recorder.start_run({})
    bad_event = TrackEvent("gate", 7, TrackEventKind.APPEARED, "person", 0, T0)
    with pytest.raises(StoreError, match="failed"):
        recorder.write([_track()], [bad_event], run_id + 1000)  # no such run: the FK fails
    assert queries.count_tracks(engine) == 0
    assert queries.list_events(engine) == []
