"""The TF.js -> ONNX converter against the oracle: ONNX files made by the proven TensorFlow path.

Models come through the real store (``watchnet models pull`` into the user cache, as ``make test``
pre-fills it); ``../shared/models-reference`` is read here only, as the expected answer. Inputs are real
pictures (a MOT17 street frame, deepface portraits) prepared as MODELS.md documents for each model.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from watchnet.core.config import RuntimeConfig, Settings
from watchnet.vision.models.runtime import create_session
from watchnet.vision.models.store import ModelStore

MODELS = ["nanodet", "centernet", "blazeface", "faceres", "movenet-multipose"]
TOLERANCE = 1e-3  # max abs difference, relative to the largest magnitude of that output


@pytest.fixture(scope="module")
def reference_dir(shared_data: Path) -> Path:
    folder = shared_data.parent / "models-reference"
    if not (folder / "SHA256SUMS").is_file():
        pytest.fail(f"oracle models not found at {folder}")
    return folder


@pytest.fixture(scope="module")
def pulled() -> dict[str, Path]:
    store = ModelStore(Settings.load())
    return dict(zip(MODELS, store.pull(MODELS), strict=True))


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    assert image is not None, path
    return image


def _feeds(name: str, data: Path) -> list[dict[str, np.ndarray]]:
    frame = _read(data / "tracking/mot17_mini/MOT17-04-FRCNN/img1/000001.jpg")
    faces = [_read(data / f"faces/deepface/img{i}.jpg") for i in (1, 2, 3)]
    if name == "nanodet":
        mean = np.array([103.53, 116.28, 123.675], np.float32)
        std = np.array([57.375, 57.12, 58.395], np.float32)
        bgr = (cv2.resize(frame, (416, 416)).astype(np.float32) - mean) / std
        return [{"input_1": bgr.transpose(2, 0, 1)[None]}]
    if name == "centernet":
        return [{"tower_0_images": cv2.resize(frame, (512, 512))[..., ::-1][None].astype(np.float32)}]
    if name == "blazeface":
        rgb = cv2.resize(faces[0], (256, 256))[..., ::-1].astype(np.float32) / 127.5 - 1
        return [{"input": rgb[None]}]
    if name == "faceres":
        crops = np.stack([cv2.resize(f, (224, 224))[..., ::-1] for f in faces]).astype(np.float32)
        return [{"input_1:0": crops}, {"input_1:0": crops[:1]}]
    sizes = ((256, 256), (160, 256), (256, 448))  # movenet: dynamic H, W (multiples of 32)
    return [{"input": cv2.resize(frame, (w, h))[..., ::-1][None].astype(np.int32)} for h, w in sizes]


@pytest.mark.parametrize("name", MODELS)
def test_converted_model_matches_tensorflow_reference(
    name: str, pulled: dict[str, Path], reference_dir: Path, shared_data: Path
) -> None:
    mine = create_session(pulled[name], RuntimeConfig(providers=["CPUExecutionProvider"], intra_op_threads=2))
    ref = ort.InferenceSession(str(reference_dir / f"{name}.onnx"), providers=["CPUExecutionProvider"])

    # Same interface: input/output names, element types and fixed dims (dynamic dims may be named apart).
    def sig(values: list[ort.NodeArg]) -> list[tuple[str, str, list[int | None]]]:
        return [(v.name, v.type, [d if isinstance(d, int) else None for d in v.shape]) for v in values]

    assert sig(mine.get_inputs()) == sig(ref.get_inputs())
    assert sorted(sig(mine.get_outputs())) == sorted(sig(ref.get_outputs()))
    for feed in _feeds(name, shared_data):
        got = dict(zip([o.name for o in mine.get_outputs()], mine.run(None, feed), strict=True))
        want = dict(zip([o.name for o in ref.get_outputs()], ref.run(None, feed), strict=True))
        for key, expected in want.items():
            assert got[key].shape == expected.shape, key
            scale = max(float(np.abs(expected).max()), 1e-6)
            diff = float(np.abs(got[key].astype(np.float64) - expected).max())
            assert diff <= TOLERANCE * scale, f"{name}/{key}: max abs diff {diff:.3g} at scale {scale:.3g}"
