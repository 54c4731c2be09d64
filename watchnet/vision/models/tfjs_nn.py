"""TF -> ONNX translators for the layout-bound ops: convolutions (plain, depthwise, fused), pooling,
resizing, padding, matrix products and batch norm.

TF graphs are NHWC; ONNX Conv/Pool/Resize are NCHW. Each NHWC op is emitted as
``Transpose(to NCHW) -> op -> Transpose(to NHWC)``, which keeps every translator local and obviously
correct; ``tfjs_layout`` then cancels the transpose pairs between consecutive ops. Filters are
re-laid out once, in numpy (HWIO -> OIHW; depthwise HWCM -> (C*M)1HW with group=C), and fused
BatchNorm is folded into the filter and bias.
"""

from __future__ import annotations

import numpy as np

from watchnet.vision.models.tfjs import ConvertError, TfNode
from watchnet.vision.models.tfjs_build import Builder, register

TO_NCHW = [0, 3, 1, 2]
TO_NHWC = [0, 2, 3, 1]


def _spatial(node: TfNode, key: str, nhwc: bool) -> list[int]:
    values = node.ints(key) or [1, 1, 1, 1]
    return values[1:3] if nhwc else values[2:4]


def _padding(node: TfNode, nhwc: bool) -> dict[str, object]:
    mode = node.s("padding", "VALID")
    if mode == "SAME":
        return {"auto_pad": "SAME_UPPER"}
    if mode == "VALID":
        return {}
    if mode == "EXPLICIT":
        pairs = node.ints("explicit_paddings")
        h, w = (pairs[2:4], pairs[4:6]) if nhwc else (pairs[4:6], pairs[6:8])
        return {"pads": [h[0], w[0], h[1], w[1]]}
    raise ConvertError(f"{node.op} '{node.name}': padding {mode!r} is not supported")


def _nchw_in(b: Builder, node: TfNode, nhwc: bool) -> str:
    x = b.inp(node, 0)
    return b.op("Transpose", [x], f"{node.name}/to_nchw", perm=TO_NCHW) if nhwc else x


def _nhwc_out(b: Builder, node: TfNode, y: str, nhwc: bool) -> str:
    return b.op("Transpose", [y], node.name, perm=TO_NHWC) if nhwc else y


def _activation(
    b: Builder, node: TfNode, op: str, y: str, alpha: np.ndarray | None, nchw: bool, name: str
) -> str:
    """One fused activation on an NCHW tensor (``nchw``) or one whose channels are the last axis."""
    if op == "Relu":
        return b.op("Relu", [y], name)
    if op == "Relu6":
        lo, hi = b.scalar(0.0), b.scalar(6.0)
        return b.op("Clip", [y, lo, hi], name)
    if op in ("Sigmoid", "Tanh", "Elu"):
        return b.op(op, [y], name)
    if op == "LeakyRelu":
        return b.op("LeakyRelu", [y], name, alpha=node.f("leakyrelu_alpha", 0.2))
    if op == "Prelu" and alpha is not None:
        shaped = alpha.reshape(-1, 1, 1) if nchw and alpha.size > 1 else alpha
        return b.op("PRelu", [y, b.constant(shaped.astype(np.float32), f"{node.name}/alpha")], name)
    raise ConvertError(f"{node.op} '{node.name}': fused op {op!r} is not supported")


def _fused_parts(
    b: Builder, node: TfNode
) -> tuple[np.ndarray | None, tuple[np.ndarray, np.ndarray] | None, list[str], np.ndarray | None]:
    """Split ``fused_ops`` into (bias, (bn scale, bn shift), activations, prelu alpha)."""
    ops = node.strs("fused_ops")
    args = [b.need_const(node, k).astype(np.float32) for k in range(2, len(node.inputs))]
    bias = bn = alpha = None
    acts: list[str] = []
    for op in ops:
        if op == "BiasAdd":
            bias = args.pop(0)
        elif op == "FusedBatchNorm":
            scale, offset, mean, var = (args.pop(0) for _ in range(4))
            k = scale / np.sqrt(var + np.float32(node.f("epsilon", 1e-3)))
            bn = (k.astype(np.float32), (offset - mean * k).astype(np.float32))
        elif op == "Prelu":
            alpha = args.pop(0)
            acts.append(op)
        else:
            acts.append(op)
    return bias, bn, acts, alpha


def _conv(b: Builder, node: TfNode, depthwise: bool, fused: bool) -> list[str]:
    nhwc = node.s("data_format", "NHWC") == "NHWC"
    w = b.need_const(node, 1).astype(np.float32)
    kh, kw, cin, cout = w.shape
    if depthwise:  # HWCM -> (C*M) x 1 x H x W; output channel c*M + m as in TF
        weight = w.transpose(2, 3, 0, 1).reshape(cin * cout, 1, kh, kw)
        group, channels = cin, cin * cout
    else:
        weight = w.transpose(3, 2, 0, 1)
        group, channels = 1, cout
    bias, bn, acts, alpha = _fused_parts(b, node) if fused else (None, None, [], None)
    if bn is not None:
        weight = weight * bn[0].reshape(-1, 1, 1, 1)
        bias = bn[1] if bias is None else bias * bn[0] + bn[1]
    ins = [_nchw_in(b, node, nhwc), b.constant(np.ascontiguousarray(weight, np.float32), f"{node.name}/W")]
    if bias is not None:
        ins.append(b.constant(np.broadcast_to(bias, (channels,)).astype(np.float32), f"{node.name}/B"))
    attrs = {
        "strides": _spatial(node, "strides", nhwc),
        "dilations": _spatial(node, "dilations", nhwc),
        "group": group,
    }
    y = b.op("Conv", ins, f"{node.name}/conv", kernel_shape=[kh, kw], **attrs, **_padding(node, nhwc))
    for act in acts:
        y = _activation(b, node, act, y, alpha, True, f"{node.name}/{act.lower()}")
    return [_nhwc_out(b, node, y, nhwc)]


@register("Conv2D")
def conv2d(b: Builder, node: TfNode) -> list[str]:
    return _conv(b, node, depthwise=False, fused=False)


@register("DepthwiseConv2dNative")
def depthwise(b: Builder, node: TfNode) -> list[str]:
    return _conv(b, node, depthwise=True, fused=False)


@register("_FusedConv2D")
def fused_conv2d(b: Builder, node: TfNode) -> list[str]:
    return _conv(b, node, depthwise=False, fused=True)


@register("FusedDepthwiseConv2dNative")
def fused_depthwise(b: Builder, node: TfNode) -> list[str]:
    return _conv(b, node, depthwise=True, fused=True)


@register("MaxPool", "AvgPool")
def pool(b: Builder, node: TfNode) -> list[str]:
    nhwc = node.s("data_format", "NHWC") == "NHWC"
    attrs: dict[str, object] = {"kernel_shape": _spatial(node, "ksize", nhwc)}
    attrs.update(strides=_spatial(node, "strides", nhwc), **_padding(node, nhwc))
    op = "MaxPool" if node.op == "MaxPool" else "AveragePool"  # AveragePool excludes pads, as TF does
    y = b.op(op, [_nchw_in(b, node, nhwc)], f"{node.name}/pool", **attrs)
    return [_nhwc_out(b, node, y, nhwc)]


@register("ResizeBilinear", "ResizeNearestNeighbor")
def resize(b: Builder, node: TfNode) -> list[str]:
    x = _nchw_in(b, node, True)
    nc = b.op("Slice", [b.op("Shape", [x], f"{node.name}/shape"), b.ints([0], f"{node.name}/s0"),
                        b.ints([2], f"{node.name}/s2")], f"{node.name}/nc")  # fmt: skip
    sizes = b.op("Concat", [nc, b.as_int64(node, 1)], f"{node.name}/sizes", axis=0)
    align, half = node.b("align_corners"), node.b("half_pixel_centers")
    if node.op == "ResizeBilinear":
        ctm = "align_corners" if align else "half_pixel" if half else "asymmetric"
        attrs = {"mode": "linear", "coordinate_transformation_mode": ctm}
    else:
        ctm = "align_corners" if align else "tf_half_pixel_for_nn" if half else "asymmetric"
        attrs = {"mode": "nearest", "coordinate_transformation_mode": ctm,
                 "nearest_mode": "round_prefer_ceil" if align else "floor"}  # fmt: skip
    y = b.op("Resize", [x, "", "", sizes], f"{node.name}/resize", **attrs)
    return [_nhwc_out(b, node, y, True)]


@register("Pad", "PadV2", "MirrorPad")
def pad(b: Builder, node: TfNode) -> list[str]:
    paddings = b.need_const(node, 1).astype(np.int64)
    pads = b.ints(np.concatenate([paddings[:, 0], paddings[:, 1]]), f"{node.name}/pads")
    inputs = [b.inp(node, 0), pads]
    attrs: dict[str, object] = {}
    if node.op == "PadV2":
        inputs.append(b.inp(node, 2))
    elif node.op == "MirrorPad":
        if node.s("mode") != "REFLECT":
            raise ConvertError(f"MirrorPad '{node.name}': mode {node.s('mode')} has no ONNX equivalent")
        attrs["mode"] = "reflect"
    return [b.op("Pad", inputs, node.name, **attrs)]


@register("MatMul", "_FusedMatMul")
def matmul(b: Builder, node: TfNode) -> list[str]:
    a, w = b.inp(node, 0), b.const(node, 1)
    if node.b("transpose_a"):
        a = b.op("Transpose", [a], f"{node.name}/ta", perm=[1, 0])
    if w is not None:
        rhs = b.constant(w.T.copy() if node.b("transpose_b") else w, f"{node.name}/W")
    else:
        rhs = b.inp(node, 1)
        if node.b("transpose_b"):
            rhs = b.op("Transpose", [rhs], f"{node.name}/tb", perm=[1, 0])
    bias, bn, acts, alpha = _fused_parts(b, node) if node.op == "_FusedMatMul" else (None, None, [], None)
    if bn is not None:
        raise ConvertError(f"_FusedMatMul '{node.name}': fused batch norm is not supported")
    steps = ["matmul"] + (["bias"] if bias is not None else []) + acts
    names = [f"{node.name}/{s.lower()}" for s in steps[:-1]] + [node.name]  # the last step names the output
    y = b.op("MatMul", [a, rhs], names[0])
    if bias is not None:
        y = b.op("Add", [y, b.constant(bias, f"{node.name}/B")], names[1])
    for k, act in enumerate(acts):
        y = _activation(b, node, act, y, alpha, False, names[len(steps) - len(acts) + k])
    return [y]


@register("FusedBatchNorm", "FusedBatchNormV3")
def batch_norm(b: Builder, node: TfNode) -> list[str]:
    scale, offset, mean, var = (b.need_const(node, k).astype(np.float32) for k in range(1, 5))
    k = scale / np.sqrt(var + np.float32(node.f("epsilon", 1e-3)))
    nhwc = node.s("data_format", "NHWC") == "NHWC"
    shape = (-1,) if nhwc else (-1, 1, 1)
    y = b.op("Mul", [b.inp(node, 0), b.constant(k.reshape(shape), f"{node.name}/scale")], f"{node.name}/mul")
    return [b.op("Add", [y, b.constant((offset - mean * k).reshape(shape), f"{node.name}/shift")], node.name)]


@register("Prelu")
def prelu(b: Builder, node: TfNode) -> list[str]:
    return [b.op("PRelu", [b.inp(node, 0), b.inp(node, 1)], node.name)]
