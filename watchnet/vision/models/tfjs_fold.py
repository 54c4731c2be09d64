"""numpy evaluators for TF ops whose inputs are all constants.

TF.js graphs keep small constant sub-graphs (shape arithmetic, ``SparseToDense`` built from constant
indices, bias additions) that the op translators need as plain values: a Reshape's target shape or a
Split's sizes must be known to emit the right ONNX attributes. Folding them here also keeps the ONNX
file free of nodes that would only compute constants at every session start.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from watchnet.vision.models.tfjs import ConvertError, TfNode
from watchnet.vision.models.tfjs_build import FOLDERS, Folder


def _fold(*ops: str) -> Callable[[Folder], Folder]:
    def wrap(fn: Folder) -> Folder:
        for name in ops:
            FOLDERS[name] = fn
        return fn

    return wrap


def _same(a: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Keep TF's dtype (numpy would promote int32 op int32 scalars to int64 or floats to float64)."""
    return np.asarray(a).astype(np.result_type(like), copy=False)


@_fold("Identity", "StopGradient", "Snapshot")
def _identity(node: TfNode, v: list[np.ndarray]) -> list[np.ndarray]:
    return [v[0]]


@_fold("Cast")
def _cast(node: TfNode, v: list[np.ndarray]) -> list[np.ndarray]:
    return [v[0].astype(node.dtype("DstT"))]


_BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "Add": np.add,
    "AddV2": np.add,
    "BiasAdd": np.add,
    "Sub": np.subtract,
    "Mul": np.multiply,
    "RealDiv": np.divide,
    "Maximum": np.maximum,
    "Minimum": np.minimum,
    "FloorDiv": np.floor_divide,
    "FloorMod": np.mod,
}


@_fold(*_BINARY)
def _binary(node: TfNode, v: list[np.ndarray]) -> list[np.ndarray]:
    return [_same(_BINARY[node.op](v[0], v[1]), v[0])]


@_fold("Neg")
def _neg(node: TfNode, v: list[np.ndarray]) -> list[np.ndarray]:
    return [-v[0]]


@_fold("Rsqrt")
def _rsqrt(node: TfNode, v: list[np.ndarray]) -> list[np.ndarray]:
    return [_same(1.0 / np.sqrt(v[0]), v[0])]


@_fold("Sqrt")
def _sqrt(node: TfNode, v: list[np.ndarray]) -> list[np.ndarray]:
    return [_same(np.sqrt(v[0]), v[0])]


@_fold("Reshape")
def _reshape(node: TfNode, v: list[np.ndarray]) -> list[np.ndarray]:
    return [v[0].reshape([int(d) for d in v[1].reshape(-1)])]


@_fold("Pack")
def _pack(node: TfNode, v: list[np.ndarray]) -> list[np.ndarray]:
    return [np.stack(v, axis=node.i("axis", 0))]


@_fold("ConcatV2")
def _concat(node: TfNode, v: list[np.ndarray]) -> list[np.ndarray]:
    return [np.concatenate(v[:-1], axis=int(v[-1]))]


@_fold("ExpandDims")
def _expand_dims(node: TfNode, v: list[np.ndarray]) -> list[np.ndarray]:
    return [np.expand_dims(v[0], int(v[1].reshape(-1)[0]))]


@_fold("Squeeze")
def _squeeze(node: TfNode, v: list[np.ndarray]) -> list[np.ndarray]:
    dims = node.ints("squeeze_dims")
    return [np.squeeze(v[0], axis=tuple(dims)) if dims else np.squeeze(v[0])]


@_fold("Transpose")
def _transpose(node: TfNode, v: list[np.ndarray]) -> list[np.ndarray]:
    return [np.transpose(v[0], [int(p) for p in v[1]])]


@_fold("GatherV2")
def _gather(node: TfNode, v: list[np.ndarray]) -> list[np.ndarray]:
    if node.i("batch_dims", 0) != 0:
        raise ConvertError(f"GatherV2 '{node.name}': batch_dims != 0 is not supported")
    return [np.take(v[0], v[1], axis=int(v[2]))]


@_fold("Shape")
def _shape(node: TfNode, v: list[np.ndarray]) -> list[np.ndarray]:
    return [np.asarray(v[0].shape, dtype=node.dtype("out_type") if node.has("out_type") else np.int32)]


@_fold("Fill")
def _fill(node: TfNode, v: list[np.ndarray]) -> list[np.ndarray]:
    return [np.full([int(d) for d in v[0]], v[1], dtype=v[1].dtype)]


@_fold("Range")
def _range(node: TfNode, v: list[np.ndarray]) -> list[np.ndarray]:
    start, limit, delta = (x.item() for x in v)
    return [np.arange(start, limit, delta).astype(v[0].dtype)]


@_fold("SparseToDense")
def _sparse_to_dense(node: TfNode, v: list[np.ndarray]) -> list[np.ndarray]:
    indices, shape, values, default = v
    out = np.full([int(d) for d in shape.reshape(-1)], default, dtype=values.dtype)
    if indices.size:
        idx = indices.reshape(len(indices), -1) if indices.ndim > 0 else indices.reshape(1, 1)
        out[tuple(idx.T)] = values
    return [out]


@_fold("StridedSlice")
def _strided_slice(node: TfNode, v: list[np.ndarray]) -> list[np.ndarray]:
    x, begin, end, strides = v
    index: list[Any] = []
    for i, (b0, e0, s0) in enumerate(zip(begin.tolist(), end.tolist(), strides.tolist(), strict=True)):
        bit = 1 << i
        if node.i("ellipsis_mask", 0) & bit:
            index.append(Ellipsis)
        elif node.i("new_axis_mask", 0) & bit:
            index.append(None)
        elif node.i("shrink_axis_mask", 0) & bit:
            index.append(int(b0))
        else:
            lo = None if node.i("begin_mask", 0) & bit else int(b0)
            hi = None if node.i("end_mask", 0) & bit else int(e0)
            index.append(slice(lo, hi, int(s0)))
    return [np.asarray(x[tuple(index)])]
