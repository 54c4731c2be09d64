"""Convert a TF.js graph model (``model.json`` + ``.bin`` weight shards) to ONNX with numpy and ``onnx`` only.

Why not TensorFlow: the proven route (tfjs-graph-converter -> SavedModel -> tf2onnx) needs a 2.9 GB,
version-fragile environment, while the graphs we ship use a few dozen plain ops. Translating them here
keeps the product's install to onnxruntime, converts in seconds, and gives byte-identical output on every
run, so the store can pin the ONNX file's sha256.

This module reads the TF.js files (topology, attributes, quantised weights); ``tfjs_build`` walks the
graph, ``tfjs_ops``/``tfjs_nn`` map each TF op onto ONNX ops and ``tfjs_fold`` evaluates constant
sub-graphs with numpy.

Layout: TF is NHWC, ONNX convolutions are NCHW. Every NHWC conv/pool/resize is wrapped in a pair of
Transposes and ONNX Runtime's transpose optimiser (on at every optimisation level) cancels them: measured
on nanodet/centernet/blazeface/faceres/movenet, the optimised graphs end with the same Transpose count
as the TensorFlow-converted references and run at the same speed; only session start-up is 15-30 ms
slower. Tracking layout in the converter would buy those milliseconds for a lot more code.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from watchnet.core.errors import ModelError

OPSET = 17
IR_VERSION = 8  # what onnxruntime >= 1.14 reads; newer IR buys these graphs nothing

#: TF dtype enum names -> numpy dtypes.
TF_DTYPES: dict[str, np.dtype[Any]] = {
    "DT_FLOAT": np.dtype(np.float32),
    "DT_HALF": np.dtype(np.float16),
    "DT_DOUBLE": np.dtype(np.float64),
    "DT_INT32": np.dtype(np.int32),
    "DT_INT64": np.dtype(np.int64),
    "DT_UINT8": np.dtype(np.uint8),
    "DT_INT8": np.dtype(np.int8),
    "DT_BOOL": np.dtype(np.bool_),
}

#: TF.js manifest dtypes (and quantisation dtypes) -> numpy dtypes.
_JS_DTYPES: dict[str, np.dtype[Any]] = {
    "float32": np.dtype("<f4"),
    "int32": np.dtype("<i4"),
    "bool": np.dtype(np.bool_),
    "uint8": np.dtype(np.uint8),
    "uint16": np.dtype("<u2"),
    "float16": np.dtype("<f2"),
}


class ConvertError(ModelError):
    """The TF.js graph uses something this converter does not translate (an op, an attribute, a dtype)."""


@dataclass(frozen=True)
class TfNode:
    """One node of the TF graph as TF.js stores it: op name, inputs (``name`` or ``name:k``), raw attrs."""

    name: str
    op: str
    inputs: tuple[str, ...]
    attr: Mapping[str, Any] = field(default_factory=dict)

    # --- attribute access: TF.js keeps TF's JSON form (base64 strings, ints as strings, ...) ---------
    def has(self, key: str) -> bool:
        return key in self.attr

    def i(self, key: str, default: int | None = None) -> int:
        value = self.attr.get(key, {}).get("i")
        if value is None:
            if default is None:
                raise ConvertError(f"{self.op} node '{self.name}' lacks the int attribute '{key}'")
            return default
        return int(value)

    def f(self, key: str, default: float = 0.0) -> float:
        return float(self.attr.get(key, {}).get("f", default))

    def b(self, key: str, default: bool = False) -> bool:
        return bool(self.attr.get(key, {}).get("b", default))

    def s(self, key: str, default: str = "") -> str:
        raw = self.attr.get(key, {}).get("s")
        return default if raw is None else base64.b64decode(raw).decode()

    def ints(self, key: str) -> list[int]:
        return [int(v) for v in self.attr.get(key, {}).get("list", {}).get("i", [])]

    def strs(self, key: str) -> list[str]:
        return [base64.b64decode(v).decode() for v in self.attr.get(key, {}).get("list", {}).get("s", [])]

    def dtype(self, key: str) -> np.dtype[Any]:
        name = self.attr.get(key, {}).get("type", "DT_FLOAT")
        if name not in TF_DTYPES:
            raise ConvertError(f"{self.op} node '{self.name}': dtype {name} is not supported")
        return TF_DTYPES[name]


@dataclass
class TfjsGraph:
    """A parsed TF.js graph model: nodes in file order, constant values, and the signature (if any)."""

    nodes: list[TfNode]
    weights: dict[str, np.ndarray]
    signature: dict[str, Any]


def weight_files(model_json: Path) -> list[str]:
    """The shard file names ``model.json`` refers to (relative to its folder), in manifest order."""
    doc = _read_json(model_json)
    return [p for group in doc.get("weightsManifest", []) for p in group["paths"]]


def load_tfjs(model_json: Path) -> TfjsGraph:
    """Read ``model.json`` and its shards; dequantise weights to their original dtype."""
    doc = _read_json(model_json)
    topology = doc.get("modelTopology", {})
    if "node" not in topology:
        raise ConvertError(f"{model_json} is not a TF.js graph model (no modelTopology.node)")
    nodes = [
        TfNode(
            n["name"],
            n["op"],
            tuple(i for i in n.get("input", []) if not i.startswith("^")),
            n.get("attr", {}),
        )
        for n in topology["node"]
    ]
    weights: dict[str, np.ndarray] = {}
    for group in doc.get("weightsManifest", []):
        buffer = b"".join((model_json.parent / p).read_bytes() for p in group["paths"])
        offset = 0
        for entry in group["weights"]:
            value, offset = _read_weight(entry, buffer, offset, model_json)
            weights[entry["name"]] = value
    signature = doc.get("signature") or doc.get("userDefinedMetadata", {}).get("signature") or {}
    return TfjsGraph(nodes, weights, signature)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConvertError(f"cannot read TF.js model {path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise ConvertError(f"{path} is not a TF.js model.json (top level is not an object)")
    return doc


def _read_weight(entry: dict[str, Any], buffer: bytes, offset: int, where: Path) -> tuple[np.ndarray, int]:
    shape = [int(d) for d in entry["shape"]]
    count = int(np.prod(shape, dtype=np.int64))
    dtype = entry["dtype"]
    quant = entry.get("quantization")
    stored = quant["dtype"] if quant else dtype
    if stored not in _JS_DTYPES or dtype not in _JS_DTYPES:
        raise ConvertError(f"{where}: weight '{entry['name']}' has unsupported dtype {stored}/{dtype}")
    raw_dtype = _JS_DTYPES[stored]
    size = count * raw_dtype.itemsize
    if offset + size > len(buffer):
        raise ConvertError(f"{where}: weight shards are truncated at '{entry['name']}'; re-pull the model")
    raw = np.frombuffer(buffer, raw_dtype, count, offset).reshape(shape)
    if quant and stored in ("uint8", "uint16"):
        if "scale" in quant:
            value = raw.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])
        else:
            value = raw.astype(np.float32)
        value = value.astype(_JS_DTYPES[dtype])
    else:
        value = raw.astype(_JS_DTYPES[dtype])
    return value, offset + size


def convert(
    model_json: Path,
    out_path: Path,
    *,
    outputs: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    input_name: str | None = None,
    input_shape: Sequence[int | str] | None = None,
) -> None:
    """Translate ``model_json`` into an opset-17 ONNX file at ``out_path`` (deterministic bytes).

    ``outputs``: TF tensors to expose (``node`` or ``node:k``; inner nodes allowed), default the
    signature's outputs, else every Identity that nothing consumes. ``output_names`` renames them in the
    ONNX file (default: the TF tensor names with ``:0`` dropped). ``input_name`` renames the single
    input; ``input_shape`` fixes (or, with -1 / a string, frees) its dims.
    """
    from watchnet.vision.models.tfjs_build import build_model

    graph = load_tfjs(model_json)
    model = build_model(
        graph,
        outputs=list(outputs) if outputs else None,
        output_names=list(output_names) if output_names else None,
        input_name=input_name,
        input_shape=list(input_shape) if input_shape is not None else None,
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(out_path))
