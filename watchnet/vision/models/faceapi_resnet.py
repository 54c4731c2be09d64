"""The dlib ResNet face descriptor, rebuilt as an ONNX graph from the weights face-api ships.

Why a rebuild: the same network in ``face_recognition_models`` needs dlib (an 18-minute compile, or a
binary wheel) and runs ~110 ms per face outside ONNX Runtime; ``@vladmandic/face-api`` (MIT) ships its
weights as uint8-quantised tensors (value = q * scale + min) with a manifest, and its JS source
(``src/faceRecognitionNet``) gives the exact layer order. We replay that order with ``onnx.helper``:

  conv 7x7/2 valid (32) -> maxpool 3/2 -> 3 x res(32) -> res_down(64) + 3 x res(64)
  -> res_down(128) + 2 x res(128) -> res_down(256) + 2 x res(256) -> res_down(256) -> mean(H, W) -> fc 256x128

Every conv is followed by dlib's ``affine`` layer (``x * weights + biases``), which we fold into the conv
(in float64, then float32) so the graph is plain Conv/Relu/Add. A ``res_down`` block adds a 2x2/2 average
pool of its input, zero-padded in channels (and, where the strided conv came out one pixel smaller, the
conv output is zero-padded at the bottom/right), exactly as dlib's ``add_prev`` does.

Input: ``input`` [N, 3, 150, 150] float32 RGB 0..255 (a dlib face chip: 150 px, padding 0.25). The graph
subtracts dlib's mean RGB and divides by 256 (dlib's ``input_rgb_image``; face-api divides by 255, which
measured the same against dlib: cosine 0.99969 either way, the uint8 weights dominate the difference).
Output: ``embedding`` [N, 128], not normalised (dlib compares Euclidean distances of these raw vectors).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from watchnet.core.errors import ModelError
from watchnet.vision.models.onnx_graph import GraphBuilder

CHIP_SIZE = 150
MEAN_RGB = (122.782, 117.001, 104.298)
# (name, out channels, kind): the order of faceRecognitionNet's forwardInput.
_BLOCKS: tuple[tuple[str, int, str], ...] = (
    ("conv32_1", 32, "res"), ("conv32_2", 32, "res"), ("conv32_3", 32, "res"),
    ("conv64_down", 64, "down"), ("conv64_1", 64, "res"), ("conv64_2", 64, "res"), ("conv64_3", 64, "res"),
    ("conv128_down", 128, "down"), ("conv128_1", 128, "res"), ("conv128_2", 128, "res"),
    ("conv256_down", 256, "down"), ("conv256_1", 256, "res"), ("conv256_2", 256, "res"),
    ("conv256_down_out", 256, "down"),
)


def load_tfjs_weights(manifest_path: Path) -> dict[str, np.ndarray]:
    """Read a TF.js weights manifest and its shard files; dequantise uint8/uint16 entries (q * scale + min)."""
    manifest = json.loads(manifest_path.read_text())
    out: dict[str, np.ndarray] = {}
    for group in manifest:
        blob = b"".join((manifest_path.parent / p).read_bytes() for p in group["paths"])
        offset = 0
        for entry in group["weights"]:
            shape = [int(d) for d in entry["shape"]]
            count = int(np.prod(shape)) if shape else 1
            quant = entry.get("quantization")
            if quant:
                qdtype = np.dtype(quant["dtype"])
                raw = np.frombuffer(blob, dtype=qdtype, count=count, offset=offset)
                offset += count * qdtype.itemsize
                values = raw.astype(np.float64) * float(quant["scale"]) + float(quant["min"])
            else:
                raw = np.frombuffer(blob, dtype=np.dtype(entry["dtype"]), count=count, offset=offset)
                offset += count * raw.itemsize
                values = raw.astype(np.float64)
            out[entry["name"]] = values.reshape(shape)
        if offset != len(blob):
            raise ModelError(f"{manifest_path}: {len(blob) - offset} bytes left over; the weights do not match it")
    return out


class _Graph(GraphBuilder):
    """The ResNet's conv blocks on the shared builder."""

    def conv(self, x: str, prefix: str, stride: int, relu: bool) -> str:
        """Conv + bias + dlib affine (folded), optional ReLU. 'same' padding for stride 1, 'valid' for 2."""
        filters = self.w[f"{prefix}/conv/filters"]  # [kh, kw, cin, cout]
        bias = self.w[f"{prefix}/conv/bias"]
        scale = self.w[f"{prefix}/scale/weights"]
        shift = self.w[f"{prefix}/scale/biases"]
        kernel = filters.transpose(3, 2, 0, 1) * scale[:, None, None, None]
        folded_bias = bias * scale + shift
        k = int(filters.shape[0])
        pad = k // 2 if stride == 1 else 0
        y = self.op(
            "Conv",
            [x, self.const(f"{prefix}/W", kernel.astype(np.float32)),
             self.const(f"{prefix}/B", folded_bias.astype(np.float32))],
            prefix.replace("/", "_"),
            kernel_shape=[k, k], strides=[stride, stride], pads=[pad, pad, pad, pad],
        )
        return self.op("Relu", [y], "relu") if relu else y


def _spatial(size: int, kernel: int, stride: int) -> int:
    return (size - kernel) // stride + 1


def build_model(weights: dict[str, np.ndarray], input_scale: float = 1.0 / 256.0) -> onnx.ModelProto:
    """The ONNX graph of faceRecognitionNet for a fixed 150x150 input and a dynamic batch."""
    g = _Graph(weights)
    mean = np.asarray(MEAN_RGB, dtype=np.float32).reshape(1, 3, 1, 1)
    x = g.op("Sub", ["input", g.const("mean_rgb", mean)], "sub_mean")
    x = g.op("Mul", [x, g.const("input_scale", np.asarray(input_scale, dtype=np.float32))], "scaled")
    x = g.conv(x, "conv32_down", stride=2, relu=True)
    x = g.op("MaxPool", [x], "maxpool", kernel_shape=[3, 3], strides=[2, 2])
    size = _spatial(_spatial(CHIP_SIZE, 7, 2), 3, 2)
    channels = 32
    for prefix, out_channels, kind in _BLOCKS:
        if kind == "res":
            y = g.conv(x, f"{prefix}/conv1", stride=1, relu=True)
            y = g.conv(y, f"{prefix}/conv2", stride=1, relu=False)
            x = g.op("Relu", [g.op("Add", [y, x], "add")], "relu")
            continue
        y = g.conv(x, f"{prefix}/conv1", stride=2, relu=True)
        y = g.conv(y, f"{prefix}/conv2", stride=1, relu=False)
        pooled = g.op("AveragePool", [x], "avgpool", kernel_shape=[2, 2], strides=[2, 2])
        conv_size, pool_size = _spatial(size, 3, 2), _spatial(size, 2, 2)
        if conv_size < pool_size:  # dlib add_prev: the smaller tensor is zero-padded at the end
            d = pool_size - conv_size
            pads = np.asarray([0, 0, 0, 0, 0, 0, d, d], dtype=np.int64)
            y = g.op("Pad", [y, g.const("pad_hw", pads)], "pad_hw")
        if out_channels > channels:
            pads = np.asarray([0, 0, 0, 0, 0, out_channels - channels, 0, 0], dtype=np.int64)
            pooled = g.op("Pad", [pooled, g.const("pad_c", pads)], "pad_c")
        x = g.op("Relu", [g.op("Add", [y, pooled], "add")], "relu")
        size, channels = max(conv_size, pool_size), out_channels
    pooled_vec = g.op("GlobalAveragePool", [x], "gap")
    flat = g.op("Flatten", [pooled_vec], "flatten", axis=1)
    fc = weights["fc"].astype(np.float32)  # [256, 128]
    g.nodes.append(helper.make_node("MatMul", [flat, g.const("fc", fc)], ["embedding"], name="fc"))
    graph = helper.make_graph(
        g.nodes,
        "dlib_resnet_faceapi",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, CHIP_SIZE, CHIP_SIZE])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", 128])],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="watchnet")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def convert_faceapi_resnet(source_file: Path, out_path: Path, input_scale: float = 1.0 / 256.0) -> None:
    """Model-store converter: ``source_file`` is face-api's ``face_recognition_model-weights_manifest.json``."""
    weights = load_tfjs_weights(Path(source_file))
    missing = [n for n in ("conv32_down/conv/filters", "fc") if n not in weights]
    if missing:
        raise ModelError(f"{source_file}: not a face-api face_recognition_model manifest (missing {missing})")
    model = build_model(weights, input_scale=input_scale)
    Path(out_path).write_bytes(model.SerializeToString())
