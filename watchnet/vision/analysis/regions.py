"""Where the detector looks: the whole frame, overlapping tiles, or motion regions zoomed to its input.

A 1920x1080 frame letterboxed into a 416 px detector leaves a distant person a few pixels tall, below
what the model resolves. Two levers keep them, both as a wrapper around any batch detect function, so
the tracker downstream is fed exactly as before (same stride, same carry):

- **tiles**: overlapping squares (by default as tall as the frame, so two across a 16:9 frame) each
  letterboxed into the model, plus one whole-frame pass for objects larger than a tile; boxes cut by an
  inner tile edge are dropped (the neighbour or the whole pass sees them whole), the rest merged by NMS.
- **motion** (as Frigate does): boxes around pixels that changed against a running background, grown
  to squares of at least the model's input side, merged where they overlap, at most ``region_max`` of
  them (closest pairs joined), each cropped and zoomed to the model input; boxes of the previous
  detection pass are kept as regions too, so a person who stops walking is still looked at. A frame
  without a background yet (the first) or with motion almost everywhere falls back to tiles.

- **focus**: two calls, each at a model input shaped like its image (``Detector.detect_fit``, no more
  pixels than the square input): the whole frame (a 16:9 frame at 288x512 holds people 1.23x larger
  than the letterboxed square), then a window of half its width and height (twice that zoom) placed
  where this pass and the previous frame found the most small objects (the sum of 1/height of the
  boxes inside). Far, small people gather somewhere different in every view (the top of an elevated
  camera's frame, the middle of a street-level one); the window goes where they are instead of where
  a fixed layout guesses. Boxes the window cuts at its edges are dropped (the whole pass holds them).

``auto`` picks the whole frame up to ``auto_max_height`` and ``auto_high_mode`` above, decided on each
camera's first frame. Per-camera ROI polygons and minimum object heights filter the merged boxes.
The choice of default is measured in ``bench/pipeline.py`` (high-resolution section).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import supervision as sv

from watchnet.core.config import CameraConfig, DetectorConfig, frame_points
from watchnet.core.records import subset

BatchDetectFn = Callable[[list[np.ndarray]], list[sv.Detections]]
Box = tuple[int, int, int, int]

_MOTION_WIDTH = 480  # motion is found on a copy this wide (cheap, still ~4 px per 1080p person width)
_PIXEL_DELTA = 20  # grey levels a pixel must change by against the background
_BACKGROUND_RATE = 0.3  # running-average weight of the newest frame
_MIN_BLOB = 6  # px (at the motion width) below which a changed blob is noise
_EDGE_PX = 3.0  # a box this close to an inner crop edge was cut by it
_FALLBACK_COVER = 0.6  # motion regions covering more of the frame than this: use tiles
_FOCUS_SPLIT = 2  # the focus window is this fraction (1/2) of the searched area's width and height
_FOCUS_STEPS = (7, 5)  # focus window positions tried across and down
_FOCUS_MIN_PX = 20.0  # boxes shorter than this weigh as this tall (a stray speck does not pull the window)


def one_by_one(detect: Callable[[np.ndarray], sv.Detections]) -> BatchDetectFn:
    """Adapt a one-image detect function (e.g. the runner's shared detector service) to batches."""
    return lambda images: [detect(image) for image in images]


def tile_boxes(width: int, height: int, side: int, overlap: float, area: Box | None = None) -> list[Box]:
    """Square tiles of ``side`` px covering ``area`` (default: the frame), neighbours sharing ``overlap``."""
    x0, y0, x1, y1 = area or (0, 0, width, height)
    side = max(16, min(side, x1 - x0, y1 - y0) if side else min(x1 - x0, y1 - y0))

    def starts(lo: int, hi: int) -> list[int]:
        if hi - lo <= side:
            return [lo]
        count = int(np.ceil((hi - lo - side) / (side * (1 - overlap)))) + 1
        return [round(v) for v in np.linspace(lo, hi - side, count)]

    return [(x, y, x + side, y + side) for y in starts(y0, y1) for x in starts(x0, x1)]


def square_around(box: Sequence[float], min_side: int, width: int, height: int, pad: float = 0.0) -> Box:
    """The smallest square of at least ``min_side`` holding ``box`` grown by ``pad`` of its size, shifted
    (not cut) to lie inside the frame where it fits."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    side = int(min(max(w * (1 + 2 * pad), h * (1 + 2 * pad), min_side), width, height))
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left = int(np.clip(round(cx - side / 2), 0, width - side))
    top = int(np.clip(round(cy - side / 2), 0, height - side))
    return left, top, left + side, top + side


def focus_window(boxes: np.ndarray, area: Box, split: int = _FOCUS_SPLIT,
                 steps: tuple[int, int] = _FOCUS_STEPS) -> Box:
    """The window of 1/``split`` of ``area``'s sides, among ``steps`` positions across and down, holding
    the most small objects: the largest sum of 1/height over the ``boxes`` (frame xyxy) wholly inside.
    Without boxes, the centre."""
    x0, y0, x1, y1 = area
    w, h = max(1, (x1 - x0) // split), max(1, (y1 - y0) // split)
    xs = np.linspace(x0, x1 - w, steps[0]).round().astype(int)
    ys = np.linspace(y0, y1 - h, steps[1]).round().astype(int)
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    if not len(boxes):
        cx, cy = int(xs[len(xs) // 2]), int(ys[len(ys) // 2])
        return cx, cy, cx + w, cy + h
    weight = 1.0 / np.maximum(boxes[:, 3] - boxes[:, 1], _FOCUS_MIN_PX)
    best, where = -1.0, (int(xs[0]), int(ys[0]))
    for y in ys:
        for x in xs:
            inside = (boxes[:, 0] >= x) & (boxes[:, 1] >= y) & (boxes[:, 2] <= x + w) & (boxes[:, 3] <= y + h)
            total = float(weight[inside].sum())
            if total > best:
                best, where = total, (int(x), int(y))
    return where[0], where[1], where[0] + w, where[1] + h


def _union(a: Box, b: Box) -> Box:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def _overlaps(a: Box, b: Box) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def merge_regions(regions: list[Box], limit: int, min_side: int, width: int, height: int) -> list[Box]:
    """Join overlapping square regions (re-squared), then the pair whose union is smallest until at most
    ``limit`` remain: one model call per region bounds the cost."""
    out = list(regions)
    while len(out) > 1:
        pair = next(((i, j) for i in range(len(out)) for j in range(i + 1, len(out)) if _overlaps(out[i], out[j])),
                    None)
        if pair is None:
            if len(out) <= limit:
                break
            pair = min(
                ((i, j) for i in range(len(out)) for j in range(i + 1, len(out))),
                key=lambda ij: max(_union(out[ij[0]], out[ij[1]])[2] - _union(out[ij[0]], out[ij[1]])[0],
                                   _union(out[ij[0]], out[ij[1]])[3] - _union(out[ij[0]], out[ij[1]])[1]),
            )
        i, j = pair
        joined = square_around(_union(out[i], out[j]), min_side, width, height)
        out = [r for k, r in enumerate(out) if k not in (i, j)] + [joined]
    return out


class MotionFinder:
    """Boxes (frame pixels) around what changed against a running-average background."""

    def __init__(self) -> None:
        self._background: np.ndarray | None = None

    def __call__(self, image: np.ndarray, mask: np.ndarray | None = None) -> list[Box] | None:
        """Changed areas of ``image``; None while there is no background yet (first frame)."""
        height, width = image.shape[:2]
        scale = _MOTION_WIDTH / width
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        small = cv2.resize(grey, (_MOTION_WIDTH, max(1, round(height * scale))), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (5, 5), 0).astype(np.float32)
        if self._background is None or self._background.shape != small.shape:
            self._background = small
            return None
        moved = cv2.absdiff(small, self._background) > _PIXEL_DELTA
        cv2.accumulateWeighted(small, self._background, _BACKGROUND_RATE)
        if mask is not None:
            moved &= cv2.resize(mask, (moved.shape[1], moved.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
        changed = cv2.dilate(moved.astype(np.uint8), np.ones((5, 5), np.uint8), iterations=2)
        count, _, stats, _ = cv2.connectedComponentsWithStats(changed, connectivity=8)
        boxes = []
        for x, y, w, h, _area in stats[1:count]:
            if max(w, h) >= _MIN_BLOB:
                boxes.append((int(x / scale), int(y / scale), int((x + w) / scale), int((y + h) / scale)))
        return boxes


def merge_crops(crops: Sequence[Box], found: Sequence[sv.Detections], width: int, height: int,
                merge_iou: float) -> sv.Detections:
    """Frame-pixel boxes of all crops, one per object: a box cut by an inner crop edge is dropped when
    another crop holds it whole (that crop saw the whole object), the rest are merged by NMS at ``merge_iou``."""
    held = np.asarray(crops, np.float32)
    parts = []
    for index, ((x0, y0, x1, y1), dets) in enumerate(zip(crops, found, strict=True)):
        if not len(dets):
            continue
        xyxy = dets.xyxy + np.array([x0, y0, x0, y0], np.float32)
        if len(crops) > 1:
            cut = np.zeros(len(dets), bool)
            for edge, axis, limit in ((x0, 0, 0), (y0, 1, 0), (x1, 2, width), (y1, 3, height)):
                if edge != limit:
                    cut |= np.abs(xyxy[:, axis] - edge) <= _EDGE_PX
            if cut.any():
                others = np.delete(held, index, axis=0)
                inside = (
                    (xyxy[:, None, 0] >= others[None, :, 0] - _EDGE_PX)
                    & (xyxy[:, None, 1] >= others[None, :, 1] - _EDGE_PX)
                    & (xyxy[:, None, 2] <= others[None, :, 2] + _EDGE_PX)
                    & (xyxy[:, None, 3] <= others[None, :, 3] + _EDGE_PX)
                ).any(axis=1)
                drop = cut & inside
                dets, xyxy = subset(dets, ~drop), xyxy[~drop]
        if len(dets):
            dets.xyxy = xyxy.astype(np.float32)
            parts.append(dets)
    if not parts:
        return sv.Detections.empty()
    merged = sv.Detections.merge(parts)
    if len(parts) > 1:
        merged = merged.with_nms(threshold=merge_iou, class_agnostic=False)
    return merged


@dataclass(frozen=True, slots=True)
class SearchSettings:
    """One camera's effective search settings (global detector section + camera overrides)."""

    mode: str
    auto_max_height: int
    auto_high_mode: str
    tile_side: int
    tile_overlap: float
    whole_pass: bool | None
    region_min_side: int
    region_max: int
    region_pad: float
    min_object_px: int
    merge_iou: float
    roi: tuple[tuple[float, float], ...] | None

    @classmethod
    def of(cls, config: DetectorConfig, camera: CameraConfig | None = None) -> SearchSettings:
        return cls(
            mode=(camera.detect_mode if camera and camera.detect_mode else config.mode),
            auto_max_height=config.auto_max_height,
            auto_high_mode=config.auto_high_mode,
            tile_side=config.tile_side,
            tile_overlap=config.tile_overlap,
            whole_pass=config.tiles_whole_pass,
            region_min_side=config.region_min_side or config.input_size,
            region_max=config.region_max,
            region_pad=config.region_pad,
            min_object_px=(camera.min_object_px if camera and camera.min_object_px is not None
                           else config.min_object_px),
            merge_iou=config.merge_iou,
            roi=tuple(camera.roi) if camera and camera.roi else None,
        )


class RegionSearch:
    """A detect function that searches tiles or motion regions and returns frame-pixel boxes.

    Call it like the plain detect function (one BGR frame -> ``sv.Detections``). ``searched`` holds the
    crops (frame pixels) the last call ran the detector on, for overlays; ``mode`` the resolved mode.
    ``detect_fit`` runs images at inputs shaped like them (``Detector.detect_fit``); focus mode needs it
    to pay off (without it, focus runs on ``detect_many``'s square input and finds less).
    """

    def __init__(self, detect_many: BatchDetectFn, settings: SearchSettings,
                 detect_fit: BatchDetectFn | None = None) -> None:
        self.detect_many = detect_many
        self.detect_fit = detect_fit or detect_many
        self.settings = settings
        self.mode: str | None = None if settings.mode == "auto" else settings.mode
        self.searched: list[Box] = []
        self._motion = MotionFinder()
        self._previous: np.ndarray = np.zeros((0, 4), np.float32)
        self._mask: np.ndarray | None = None
        self._area: Box | None = None

    @classmethod
    def for_camera(
        cls, detect: Callable[[np.ndarray], sv.Detections], config: DetectorConfig, camera: CameraConfig | None,
        detect_fit: Callable[[np.ndarray], sv.Detections] | None = None,
    ) -> RegionSearch:
        """Wrap a camera's one-image detect function(s) with that camera's search settings."""
        return cls(one_by_one(detect), SearchSettings.of(config, camera),
                   one_by_one(detect_fit) if detect_fit else None)

    def __call__(self, image: np.ndarray) -> sv.Detections:
        height, width = image.shape[:2]
        self._prepare(width, height)
        if self.mode == "focus":
            return self._focus(image, width, height)
        crops = self._plan(image, width, height)
        self.searched = crops
        found = self.detect_many([image[y0:y1, x0:x1] for x0, y0, x1, y1 in crops])
        merged = self._merge(crops, found, width, height)
        merged = self._filter(merged)
        self._previous = merged.xyxy.copy()
        return merged

    def _focus(self, image: np.ndarray, width: int, height: int) -> sv.Detections:
        """The whole area, then the window where it and the last frame saw the most small objects."""
        area: Box = self._area or (0, 0, width, height)
        x0, y0, x1, y1 = area
        first = self.detect_fit([image[y0:y1, x0:x1]])[0]
        seen = first.xyxy + np.array([x0, y0, x0, y0], np.float32) if len(first) else np.zeros((0, 4), np.float32)
        window = focus_window(np.concatenate([seen, self._previous.reshape(-1, 4)]), area)
        wx0, wy0, wx1, wy1 = window
        second = self.detect_fit([image[wy0:wy1, wx0:wx1]])[0]
        self.searched = [area, window]
        merged = self._filter(self._merge(self.searched, [first, second], width, height))
        self._previous = merged.xyxy.copy()
        return merged

    # --- planning -------------------------------------------------------------------------------------
    def _prepare(self, width: int, height: int) -> None:
        if self.mode is None:
            s = self.settings
            self.mode = "whole" if height <= s.auto_max_height else s.auto_high_mode
        if self.settings.roi and (self._mask is None or self._mask.shape != (height, width)):
            roi = frame_points(self.settings.roi, width, height)  # pixels, or frame-relative from the console
            polygon = np.round(np.asarray(roi, np.float32)).astype(np.int32)
            self._mask = np.zeros((height, width), np.uint8)
            cv2.fillPoly(self._mask, [polygon], 1)
            xs, ys = np.clip(polygon[:, 0], 0, width), np.clip(polygon[:, 1], 0, height)
            self._area = (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))

    def _plan(self, image: np.ndarray, width: int, height: int) -> list[Box]:
        whole: Box = self._area or (0, 0, width, height)
        if self.mode == "whole":
            return [whole]
        if self.mode == "tiles":
            return self._tiles(width, height, whole)
        moving = self._motion(image, self._mask)
        if moving is None:
            return self._tiles(width, height, whole)
        s = self.settings
        seeds = list(moving) + [tuple(int(v) for v in b) for b in self._previous]
        regions = [square_around(b, s.region_min_side, width, height, s.region_pad) for b in seeds]
        regions = merge_regions(regions, s.region_max, s.region_min_side, width, height)
        covered = sum((r[2] - r[0]) * (r[3] - r[1]) for r in regions) / float(width * height)
        if covered > _FALLBACK_COVER:
            return self._tiles(width, height, whole)
        return regions

    def _tiles(self, width: int, height: int, area: Box) -> list[Box]:
        s = self.settings
        tiles = tile_boxes(width, height, s.tile_side, s.tile_overlap, area)
        whole_pass = s.whole_pass if s.whole_pass is not None else tiles[0][3] - tiles[0][1] < area[3] - area[1]
        if whole_pass and len(tiles) > 1:
            tiles.append(area)
        return tiles

    # --- merging --------------------------------------------------------------------------------------
    def _merge(self, crops: list[Box], found: list[sv.Detections], width: int, height: int) -> sv.Detections:
        return merge_crops(crops, found, width, height, self.settings.merge_iou)

    def _filter(self, dets: sv.Detections) -> sv.Detections:
        if not len(dets):
            return dets
        keep = np.ones(len(dets), bool)
        if self.settings.min_object_px:
            keep &= (dets.xyxy[:, 3] - dets.xyxy[:, 1]) >= self.settings.min_object_px
        if self._mask is not None:
            h, w = self._mask.shape
            fx = np.clip(((dets.xyxy[:, 0] + dets.xyxy[:, 2]) / 2).astype(int), 0, w - 1)
            fy = np.clip(dets.xyxy[:, 3].astype(int) - 1, 0, h - 1)
            keep &= self._mask[fy, fx] > 0
        return dets if keep.all() else subset(dets, keep)


def draw_searched(canvas: np.ndarray, regions: Sequence[Box], colour: tuple[int, int, int] = (0, 200, 255)) -> None:
    """Outline the crops the detector searched (annotated output), thin and dashed-looking, in place."""
    for x0, y0, x1, y1 in regions:
        cv2.rectangle(canvas, (int(x0) + 1, int(y0) + 1), (int(x1) - 2, int(y1) - 2), colour, 1, cv2.LINE_4)
