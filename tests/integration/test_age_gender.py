"""Apparent age band / gender: off by default and then nothing is computed or stored; on, person tracks of
the Hamilton clip carry them and search filters on them; the estimator on real photos (real faceres model
from the store, real CenterFace faces)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from tests.integration.test_search_pipeline import _run
from watchnet.core.config import AttributesConfig, CameraConfig, Settings
from watchnet.core.records import Face
from watchnet.services.container import build_services
from watchnet.services.search import SearchQuery
from watchnet.store.db import open_store
from watchnet.store.queries import list_tracks
from watchnet.vision.analysis.age_gender import AgeGenderEstimator, AgeGenderVoter, band_labels
from watchnet.vision.analysis.describe import DescribeAnalyzer
from watchnet.vision.analysis.faces import FaceAnalyzer, load_image

KEYS = ("age_band", "age_band_confidence", "gender", "gender_confidence")
ADULT = ("18-29", "30-44", "45-59", "60+")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[FaceAnalyzer, AgeGenderEstimator]:
    settings = Settings.load(home=tmp_path_factory.mktemp("home"))
    faces = FaceAnalyzer(settings)
    return faces, AgeGenderEstimator(settings, faces.store)


def _faces(analyzer: FaceAnalyzer, path: Path) -> tuple[np.ndarray, list[Face]]:
    image = load_image(path)
    return image, sorted(analyzer.detect(image), key=lambda f: -f.quality)


def _stage(shared_data: Path, tmp_path: Path, **overrides: Any) -> tuple[Settings, DescribeAnalyzer]:
    clip = shared_data / "faces" / "face_recognition" / "short_hamilton_clip.mp4"
    camera = CameraConfig(name="stage", url=str(clip))
    settings = Settings.load(home=tmp_path / "home", cameras=[camera.model_dump()], **overrides)
    return settings, DescribeAnalyzer(settings.cameras[0], settings, faces=FaceAnalyzer(settings))


def test_an_adult_photo_gets_an_adult_band_and_confident_gender(
    models: tuple[FaceAnalyzer, AgeGenderEstimator], shared_data: Path
) -> None:
    analyzer, estimator = models
    image, faces = _faces(analyzer, shared_data / "faces" / "face_recognition" / "obama_small.jpg")
    result = estimator.estimate(image, faces[:1])[0]
    assert result.age_band in ADULT and 18 <= result.age < 90
    assert result.age_band_confidence == pytest.approx(result.bands[result.age_band], abs=1e-4)
    assert sum(result.bands.values()) == pytest.approx(1.0, abs=1e-3)
    assert result.gender == "male" and result.gender_confidence >= 0.8  # apparent; name_note-style label


def test_batching_equals_one_by_one(models: tuple[FaceAnalyzer, AgeGenderEstimator], shared_data: Path) -> None:
    analyzer, estimator = models
    image, faces = _faces(analyzer, shared_data / "faces" / "face_recognition" / "knn_examples" / "test"
                          / "obama_and_biden.jpg")
    photo, more = _faces(analyzer, shared_data / "faces" / "face_recognition" / "two_people.jpg")
    assert len(faces) >= 2 and len(more) >= 2
    faces = (faces * 9)[:17]  # more than one batch of 16: the last chunk is short
    together = estimator.estimate(image, faces)
    alone = [estimator.estimate(image, [f])[0] for f in faces]
    assert len(together) == len(faces)
    for a, b in zip(together, alone, strict=True):
        assert (a.age_band, a.gender) == (b.age_band, b.gender)
        assert a.age == pytest.approx(b.age, abs=0.05)
        assert a.male_probability == pytest.approx(b.male_probability, abs=1e-4)
    assert estimator.estimate(photo, []) == []
    assert [r.age_band for r in estimator.estimate(photo, more)] == [estimator.estimate(photo, [f])[0].age_band
                                                                       for f in more]


def test_track_vote_is_weighted_by_face_quality(
    models: tuple[FaceAnalyzer, AgeGenderEstimator], shared_data: Path
) -> None:
    analyzer, estimator = models
    deepface = shared_data / "faces" / "deepface"
    man = estimator.estimate(*_first(analyzer, deepface / "img16.jpg"))[0]  # Jack Dorsey (identities.csv)
    woman = estimator.estimate(*_first(analyzer, deepface / "img1.jpg"))[0]  # Angelina Jolie
    assert (man.gender, woman.gender) == ("male", "female")
    voter = AgeGenderVoter(AttributesConfig())
    assert voter.attributes() == {}
    voter.add(man, 0.9)
    voter.add(woman, 0.1)
    voter.add(woman, 0.0)  # a face with no quality does not count
    voted = voter.result()
    assert voted is not None and voter.observations == 2
    assert voted.male_probability == pytest.approx(0.9 * man.male_probability + 0.1 * woman.male_probability)
    assert voter.attributes()["gender"] == "male"
    even = AgeGenderVoter(AttributesConfig())
    even.add(man, 0.5)
    even.add(woman, 0.5)
    assert "gender" not in even.attributes() and "age_band" in even.attributes()  # unsure: left unset


def _first(analyzer: FaceAnalyzer, path: Path) -> tuple[np.ndarray, list[Face]]:
    image, faces = _faces(analyzer, path)
    return image, faces[:1]


def test_band_edges_are_configurable_and_checked() -> None:
    assert band_labels([18, 65]) == ["0-17", "18-64", "65+"]
    assert AttributesConfig(age_band_edges=[18, 65]).age_band_edges == [18, 65]
    for bad in ([], [30, 18], [18, 18], [0, 18], [18, 120]):
        with pytest.raises(ValidationError):
            AttributesConfig(age_band_edges=bad)


@pytest.mark.slow
def test_switched_off_by_default_nothing_is_estimated_or_stored(shared_data: Path, tmp_path: Path) -> None:
    settings, describe = _stage(shared_data, tmp_path, identity_mode="keep-embeddings")
    assert settings.attributes.age_gender is False and describe.age_gender is None
    runner, _alerts, writer = _run(settings, [describe], max_frames=120)
    assert writer.error is None and writer.written >= 1
    engine = open_store(settings)
    tracks = list_tracks(engine, camera="stage", run_id=runner.run_id, limit=100)
    assert tracks and not any(k in t.attributes for t in tracks for k in KEYS)
    api = build_services(settings, engine).search
    page = api.search(SearchQuery(cameras=("stage",), limit=100), actor="t", reason="test")
    assert page.total == writer.written and page.results
    assert not any(k in r.attributes for r in page.results for k in KEYS)
    for query in (SearchQuery(gender="male"), SearchQuery(gender="female"), SearchQuery(age_band="30-44")):
        assert api.search(query, actor="t", reason="test").total == 0
    # watchlist-only and switched off: no face is even looked for while describing
    off = DescribeAnalyzer(settings.cameras[0], settings.model_copy(update={"identity_mode": "watchlist-only"}),
                           faces=describe._face_finder)
    assert off._face_finder is None and off.age_gender is None


@pytest.mark.slow
def test_switched_on_tracks_carry_band_and_gender_and_search_filters_on_them(
    shared_data: Path, tmp_path: Path
) -> None:
    """Watchlist-only mode (no face embeddings) with the switch on: the Hamilton clip's performers (adult men,
    per the source's labels.csv) get an adult band and "male" on their tracks and sightings."""
    settings, describe = _stage(shared_data, tmp_path, attributes={"age_gender": True})
    assert describe.faces is None and describe.age_gender is not None
    runner, _alerts, writer = _run(settings, [describe], max_frames=120)
    assert writer.error is None
    engine = open_store(settings)
    tracks = list_tracks(engine, camera="stage", run_id=runner.run_id, limit=100)
    described = [t for t in tracks if "age_band" in t.attributes]
    assert described, "no person track had a face of sufficient quality"
    for track in described:
        attrs = track.attributes
        assert track.label == "person" and attrs["age_band"] in ADULT
        assert 0 < float(str(attrs["age_band_confidence"])) <= 1
        assert attrs.get("gender") in ("male", None)
        if "gender" in attrs:
            assert float(str(attrs["gender_confidence"])) >= settings.attributes.gender_min_confidence
    men = [t for t in described if t.attributes.get("gender") == "male"]
    assert men
    api = build_services(settings, engine).search
    found = api.search(SearchQuery(cameras=("stage",), gender="male", limit=100), actor="t", reason="test")
    assert {r.track_id for r in found.results} == {t.track_id for t in men}
    assert all(r.attributes["gender"] == "male" and "gender_confidence" in r.attributes for r in found.results)
    assert api.search(SearchQuery(gender="female"), actor="t", reason="test").total == 0
    band = str(men[0].attributes["age_band"])
    by_band = api.search(SearchQuery(age_band=band, label="person", limit=100), actor="t", reason="test")
    assert {r.track_id for r in by_band.results} == {t.track_id for t in described if t.attributes["age_band"] == band}
