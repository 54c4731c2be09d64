"""Journeys across cameras on a real SQLite store: sightings written by the real write path, linked by
the real linker, followed, cut, queried through the API.

The sightings here are built in the test (times, colours, plates, vectors) so each case isolates one
rule; bench/mtmc.py runs the whole pipeline on real footage for the numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from watchnet.api.app import create_app
from watchnet.core.config import CameraConfig, Settings
from watchnet.core.records import Alert, Sighting, Track
from watchnet.services import accounts
from watchnet.services.alerts import AlertManager
from watchnet.services.container import build_services
from watchnet.services.linking import forensic
from watchnet.services.linking.service import LinkerService
from watchnet.services.watchlist import read_photo_file
from watchnet.store import journeys as repo
from watchnet.store.audit import export_lines
from watchnet.store.db import open_store
from watchnet.store.recorder import Recorder
from watchnet.store.sightings import SightingStore

T0 = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
RNG = np.random.default_rng(7)
PERSON = RNG.normal(size=64).astype(np.float32)  # one person's appearance vector
OTHER = RNG.normal(size=64).astype(np.float32)


class ListSink:
    """A real sink: keeps what it is given (the webhook and MQTT sinks get the same messages)."""

    name = "list"

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def deliver(self, payload: dict[str, Any]) -> None:
        self.messages.append(payload)

    def close(self, timeout: float = 10.0) -> None:
        pass


def _settings(tmp_path: Path, far: bool = False, **extra: Any) -> Settings:
    # gate -> hall about 55 m apart (or 5.5 km with far), declared 5-40 s transit
    hall_lat = 48.1500 + (0.05 if far else 0.0005)
    cameras = [
        {"name": "gate", "url": "x", "lat": 48.15, "lon": 17.1,
         "neighbours": [{"to": "hall", "min_s": 5, "max_s": 40}]},
        {"name": "hall", "url": "x", "lat": hall_lat, "lon": 17.1,
         "neighbours": [{"to": "yard", "min_s": 5, "max_s": 40}]},
        {"name": "yard", "url": "x", "lat": hall_lat + 0.0005, "lon": 17.1},
    ]
    return Settings.load(home=tmp_path / "home", cameras=cameras, **extra)


def _look(base: np.ndarray, noise: float = 0.1) -> np.ndarray:
    return base + noise * RNG.normal(size=base.size).astype(np.float32) * float(np.linalg.norm(base)) / 8


def _sighting(camera: str, track: int, start_s: float, end_s: float, label: str = "person", *,
              look: np.ndarray | None = None, face: np.ndarray | None = None, plate: str | None = None,
              upper: str = "red", lower: str = "blue") -> Sighting:
    attrs: dict[str, object] = {"upper_colour": upper, "lower_colour": lower} if label == "person" else {
        "colour": upper}
    return Sighting(camera, track, label, T0 + timedelta(seconds=start_s), T0 + timedelta(seconds=end_s),
                    attributes=attrs, plate=plate, face_embedding=face,
                    appearance_embedding=look if look is not None else _look(PERSON))


def _store(settings: Settings) -> tuple[Any, SightingStore]:
    engine = open_store(settings)
    Recorder(engine).upsert_cameras(settings.cameras)
    return engine, SightingStore(engine, settings)


def _subject(settings: Settings, engine: Any, shared_data: Path) -> int:
    """A real watchlist subject (enrolled from a real photo) for the alerts to name."""

    photo = shared_data / "faces" / "face_recognition" / "obama_small.jpg"
    return build_services(settings, engine).watchlist.enrol("wanted", [read_photo_file(photo)], by="admin").id


def _journeys(engine: Any, ids: list[int]) -> dict[int, int]:
    with engine.connect() as conn:
        return repo.journeys_of(conn, ids)


def test_leaving_a_and_entering_b_inside_the_transit_window_is_linked(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    engine, store = _store(settings)
    service = LinkerService(engine, settings)
    a, b = store.write([_sighting("gate", 1, 0, 10), _sighting("hall", 4, 22, 30)])
    # someone else, looking different, enters the hall at the same time
    (c,) = store.write([_sighting("hall", 5, 21, 29, look=_look(OTHER), upper="green", lower="black")])
    assert service.step() == 3
    found = _journeys(engine, [a, b, c])
    assert found[a] == found[b] != found[c]
    with engine.connect() as conn:
        link = repo.link_into(conn, b)
    assert link is not None and link.state == "auto" and link.score >= settings.linking.link_at
    # inside the declared window the transit cue takes nothing away (outside it would cost transit_outside)
    assert link.evidence["transit_model"] == "declared" and link.evidence["cues"]["transit"] == 0.0
    assert link.evidence["cues"]["appearance"] > 0
    assert link.evidence["gap_s"] == 12.0
    # the same look after more than the linking window (120 s) since anyone like it left is a new journey
    (late,) = store.write([_sighting("hall", 9, 30 + 125, 170)])
    service.step()
    assert _journeys(engine, [late])[late] != found[a]


def test_a_link_that_needs_impossible_speed_is_refused(tmp_path: Path) -> None:
    settings = _settings(tmp_path, far=True)  # 5.5 km apart, 12 s apart: 460 m/s
    engine, store = _store(settings)
    a, b = store.write([_sighting("gate", 1, 0, 10), _sighting("hall", 2, 22, 30)])
    LinkerService(engine, settings).step()
    found = _journeys(engine, [a, b])
    assert found[a] != found[b]
    with engine.connect() as conn:
        assert repo.links_touching(conn, [a, b]) == []  # not even a candidate


def test_simultaneous_tracks_in_views_that_do_not_overlap_are_not_one_journey(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    engine, store = _store(settings)
    a, b = store.write([_sighting("gate", 1, 0, 30), _sighting("hall", 2, 10, 40)])
    LinkerService(engine, settings).step()
    found = _journeys(engine, [a, b])
    assert found[a] != found[b]


def test_vehicles_link_by_plate(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    engine, store = _store(settings)
    # the same car looks different at the hall (other light, other side): its plate carries the link
    a, b = store.write([
        _sighting("gate", 1, 0, 5, "car", look=_look(PERSON), plate="BA123CD", upper="white"),
        _sighting("hall", 3, 12, 16, "car", look=_look(OTHER), plate="BA123CD", upper="grey"),
    ])
    # a look-alike car with another plate right after
    (c,) = store.write([_sighting("hall", 4, 14, 18, "car", look=_look(PERSON), plate="KE987XY", upper="white")])
    LinkerService(engine, settings).step()
    found = _journeys(engine, [a, b, c])
    assert found[a] == found[b] != found[c]
    with engine.connect() as conn:
        link = repo.link_into(conn, b)
    assert link is not None and link.evidence["cues"]["plate"] == settings.linking.plate_same


def test_cutting_a_link_splits_the_journey_and_confirming_teaches_the_topology(tmp_path: Path, db_url: str) -> None:
    settings = _settings(tmp_path, database_url=db_url)  # SQLite and PostgreSQL
    engine, store = _store(settings)
    service = LinkerService(engine, settings)
    a, b, c = store.write([_sighting("gate", 1, 0, 10), _sighting("hall", 2, 20, 30), _sighting("yard", 3, 40, 50)])
    service.step()
    found = _journeys(engine, [a, b, c])
    assert found[a] == found[b] == found[c]
    with engine.connect() as conn:
        into_c = repo.link_into(conn, c)
    assert into_c is not None
    result = service.linker.cut(int(into_c.id), "alice", "different coat")
    found = _journeys(engine, [a, b, c])
    assert found[a] == found[b] != found[c]
    assert set(result["journeys"]) == {found[a], found[c]}
    # a cut link cannot be confirmed; confirming another counts its trip in the learned histogram
    with pytest.raises(Exception, match="was cut"):
        service.linker.confirm(int(into_c.id), "bob")
    with engine.connect() as conn:
        into_b = repo.link_into(conn, b)
    assert into_b is not None
    service.linker.confirm(int(into_b.id), "bob")
    with engine.connect() as conn:
        assert repo.transit_bins(conn) == {("gate", "hall"): {10 // int(settings.linking.histogram_bin_s): 1}}
    actions = "".join(export_lines(engine))
    assert "journey.link.cut" in actions and "journey.link.confirm" in actions
    with engine.connect() as conn:  # what the re-id metric may learn from
        assert repo.decided_pairs(conn) == [(a, b, True), (b, c, False)]


def test_an_operator_cut_takes_back_the_followed_hops_beyond_it_and_a_confirm_gives_them_back(
    tmp_path: Path,
) -> None:
    from watchnet.services.linking.journeys import Journeys
    from watchnet.store import outbox

    settings = _settings(tmp_path)
    engine, store = _store(settings)
    service = LinkerService(engine, settings)
    a, b, c = store.write([_sighting("gate", 1, 0, 10), _sighting("hall", 2, 20, 30), _sighting("yard", 3, 40, 50)])
    service.step()
    follow = service.desk.start(a, "alice", "bag left at the gate")
    with engine.connect() as conn:
        into_b = repo.link_into(conn, b)
    assert into_b is not None
    # the console's path: a Journeys service in the API process, not the linker's thread
    Journeys(engine, settings).cut_link(int(into_b.id), "bob", "different coat")
    view = forensic.follow_view(engine, settings, int(follow["follow"]))
    assert [t["sighting_id"] for t in view["timeline"]] == [a]
    assert sorted(t["sighting_id"] for t in view["retracted"]) == [b, c]
    assert all("cut by bob" in t["retracted_reason"] for t in view["retracted"])
    events = [e.payload for e in outbox.read_after(engine, 0, topics=["journey"])]
    withdrawn = [e["hop"]["sighting_id"] for e in events if e["event"] == "journey.hop.retracted"]
    assert sorted(withdrawn) == [b, c]
    # an operator confirms another link to the hall track: both hops come back (once each), announced again
    with engine.begin() as conn:
        rejoin = repo.insert_link(conn, a, b, 0.9, "candidate", {})
    Journeys(engine, settings).confirm_link(rejoin, "bob", "same coat after all")
    view = forensic.follow_view(engine, settings, int(follow["follow"]))
    assert [t["sighting_id"] for t in view["timeline"]] == [a, b, c] and view["retracted"] == []
    with engine.connect() as conn:
        assert [int(h.sighting_id) for h in repo.hops(conn, int(follow["follow"]))] == [a, b, c]
    events = [e.payload["event"] for e in outbox.read_after(engine, 0, topics=["journey"])]
    assert events.count("journey.followed") == 5 and events.count("journey.hop.retracted") == 2


def test_followed_subject_keeps_being_followed_where_the_face_is_not_visible(
    tmp_path: Path, shared_data: Path, db_url: str,
) -> None:
    # the footage is from earlier today: let alerts wait for their sightings as long as needed
    settings = _settings(tmp_path, identity_mode="keep-embeddings", linking={"alert_wait_s": 1e9},
                         database_url=db_url)
    engine, store = _store(settings)
    sink = ListSink()
    manager = AlertManager(engine, sinks=[sink], confirmations=1)
    service = LinkerService(engine, settings, manager)
    face = RNG.normal(size=128).astype(np.float32)
    subject = _subject(settings, engine, shared_data)
    # the alert fires while the track is still on camera: its sighting is written when the track ends
    manager.raise_alert(Alert(subject_id=subject, subject_name="wanted", kind="face", score=0.9, camera="gate",
                              track_id=7, timestamp=(T0 + timedelta(seconds=5)).timestamp(), frame_index=50))
    service.step()
    with engine.connect() as conn:
        assert repo.active_follows(conn) == []
    (a,) = store.write([_sighting("gate", 7, 0, 10, face=face)])
    service.step()
    with engine.connect() as conn:
        (follow,) = repo.active_follows(conn)
    assert follow.alert_id is not None and follow.reason.startswith("alert")
    # the subject walks on: no face at the hall (seen from behind), then the yard
    b, c = store.write([_sighting("hall", 2, 20, 30), _sighting("yard", 5, 42, 55)])
    service.step()
    with engine.connect() as conn:
        hops = repo.hops(conn, int(follow.id))
    assert [h.camera for h in hops] == ["gate", "hall", "yard"]
    assert [int(h.sighting_id) for h in hops] == [a, b, c]
    delivered = [m for m in sink.messages if m.get("event") == "journey.followed"]
    assert [m["hop"]["camera"] for m in delivered] == ["gate", "hall", "yard"]
    hall = delivered[1]["hop"]
    assert hall["score"] >= settings.linking.link_at and "face" not in hall["evidence"]["cues"]
    assert delivered[2]["predicted_next"] == [] and delivered[1]["predicted_next"][0]["camera"] == "yard"
    view = forensic.follow_view(engine, settings, int(follow.id))
    assert view["last_known"]["camera"] == "yard"


def test_an_anonymous_journey_exposes_no_name_and_queries_are_audited(tmp_path: Path, shared_data: Path) -> None:
    settings = _settings(tmp_path)
    app = create_app(settings)
    engine = app.state.watchnet.engine
    Recorder(engine).upsert_cameras(settings.cameras)
    store = SightingStore(engine, settings)
    a, b = store.write([_sighting("gate", 1, 0, 10), _sighting("hall", 2, 20, 30)])
    LinkerService(engine, settings).step()
    accounts.create_user(engine, "op", "a long enough password", "operator")
    with TestClient(app) as client:
        assert client.post("/api/auth/login", json={"username": "op", "password": "a long enough password"}
                           ).status_code == 200
        reply = client.get(f"/api/journeys/of-sighting/{b}", params={"reason": "case 17 review"})
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["name"] is None and body["confirmed_alerts"] == []
        assert [t["sighting_id"] for t in body["trail"]] == [a, b] and body["last_known"]["camera"] == "hall"
        assert "subject" not in reply.text and "wanted" not in reply.text
        assert client.get(f"/api/journeys/of-sighting/{b}").status_code == 422  # no reason, no query
        with client.websocket_connect("/api/journeys/ws") as live:
            started = client.post("/api/journeys/follows", json={"sighting_id": b, "reason": "left a bag behind"})
            assert started.status_code == 201, started.text
            hop = live.receive_json()  # the timeline starts at the followed sighting: the hall
        assert hop["type"] == "follow" and hop["hop"]["camera"] == "hall" and hop["hop"]["sighting_id"] == b
        assert hop["hop"]["score"] is None and "name" not in hop and "alert" not in hop  # the origin: no link
        follows = client.get("/api/journeys/follows").json()["items"]
        assert follows[0]["last_known"]["camera"] == "hall" and follows[0]["predicted_next"][0]["camera"] == "yard"
    log = "".join(export_lines(engine))
    assert "journey.query" in log and "case 17 review" in log and "journey.follow" in log
    # a confirmed watchlist match on one of its tracks is what names a journey
    manager = AlertManager(engine, confirmations=1)
    subject = _subject(settings, engine, shared_data)
    alert = manager.raise_alert(Alert(subject_id=subject, subject_name="wanted", kind="face", score=0.9, camera="gate",
                                      track_id=1, timestamp=(T0 + timedelta(seconds=5)).timestamp(), frame_index=5))
    assert alert.id is not None
    unnamed = forensic.journey(engine, settings, actor="op", reason="check", sighting_id=a)
    assert unnamed["name"] is None  # raised but not confirmed yet
    manager.confirm(alert.id, "op")
    named = forensic.journey(engine, settings, actor="op", reason="check", sighting_id=a)
    assert named["name"] == "wanted"


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WATCHNET_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "watchnet", "journeys", *args], env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_cli_shows_a_journey_and_exports_it_in_the_ai_city_format(tmp_path: Path) -> None:
    settings = Settings.load(home=tmp_path / "home")  # no topology declared: every camera may lead anywhere
    engine = open_store(settings)
    recorder = Recorder(engine)
    recorder.upsert_cameras([CameraConfig(name="gate", url="x"), CameraConfig(name="hall", url="x")])
    run = recorder.start_run({})
    tracks = []
    for camera, track_id, start in (("gate", 1, 0.0), ("hall", 2, 20.0)):
        t0 = T0.timestamp() + start
        path = [(f, 100.0 + f, 200.0, 40.0, 100.0) for f in range(0, 50, 5)]
        tracks.append(Track(camera, track_id, "person", 0, 45, t0, t0 + 4.5, path=path))
    recorder.write(tracks, [], run)
    store = SightingStore(engine, settings)
    _a, b = store.write([_sighting("gate", 1, 0, 4.5), _sighting("hall", 2, 20, 24.5)], run_id=run)
    home = tmp_path / "home"
    linked = _cli("link", home=home)
    assert linked.returncode == 0, linked.stderr
    # no topology declared: the gap is not held against the pair, the look decides (here an automatic link)
    with engine.connect() as conn:
        (candidate,) = repo.links_touching(conn, [b], ["candidate", "auto"])
    confirmed = _cli("confirm", str(candidate.id), "--by", "alice", home=home)
    assert confirmed.returncode == 0, confirmed.stderr
    shown = _cli("show", "--sighting", str(b), "--by", "alice", "--reason", "case 4", home=home)
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert [t["camera"] for t in body["trail"]] == ["gate", "hall"] and body["name"] is None
    out = tmp_path / "mtmc.txt"
    exported = _cli("export", "-o", str(out), "--min-cameras", "2", home=home)
    assert exported.returncode == 0, exported.stderr
    rows = [line.split() for line in out.read_text().splitlines()]
    assert len(rows) == 2 * 46  # 10 stored boxes per track, the 36 frames between them interpolated
    assert {r[0] for r in rows} == {"1", "2"} and len({r[1] for r in rows}) == 1  # one global id
    first = rows[0]
    assert first[:7] == ["1", first[1], "0", "80", "150", "40", "100"] and first[7:] == ["-1", "-1"]
    # with a ground mapping for the gate camera, each box's foot point goes on the map as xworld, yworld
    from watchnet.services.linking import aicity
    from watchnet.services.linking.topology import Topology

    corners = [((0, 0), (48.15, 17.10)), ((1000, 0), (48.15, 17.11)), ((1000, 1000), (48.14, 17.11)),
               ((0, 1000), (48.14, 17.10))]
    gate = CameraConfig(name="gate", url="x", ground=[{"image": i, "map": m} for i, m in corners])
    mapped, _ids = aicity.rows(engine, min_cameras=2, topology=Topology.from_cameras([gate], settings.linking))
    (lon, lat) = mapped[0][7:]
    assert (lat, lon) == pytest.approx((48.15 - 0.01 * 250 / 1000, 17.10 + 0.01 * 100 / 1000), abs=2e-6)
    hall = next(r for r in mapped if r[0] == 2)
    assert hall[7:] == (-1, -1)  # the hall camera has no mapping (nor a position)
    missing = _cli("show", "--sighting", "999", "--by", "alice", "--reason", "case 4", home=home)
    assert missing.returncode == 2 and "not in any journey" in missing.stderr and "Traceback" not in missing.stderr


def test_retention_purges_journeys_links_and_follows_with_their_sightings(tmp_path: Path) -> None:
    from watchnet.store.retention import purge
    from watchnet.store.tables import load_all_tables

    settings = _settings(tmp_path)
    engine, store = _store(settings)
    service = LinkerService(engine, settings)
    _a, b = store.write([_sighting("gate", 1, 0, 10), _sighting("hall", 2, 20, 30)])
    service.step()
    service.desk.start(b, "alice", "left a bag")
    report = purge(engine, settings, now=T0 + timedelta(days=settings.retention_days + 1))
    assert report.rows["journeys"] == 1 and report.rows["follows"] == 1 and report.rows["sightings"] == 2
    tables = load_all_tables().tables
    with engine.connect() as conn:
        for name in ("journeys", "journey_members", "journey_links", "follows", "follow_hops"):
            assert conn.execute(sa.select(sa.func.count()).select_from(tables[name])).scalar_one() == 0, name


@pytest.mark.slow
def test_watchnet_run_links_real_tracks_across_two_region_cameras(shared_data: Path, tmp_path: Path) -> None:
    """PETS S2.L1 cut into a west and an east camera (20 s): the linker inside `watchnet run` joins
    people walking from one view into the other, and only with a feasible gap."""
    video = shared_data / "tracking" / "pets09_s2l1" / "pets09_s2l1_view001_480x360_10fps.avi"
    for name, crop in (("west", "320:360:0:0"), ("east", "160:360:320:0")):
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(video), "-an", "-fps_mode", "passthrough",
                        "-frames:v", "200", "-vf", f"crop={crop}", "-c:v", "libx264", "-preset", "veryfast",
                        str(tmp_path / f"{name}.mp4")], check=True, timeout=120)
    def ground(x0: int, width: int) -> str:
        """Both halves on one plane: the view's pixels at 5 cm each (what a 4-point survey would give)."""
        spots = [(x, y) for x, y in ((0, 0), (width, 0), (width, 360), (0, 360))]
        return ", ".join(f"{{image: [{x}, {y}], map: [{48.15 - y * 0.05 / 111_195:.8f}, "
                         f"{17.1 + (x0 + x) * 0.05 / 74_190:.8f}]}}" for x, y in spots)

    config = tmp_path / "cameras.yaml"
    config.write_text(
        "cameras:\n"
        f"  - {{name: west, url: {tmp_path / 'west.mp4'}, lat: 48.15, lon: 17.1,"
        f" neighbours: [{{to: east, min_s: 0, max_s: 10}}], ground: [{ground(0, 320)}]}}\n"
        f"  - {{name: east, url: {tmp_path / 'east.mp4'}, lat: 48.15, lon: 17.1001,"
        f" neighbours: [{{to: west, min_s: 0, max_s: 10}}], ground: [{ground(320, 160)}]}}\n"
        "linking: {view_radius_m: 5}\n", encoding="utf-8")
    home = tmp_path / "home"
    env = {**os.environ, "WATCHNET_HOME": str(home)}
    ran = subprocess.run([sys.executable, "-m", "watchnet", "run", str(config)], env=env, capture_output=True,
                         text=True, timeout=600)
    assert ran.returncode == 0, ran.stderr[-2000:]
    settings = Settings.load(config, home=home)
    engine = open_store(settings)
    with engine.connect() as conn:
        infos = {i.id: i for i in repo.new_sightings(conn, 0, 10_000)}
        links = repo.links_touching(conn, list(infos), ["auto"])
    assert len(infos) >= 10
    crossing = [lk for lk in links if infos[lk.src_id].camera != infos[lk.dst_id].camera]
    assert crossing, "nobody was followed from one camera into the other"
    for lk in crossing:
        gap = (infos[lk.dst_id].first_seen - infos[lk.src_id].last_seen).total_seconds()
        assert -settings.linking.overlap_slack_s <= gap <= settings.linking.window_s
        assert lk.score >= settings.linking.link_at
    # every track stored how it came in and left; across the mapped halves the walk was carried over
    assert all(i.entry is not None and i.exit is not None and i.entry.height > 10 for i in infos.values())
    carried = [lk for lk in crossing if "continuity" in lk.evidence["cues"]]
    assert carried and all(lk.evidence["continuity_error"] < 2 for lk in carried)
    view = forensic.journey(engine, settings, actor="t", reason="test", sighting_id=int(crossing[0].dst_id))
    assert view["cameras"] == ["east", "west"] and view["name"] is None
