"""Tile and region geometry and crop merging (pure numpy; the real-model checks are in test_small_objects)."""

from __future__ import annotations

import numpy as np
import supervision as sv

from watchnet.core.config import DetectorConfig
from watchnet.vision.analysis.regions import RegionSearch, SearchSettings, merge_regions, square_around, tile_boxes


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
