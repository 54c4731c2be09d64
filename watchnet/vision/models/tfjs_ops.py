"""TF -> ONNX translators for element-wise maths, reductions and tensor plumbing (no layout involved).

Each translator reads one ``TfNode`` and emits ONNX nodes through the ``Builder``; it returns the ONNX
names of the TF node's outputs in order. TF semantics that differ from ONNX are handled here: int32
shape tensors (ONNX wants int64, so values are cast at the boundary), floor division/modulo on
integers, StridedSlice's bit masks, and the TF ops ONNX lacks (SquaredDifference, Rsqrt, Relu6...).
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

from watchnet.vision.models.tfjs import ConvertError, TfNode
from watchnet.vision.models.tfjs_build import Builder, register

_INT_MAX = np.iinfo(np.int64).max
_INT_MIN = np.iinfo(np.int64).min


def _onnx_type(dtype: np.dtype) -> int:
    return int(helper.np_dtype_to_tensor_dtype(dtype))


# --- element-wise -------------------------------------------------------------------------------
_BINARY = {
    "Add": "Add", "AddV2": "Add", "BiasAdd": "Add", "Sub": "Sub", "Mul": "Mul", "RealDiv": "Div",
    "Div": "Div", "Maximum": "Max", "Minimum": "Min", "Pow": "Pow", "Less": "Less", "Greater": "Greater",
    "LessEqual": "LessOrEqual", "GreaterEqual": "GreaterOrEqual", "Equal": "Equal",
    "LogicalAnd": "And", "LogicalOr": "Or",
}  # fmt: skip


@register(*_BINARY)
def binary(b: Builder, node: TfNode) -> list[str]:
    return [b.op(_BINARY[node.op], [b.inp(node, 0), b.inp(node, 1)], node.name)]


@register("NotEqual")
def not_equal(b: Builder, node: TfNode) -> list[str]:
    eq = b.op("Equal", [b.inp(node, 0), b.inp(node, 1)], f"{node.name}/eq")
    return [b.op("Not", [eq], node.name)]


@register("SquaredDifference")
def squared_difference(b: Builder, node: TfNode) -> list[str]:
    diff = b.op("Sub", [b.inp(node, 0), b.inp(node, 1)], f"{node.name}/sub")
    return [b.op("Mul", [diff, diff], node.name)]


@register("FloorDiv")
def floor_div(b: Builder, node: TfNode) -> list[str]:
    x, y = b.inp(node, 0), b.inp(node, 1)
    if np.issubdtype(node.dtype("T"), np.floating):
        return [b.op("Floor", [b.op("Div", [x, y], f"{node.name}/div")], node.name)]
    # Integer Div truncates toward zero; (x - floormod(x, y)) / y is exact floor division.
    mod = b.op("Mod", [x, y], f"{node.name}/mod", fmod=0)
    return [b.op("Div", [b.op("Sub", [x, mod], f"{node.name}/sub"), y], node.name)]


@register("FloorMod")
def floor_mod(b: Builder, node: TfNode) -> list[str]:
    fmod = 1 if np.issubdtype(node.dtype("T"), np.floating) else 0
    if fmod:  # float: x - floor(x / y) * y
        x, y = b.inp(node, 0), b.inp(node, 1)
        q = b.op("Floor", [b.op("Div", [x, y], f"{node.name}/div")], f"{node.name}/floor")
        return [b.op("Sub", [x, b.op("Mul", [q, y], f"{node.name}/mul")], node.name)]
    return [b.op("Mod", [b.inp(node, 0), b.inp(node, 1)], node.name, fmod=0)]


_UNARY = {
    "Relu": "Relu", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Exp": "Exp", "Log": "Log", "Abs": "Abs",
    "Neg": "Neg", "Sqrt": "Sqrt", "Reciprocal": "Reciprocal", "Inv": "Reciprocal", "Floor": "Floor",
    "Ceil": "Ceil", "Round": "Round", "LogicalNot": "Not", "Elu": "Elu", "Softplus": "Softplus",
    "Sign": "Sign", "Identity": "Identity", "StopGradient": "Identity", "Snapshot": "Identity",
}  # fmt: skip


@register(*_UNARY)
def unary(b: Builder, node: TfNode) -> list[str]:
    return [b.op(_UNARY[node.op], [b.inp(node, 0)], node.name)]


@register("Relu6")
def relu6(b: Builder, node: TfNode) -> list[str]:
    lo, hi = b.scalar(0.0), b.scalar(6.0)
    return [b.op("Clip", [b.inp(node, 0), lo, hi], node.name)]


@register("LeakyRelu")
def leaky_relu(b: Builder, node: TfNode) -> list[str]:
    return [b.op("LeakyRelu", [b.inp(node, 0)], node.name, alpha=node.f("alpha", 0.2))]


@register("Rsqrt")
def rsqrt(b: Builder, node: TfNode) -> list[str]:
    return [b.op("Reciprocal", [b.op("Sqrt", [b.inp(node, 0)], f"{node.name}/sqrt")], node.name)]


@register("Square")
def square(b: Builder, node: TfNode) -> list[str]:
    x = b.inp(node, 0)
    return [b.op("Mul", [x, x], node.name)]


@register("Softmax", "LogSoftmax")
def softmax(b: Builder, node: TfNode) -> list[str]:
    return [b.op(node.op, [b.inp(node, 0)], node.name, axis=-1)]


@register("AddN")
def add_n(b: Builder, node: TfNode) -> list[str]:
    return [b.op("Sum", [b.inp(node, k) for k in range(len(node.inputs))], node.name)]


@register("Select", "SelectV2")
def select(b: Builder, node: TfNode) -> list[str]:
    return [b.op("Where", [b.inp(node, 0), b.inp(node, 1), b.inp(node, 2)], node.name)]


@register("Cast")
def cast(b: Builder, node: TfNode) -> list[str]:
    return [b.op("Cast", [b.inp(node, 0)], node.name, to=_onnx_type(node.dtype("DstT")))]


# --- reductions ---------------------------------------------------------------------------------
_REDUCE = {
    "Mean": "ReduceMean",
    "Max": "ReduceMax",
    "Min": "ReduceMin",
    "Prod": "ReduceProd",
    "Sum": "ReduceSum",
}


@register(*_REDUCE)
def reduce(b: Builder, node: TfNode) -> list[str]:
    axes = [int(a) for a in b.need_const(node, 1).reshape(-1)]
    keep = int(node.b("keep_dims"))
    if node.op == "Sum":  # ReduceSum takes its axes as an input from opset 13
        return [
            b.op("ReduceSum", [b.inp(node, 0), b.ints(axes, f"{node.name}/axes")], node.name, keepdims=keep)
        ]
    return [b.op(_REDUCE[node.op], [b.inp(node, 0)], node.name, axes=axes, keepdims=keep)]


@register("ArgMax", "ArgMin")
def arg_max(b: Builder, node: TfNode) -> list[str]:
    axis = int(b.need_const(node, 1).reshape(-1)[0])
    idx = b.op(node.op, [b.inp(node, 0)], f"{node.name}/i64", axis=axis, keepdims=0)
    out_type = node.dtype("output_type") if node.has("output_type") else np.dtype(np.int64)
    return [b.op("Cast", [idx], node.name, to=_onnx_type(out_type))]


@register("TopKV2")
def top_k(b: Builder, node: TfNode) -> list[str]:
    k = b.op("Reshape", [b.as_int64(node, 1), b.ints([1], f"{node.name}/one")], f"{node.name}/k")
    values, idx = b.emit("TopK", [b.inp(node, 0), k], node.name, 2, axis=-1, largest=1, sorted=1)
    return [values, b.op("Cast", [idx], f"{node.name}:1", to=TensorProto.INT32)]


# --- shapes ---------------------------------------------------------------------------------------
@register("Shape", "Size")
def shape(b: Builder, node: TfNode) -> list[str]:
    raw = b.op(node.op, [b.inp(node, 0)], f"{node.name}/i64")
    out_type = node.dtype("out_type") if node.has("out_type") else np.dtype(np.int32)
    return [b.op("Cast", [raw], node.name, to=_onnx_type(out_type))]


@register("Reshape")
def reshape(b: Builder, node: TfNode) -> list[str]:
    return [b.op("Reshape", [b.inp(node, 0), b.as_int64(node, 1)], node.name)]


@register("Squeeze")
def squeeze(b: Builder, node: TfNode) -> list[str]:
    dims = node.ints("squeeze_dims")
    inputs = [b.inp(node, 0)] + ([b.ints(dims, f"{node.name}/axes")] if dims else [])
    return [b.op("Squeeze", inputs, node.name)]


@register("ExpandDims")
def expand_dims(b: Builder, node: TfNode) -> list[str]:
    axis = [int(b.need_const(node, 1).reshape(-1)[0])]
    return [b.op("Unsqueeze", [b.inp(node, 0), b.ints(axis, f"{node.name}/axes")], node.name)]


@register("Transpose")
def transpose(b: Builder, node: TfNode) -> list[str]:
    perm = [int(p) for p in b.need_const(node, 1)]
    return [b.op("Transpose", [b.inp(node, 0)], node.name, perm=perm)]


@register("ConcatV2")
def concat(b: Builder, node: TfNode) -> list[str]:
    axis = int(b.need_const(node, len(node.inputs) - 1))
    parts = [b.inp(node, k) for k in range(len(node.inputs) - 1)]
    return [b.op("Concat", parts, node.name, axis=axis)]


@register("Pack")
def pack(b: Builder, node: TfNode) -> list[str]:
    axis = node.i("axis", 0)
    axes = b.ints([axis], f"{node.name}/axes")
    parts = [
        b.op("Unsqueeze", [b.inp(node, k), axes], f"{node.name}/unsq{k}") for k in range(len(node.inputs))
    ]
    return [b.op("Concat", parts, node.name, axis=axis)]


@register("Unpack")
def unpack(b: Builder, node: TfNode) -> list[str]:
    axis, num = node.i("axis", 0), node.i("num")
    parts = b.emit("Split", [b.inp(node, 0)], f"{node.name}/split", num, axis=axis)
    axes = b.ints([axis], f"{node.name}/axes")
    return [b.op("Squeeze", [p, axes], f"{node.name}:{k}" if k else node.name) for k, p in enumerate(parts)]


@register("Split")
def split(b: Builder, node: TfNode) -> list[str]:
    axis = int(b.need_const(node, 0))
    x = b.inp(node, 1)
    return b.emit("Split", [x], node.name, node.i("num_split"), axis=axis)


@register("SplitV")
def split_v(b: Builder, node: TfNode) -> list[str]:
    sizes = [int(s) for s in b.need_const(node, 1)]
    if -1 in sizes:
        raise ConvertError(f"SplitV '{node.name}': a -1 split size needs a static shape, which is not known")
    axis = int(b.need_const(node, 2))
    return b.emit(
        "Split", [b.inp(node, 0), b.ints(sizes, f"{node.name}/sizes")], node.name, len(sizes), axis=axis
    )


@register("Tile")
def tile(b: Builder, node: TfNode) -> list[str]:
    return [b.op("Tile", [b.inp(node, 0), b.as_int64(node, 1)], node.name)]


@register("Fill")
def fill(b: Builder, node: TfNode) -> list[str]:
    return [b.op("Expand", [b.inp(node, 1), b.as_int64(node, 0)], node.name)]


@register("Range")
def range_(b: Builder, node: TfNode) -> list[str]:
    return [b.op("Range", [b.inp(node, 0), b.inp(node, 1), b.inp(node, 2)], node.name)]


@register("GatherV2")
def gather(b: Builder, node: TfNode) -> list[str]:
    if node.i("batch_dims", 0) != 0:
        raise ConvertError(f"GatherV2 '{node.name}': batch_dims != 0 is not supported")
    axis = int(b.need_const(node, 2))
    return [b.op("Gather", [b.inp(node, 0), b.inp(node, 1)], node.name, axis=axis)]


@register("GatherNd")
def gather_nd(b: Builder, node: TfNode) -> list[str]:
    return [b.op("GatherND", [b.inp(node, 0), b.as_int64(node, 1)], node.name)]


@register("Slice")
def slice_(b: Builder, node: TfNode) -> list[str]:
    begin = [int(v) for v in b.need_const(node, 1)]
    size = [int(v) for v in b.need_const(node, 2)]
    end = [_INT_MAX if s == -1 else bg + s for bg, s in zip(begin, size, strict=True)]
    ins = [
        b.ints(begin, f"{node.name}/starts"),
        b.ints(end, f"{node.name}/ends"),
        b.ints(range(len(begin)), f"{node.name}/axes"),
    ]
    return [b.op("Slice", [b.inp(node, 0), *ins], node.name)]


@register("StridedSlice")
def strided_slice(b: Builder, node: TfNode) -> list[str]:
    """Slice, then Squeeze the shrunk axes, then Unsqueeze the new ones (TF's mask bits, in that order)."""
    begin, end, strides = (b.need_const(node, k).reshape(-1).tolist() for k in (1, 2, 3))
    masks = {m: node.i(f"{m}_mask", 0) for m in ("begin", "end", "ellipsis", "new_axis", "shrink_axis")}
    if masks["ellipsis"] & ((1 << len(begin)) - 1) & ~(1 << (len(begin) - 1)):
        raise ConvertError(f"StridedSlice '{node.name}': an ellipsis before the last index is not supported")
    starts: list[int] = []
    ends: list[int] = []
    axes: list[int] = []
    steps: list[int] = []
    squeeze_axes: list[int] = []
    new_axes: list[int] = []
    dim = out = 0
    for i, (b0, e0, s0) in enumerate(zip(begin, end, strides, strict=True)):
        bit = 1 << i
        if masks["ellipsis"] & bit:
            break
        if masks["new_axis"] & bit:
            new_axes.append(out)
            out += 1
            continue
        if masks["shrink_axis"] & bit:
            lo, hi, step = b0, (_INT_MAX if b0 == -1 else b0 + 1), 1
            squeeze_axes.append(dim)
        else:
            lo = (_INT_MAX if s0 < 0 else 0) if masks["begin"] & bit else b0
            hi = (_INT_MIN if s0 < 0 else _INT_MAX) if masks["end"] & bit else e0
            step = s0
            out += 1
        if not (lo == 0 and hi == _INT_MAX and step == 1):  # a full axis needs no Slice entry
            starts.append(lo)
            ends.append(hi)
            axes.append(dim)
            steps.append(step)
        dim += 1
    steps_needed = [bool(axes), bool(squeeze_axes), bool(new_axes)]
    last = max((k for k, need in enumerate(steps_needed) if need), default=-1)
    names = [
        node.name if k == last else f"{node.name}/{s}"
        for k, s in enumerate(("slice", "squeeze", "unsqueeze"))
    ]
    y = b.inp(node, 0)
    if axes:
        vals = ((starts, "starts"), (ends, "ends"), (axes, "axes"), (steps, "steps"))
        y = b.op("Slice", [y, *(b.ints(v, f"{node.name}/{n}") for v, n in vals)], names[0])
    if squeeze_axes:
        y = b.op("Squeeze", [y, b.ints(squeeze_axes, f"{node.name}/sq_axes")], names[1])
    if new_axes:
        y = b.op("Unsqueeze", [y, b.ints(new_axes, f"{node.name}/new_axes")], names[2])
    return [y if last >= 0 else b.op("Identity", [y], node.name)]
