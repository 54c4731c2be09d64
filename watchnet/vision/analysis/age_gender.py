"""Apparent age band and apparent gender of a face, and their vote over a track: a switched-off option.

Why it exists and how it may be used: an operator searching recorded footage for "a man in a red
jacket, roughly 30-45" can narrow anonymous sightings with these descriptions. They are *apparent*
attributes estimated from pixels (what the face looks like, not who anyone is or how they identify),
noisy on small CCTV faces, and measured only on a tiny non-representative set (bench/age_gender.py).
So: ``settings.attributes.age_gender`` is off by default (a deployment decision), the values are only
ever a search filter or description of an anonymous track, never evidence about an individual, and
nothing here infers race or ethnicity (the model package's ``gear`` model that does is never used).

Model: HSE FaceRes (``faceres`` in the model store), the same network as the optional face embedder;
its age head is a softmax over 0..99 years and its gender head a sigmoid (1: male). Faces are aligned
with the embedder's recipe (5-point similarity transform onto the ArcFace template x2, 224 px, raw
0..255 RGB). Bands are reported with the softmax mass inside them, so a face the network is unsure
about says so; a track averages band distributions and the male probability, weighted by face quality.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from watchnet.core.config import AttributesConfig, Settings
from watchnet.core.errors import ModelError
from watchnet.core.records import Face
from watchnet.vision.models.face_embedders import SPECS, align
from watchnet.vision.models.runtime import create_session, run_batched
from watchnet.vision.models.store import ModelStore

MODEL = "faceres"
AGE_OUTPUT, GENDER_OUTPUT = "age_pred/Softmax:0", "gender_pred/Sigmoid:0"
_SPEC = SPECS[MODEL]


def band_labels(edges: Sequence[int]) -> list[str]:
    """Band names for ascending edges: [13, 18] -> ["0-12", "13-17", "18+"]."""
    return [f"{a}-{b - 1}" for a, b in itertools.pairwise([0, *edges])] + [f"{edges[-1]}+"]


def band_masses(age_probs: np.ndarray, edges: Sequence[int]) -> np.ndarray:
    """[N, bands] probability mass of each band from [N, 100] per-year softmax rows."""
    cuts = [0, *edges, age_probs.shape[1]]
    return np.stack([age_probs[:, a:b].sum(1) for a, b in itertools.pairwise(cuts)], axis=1)


@dataclass(frozen=True, slots=True)
class AgeGender:
    """One face's apparent age and gender. ``gender`` is None when ``gender_confidence`` is below the
    configured minimum; ``bands`` (band -> mass) and ``male_probability`` are what a track votes on."""

    age: float
    age_band: str
    age_band_confidence: float
    gender: str | None
    gender_confidence: float
    bands: dict[str, float]
    male_probability: float


def _decide(bands: dict[str, float], male: float, min_gender: float, age: float) -> AgeGender:
    band = max(bands, key=lambda k: bands[k])
    confidence = max(male, 1.0 - male)
    gender = ("male" if male >= 0.5 else "female") if confidence >= min_gender else None
    return AgeGender(round(age, 1), band, round(bands[band], 4), gender, round(confidence, 4), bands, male)


class AgeGenderEstimator:
    """faceres' age and gender heads on aligned face chips, in batches; model from the store."""

    def __init__(self, settings: Settings, store: ModelStore | None = None) -> None:
        self.cfg: AttributesConfig = settings.attributes
        self.batch_size = settings.runtime.batch_size
        self.labels = band_labels(self.cfg.age_band_edges)
        self.session = create_session((store or ModelStore(settings)).path(MODEL), settings.runtime)
        inputs, outputs = self.session.get_inputs(), {o.name for o in self.session.get_outputs()}
        if len(inputs) != 1 or not {AGE_OUTPUT, GENDER_OUTPUT} <= outputs:
            raise ModelError(f"model {MODEL!r} lacks its age/gender outputs {AGE_OUTPUT}, {GENDER_OUTPUT}; re-pull it")
        self.input = inputs[0].name

    def estimate(self, image_bgr: np.ndarray, faces: Sequence[Face]) -> list[AgeGender]:
        """One result per face, in order (faces need landmarks: detector output always has them)."""
        if any(f.landmarks is None for f in faces):
            raise ValueError("age/gender needs the five face landmarks; pass faces from FaceAnalyzer.detect")
        chips = [align(image_bgr, f.landmarks, _SPEC.template, _SPEC.size) for f in faces if f.landmarks is not None]
        if not chips:
            return []
        batch = np.stack(chips).astype(np.float32)
        ages, males = run_batched(self.session, self.input, batch, self.batch_size, [AGE_OUTPUT, GENDER_OUTPUT])
        ages = ages.astype(np.float64)
        masses = band_masses(ages, self.cfg.age_band_edges)
        years = ages @ np.arange(ages.shape[1], dtype=np.float64)
        out = []
        for row, male, age in zip(masses, males[:, 0].astype(np.float64), years, strict=True):
            bands = {label: round(float(m), 4) for label, m in zip(self.labels, row, strict=True)}
            out.append(_decide(bands, float(male), self.cfg.gender_min_confidence, float(age)))
        return out


class AgeGenderVoter:
    """Quality-weighted mean of a track's per-face band distributions and male probabilities."""

    def __init__(self, cfg: AttributesConfig) -> None:
        self.cfg = cfg
        self.labels = band_labels(cfg.age_band_edges)
        self._bands = np.zeros(len(self.labels))
        self._male = 0.0
        self._age = 0.0
        self.weight = 0.0
        self.observations = 0

    def add(self, estimate: AgeGender, weight: float) -> None:
        """Count one face's estimate with ``weight`` (its quality); non-positive weights are ignored."""
        if weight <= 0:
            return
        self._bands += weight * np.array([estimate.bands.get(label, 0.0) for label in self.labels])
        self._male += weight * estimate.male_probability
        self._age += weight * estimate.age
        self.weight += weight
        self.observations += 1

    def result(self) -> AgeGender | None:
        """The voted estimate, or None before any face was added."""
        if self.weight <= 0:
            return None
        mean = self._bands / self.weight
        bands = {label: float(m) for label, m in zip(self.labels, mean, strict=True)}
        return _decide(bands, self._male / self.weight, self.cfg.gender_min_confidence, self._age / self.weight)

    def attributes(self) -> dict[str, object]:
        """The track attributes to store: band and gender (each with its confidence); {} without faces.

        A gender below the minimum confidence is left out altogether, so a search never filters on it.
        """
        voted = self.result()
        if voted is None:
            return {}
        out: dict[str, object] = {"age_band": voted.age_band, "age_band_confidence": voted.age_band_confidence}
        if voted.gender is not None:
            out["gender"], out["gender_confidence"] = voted.gender, voted.gender_confidence
        return out
