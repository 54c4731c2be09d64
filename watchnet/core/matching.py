"""When does a track match a watchlist subject: threshold, negatives, and a vote over the track's faces.

Why a vote and not one frame: the threshold is calibrated on photo pairs at a false-accept rate of
1e-3, and a track offers dozens of faces, so a rule that fires on any single face above it would fire on
strangers every few tracks (measured on the Hamilton clip: an unrelated enrolled identity scored 0.926
on one of Lin-Manuel Miranda's frames against a threshold of 0.925). Requiring ``vote_min`` faces of the
last ``vote_window`` to agree removes such one-frame flukes, while a single face far above the
threshold (``single_face_score``) is still enough, so a clear view alerts at once.

Why negatives: when an operator dismisses a false match, the faces of that alert become negative
examples of the subject. A face that is at least as close to one of a subject's negatives as to any of
its references is not counted for that subject, so the same look-alike does not alert again, while the
real subject (closer to their own photos) still does.

Why templates: a subject enrolled from several photos, and a track seen over many frames, are each
matched as one quality-weighted mean of their normalised vectors (``template``), not photo by photo.
Averaging cancels what is particular to one picture (pose, light, blur) and keeps what is the person;
a max over single photos instead lets the one photo that resembles a stranger decide. A track's
template votes like one more face once it holds ``template_min_faces`` faces, so a person seen only
in mediocre frames, none close enough alone, is still recognised from all of them together.

This module is pure decision logic on numbers: no models, no I/O, easy to test exhaustively.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from watchnet.core.config import Settings


@dataclass(frozen=True, slots=True)
class MatchPolicy:
    """The numbers the decision uses; ``from_settings`` takes them from ``faces`` and ``watchlist``."""

    threshold: float
    single_face_score: float
    vote_window: int
    vote_min: int
    template_min_faces: int = 0  # 0: a track's template never decides
    template_margin: float = 0.0  # added to ``threshold`` for a template (averaging inflates its scores)

    def __post_init__(self) -> None:
        if not 1 <= self.vote_min <= self.vote_window:
            raise ValueError("vote_min must be between 1 and vote_window")

    @classmethod
    def from_settings(cls, settings: Settings) -> MatchPolicy:
        wl, faces = settings.watchlist, settings.faces
        single = faces.single_face_scores.get(faces.embedder, wl.single_face_score)
        return cls(faces.match_threshold, single, wl.vote_window, wl.vote_min, faces.template_min_faces,
                   faces.template_margin)


def template(vectors: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """One unit vector for many faces: the weighted mean of their normalised vectors, re-normalised.

    ``weights`` are face qualities (default: equal); non-positive weights count as tiny, so a template of
    faces that all scored 0 is still their plain mean.
    """
    rows = np.atleast_2d(np.asarray(vectors, np.float64))
    if not len(rows):
        raise ValueError("a template needs at least one vector")
    unit = rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
    w = np.ones(len(unit)) if weights is None else np.maximum(np.asarray(weights, np.float64), 1e-6)
    mean = (unit * w[:, None]).sum(0)
    unit_mean: np.ndarray = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
    return unit_mean


def templates(owners: np.ndarray, vectors: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per owner (sorted ids), the ``template`` of its rows: (owner ids, [len(ids), dim] templates)."""
    ids = np.unique(owners)
    out = [template(vectors[owners == i], weights[owners == i]) for i in ids]
    return ids, np.stack(out) if out else np.zeros((0, vectors.shape[1] if vectors.ndim == 2 else 0), np.float32)


@dataclass(frozen=True, slots=True)
class SubjectScores:
    """One face against the gallery: per subject, the best cosine to its references and to its negatives.

    ``negative`` is -1 where a subject has no negative examples. Arrays are aligned with ``subject_ids``.
    """

    subject_ids: np.ndarray  # (S,) int64
    reference: np.ndarray  # (S,) float32
    negative: np.ndarray  # (S,) float32

    @classmethod
    def empty(cls) -> SubjectScores:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.subject_ids)


def counted(scores: SubjectScores, policy: MatchPolicy) -> np.ndarray:
    """Which subjects this face votes for: at or above the threshold and closer to them than to a negative."""
    return (scores.reference >= policy.threshold) & (scores.reference > scores.negative)


@dataclass(frozen=True, slots=True)
class Decision:
    """A track matched a subject: the best counted score and how many faces of the window agreed."""

    subject_id: int
    score: float
    votes: int
    single: bool


@dataclass(slots=True)
class TrackVote:
    """The vote of one track: its last ``vote_window`` faces' counted scores, and subjects already decided.

    Only counted subjects are kept per face (a sparse dict), so the cost does not grow with the gallery.
    A subject is decided at most once per track: one alert per (track, subject).
    """

    policy: MatchPolicy
    window: deque[dict[int, float]] = field(init=False)
    decided: set[int] = field(default_factory=set)
    faces: int = 0
    template_sum: np.ndarray | None = None
    template_faces: int = 0

    def __post_init__(self) -> None:
        self.window = deque(maxlen=self.policy.vote_window)

    def add(self, scores: SubjectScores) -> list[Decision]:
        """Add one face's scores; returns the subjects this face newly decides, best score first."""
        self.faces += 1
        mask = counted(scores, self.policy)
        votes = {int(s): float(r) for s, r in zip(scores.subject_ids[mask], scores.reference[mask], strict=True)}
        self.window.append(votes)
        out = []
        for subject, score in votes.items():
            if subject in self.decided:
                continue
            history = [face[subject] for face in self.window if subject in face]
            single = score >= self.policy.single_face_score
            if single or len(history) >= self.policy.vote_min:
                self.decided.add(subject)
                out.append(Decision(subject, max(history), len(history), single))
        return sorted(out, key=lambda d: -d.score)

    def extend_template(self, vector: np.ndarray, quality: float) -> np.ndarray | None:
        """Add a face to the track's quality-weighted template; the template once it may decide, else None."""
        unit = np.asarray(vector, np.float64) / max(float(np.linalg.norm(vector)), 1e-12)
        weighted = unit * max(float(quality), 1e-6)
        self.template_sum = weighted if self.template_sum is None else self.template_sum + weighted
        self.template_faces += 1
        if not self.policy.template_min_faces or self.template_faces < self.policy.template_min_faces:
            return None
        return (self.template_sum / max(float(np.linalg.norm(self.template_sum)), 1e-12)).astype(np.float32)

    def add_template(self, scores: SubjectScores) -> list[Decision]:
        """The track's template (see ``extend_template``) against the gallery; returns newly decided subjects.

        Decides a subject when the template is counted for it (threshold plus ``template_margin``,
        negatives) and holds at least ``template_min_faces`` faces; ``Decision.votes`` is then the
        template's face count.
        """
        faces = self.template_faces
        if not self.policy.template_min_faces or faces < self.policy.template_min_faces:
            return []
        mask = counted(scores, self.policy) & (scores.reference >= self.policy.threshold + self.policy.template_margin)
        out = [
            Decision(int(s), float(r), faces, single=False)
            for s, r in zip(scores.subject_ids[mask], scores.reference[mask], strict=True)
            if int(s) not in self.decided
        ]
        self.decided.update(d.subject_id for d in out)
        return sorted(out, key=lambda d: -d.score)

    def forget(self, subject: int) -> None:
        """The track's name for ``subject`` was dropped: it must earn it again with fresh faces."""
        self.decided.discard(subject)
        for face in self.window:
            face.pop(subject, None)
        self.template_sum, self.template_faces = None, 0  # the box may be someone else now: start afresh
