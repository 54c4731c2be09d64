"""What every object-detector family returns, and how a family is recognised from an ONNX signature.

A family turns a batch of BGR images into raw COCO-class boxes in image pixels. Thresholds per
watchnet class, class mapping and NMS are applied once, downstream, in ``analysis.detect``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import onnxruntime as ort


@dataclass(frozen=True, slots=True)
class RawBoxes:
    """Boxes of one image before class mapping: xyxy [N,4] px, score [N], 0-based COCO class [N]."""

    xyxy: np.ndarray
    score: np.ndarray
    coco_class: np.ndarray

    @staticmethod
    def empty() -> RawBoxes:
        return RawBoxes(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))


class DetectorFamily(Protocol):
    """One detector model family bound to a loaded session."""

    name: str
    input_hw: tuple[int, int]

    def __call__(self, images: list[np.ndarray], min_score: float) -> list[RawBoxes]:
        """Detect in each BGR image; drop boxes scoring below ``min_score`` before NMS."""
        ...


@runtime_checkable
class FitsInput(Protocol):
    """A family that can run each image at an input shaped like it (same pixel budget as its own input)."""

    def fitted(self, images: list[np.ndarray], min_score: float) -> list[RawBoxes]:
        """Detect as a call does, each image at its own input shape."""
        ...


def fixed_hw(session: ort.InferenceSession, nchw: bool, fallback: int) -> tuple[int, int]:
    """The model's input (H, W) if fixed in the graph, else a square ``fallback``."""
    shape = session.get_inputs()[0].shape
    h, w = (shape[2], shape[3]) if nchw else (shape[1], shape[2])
    if isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0:
        return h, w
    return fallback, fallback
