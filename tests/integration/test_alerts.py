"""AlertManager on both real databases: record, deliver (bus + webhook), decide, keep the history."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from watchnet.core.config import Settings, WebhookConfig
from watchnet.core.records import Alert, AlertState
from watchnet.services.alerts import AlertDecisionError, AlertManager
from watchnet.services.bus import AlertBus
from watchnet.services.container import build_services
from watchnet.services.sinks.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    RetryPolicy,
    WebhookSink,
    verify_signature,
)
from watchnet.services.watchlist import read_photo_file
from watchnet.store import audit
from watchnet.store.db import make_engine, migrate
from watchnet.store.vectors import GalleryIndex
from watchnet.vision.analysis.faces import FaceAnalyzer

WAIT_S = 20.0
SECRET = "alerts-test-secret-0123456789"


@pytest.fixture(scope="module")
def analyzer(tmp_path_factory: pytest.TempPathFactory) -> FaceAnalyzer:
    return FaceAnalyzer(Settings.load(home=tmp_path_factory.mktemp("models-home")))


@pytest.fixture()
def engine(db_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(db_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture()
def subject_id(settings: Settings, engine: sa.Engine, analyzer: FaceAnalyzer, shared_data: Path) -> int:
    photo = shared_data / "faces" / "face_recognition" / "obama_small.jpg"
    watchlist = build_services(settings, engine, faces=analyzer).watchlist
    return watchlist.enrol("Test Subject", [read_photo_file(photo)], by="admin").id


def _alert(subject_id: int, track_id: int = 5) -> Alert:
    return Alert(subject_id=subject_id, subject_name="Test Subject", kind="face", score=0.951, camera="gate",
                 track_id=track_id, timestamp=1_760_000_000.25, frame_index=88, xyxy=(10, 20, 110, 220),
                 lat=48.85, lon=2.35)


def test_two_different_users_must_confirm_and_every_decision_is_kept(engine: sa.Engine, subject_id: int) -> None:
    manager = AlertManager(engine)
    alert = manager.raise_alert(_alert(subject_id))
    assert alert.id is not None and manager.raise_alert(alert) is alert  # recorded once
    first = manager.confirm(alert.id, "alice", note="looks like him")
    assert first.alert.state is AlertState.NEW and first.confirmed_by == ["alice"]
    with pytest.raises(AlertDecisionError, match=r"alice has already confirmed alert \d+; a different user"):
        manager.confirm(alert.id, "alice")
    second = manager.confirm(alert.id, "bob")
    assert second.alert.state is AlertState.CONFIRMED and second.confirmed_by == ["alice", "bob"]
    with pytest.raises(AlertDecisionError, match="is confirmed; only a new alert can be confirmed"):
        manager.confirm(alert.id, "carol")
    closed = manager.close(alert.id, "carol")
    assert closed.alert.state is AlertState.CLOSED
    with pytest.raises(AlertDecisionError, match="already closed; it cannot be dismissed"):
        manager.dismiss(alert.id, "dave")

    info = manager.get(alert.id)
    assert [(d.action, d.actor, d.from_state, d.to_state) for d in info.decisions] == [
        ("confirm", "alice", "new", "new"), ("confirm", "bob", "new", "confirmed"),
        ("close", "carol", "confirmed", "closed")]
    assert info.decisions[0].note == "looks like him" and info.decisions[0].at.tzinfo is not None
    assert (info.alert.camera, info.alert.lat, info.alert.lon, info.alert.frame_index) == ("gate", 48.85, 2.35, 88)
    assert info.alert.xyxy == (10, 20, 110, 220) and info.alert.timestamp == pytest.approx(1_760_000_000.25)
    assert json.dumps(info.as_dict())  # what the API returns is plain JSON
    actions = [(e.actor, e.action) for e in reversed(audit.list_entries(engine, limit=10))]
    assert actions[-3:] == [("alice", "alert.confirm"), ("bob", "alert.confirm"), ("carol", "alert.close")]


def test_invalid_decisions_are_refused_clearly(engine: sa.Engine, subject_id: int) -> None:
    manager = AlertManager(engine)
    alert = manager.raise_alert(_alert(subject_id))
    assert alert.id is not None
    with pytest.raises(AlertDecisionError, match=r"is new; only a confirmed alert can be closed \(confirm it by 2"):
        manager.close(alert.id, "alice")
    with pytest.raises(AlertDecisionError, match="raised without faces"):
        manager.dismiss(alert.id, "alice", add_negative=True)
    with pytest.raises(Exception, match="say who decides"):
        manager.confirm(alert.id, "  ")
    with pytest.raises(Exception, match="no alert with id 999999"):
        manager.confirm(999999, "alice")
    dismissed = manager.dismiss(alert.id, "alice")
    assert dismissed.alert.state is AlertState.DISMISSED
    with pytest.raises(AlertDecisionError, match="is dismissed; only a new alert can be confirmed"):
        manager.confirm(alert.id, "bob")
    with pytest.raises(Exception, match="unknown alert state"):
        manager.list_alerts(state="maybe")


def test_dismissal_with_negative_stores_the_faces_and_clears_them_from_the_alert(
    engine: sa.Engine, subject_id: int, settings: Settings,
) -> None:
    index = GalleryIndex(engine, settings.faces.embedder, reload_s=3600)
    manager = AlertManager(engine, on_negative=lambda _sid: index.reload())
    before = index.version
    with engine.connect() as conn:  # the configured embedder's size (128 for dlib-resnet, 256 fused)
        dim = int(conn.execute(sa.text("SELECT dim FROM subject_photos")).scalars().first())
    faces = np.random.default_rng(1).normal(size=(3, dim)).astype(np.float32)
    alert = manager.raise_alert(_alert(subject_id), embeddings=faces, model=settings.faces.embedder)
    assert alert.id is not None
    info = manager.dismiss(alert.id, "alice", add_negative=True, note="a look-alike")
    assert info.alert.state is AlertState.DISMISSED
    assert index.version > before  # reloaded at once by the hook
    with engine.connect() as conn:
        negatives = conn.execute(sa.text("SELECT source, dim, added_by FROM subject_negatives")).all()
        stored = conn.execute(sa.text("SELECT embeddings FROM alerts WHERE id = :i"), {"i": alert.id}).scalar()
    assert [tuple(n) for n in negatives] == [(f"alert:{alert.id}", dim, "alice")] * 3
    assert stored is None
    [scores] = index.compare(faces[:1])
    assert scores.negative[0] == pytest.approx(1.0, abs=1e-5)


def test_list_filters_and_orders_newest_first(engine: sa.Engine, subject_id: int) -> None:
    manager = AlertManager(engine)
    ids = []
    for k in range(3):
        alert = _alert(subject_id, track_id=k)
        alert.timestamp += k
        alert.camera = "gate" if k < 2 else "lobby"
        ids.append(manager.raise_alert(alert).id)
    manager.dismiss(ids[0], "alice")
    assert [a.alert.id for a in manager.list_alerts()] == ids[::-1]
    assert [a.alert.id for a in manager.list_alerts(state="new")] == [ids[2], ids[1]]
    assert [a.alert.id for a in manager.list_alerts(camera="lobby")] == [ids[2]]
    assert [a.alert.id for a in manager.list_alerts(limit=1, offset=1)] == [ids[1]]
    assert [d.action for d in manager.list_alerts(state=AlertState.DISMISSED)[0].decisions] == ["dismiss"]


def test_raise_reaches_bus_subscribers_and_a_signed_webhook(engine: sa.Engine, subject_id: int) -> None:
    got: list[tuple[bytes, dict[str, str]]] = []
    arrived = threading.Condition()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with arrived:
                got.append((body, dict(self.headers.items())))
                arrived.notify_all()
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
    bus = AlertBus()
    manager = AlertManager(engine, bus, [WebhookSink(WebhookConfig(url=url, secret=SECRET), RetryPolicy(3, 0.05))])

    async def listen() -> list[Alert]:
        received: list[Alert] = []
        async with bus.subscribe() as alerts:
            raised = await asyncio.to_thread(manager.raise_alert, _alert(subject_id))  # a camera thread
            assert raised.id is not None
            await asyncio.to_thread(manager.confirm, raised.id, "alice")
            async for alert in alerts:
                received.append(alert)
                if len(received) == 2:
                    break
        return received

    try:
        received = asyncio.run(asyncio.wait_for(listen(), WAIT_S))
        with arrived:
            assert arrived.wait_for(lambda: len(got) >= 2, WAIT_S)
    finally:
        manager.shutdown(WAIT_S)
        server.shutdown()
        server.server_close()
    assert [a.subject_name for a in received] == ["Test Subject"] * 2 and received[0].id == received[1].id
    assert bus.subscribers == 0
    events = []
    for body, headers in got:
        assert verify_signature(SECRET, body, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER])
        events.append(json.loads(body)["event"])
    assert events == ["alert.raised", "alert.updated"]
    assert json.loads(got[1][0])["decision"] == {"action": "confirm", "actor": "alice", "state": "new", "note": ""}


def test_a_slow_subscriber_loses_its_oldest_alerts_not_the_publisher() -> None:
    bus = AlertBus(queue_size=2)

    async def overflow() -> tuple[list[int], int]:
        sub = bus.subscribe()
        for k in range(5):
            bus.publish(Alert(subject_id=1, subject_name="x", kind="face", score=1.0, camera="c", track_id=k,
                              timestamp=0.0, frame_index=k))
        await asyncio.sleep(0)  # let the scheduled puts run
        kept = [(await sub.__anext__()).track_id for _ in range(2)]
        sub.close()
        return kept, sub.dropped

    kept, dropped = asyncio.run(asyncio.wait_for(overflow(), WAIT_S))
    assert kept == [3, 4] and dropped == 3 and bus.subscribers == 0


class _Collect:
    """A sink that keeps what it is given (the contract every sink implements), to read the events back."""

    name = "collect"

    def __init__(self) -> None:
        self.messages: list[dict] = []

    def deliver(self, payload: dict) -> None:
        self.messages.append(payload)

    def close(self, timeout: float = 10.0) -> None:
        pass


def test_repeated_matches_on_one_camera_update_one_alert(
    engine: sa.Engine, subject_id: int, settings: Settings,
) -> None:
    sink = _Collect()
    manager = AlertManager(engine, sinks=[sink], group_window_s=settings.alerts.group_window_s)
    assert settings.alerts.group_window_s == 600  # ten minutes unless configured
    faces = np.random.default_rng(2).normal(size=(6, 128)).astype(np.float32)
    raised = []
    for k, (dt, score) in enumerate([(0, 0.93), (60, 0.97), (180, 0.94)]):  # three tracks within minutes
        alert = _alert(subject_id, track_id=10 + k)
        alert.timestamp += dt
        alert.score, alert.crop_path = score, f"/evidence/{k}.jpg"
        raised.append(manager.raise_alert(alert, embeddings=faces[2 * k : 2 * k + 2], model=settings.faces.embedder))
    assert len({a.id for a in raised}) == 1
    assert [a.track_id for a in raised] == [10, 11, 12]  # each keeps its own track (the live view names it)
    assert raised[-1].matches == 3 and raised[-1].track_ids == (10, 11, 12)
    [stored] = manager.list_alerts()
    group = stored.alert
    assert (group.matches, group.track_ids) == (3, (10, 11, 12))
    assert group.timestamp == pytest.approx(raised[0].timestamp)  # first seen
    assert group.last_seen == pytest.approx(raised[0].timestamp + 180)  # last seen
    assert (group.score, group.crop_path, group.track_id) == (pytest.approx(0.97), "/evidence/1.jpg", 11)  # best
    assert [m["event"] for m in sink.messages] == ["alert.raised", "alert.updated", "alert.updated"]
    assert sink.messages[-1]["alert"]["matches"] == 3 and sink.messages[-1]["alert"]["track_ids"] == [10, 11, 12]
    with engine.connect() as conn:
        blob = conn.execute(sa.text("SELECT embeddings FROM alerts WHERE id = :i"), {"i": group.id}).scalar()
    assert blob is not None and len(blob) == 6 * 128 * 4  # every track's faces, for a dismissal to turn into negatives

    # A match on another camera, one after the window, one after a dismissal: new alerts each.
    lobby = _alert(subject_id, track_id=20)
    lobby.camera = "lobby"
    assert manager.raise_alert(lobby).id != group.id
    late = _alert(subject_id, track_id=21)
    late.timestamp += 180 + 601
    late_id = manager.raise_alert(late).id
    assert late_id not in (group.id, lobby.id)
    assert late_id is not None
    manager.dismiss(late_id, "alice")
    again = _alert(subject_id, track_id=22)
    again.timestamp += 180 + 700
    assert manager.raise_alert(again).id not in (group.id, lobby.id, late_id)
    assert len(manager.list_alerts()) == 4
