"""Shapes drawn in the console are frame-relative (0..1): zones, lines and masks mean the same on any resolution,
and give the same events as the same shapes in pixels."""

from __future__ import annotations

import numpy as np
import supervision as sv

from tests.unit.test_pipeline_parts import boxes, frame
from watchnet.core.config import CameraConfig, LineRule, Settings, ZoneRule, frame_points
from watchnet.vision.analysis.rules import RuleEngine
from watchnet.vision.pipeline import CameraPipeline


def test_frame_points_scales_fractions_and_keeps_pixels() -> None:
    assert frame_points([(0.5, 0.25), (1.0, 1.0)], 480, 360) == [(240.0, 90.0), (480.0, 360.0)]
    assert frame_points([(200, 0), (300, 0.5)], 480, 360) == [(200.0, 0.0), (300.0, 0.5)]


def _kinds(camera: CameraConfig) -> list[tuple[str, str | None, object]]:
    rules = RuleEngine(camera)
    kinds = []
    for i, x in enumerate([100, 150, 230, 260, 280, 350, 400]):
        events = rules.evaluate(frame(i), boxes([(x - 20, 100, x + 20, 200)], ids=[7]))
        kinds += [(e.kind.value, e.rule, e.detail.get("direction")) for e in events]
    return kinds


def test_relative_rules_fire_like_pixel_rules() -> None:
    pixels = CameraConfig(name="cam", url="x",
                          zones=[ZoneRule(name="door", polygon=[(200, 0), (300, 0), (300, 360), (200, 360)])],
                          lines=[LineRule(name="gate", start=(250, 0), end=(250, 360))])
    w = 480
    relative = CameraConfig(name="cam", url="x",
                            zones=[ZoneRule(name="door", polygon=[(200 / w, 0), (300 / w, 0), (300 / w, 1),
                                                                  (200 / w, 1)])],
                            lines=[LineRule(name="gate", start=(250 / w, 0), end=(250 / w, 1))])
    expected = _kinds(pixels)
    assert ("zone_enter", "door", None) in expected and any(k[0] == "line_cross" for k in expected)
    assert _kinds(relative) == expected


def test_privacy_mask_blacks_out_the_frame_before_anything_else(settings: Settings) -> None:
    camera = CameraConfig(name="cam", url="x", privacy_masks=[[(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]])
    seen: list[np.ndarray] = []

    def detect(image: np.ndarray) -> sv.Detections:
        seen.append(image.copy())
        return boxes([])

    pipeline = CameraPipeline(camera, settings, detect, fps=10.0)
    image = np.full((360, 480, 3), 200, np.uint8)
    image.flags.writeable = False  # a decoder's read-only buffer is copied, not written
    result = pipeline.process(frame(0, image))
    assert not result.frame.image[:, :240].any() and (result.frame.image[:, 241:] == 200).all()
    assert seen and not seen[0][:, :240].any()
    assert (image == 200).all()
