"""Focus search and the re-shaped nanodet input on real 1080p MOT17 frames (real model)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import supervision as sv

from watchnet.core.config import RuntimeConfig, Settings
from watchnet.core.records import CLASS_ID
from watchnet.vision.analysis.detect import Detector
from watchnet.vision.analysis.regions import RegionSearch, SearchSettings
from watchnet.vision.models.nanodet import NanoDet, fit_shape, reshape_input
from watchnet.vision.models.runtime import create_session
from watchnet.vision.models.store import ModelStore


@pytest.fixture(scope="module")
def detector() -> Detector:
    settings = Settings.load()
    ModelStore(settings).pull(["nanodet"])
    return Detector.from_settings(settings.model_copy(update={"detector": settings.detector.model_copy(
        update={"model": "nanodet"})}))


def _frame(shared_data: Path, seq: str) -> tuple[np.ndarray, np.ndarray]:
    root = shared_data / "tracking" / "mot17_mini" / seq
    frame = cv2.imread(str(root / "img1" / "000001.jpg"))
    assert frame is not None and frame.shape[:2] == (1080, 1920)
    return frame, np.loadtxt(root / "gt" / "gt.txt", delimiter=",")


def test_reshaped_nanodet_is_the_same_model_at_416_and_runs_at_288x512(detector: Detector, shared_data: Path) -> None:
    frame, _ = _frame(shared_data, "MOT17-04-FRCNN")
    family = detector.family
    assert isinstance(family, NanoDet) and family.input_hw == (416, 416)
    path = ModelStore(Settings.load()).path("nanodet")
    copy = reshape_input(onnx.load(str(path)), 416, 416)
    same = NanoDet(create_session(copy.SerializeToString(), RuntimeConfig()))
    a, b = family([frame], 0.25)[0], same([frame], 0.25)[0]
    assert len(a.score) > 10 and np.array_equal(a.xyxy, b.xyxy) and np.array_equal(a.score, b.score)
    wide = family.at(288, 512)
    assert wide.input_hw == (288, 512)
    assert [o.shape for o in wide.session.run(None, {wide.input_name: np.zeros((1, 3, 288, 512), np.float32)})][:3] \
        == [(1, 36 * 64, 80), (1, 18 * 32, 80), (1, 9 * 16, 80)]
    with pytest.raises(Exception, match="multiples of 32"):
        family.at(300, 512)


def test_focus_finds_a_small_person_the_whole_frame_and_tiles_miss(detector: Detector, shared_data: Path) -> None:
    # MOT17-02 frame 1, ground-truth person 26: 93 px tall, half visible (0.53), in the middle distance.
    frame, gt = _frame(shared_data, "MOT17-02-FRCNN")
    row = gt[(gt[:, 0] == 1) & (gt[:, 1] == 26)][0]
    assert row[5] < 100 and row[8] > 0.5
    box = np.array([[row[2], row[3], row[2] + row[4], row[3] + row[5]]], np.float32)
    config = SearchSettings.of(Settings.load().detector)
    shapes: list[tuple[int, int]] = []

    def fitted(images: list[np.ndarray]) -> list[sv.Detections]:
        shapes.extend(image.shape[:2] for image in images)
        return detector.detect_fit(images)

    found = {}
    for mode in ("whole", "tiles", "focus"):
        search = RegionSearch(detector.detect, dataclasses.replace(config, mode=mode), fitted)
        dets = search(frame)
        people = dets.xyxy[(np.asarray(dets.class_id) == CLASS_ID["person"]) & np.asarray(dets.data["confident"])]
        found[mode] = float(sv.box_iou_batch(box, people).max()) if len(people) else 0.0
        if mode == "focus":
            assert len(search.searched) == 2 and search.searched[0] == (0, 0, 1920, 1080)
            x0, y0, x1, y1 = search.searched[1]
            assert (x1 - x0, y1 - y0) == (960, 540)
    assert found["whole"] < 0.3 and found["tiles"] < 0.3
    assert found["focus"] >= 0.5
    assert shapes == [(1080, 1920), (540, 960)]  # two calls (the whole frame, then the window) ...
    assert [fit_shape(w, h, 416 * 416) for h, w in shapes] == [(288, 512)] * 2  # ... at 1.7x one 416x416 call
