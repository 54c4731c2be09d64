"""One event log for every process: an alert raised in another process reaches a console's WebSocket
client; a console that was down catches up from the last id it gave, exactly once; each sink gets each
event once however many consoles dispatch.

Real pieces: PostgreSQL (tests/postgres.py) with LISTEN/NOTIFY, real ``watchnet serve`` processes, alerts
raised by the real ``AlertManager`` in separate Python processes (as a camera worker raises them), a real
WebSocket client, SQLite for the dispatcher test's second backend.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from websockets.sync.client import ClientConnection, connect

from tests.api.conftest import PASSWORD, free_port, make_settings
from watchnet.core.records import Alert
from watchnet.services import accounts
from watchnet.services.alerts import AlertManager
from watchnet.services.container import build_services
from watchnet.services.dispatch import SinkDispatcher
from watchnet.store import outbox
from watchnet.store.db import make_engine, migrate, open_store

RAISE = """
import sys
from watchnet.services.alerts import AlertManager
from watchnet.core.records import Alert
from watchnet.store.db import make_engine
engine = make_engine(sys.argv[1])
alert = AlertManager(engine).raise_alert(Alert(subject_id=int(sys.argv[2]), subject_name="ABC123", kind="plate",
    score=0.93, camera=sys.argv[3], track_id=int(sys.argv[4]), timestamp=1_760_000_000.0, frame_index=7))
print(alert.id)
engine.dispose()
"""


def raise_in_other_process(db_url: str, subject_id: int, camera: str, track_id: int) -> int:
    done = subprocess.run([sys.executable, "-c", RAISE, db_url, str(subject_id), camera, str(track_id)],
                          capture_output=True, text=True, timeout=120, check=True)
    return int(done.stdout.strip().splitlines()[-1])


def until(check: Callable[[], object], what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


class Console:
    """A ``watchnet serve --no-pipeline`` process on the test's database."""

    def __init__(self, home: Path, db_url: str) -> None:
        self.port = free_port()
        env = {**os.environ, "WATCHNET_HOME": str(home), "WATCHNET_DATABASE_URL": db_url}
        self.proc = subprocess.Popen([sys.executable, "-m", "watchnet", "serve", "--no-pipeline", "--port",
                                      str(self.port)], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        base = f"http://127.0.0.1:{self.port}"
        until(lambda: self.proc.poll() is not None or _answers(base), "the console to answer")
        assert self.proc.poll() is None, self.proc.communicate()[1][-3000:]
        login = httpx.post(f"{base}/api/auth/login", json={"username": "admin", "password": PASSWORD}, timeout=30)
        assert login.status_code == 200
        self.token = login.cookies["watchnet_session"]

    def ws(self, after: int | None = None) -> ClientConnection:
        query = f"?after={after}" if after is not None else ""
        return connect(f"ws://127.0.0.1:{self.port}/api/eventlog/ws{query}",
                       additional_headers={"Cookie": f"watchnet_session={self.token}"}, open_timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.communicate()


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/api/health", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def receive(ws: ClientConnection) -> dict[str, Any]:
    message = json.loads(ws.recv(timeout=60))
    assert message["type"] == "alert"
    return message


@pytest.fixture()
def subject(tmp_path: Path, pg_url: str) -> Iterator[tuple[Path, int]]:
    """A console home on the PostgreSQL database, an admin, and a hotlisted plate (the alerts' subject)."""
    home = tmp_path / "home"
    settings = make_settings(home, pg_url)
    engine = open_store(settings)
    accounts.create_user(engine, "admin", PASSWORD, "admin")
    subject_id = build_services(settings, engine).watchlist.add_plate("ABC123", by="admin").id
    engine.dispose()
    yield home, subject_id


@pytest.mark.postgres
def test_worker_alert_reaches_another_console_and_a_restarted_console_catches_up_once(
    subject: tuple[Path, int], pg_url: str,
) -> None:
    home, subject_id = subject
    console = Console(home, pg_url)
    try:
        with console.ws() as ws:
            first = raise_in_other_process(pg_url, subject_id, "gate", 1)
            got = receive(ws)
            assert got["alert"]["id"] == first and got["alert"]["camera"]["name"] == "gate"
            last_seen = got["event_id"]
    finally:
        console.stop()

    missed = [raise_in_other_process(pg_url, subject_id, cam, 2) for cam in ("hall", "yard")]  # console down
    console = Console(home, pg_url)
    try:
        with console.ws(after=last_seen) as ws:
            caught = [receive(ws), receive(ws)]
            assert [m["alert"]["id"] for m in caught] == missed
            assert caught[0]["event_id"] > last_seen and caught[1]["event_id"] > caught[0]["event_id"]
            live = raise_in_other_process(pg_url, subject_id, "dock", 3)
            after = receive(ws)  # the next message is the new alert: nothing was sent twice in between
            assert after["alert"]["id"] == live and after["event_id"] > caught[1]["event_id"]
    finally:
        console.stop()


class Recording:
    """A sink that keeps what it was handed (the AlertSink protocol)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.got: list[dict[str, Any]] = []

    def deliver(self, payload: dict[str, Any]) -> None:
        self.got.append(payload)

    def close(self, timeout: float = 10.0) -> None:
        return None


def test_each_sink_gets_each_event_once_across_consoles_and_restarts(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    try:
        services = build_services(make_settings(tmp_path / "home", db_url), engine)
        plate = services.watchlist.add_plate("ABC123", by="admin").id
        manager = AlertManager(engine, group_window_s=0.0)
        manager.sinks_from_log = True
        sink_a, sink_b = Recording("hook"), Recording("hook")  # the same sink configured in two consoles
        one, two = SinkDispatcher(engine, [sink_a]), SinkDispatcher(engine, [sink_b])
        raised = [manager.raise_alert(_alert(plate, cam)).id for cam in ("a", "b", "c")]
        handed = one.deliver_pending() + two.deliver_pending() + one.deliver_pending()
        assert handed == 3
        delivered = sink_a.got + sink_b.got
        assert sorted(m["alert"]["id"] for m in delivered) == sorted(r for r in raised if r is not None)
        assert len({m["delivery_id"] for m in delivered}) == 3
        # "down" while two more alerts happen; a new console's dispatcher sends just those
        late = [manager.raise_alert(_alert(plate, cam)).id for cam in ("d", "e")]
        sink_c = Recording("hook")
        three = SinkDispatcher(engine, [sink_c])
        assert three.deliver_pending() == 2 and [m["alert"]["id"] for m in sink_c.got] == late
        assert three.deliver_pending() == 0
        assert outbox.cursor(engine, "hook") == outbox.last_id(engine)
        with engine.connect() as conn:  # the event exists exactly when its alert does
            alerts = conn.execute(sa.text("SELECT count(*) FROM alerts")).scalar_one()
        assert alerts == len(outbox.read_after(engine, 0, topics=["alert"])) == 5
    finally:
        engine.dispose()


def _alert(subject_id: int, camera: str) -> Alert:
    return Alert(subject_id=subject_id, subject_name="ABC123", kind="plate", score=0.9, camera=camera, track_id=1,
                 timestamp=1_760_000_000.0, frame_index=3)
