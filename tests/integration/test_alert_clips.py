"""An alert raised in a real run gets a short clip around the match (issue 14: the decision view shows
the seconds before and after): the Hamilton clip through the real ``Runner`` with Lin-Manuel Miranda
enrolled; every alert's clip is an H.264 MP4 next to its snapshot that PyAV decodes, about as long as
configured (less only where the video starts or ends within the window), and the ring per camera stays
small. The route and the player: tests/e2e/test_control_room.py (decision view)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from watchnet.core.config import AlertsConfig, Settings
from watchnet.core.records import Alert
from watchnet.runtime.runner import Runner
from watchnet.services.analysis_setup import face_watch
from watchnet.services.container import build_services
from watchnet.services.watchlist import read_photo_file
from watchnet.store.db import open_store
from watchnet.store.recorder import Recorder
from watchnet.vision.analysis.detect import Detector
from watchnet.vision.analysis.faces import FaceAnalyzer
from watchnet.vision.clips import ClipRecorder, clip_path

pytestmark = pytest.mark.slow
FPS = 29.97
FRAMES = 275


def test_an_alert_in_a_run_gets_a_playable_clip_of_the_configured_length(tmp_path: Path, shared_data: Path) -> None:
    fr = shared_data / "faces" / "face_recognition"
    home = tmp_path / "home"
    camera = {"name": "stage", "url": str(fr / "short_hamilton_clip.mp4")}
    settings = Settings.load(home=home, cameras=[camera], alerts={"clip_before_s": 2.0, "clip_after_s": 2.0})
    engine = open_store(settings)
    analyzer = FaceAnalyzer(settings)
    services = build_services(settings, engine, faces=analyzer)
    services.watchlist.enrol("Lin-Manuel Miranda", [read_photo_file(fr / "lin-manuel-miranda.png")], by="alice")
    alerts: list[Alert] = []
    watch = face_watch(build_services(settings, engine, faces=analyzer))
    runner = Runner(settings, Detector.from_settings(settings), Recorder(engine), analyzers=watch.analyzers,
                    on_alert=alerts.append)
    summary = runner.run()
    watch.close()
    assert summary["cameras"][0]["state"] == "ended", summary
    assert alerts, "Lin-Manuel Miranda raised no alert"
    for alert in alerts:
        assert alert.snapshot_path
        path = clip_path(alert.snapshot_path)
        assert path.is_file() and path.parent == Path(alert.snapshot_path).parent, path
        assert not list(path.parent.glob("*.part")), "a clip was left half written"
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264"
            frames = list(container.decode(video=0))
            assert max(stream.width, stream.height) <= 640
            seconds = float(frames[-1].time - frames[0].time) if len(frames) > 1 else 0.0
        at = alert.frame_index / FPS
        expected = min(2.0, at) + min(2.0, (FRAMES - 1) / FPS - at)
        assert expected - 0.5 <= seconds <= expected + 0.3, (alert.frame_index, seconds, expected)
        assert len(frames) >= 5 * expected - 3  # clip_fps 5
        assert frames[0].to_ndarray(format="bgr24").mean() > 5  # a picture, not black frames


def test_the_ring_is_bounded_and_no_alert_means_no_clip(tmp_path: Path) -> None:
    recorder = ClipRecorder(AlertsConfig(clip_before_s=3.0, clip_after_s=3.0, clip_fps=5.0))
    image = np.random.default_rng(0).integers(0, 255, (1080, 1920, 3), dtype=np.uint8)
    for i in range(300):  # 10 s at 30 fps
        recorder.push(image, i / 30, [])
    assert 14 <= len(recorder._ring) <= 16  # 3 s at 5 fps
    assert all(len(data) < 400_000 for _, data in recorder._ring)  # downscaled JPEG, not raw frames
    recorder.close()
    assert not list(tmp_path.iterdir())
    off = ClipRecorder(AlertsConfig(clip_before_s=0.0, clip_after_s=0.0))
    alert = Alert(subject_id=1, subject_name="x", kind="face", score=0.9, camera="c", track_id=1, timestamp=0.0,
                  frame_index=0, xyxy=(0.0, 0.0, 1.0, 1.0), snapshot_path=str(tmp_path / "a.jpg"))
    off.push(image, 0.0, [alert])
    off.close()
    assert not off.enabled and not (tmp_path / "a.mp4").exists()
