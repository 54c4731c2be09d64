"""Blurring non-matches in exports, on real photos and video with the real detector, face detector and
embedders: a blurred face loses its detail and no longer matches its original at the configured threshold,
the match's face stays as it was, and the alert ZIP, the search ZIP, the CLI and the annotated video of
`watchnet run --annotate` all hide the bystanders."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from watchnet.cli.export import app as export_cli
from watchnet.core.config import Settings
from watchnet.core.records import Alert, Face, Sighting
from watchnet.services.alerts import AlertManager
from watchnet.services.container import build_services
from watchnet.services.exports import Exports, ExportTools
from watchnet.services.search import SearchQuery
from watchnet.services.watchlist import read_photo_file
from watchnet.store import audit
from watchnet.store.db import open_store
from watchnet.store.sightings import SightingStore
from watchnet.vision.analysis.blur import Box, assign_faces, blur_non_matches
from watchnet.vision.analysis.detect import Detector
from watchnet.vision.analysis.face_tracks import face_crop
from watchnet.vision.analysis.faces import FaceAnalyzer, similarity

pytestmark = pytest.mark.slow

FACES = "faces/face_recognition"
PHOTOS = ("two_people.jpg", "knn_examples/test/obama_and_biden.jpg", "knn_examples/test/kit_with_rose.jpg")
#: A blurred face region keeps less than this share of its original sharpness (variance of the Laplacian).
SHARPNESS_DROP = 0.1


@dataclass
class Scene:
    """A real photo with its confident person boxes and, per box, the face found in it (or None)."""

    image: np.ndarray
    people: list[Box]
    faces: list[Face | None]


def sharpness(image: np.ndarray, box: Box, inset: float = 0.0) -> float:
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * inset, (y2 - y1) * inset
    region = image[int(y1 + dy): int(y2 - dy), int(x1 + dx): int(x2 - dx)]
    return float(cv2.Laplacian(cv2.cvtColor(region, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def load(path: Path | str) -> np.ndarray:
    image = cv2.imread(str(path))
    assert image is not None, path
    return np.asarray(image)


def scene(path: Path, detector: Detector, faces: FaceAnalyzer) -> Scene:
    image = load(path)
    found = detector.detect([image])[0]
    confident = np.asarray(found.data["confident"], bool) & (np.asarray(found.class_id) == 0)
    people = [(float(a), float(b), float(c), float(d)) for a, b, c, d in found.xyxy[confident]]
    owned = assign_faces(faces.detect(image, regions=people), people)
    best = [max(group, key=lambda f: f.quality) if group else None for group in owned]
    faces.embed(image, [f for f in best if f is not None])
    return Scene(image, people, best)


def embed_at(faces: FaceAnalyzer, image: np.ndarray, face: Face) -> np.ndarray:
    """The embedding of ``image`` aligned on ``face``'s original landmarks (an attacker's best alignment)."""
    copy = Face(face.xyxy, face.score, None if face.landmarks is None else face.landmarks.copy())
    faces.embed(image, [copy])
    assert copy.embedding is not None
    return copy.embedding


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector.from_settings(Settings.load())


@pytest.fixture(scope="module", params=["dlib-resnet", "faceres"])
def analyzer(request: pytest.FixtureRequest) -> FaceAnalyzer:
    return FaceAnalyzer(Settings.load(faces={"embedder": request.param}))


def test_blur_hides_non_matches_and_keeps_the_match(shared_data: Path, detector: Detector,
                                                     analyzer: FaceAnalyzer) -> None:
    cfg = Settings.load().exports
    threshold = analyzer.match_threshold
    checked = 0
    for name in PHOTOS:
        photo = scene(shared_data / FACES / name, detector, analyzer)
        with_face = [k for k, f in enumerate(photo.faces) if f is not None]
        assert len(with_face) >= 2, f"{name}: expected two people with faces, got {photo.faces}"
        match = with_face[0]
        blurred = photo.image.copy()
        report = blur_non_matches(blurred, photo.people, list(range(len(photo.people))), {match}, cfg, analyzer)
        kept = photo.faces[match]
        assert kept is not None and report.kept
        x1, y1, x2, y2 = (int(v) for v in kept.xyxy)
        assert np.array_equal(blurred[y1:y2, x1:x2], photo.image[y1:y2, x1:x2]), f"{name}: the match was touched"
        assert similarity(embed_at(analyzer, blurred, kept), kept.embedding) > 0.99  # type: ignore[arg-type]
        for k in with_face[1:]:
            face = photo.faces[k]
            assert face is not None and face.embedding is not None
            before, after = sharpness(photo.image, face.xyxy), sharpness(blurred, face.xyxy)
            assert after < before * SHARPNESS_DROP, f"{name}: sharpness {before:.0f} -> {after:.0f}"
            score = similarity(embed_at(analyzer, blurred, face), face.embedding)
            assert score < threshold, f"{name}: blurred face still scores {score:.3f} (threshold {threshold})"
            # and whatever a face detector still finds there does not match either
            again = [f for f in analyzer.detect(blurred) if _inside(f.xyxy, face.xyxy)]
            analyzer.embed(blurred, again)
            assert all(similarity(f.embedding, face.embedding) < threshold for f in again if f.embedding is not None)
            checked += 1
    assert checked >= 3


def test_head_region_when_no_face_is_found(shared_data: Path, detector: Detector) -> None:
    """Without a face finder (the live view) every non-match loses its head region, the match nothing."""
    settings = Settings.load()
    image = load(shared_data / FACES / "two_people.jpg")
    found = detector.detect([image])[0]
    people = found.xyxy[np.asarray(found.data["confident"], bool) & (np.asarray(found.class_id) == 0)]
    assert len(people) == 2
    blurred = image.copy()
    report = blur_non_matches(blurred, people, [7, 8], {7}, settings.exports)
    assert len(report.heads) == 1 and not report.faces
    x1, y1, x2, y2 = (float(v) for v in people[1])
    head = (x1, y1, x2, y1 + (y2 - y1) * settings.exports.head_fraction)
    assert sharpness(blurred, head) < sharpness(image, head) * SHARPNESS_DROP
    assert np.array_equal(blurred[:, : int(people[0][2]) - 20], image[:, : int(people[0][2]) - 20])


def _inside(inner: Box, outer: Box) -> bool:
    cx, cy = (inner[0] + inner[2]) / 2, (inner[1] + inner[3]) / 2
    return outer[0] <= cx <= outer[2] and outer[1] <= cy <= outer[3]


# --- exports -----------------------------------------------------------------------------------------
@pytest.fixture()
def store(tmp_path: Path) -> Iterator[tuple[Settings, Engine]]:
    settings = Settings.load(home=tmp_path / "home")
    engine = open_store(settings)
    yield settings, engine
    engine.dispose()


def raise_photo_alert(settings: Settings, engine: Engine, photo: Path, detector: Detector,
                      faces: FaceAnalyzer) -> tuple[int, Scene]:
    """An alert as the face matcher records it, on a real photo: the first person with a face matched."""
    shot = scene(photo, detector, faces)
    match = next(k for k, f in enumerate(shot.faces) if f is not None)
    face = shot.faces[match]
    assert face is not None
    folder = settings.home / "alerts" / "2024-01-01" / "cam"
    folder.mkdir(parents=True)
    crop_path, frame_path = folder / "1-face.jpg", folder / "1-frame.jpg"
    cv2.imwrite(str(crop_path), face_crop(shot.image, face.xyxy, settings.alerts.crop_margin))
    shutil.copyfile(photo, frame_path)
    alert = Alert(subject_id=enrol(settings, engine, photo.parent, faces), subject_name="Subject A", kind="face",
                  score=0.96, camera="cam", track_id=11,
                  timestamp=time.time(), frame_index=5, xyxy=shot.people[match], crop_path=str(crop_path),
                  snapshot_path=str(frame_path))
    AlertManager(engine).raise_alert(alert)
    assert alert.id is not None
    return alert.id, shot


def enrol(settings: Settings, engine: Engine, folder: Path, faces: FaceAnalyzer) -> int:
    """A real watchlist subject (alerts refer to one), enrolled from a one-face photo."""
    photo = read_photo_file(folder / "alex-lacamoire.png")
    return build_services(settings, engine, faces=faces).watchlist.enrol("Subject A", [photo], by="admin").id


def read_zip(data: bytes | Path) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes) else data) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return np.asarray(image)


def test_alert_export_blurs_bystanders(shared_data: Path, store: tuple[Settings, Engine], detector: Detector,
                                       tmp_path: Path) -> None:
    settings, engine = store
    exports = build_services(settings, engine).exports
    alert_id, shot = raise_photo_alert(settings, engine, shared_data / FACES / "two_people.jpg", detector,
                                       exports.tools.faces)
    match, other = shot.faces[0], shot.faces[1]
    assert match is not None and other is not None
    crop = next(iter((settings.home / "alerts").rglob("*-face.jpg")))

    # unconfirmed: the machine's match is only a reading, so its face is blurred like the bystander's
    unconfirmed = read_zip(_export_bytes(exports, alert_id))
    frame = decode(unconfirmed["frame.jpg"])
    for face in (match, other):
        assert sharpness(frame, face.xyxy) < sharpness(shot.image, face.xyxy) * SHARPNESS_DROP
    _assert_blurred_whole(decode(unconfirmed["face.jpg"]), decode(crop.read_bytes()))
    assert json.loads(unconfirmed["alert.json"])["export"]["treated_as_match"] is False

    manager = AlertManager(engine)
    manager.confirm(alert_id, "op1")
    manager.confirm(alert_id, "op2")  # two people confirmed: the match's face is evidence now
    out = tmp_path / "out" / "alert.zip"
    result = exports.alert(alert_id, out, actor="op1", reason="case 17 evidence")
    files = read_zip(out)
    assert set(files) == {"alert.json", "face.jpg", "frame.jpg"} and result.faces_blurred >= 1
    manifest = json.loads(files["alert.json"])
    assert manifest["alert"]["id"] == alert_id and "crop_path" not in manifest["alert"]
    assert manifest["export"]["blur"] is True and manifest["export"]["reason"] == "case 17 evidence"
    assert files["face.jpg"] == crop.read_bytes()  # the match's face crop is the recorded evidence, untouched
    frame = decode(files["frame.jpg"])
    assert sharpness(frame, other.xyxy) < sharpness(shot.image, other.xyxy) * SHARPNESS_DROP
    assert sharpness(frame, match.xyxy) > sharpness(shot.image, match.xyxy) * 0.6  # only JPEG re-encoding
    entry = audit.list_entries(engine, action="export.alert")[0]
    assert entry.actor == "op1" and entry.target == f"alert:{alert_id}"
    assert entry.details["reason"] == "case 17 evidence" and entry.details["blur"] is True
    assert manifest["export"]["audit_id"] == entry.id

    raw = exports.alert(alert_id, tmp_path / "raw.zip", blur=False, actor="op1", reason="court copy")
    assert read_zip(tmp_path / "raw.zip")["frame.jpg"] == (shared_data / FACES / "two_people.jpg").read_bytes()
    assert raw.faces_blurred == 0 and audit.list_entries(engine, action="export.alert")[0].details["blur"] is False

    manager.dismiss(alert_id, "op2", note="not him")
    dismissed = read_zip(_export_bytes(exports, alert_id))
    assert sharpness(decode(dismissed["frame.jpg"]), match.xyxy) < sharpness(shot.image, match.xyxy) * SHARPNESS_DROP
    _assert_blurred_whole(decode(dismissed["face.jpg"]), decode(crop.read_bytes()))
    with pytest.raises(Exception, match="audited"):
        exports.alert(alert_id, tmp_path / "x.zip", actor="op1", reason=" ")


def _assert_blurred_whole(exported: np.ndarray, original: np.ndarray) -> None:
    whole = (0, 0, exported.shape[1], exported.shape[0])
    assert sharpness(exported, whole) < sharpness(original, whole) * SHARPNESS_DROP


def _export_bytes(exports: Exports, alert_id: int) -> bytes:
    buffer = io.BytesIO()
    exports.alert(alert_id, buffer, actor="op1", reason="after dismissal")
    return buffer.getvalue()


def test_search_export_blurs_anonymous_thumbnails(shared_data: Path, store: tuple[Settings, Engine],
                                                  detector: Detector, tmp_path: Path) -> None:
    settings, engine = store
    exports = build_services(settings, engine).exports
    shot = scene(shared_data / FACES / "knn_examples/test/kit_with_rose.jpg", detector, exports.tools.faces)
    folder = settings.home / "thumbnails" / "cam"
    folder.mkdir(parents=True)
    now = datetime.now(UTC)
    sightings = []
    for k, box in enumerate(shot.people):
        x1, y1, x2, y2 = (int(max(0, v)) for v in box)
        path = folder / f"{k}.jpg"
        cv2.imwrite(str(path), shot.image[y1:y2, x1:x2], [cv2.IMWRITE_JPEG_QUALITY, 88])
        sightings.append(Sighting(camera="cam", track_id=100 + k, label="person",
                                  first_seen=now - timedelta(seconds=30), last_seen=now - timedelta(seconds=10),
                                  thumbnail_path=str(path)))
    ids = SightingStore(engine, settings).write(sightings)
    subject = enrol(settings, engine, shared_data / FACES, exports.tools.faces)
    during = (now - timedelta(seconds=20)).timestamp()
    manager = AlertManager(engine)
    alert = Alert(subject_id=subject, subject_name="Subject B", kind="face", score=0.97, camera="cam", track_id=100,
                  timestamp=during, frame_index=3)
    manager.raise_alert(alert)
    assert alert.id is not None
    searcher = build_services(settings, engine).search
    unconfirmed = searcher.search(SearchQuery(cameras=("cam",)), actor="op1", reason="case 9")
    buffer = io.BytesIO()
    exports.search(unconfirmed, {"cameras": ["cam"]}, buffer, actor="op1", reason="case 9")
    assert not any(r["watchlist_match"] for r in json.loads(read_zip(buffer.getvalue())["results.json"])["results"])
    manager.confirm(alert.id, "op1")
    manager.confirm(alert.id, "op2")  # only a match two people confirmed keeps its face in an export
    page = searcher.search(SearchQuery(cameras=("cam",)), actor="op1", reason="case 9")
    out = tmp_path / "search.zip"
    exports.search(page, {"cameras": ["cam"]}, out, actor="op1", reason="case 9 export")
    files = read_zip(out)
    manifest = json.loads(files["results.json"])
    rows = {r["id"]: r for r in manifest["results"]}
    assert set(rows) == set(ids) and rows[ids[0]]["watchlist_match"] and not rows[ids[1]]["watchlist_match"]
    assert files[rows[ids[0]]["thumbnail"]] == Path(sightings[0].thumbnail_path or "").read_bytes()
    original = load(sightings[1].thumbnail_path or "")
    exported = decode(files[rows[ids[1]]["thumbnail"]])
    face = shot.faces[1]
    assert face is not None
    x0, y0 = max(0, int(shot.people[1][0])), max(0, int(shot.people[1][1]))
    local = (face.xyxy[0] - x0, face.xyxy[1] - y0, face.xyxy[2] - x0, face.xyxy[3] - y0)
    assert sharpness(exported, local) < sharpness(original, local) * SHARPNESS_DROP
    entry = audit.list_entries(engine, action="export.search")[0]
    assert entry.details["reason"] == "case 9 export" and entry.details["results"] == 2
    assert entry.details["search_audit_id"] == page.audit_id


def test_cli_exports_an_alert(shared_data: Path, store: tuple[Settings, Engine], detector: Detector,
                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings, engine = store
    alert_id, _ = raise_photo_alert(settings, engine, shared_data / FACES / "two_people.jpg", detector,
                                    ExportTools(settings).faces)
    monkeypatch.setenv("WATCHNET_HOME", str(settings.home))
    out = tmp_path / "cli.zip"
    done = CliRunner().invoke(export_cli, ["alert", str(alert_id), "--out", str(out), "--by", "op3",
                                           "--reason", "handover to CID"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["faces_blurred"] >= 1 and "frame.jpg" in read_zip(out)
    assert audit.list_entries(engine, action="export.alert")[0].actor == "op3"
    missing = CliRunner().invoke(export_cli, ["alert", str(alert_id), "--out", str(out), "--by", "op3"])
    assert missing.exit_code != 0 and "reason" in missing.output


# --- the annotated video -------------------------------------------------------------------------------
def test_annotated_video_blurs_faces(shared_data: Path, tmp_path: Path) -> None:
    """`watchnet run --annotate` on the Hamilton clip, nobody enrolled: every face is blurred in the video."""
    home = tmp_path / "home"
    clip = shared_data / FACES / "short_hamilton_clip.mp4"
    env = {**os.environ, "WATCHNET_HOME": str(home)}
    done = subprocess.run([sys.executable, "-m", "watchnet", "run", "--source", f"ham={clip}", "--annotate",
                           "--max-frames", "60"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    videos = list((home / "exports" / "videos").rglob("ham.mp4"))
    assert len(videos) == 1
    source, written = _frames(clip, 60), _frames(videos[0], 60)
    assert len(written) == 60
    faces = FaceAnalyzer(Settings.load())
    checked = 0
    for index in range(0, 20, 3):  # both frames the face detector ran on (every 5th) and frames in between
        for face in faces.detect(source[index]):
            before = sharpness(source[index], face.xyxy, 0.15)
            if before < 100:  # the clip's later frames are a dark, soft audience: nothing there to recognise
                continue
            after = sharpness(written[index], face.xyxy, 0.15)
            assert after < before * SHARPNESS_DROP, f"frame {index}: face sharpness {before:.0f} -> {after:.0f}"
            checked += 1
    assert checked >= 10


def _frames(path: Path, count: int) -> list[np.ndarray]:
    out = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            out.append(frame.to_ndarray(format="bgr24"))
            if len(out) == count:
                break
    return out
