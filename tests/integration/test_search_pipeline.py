"""The real pipeline with ``DescribeAnalyzer``: sightings from video are stored and searchable, and a
hotlist plate read in real pictures raises an alert through the runner's alert path."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from watchnet.core.config import CameraConfig, Settings
from watchnet.core.records import Alert
from watchnet.runtime.runner import Runner, RunOptions
from watchnet.services.container import build_services
from watchnet.services.search import SearchQuery
from watchnet.store.db import open_store
from watchnet.store.queries import list_tracks
from watchnet.store.recorder import Recorder
from watchnet.store.sightings import SightingStore, SightingWriter
from watchnet.vision.analysis.describe import DescribeAnalyzer, HotPlate
from watchnet.vision.analysis.detect import Detector
from watchnet.vision.analysis.plates import PlateReader
from watchnet.vision.pipeline import TrackAnalyzer

pytestmark = pytest.mark.slow


def _run(settings: Settings, analyzers: list[DescribeAnalyzer], max_frames: int | None = None) -> tuple[
    Runner, list[Alert], SightingWriter
]:
    engine = open_store(settings)
    alerts: list[Alert] = []
    runner = Runner(
        settings, Detector.from_settings(settings), Recorder(engine), RunOptions(max_frames=max_frames),
        analyzers=lambda camera: _analyzers(analyzers, camera), on_alert=alerts.append,
    )
    writer = SightingWriter(SightingStore(engine, settings), run_id=lambda: runner.run_id)
    for analyzer in analyzers:
        analyzer.on_sighting = writer.put
    runner.run()
    writer.close()
    return runner, alerts, writer


def _analyzers(made: list[DescribeAnalyzer], camera: CameraConfig) -> list[TrackAnalyzer]:
    return [a for a in made if a.camera.name == camera.name]


def test_pets_sightings_are_described_stored_and_searchable(shared_data: Path, tmp_path: Path) -> None:
    video = shared_data / "tracking" / "pets09_s2l1" / "pets09_s2l1_view001_480x360_10fps.avi"
    camera = CameraConfig(name="pets", url=str(video))
    settings = Settings.load(home=tmp_path / "home", cameras=[camera.model_dump()])
    describe = DescribeAnalyzer(settings.cameras[0], settings)
    runner, _alerts, writer = _run(settings, [describe], max_frames=200)
    assert writer.error is None and writer.written >= 5
    engine = open_store(settings)
    api = build_services(settings, engine).search
    assert api.search(SearchQuery(cameras=("pets",)), actor="t", reason="test").total == writer.written
    everyone = api.search(SearchQuery(cameras=("pets",), label="person", limit=200), actor="t", reason="test")
    assert everyone.total is not None and everyone.total >= 5
    described = [r for r in everyone.results if r.attributes.get("upper_colour")]
    assert len(described) >= 0.8 * len(everyone.results)
    assert all(r.thumbnail_path and Path(r.thumbnail_path).is_file() for r in described)
    # the voted description also lands on the stored track
    tracks = list_tracks(engine, camera="pets", label="person", run_id=runner.run_id, limit=500)
    assert sum(1 for t in tracks if t.attributes.get("upper_colour")) >= len(described)
    # search by camera + time window + colour returns exactly the matching sightings
    colour = str(described[0].attributes["upper_colour"])
    start, end = min(r.first_seen for r in described), max(r.last_seen for r in described)
    hits = api.search(
        SearchQuery(cameras=("pets",), since=start, until=end, label="person", upper_colour=colour, limit=200),
        actor="t", reason="test",
    )
    assert hits.total == sum(1 for r in everyone.results if r.attributes.get("upper_colour") == colour)
    assert {r.id for r in hits.results} <= {r.id for r in everyone.results}
    assert api.search(SearchQuery(cameras=("other",)), actor="t", reason="test").total == 0
    # "similar-looking people": a person's own thumbnail finds their sighting among the best
    probe = described[0]
    like = api.search(SearchQuery(like=api.embed_crop(str(probe.thumbnail_path)), limit=5), actor="t", reason="t")
    assert probe.id in [r.id for r in like.results]


def test_hotlist_plate_raises_an_alert_through_the_runner(shared_data: Path, tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(8):  # a parked car seen for 8 frames: the real photo, as a folder camera
        shutil.copy(shared_data / "plates" / "openalpr_eu" / "test_006.jpg", frames / f"{i:03d}.jpg")
    camera = CameraConfig(name="gate", url=str(frames), lat=48.1, lon=17.1)
    settings = Settings.load(
        home=tmp_path / "home", cameras=[camera.model_dump()],
        detector={"stride": 1, "motion_gate": False}, search={"sample_every": 2},
    )
    hotlist = [HotPlate(41, "stolen white car", "RKO99AN"), HotPlate(42, "other", "AB123CD")]
    describe = DescribeAnalyzer(
        settings.cameras[0], settings, plates=PlateReader.from_settings(settings), hotlist=hotlist
    )
    _runner, alerts, writer = _run(settings, [describe])
    assert len(alerts) == 1  # one alert per track and plate, not one per read
    alert = alerts[0]
    assert (alert.kind, alert.subject_id, alert.camera, alert.lat) == ("plate", 41, "gate", 48.1)
    assert alert.score >= settings.search.hotlist_min_score
    api = build_services(settings, open_store(settings)).search
    found = api.search(SearchQuery(plate="RKO99AN", label="car"), actor="t", reason="test")
    assert found.total == 1 and found.results[0].plate == "RK099AN"
    assert writer.written >= 1


def test_keep_embeddings_mode_stores_track_faces_that_a_photo_finds(shared_data: Path, tmp_path: Path) -> None:
    """On the Hamilton clip (Lin-Manuel Miranda on stage), the best face of each person track is embedded;
    his enrolment photo then finds those sightings above the match threshold, other people's do not."""
    from watchnet.vision.analysis.faces import FaceAnalyzer

    folder = shared_data / "faces" / "face_recognition"
    camera = CameraConfig(name="stage", url=str(folder / "short_hamilton_clip.mp4"))
    settings = Settings.load(home=tmp_path / "home", identity_mode="keep-embeddings", cameras=[camera.model_dump()])
    describe = DescribeAnalyzer(settings.cameras[0], settings, faces=FaceAnalyzer(settings))
    _run(settings, [describe], max_frames=120)
    api = build_services(settings, open_store(settings)).search
    threshold = settings.faces.match_threshold
    lin = api.search(SearchQuery(face=api.embed_face_photo(folder / "lin-manuel-miranda.png")), actor="t", reason="t")
    assert lin.results and lin.results[0].score is not None and lin.results[0].score >= threshold
    assert all(r.label == "person" and r.thumbnail_path for r in lin.results)
    for other in ("alex-lacamoire.png", "obama_small.jpg"):
        page = api.search(SearchQuery(face=api.embed_face_photo(folder / other)), actor="t", reason="t")
        assert all((r.score or 0.0) < threshold for r in page.results), other
