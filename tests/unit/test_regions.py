"""Tile and region geometry and crop merging (pure numpy; the real-model checks are in test_small_objects)."""

from __future__ import annotations

import dataclasses

import numpy as np
import supervision as sv

from watchnet.core.config import DetectorConfig
from watchnet.vision.analysis.regions import (
    RegionSearch,
    SearchSettings,
    focus_window,
    merge_regions,
    square_around,
    tile_boxes,
)
from watchnet.vision.models.nanodet import fit_shape


def test_tiles_cover_the_frame_with_overlap() -> None:
    tiles = tile_boxes(1920, 1080, 0, 0.15)
    assert tiles == [(0, 0, 1080, 1080), (840, 0, 1920, 1080)]
    small = tile_boxes(1920, 1080, 720, 0.15)
    covered = np.zeros((1080, 1920), bool)
    for x0, y0, x1, y1 in small:
        assert x1 - x0 == y1 - y0 == 720
        covered[y0:y1, x0:x1] = True
    assert covered.all()


def test_regions_are_squares_inside_the_frame_and_capped() -> None:
    assert square_around((1900, 10, 1910, 30), 416, 1920, 1080) == (1504, 0, 1920, 416)
    regions = [square_around((x, 500, x + 20, 560), 416, 1920, 1080) for x in (50, 700, 1400)]
    assert len(merge_regions(regions, 3, 416, 1920, 1080)) == 3
    merged = merge_regions(regions, 2, 416, 1920, 1080)
    assert len(merged) == 2 and all(r[2] - r[0] == r[3] - r[1] for r in merged)


def test_box_cut_by_a_tile_edge_is_dropped_when_the_neighbour_holds_it_whole() -> None:
    def fake(images: list[np.ndarray]) -> list[sv.Detections]:
        out = []
        for image in images:
            if image.shape[1] == 1080 and image[0, 0, 0] == 0:  # left tile: a person cut at x=1080
                xyxy = np.array([[1040, 100, 1080, 200]], np.float32)
            else:  # right tile (starts at x=840): the same person whole
                xyxy = np.array([[1030 - 840, 100, 1100 - 840, 200]], np.float32)
            out.append(sv.Detections(xyxy=xyxy, confidence=np.array([0.9], np.float32),
                                     class_id=np.array([0]), data={"confident": np.array([True])}))
        return out

    frame = np.zeros((1080, 1920, 3), np.uint8)
    frame[:, 840:] = 1
    search = RegionSearch(fake, SearchSettings.of(DetectorConfig(mode="tiles")))
    found = search(frame)
    assert len(found) == 1 and np.allclose(found.xyxy[0], [1030, 100, 1100, 200])


def test_focus_window_goes_where_the_small_objects_are() -> None:
    area = (0, 0, 1920, 1080)
    assert focus_window(np.zeros((0, 4)), area) == (480, 270, 1440, 810)  # nothing seen yet: the centre
    far = np.array([[1500 + 30 * i, 700, 1520 + 30 * i, 760] for i in range(5)], np.float32)  # 60 px tall
    near = np.array([[100 + 150 * i, 100, 200 + 150 * i, 500] for i in range(5)], np.float32)  # 400 px tall
    x0, y0, x1, y1 = focus_window(np.concatenate([near, far]), area)
    assert (x1 - x0, y1 - y0) == (960, 540)
    assert x0 <= 1500 and x1 >= 1640 and y0 <= 700 and y1 >= 760  # the five far people, not the five near ones


def test_focus_searches_the_whole_frame_then_the_window_at_fitted_inputs() -> None:
    calls: list[tuple[str, tuple[int, ...]]] = []

    def plain(images: list[np.ndarray]) -> list[sv.Detections]:
        calls.extend(("plain", image.shape[:2]) for image in images)
        return [sv.Detections.empty() for _ in images]

    def fitted(images: list[np.ndarray]) -> list[sv.Detections]:
        out = []
        for image in images:
            calls.append(("fit", image.shape[:2]))
            if image.shape[:2] == (1080, 1920):  # whole pass: two small people at the bottom right
                xyxy = np.array([[1700, 1000, 1720, 1060], [1750, 1000, 1770, 1060]], np.float32)
            else:  # the window (bottom-right quarter): one of them again, and a box cut by its left edge
                xyxy = np.array([[1700 - 960, 1000 - 540, 1721 - 960, 1061 - 540], [0, 10, 30, 90]], np.float32)
            out.append(sv.Detections(xyxy=xyxy, confidence=np.array([0.5, 0.9], np.float32),
                                     class_id=np.array([0, 0]), data={"confident": np.array([True, True])}))
        return out

    search = RegionSearch(plain, dataclasses.replace(SearchSettings.of(DetectorConfig()), mode="focus"), fitted)
    found = search(np.zeros((1080, 1920, 3), np.uint8))
    assert calls == [("fit", (1080, 1920)), ("fit", (540, 960))]
    assert search.searched == [(0, 0, 1920, 1080), (960, 540, 1920, 1080)]
    assert len(found) == 2  # the window's duplicate merged, its box cut at the window edge dropped
    assert not np.any(np.isclose(found.xyxy[:, 0], 960))


def test_fitted_inputs_follow_the_image_shape_within_the_square_budget() -> None:
    budget = 416 * 416
    assert fit_shape(1920, 1080, budget) == (288, 512)  # 16:9: scale 0.267 (the square: 0.217) at 0.85x
    assert fit_shape(1080, 1080, budget) == (416, 416)  # a square tile runs as today
    assert fit_shape(1080, 1920, budget) == (512, 288)
    for width, height in ((768, 576), (1280, 720), (2560, 1440), (640, 480), (1000, 300)):
        h, w = fit_shape(width, height, budget)
        assert h % 32 == w % 32 == 0 and h * w <= budget
        assert min(h / height, w / width) >= 416 / max(width, height) - 1e-9  # never smaller than letterboxing
