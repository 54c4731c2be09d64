"""Fast checks of the pipeline's parts: motion gate, tracker carry and life-cycle, rules, MOT, config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import supervision as sv
from onnx import TensorProto, helper, numpy_helper
from pydantic import ValidationError

from watchnet.cli.common import parse_source
from watchnet.core.config import (
    CameraConfig,
    DetectorConfig,
    LineRule,
    RuntimeConfig,
    Settings,
    TrackerConfig,
    ZoneRule,
)
from watchnet.core.errors import ModelError
from watchnet.core.records import CLASS_ID, Frame, TrackEventKind
from watchnet.vision.analysis.detect import Detector
from watchnet.vision.analysis.motion import MotionGate
from watchnet.vision.analysis.rules import RuleEngine
from watchnet.vision.analysis.track import CameraTracker
from watchnet.vision.models.detectors import open_detector
from watchnet.vision.models.letterbox import letterbox
from watchnet.vision.mot import MotWriter, read_mot


def frame(index: int, image: np.ndarray | None = None, fps: float = 10.0) -> Frame:
    img = image if image is not None else np.zeros((360, 480, 3), np.uint8)
    return Frame("cam", index, index / fps, 1_000.0 + index / fps, img)


def boxes(rows: list[tuple[float, float, float, float]], score: float = 0.9, cls: str = "person",
          ids: list[int] | None = None) -> sv.Detections:
    det = sv.Detections(
        xyxy=np.array(rows, np.float32).reshape(-1, 4), confidence=np.full(len(rows), score, np.float32),
        class_id=np.full(len(rows), CLASS_ID[cls]),
    )
    if ids is not None:
        det.tracker_id = np.array(ids)
    return det


def test_motion_gate_skips_static_frames_and_refreshes() -> None:
    gate = MotionGate(threshold=0.002, refresh_frames=5)
    still = np.full((360, 480, 3), 90, np.uint8)
    assert gate.should_detect(still)  # first frame always
    assert [gate.should_detect(still) for _ in range(3)] == [False, False, False]
    moved = still.copy()
    moved[100:200, 100:160] = 250  # a person-sized change
    assert gate.should_detect(moved)
    assert [gate.should_detect(moved) for _ in range(5)] == [False, False, False, False, True]  # refresh


def test_tracker_carries_boxes_between_detector_frames_and_ends_tracks() -> None:
    tracker = CameraTracker("cam", TrackerConfig(min_consecutive_frames=1), fps=10)
    appeared = []
    for i in range(0, 8, 2):  # detector on every second frame, a person walking right 4 px/frame
        x = 100 + 4 * i
        update = tracker.update(frame(i), boxes([(x, 50, x + 40, 150)]))
        appeared += [e for e in update.events if e.kind is TrackEventKind.APPEARED]
        carried = tracker.update(frame(i + 1), None)
        if i >= 4:  # two observations with an id: the carried box moved on by one frame's worth
            assert carried.detections.data["carried"].all()
            assert carried.detections.xyxy[0, 0] == pytest.approx(x + 4, abs=1.0)
    assert len(appeared) == 1 and len(tracker.active) == 1
    track = next(iter(tracker.active.values()))
    # ByteTrack confirms a new track on its second update, so the id (and the summary) starts at frame 2.
    assert track.hits == 3 and track.first_frame == 2 and track.last_frame == 6
    left = []
    for i in range(8, 30):  # nobody any more: the track leaves after the lost budget (30/30 s)
        left += [e for e in tracker.update(frame(i), boxes([]) if i % 2 == 0 else None).events
                 if e.kind is TrackEventKind.LEFT]
    assert len(left) == 1 and left[0].track_id == track.track_id and not tracker.active


def test_zone_and_line_rules_raise_enter_exit_and_crossing() -> None:
    camera = CameraConfig(
        name="cam", url="x",
        zones=[ZoneRule(name="door", polygon=[(200, 0), (300, 0), (300, 360), (200, 360)])],
        lines=[LineRule(name="gate", start=(250, 0), end=(250, 360))],
    )
    rules = RuleEngine(camera)
    kinds = []
    for i, x in enumerate([100, 150, 230, 260, 280, 350, 400]):
        events = rules.evaluate(frame(i), boxes([(x - 20, 100, x + 20, 200)], ids=[7]))
        kinds += [(e.kind.value, e.rule, e.detail.get("direction")) for e in events]
    assert ("zone_enter", "door", None) in kinds and ("zone_exit", "door", None) in kinds
    assert [k for k in kinds if k[0] == "line_cross"] == [("line_cross", "gate", k[2]) for k in kinds
                                                          if k[0] == "line_cross"]
    assert len([k for k in kinds if k[0] == "line_cross"]) == 1
    cars_only = RuleEngine(CameraConfig(name="c", url="x", zones=[ZoneRule(
        name="z", polygon=[(0, 0), (480, 0), (480, 360)], classes=["car"])]))
    assert cars_only.evaluate(frame(0), boxes([(300, 10, 340, 60)], ids=[1])) == []  # a person: ignored


def test_mot_writer_uses_one_based_frames_and_filters_classes(tmp_path: Path) -> None:
    writer = MotWriter(tmp_path / "cam.txt", classes=("person",))
    tracked = sv.Detections(xyxy=np.array([[10, 20, 50, 120], [0, 0, 5, 5]], np.float32),
                            confidence=np.array([0.9, 0.8], np.float32), class_id=np.array([0, 2]),
                            tracker_id=np.array([3, 4]))
    writer.write(0, tracked)
    writer.close()
    rows = read_mot(tmp_path / "cam.txt")
    assert rows.shape == (1, 10)
    assert rows[0, :6].tolist() == [1, 3, 10, 20, 40, 100]


def test_letterbox_round_trips_boxes() -> None:
    image = np.zeros((360, 480, 3), np.uint8)
    canvas, placement = letterbox(image, (416, 416), centre=True)
    assert canvas.shape == (416, 416, 3)
    box = np.array([[48.0, 36.0, 240.0, 300.0]])
    in_model = box * placement.scale + [placement.pad_x, placement.pad_y, placement.pad_x, placement.pad_y]
    assert np.allclose(placement.to_image(in_model, 480, 360), box, atol=0.01)


def _yolov8_onnx(path: Path, size: int = 320) -> None:
    """A model with a YOLOv8 head that always outputs one person at the image centre and one car."""
    n = 10
    pred = np.zeros((1, 84, n), np.float32)
    pred[0, :4, 0] = [size / 2, size / 2, 40, 120]  # cx, cy, w, h in input pixels
    pred[0, 4 + 0, 0] = 0.9  # person
    pred[0, :4, 1] = [60, 60, 50, 30]
    pred[0, 4 + 2, 1] = 0.7  # car
    const = helper.make_node("Constant", [], ["pred"], value=numpy_helper.from_array(pred))
    shape_in = helper.make_node("Shape", ["images"], ["shape"])
    # Output depends on the input so the graph is valid: pred + 0 * sum(shape)
    cast = helper.make_node("Cast", ["shape"], ["shape_f"], to=TensorProto.FLOAT)
    total = helper.make_node("ReduceSum", ["shape_f"], ["total"], keepdims=0)
    zero = helper.make_node("Mul", ["total", "zero"], ["nothing"])
    out = helper.make_node("Add", ["pred", "nothing"], ["output0"])
    graph = helper.make_graph(
        [const, shape_in, cast, total, zero, out], "yolo-stub",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 84, n])],
        initializer=[numpy_helper.from_array(np.array(0, np.float32), "zero")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def test_users_own_yolo_export_plugs_into_the_detector_slot(tmp_path: Path) -> None:
    path = tmp_path / "my-yolo.onnx"
    _yolov8_onnx(path)
    family = open_detector(path, "detector", RuntimeConfig(), input_size=640)
    assert family.name == "yolov8" and family.input_hw == (320, 320)
    detector = Detector(family, DetectorConfig())
    (det,) = detector.detect([np.zeros((240, 320, 3), np.uint8)])  # letterboxed: 320x240 -> pad 40 px
    assert det.class_id is not None
    labels = sorted(int(c) for c in det.class_id)
    assert labels == [CLASS_ID["person"], CLASS_ID["car"]]
    person = det.xyxy[det.class_id == CLASS_ID["person"]][0]
    assert np.allclose(person, [140, 60, 180, 180], atol=1.0)  # centre of the 320x240 image


def test_unknown_onnx_signature_gives_a_clear_error(tmp_path: Path) -> None:
    node = helper.make_node("Identity", ["x"], ["y"])
    graph = helper.make_graph([node], "odd", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])])
    path = tmp_path / "odd.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    with pytest.raises(ModelError, match="cannot tell which detector family"):
        open_detector(path, "detector", RuntimeConfig(), input_size=416)


def test_config_rejects_duplicate_cameras_and_unknown_classes(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="unique"):
        Settings.load(home=tmp_path, cameras=[{"name": "a", "url": "x"}, {"name": "a", "url": "y"}])
    with pytest.raises(ValidationError, match="unknown classes"):
        DetectorConfig(thresholds={"dragon": 0.5})
    config = tmp_path / "cams.yaml"
    config.write_text("cameras:\n  - {name: gate, url: /v.mp4, lat: 51.5, lon: -0.1}\ndetector: {stride: 3}\n")
    settings = Settings.load(config)
    assert settings.cameras[0].lat == 51.5 and settings.detector.stride == 3


def test_config_environment_beats_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("detector: {stride: 3}\n")
    monkeypatch.setenv("WATCHNET_DETECTOR__STRIDE", "5")
    assert Settings.load(config).detector.stride == 5


def test_parse_source_names_cameras() -> None:
    assert parse_source("gate=rtsp://10.0.0.1/live").name == "gate"
    bare = parse_source("/videos/front door.mp4")
    assert bare.name == "front_door" and bare.url == "/videos/front door.mp4"
    assert parse_source("rtsp://user:pw@host/stream").url == "rtsp://user:pw@host/stream"
