"""Plate reading on real photos and crops with the real PP-OCR models from the model store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from watchnet.cli.plates import app
from watchnet.core.config import Settings
from watchnet.vision.analysis.plates import PlateReader, load_image
from watchnet.vision.models.ocr import TextDetector
from watchnet.vision.models.store import ModelStore

MODELS = ["ppocr-det", "ppocr-rec"]


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    ModelStore(Settings.load()).pull(MODELS)
    return PlateReader.from_settings(Settings.load())


def _label(shared_data: Path, name: str) -> tuple[Path, str, tuple[float, float, float, float]]:
    folder = shared_data / "plates" / "openalpr_eu"
    file, x, y, w, h, text = (folder / f"{name}.txt").read_text().split()
    return folder / file, text, (float(x), float(y), float(x) + float(w), float(y) + float(h))


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - iw * ih
    return iw * ih / union


@pytest.mark.parametrize("name", ["test_002", "test_013"])  # 576x432, and 359x284 (enlarged to be found)
def test_reads_eu_plate_from_whole_photo(reader: PlateReader, shared_data: Path, name: str) -> None:
    path, text, box = _label(shared_data, name)
    image = load_image(path)
    assert not reader.is_crop(image)
    plates = reader.read(image)
    assert plates, "no plate found"
    assert plates[0].text == text
    assert _iou(plates[0].xyxy, box) >= 0.3
    assert 0.5 <= plates[0].score <= 1.0


def test_scene_text_that_is_not_a_plate_is_left_out(reader: PlateReader, shared_data: Path) -> None:
    path, text, _ = _label(shared_data, "eu10")  # road signs: EXIT, NORTH, Cumberland Ave, 1/4 MILE
    texts = [p.text for p in reader.read(load_image(path))]
    assert text in texts
    assert not {"EXIT", "NORTH", "CUMBERLANDAVE"} & set(texts)


def test_reads_chinese_crop_with_province(reader: PlateReader, shared_data: Path) -> None:
    crop = load_image(shared_data / "plates" / "lprnet_cn" / "京PL3N67.jpg")
    assert reader.is_crop(crop)
    plates = reader.read(crop)
    assert [(p.text, p.country) for p in plates] == [("京PL3N67", "cn")]
    assert plates[0].xyxy == (0.0, 0.0, 94.0, 24.0)


def test_chinese_deployment_recovers_a_dropped_province(shared_data: Path) -> None:
    china = PlateReader.from_settings(Settings.load(plates={"countries": ["cn"]}))
    crop = load_image(shared_data / "plates" / "lprnet_cn" / "皖A05279.jpg")  # greedy decode: "A·05279"
    [plate] = china.read_crops([crop])
    assert plate is not None and plate.text == "皖A05279"


def test_text_detector_finds_the_plate_line(reader: PlateReader, shared_data: Path) -> None:
    path, _, box = _label(shared_data, "test_004")
    detector: TextDetector = reader.detector
    boxes = detector(load_image(path))
    assert max(_iou(b.xyxy, box) for b in boxes) >= 0.5
    for b in boxes:
        assert b.quad.shape == (4, 2) and 0.0 < b.score <= 1.0


def test_cli_reads_scenes_and_crops_and_reports_bad_files(shared_data: Path, tmp_path: Path) -> None:
    ModelStore(Settings.load()).pull(MODELS)
    scene, text, _ = _label(shared_data, "test_002")
    crop = shared_data / "plates" / "lprnet_cn" / "京PL3N67.jpg"
    junk = tmp_path / "notes.jpg"
    junk.write_text("not an image")
    result = CliRunner().invoke(app, ["read", str(scene), str(crop), str(junk)])
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == 1
    assert [line["file"] for line in lines] == [str(scene), str(crop), str(junk)]
    assert lines[0]["plates"][0]["text"] == text
    assert set(lines[0]["plates"][0]) >= {"text", "box", "score"}
    assert lines[1]["plates"][0]["text"] == "京PL3N67"
    assert "not a readable image" in lines[2]["error"]
