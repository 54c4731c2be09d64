"""Faces: detect (whole frame or inside person boxes), grade quality, embed, compare.

Why inside person boxes: in a CCTV frame faces are small, and a detector run on the whole frame at a
size the CPU affords misses them; the upper part of each tracked person, upscaled to the detector's
input, gives the face many more pixels for the price of one batched call.

Why a quality gate: a watchlist match on a blurred, tiny or turned-away face is mostly noise, and
embeddings of such faces sit closer to everyone. ``Face.quality`` in [0, 1] is the geometric mean of four
terms (any one at zero sinks it): size (shorter box side between ``min_face_px`` and ``good_face_px``),
sharpness (variance of the Laplacian of the aligned grey chip, against ``sharp_ref``), pose (nose offset
from the eye midline and its height between eyes and mouth, from the landmarks) and detector score.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from watchnet.core.config import FacesConfig, Settings
from watchnet.core.errors import InputError
from watchnet.core.records import Face
from watchnet.vision.models.blazeface import BlazeFace
from watchnet.vision.models.centerface import CenterFace, RawFaces, input_size_for, nms
from watchnet.vision.models.face_embedders import (
    DLIB_TEMPLATE,
    FUSIONS,
    SPECS,
    Embedder,
    FaceEmbedder,
    FusedEmbedder,
    align,
)
from watchnet.vision.models.runtime import create_session
from watchnet.vision.models.store import ModelStore

Box = tuple[float, float, float, float]

_QUALITY_CHIP = 112  # side of the grey chip sharpness is measured on (fixed, so it is comparable)
_PITCH_REF = (78.68 - 46.23) / (102.63 - 46.23)  # nose height between eye and mouth lines, frontal
_PITCH_RANGE = 0.35


def load_image(path: Path | str) -> np.ndarray:
    """Read an image file as BGR uint8, or raise InputError saying why it cannot be used."""
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{file}: no such file; give the path of a JPEG or PNG photo")
    data = np.fromfile(str(file), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise InputError(f"{file}: not a readable image (JPEG, PNG, BMP, WebP, TIFF); check the file")
    return image


def _check_image(image_bgr: np.ndarray) -> np.ndarray:
    if not isinstance(image_bgr, np.ndarray) or image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
        raise InputError("a face image must be an H x W x 3 BGR array; convert grey or RGBA pictures first")
    if image_bgr.shape[0] < 8 or image_bgr.shape[1] < 8:
        raise InputError(f"image of {image_bgr.shape[1]}x{image_bgr.shape[0]} px is too small to hold a face")
    return image_bgr if image_bgr.dtype == np.uint8 else np.clip(image_bgr, 0, 255).astype(np.uint8)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings (1: same direction); robust to unnormalised input."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))


def pose_score(landmarks: np.ndarray, max_yaw: float) -> float:
    """1 for a frontal face, falling to 0 as the nose leaves the eye midline (yaw) or the eye-mouth band."""
    reye, leye, nose, rmouth, lmouth = landmarks.astype(np.float64)
    axis = leye - reye
    gap = float(np.linalg.norm(axis))
    if gap < 1e-6:
        return 0.0
    ex = axis / gap
    ey = np.array([-ex[1], ex[0]])
    mid_eye, mid_mouth = (reye + leye) / 2, (rmouth + lmouth) / 2
    yaw = abs(float(np.dot(nose - mid_eye, ex))) / (gap / 2)
    depth = float(np.dot(mid_mouth - mid_eye, ey))
    pitch = abs(float(np.dot(nose - mid_eye, ey)) / depth - _PITCH_REF) if depth > 1e-6 else 1.0
    return float(np.clip(min(1 - yaw / max_yaw, 1 - pitch / _PITCH_RANGE), 0.0, 1.0))


def sharpness(image_bgr: np.ndarray, landmarks: np.ndarray) -> float:
    """Variance of the Laplacian of the face aligned into a fixed-size grey chip."""
    chip = align(image_bgr, landmarks, DLIB_TEMPLATE * (_QUALITY_CHIP / 150.0), _QUALITY_CHIP)
    grey = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def quality(image_bgr: np.ndarray, face: Face, cfg: FacesConfig) -> float:
    """Face quality in [0, 1]: geometric mean of size, sharpness, pose and detector-score terms."""
    if face.landmarks is None:
        return 0.0
    x1, y1, x2, y2 = face.xyxy
    side = min(x2 - x1, y2 - y1)
    terms = (
        np.clip((side - cfg.min_face_px) / (cfg.good_face_px - cfg.min_face_px), 0.0, 1.0),
        min(1.0, sharpness(image_bgr, face.landmarks) / cfg.sharp_ref),
        pose_score(face.landmarks, cfg.max_yaw),
        np.clip((face.score - cfg.score_threshold) / (1.0 - cfg.score_threshold), 0.0, 1.0),
    )
    if min(terms) <= 0:
        return 0.0
    return float(np.exp(np.mean(np.log(terms))))


class FaceAnalyzer:
    """Face detector + quality gate + embedder, configured by ``settings.faces``; models from the store."""

    def __init__(self, settings: Settings, store: ModelStore | None = None) -> None:
        self.settings = settings
        self.cfg = settings.faces
        self.store = store or ModelStore(settings)
        session = create_session(self.store.path(self.cfg.detector), settings.runtime)
        self._centerface = CenterFace(session) if self.cfg.detector == "centerface" else None
        self._blazeface = BlazeFace(session) if self.cfg.detector == "blazeface" else None
        self._embedder: Embedder | None = None

    @property
    def match_threshold(self) -> float:
        """Cosine similarity from which two faces count as the same person (configured embedder)."""
        return self.cfg.match_threshold

    @property
    def model(self) -> str:
        """The id stored with every embedding this analyzer makes (``faces.embedder``)."""
        return self.cfg.embedder

    @property
    def embedder(self) -> Embedder:
        """The embedder, loaded on first use (detection-only callers never pay for it)."""
        if self._embedder is None:
            name = self.cfg.embedder
            if name in FUSIONS:
                weights = self.cfg.fusion_weights
                self._embedder = FusedEmbedder(
                    name, [(self.single_embedder(part), float(weights.get(part, 0.0))) for part in FUSIONS[name]]
                )
            else:
                self._embedder = self.single_embedder(name)
        return self._embedder

    def single_embedder(self, name: str) -> FaceEmbedder:
        """One network of the catalogue (not a fusion) with its template; a new session each call."""
        session = create_session(self.store.path(name), self.settings.runtime)
        return FaceEmbedder(SPECS[name], session, self.settings.runtime.batch_size)

    def detect(self, image_bgr: np.ndarray, regions: Sequence[Box] | None = None) -> list[Face]:
        """Faces in the whole image, or only in the upper part of each region (e.g. person boxes).

        Boxes and landmarks are in image pixels; ``quality`` is filled, ``embedding`` is not.
        """
        image = _check_image(image_bgr)
        raw = self._detect_full(image) if regions is None else self._detect_regions(image, regions)
        h, w = image.shape[:2]
        faces = []
        for box, score, lms in zip(raw.boxes, raw.scores, raw.landmarks, strict=True):
            x1, y1 = float(np.clip(box[0], 0, w)), float(np.clip(box[1], 0, h))
            x2, y2 = float(np.clip(box[2], 0, w)), float(np.clip(box[3], 0, h))
            if x2 - x1 < 2 or y2 - y1 < 2:
                continue
            face = Face(xyxy=(x1, y1, x2, y2), score=float(score), landmarks=lms.astype(np.float32))
            face.quality = quality(image, face, self.cfg)
            faces.append(face)
        return faces

    def passes_quality(self, face: Face) -> bool:
        """Whether a face is good enough to embed and match (``min_quality``; tiny faces never pass)."""
        x1, y1, x2, y2 = face.xyxy
        return min(x2 - x1, y2 - y1) >= self.cfg.min_face_px and face.quality >= self.cfg.min_quality

    def embed(self, image_bgr: np.ndarray, faces: Sequence[Face]) -> None:
        """Fill ``Face.embedding`` (L2-normalised float32) for every face that has landmarks, in batches."""
        image = _check_image(image_bgr)
        todo = [f for f in faces if f.landmarks is not None]
        if not todo:
            return
        vectors = self.embedder.embed(image, [f.landmarks for f in todo if f.landmarks is not None])
        for face, vector in zip(todo, vectors, strict=True):
            face.embedding = vector

    def is_match(self, a: np.ndarray, b: np.ndarray) -> bool:
        """Same person at the configured threshold."""
        return similarity(a, b) >= self.match_threshold

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        """Cosine similarity of two embeddings (see the module function)."""
        return similarity(a, b)

    # --- detection ---------------------------------------------------------------------------------
    def _run(self, images: list[np.ndarray], width: int, height: int) -> list[RawFaces]:
        cfg = self.cfg
        if self._blazeface is not None:
            return self._blazeface(images, cfg.score_threshold, cfg.nms_iou)
        assert self._centerface is not None
        out: list[RawFaces] = []
        step = self.settings.runtime.batch_size
        for start in range(0, len(images), step):
            out += self._centerface(images[start : start + step], width, height, cfg.score_threshold, cfg.nms_iou)
        return out

    def _detect_full(self, image: np.ndarray) -> RawFaces:
        width, height = input_size_for(image.shape[:2], self.cfg.detect_max_side)
        return self._run([image], width, height)[0]

    def _detect_regions(self, image: np.ndarray, regions: Sequence[Box]) -> RawFaces:
        h, w = image.shape[:2]
        crops, offsets = [], []
        for region in regions:
            x1, y1, x2, y2 = (float(v) for v in region)
            x1, x2 = int(max(0.0, np.floor(x1))), int(min(float(w), np.ceil(x2)))
            top = int(max(0.0, np.floor(y1)))
            bottom = int(min(float(h), np.ceil(y1 + self.cfg.region_top * (y2 - y1))))
            if x2 - x1 < 4 or bottom - top < 4:
                continue
            crops.append(image[top:bottom, x1:x2])
            offsets.append((x1, top))
        if not crops:
            return RawFaces.empty()
        size = self.cfg.region_size - self.cfg.region_size % 32 or 32
        parts = self._run(crops, size, size)
        boxes = [p.boxes + np.array([ox, oy, ox, oy], np.float32) for p, (ox, oy) in zip(parts, offsets, strict=True)]
        lms = [p.landmarks + np.array([ox, oy], np.float32) for p, (ox, oy) in zip(parts, offsets, strict=True)]
        merged = RawFaces(np.concatenate(boxes), np.concatenate([p.scores for p in parts]), np.concatenate(lms))
        if not len(merged.scores):
            return merged
        keep = nms(merged.boxes, merged.scores, self.cfg.nms_iou)  # regions overlap: one face, one box
        return RawFaces(merged.boxes[keep], merged.scores[keep], merged.landmarks[keep])
