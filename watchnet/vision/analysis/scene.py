"""Did the camera's view change under its tracks? Cuts, camera moves, frozen and blank pictures.

Why: a tracker assumes one continuous view. After a hard cut (an edited feed, a switched matrix output),
a PTZ camera jumping to another preset, or a picture that froze or went black, its Kalman predictions
point at whatever now stands where someone used to be, and a track (with the name a face match gave it)
slides onto a stranger. So the pipeline asks this monitor about every frame, and ends every live track
when the view changed; nobody is carried across.

How, cheaply (about a millisecond a frame): each frame is shrunk to a 64 px wide thumbnail. A *cut*
is a large mean grey change together with a large change of the hue/saturation or grey histogram (either
alone also happens within a shot: a flash, a person filling the view). A *move* is a global shift
(phase correlation of consecutive thumbnails, with a confident peak) summing to a good part of the width
within ``move_window_s``. *Frozen*: no thumbnail pixel changed for ``frozen_s``. *Blank*: the grey
spread is nearly zero (black, a test card's flat colour, "no signal"). While frozen or blank the
picture shows nothing current, so the pipeline detects nothing on it; the first changed frame after
that starts a fresh view.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

from watchnet.core.config import SceneConfig

_WIDTH = 64


class SceneChange(StrEnum):
    """Why the view changed; every one of them ends the camera's live tracks."""

    CUT = "cut"
    MOVED = "moved"
    FROZEN = "frozen"
    BLANK = "blank"
    RESUMED = "resumed"  # the first live picture after a frozen or blank spell


@dataclass(frozen=True, slots=True)
class SceneVerdict:
    """One frame's verdict: ``change`` when the view changed at this frame, ``usable`` False while the
    picture is frozen or blank (nothing on it is current, so nothing should be detected)."""

    change: SceneChange | None
    usable: bool
    diff: float = 0.0  # mean grey change from the previous frame (0-255)
    hist: float = 0.0  # histogram change (0-1)


@dataclass(slots=True)
class _Thumb:
    grey: np.ndarray  # float32, (h, 64)
    hsv_hist: np.ndarray
    grey_hist: np.ndarray


class SceneMonitor:
    """Watches one camera's frames, in order; ``check`` each processed frame."""

    def __init__(self, config: SceneConfig, fps: float) -> None:
        self.config = config
        self.fps = fps if fps > 0 else 10.0
        self._previous: _Thumb | None = None
        self._shifts: deque[tuple[float, float, float]] = deque()  # (timestamp, dx, dy) of recent motion
        self._same_since: float | None = None
        self._frozen = False
        self._blank = False
        self.changes: list[tuple[int, SceneChange]] = []  # (frame index, change), for diagnostics and tests

    def check(self, image: np.ndarray, timestamp: float, index: int = -1) -> SceneVerdict:
        """The verdict for this frame (``timestamp`` in seconds, increasing)."""
        thumb = _thumbnail(image)
        previous, self._previous = self._previous, thumb
        blank = float(thumb.grey.std()) < self.config.blank_std
        if previous is None:
            self._blank = blank
            return self._verdict(index, None, not blank)
        delta = np.abs(thumb.grey - previous.grey)
        diff = float(delta.mean())
        hist = max(_distance(thumb.hsv_hist, previous.hsv_hist), _distance(thumb.grey_hist, previous.grey_hist))
        if blank:
            change = None if self._blank else SceneChange.BLANK
            self._blank, self._frozen, self._same_since = True, False, None
            return self._verdict(index, change, False, diff, hist)
        if self._blank:  # the picture is back
            self._blank = False
            self._shifts.clear()
            return self._verdict(index, SceneChange.RESUMED, True, diff, hist)
        if float(delta.max()) <= self.config.frozen_delta:
            self._same_since = timestamp if self._same_since is None else self._same_since
            if not self._frozen and timestamp - self._same_since >= self.config.frozen_s:
                self._frozen = True
                return self._verdict(index, SceneChange.FROZEN, False, diff, hist)
            return self._verdict(index, None, not self._frozen, diff, hist)
        self._same_since = None
        if self._frozen:
            self._frozen = False
            self._shifts.clear()
            return self._verdict(index, SceneChange.RESUMED, True, diff, hist)
        if diff >= self.config.cut_diff and hist >= self.config.cut_hist:
            self._shifts.clear()
            return self._verdict(index, SceneChange.CUT, True, diff, hist)
        if self._moved(previous.grey, thumb.grey, timestamp):
            return self._verdict(index, SceneChange.MOVED, True, diff, hist)
        return self._verdict(index, None, True, diff, hist)

    def _moved(self, before: np.ndarray, after: np.ndarray, timestamp: float) -> bool:
        """Sum the confident global shifts of the last ``move_window_s``; a large sum means the camera moved."""
        (dx, dy), peak = cv2.phaseCorrelate(before, after)
        if peak >= self.config.move_confidence:
            self._shifts.append((timestamp, dx, dy))
        while self._shifts and timestamp - self._shifts[0][0] > self.config.move_window_s:
            self._shifts.popleft()
        if not self._shifts:
            return False
        total = float(np.hypot(sum(s[1] for s in self._shifts), sum(s[2] for s in self._shifts)))
        if total >= self.config.move_fraction * _WIDTH:
            self._shifts.clear()
            return True
        return False

    def _verdict(
        self, index: int, change: SceneChange | None, usable: bool, diff: float = 0.0, hist: float = 0.0,
    ) -> SceneVerdict:
        if change is not None:
            self.changes.append((index, change))
            del self.changes[:-100]
        return SceneVerdict(change, usable, diff, hist)


def _thumbnail(image: np.ndarray) -> _Thumb:
    h, w = image.shape[:2]
    height = max(8, round(_WIDTH * h / max(w, 1)))
    step = max(1, w // (2 * _WIDTH))  # every step-th pixel first: an area average over a whole frame costs ms
    small = cv2.resize(image[::step, ::step], (_WIDTH, height), interpolation=cv2.INTER_AREA)
    if small.ndim == 2:
        small = cv2.cvtColor(small, cv2.COLOR_GRAY2BGR)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    hsv_hist = cv2.calcHist([hsv], [0, 1], None, [16, 4], [0, 180, 0, 256]).ravel()
    grey_hist = cv2.calcHist([grey], [0], None, [32], [0, 256]).ravel()
    return _Thumb(grey.astype(np.float32), hsv_hist / max(hsv_hist.sum(), 1.0), grey_hist / max(grey_hist.sum(), 1.0))


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    """Half the L1 distance of two normalised histograms: 0 same, 1 disjoint."""
    return 0.5 * float(np.abs(a - b).sum())
