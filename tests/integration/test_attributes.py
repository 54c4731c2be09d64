"""Person and vehicle attributes on real crops (hand labels), pose refinement, edges, and track voting."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest

from watchnet.core.config import AttributesConfig, Settings
from watchnet.vision.analysis.attributes import (
    AttributeVoter,
    describe_person,
    describe_vehicle,
    keypoints_from_movenet,
)
from watchnet.vision.analysis.colours import SWATCH_BGR

LABELS = Path(__file__).resolve().parents[2] / "bench" / "labels" / "colours.csv"
PETS = "tracking/pets09_s2l1/pets09_s2l1_view001_480x360_10fps.avi"

# Clear, unambiguous crops of bench/labels/colours.csv (several people, cameras and vehicles).
PEOPLE = [("pets-9", 0), ("pets-10", 423), ("pets-7", 677), ("pets-1", 501), ("MOT17-02-3", 1),
          ("MOT17-04-67", 1)]
VEHICLES = ["detrac-0-0", "detrac-0-10", "detrac-0-11", "alpr-eu1", "alpr-test_014", "alpr-test_016",
            "alpr-test_026"]


def label_rows() -> dict[tuple[str, int], dict[str, str]]:
    with LABELS.open(newline="") as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        return {(r["subject"], int(r["frame"])): r for r in rows}


def video_frames(path: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out: dict[int, np.ndarray] = {}
    for i in range(max(wanted) + 1):
        ok, img = cap.read()
        assert ok, f"{path}: frame {i} unreadable"
        if i in wanted:
            out[i] = img
    cap.release()
    return out


def load(shared: Path, row: dict[str, str]) -> tuple[np.ndarray, list[float]]:
    box = [float(row[k]) for k in ("x1", "y1", "x2", "y2")]
    source = shared / row["source"]
    if source.suffix in {".avi", ".mp4"}:
        return video_frames(source, {int(row["frame"])})[int(row["frame"])], box
    image = cv2.imread(str(source))
    assert image is not None, source
    return image, box


@pytest.mark.parametrize(("subject", "frame"), PEOPLE)
def test_person_colours_match_hand_labels(shared_data: Path, subject: str, frame: int) -> None:
    row = label_rows()[(subject, frame)]
    image, box = load(shared_data, row)
    got = describe_person(image, box)
    assert (got["upper_colour"], got["lower_colour"]) == (row["upper"], row["lower"])
    assert isinstance(got["upper_confidence"], float) and got["upper_confidence"] > 0.3


@pytest.mark.parametrize("subject", VEHICLES)
def test_vehicle_colour_matches_hand_label(shared_data: Path, subject: str) -> None:
    row = next(r for (s, _), r in label_rows().items() if s == subject)
    image, box = load(shared_data, row)
    got = describe_vehicle(image, box, row["vehicle_class"])
    assert got["colour"] == row["colour"]
    assert got["vehicle_type"] == "car"


def test_voter_over_a_real_track(shared_data: Path) -> None:
    """PETS person 10 (red top, jeans) over 12 frames: the track's vote is red over blue."""
    frames = list(range(420, 531, 10))
    root = ET.parse(shared_data / "tracking/pets09_s2l1/PETS2009-S2L1.xml").getroot()
    boxes = {}
    for fr in root.iter("frame"):
        n = int(fr.get("number", -1))
        for ob in fr.iter("object"):
            if n in frames and ob.get("id") == "10":
                b = ob.find("box")
                assert b is not None
                h, w, xc, yc = (float(b.get(k, 0)) * 0.625 for k in ("h", "w", "xc", "yc"))
                boxes[n] = (xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2)
    images = video_frames(shared_data / PETS, set(boxes))
    voter = AttributeVoter()
    for n, box in boxes.items():
        voter.add(describe_person(images[n], box), box, images[n].shape)
    result = voter.result()
    assert result["upper_colour"] == "red" and result["lower_colour"] == "blue"
    assert result["observations"] == len(boxes)


def test_keypoints_move_the_bands_onto_the_body() -> None:
    """A loose box (twice the person's height): geometry alone reads the legs as the torso."""
    image = np.full((300, 120, 3), 128, np.uint8)
    image[40:95, 35:85] = SWATCH_BGR["red"]  # torso
    image[95:190, 40:80] = SWATCH_BGR["blue"]  # legs
    box = (20, 10, 100, 290)
    kp = np.zeros((17, 3), np.float32)
    for i, (x, y) in {5: (38, 40), 6: (82, 40), 11: (45, 95), 12: (75, 95), 13: (47, 140), 14: (73, 140),
                      15: (48, 185), 16: (72, 185)}.items():
        kp[i] = (x, y, 0.9)
    assert describe_person(image, box)["upper_colour"] != "red"
    got = describe_person(image, box, kp)
    assert (got["upper_colour"], got["lower_colour"]) == ("red", "blue")
    movenet = np.stack([kp[:, 1] / 300, kp[:, 0] / 120, kp[:, 2]], axis=1)  # y, x normalised
    assert np.allclose(keypoints_from_movenet(movenet, (300, 120)), kp, atol=1e-3)


def test_box_partly_or_wholly_outside_the_frame() -> None:
    image = np.full((100, 80, 3), 60, np.uint8)
    image[:, :40] = SWATCH_BGR["red"]
    partly = describe_person(image, (-30, -20, 50, 140))
    assert partly["truncated"] is True and partly["upper_colour"] is not None
    outside = describe_person(image, (200, 200, 260, 330))
    assert outside["upper_colour"] is None and outside["lower_colour"] is None
    car = describe_vehicle(image, (-10, 50, 60, 130), "truck")
    assert car["truncated"] is True and car["vehicle_type"] == "truck"
    with pytest.raises(ValueError, match="not a vehicle class"):
        describe_vehicle(image, (0, 0, 10, 10), "person")


def test_voter_majority_ignores_low_weight_outliers() -> None:
    shape = (480, 640, 3)
    voter = AttributeVoter()
    good = {"upper_colour": "red", "upper_confidence": 0.8, "lower_colour": "blue", "lower_confidence": 0.7,
            "sharpness": 300.0}
    for _ in range(3):
        voter.add(good, (100, 100, 180, 300), shape)
    blurred_far = {"upper_colour": "black", "upper_confidence": 0.9, "lower_colour": "black",
                   "lower_confidence": 0.9, "sharpness": 5.0}
    for _ in range(5):  # more of them, but tiny and blurred
        voter.add(blurred_far, (300, 100, 310, 125), shape)
    result = voter.result()
    assert result["upper_colour"] == "red" and result["lower_colour"] == "blue"
    assert 0.5 < float(result["upper_confidence"]) <= 1.0  # type: ignore[arg-type]
    assert result["observations"] == 8


def test_voter_uses_truncated_boxes_only_when_nothing_else() -> None:
    shape = (480, 640, 3)
    voter = AttributeVoter()
    white = {"colour": "white", "colour_confidence": 0.9, "vehicle_type": "car"}
    for _ in range(4):
        voter.add(white, (0, 100, 200, 200), shape)  # touches the left edge
    assert voter.result()["colour"] == "white"  # only truncated ones so far: better than nothing
    voter.add({"colour": "red", "colour_confidence": 0.6, "vehicle_type": "car"}, (300, 100, 400, 180), shape)
    result = voter.result()
    assert result["colour"] == "red" and result["vehicle_type"] == "car" and result["observations"] == 1


def test_settings_carry_the_attributes_section() -> None:
    settings = Settings()
    assert settings.attributes.age_gender is False
    with pytest.raises(ValueError, match="missing"):
        AttributesConfig(palette=["black", "white"])
