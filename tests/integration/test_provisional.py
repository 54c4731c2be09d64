"""Provisional sightings: a track's sighting written while it still runs, linked and followed at once,
then updated in place by the final description (one row per track); links made from provisional
evidence are re-scored on the final one.

The first tests build sightings by hand to isolate one rule each (as tests/integration/test_journeys.py
does); the last runs the real pipeline on real footage (PETS S2.L1 cut into two region cameras) with
the linker stepping after every write, as ``watchnet run`` does once a second.
"""

from __future__ import annotations

import dataclasses
import subprocess
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from watchnet.core.config import CameraConfig, Settings
from watchnet.core.records import Sighting
from watchnet.services.container import build_services
from watchnet.services.linking.service import LinkerService
from watchnet.store import journeys as repo
from watchnet.store.audit import export_lines
from watchnet.store.db import open_store
from watchnet.store.recorder import Recorder
from watchnet.store.sightings import SightingStore

T0 = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
RNG = np.random.default_rng(11)
PERSON = RNG.normal(size=64).astype(np.float32)
OTHER = RNG.normal(size=64).astype(np.float32)


def _settings(tmp_path: Path, **extra: Any) -> Settings:
    cameras = [
        {"name": "gate", "url": "x", "lat": 48.15, "lon": 17.1,
         "neighbours": [{"to": "hall", "min_s": 5, "max_s": 40}]},
        {"name": "hall", "url": "x", "lat": 48.1505, "lon": 17.1},
    ]
    return Settings.load(home=tmp_path / "home", cameras=cameras, **extra)


def _look(base: np.ndarray, noise: float = 0.1) -> np.ndarray:
    return base + noise * RNG.normal(size=base.size).astype(np.float32) * float(np.linalg.norm(base)) / 8


def _sighting(camera: str, track: int, start_s: float, end_s: float, *, look: np.ndarray | None = None,
              upper: str = "red", lower: str = "blue", provisional: bool = False) -> Sighting:
    return Sighting(camera, track, "person", T0 + timedelta(seconds=start_s), T0 + timedelta(seconds=end_s),
                    attributes={"upper_colour": upper, "lower_colour": lower},
                    appearance_embedding=look if look is not None else _look(PERSON), provisional=provisional)


def _store(settings: Settings) -> tuple[Any, SightingStore]:
    engine = open_store(settings)
    Recorder(engine).upsert_cameras(settings.cameras)
    return engine, SightingStore(engine, settings)


def _rows(engine: Any) -> list[repo.SightingInfo]:
    with engine.connect() as conn:
        return repo.new_sightings(conn, 0, 10_000)


def test_the_final_description_updates_the_provisional_row(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    engine, store = _store(settings)
    (early,) = store.write([_sighting("hall", 4, 20, 22, provisional=True, upper="grey")])
    (row,) = _rows(engine)
    assert row.id == early and row.provisional and row.last_seen == T0 + timedelta(seconds=22)
    final = _sighting("hall", 4, 20, 30, look=_look(OTHER), upper="red")
    assert store.write([final]) == [early]
    (row,) = _rows(engine)  # one row per track, same id, final description and vector
    assert row.id == early and not row.provisional and row.upper_colour == "red"
    assert row.last_seen == T0 + timedelta(seconds=30)
    expected = final.appearance_embedding / np.linalg.norm(final.appearance_embedding)
    assert np.allclose(row.vectors["appearance"], expected, atol=1e-6)
    # a provisional and its final in one batch: only the final is written
    ids = store.write([_sighting("gate", 9, 0, 2, provisional=True), _sighting("gate", 9, 0, 8)])
    assert ids[0] == ids[1] and len(_rows(engine)) == 2
    # another track of the same camera is another row
    store.write([_sighting("hall", 5, 20, 25)])
    assert Counter((r.camera, r.track_id) for r in _rows(engine)) == {("hall", 4): 1, ("gate", 9): 1, ("hall", 5): 1}


def test_search_indexes_take_the_final_vector_and_plate_of_an_updated_row(tmp_path: Path) -> None:
    from watchnet.store.sightings import APPEARANCE, PlateIndex, VectorCache, plate_key

    def hits(plate: str) -> list[int]:
        return [int(i) for i in plates.within(str(plate_key(plate)), 0)[0]]

    settings = _settings(tmp_path)
    engine, store = _store(settings)
    cache, plates = VectorCache(APPEARANCE), PlateIndex()
    first, final = _look(PERSON), _look(OTHER)
    (early,) = store.write([dataclasses.replace(_sighting("hall", 4, 20, 22, look=first, provisional=True),
                                                plate="AB123CD")])
    (bare,) = store.write([_sighting("gate", 2, 0, 2, provisional=True)])  # no plate read yet
    cache.refresh(engine)
    plates.refresh(engine)
    assert cache.open == {early, bare} and hits("AB123CD") == [early]
    store.write([dataclasses.replace(_sighting("hall", 4, 20, 30, look=final), plate="XY987ZW"),
                 dataclasses.replace(_sighting("gate", 2, 0, 8), plate="BA555AA")])
    store.write([_sighting("yard", 1, 40, 50)])  # a newer row: the cache's newest id moves past both
    cache.refresh(engine)
    plates.refresh(engine)
    row = cache.matrix[cache.positions(np.asarray([early]))[0]]
    assert np.allclose(row, final / np.linalg.norm(final), atol=1e-6) and cache.open == set()
    assert hits("XY987ZW") == [early] and hits("AB123CD") == [] and hits("BA555AA") == [bare]


def test_a_followed_hop_arrives_from_the_provisional_sighting_and_stays_after_the_final(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    engine, store = _store(settings)
    service = LinkerService(engine, settings)
    (a,) = store.write([_sighting("gate", 1, 0, 10)])
    service.step()
    follow = service.desk.start(a, "alice", "suspect seen at the gate")
    (b,) = store.write([_sighting("hall", 4, 22, 24, provisional=True)])  # still in view at the hall
    service.step()
    with engine.connect() as conn:
        hops = repo.hops(conn, int(follow["follow"]))
        assert repo.still_provisional(conn, [b]) == {b: True}
    assert [(h.camera, int(h.sighting_id)) for h in hops] == [("gate", a), ("hall", b)]
    assert service.desk.delivered[-1]["hop"]["sighting_id"] == b
    store.write([_sighting("hall", 4, 22, 35)])  # the track ends: same row, final evidence agrees
    service.step()
    with engine.connect() as conn:
        link = repo.link_into(conn, b)
        hops = repo.hops(conn, int(follow["follow"]))
        (member,) = [m for m in repo.members(conn, int(follow["journey"])) if m.sighting_id == b]
    assert link is not None and link.state == "auto" and "provisional_score" in link.evidence
    assert [int(h.sighting_id) for h in hops] == [a, b]  # no second hop for the same track
    assert member.last_seen == T0 + timedelta(seconds=35)
    assert service.linker.pending == set()


def test_an_auto_link_the_final_evidence_contradicts_is_demoted_to_a_candidate(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    engine, store = _store(settings)
    service = LinkerService(engine, settings)
    (a,) = store.write([_sighting("gate", 1, 0, 10)])
    (b,) = store.write([_sighting("hall", 4, 22, 24, provisional=True)])
    service.step()
    with engine.connect() as conn:
        assert repo.journey_of(conn, a) == repo.journey_of(conn, b)
    # the whole track shows someone else (the first crops were of the person in front)
    store.write([_sighting("hall", 4, 22, 35, look=_look(OTHER), upper="green", lower="black")])
    service.step()
    with engine.connect() as conn:
        assert repo.journey_of(conn, a) != repo.journey_of(conn, b)
        (link,) = repo.links_touching(conn, [b])
    assert link.state == "candidate" and link.decided_by == "linker" and link.score < settings.linking.link_at
    assert link.evidence["provisional_score"] >= settings.linking.link_at
    assert "journey.link.demote" in "".join(export_lines(engine))


def test_a_hop_whose_link_is_demoted_is_taken_back_on_the_timeline_and_at_the_sinks(tmp_path: Path) -> None:
    from watchnet.services.alerts import AlertManager
    from watchnet.services.linking import forensic
    from watchnet.store import outbox

    settings = _settings(tmp_path)
    engine, store = _store(settings)
    delivered: list[dict[str, Any]] = []

    class ListSink:  # a real sink that keeps what the webhook and MQTT sinks would send
        name = "list"

        def deliver(self, payload: dict[str, Any]) -> None:
            delivered.append(payload)

        def close(self, timeout: float = 10.0) -> None:
            pass

    service = LinkerService(engine, settings, AlertManager(engine, sinks=[ListSink()], confirmations=1))
    (a,) = store.write([_sighting("gate", 1, 0, 10)])
    service.step()
    follow = service.desk.start(a, "alice", "suspect seen at the gate")
    (b,) = store.write([_sighting("hall", 4, 22, 24, provisional=True)])
    service.step()
    assert [m["hop"]["sighting_id"] for m in delivered if m["event"] == "journey.followed"] == [a, b]
    # the whole track shows someone else: the link is demoted and the hall hop withdrawn
    store.write([_sighting("hall", 4, 22, 35, look=_look(OTHER), upper="green", lower="black")])
    service.step()
    (taken_back,) = [m for m in delivered if m["event"] == "journey.hop.retracted"]
    assert taken_back["hop"]["sighting_id"] == b and taken_back["hop"]["camera"] == "hall"
    assert taken_back["last_known"]["camera"] == "gate" and "demoted" in taken_back["why"]
    view = forensic.follow_view(engine, settings, int(follow["follow"]))
    assert [t["sighting_id"] for t in view["timeline"]] == [a] and view["last_known"]["camera"] == "gate"
    assert [t["sighting_id"] for t in view["retracted"]] == [b] and view["retracted"][0]["retracted_reason"]
    logged = [e.payload["event"] for e in outbox.read_after(engine, 0, topics=["journey"])]
    assert logged == ["journey.followed", "journey.followed", "journey.hop.retracted"]


def test_a_restarted_linker_still_settles_the_provisional_sightings_it_left_open(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    engine, store = _store(settings)
    store.write([_sighting("gate", 1, 0, 10)])
    (b,) = store.write([_sighting("hall", 4, 22, 24, provisional=True)])
    LinkerService(engine, settings).step()
    store.write([_sighting("hall", 4, 22, 35, look=_look(OTHER), upper="green", lower="black")])
    restarted = LinkerService(engine, settings)
    restarted.step()
    assert restarted.linker.demoted == 1 and restarted.linker.pending == set()
    with engine.connect() as conn:
        (link,) = repo.links_touching(conn, [b])
    assert link.state == "candidate" and "provisional_score" in link.evidence


def test_a_sighting_too_thin_to_link_early_joins_on_its_final_evidence(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    engine, store = _store(settings)
    service = LinkerService(engine, settings)
    (a,) = store.write([_sighting("gate", 1, 0, 10)])
    service.step()
    follow = service.desk.start(a, "alice", "suspect seen at the gate")
    (b,) = store.write([_sighting("hall", 4, 22, 24, look=_look(OTHER), upper="green", lower="black",
                                  provisional=True)])
    service.step()
    with engine.connect() as conn:
        assert repo.journey_of(conn, b) != repo.journey_of(conn, a)
    store.write([_sighting("hall", 4, 22, 35)])
    service.step()
    with engine.connect() as conn:
        assert repo.journey_of(conn, b) == repo.journey_of(conn, a)
        link = repo.link_into(conn, b)
        hops = repo.hops(conn, int(follow["follow"]))
    assert link is not None and link.state == "auto"
    assert [int(h.sighting_id) for h in hops] == [a, b]


def test_an_alert_starts_its_follow_from_the_provisional_sighting(tmp_path: Path, shared_data: Path) -> None:
    from watchnet.core.records import Alert
    from watchnet.services.alerts import AlertManager
    from watchnet.services.watchlist import read_photo_file

    settings = _settings(tmp_path, linking={"alert_wait_s": 1e9})
    engine, store = _store(settings)
    manager = AlertManager(engine, confirmations=1)
    service = LinkerService(engine, settings, manager)
    photo = shared_data / "faces" / "face_recognition" / "obama_small.jpg"
    subject = build_services(settings, engine).watchlist.enrol("wanted", [read_photo_file(photo)], by="admin").id
    # the face matched 5 s into the track; the track still runs and has been handed over up to 3 s
    manager.raise_alert(Alert(subject_id=subject, subject_name="wanted", kind="face", score=0.9, camera="gate",
                              track_id=7, timestamp=(T0 + timedelta(seconds=5)).timestamp(), frame_index=50))
    (a,) = store.write([_sighting("gate", 7, 0, 3, provisional=True)])
    service.step()
    with engine.connect() as conn:
        (follow,) = repo.active_follows(conn)
    assert int(follow.origin_sighting_id) == a and follow.alert_id is not None


@pytest.mark.slow
def test_real_footage_a_followed_hop_arrives_while_the_track_on_the_next_camera_still_runs(
    shared_data: Path, tmp_path: Path,
) -> None:
    """PETS S2.L1 (20 s) as a west and an east camera; every west journey is followed from its first
    sighting; the linker steps after every sighting write. A hop onto the east camera must be recorded
    while the east track is still running (its sighting provisional, its final end later), and the
    run must leave exactly one sighting per track, none of them provisional."""
    from watchnet.runtime.runner import Runner, RunOptions
    from watchnet.vision.analysis.describe import DescribeAnalyzer
    from watchnet.vision.analysis.detect import Detector

    video = shared_data / "tracking" / "pets09_s2l1" / "pets09_s2l1_view001_480x360_10fps.avi"
    for name, crop in (("west", "320:360:0:0"), ("east", "160:360:320:0")):
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(video), "-an", "-fps_mode", "passthrough",
                        "-frames:v", "200", "-vf", f"crop={crop}", "-c:v", "libx264", "-preset", "veryfast",
                        str(tmp_path / f"{name}.mp4")], check=True, timeout=120)
    cameras = [
        CameraConfig(name="west", url=str(tmp_path / "west.mp4"), lat=48.15, lon=17.1,
                     neighbours=[{"to": "east", "min_s": 0, "max_s": 10}]).model_dump(),
        CameraConfig(name="east", url=str(tmp_path / "east.mp4"), lat=48.15, lon=17.1001,
                     neighbours=[{"to": "west", "min_s": 0, "max_s": 10}]).model_dump(),
    ]
    settings = Settings.load(home=tmp_path / "home", cameras=cameras, linking={"view_radius_m": 5})
    assert settings.linking.provisional_after_s > 0  # on by default
    engine = open_store(settings)
    store = SightingStore(engine, settings)
    service = LinkerService(engine, settings)
    made = [DescribeAnalyzer(c, settings) for c in settings.cameras]
    runner = Runner(settings, Detector.from_settings(settings), Recorder(engine), RunOptions(),
                    analyzers=lambda cam: [a for a in made if a.camera.name == cam.name])
    lock = threading.Lock()
    followed: set[int] = set()
    seen_hops: set[int] = set()
    early_hops: list[tuple[int, repo.SightingInfo]] = []  # (hop id, its sighting as it was then)
    written: list[Sighting] = []

    def online(sighting: Sighting) -> None:
        with lock:
            written.append(dataclasses.replace(sighting))
            (sid,) = store.write([sighting], runner.run_id)
            service.step()
            with engine.connect() as conn:
                journey = repo.journey_of(conn, sid)
                follows = repo.active_follows(conn)
                hops = [h for f in follows for h in repo.hops(conn, int(f.id)) if int(h.id) not in seen_hops]
                state = {i.id: i for i in repo.sightings_by_id(conn, [int(h.sighting_id) for h in hops])}
            for h in hops:
                seen_hops.add(int(h.id))
                info = state.get(int(h.sighting_id))
                if info is not None and info.provisional and h.camera == "east":
                    early_hops.append((int(h.id), info))
            if sighting.camera == "west" and journey is not None and journey not in followed:
                followed.add(journey)
                service.desk.start(sid, "test", "follow everyone from the west camera")

    for analyzer in made:
        analyzer.on_sighting = online
    runner.run()
    service.step()
    assert any(s.provisional for s in written) and any(not s.provisional for s in written)
    rows = [i for i in _rows(engine) if i.run_id == runner.run_id]
    tracks = Counter((i.camera, i.track_id) for i in rows)
    assert len(rows) >= 10 and max(tracks.values()) == 1, "a track has more than one sighting"
    assert not [i.id for i in rows if i.provisional], "a sighting was left provisional"
    assert early_hops, "no followed person was handed over to the east camera while still in view"
    final = {i.id: i for i in rows}
    for _hop, then in early_hops:  # each early hop came before its track ended
        assert final[then.id].last_seen > then.last_seen
