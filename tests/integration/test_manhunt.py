"""End to end on real video: enrol from ONE photo, run the cameras, get the alert; and what must not happen.

Video: ``short_hamilton_clip.mp4`` (Lin-Manuel Miranda performing; Alex Lacamoire at the piano, his face
24 px wide, too small for the quality gate; from frame 211 the audience, Barack and Michelle Obama among
them, seen in profile). "Absent" subjects are people who are not in the clip at all (Kit Harington,
Rose Leslie). The short tests use an excerpt (frames 0-39 and 205-274: Lin-Manuel on stage, his profile,
the audience) cut with ffmpeg into the test's temporary directory.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from watchnet.core.config import Settings
from watchnet.core.records import Alert, AlertState
from watchnet.runtime.runner import Runner
from watchnet.services.analysis_setup import FaceWatch, face_watch
from watchnet.services.container import build_services
from watchnet.services.watchlist import read_photo_file
from watchnet.store.db import open_store
from watchnet.store.recorder import Recorder
from watchnet.vision.analysis.detect import Detector
from watchnet.vision.analysis.faces import FaceAnalyzer
from watchnet.vision.pipeline import FrameResult

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fr(shared_data: Path) -> Path:
    return shared_data / "faces" / "face_recognition"


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[FaceAnalyzer, Detector]:
    settings = Settings.load(home=tmp_path_factory.mktemp("models-home"))
    return FaceAnalyzer(settings), Detector.from_settings(settings)


@pytest.fixture(scope="module")
def excerpt(fr: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("video") / "excerpt.mp4"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(fr / "short_hamilton_clip.mp4"),
         "-vf", r"select='lt(n\,40)+gte(n\,205)',setpts=N/FRAME_RATE/TB", "-an", "-c:v", "libx264",
         "-preset", "veryfast", "-crf", "18", str(out)],
        check=True,
    )
    return out


class CameraRun:
    """A fresh home and database; enrol with ``watchlist``, then run one camera like ``watchnet run`` does."""

    def __init__(self, home: Path, analyzer: FaceAnalyzer, detector: Detector) -> None:
        self.settings = Settings.load(home=home)
        self.engine = open_store(self.settings)
        self.analyzer, self.detector = analyzer, detector
        self.watchlist = build_services(self.settings, self.engine, faces=analyzer).watchlist

    def __call__(
        self, video: Path, on_result: Callable[[FrameResult, FaceWatch], None] | None = None,
    ) -> tuple[list[Alert], FaceWatch]:
        camera = {"name": "stage", "url": str(video), "lat": 38.8977, "lon": -77.0365}
        settings = Settings.load(home=self.settings.home, cameras=[camera])
        watch = face_watch(build_services(settings, self.engine, faces=self.analyzer))
        alerts: list[Alert] = []
        runner = Runner(settings, self.detector, Recorder(self.engine), analyzers=watch.analyzers,
                        on_alert=alerts.append, on_result=(lambda r: on_result(r, watch)) if on_result else None)
        summary = runner.run()
        watch.close()
        assert summary["cameras"][0]["state"] == "ended", summary
        return alerts, watch


@pytest.fixture()
def camera_run(tmp_path: Path, models: tuple[FaceAnalyzer, Detector]) -> CameraRun:
    return CameraRun(tmp_path / "home", *models)


def test_one_photo_enrolment_alerts_on_real_video_and_absent_people_never_do(camera_run: CameraRun, fr: Path) -> None:
    watchlist = camera_run.watchlist
    train = fr / "knn_examples" / "train"
    lin = watchlist.enrol("Lin-Manuel Miranda", [read_photo_file(fr / "lin-manuel-miranda.png")], by="alice",
                          case_ref="T-1")
    absent = [watchlist.enrol("Kit Harington", [read_photo_file(train / "kit_harington" / "john1.jpeg")], by="alice"),
              watchlist.enrol("Rose Leslie", [read_photo_file(train / "rose_leslie" / "img1.jpg")], by="alice")]
    alerts, watch = camera_run(fr / "short_hamilton_clip.mp4")

    assert alerts, "no alert for the enrolled person"
    assert {a.subject_id for a in alerts} == {lin.id}  # false alerts: none for the absent subjects
    assert not {s.id for s in absent} & {a.subject_id for a in alerts}
    # One person on one camera within minutes is ONE alert, however many tracks (shots) matched.
    assert len({a.id for a in alerts}) == 1
    first = min(alerts, key=lambda a: a.frame_index)
    assert first.frame_index < 20  # while he is on stage in the first shot, not only in the close-up
    for alert in alerts:
        assert alert.id is not None and alert.kind == "face"
        assert (alert.camera, alert.lat, alert.lon) == ("stage", 38.8977, -77.0365)
        assert alert.xyxy is not None and alert.score >= camera_run.settings.faces.match_threshold
        for path in (alert.crop_path, alert.snapshot_path):
            assert path is not None and Path(path).read_bytes()[:3] == b"\xff\xd8\xff"  # a JPEG
            assert Path(path).is_relative_to(camera_run.settings.home / "alerts")
    stored = watch.manager.list_alerts()
    assert [a.alert.id for a in stored] == [alerts[0].id]
    assert all(a.alert.state is AlertState.NEW and a.details["votes"] >= 1 for a in stored)
    group = stored[0].alert
    assert group.matches == len(alerts) and set(group.track_ids) == {a.track_id for a in alerts}
    assert group.score == pytest.approx(max(a.score for a in alerts), abs=1e-4)  # the best match's face is kept


def test_an_expired_subject_does_not_match(camera_run: CameraRun, fr: Path, excerpt: Path) -> None:
    watchlist = camera_run.watchlist
    lin = watchlist.enrol("Lin-Manuel Miranda", [read_photo_file(fr / "lin-manuel-miranda.png")], by="alice",
                          expires_at=datetime.now(UTC) + timedelta(days=1))
    with camera_run.engine.begin() as conn:  # a day passes
        conn.execute(sa.text("UPDATE subjects SET expires_at = :t WHERE id = :i"),
                     {"t": datetime.now(UTC) - timedelta(minutes=1), "i": lin.id})
        conn.execute(sa.text("UPDATE watchlist_state SET version = version + 1"))
    assert watchlist.get(lin.id).expired
    alerts, watch = camera_run(excerpt)
    assert alerts == []
    assert watch.trackers[0].faces_embedded > 0  # his faces were seen and compared, just not matched


def test_a_dismissed_match_with_negative_does_not_alert_again(camera_run: CameraRun, fr: Path, excerpt: Path) -> None:
    watchlist = camera_run.watchlist
    # The "look-alike": Lin-Manuel's face matched to a subject enrolled from his photo under another name,
    # which the operator dismisses as a false match, adding the faces as negatives.
    look_alike = watchlist.enrol("Suspect X", [read_photo_file(fr / "lin-manuel-miranda.png")], by="alice")
    first, watch = camera_run(excerpt)
    assert first and {a.subject_id for a in first} == {look_alike.id}
    groups = {a.id for a in first}
    assert None not in groups
    for alert_id in groups:
        assert alert_id is not None
        watch.manager.dismiss(alert_id, "bob", add_negative=True, note="not him: a performer")
    assert watchlist.get(look_alike.id).negatives >= len(first)  # every track's faces, not only the first's
    again, _ = camera_run(excerpt)  # the same footage, the same stranger
    assert again == []


def test_watchlist_only_mode_writes_nothing_of_strangers(camera_run: CameraRun, fr: Path, excerpt: Path) -> None:
    settings = camera_run.settings
    assert settings.identity_mode == "watchlist-only"
    watchlist = camera_run.watchlist
    train = fr / "knn_examples" / "train"
    watchlist.enrol("Kit Harington", [read_photo_file(train / "kit_harington" / "john1.jpeg")], by="alice")
    held: list[np.ndarray] = []

    def collect(result: FrameResult, watch: FaceWatch) -> None:
        for tracker in watch.trackers:
            held.extend(tracker.held_embeddings())

    alerts, watch = camera_run(excerpt, on_result=collect)
    assert alerts == []
    assert len(held) > 20, "the strangers' faces should have been seen and compared in memory"
    assert watch.trackers[0].live_tracks == 0  # every track ended and was forgotten

    home = settings.home
    files = [p for p in home.rglob("*") if p.is_file()]
    assert not (home / "alerts").exists()  # no face crop, no snapshot of anyone
    allowed = [home / "watchlist", home / "snapshots"]  # enrolment copies; the pipeline's person thumbnails
    database = {home / n for n in ("watchnet.db", "watchnet.db-wal", "watchnet.db-shm")}
    strays = [p for p in files if p not in database and not any(p.is_relative_to(a) for a in allowed)]
    assert strays == []
    needles = _needles(held[:: max(1, len(held) // 40)])
    for path in files:
        data = path.read_bytes()
        found = [n for n in needles if n in data]
        assert not found, f"{path} holds a stranger's embedding"
    with camera_run.engine.connect() as conn:
        counts = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                  for t in ("subject_photos", "subject_negatives", "alerts", "alert_decisions")}
        attributes = [row[0] for row in conn.execute(sa.text("SELECT attributes FROM tracks"))]
    assert counts == {"subject_photos": 1, "subject_negatives": 0, "alerts": 0, "alert_decisions": 0}
    assert not any("embedding" in str(a) for a in attributes)


def _needles(embeddings: list[np.ndarray]) -> list[bytes]:
    """Byte patterns an embedding would leave in a file: raw float32/float64 and its JSON text."""
    out = []
    for e in embeddings:
        out.append(np.asarray(e[:6], "<f4").tobytes())
        out.append(np.asarray(e[:4], "<f8").tobytes())
        out.append(repr(float(e[0])).encode() + b"," + repr(float(e[1])).encode())
        out.append(repr(float(e[0])).encode() + b", " + repr(float(e[1])).encode())
    return out
