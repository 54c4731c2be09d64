"""Shot-change detection on real video: the Hamilton clip's cuts, a fixed camera's none, and pictures that
freeze, go black or pan away (made from real PETS frames); and the tracker's end-all on a change."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
import supervision as sv

from watchnet.core.config import SceneConfig, TrackerConfig
from watchnet.core.records import CLASS_ID, Frame, TrackEventKind
from watchnet.vision.analysis.scene import SceneChange, SceneMonitor
from watchnet.vision.analysis.track import CameraTracker

FPS = 10.0


def _frames(path: Path, limit: int | None = None) -> Iterator[tuple[int, float, np.ndarray]]:
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if limit is not None and i >= limit:
                return
            yield i, float(frame.time or 0.0), frame.to_ndarray(format="bgr24")


@pytest.fixture(scope="module")
def pets(shared_data: Path) -> Path:
    return shared_data / "tracking" / "pets09_s2l1" / "pets09_s2l1_view001_480x360_10fps.avi"


@pytest.fixture(scope="module")
def pets_frames(pets: Path) -> list[np.ndarray]:
    return [image for _, _, image in _frames(pets, 40)]


def test_the_hamilton_clips_three_cuts_are_found_and_nothing_else(shared_data: Path) -> None:
    monitor = SceneMonitor(SceneConfig(), 29.97)
    for index, pts, image in _frames(shared_data / "faces" / "face_recognition" / "short_hamilton_clip.mp4"):
        monitor.check(image, pts, index)
    # cuts after frames 19, 81 and 210: the first frame of each new shot
    assert monitor.changes == [(20, SceneChange.CUT), (82, SceneChange.CUT), (211, SceneChange.CUT)]


def test_a_fixed_camera_never_cuts(pets: Path) -> None:
    monitor = SceneMonitor(SceneConfig(), FPS)
    verdicts = [monitor.check(image, pts, index) for index, pts, image in _frames(pets)]
    assert len(verdicts) > 700
    assert monitor.changes == []
    assert all(v.usable for v in verdicts)


def test_a_frozen_picture_is_reported_once_then_unusable_until_it_moves(pets_frames: list[np.ndarray]) -> None:
    cfg = SceneConfig(frozen_s=3.0)
    monitor = SceneMonitor(cfg, FPS)
    still = [pets_frames[0]] * 50  # 5 s of one identical picture
    verdicts = [monitor.check(image, i / FPS, i) for i, image in enumerate(still + pets_frames[1:5])]
    frozen_at = [i for i, v in enumerate(verdicts) if v.change is SceneChange.FROZEN]
    assert frozen_at == [31]  # 3 s after the first repeat (frame 1)
    assert all(v.usable for v in verdicts[:31]) and not any(v.usable for v in verdicts[31:50])
    assert verdicts[50].change is SceneChange.RESUMED and verdicts[50].usable
    assert monitor.changes == [(31, SceneChange.FROZEN), (50, SceneChange.RESUMED)]


def test_black_frames_end_the_view_and_its_return_starts_a_new_one(pets_frames: list[np.ndarray]) -> None:
    monitor = SceneMonitor(SceneConfig(), FPS)
    black = np.zeros_like(pets_frames[0])
    sequence = pets_frames[:10] + [black] * 5 + pets_frames[10:20]
    verdicts = [monitor.check(image, i / FPS, i) for i, image in enumerate(sequence)]
    assert monitor.changes == [(10, SceneChange.BLANK), (15, SceneChange.RESUMED)]
    assert not any(v.usable for v in verdicts[10:15]) and all(v.usable for v in verdicts[15:])


def test_a_camera_that_pans_away_is_a_changed_view_but_a_steady_one_is_not(pets_frames: list[np.ndarray]) -> None:
    wide = pets_frames[0]
    w = wide.shape[1]
    view = w // 2

    def panned(step: int) -> list[np.ndarray]:
        return [np.ascontiguousarray(wide[:, x : x + view]) for x in range(0, w - view, step)][:20]

    moving = SceneMonitor(SceneConfig(), FPS)
    for i, image in enumerate(panned(12)):  # 12 px a frame: half the view width within a second
        moving.check(image, i / FPS, i)
    assert [c for _, c in moving.changes] and {c for _, c in moving.changes} == {SceneChange.MOVED}

    steady = SceneMonitor(SceneConfig(), FPS)
    for i, image in enumerate(panned(1)):  # 1 px a frame: drift, not a move
        steady.check(image, i / FPS, i)
    assert steady.changes == []


def test_end_all_ends_every_live_track_and_later_ids_are_new(pets_frames: list[np.ndarray]) -> None:
    def frame(i: int) -> Frame:
        return Frame("cam", i, i / FPS, 1_000.0 + i / FPS, pets_frames[0])

    def people(xs: list[float]) -> sv.Detections:
        return sv.Detections(xyxy=np.array([(x, 50, x + 40, 150) for x in xs], np.float32),
                             confidence=np.full(len(xs), 0.9, np.float32),
                             class_id=np.full(len(xs), CLASS_ID["person"]))

    tracker = CameraTracker("cam", TrackerConfig(min_consecutive_frames=1), fps=FPS)
    for i in range(3):
        tracker.update(frame(i), people([100 + 2 * i, 300 + 2 * i]))
    before = set(tracker.active)
    assert len(before) == 2
    cut = tracker.end_all(frame(3))
    assert {t.track_id for t in cut.ended} == before and tracker.active == {}
    assert [e.kind for e in cut.events] == [TrackEventKind.LEFT] * 2
    for i in range(4, 6):  # the same boxes right after the cut are new people to the tracker
        update = tracker.update(frame(i), people([106, 306]))
    assert update.detections.tracker_id is not None and len(update.detections) == 2
    assert min(int(t) for t in update.detections.tracker_id) > max(before)
