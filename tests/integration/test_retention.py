"""Retention purge: nothing expired survives (rows in every table, files, vectors), nothing recent goes."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from typer.testing import CliRunner

from watchnet.cli.retention import app as retention_app
from watchnet.core.config import CameraConfig, Settings
from watchnet.core.records import Sighting, Track, TrackEvent, TrackEventKind
from watchnet.services.container import build_services
from watchnet.services.search import SearchQuery
from watchnet.store import audit
from watchnet.store.db import make_engine, migrate
from watchnet.store.recorder import Recorder
from watchnet.store.retention import KEPT, PLAN, PURGED_WITH, RetentionScheduler, purge
from watchnet.store.schema_outbox import EventLogRow
from watchnet.store.schema_watchlist import AlertDecision, AlertRow
from watchnet.store.sightings import APPEARANCE, FACE, SightingStore
from watchnet.store.tables import load_all_tables

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=40)
NEW = NOW - timedelta(days=2)


def _file(path: Path, age: datetime | None = None) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8 jpeg")
    if age is not None:
        os.utime(path, (age.timestamp(), age.timestamp()))
    return str(path)


def _populate(settings: Settings, engine: sa.Engine) -> dict[str, list[str]]:
    """Old (40 days) and new (2 days) rows of every purged kind, each with its file."""
    recorder = Recorder(engine)
    recorder.upsert_cameras([CameraConfig(name="cam", url="x.mp4")])
    files: dict[str, list[str]] = {"old": [], "new": []}
    runs = {}
    for age, when in (("old", OLD), ("new", NEW)):
        run = recorder.start_run({})
        runs[age] = run
        snap = _file(settings.snapshots_dir / age / "cam" / "000001.jpg")
        track = Track("cam", 1, "person", 1, 50, when.timestamp(), when.timestamp() + 5, snapshot_path=snap)
        event = TrackEvent("cam", 1, TrackEventKind.APPEARED, "person", 1, when.timestamp())
        recorder.write([track], [event], run)
        recorder.end_run(run, {})
        thumb = _file(settings.home / "thumbnails" / "cam" / f"{age}.jpg")
        rng = np.random.default_rng(len(age))
        SightingStore(engine, settings).write([Sighting(
            "cam", 1, "person", when, when + timedelta(seconds=5), {"upper_colour": "red"}, thumbnail_path=thumb,
            face_embedding=rng.normal(size=128).astype(np.float32),
            appearance_embedding=rng.random(128).astype(np.float32),
        )], run)
        crop = _file(settings.home / "alerts" / f"{age}-crop.jpg")
        with engine.begin() as conn:
            alert_id: int = conn.execute(sa.insert(AlertRow.__table__).values(  # type: ignore[arg-type]
                subject_name="S", kind="face", score=0.9, camera="cam", track_id=1, frame_index=1, at=when,
                crop_path=crop, state="new", details={}, created_at=when, updated_at=when,
            ).returning(sa.column("id"))).scalar_one()
            conn.execute(sa.insert(AlertDecision.__table__).values(  # type: ignore[arg-type]
                alert_id=alert_id, action="confirm", actor="op", at=when, from_state="new", to_state="confirmed",
                note="",
            ))
            conn.execute(sa.insert(EventLogRow.__table__).values(  # type: ignore[arg-type]
                topic="alert", payload={"alert_id": alert_id, "subject_name": "S"}, created_at=when,
            ))
        files[age] += [snap, thumb, crop]
    with engine.begin() as conn:  # the old run ended 40 days ago
        conn.execute(sa.text("UPDATE runs SET ended_at = :t WHERE id = :r"), {"t": OLD, "r": runs["old"]})
    files["old"].append(_file(settings.snapshots_dir / "lost" / "orphan.jpg", age=OLD))  # a file whose row was lost
    files["new"].append(_file(settings.snapshots_dir / "lost" / "recent.jpg", age=NEW))
    return files


def _counts(engine: sa.Engine) -> dict[str, int]:
    tables = ("tracks", "track_events", "sightings", "sighting_vectors", "alerts", "alert_decisions", "event_log",
              "runs")
    with engine.connect() as conn:
        return {t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in tables}


def test_purge_removes_expired_rows_files_and_vectors_only(tmp_path: Path, db_url: str) -> None:
    settings = Settings.load(home=tmp_path / "home", database_url=db_url, retention_days=30,
                             identity_mode="keep-embeddings")
    engine = make_engine(db_url)
    migrate(engine)
    files = _populate(settings, engine)
    before = _counts(engine)
    assert before == {"tracks": 2, "track_events": 2, "sightings": 2, "sighting_vectors": 4, "alerts": 2,
                      "alert_decisions": 2, "event_log": 2, "runs": 2}
    api = build_services(settings, engine).search
    probe = api.caches  # warm the caches with both sightings
    page = api.search(SearchQuery(like=np.ones(128, np.float32), limit=10), actor="t", reason="t")
    assert len(page.results) == 2 and probe[APPEARANCE].ids.size == 2

    dry = purge(engine, settings, dry_run=True)
    journeys = {"journeys": 0, "journey_links": 0, "follows": 0}  # none made in this test
    assert dry.rows == {"sightings": 1, "track_events": 1, "tracks": 1, "alerts": 1, "event_log": 1, "runs": 1,
                        **journeys}
    assert dry.files == len(files["old"])
    assert _counts(engine) == before and all(Path(f).exists() for f in files["old"])

    report = purge(engine, settings, actor="retention-test")
    assert report.rows == dry.rows and report.files == len(files["old"])
    assert _counts(engine) == {"tracks": 1, "track_events": 1, "sightings": 1, "sighting_vectors": 2, "alerts": 1,
                               "alert_decisions": 1, "event_log": 1, "runs": 1}
    assert not any(Path(f).exists() for f in files["old"])
    assert all(Path(f).exists() for f in files["new"])
    with engine.connect() as conn:
        for table, column in (("tracks", "last_seen"), ("track_events", "at"), ("sightings", "last_seen"),
                              ("alerts", "at"), ("event_log", "created_at")):
            oldest = conn.execute(sa.text(f"SELECT min({column}) FROM {table}")).scalar_one()
            assert str(oldest)[:10] == NEW.strftime("%Y-%m-%d"), (table, oldest)
    # vector caches: the purge bumped the generation, so the next search reloads without the old rows
    for kind in (FACE, APPEARANCE):
        page = api.search(SearchQuery(like=np.ones(128, np.float32)) if kind == APPEARANCE else
                          SearchQuery(face=np.ones(128, np.float32)), actor="t", reason="t")
        assert len(page.results) == 1 and api.caches[kind].ids.size == 1
        assert page.results[0].first_seen.date() == NEW.date()
    assert audit.list_entries(engine, action="retention.purge")[0].actor == "retention-test"
    assert purge(engine, settings).rows == {"sightings": 0, "track_events": 0, "tracks": 0, "alerts": 0,
                                            "event_log": 0, "runs": 0, **journeys}
    engine.dispose()


def test_cli_dry_run_and_scheduler(tmp_path: Path, db_url: str) -> None:
    settings = Settings.load(home=tmp_path / "home", database_url=db_url, retention_days=30)
    engine = make_engine(db_url)
    migrate(engine)
    files = _populate(settings, engine)
    env = {"WATCHNET_HOME": str(settings.home), "WATCHNET_DATABASE_URL": db_url, "WATCHNET_RETENTION_DAYS": "30"}
    done = CliRunner().invoke(retention_app, ["purge", "--dry-run"], env=env)
    assert done.exit_code == 0, done.output
    shown = json.loads(done.output)
    assert shown["dry_run"] is True and shown["rows"]["sightings"] == 1 and shown["files"] == len(files["old"])
    assert all(Path(f).exists() for f in files["old"])
    scheduler = RetentionScheduler(engine, settings)
    assert scheduler.tick(now_s=1000.0) is not None  # first tick purges
    assert scheduler.tick(now_s=1001.0) is None  # not due again before purge_every_s
    assert scheduler.error is None and not any(Path(f).exists() for f in files["old"])
    engine.dispose()


def test_every_table_is_purged_or_deliberately_kept() -> None:
    """A new table must be added to the purge plan or to KEPT, with a reason: nothing is kept by accident."""
    purged = {rule.table for rule in PLAN} | PURGED_WITH
    unknown = set(load_all_tables().tables) - purged - set(KEPT)
    assert not unknown, f"decide the retention of {sorted(unknown)} in watchnet/store/retention.py"
