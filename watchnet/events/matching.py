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

This module is pure decision logic on numbers: no models, no I/O, easy to test exhaustively.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from watchnet.config import Settings


@dataclass(frozen=True, slots=True)
class MatchPolicy:
    """The numbers the decision uses; ``from_settings`` takes them from ``faces`` and ``watchlist``."""

    threshold: float
    single_face_score: float
    vote_window: int
    vote_min: int

    def __post_init__(self) -> None:
        if not 1 <= self.vote_min <= self.vote_window:
            raise ValueError("vote_min must be between 1 and vote_window")

    @classmethod
    def from_settings(cls, settings: Settings) -> MatchPolicy:
        wl = settings.watchlist
        return cls(settings.faces.match_threshold, wl.single_face_score, wl.vote_window, wl.vote_min)


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
