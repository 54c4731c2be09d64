"""Forensic search on real embeddings and real plate reads, on SQLite and PostgreSQL.

Face sightings are built from the face_recognition example photos through the real write path
(``SightingStore``) with real dlib-resnet embeddings, in keep-embeddings mode; the queries are other
photos of the same people. Plates are read from real photos by the real reader.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner

from watchnet.cli.search import search as search_command
from watchnet.core.config import Settings
from watchnet.core.errors import InputError
from watchnet.core.records import Sighting
from watchnet.services.container import build_services
from watchnet.services.search import SearchQuery
from watchnet.store import audit
from watchnet.store.db import make_engine, migrate
from watchnet.store.schema_watchlist import AlertRow
from watchnet.store.sightings import FACE, SightingStore
from watchnet.vision.analysis.faces import FaceAnalyzer, load_image
from watchnet.vision.analysis.plates import PlateReader

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def faces() -> FaceAnalyzer:
    return FaceAnalyzer(Settings.load())


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    return PlateReader.from_settings(Settings.load())


@pytest.fixture()
def keep(tmp_path: Path, db_url: str) -> Iterator[tuple[Settings, sa.Engine]]:
    settings = Settings.load(home=tmp_path / "home", database_url=db_url, identity_mode="keep-embeddings")
    engine = make_engine(db_url)
    migrate(engine)
    yield settings, engine
    engine.dispose()


def _face_of(faces: FaceAnalyzer, path: Path) -> np.ndarray:
    image = load_image(path)
    found = faces.detect(image)
    best = max(found, key=lambda f: (f.xyxy[2] - f.xyxy[0]) * (f.xyxy[3] - f.xyxy[1]))
    faces.embed(image, [best])
    assert best.embedding is not None
    return best.embedding


def _sighting(
    camera: str, track_id: int, minutes_ago: float, label: str = "person", attributes: dict[str, object] | None = None,
    plate: str | None = None, face_embedding: np.ndarray | None = None, appearance_embedding: np.ndarray | None = None,
) -> Sighting:
    start = NOW - timedelta(minutes=minutes_ago)
    return Sighting(
        camera, track_id, label, start, start + timedelta(seconds=20), attributes=attributes or {}, plate=plate,
        face_embedding=face_embedding, appearance_embedding=appearance_embedding,
    )


def test_face_photo_finds_that_persons_sightings_first(
    shared_data: Path, faces: FaceAnalyzer, keep: tuple[Settings, sa.Engine]
) -> None:
    settings, engine = keep
    train = shared_data / "faces" / "face_recognition" / "knn_examples" / "train"
    photos = sorted(p for p in train.glob("*/*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    sightings = [
        _sighting(f"cam{i % 3}", i, 10 + i, face_embedding=_face_of(faces, p), attributes={"photo": p.name})
        for i, p in enumerate(photos)
    ]
    ids = SightingStore(engine, settings).write(sightings)
    person_of = {i: p.parent.name for i, p in zip(ids, photos, strict=True)}
    api = build_services(settings, engine, faces=faces).search
    probes = {"obama1.jpg": "obama", "alex_lacamoire1.jpg": "alex_lacamoire", "johnsnow_test1.jpg": "kit_harington"}
    for probe, person in probes.items():
        query = api.embed_face_photo(train.parent / "test" / probe)
        page = api.search(SearchQuery(face=query, limit=5), actor="alice", reason="case 17")
        assert page.results[0].match == FACE
        assert person_of[page.results[0].id] == person, (probe, [(person_of[r.id], r.score) for r in page.results])
        scores = [r.score or 0.0 for r in page.results]
        assert scores == sorted(scores, reverse=True)
        assert scores[0] >= settings.faces.match_threshold
    # combined with a filter: only that camera's sightings are scored
    query = api.embed_face_photo(train.parent / "test" / "obama1.jpg")
    page = api.search(SearchQuery(face=query, cameras=("cam1",), limit=50), actor="alice", reason="case 17")
    assert page.results and {r.camera for r in page.results} == {"cam1"}
    logged = audit.list_entries(engine, actor="alice", action="search")
    assert len(logged) == 4 and logged[0].details["reason"] == "case 17" and logged[0].details["face"] == "photo"


def test_watchlist_only_mode_keeps_no_face_vectors(
    shared_data: Path, faces: FaceAnalyzer, tmp_path: Path, db_url: str
) -> None:
    settings = Settings.load(home=tmp_path / "home", database_url=db_url)  # watchlist-only is the default
    engine = make_engine(db_url)
    migrate(engine)
    photo = shared_data / "faces" / "face_recognition" / "obama_small.jpg"
    embedding = _face_of(faces, photo)
    SightingStore(engine, settings).write(
        [_sighting("cam", 1, 5, face_embedding=embedding, appearance_embedding=np.ones(128, np.float32))]
    )
    with engine.connect() as conn:
        kinds = conn.execute(sa.text("SELECT kind FROM sighting_vectors")).scalars().all()
    assert kinds == ["appearance"]  # the face vector never reached the disk
    api = build_services(settings, engine, faces=faces).search
    with pytest.raises(InputError, match="search by face photo is off"):
        api.search(SearchQuery(face=embedding), actor="alice", reason="case 17")
    with pytest.raises(InputError, match="audited"):
        api.search(SearchQuery(label="person"), actor="alice", reason="")
    engine.dispose()


def test_plate_read_from_a_real_photo_is_found_exactly_and_fuzzily(
    shared_data: Path, reader: PlateReader, keep: tuple[Settings, sa.Engine]
) -> None:
    settings, engine = keep
    image = load_image(shared_data / "plates" / "openalpr_eu" / "test_006.jpg")
    read = reader.read_scene(image)[0]  # the plate says RKO99AN; the reader gives RK099AN
    store = SightingStore(engine, settings)
    store.write([
        _sighting("gate", 1, 30, label="car", plate=read.text, attributes={"colour": "white", "plate_confidence": 0.9}),
        _sighting("gate", 2, 20, label="car", plate="RK755AJ", attributes={"colour": "red"}),
        _sighting("gate", 3, 10, label="car", plate="XY123ZZ", attributes={"colour": "white"}),
    ])
    api = build_services(settings, engine).search
    exact = api.search(SearchQuery(plate="RK-O99 AN"), actor="bob", reason="stolen car report")
    assert [r.plate for r in exact.results] == [read.text] and exact.total == 1
    assert api.search(SearchQuery(plate="RK099AM"), actor="bob", reason="x").total == 0
    fuzzy = api.search(SearchQuery(plate="RK099AM", fuzzy=True), actor="bob", reason="witness, unsure")
    assert [r.plate for r in fuzzy.results] == [read.text] and fuzzy.results[0].match == "plate"
    two = api.search(SearchQuery(plate="RK0995AN", fuzzy=True, max_edits=2), actor="bob", reason="x")
    assert read.text in {r.plate for r in two.results}
    white = api.search(SearchQuery(label="car", vehicle_colour="white"), actor="bob", reason="x")
    assert [r.track_id for r in white.results] == [3, 1]  # newest first


def test_filters_time_window_paging_and_cli(keep: tuple[Settings, sa.Engine]) -> None:
    settings, engine = keep
    rng = np.random.default_rng(7)
    rows = [
        _sighting(f"cam{i % 2}", i, i, attributes={"upper_colour": ["red", "blue"][i % 3 == 0], "lower_colour": "grey"},
                  appearance_embedding=rng.random(128).astype(np.float32))
        for i in range(60)
    ]
    SightingStore(engine, settings).write(rows)
    api = build_services(settings, engine).search
    q = SearchQuery(cameras=("cam0",), upper_colour="red", since=NOW - timedelta(minutes=30), limit=5)
    first = api.search(q, actor="carol", reason="x")
    second = api.search(replace(q, offset=5), actor="carol", reason="x")
    expected = [i for i in range(60) if i % 2 == 0 and i % 3 != 0 and i <= 30]
    assert first.total == len(expected)
    assert [r.track_id for r in first.results + second.results] == expected[:10]
    like = api.search(SearchQuery(like=rows[12].appearance_embedding, limit=3), actor="carol", reason="x")
    assert like.results[0].track_id == 12 and like.results[0].match == "appearance"
    like_red = api.search(SearchQuery(like=rows[12].appearance_embedding, upper_colour="blue", limit=3),
                          actor="carol", reason="x")
    assert all(r.attributes["upper_colour"] == "blue" for r in like_red.results)
    app = typer.Typer()
    app.command()(search_command)
    env = {"WATCHNET_HOME": str(settings.home), "WATCHNET_DATABASE_URL": str(settings.database_url)}
    # The same window as the query above, as an absolute time: a relative "30m" would drift from NOW
    # (fixed at import) in a long test session.
    since = (NOW - timedelta(minutes=30)).isoformat()
    args = ["--camera", "cam0", "--upper", "red", "--from", since, "--limit", "5", "--json", "--reason", "x"]
    done = CliRunner().invoke(app, args, env=env)
    assert done.exit_code == 0, done.output
    assert f'"total": {len(expected)}' in done.output
    refused = CliRunner().invoke(app, ["--class", "person"], env=env)
    assert refused.exit_code != 0  # --reason is required


def test_where_was_subject_lists_alerts_and_face_matches(
    shared_data: Path, faces: FaceAnalyzer, keep: tuple[Settings, sa.Engine]
) -> None:
    settings, engine = keep
    test = shared_data / "faces" / "face_recognition" / "knn_examples"
    obama = _face_of(faces, test / "train" / "obama" / "obama.jpg")
    biden = _face_of(faces, test / "train" / "biden" / "biden.jpg")
    SightingStore(engine, settings).write([
        _sighting("lobby", 1, 60, face_embedding=obama), _sighting("lobby", 2, 30, face_embedding=biden),
        _sighting("lobby", 3, 60 * 24 * 9, face_embedding=obama),  # older than the 7-day window
    ])
    photo = _face_of(faces, test / "train" / "obama" / "obama2.jpg")  # made by the configured embedder
    with engine.begin() as conn:
        subject = conn.execute(sa.text(
            "INSERT INTO subjects (kind, name, reason, case_ref, enrolled_by, created_at, updated_at, active) "
            "VALUES ('person', 'Subject A', 'test', 'c1', 'admin', :t, :t, :a) RETURNING id"
        ), {"t": NOW, "a": True}).scalar_one()
        conn.execute(sa.text(
            "INSERT INTO subject_photos (subject_id, path, crop_path, sha256, box, quality, model, dim, embedding, "
            "added_by, created_at) VALUES (:s, 'p', 'c', 'x', '[]', 1.0, :model, :dim, :e, 'admin', :t)"
        ), {"s": subject, "e": photo.astype("<f4").tobytes(), "model": settings.faces.embedder, "dim": photo.size,
            "t": NOW})
        conn.execute(sa.insert(AlertRow.__table__).values(  # type: ignore[arg-type]
            subject_id=subject, subject_name="Subject A", kind="face", score=0.97, camera="gate", track_id=9,
            frame_index=1, at=NOW - timedelta(hours=3), state="new", details={}, created_at=NOW, updated_at=NOW,
        ))
    page = build_services(settings, engine, faces=faces).search.where_was(subject, actor="dave", reason="case 9")
    matches = [(r.match, r.camera, r.track_id) for r in page.results]
    assert ("alert", "gate", 9) in matches and ("face", "lobby", 1) in matches
    assert ("face", "lobby", 2) not in matches and ("face", "lobby", 3) not in matches
    assert audit.list_entries(engine, action="search.subject")[0].target == f"subject:{subject}"


def test_sightings_migration_matches_the_models(db_url: str) -> None:
    """Migration 0002_sightings builds exactly what schema_sightings declares, on both backends."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from watchnet.store.tables import load_all_tables

    engine = make_engine(db_url)
    migrate(engine)
    mine = ("sightings", "sighting_vectors", "search_state")
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        diff = [d for d in compare_metadata(context, load_all_tables()) if any(t in repr(d) for t in mine)]
        assert set(mine) <= set(sa.inspect(conn).get_table_names())
    assert diff == []
    engine.dispose()
