"""The watchlist on real photos, real models and both real databases: enrol, change, audit, reject, index."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from watchnet.core.config import Settings
from watchnet.core.errors import InputError
from watchnet.core.matching import MatchPolicy, counted
from watchnet.services.container import build_services
from watchnet.services.watchlist import Watchlist, read_photo_file
from watchnet.store import audit
from watchnet.store.db import alembic_config, make_engine, migrate
from watchnet.store.vectors import GalleryIndex
from watchnet.vision.analysis.faces import FaceAnalyzer


@pytest.fixture(scope="module")
def analyzer(tmp_path_factory: pytest.TempPathFactory) -> FaceAnalyzer:
    return FaceAnalyzer(Settings.load(home=tmp_path_factory.mktemp("models-home")))


@pytest.fixture(scope="module")
def fr(shared_data: Path) -> Path:
    return shared_data / "faces" / "face_recognition"


@pytest.fixture()
def engine(db_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(db_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture()
def watchlist(settings: Settings, engine: sa.Engine, analyzer: FaceAnalyzer) -> Watchlist:
    return build_services(settings, engine, faces=analyzer).watchlist


def test_migration_is_its_own_branch_off_0001() -> None:
    script = ScriptDirectory.from_config(alembic_config()).get_revision("0002_watchlist")
    assert script is not None
    assert script.down_revision == "0001" and script.branch_labels == {"watchlist"}


def test_enrol_show_update_remove_is_stored_and_audited(
    watchlist: Watchlist, engine: sa.Engine, settings: Settings, fr: Path,
) -> None:
    changes: list[tuple[str, int]] = []
    watchlist.subscribe(lambda action, sid: changes.append((action, sid)))
    expires = datetime.now(UTC) + timedelta(days=30)
    lin = watchlist.enrol("Lin-Manuel Miranda", [read_photo_file(fr / "lin-manuel-miranda.png")], by="alice",
                          reason="test case",
                          case_ref="CASE-1", expires_at=expires)
    assert (lin.name, lin.kind, lin.enrolled_by, lin.case_ref, lin.active) == (
        "Lin-Manuel Miranda", "person", "alice", "CASE-1", True)
    assert lin.expires_at is not None and abs((lin.expires_at - expires).total_seconds()) < 1
    [photo] = lin.photos
    assert Path(photo.path).read_bytes() == (fr / "lin-manuel-miranda.png").read_bytes()
    assert Path(photo.path).parent == settings.home / "watchlist" / str(lin.id)
    assert Path(photo.crop_path).is_file() and photo.quality >= settings.faces.min_quality
    assert photo.model == settings.faces.embedder

    alex = watchlist.enrol("Alex Lacamoire", [
        read_photo_file(fr / "alex-lacamoire.png"),
        read_photo_file(fr / "knn_examples" / "train" / "alex_lacamoire" / "img1.jpg"),
    ], by="bob")
    assert len(alex.photos) == 2
    assert [s.id for s in watchlist.list_subjects()] == [alex.id, lin.id]

    updated = watchlist.update(lin.id, by="carol", reason="new reason", active=False, expires_at=None)
    assert (updated.reason, updated.active, updated.expires_at) == ("new reason", False, None)
    assert [s.id for s in watchlist.list_subjects(active=True)] == [alex.id]
    watchlist.add_photo(alex.id, read_photo_file(fr / "knn_examples" / "test" / "alex_lacamoire1.jpg"), by="bob")
    assert len(watchlist.get(alex.id).photos) == 3

    folder = settings.home / "watchlist" / str(alex.id)
    watchlist.remove(alex.id, by="dave")
    assert not folder.exists()
    with pytest.raises(InputError, match=f"no watchlist subject with id {alex.id}"):
        watchlist.get(alex.id)

    assert [a for a, _ in changes] == [
        "watchlist.enrol", "watchlist.enrol", "watchlist.update", "watchlist.add_photo", "watchlist.remove"]
    entries = audit.list_entries(engine, limit=20)
    assert [(e.actor, e.action, e.target) for e in reversed(entries)] == [
        ("alice", "watchlist.enrol", f"subject:{lin.id}"), ("bob", "watchlist.enrol", f"subject:{alex.id}"),
        ("carol", "watchlist.update", f"subject:{lin.id}"), ("bob", "watchlist.add_photo", f"subject:{alex.id}"),
        ("dave", "watchlist.remove", f"subject:{alex.id}"),
    ]
    assert entries[2].details["changes"]["active"] == {"from": True, "to": False}
    assert audit.verify(engine).ok
    with engine.connect() as conn:  # no embedding ever reaches the audit log
        text = str(conn.execute(sa.text("SELECT details FROM audit_log")).all())
    assert "embedding" not in text


def test_bad_photos_are_refused_with_clear_messages(
    watchlist: Watchlist, settings: Settings, shared_data: Path, fr: Path, tmp_path: Path,
) -> None:
    car = shared_data / "plates" / "openalpr_eu" / "eu1.jpg"
    with pytest.raises(InputError, match=r"no face found in .*eu1\.jpg"):
        watchlist.enrol("Nobody", [read_photo_file(car)], by="alice")
    with pytest.raises(InputError, match=r"two_people\.jpg contains 2 faces; crop it to the one person or choose "
                                         r"which face to use \(face index 0"):
        watchlist.enrol("Someone", [read_photo_file(fr / "two_people.jpg")], by="alice")
    with pytest.raises(InputError, match=r"labels\.csv: not a readable image"):
        watchlist.enrol("Someone", [read_photo_file(fr / "labels.csv")], by="alice")
    broken = tmp_path / "broken.png"
    broken.write_bytes((fr / "lin-manuel-miranda.png").read_bytes()[:300])
    with pytest.raises(InputError, match=r"broken\.png: (not a readable image|the image is damaged)"):
        watchlist.enrol("Someone", [read_photo_file(broken)], by="alice")
    with pytest.raises(InputError, match=r"missing\.jpg: no such file"):
        watchlist.enrol("Someone", [read_photo_file(tmp_path / "missing.jpg")], by="alice")
    with pytest.raises(InputError, match="must not be empty"):
        watchlist.enrol("Someone", [read_photo_file(fr / "obama_small.jpg")], by=" ")
    with pytest.raises(InputError, match="in the past"):
        watchlist.enrol("Someone", [read_photo_file(fr / "obama_small.jpg")], by="alice",
                        expires_at=datetime(2001, 1, 1))
    def limited(**limits: int) -> Watchlist:
        cfg = settings.watchlist.model_copy(update=limits)
        changed = settings.model_copy(update={"watchlist": cfg})
        return build_services(changed, watchlist.engine, faces=watchlist.analyzer).watchlist

    with pytest.raises(InputError, match=r"504 kB is larger than the 10 kB allowed for a photo"):
        limited(max_photo_bytes=10_000).enrol("Someone", [read_photo_file(fr / "lin-manuel-miranda.png")], by="alice")
    with pytest.raises(InputError, match=r"px is more than the 10,000 pixels allowed"):
        limited(max_photo_pixels=10_000).enrol("Someone", [read_photo_file(fr / "obama_small.jpg")], by="alice")
    assert watchlist.list_subjects() == []  # nothing half-enrolled
    assert not [p for p in (settings.home / "watchlist").rglob("*") if p.is_file()]

    chosen = watchlist.enrol("Left person", [read_photo_file(fr / "two_people.jpg")], by="alice", face_index=1)
    assert len(chosen.photos) == 1
    with pytest.raises(InputError, match="out of range"):
        watchlist.add_photo(chosen.id, read_photo_file(fr / "two_people.jpg"), by="alice", face_index=2)


def test_gallery_follows_changes_expiry_and_negatives(
    watchlist: Watchlist, engine: sa.Engine, settings: Settings, fr: Path, analyzer: FaceAnalyzer,
) -> None:
    index = GalleryIndex(engine, settings.faces.embedder, reload_s=3600)
    assert len(index) == 0
    lin = watchlist.enrol("Lin", [read_photo_file(fr / "lin-manuel-miranda.png")], by="alice",
                          expires_at=datetime.now(UTC) + timedelta(hours=1))
    assert index.refresh() is False  # within reload_s: not even checked
    assert index.refresh(force=True) is True and len(index) == 1

    probe = _embedding(analyzer, fr / "lin-manuel-miranda.png")
    policy = MatchPolicy.from_settings(settings)
    [now] = index.compare(probe)
    assert now.subject_ids.tolist() == [lin.id] and now.reference[0] > 0.99 and counted(now, policy)[0]
    later = datetime.now(UTC) + timedelta(hours=2)
    [expired] = index.compare(probe, at=later.timestamp())
    assert len(expired) == 0  # an expired subject never matches

    watchlist.add_negative_photo(lin.id, read_photo_file(fr / "lin-manuel-miranda.png"), by="alice")
    assert watchlist.get(lin.id).negatives == 1
    index.refresh(force=True)
    [vetoed] = index.compare(probe)
    assert vetoed.negative[0] >= vetoed.reference[0] and not counted(vetoed, policy)[0]

    watchlist.update(lin.id, by="alice", active=False)
    index.refresh(force=True)
    assert len(index) == 0 and len(index.compare(probe)[0]) == 0


def _embedding(analyzer: FaceAnalyzer, path: Path) -> np.ndarray:
    from watchnet.vision.analysis.faces import load_image

    image = load_image(path)
    faces = analyzer.detect(image)
    analyzer.embed(image, faces)
    assert faces[0].embedding is not None
    return faces[0].embedding
