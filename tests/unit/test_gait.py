"""The gait descriptor reads cadence and proportions off a keypoint sequence, and refuses short ones."""

from __future__ import annotations

import numpy as np

from watchnet.vision.analysis.gait import GAIT_DIM, gait_descriptor, gait_similarity


def _walk(cadence_hz: float, leg: float, frames: int = 60, fps: float = 10.0) -> np.ndarray:
    """A side-on walker: ankles swing in anti-phase at ``cadence_hz``; y, x, score per keypoint."""
    t = np.arange(frames) / fps
    kp = np.zeros((frames, 17, 3), np.float32)
    kp[..., 2] = 0.9
    nose, shoulder, hip = 0.1, 0.22, 0.22 + (0.88 - leg - 0.22)
    swing = 0.1 * np.sin(2 * np.pi * cadence_hz * t)
    for idx, y in ((0, nose), (5, shoulder), (6, shoulder), (11, hip), (12, hip), (9, hip), (10, hip)):
        kp[:, idx, 0] = y
    kp[:, 5, 1], kp[:, 6, 1] = 0.22, 0.28
    kp[:, 11, 1], kp[:, 12, 1] = 0.23, 0.27
    kp[:, 9, 1], kp[:, 10, 1] = 0.23 - swing, 0.27 + swing
    kp[:, 15, 0] = kp[:, 16, 0] = 0.88
    kp[:, 15, 1], kp[:, 16, 1] = 0.25 + swing, 0.25 - swing
    return kp


def test_cadence_and_leg_length_are_recovered() -> None:
    slow, fast = gait_descriptor(_walk(0.9, 0.40), fps=10.0), gait_descriptor(_walk(1.8, 0.40), fps=10.0)
    assert slow is not None and fast is not None and slow.shape == (GAIT_DIM,)
    assert abs(slow[0] - 0.9) < 0.2 and abs(fast[0] - 1.8) < 0.2
    long_legs = gait_descriptor(_walk(0.9, 0.50), fps=10.0)
    assert long_legs is not None and long_legs[4] > slow[4] + 0.1
    assert gait_similarity(slow, slow) == 1.0
    assert gait_similarity(slow, fast) < gait_similarity(slow, gait_descriptor(_walk(1.0, 0.40), fps=10.0))


def test_too_few_usable_frames_give_no_descriptor() -> None:
    assert gait_descriptor(_walk(1.0, 0.4, frames=8), fps=10.0) is None
    hidden = _walk(1.0, 0.4)
    hidden[:, 15, 2] = 0.05  # an ankle never seen
    assert gait_descriptor(hidden, fps=10.0) is None
