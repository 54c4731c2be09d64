"""Users' own detector exports: YOLO (v5/v8/v11-style heads) and RT-DETR-style heads, COCO classes.

Expected ONNX formats (documented in the README):
- YOLOv8/v11: input [1,3,H,W] RGB 0..1, one output [1, 4+80, N] = cx, cy, w, h (input px), class scores.
- YOLOv5: one output [1, N, 5+80] = cx, cy, w, h, objectness, class scores.
- RT-DETR (e.g. an export with separate heads): outputs boxes [1, N, 4] (cx, cy, w, h normalised 0..1)
  and scores [1, N, 80] (sigmoid applied).
Images are letterboxed centred with grey (114) padding, as those exports were trained.
"""

from __future__ import annotations

import cv2
import numpy as np
import onnxruntime as ort

from watchnet.core.errors import ModelError
from watchnet.vision.models.detector_base import RawBoxes, fixed_hw
from watchnet.vision.models.letterbox import letterbox

_NUM_CLASSES = 80


def head_kind(session: ort.InferenceSession) -> str | None:
    """Recognise the head from output shapes: 'yolov8', 'yolov5', 'rtdetr', or None."""
    outs = session.get_outputs()
    if len(outs) == 1 and len(outs[0].shape) == 3:
        d1, d2 = outs[0].shape[1], outs[0].shape[2]
        if d1 == 4 + _NUM_CLASSES:
            return "yolov8"
        if d2 == 5 + _NUM_CLASSES:
            return "yolov5"
        if d2 == 4 + _NUM_CLASSES:
            return "yolov8-transposed"
    if len(outs) == 2:
        shapes = sorted((o.shape[-1], o.name) for o in outs)
        if shapes[0][0] == 4 and shapes[1][0] == _NUM_CLASSES:
            return "rtdetr"
    return None


class Yolo:
    """A user-supplied YOLO or RT-DETR ONNX export on COCO classes; batch 1 per call."""

    def __init__(self, session: ort.InferenceSession, input_size: int = 640) -> None:
        kind = head_kind(session)
        if kind is None:
            shapes = [(o.name, o.shape) for o in session.get_outputs()]
            raise ModelError(
                f"unrecognised detector outputs {shapes}; expected a YOLO head [1,84,N] / [1,N,85] or "
                "RT-DETR heads boxes [1,N,4] + scores [1,N,80] (see README, 'Your own detector')"
            )
        self.name = kind
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.input_hw = fixed_hw(session, nchw=True, fallback=input_size)
        self._outputs = [o.name for o in session.get_outputs()]

    def __call__(self, images: list[np.ndarray], min_score: float) -> list[RawBoxes]:
        return [self._one(image, min_score) for image in images]

    def _one(self, image: np.ndarray, min_score: float) -> RawBoxes:
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        canvas, placement = letterbox(rgb, self.input_hw, pad_value=114, centre=True)
        tensor = (canvas.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        outputs = self.session.run(self._outputs, {self.input_name: np.ascontiguousarray(tensor)})
        cxcywh, scores = self._split(outputs)
        cls = scores.argmax(axis=1)
        best = scores[np.arange(len(cls)), cls]
        keep = best >= min_score
        cxcywh, best, cls = cxcywh[keep], best[keep], cls[keep]
        xyxy = np.concatenate([cxcywh[:, :2] - cxcywh[:, 2:] / 2, cxcywh[:, :2] + cxcywh[:, 2:] / 2], axis=1)
        height, width = image.shape[:2]
        return RawBoxes(placement.to_image(xyxy, width, height), best.astype(np.float32), cls.astype(np.int64))

    def _split(self, outputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        if self.name == "yolov8":
            pred = outputs[0][0].T
            return pred[:, :4], pred[:, 4:]
        if self.name == "yolov8-transposed":
            pred = outputs[0][0]
            return pred[:, :4], pred[:, 4:]
        if self.name == "yolov5":
            pred = outputs[0][0]
            return pred[:, :4], pred[:, 5:] * pred[:, 4:5]
        boxes, scores = sorted(outputs, key=lambda a: a.shape[-1])
        scale = np.array([self.input_hw[1], self.input_hw[0]] * 2, np.float32)
        return boxes[0] * scale, scores[0]
