"""Blur the faces of everyone who is not a watchlist match: one function for every export and the live view.

Why one function: a viewer's live picture, an alert's snapshot, a search thumbnail and an annotated video
must hide the same people the same way, or the weakest of them leaks what the others hide.
Viewers are stricter than exports: ``ViewerBlur`` hides *every* face (matches too until two people
confirmed them), searching the whole picture as well as the person boxes, and blurs the whole picture
when no face detector can run.

Who is hidden: every person box whose track id is not in ``matches``. Where: each face found inside the
box (``FaceFinder.detect(image, regions=boxes)``, one batched call), or, when none is, the box's top
``head_fraction`` (a deliberate over-cover: a face detector misses small, turned or blurred faces, and
a missed face must not slip through). A face belongs to the smallest box whose upper part holds its
centre; a match box claims only its best face, so a stranger's face inside a match's box is still
blurred. Where a stranger's blurred region overlaps the match's own face, the match's face wins (it is
the evidence the export exists for).

How: the region is shrunk to ``blur_cells`` samples across and smoothed back up (area-average, then
bilinear and a Gaussian of half a cell). The detail is discarded, not hidden, so no deconvolution brings
it back; with the defaults the real embedders no longer match a blurred face to its original (see
tests/integration/test_exports.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from watchnet.core.config import ExportsConfig, Settings
from watchnet.core.errors import WatchnetError
from watchnet.core.records import Face

Box = tuple[float, float, float, float]
FinderLoader = Callable[[], "FaceFinder"]
log = logging.getLogger("watchnet.blur")
#: A face whose centre lies in this upper share of a person box is that person's. A geometric rule, not a
#: tunable: a face lower in a box (say faces.region_top was raised) counts as nobody's and is blurred anyway.
FACE_REGION_TOP = 0.5
_CELL_PX = 8  # pixels per kept sample while smoothing (see blur_region)


class FaceFinder(Protocol):
    """What blurring needs of ``watchnet.vision.analysis.faces.FaceAnalyzer``: face boxes, whole-image or per region."""

    def detect(self, image_bgr: np.ndarray, regions: Sequence[Box] | None = None) -> list[Face]: ...


@dataclass(slots=True)
class BlurReport:
    """What was blurred: face boxes (found or carried), head regions (no face found), and kept match faces."""

    faces: list[Box] = field(default_factory=list)
    heads: list[Box] = field(default_factory=list)
    kept: list[Box] = field(default_factory=list)

    @property
    def regions(self) -> list[Box]:
        return self.faces + self.heads


def blur_region(image: np.ndarray, box: Box, cells: int) -> None:
    """Irreversibly blur ``box`` of ``image`` in place (keeps ``cells`` samples across its longer side)."""
    h, w = image.shape[:2]
    x1, y1 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x2, y2 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return
    region = image[y1:y2, x1:x2]
    side = max(x2 - x1, y2 - y1)
    small = cv2.resize(region, (max(1, round(cells * (x2 - x1) / side)), max(1, round(cells * (y2 - y1) / side))),
                       interpolation=cv2.INTER_AREA)
    # Smooth at 8 px per cell (a Gaussian of half a cell), then scale up: the same picture as smoothing at
    # full size, without a kernel as wide as the face (which made big faces cost tens of milliseconds).
    mid = cv2.resize(small, (small.shape[1] * _CELL_PX, small.shape[0] * _CELL_PX), interpolation=cv2.INTER_LINEAR)
    mid = cv2.GaussianBlur(mid, (0, 0), _CELL_PX / 2)
    image[y1:y2, x1:x2] = cv2.resize(mid, (x2 - x1, y2 - y1), interpolation=cv2.INTER_LINEAR)


def grow(box: Box, margin: float) -> Box:
    """``box`` grown by ``margin`` of its width/height on every side."""
    x1, y1, x2, y2 = box
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    return x1 - mx, y1 - my, x2 + mx, y2 + my


def head_region(box: Box, fraction: float) -> Box:
    """The top ``fraction`` of a person box (at least 4 px tall)."""
    x1, y1, x2, y2 = box
    return x1, y1, x2, y1 + max(4.0, (y2 - y1) * fraction)


def assign_faces(faces: Sequence[Face], boxes: Sequence[Box]) -> list[list[Face]]:
    """Faces per box: each face goes to the smallest box whose upper part holds its centre (or to none)."""
    out: list[list[Face]] = [[] for _ in boxes]
    for face in faces:
        cx, cy = (face.xyxy[0] + face.xyxy[2]) / 2, (face.xyxy[1] + face.xyxy[3]) / 2
        holders = [k for k, (x1, y1, x2, y2) in enumerate(boxes)
                   if x1 <= cx <= x2 and y1 <= cy <= y1 + FACE_REGION_TOP * (y2 - y1)]
        if holders:
            out[min(holders, key=lambda k: (boxes[k][2] - boxes[k][0]) * (boxes[k][3] - boxes[k][1]))].append(face)
    return out


def find_faces(finder: FaceFinder, image: np.ndarray, boxes: Sequence[Box], whole_frame: bool = False,
               whole_side: int | None = None) -> list[Face]:
    """Faces inside the person boxes (one batched call) and, with ``whole_frame``, anywhere in the image
    (searched at most ``whole_side`` pixels along its longer side when given: cheaper, and big enough for
    any face large enough to recognise)."""
    faces = finder.detect(image, regions=list(boxes)) if boxes else []
    if whole_frame:
        found = [f.xyxy for f in faces]
        faces += [f for f in _detect_whole(finder, image, whole_side) if not any(iou(f.xyxy, b) > 0.3 for b in found)]
    return faces


def _detect_whole(finder: FaceFinder, image: np.ndarray, side: int | None) -> list[Face]:
    h, w = image.shape[:2]
    scale = 1.0 if side is None else min(1.0, side / max(h, w))
    if scale >= 1.0:
        return finder.detect(image)
    small = cv2.resize(image, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA)
    return [Face(xyxy=(f.xyxy[0] / scale, f.xyxy[1] / scale, f.xyxy[2] / scale, f.xyxy[3] / scale), score=f.score)
            for f in finder.detect(small)]


def blur_non_matches(
    image: np.ndarray, boxes: Sequence[Box] | np.ndarray, track_ids: Sequence[int] | np.ndarray,
    matches: Collection[int],
    cfg: ExportsConfig, finder: FaceFinder | None = None, *, faces: Sequence[Face] | None = None,
    whole_frame: bool = False,
) -> BlurReport:
    """Blur, in place, the face (or head) of every person box whose track id is not in ``matches``.

    Faces come from ``faces`` when given (already found on this image), else from ``finder`` (inside the
    boxes; with ``whole_frame`` also outside them, for people the person detector missed), else none:
    then every non-match gets its head region blurred. Track ids below 0 are never matches.
    """
    person_boxes: list[Box] = [(float(b[0]), float(b[1]), float(b[2]), float(b[3])) for b in boxes]
    ids = [int(t) for t in track_ids]
    if len(ids) != len(person_boxes):
        raise ValueError(f"{len(person_boxes)} boxes but {len(ids)} track ids")
    if faces is None:
        faces = find_faces(finder, image, person_boxes, whole_frame) if finder is not None else []
    report = BlurReport()
    owned = assign_faces(faces, person_boxes)
    for mine, box, tid in zip(owned, person_boxes, ids, strict=True):
        if tid >= 0 and tid in matches:
            if mine:  # the match's own face is its best one; any other face in its box is a stranger's
                best = max(mine, key=lambda f: f.score * (f.xyxy[2] - f.xyxy[0]) * (f.xyxy[3] - f.xyxy[1]))
                report.kept.append(best.xyxy)
                report.faces += [f.xyxy for f in mine if f is not best]
            continue
        if mine:
            report.faces += [f.xyxy for f in mine]
        else:
            report.heads.append(head_region(box, cfg.head_fraction))
    held = {id(f) for group in owned for f in group}
    report.faces += [f.xyxy for f in faces if id(f) not in held]  # faces outside every person box
    apply(image, report, cfg)
    return report


def apply(image: np.ndarray, report: BlurReport, cfg: ExportsConfig) -> None:
    """Blur the report's faces (grown by ``face_margin``) and heads, then restore the kept match faces."""
    kept = [(box, _pixels(image, grow(box, cfg.face_margin))) for box in report.kept]
    for box in report.faces:
        blur_region(image, grow(box, cfg.face_margin), cfg.blur_cells)
    for box in report.heads:
        blur_region(image, box, cfg.blur_cells)
    for box, pixels in kept:
        if pixels is not None:
            x1, y1, x2, y2 = _clip(image, grow(box, cfg.face_margin))
            image[y1:y2, x1:x2] = pixels


def _clip(image: np.ndarray, box: Box) -> tuple[int, int, int, int]:
    h, w = image.shape[:2]
    return (max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1]))),
            min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3]))))


def _pixels(image: np.ndarray, box: Box) -> np.ndarray | None:
    x1, y1, x2, y2 = _clip(image, box)
    return image[y1:y2, x1:x2].copy() if x2 > x1 and y2 > y1 else None


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class StreamBlur:
    """Blurs one camera's frames in order (the annotated video): faces every ``every``-th frame, carried between.

    Why carried: the face detector on every frame costs about twice the detect-and-track pipeline itself
    (measured on 2 CPU cores, quiet machine: 30 ms/frame on the Hamilton clip, 1.8 people a frame, and
    34 ms on PETS09, 5.8 people, against 16 ms for the pipeline), while blurring known boxes costs under a
    millisecond; every 5th frame it averages 6-7 ms. On a detection frame each track's face is remembered
    relative to its person box; on the frames in between it is moved with the box, which the tracker keeps
    on the person. Faces the person detector missed (found by a whole-frame pass) stay blurred where they
    were until the next detection frame. A track with no face remembered gets its head region blurred.
    """

    def __init__(self, cfg: ExportsConfig, finder: FaceFinder | None, every: int) -> None:
        self.cfg = cfg
        self.finder = finder if every > 0 else None
        self.every = max(1, every)
        self.matches: set[int] = set()
        self._relative: dict[int, list[Box]] = {}
        self._loose: list[Box] = []  # faces outside every person box (a seated audience): kept where they were
        self._frames = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> StreamBlur:
        """With the configured face detector from the model store; head regions only if it cannot load."""
        cfg = settings.exports
        finder: FaceFinder | None = None
        if cfg.video_face_every > 0:
            from watchnet.vision.analysis.faces import FaceAnalyzer

            try:
                finder = FaceAnalyzer(settings)
            except WatchnetError as exc:
                log.warning("annotated video: no face detector (%s); blurring head regions only", exc)
        return cls(cfg, finder, cfg.video_face_every)

    def __call__(self, image: np.ndarray, boxes: np.ndarray, track_ids: Sequence[int] | np.ndarray) -> BlurReport:
        """Blur the non-match faces of one frame in place."""
        person_boxes: list[Box] = [(float(b[0]), float(b[1]), float(b[2]), float(b[3])) for b in boxes]
        ids = [int(t) for t in track_ids]
        detect = self.finder is not None and self._frames % self.every == 0
        self._frames += 1
        if detect and self.finder is not None:
            faces = find_faces(self.finder, image, person_boxes, whole_frame=True)
            owned = assign_faces(faces, person_boxes)
            self._relative = {tid: [_relative(f.xyxy, box) for f in mine]
                              for mine, box, tid in zip(owned, person_boxes, ids, strict=True) if mine}
            held = {id(f) for group in owned for f in group}
            self._loose = [f.xyxy for f in faces if id(f) not in held]
        else:
            faces = [Face(xyxy=_absolute(rel, box), score=1.0)
                     for box, tid in zip(person_boxes, ids, strict=True) for rel in self._relative.get(tid, [])]
            faces += [Face(xyxy=box, score=1.0) for box in self._loose]
        return blur_non_matches(image, person_boxes, ids, self.matches, self.cfg, faces=faces)


def _relative(face: Box, box: Box) -> Box:
    w, h = max(box[2] - box[0], 1.0), max(box[3] - box[1], 1.0)
    return (face[0] - box[0]) / w, (face[1] - box[1]) / h, (face[2] - box[0]) / w, (face[3] - box[1]) / h


def _absolute(rel: Box, box: Box) -> Box:
    w, h = box[2] - box[0], box[3] - box[1]
    return box[0] + rel[0] * w, box[1] + rel[1] * h, box[0] + rel[2] * w, box[1] + rel[3] * h


def blur_everything(image: np.ndarray, cfg: ExportsConfig) -> None:
    """Fail closed: blur the whole picture so that no face keeps detail (cells of ``exports.fail_closed_px``).

    For a viewer's picture when no face detector can run: the scene stays readable, no face does.
    """
    h, w = image.shape[:2]
    blur_region(image, (0.0, 0.0, float(w), float(h)), max(cfg.blur_cells, round(max(h, w) / cfg.fail_closed_px)))


@dataclass(slots=True)
class _Seen:
    """What the last face search on one camera found: faces per track (relative to its box) and loose ones."""

    relative: dict[int, list[Box]]
    loose: list[Box]
    tracks: set[int]
    thumb: np.ndarray
    since: int = 0
    seq: int | None = None  # the camera's frame number searched, when the caller gives one


class ViewerBlur:
    """The one function between a viewer and a picture: every face blurred, except confirmed matches.

    Used for the viewers' live picture (per camera, frames in order; the snapshot and the MJPEG stream
    both render through it). Faces are searched inside every person box *and* in the whole picture (at
    ``exports.viewer_whole_side`` pixels, about a third of the full-size cost), so a face low in a box
    or a person the detector has no box for is found too.

    On a budget: the live picture is searched every ``exports.live_face_every``-th rendered frame, and
    at once when the tracks differ from the last search's (one appeared, or one ended while its person may
    still stand there: the camera's last picture comes without boxes), when the scene changes (a cut or a
    camera move: the mean grey change of a 32 x 18 thumbnail exceeds ``exports.live_scene_change``), when
    the camera moved on by that many frames since the last search (``seq``: a viewer who looks rarely, or
    a slow renderer, gets each picture searched, since faces appear and turn between them) or when the
    frame stayed the camera's latest for a while (``exact``). In between, each track's faces
    move with its box, loose faces stay put, and every person's head region is blurred as well
    (generous: a carried face box may lag a turning head).

    Matches keep their face only if ``keep`` holds their track (callers pass confirmed matches only).
    Without a face detector (not installed, failed to load) the whole picture is blurred: fail closed.
    """

    def __init__(self, cfg: ExportsConfig, loader: FinderLoader | None) -> None:
        self.cfg = cfg
        self._loader = loader
        self._finder: FaceFinder | None = None
        self._failed = loader is None
        self._seen: dict[str, _Seen] = {}
        self._lock = threading.Lock()  # guards the two dicts and the detector's loading
        self._camera_locks: dict[str, threading.Lock] = {}  # one camera's frames in order; cameras in parallel

    @classmethod
    def from_settings(cls, settings: Settings) -> ViewerBlur:
        """With the configured face detector from the model store, loaded on first use."""

        def load() -> FaceFinder:
            from watchnet.vision.analysis.faces import FaceAnalyzer

            return FaceAnalyzer(settings)

        return cls(settings.exports, load)

    @property
    def finder(self) -> FaceFinder | None:
        """The face detector, or None when it cannot be loaded (then pictures are blurred whole)."""
        with self._lock:
            if self._finder is None and not self._failed and self._loader is not None:
                try:
                    self._finder = self._loader()
                except (WatchnetError, OSError) as exc:
                    log.error("viewer pictures: no face detector (%s); blurring them whole", exc)
                    self._failed = True
            return self._finder

    def forget(self, key: str | None = None) -> None:
        """Drop one camera's remembered faces (its track ids restart), or all."""
        with self._lock:
            for name in [k for k in self._seen if key in (None, k)]:
                self._seen.pop(name, None)

    def __call__(self, key: str, image: np.ndarray, boxes: Sequence[Box] | np.ndarray,
                 track_ids: Sequence[int] | np.ndarray, keep: Collection[int] = (), *,
                 exact: bool = False, seq: int | None = None) -> BlurReport:
        """Blur, in place, every face of camera ``key``'s frame but the kept tracks' (see the class)."""
        person_boxes: list[Box] = [(float(b[0]), float(b[1]), float(b[2]), float(b[3])) for b in boxes]
        ids = [int(t) for t in track_ids]
        with self._camera_lock(key):
            seen = self._seen.get(key)
            thumb = _thumb(image)
            every = max(1, self.cfg.live_face_every)
            fresh = seen is None or exact or seen.since + 1 >= every \
                or (seq is not None and (seen.seq is None or not 0 <= seq - seen.seq < every)) \
                or set(ids) != seen.tracks \
                or float(np.mean(cv2.absdiff(thumb, seen.thumb))) > self.cfg.live_scene_change
            if fresh or self.finder is None:
                return self._search(key, image, person_boxes, ids, keep, thumb, seq)
            assert seen is not None
            seen.since += 1
            faces = [Face(xyxy=_absolute(rel, box), score=1.0)
                     for box, tid in zip(person_boxes, ids, strict=True) for rel in seen.relative.get(tid, [])]
            faces += [Face(xyxy=box, score=1.0) for box in seen.loose]
            report = blur_non_matches(image, person_boxes, ids, keep, self.cfg, faces=faces)
            extra = [head_region(box, self.cfg.head_fraction) for box, tid in zip(person_boxes, ids, strict=True)
                     if not (tid >= 0 and tid in keep)]
            for box in extra:
                blur_region(image, box, self.cfg.blur_cells)
            report.heads += extra
            return report

    def _camera_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._camera_locks.setdefault(key, threading.Lock())

    def _search(self, key: str, image: np.ndarray, boxes: list[Box], ids: list[int],
                keep: Collection[int], thumb: np.ndarray | None = None, seq: int | None = None) -> BlurReport:
        finder = self.finder
        if finder is None:
            blur_everything(image, self.cfg)
            h, w = image.shape[:2]
            return BlurReport(heads=[(0.0, 0.0, float(w), float(h))])
        faces = find_faces(finder, image, boxes, whole_frame=True, whole_side=self.cfg.viewer_whole_side)
        owned = assign_faces(faces, boxes)
        held = {id(f) for group in owned for f in group}
        self._seen[key] = _Seen(
            relative={tid: [_relative(f.xyxy, box) for f in mine]
                      for mine, box, tid in zip(owned, boxes, ids, strict=True) if mine},
            loose=[f.xyxy for f in faces if id(f) not in held], tracks=set(ids),
            thumb=thumb if thumb is not None else _thumb(image), seq=seq)
        return blur_non_matches(image, boxes, ids, keep, self.cfg, faces=faces)


def _thumb(image: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    return cv2.resize(grey, (32, 18), interpolation=cv2.INTER_AREA)
