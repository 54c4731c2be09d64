"""Re-identification: the ``reid`` slot on real crops, ``watchnet reid embed``, the fitted projection on
held-out people, and sightings from the real pipeline carrying a stored re-id vector."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from watchnet.core.config import Settings
from watchnet.core.errors import InputError
from watchnet.vision.analysis.reid import ReidEmbedder, TrackProjection, similarity

IITD = ("reid", "iitd_two_camera")


def _iitd(shared_data: Path) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    crops, people, cameras = [], [], []
    for file in sorted((shared_data.joinpath(*IITD)).glob("*/*.png")):
        crops.append(cv2.imread(str(file)))  # JPEG data under a .png name: read by content
        people.append(file.parent.name)
        cameras.append(file.name[:2])
    return crops, np.asarray(people), np.asarray(cameras)


@pytest.fixture(scope="module")
def iitd_raw(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, ...]:
    settings = Settings.load(home=tmp_path_factory.mktemp("home"))
    crops, people, cameras = _iitd(shared_data)
    embedder = ReidEmbedder(settings)
    return embedder.features(crops), embedder.embed(crops), people, cameras


def _separation(vectors: np.ndarray, people: np.ndarray, cameras: np.ndarray) -> float:
    """d' of the cosines of same-person vs different-people pairs seen by different cameras (scale-free:
    the projection lowers every cosine, so a raw difference of means would not measure separation)."""
    sims = vectors @ vectors.T
    cross = cameras[:, None] != cameras[None, :]
    same = people[:, None] == people[None, :]
    a, b = sims[same & cross], sims[~same & cross]
    return float((a.mean() - b.mean()) / np.sqrt((a.var() + b.var()) / 2))


def test_embeddings_are_unit_rows_and_the_same_person_is_closer(iitd_raw: tuple[np.ndarray, ...]) -> None:
    raw, embedded, people, cameras = iitd_raw
    assert embedded.shape == (len(people), 5504) and embedded.dtype == np.float32
    assert np.allclose(np.linalg.norm(embedded, axis=1), 1.0, atol=1e-5)
    assert raw.shape == embedded.shape and not np.allclose(raw, embedded)  # the shipped projection applies
    # each person's crops from the other camera are closer, on average, than everyone else's
    sims = embedded @ embedded.T
    closer = 0
    for person in np.unique(people):
        mine = people == person
        for cam in np.unique(cameras):
            q = mine & (cameras == cam)
            other_cam = cameras != cam
            same = sims[np.ix_(q, mine & other_cam)].mean()
            others = sims[np.ix_(q, ~mine & other_cam)].mean()
            closer += int(same > others)
    assert closer >= 0.9 * 2 * len(np.unique(people))
    assert similarity(embedded[0], embedded[1]) == pytest.approx(float(embedded[0] @ embedded[1]), abs=1e-6)


def test_projection_fitted_on_tracks_improves_separation_of_held_out_people(
    iitd_raw: tuple[np.ndarray, ...],
) -> None:
    raw, _embedded, people, cameras = iitd_raw
    names = np.unique(people)
    gains = []
    for split in range(4):  # fit on half the people, measure on the other half
        fit_people = np.roll(names, 3 * split)[: len(names) // 2]
        fit = np.isin(people, fit_people)
        tracks = np.char.add(np.char.add(people[fit], "/"), cameras[fit])  # one camera's crops = one track
        projection = TrackProjection.fit(raw[fit], tracks, directions=16, model="test")
        held = ~fit
        unit = raw[held] / np.linalg.norm(raw[held], axis=1, keepdims=True)
        before = _separation(unit, people[held], cameras[held])
        after = _separation(projection.apply(raw[held]), people[held], cameras[held])
        gains.append(after - before)
    assert min(gains) > 0.05  # measured +0.15 to +0.19 d' on every split


def test_cli_embed_prints_json_lines_and_a_clear_error(shared_data: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from watchnet.cli import app

    monkeypatch.setenv("WATCHNET_HOME", str(tmp_path / "home"))
    first = shared_data.joinpath(*IITD, "004", "01_1.png")
    second = shared_data.joinpath(*IITD, "004", "02_1.png")
    bad = tmp_path / "notes.txt"
    bad.write_text("not a picture")
    result = CliRunner().invoke(app, ["reid", "embed", str(first), str(bad), str(second)])
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert result.exit_code == 1 and len(lines) == 3
    assert lines[0]["file"] == str(first) and len(lines[0]["embedding"]) == 5504
    assert "embedding" not in lines[1] and "not a readable image" in lines[1]["error"]
    assert str(tmp_path) not in lines[1]["error"].replace(str(bad), "")  # names the file, no server paths
    a, b = np.asarray(lines[0]["embedding"]), np.asarray(lines[2]["embedding"])
    assert abs(np.linalg.norm(a) - 1) < 1e-4
    # the printed vectors are the embedder's: their dot product is the linker similarity
    embedder = ReidEmbedder(Settings.load(home=tmp_path / "home"))
    want = embedder.embed([cv2.imread(str(first)), cv2.imread(str(second))])
    assert float(a @ b) == pytest.approx(float(want[0] @ want[1]), abs=1e-4)


@pytest.mark.slow
def test_pipeline_sightings_carry_a_stored_reid_vector(shared_data: Path, tmp_path: Path) -> None:
    from watchnet.core.config import CameraConfig
    from watchnet.core.records import Sighting
    from watchnet.runtime.runner import Runner, RunOptions
    from watchnet.store.db import open_store
    from watchnet.store.recorder import Recorder
    from watchnet.store.schema_sightings import SightingVector
    from watchnet.store.sightings import REID, SightingStore
    from watchnet.vision.analysis.describe import DescribeAnalyzer
    from watchnet.vision.analysis.detect import Detector

    video = shared_data / "tracking" / "pets09_s2l1" / "pets09_s2l1_view001_480x360_10fps.avi"
    settings = Settings.load(home=tmp_path / "home", cameras=[CameraConfig(name="pets", url=str(video)).model_dump()])
    sightings: list[Sighting] = []
    describe = DescribeAnalyzer(settings.cameras[0], settings, on_sighting=sightings.append)
    engine = open_store(settings)
    Runner(settings, Detector.from_settings(settings), Recorder(engine), RunOptions(max_frames=120),
           analyzers=lambda _camera: [describe]).run()
    people = [s for s in sightings if s.label == "person"]
    assert len(people) >= 3
    carrying = [s for s in people if s.reid_embedding is not None]
    assert len(carrying) >= 0.8 * len(people)
    assert all(abs(float(np.linalg.norm(s.reid_embedding)) - 1) < 1e-5 for s in carrying)
    ids = SightingStore(engine, settings).write(people)
    table = SightingVector.__table__
    with engine.connect() as conn:
        rows = conn.execute(sa.select(table.c.sighting_id, table.c.dim).where(table.c.kind == REID)).all()
    expected = {i for i, s in zip(ids, people, strict=True) if s.reid_embedding is not None}
    assert {r.sighting_id for r in rows} == expected
    assert {r.dim for r in rows} == {5504}


@pytest.mark.slow
def test_fit_learns_a_projection_from_video_tracks_that_the_embedder_loads(shared_data: Path, tmp_path: Path) -> None:
    import av

    from watchnet.vision.reid_fit import fit_projection, site_projection_path

    source = shared_data / "tracking" / "pets09_s2l1" / "pets09_s2l1_view001_480x360_10fps.avi"
    clip = tmp_path / "clip.mp4"  # the first 15 s: enough tracks, a fraction of the time
    with av.open(str(source)) as src, av.open(str(clip), "w") as dst:
        stream = dst.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 480, 360, "yuv420p"
        for index, frame in enumerate(src.decode(video=0)):
            if index >= 150:
                break
            dst.mux(stream.encode(av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")))
        dst.mux(stream.encode())
    settings = Settings.load(home=tmp_path / "home")
    projection = fit_projection(settings, [clip])
    assert projection.tracks >= 3 and projection.basis.shape == (16, 5504)
    assert np.allclose(projection.basis @ projection.basis.T, np.eye(16), atol=1e-4)
    target = tmp_path / "site.npz"
    projection.save(target)
    tuned = Settings.load(home=tmp_path / "home", reid={"projection_path": str(target)})
    embedder = ReidEmbedder(tuned)
    assert embedder.projection is not None and embedder.projection.tracks == projection.tracks
    assert site_projection_path(tuned) == target
    with pytest.raises(InputError, match="no such video"):
        fit_projection(settings, [tmp_path / "missing.mp4"])
