"""Aspect-preserving resize into a fixed model input, and the inverse mapping of boxes.

Every detector we run was trained on letterboxed inputs; stretching a 4:3 CCTV frame into a square
input measurably hurts recall on thin, upright people, so all detector families share this.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How one image was placed into the model input: scale, then top-left padding offsets."""

    scale: float
    pad_x: float
    pad_y: float

    def to_image(self, xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
        """Map boxes from model-input pixels back to the original image, clipped to it."""
        out = xyxy.astype(np.float32, copy=True)
        out[:, [0, 2]] = (out[:, [0, 2]] - self.pad_x) / self.scale
        out[:, [1, 3]] = (out[:, [1, 3]] - self.pad_y) / self.scale
        np.clip(out[:, [0, 2]], 0, width, out=out[:, [0, 2]])
        np.clip(out[:, [1, 3]], 0, height, out=out[:, [1, 3]])
        return out


def letterbox(
    image: np.ndarray, size_hw: tuple[int, int], pad_value: int = 0, centre: bool = False
) -> tuple[np.ndarray, Letterbox]:
    """Resize ``image`` to fit ``size_hw`` keeping aspect ratio; pad the rest with ``pad_value``.

    Top-left placement (``centre=False``) matches NanoDet/CenterNet training; YOLO exports expect the
    image centred.
    """
    height, width = image.shape[:2]
    target_h, target_w = size_hw
    scale = min(target_h / height, target_w / width)
    new_w, new_h = round(width * scale), round(height * scale)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (new_w, new_h), interpolation=interp)
    pad_x = (target_w - new_w) // 2 if centre else 0
    pad_y = (target_h - new_h) // 2 if centre else 0
    canvas = np.full((target_h, target_w, image.shape[2]), pad_value, dtype=image.dtype)
    canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized
    return canvas, Letterbox(scale=scale, pad_x=float(pad_x), pad_y=float(pad_y))
