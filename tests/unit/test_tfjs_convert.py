"""The TF.js converter on small hand-written graphs, for the semantics the five shipped models do not all
exercise: quantised weights, StridedSlice masks, integer floor division, depthwise multipliers, fused
activations, resize modes, inner-node outputs, unsupported ops and byte-for-byte determinism.

Expected values come from numpy implementations of TF's documented semantics; the ONNX side runs in
onnxruntime. (The full models are compared with TensorFlow's own conversions in test_model_oracle.)
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from watchnet.vision.models.tfjs import ConvertError, convert, load_tfjs

# --- writing TF.js graph models ------------------------------------------------------------------


def s(v: str) -> dict[str, str]:
    return {"s": base64.b64encode(v.encode()).decode()}


def i(v: int) -> dict[str, str]:
    return {"i": str(v)}


def ints(vs: list[int]) -> dict[str, Any]:
    return {"list": {"i": [str(v) for v in vs]}}


def t(dtype: str) -> dict[str, str]:
    return {"type": dtype}


def placeholder(name: str, shape: list[int], dtype: str = "DT_FLOAT") -> dict[str, Any]:
    dims = [{"size": str(d)} for d in shape]
    return {"name": name, "op": "Placeholder", "attr": {"dtype": t(dtype), "shape": {"shape": {"dim": dims}}}}


def node(name: str, op: str, inputs: list[str], **attr: Any) -> dict[str, Any]:
    return {"name": name, "op": op, "input": inputs, "attr": attr}


def write_model(folder: Path, nodes: list[dict[str, Any]], consts: dict[str, Any]) -> Path:
    """``consts``: name -> ndarray, or (ndarray of stored values, quantization dict)."""
    blob, manifest = b"", []
    for name, value in consts.items():
        stored, quant = value if isinstance(value, tuple) else (np.asarray(value), None)
        dtype = {"float32": "float32", "int32": "int32"}.get(stored.dtype.name, "float32")
        entry: dict[str, Any] = {"name": name, "shape": list(stored.shape), "dtype": dtype}
        if quant:
            entry["quantization"] = quant
        manifest.append(entry)
        blob += stored.tobytes()
        nodes = [node(name, "Const", [], dtype=t("DT_INT32" if dtype == "int32" else "DT_FLOAT")), *nodes]
    (folder / "w.bin").write_bytes(blob)
    doc = {"format": "graph-model", "modelTopology": {"node": nodes},
           "weightsManifest": [{"paths": ["w.bin"], "weights": manifest}]}  # fmt: skip
    path = folder / "model.json"
    path.write_text(json.dumps(doc))
    return path


def run(path: Path, feeds: dict[str, np.ndarray], **kwargs: Any) -> list[np.ndarray]:
    out = path.with_suffix(".onnx")
    convert(path, out, **kwargs)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    return list(session.run(None, feeds))


# --- tests ------------------------------------------------------------------------------------------


def test_quantised_weights_are_dequantised(tmp_path: Path) -> None:
    q8 = np.array([0, 1, 255], np.uint8)
    q16 = np.array([0, 2, 65535], np.uint16)
    half = np.array([0.5, -2.0, 3.25], np.float16)
    model = write_model(tmp_path, [placeholder("x", [3])], {
        "u8": (q8, {"dtype": "uint8", "scale": 0.5, "min": -1.0}),
        "u16": (q16, {"dtype": "uint16", "scale": 0.25, "min": 2.0}),
        "f16": (half, {"dtype": "float16"}),
        "i32": np.array([7, -8, 9], np.int32),
    })  # fmt: skip
    w = load_tfjs(model).weights
    np.testing.assert_allclose(w["u8"], q8 * 0.5 - 1.0)
    np.testing.assert_allclose(w["u16"], q16 * 0.25 + 2.0)
    np.testing.assert_array_equal(w["f16"], half.astype(np.float32))
    assert w["f16"].dtype == np.float32 and w["i32"].dtype == np.int32


def test_truncated_shard_is_reported(tmp_path: Path) -> None:
    model = write_model(tmp_path, [placeholder("x", [3])], {"w": np.ones(4, np.float32)})
    (tmp_path / "w.bin").write_bytes(b"\0" * 8)
    with pytest.raises(ConvertError, match="truncated at 'w'"):
        load_tfjs(model)


SLICES = [  # (begin, end, strides, masks, numpy equivalent)
    ([1, 0, 0], [2, 3, 4], [1, 1, 1], {}, lambda x: x[1:2, 0:3, 0:4]),
    ([0, 1], [0, 0], [1, 1], {"begin_mask": 1, "end_mask": 3}, lambda x: x[:, 1:]),
    ([1, 0, 0, 2], [2, 0, 0, 3], [1, 1, 1, 1],
     {"shrink_axis_mask": 9, "new_axis_mask": 2, "begin_mask": 4, "end_mask": 4}, lambda x: x[1, None, :, 2]),
    ([0, -1], [0, 0], [1, -1], {"begin_mask": 1, "end_mask": 3}, lambda x: x[:, ::-1]),
    ([0, 0, 0], [0, 0, 2], [1, 1, 1],
     {"begin_mask": 5, "end_mask": 1, "new_axis_mask": 2}, lambda x: x[:, None, :2]),
    ([-1], [0], [1], {"shrink_axis_mask": 1}, lambda x: x[-1]),
]  # fmt: skip


@pytest.mark.parametrize(("begin", "end", "strides", "masks", "expected"), SLICES)
def test_strided_slice_masks(
    tmp_path: Path, begin: Any, end: Any, strides: Any, masks: Any, expected: Any
) -> None:
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    attrs = {k: i(v) for k, v in masks.items()}
    model = write_model(
        tmp_path,
        [
            placeholder("x", list(x.shape)),
            node("y", "StridedSlice", ["x", "b", "e", "s"], T=t("DT_FLOAT"), **attrs),
        ],
        {"b": np.array(begin, np.int32), "e": np.array(end, np.int32), "s": np.array(strides, np.int32)},
    )
    [got] = run(model, {"x": x}, outputs=["y"])
    np.testing.assert_array_equal(got, expected(x))


def test_integer_floor_division_and_modulo(tmp_path: Path) -> None:
    a = np.array([7, -7, 7, -7, 0, -1], np.int32)
    b = np.array([2, 2, -2, -2, 3, 3], np.int32)
    model = write_model(tmp_path, [
        placeholder("a", [6], "DT_INT32"),
        node("q", "FloorDiv", ["a", "b"], T=t("DT_INT32")),
        node("r", "FloorMod", ["a", "b"], T=t("DT_INT32")),
    ], {"b": b})  # fmt: skip
    q, r = run(model, {"a": a}, outputs=["q", "r"])
    np.testing.assert_array_equal(q, np.floor_divide(a, b))
    np.testing.assert_array_equal(r, np.mod(a, b))


def _conv_nhwc(x: np.ndarray, w: np.ndarray, stride: int, depthwise: bool) -> np.ndarray:
    """TF's SAME convolution, written out: pad (more at the end), then correlate."""
    n, h, wd, c = x.shape
    kh, kw = w.shape[:2]
    oh, ow = -(-h // stride), -(-wd // stride)
    ph, pw = max((oh - 1) * stride + kh - h, 0), max((ow - 1) * stride + kw - wd, 0)
    xp = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    cout = c * w.shape[3] if depthwise else w.shape[3]
    out = np.zeros((n, oh, ow, cout), np.float64)
    for r in range(oh):
        for q in range(ow):
            patch = xp[:, r * stride : r * stride + kh, q * stride : q * stride + kw, :]
            if depthwise:  # output channel c * M + m
                out[:, r, q, :] = np.einsum("nhwc,hwcm->ncm", patch, w).reshape(n, -1)
            else:
                out[:, r, q, :] = np.einsum("nhwc,hwco->no", patch, w)
    return out


def test_depthwise_multiplier_and_fused_conv(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 7, 7, 3)).astype(np.float32)
    dw = rng.normal(size=(3, 3, 3, 2)).astype(np.float32)
    pw = rng.normal(size=(1, 1, 6, 4)).astype(np.float32)
    bias = rng.normal(size=4).astype(np.float32)
    alpha = np.full(4, 0.1, np.float32)
    conv = {
        "strides": ints([1, 1, 1, 1]),
        "padding": s("SAME"),
        "data_format": s("NHWC"),
        "dilations": ints([1, 1, 1, 1]),
    }
    model = write_model(tmp_path, [
        placeholder("x", [1, 7, 7, 3]),
        node("dw", "DepthwiseConv2dNative", ["x", "wdw"], **{**conv, "strides": ints([1, 2, 2, 1])}),
        node("pw", "_FusedConv2D", ["dw", "wpw", "bias", "alpha"], **conv, num_args=i(2),
             fused_ops={"list": {"s": [s("BiasAdd")["s"], s("Prelu")["s"]]}}),
    ], {"wdw": dw, "wpw": pw, "bias": bias, "alpha": alpha})  # fmt: skip
    got_dw, got_pw = run(model, {"x": x}, outputs=["dw", "pw"])
    want_dw = _conv_nhwc(x, dw, 2, depthwise=True)
    np.testing.assert_allclose(got_dw, want_dw, atol=1e-4)
    pre = _conv_nhwc(want_dw, pw, 1, depthwise=False) + bias
    np.testing.assert_allclose(got_pw, np.where(pre > 0, pre, 0.1 * pre), atol=1e-4)


def _tf_bilinear(x: np.ndarray, oh: int, ow: int, align: bool, half: bool) -> np.ndarray:
    """TF's resize_bilinear (NHWC) from its kernel's scaler definitions."""
    h, w = x.shape[1:3]

    def coords(out: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        scale = (size - 1) / (out - 1) if align and out > 1 else size / out
        src = (np.arange(out) + 0.5) * scale - 0.5 if half else np.arange(out) * scale
        lo = np.floor(src).astype(int)
        frac = src - lo
        return np.clip(lo, 0, size - 1), np.clip(lo + 1, 0, size - 1), frac

    y0, y1, fy = coords(oh, h)
    x0, x1, fx = coords(ow, w)
    top = x[:, y0][:, :, x0] * (1 - fx)[None, None, :, None] + x[:, y0][:, :, x1] * fx[None, None, :, None]
    bot = x[:, y1][:, :, x0] * (1 - fx)[None, None, :, None] + x[:, y1][:, :, x1] * fx[None, None, :, None]
    return top * (1 - fy)[None, :, None, None] + bot * fy[None, :, None, None]


@pytest.mark.parametrize(("align", "half"), [(False, False), (True, False), (False, True)])
def test_resize_bilinear_modes(tmp_path: Path, align: bool, half: bool) -> None:
    x = np.random.default_rng(1).normal(size=(1, 5, 6, 2)).astype(np.float32)
    model = write_model(tmp_path, [
        placeholder("x", [1, 5, 6, 2]),
        node("y", "ResizeBilinear", ["x", "size"],
             align_corners={"b": align}, half_pixel_centers={"b": half}),
    ], {"size": np.array([9, 13], np.int32)})  # fmt: skip
    [got] = run(model, {"x": x}, outputs=["y"])
    np.testing.assert_allclose(got, _tf_bilinear(x, 9, 13, align, half), atol=1e-5)


def _small_graph(tmp_path: Path) -> Path:
    w = np.arange(12, dtype=np.float32).reshape(4, 3) / 10 - 0.5
    return write_model(tmp_path, [
        placeholder("images", [-1, 4]),
        node("mm", "_FusedMatMul", ["images", "w", "b"], transpose_a={"b": False}, transpose_b={"b": False},
             num_args=i(1), fused_ops={"list": {"s": [s("BiasAdd")["s"], s("Relu")["s"]]}}),
        node("prob", "Softmax", ["mm"]),
        node("Identity", "Identity", ["prob"]),
    ], {"w": w, "b": np.array([0.1, 0.2, 0.3], np.float32)})  # fmt: skip


def test_inner_node_as_named_output_and_renamed_input(tmp_path: Path) -> None:
    model = _small_graph(tmp_path)
    x = np.random.default_rng(2).normal(size=(3, 4)).astype(np.float32)
    out = model.with_suffix(".onnx")
    convert(
        model, out, outputs=["mm", "Identity"], output_names=["features", "scores"], input_name="input_1:0"
    )
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input_1:0"]
    assert session.get_inputs()[0].shape[0] == "batch"  # the dynamic batch stays dynamic
    features, scores = session.run(["features", "scores"], {"input_1:0": x})
    w = np.arange(12, dtype=np.float32).reshape(4, 3) / 10 - 0.5
    expected = np.maximum(x @ w + [0.1, 0.2, 0.3], 0)
    np.testing.assert_allclose(features, expected, atol=1e-5)
    e = np.exp(expected - expected.max(1, keepdims=True))
    np.testing.assert_allclose(scores, e / e.sum(1, keepdims=True), atol=1e-5)


def test_default_outputs_are_unconsumed_identities(tmp_path: Path) -> None:
    [scores] = run(_small_graph(tmp_path), {"images": np.zeros((2, 4), np.float32)})
    assert scores.shape == (2, 3)


def test_conversion_is_byte_for_byte_deterministic(tmp_path: Path) -> None:
    model = _small_graph(tmp_path)
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    convert(model, a, outputs=["mm", "Identity"])
    convert(model, b, outputs=["mm", "Identity"])
    assert a.read_bytes() == b.read_bytes()


def test_unsupported_op_names_the_op(tmp_path: Path) -> None:
    model = write_model(tmp_path, [placeholder("x", [2]), node("y", "Einsum", ["x", "x"])], {})
    with pytest.raises(ConvertError, match="TF op 'Einsum' \\(node 'y'\\) is not supported"):
        convert(model, tmp_path / "y.onnx", outputs=["y"])


def test_unknown_output_node(tmp_path: Path) -> None:
    with pytest.raises(ConvertError, match="no node named 'nope'"):
        convert(_small_graph(tmp_path), tmp_path / "y.onnx", outputs=["nope"])
