"""Face embedders: 5-point alignment onto each network's template, then a batched ONNX call.

An embedder is only as good as the crop it is fed, and each network was trained on its own crop recipe,
so the template travels with the model:

- ``dlib-resnet`` (dlib's ResNet rebuilt from face-api's weights, see ``faceapi_resnet``): dlib's
  150 px face chip with padding 0.25. dlib defines that chip with its own 5-point shape model (eye corners,
  nose base), which our detectors do not output; the template below is where CenterFace's five points
  (eye centres, nose tip, mouth corners) land inside dlib's chip, measured on the shared face photos by
  mapping them through dlib's own chip transform (78 faces, std 2-5 px), then made left/right symmetric.
- ``faceres``: the ArcFace 112 template scaled x2 to a tight 224 crop (the best recipe measured in shared
  MODELS.md; loose crops hurt), raw 0..255 RGB in.
- ``sface`` (see ``watchnet.vision.models.sface``): the ArcFace 112 template itself, BGR 0..255 in.
- ``fused``: dlib-resnet and sface together (``FusedEmbedder``): each part's normalised vector scaled by
  the square root of its weight, concatenated. The cosine of two such vectors is the weighted sum of the
  parts' cosines, i.e. score-level fusion, so the vector index, the search and ``faces embed`` need no
  special case. Weights proportional to (importance / spread of the part's impostor cosines) make it
  the fusion of z-normalised scores up to one affine map, which a threshold absorbs.

Outputs are L2-normalised float32 rows, so cosine similarity is a dot product.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
import onnxruntime as ort

from watchnet.core.errors import ModelError

DLIB_TEMPLATE = np.array(
    [[46.10, 46.23], [103.43, 46.23], [74.76, 78.68], [50.27, 102.63], [99.25, 102.63]], np.float32
)
ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    np.float32,
)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, shift) mapping src points onto dst: 2x3 matrix.

    Umeyama's closed form: deterministic and uses all five points, which is what dlib's chip extraction
    does; a robust fit (RANSAC/LMEDS) would throw away a landmark out of five.
    """
    src = src.astype(np.float64)
    dst = dst.astype(np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    var = (s**2).sum() / len(src)
    scale = float(np.trace(np.diag(sig) @ sign) / var) if var > 0 else 1.0
    shift = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, shift[:, None]])


def align(image_bgr: np.ndarray, landmarks: np.ndarray, template: np.ndarray, size: int) -> np.ndarray:
    """Warp the face onto ``template`` in a size x size RGB chip.

    When the face is much larger than the chip, the neighbourhood is first shrunk with area averaging, so
    a 1000 px face in a 4000 px photo does not alias (bilinear warping alone samples every 7th pixel).
    """
    m = similarity_transform(landmarks, template)
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    if scale < 0.5:
        inv = cv2.invertAffineTransform(m)
        corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64)
        pts = corners @ inv[:, :2].T + inv[:, 2]
        h, w = image_bgr.shape[:2]
        x0, y0 = (max(0, int(np.floor(v)) - 2) for v in pts.min(0))
        x1, y1 = (int(np.ceil(v)) + 2 for v in pts.max(0))
        x1, y1 = min(w, x1), min(h, y1)
        if x1 > x0 and y1 > y0:
            crop = image_bgr[y0:y1, x0:x1]
            k = 2.0 * scale
            small = cv2.resize(crop, (max(1, round(crop.shape[1] * k)), max(1, round(crop.shape[0] * k))),
                               interpolation=cv2.INTER_AREA)
            kx, ky = small.shape[1] / crop.shape[1], small.shape[0] / crop.shape[0]
            to_small = np.array([[kx, 0, -x0 * kx], [0, ky, -y0 * ky], [0, 0, 1]], np.float64)
            m = m @ np.linalg.inv(to_small)
            image_bgr = small
    chip = cv2.warpAffine(image_bgr, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return np.ascontiguousarray(chip[:, :, ::-1])


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    unit: np.ndarray = (x / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit


@dataclass(frozen=True, slots=True)
class EmbedderSpec:
    """What one embedder network expects: chip size, template, layout and its input/output names."""

    name: str
    size: int
    template: np.ndarray
    nchw: bool
    dim: int
    bgr: bool = False


SPECS: dict[str, EmbedderSpec] = {
    "dlib-resnet": EmbedderSpec("dlib-resnet", 150, DLIB_TEMPLATE, nchw=True, dim=128),
    "faceres": EmbedderSpec("faceres", 224, ARCFACE_112 * 2.0, nchw=False, dim=1024),
    "sface": EmbedderSpec("sface", 112, ARCFACE_112, nchw=True, dim=128, bgr=True),
    "sface-int8": EmbedderSpec("sface-int8", 112, ARCFACE_112, nchw=True, dim=128, bgr=True),  # bench only
}
#: Embedders made of others (``FusedEmbedder``): name -> its parts, in vector order.
FUSIONS: dict[str, tuple[str, ...]] = {"fused": ("dlib-resnet", "sface")}


class Embedder(Protocol):
    """What ``FaceAnalyzer`` needs of an embedder, single network or fusion."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed(self, image_bgr: np.ndarray, landmarks: Sequence[np.ndarray]) -> np.ndarray: ...


class FaceEmbedder:
    """Aligns faces and runs one embedder session on batches of chips."""

    def __init__(self, spec: EmbedderSpec, session: ort.InferenceSession, batch_size: int) -> None:
        inputs = session.get_inputs()
        # faceres as converted also exposes age/gender heads; only the identity embedding is ever read.
        embeddings = [o.name for o in session.get_outputs() if o.shape and o.shape[-1] == spec.dim]
        if len(inputs) != 1 or not embeddings:
            raise ModelError(
                f"model for {spec.name!r} must have one input and a {spec.dim}-d output; re-pull it "
                "or fix settings.model_paths"
            )
        self.spec = spec
        self.session = session
        self.input = inputs[0].name
        self.output = embeddings[0]
        self.batch_size = batch_size

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def dim(self) -> int:
        return self.spec.dim

    def chips(self, image_bgr: np.ndarray, landmarks: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Aligned chips (RGB, or BGR where the network wants it), one per landmark set."""
        out = [align(image_bgr, lm, self.spec.template, self.spec.size) for lm in landmarks]
        return [np.ascontiguousarray(c[:, :, ::-1]) for c in out] if self.spec.bgr else out

    def embed(self, image_bgr: np.ndarray, landmarks: Sequence[np.ndarray]) -> np.ndarray:
        """[N, dim] L2-normalised embeddings of the faces at ``landmarks``."""
        return self.embed_chips(self.chips(image_bgr, landmarks))

    def embed_chips(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        """[N, dim] L2-normalised embeddings of aligned RGB chips, in batches of ``batch_size``."""
        if not chips:
            return np.zeros((0, self.spec.dim), np.float32)
        out = []
        for start in range(0, len(chips), self.batch_size):
            batch = np.stack(chips[start : start + self.batch_size]).astype(np.float32)
            if self.spec.nchw:
                batch = batch.transpose(0, 3, 1, 2)
            out.append(self.session.run([self.output], {self.input: np.ascontiguousarray(batch)})[0])
        return l2_normalise(np.concatenate(out))


class FusedEmbedder:
    """Several embedders as one: concatenated normalised vectors, each scaled by sqrt(weight).

    With weights summing to 1 the result is unit length and ``a @ b == sum_i w_i * cos_i(a, b)``:
    the fused score is one cosine, so everything that stores or compares face vectors works unchanged.
    """

    def __init__(self, name: str, parts: Sequence[tuple[FaceEmbedder, float]]) -> None:
        weights = np.array([w for _, w in parts], np.float64)
        if not len(parts) or (weights < 0).any() or weights.sum() <= 0:
            raise ModelError(f"embedder {name!r} needs parts with non-negative weights that do not all vanish")
        self._name = name
        self.parts = [p for p, _ in parts]
        self.weights = weights / weights.sum()

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return sum(p.dim for p in self.parts)

    def embed(self, image_bgr: np.ndarray, landmarks: Sequence[np.ndarray]) -> np.ndarray:
        """[N, dim] unit vectors: the parts' normalised embeddings, scaled and side by side."""
        if not landmarks:
            return np.zeros((0, self.dim), np.float32)
        blocks = [np.sqrt(w) * p.embed(image_bgr, landmarks) for p, w in zip(self.parts, self.weights, strict=True)]
        return np.concatenate(blocks, axis=1).astype(np.float32)

    def split(self, vectors: np.ndarray) -> list[np.ndarray]:
        """The parts' own unit vectors back out of fused ones (for per-part scores)."""
        out, start = [], 0
        for part, w in zip(self.parts, self.weights, strict=True):
            block = np.atleast_2d(vectors)[:, start : start + part.dim]
            out.append(l2_normalise(block) if w > 0 else block)
            start += part.dim
        return out
