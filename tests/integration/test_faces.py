"""FaceAnalyzer on real photos and video with the real models from the store (``make models`` first)."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from watchnet.cli.faces import app
from watchnet.core.config import Settings
from watchnet.core.errors import InputError
from watchnet.core.records import Face
from watchnet.vision.analysis.faces import FaceAnalyzer, load_image


@pytest.fixture(scope="module")
def analyzer(tmp_path_factory: pytest.TempPathFactory) -> FaceAnalyzer:
    return FaceAnalyzer(Settings.load(home=tmp_path_factory.mktemp("home")))


@pytest.fixture(scope="module")
def fr(shared_data: Path) -> Path:
    return shared_data / "faces" / "face_recognition"


def _inside(face: Face) -> bool:
    assert face.landmarks is not None
    x1, y1, x2, y2 = face.xyxy
    xs, ys = face.landmarks[:, 0], face.landmarks[:, 1]
    return bool(((xs >= x1) & (xs <= x2) & (ys >= y1) & (ys <= y2)).all())


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _embedded(analyzer: FaceAnalyzer, path: Path) -> list[Face]:
    image = load_image(path)
    faces = analyzer.detect(image)
    analyzer.embed(image, faces)
    return faces


def _best(analyzer: FaceAnalyzer, a: list[Face], b: list[Face]) -> float:
    return max(analyzer.similarity(x.embedding, y.embedding) for x in a for y in b)  # type: ignore[arg-type]


def test_one_person_photo_gives_one_good_face_with_landmarks_inside(analyzer: FaceAnalyzer, fr: Path) -> None:
    faces = analyzer.detect(load_image(fr / "obama_small.jpg"))
    assert len(faces) == 1
    face = faces[0]
    assert face.landmarks is not None and face.landmarks.shape == (5, 2)
    assert _inside(face)
    assert face.landmarks[0, 0] < face.landmarks[1, 0]  # right eye (image left) first
    assert 0.0 <= face.quality <= 1.0 and analyzer.passes_quality(face)
    assert face.embedding is None


def test_two_people_photo_gives_two_faces(analyzer: FaceAnalyzer, fr: Path) -> None:
    faces = analyzer.detect(load_image(fr / "two_people.jpg"))
    assert len(faces) == 2
    assert all(_inside(f) for f in faces)


def test_a_4600_px_photo_is_resized_for_detection_not_missed(analyzer: FaceAnalyzer, shared_data: Path) -> None:
    image = load_image(shared_data / "faces" / "deepface" / "img40.jpg")
    assert max(image.shape[:2]) > 4000
    faces = analyzer.detect(image)
    assert len(faces) == 1 and _inside(faces[0])
    assert faces[0].xyxy[2] - faces[0].xyxy[0] > 500  # in full-resolution pixels


def test_regions_find_the_same_faces_in_frame_coordinates(analyzer: FaceAnalyzer, fr: Path) -> None:
    image = load_image(fr / "two_people.jpg")
    full = analyzer.detect(image)
    people = []
    for f in full:  # a person-shaped box around each face, as a person detector would give
        x1, y1, x2, y2 = f.xyxy
        w, h = x2 - x1, y2 - y1
        people.append((x1 - w, y1 - 0.4 * h, x2 + w, y1 + 5 * h))
    inside = analyzer.detect(image, regions=people)
    assert len(inside) == 2
    for f in full:
        assert max(_iou(f.xyxy, g.xyxy) for g in inside) > 0.7
    assert analyzer.detect(image, regions=[]) == []


def test_regions_upscale_a_small_face_in_a_video_frame(analyzer: FaceAnalyzer, fr: Path) -> None:
    with av.open(str(fr / "short_hamilton_clip.mp4")) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="bgr24")
    full = [f for f in analyzer.detect(frame) if f.xyxy[0] > 480]  # the singer, far away on the stage
    assert len(full) == 1
    x1, y1, x2, _ = full[0].xyxy
    assert x2 - x1 < 60
    person = (x1 - 40, y1 - 10, x2 + 40, min(frame.shape[0], y1 + 300))
    found = analyzer.detect(frame, regions=[person])
    assert len(found) == 1 and _iou(found[0].xyxy, full[0].xyxy) > 0.5


def test_same_people_match_and_different_people_do_not(analyzer: FaceAnalyzer, fr: Path) -> None:
    train, test = fr / "knn_examples" / "train", fr / "knn_examples" / "test"
    biden = _embedded(analyzer, train / "biden" / "biden.jpg")
    obama = _embedded(analyzer, train / "obama" / "obama.jpg")
    both = _embedded(analyzer, test / "obama_and_biden.jpg")
    for faces in (biden, obama, both):
        assert all(f.embedding is not None and abs(np.linalg.norm(f.embedding) - 1) < 1e-5 for f in faces)
    threshold = analyzer.match_threshold
    assert _best(analyzer, biden, both) > threshold
    assert _best(analyzer, obama, both) > threshold
    assert _best(analyzer, obama, _embedded(analyzer, test / "obama1.jpg")) > threshold
    kit = _embedded(analyzer, train / "kit_harington" / "john1.jpeg")
    assert _best(analyzer, kit, _embedded(analyzer, test / "johnsnow_test1.jpg")) > threshold
    assert _best(analyzer, biden, obama) < threshold
    assert _best(analyzer, obama, _embedded(analyzer, train / "rose_leslie" / "img1.jpg")) < threshold
    assert _best(analyzer, kit, biden) < threshold


def test_batched_embeddings_equal_one_by_one(analyzer: FaceAnalyzer, fr: Path) -> None:
    image = load_image(fr / "knn_examples" / "test" / "obama_and_biden.jpg")
    batch = analyzer.detect(image)
    assert len(batch) >= 2
    analyzer.embed(image, batch)
    for face in batch:
        single = Face(xyxy=face.xyxy, score=face.score, landmarks=face.landmarks)
        analyzer.embed(image, [single])
        np.testing.assert_allclose(single.embedding, face.embedding, atol=1e-4)  # type: ignore[arg-type]


def test_bad_inputs_raise_a_clear_input_error(analyzer: FaceAnalyzer, tmp_path: Path) -> None:
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    with pytest.raises(InputError, match="not a readable image"):
        load_image(text)
    with pytest.raises(InputError, match="no such file"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(InputError):
        analyzer.detect(np.zeros((100, 100), np.uint8))


@pytest.mark.parametrize(("detector", "embedder"), [("blazeface", "faceres")])
def test_the_alternative_models_also_work(tmp_path: Path, fr: Path, detector: str, embedder: str) -> None:
    alt = FaceAnalyzer(Settings.load(home=tmp_path, faces={"detector": detector, "embedder": embedder}))
    faces = _embedded(alt, fr / "two_people.jpg")
    assert len(faces) == 2
    assert faces[0].embedding is not None and faces[0].embedding.shape == (1024,)
    obama = _embedded(alt, fr / "knn_examples" / "train" / "obama" / "obama.jpg")
    assert _best(alt, obama, _embedded(alt, fr / "obama_small.jpg")) > alt.match_threshold


def test_cli_prints_json_lines_and_keeps_going_after_a_bad_file(fr: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x00" * 64)
    result = CliRunner().invoke(app, ["embed", str(fr / "two_people.jpg"), str(bad), str(fr / "obama_small.jpg")])
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [len(line.get("faces", [])) for line in lines] == [2, 0, 1]
    assert "error" in lines[1] and "error" not in lines[0]
    assert len(lines[2]["faces"][0]["embedding"]) == 256  # fused default: dlib 128 + SFace 128
    assert set(lines[0]["faces"][0]) >= {"box", "score", "quality"}


def test_cli_compare_gives_the_verdict(fr: Path) -> None:
    train = fr / "knn_examples" / "train"
    same = CliRunner().invoke(app, ["compare", str(train / "obama" / "obama.jpg"), str(fr / "obama_small.jpg")])
    assert same.exit_code == 0, same.output
    verdict = json.loads(same.stdout)
    assert verdict["same_person"] is True and verdict["similarity"] > verdict["threshold"]
    other = CliRunner().invoke(app, ["compare", str(train / "obama" / "obama.jpg"), str(train / "biden" / "biden.jpg")])
    assert json.loads(other.stdout)["same_person"] is False
    missing = CliRunner().invoke(app, ["compare", str(fr / "obama_small.jpg"), str(fr / "nope.jpg")])
    assert missing.exit_code == 2
