"""Sessions and batched calls on real converted models.

faceres has a dynamic batch, blazeface a batch fixed at 1: the two paths of ``run_batched``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from watchnet.core.config import RuntimeConfig, Settings
from watchnet.core.errors import ModelError
from watchnet.vision.models.runtime import PREFERRED, available_providers, create_session, run_batched
from watchnet.vision.models.store import ModelStore

CPU = RuntimeConfig(providers=["CPUExecutionProvider"], intra_op_threads=2)


@pytest.fixture(scope="module")
def models() -> dict[str, Path]:
    names = ["faceres", "blazeface"]
    return dict(zip(names, ModelStore(Settings.load()).pull(names), strict=True))


@pytest.fixture(scope="module")
def faces(shared_data: Path) -> np.ndarray:
    crops = []
    for i in range(1, 6):
        image = cv2.imread(str(shared_data / f"faces/deepface/img{i}.jpg"))
        assert image is not None
        crops.append(cv2.resize(image, (224, 224))[..., ::-1])
    return np.stack(crops).astype(np.float32)


def test_cpu_is_always_available_and_last_of_the_preferred() -> None:
    preferred = [p for p in available_providers() if p in PREFERRED]
    assert preferred[-1] == "CPUExecutionProvider"


def test_default_config_builds_a_session(models: dict[str, Path]) -> None:
    session = create_session(models["blazeface"], RuntimeConfig())
    assert session.get_providers()[-1] == "CPUExecutionProvider"


def test_unknown_provider_is_a_clear_error(models: dict[str, Path]) -> None:
    with pytest.raises(ModelError, match=r"lacks; available: \[.*CPUExecutionProvider"):
        create_session(models["blazeface"], RuntimeConfig(providers=["NoSuchExecutionProvider"]))


def test_unloadable_file_is_a_model_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    with pytest.raises(ModelError, match="onnxruntime cannot load"):
        create_session(bad, CPU)


def test_dynamic_batch_is_chunked_without_changing_results(
    models: dict[str, Path], faces: np.ndarray
) -> None:
    session = create_session(models["faceres"], CPU)
    whole = session.run(None, {"input_1:0": faces})
    chunked = run_batched(session, "input_1:0", faces, max_batch=2)
    assert [c.shape for c in chunked] == [w.shape for w in whole]
    for c, w in zip(chunked, whole, strict=True):
        np.testing.assert_allclose(c, w, atol=1e-4)
    embedding = run_batched(session, "input_1:0", faces, 16, output_names=["global_pooling/Mean:0"])
    assert len(embedding) == 1 and embedding[0].shape == (5, 1024)


def test_fixed_batch_of_one_is_looped(models: dict[str, Path], faces: np.ndarray) -> None:
    session = create_session(models["blazeface"], CPU)
    crops = np.stack([cv2.resize(f, (256, 256)) for f in faces[:3]]) / 127.5 - 1
    out = run_batched(session, "input", crops.astype(np.float32), max_batch=16)
    assert [o.shape for o in out] == [(3, 512, 1), (3, 384, 1), (3, 512, 16), (3, 384, 16)]
    single = session.run(None, {"input": crops[1:2].astype(np.float32)})
    np.testing.assert_allclose(out[2][1:2], single[2], atol=1e-4)


def test_empty_batch_gives_empty_outputs(models: dict[str, Path]) -> None:
    session = create_session(models["faceres"], CPU)
    out = run_batched(session, "input_1:0", np.zeros((0, 224, 224, 3), np.float32), 8)
    assert [o.shape for o in out] == [(0, 100), (0, 1), (0, 1024)]


def test_unknown_feed_name(models: dict[str, Path], faces: np.ndarray) -> None:
    session = create_session(models["faceres"], CPU)
    with pytest.raises(ModelError, match=r"no input 'images'; its inputs are \['input_1:0'\]"):
        run_batched(session, "images", faces, 4)
