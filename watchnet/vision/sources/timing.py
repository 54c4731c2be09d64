"""Frame timestamps and the fps cap, shared by every source.

Why not just ``frame.time``: containers lie. AVI stores no presentation times, and for H.264 with
B-frames the demuxer's guesses come out of the decoder in the wrong order (the PETS test video gives
0.1, 0.4, 0.3, 0.5, 0.2 ...). ffmpeg's own answer is ``best_effort_timestamp``: count how often pts and
dts go backwards and trust the one that misbehaves less. PyAV does not expose that field, so
``FrameClock`` re-implements the rule, can lock the choice from a look-ahead of the first frames (so
even the first frames are right), and finally guarantees strictly increasing seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from itertools import pairwise
from typing import Literal

Mode = Literal["auto", "pts", "dts"]


class FrameClock:
    """Turns decoder (pts, dts) pairs into strictly increasing seconds from the first frame."""

    def __init__(self, time_base: Fraction | None, frame_duration: float, offset: float = 0.0) -> None:
        self.time_base = float(time_base) if time_base else 0.0
        self.frame_duration = frame_duration if frame_duration > 0 else 1e-3
        self.offset = offset
        self.mode: Mode = "auto"
        self._faulty_pts = self._faulty_dts = 0
        self._last_pts: int | None = None
        self._last_dts: int | None = None
        self._origin: int | None = None
        self._last_s: float | None = None

    def decide(self, pairs: Sequence[tuple[int | None, int | None]]) -> None:
        """Lock pts or dts from the first frames' (pts, dts), the way best_effort_timestamp would end up."""
        faulty_pts = sum(1 for a, b in pairwise(pairs) if _backwards(a[0], b[0]))
        faulty_dts = sum(1 for a, b in pairwise(pairs) if _backwards(a[1], b[1]))
        has_pts = all(p is not None for p, _ in pairs)
        has_dts = all(d is not None for _, d in pairs)
        if has_pts and (faulty_pts <= faulty_dts or not has_dts):
            self.mode = "pts"
        elif has_dts:
            self.mode = "dts"

    def seconds(self, pts: int | None, dts: int | None) -> float:
        """Seconds of this frame from the first one (plus ``offset``), never going backwards."""
        raw = self._pick(pts, dts)
        if raw is None or not self.time_base:
            value = None
        else:
            if self._origin is None:
                self._origin = raw
            value = self.offset + (raw - self._origin) * self.time_base
        if self._last_s is None:
            value = self.offset if value is None else value
        elif value is None or value <= self._last_s:
            value = self._last_s + self.frame_duration
        self._last_s = value
        return value

    def _pick(self, pts: int | None, dts: int | None) -> int | None:
        if self.mode == "pts":
            return pts if pts is not None else dts
        if self.mode == "dts":
            return dts if dts is not None else pts
        if dts is not None:
            self._faulty_dts += _backwards(self._last_dts, dts)
            self._last_dts = dts
        if pts is not None:
            self._faulty_pts += _backwards(self._last_pts, pts)
            self._last_pts = pts
        if pts is not None and (self._faulty_pts <= self._faulty_dts or dts is None):
            return pts
        return dts


def _backwards(previous: int | None, current: int | None) -> bool:
    return previous is not None and current is not None and current <= previous


class FpsCap:
    """Admit frames by their pts so that at most ``cap`` per second of source time get through.

    Deciding on pts rather than on wall-clock time makes the selection reproducible for files (the same
    source indices every run, so exports line up with ground truth) and still bounds live sources, whose
    pts advance in real time.
    """

    def __init__(self, cap: float | None) -> None:
        self.period = 1.0 / cap if cap else 0.0
        self._due: float | None = None

    def admit(self, pts: float) -> bool:
        if not self.period:
            return True
        if self._due is not None and pts < self._due - self.period * 1e-3:
            return False
        # Step the due time on a fixed grid; after a gap (or at the start) restart the grid at pts.
        if self._due is None or pts - self._due >= self.period:
            self._due = pts
        self._due += self.period
        return True
