"""``ViewerBlur`` on real photos with the real face detector: when it searches (budget, new tracks, scene
changes, a settled frame), that carried frames still hide faces and heads, and that it fails closed (the
whole picture blurred) when no face detector can be loaded."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from tests.integration.test_exports import SHARPNESS_DROP, load, sharpness
from watchnet.core.config import Settings
from watchnet.core.errors import ModelError
from watchnet.core.records import Face
from watchnet.vision.analysis.blur import Box, ViewerBlur
from watchnet.vision.analysis.faces import FaceAnalyzer

pytestmark = pytest.mark.slow
TWO_PEOPLE = "faces/face_recognition/two_people.jpg"


class Counting:
    """The real face detector, counting whole-picture searches (to see when ViewerBlur spends one)."""

    def __init__(self, faces: FaceAnalyzer) -> None:
        self.faces = faces
        self.searches = 0

    def detect(self, image_bgr: np.ndarray, regions: Sequence[Box] | None = None) -> list[Face]:
        self.searches += regions is None
        return self.faces.detect(image_bgr, regions)


@pytest.fixture(scope="module")
def faces() -> FaceAnalyzer:
    return FaceAnalyzer(Settings.load())


def _passing(faces: FaceAnalyzer, image: np.ndarray) -> int:
    return sum(faces.passes_quality(f) for f in faces.detect(image))


def test_searches_on_budget_and_on_change(shared_data: Path, faces: FaceAnalyzer) -> None:
    cfg = Settings.load().exports.model_copy(update={"live_face_every": 3})
    photo = load(shared_data / TWO_PEOPLE)
    h, w = photo.shape[:2]
    assert _passing(faces, photo) == 2
    counting = Counting(faces)
    blur = ViewerBlur(cfg, lambda: counting)
    people = [(0.0, 0.0, w / 2, float(h)), (w / 2, 0.0, float(w), float(h))]  # two boxes, one per person

    def frame(ids: list[int], image: np.ndarray = photo, exact: bool = False) -> np.ndarray:
        canvas = image.copy()
        blur("cam", canvas, people, ids, exact=exact)
        assert _passing(faces, canvas) == 0  # searched or carried, no face passes the gate
        return canvas

    frame([1, 2])
    assert counting.searches == 1
    frame([1, 2])
    frame([1, 2])
    assert counting.searches == 1  # carried: faces move with their track's box
    frame([1, 2])
    assert counting.searches == 2  # every 3rd frame
    frame([1, 3])
    assert counting.searches == 3  # a track the last search did not see
    frame([1, 3], np.ascontiguousarray(photo[:, ::-1]))
    assert counting.searches == 4  # the scene changed (mirrored picture)
    frame([1, 3], np.ascontiguousarray(photo[:, ::-1]), exact=True)
    assert counting.searches == 5  # the frame settled: searched in full
    blur.forget("cam")
    frame([1, 3])
    assert counting.searches == 6


def test_tracks_ending_or_frames_skipped_mean_a_new_search(shared_data: Path, faces: FaceAnalyzer) -> None:
    """Found by the viewer-privacy test when the camera's end got slower: its last picture comes without
    boxes (the tracks ended, the people still stand there), and a carried search then hid nothing."""
    cfg = Settings.load().exports.model_copy(update={"live_face_every": 3})
    photo = load(shared_data / TWO_PEOPLE)
    h, w = photo.shape[:2]
    counting = Counting(faces)
    blur = ViewerBlur(cfg, lambda: counting)
    people = [(0.0, 0.0, w / 2, float(h)), (w / 2, 0.0, float(w), float(h))]

    def frame(boxes: list[Box], ids: list[int], seq: int | None = None) -> None:
        canvas = photo.copy()
        blur("cam", canvas, boxes, ids, seq=seq)
        assert _passing(faces, canvas) == 0

    frame(people, [1, 2], seq=10)
    assert counting.searches == 1
    frame([], [], seq=10)  # the same picture, its tracks ended
    assert counting.searches == 2
    frame(people, [1, 2], seq=11)
    frame(people, [1, 2], seq=11)
    assert counting.searches == 3  # the tracks came back: searched; then carried
    frame(people, [1, 2], seq=40)  # the camera moved on by many frames since that search
    assert counting.searches == 4


def test_fails_closed_without_a_face_detector(shared_data: Path, faces: FaceAnalyzer) -> None:
    cfg = Settings.load().exports

    def broken() -> FaceAnalyzer:
        raise ModelError("the face detector is not in the model store")

    photo = load(shared_data / TWO_PEOPLE)
    h, w = photo.shape[:2]
    for blur in (ViewerBlur(cfg, broken), ViewerBlur(cfg, None)):
        canvas = photo.copy()
        report = blur("cam", canvas, [], [])
        assert report.heads == [(0.0, 0.0, float(w), float(h))] and blur.finder is None
        whole = (0.0, 0.0, float(w), float(h))
        assert sharpness(canvas, whole) < sharpness(photo, whole) * SHARPNESS_DROP
        assert _passing(faces, canvas) == 0
