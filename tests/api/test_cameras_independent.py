"""Cameras are independent in the console: a dead or hanging stream shows its own state and error, and
adding, changing or removing a camera through the API touches that camera alone.

Real pieces: the pipeline supervisor with the real detector, a looping video-file camera (a 3 s cut of
the PETS video, so it loops within the test), a real RTSP camera (tests/rtsp_server.py: ffmpeg
publishing PETS), a closed port (refused: reconnecting with back-off) and a port that accepts and never
answers (the camera hangs in connect until its open timeout).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests import waiting
from tests.api.conftest import PASSWORD, add_users, free_port, login, make_settings
from tests.integration.test_camera_lifecycle import closed_port, silent_server
from tests.rtsp_server import RtspServer, rtsp_server  # noqa: F401  (the fixture)
from tests.waiting import pets_clip
from watchnet.api.app import create_app
from watchnet.runtime.in_process import PipelineHooks, PipelineSupervisor
from watchnet.services import accounts
from watchnet.store.db import open_store
from watchnet.store.queries import count_tracks, list_events, list_runs

pytestmark = pytest.mark.slow

WAIT_S = 90.0


def _threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"cam-{name}" and t.is_alive()]


def _until(check: Callable[[], Any], what: str, timeout: float = WAIT_S, during: Callable[[], None] | None = None,
           ) -> None:
    waiting.until(check, what, timeout, during)


@pytest.fixture()
def clip(shared_data: Path, tmp_path: Path) -> Path:
    return pets_clip(shared_data, tmp_path / "clip.mp4")


@pytest.fixture()
def console(tmp_path: Path, clip: Path, rtsp_server: Callable[..., RtspServer],  # noqa: F811
            ) -> Iterator[tuple[FastAPI, PipelineSupervisor]]:
    stream = rtsp_server()
    with silent_server() as silent:
        settings = make_settings(
            tmp_path / "home",
            stream={"reconnect_initial_s": 0.2, "reconnect_max_s": 1.0, "open_timeout_s": 3, "read_timeout_s": 3,
                    "loop_pause_s": 0.2},
            cameras=[{"name": "demo", "url": str(clip)}, {"name": "rtsp", "url": stream.url},
                     {"name": "dead", "url": f"rtsp://127.0.0.1:{closed_port()}/x"},
                     {"name": "stuck", "url": f"rtsp://127.0.0.1:{silent}/x"}])
        app = create_app(settings)
        add_users(app)
        state = app.state.watchnet
        supervisor = PipelineSupervisor(settings, state.engine, state.live, PipelineHooks(), loop=True)
        state.camera_status, state.detector_stats = supervisor.status, supervisor.detector_stats
        state.on_cameras_changed = supervisor.reload
        supervisor.start()
        try:
            yield app, supervisor
        finally:
            supervisor.stop()
            state.engine.dispose()


def test_dead_cameras_beside_good_ones_and_changes_touch_one_camera(
    console: tuple[FastAPI, PipelineSupervisor], clip: Path,
) -> None:
    app, supervisor = console
    admin = login(TestClient(app), "admin")

    def cameras() -> dict[str, dict]:
        return {c["name"]: c["status"] for c in admin.get("/api/cameras").json()}

    _until(lambda: cameras().get("demo", {}).get("frames", 0) > 0 and cameras()["rtsp"]["state"] == "running",
           "the good cameras to run")
    _until(lambda: cameras()["dead"]["state"] == "unreachable", "the dead camera to show unreachable")
    now = cameras()
    assert "cannot connect" in now["dead"]["error"] and now["dead"]["frames"] == 0
    assert now["stuck"]["state"] in ("connecting", "unreachable") and now["stuck"]["frames"] == 0
    _until(lambda: "timed out" in (cameras()["stuck"]["error"] or ""), "the hanging camera's open to time out")
    assert cameras()["stuck"]["state"] in ("connecting", "unreachable")

    # the demo file loops, though two cameras never end
    _until(lambda: cameras()["demo"]["loops"] >= 1, "the demo camera to loop")
    assert cameras()["dead"]["reconnects"] >= 1 and cameras()["dead"]["state"] == "unreachable"

    run_id, restarts = supervisor.run_id(), supervisor.restarts
    [demo_thread], [rtsp_thread] = _threads("demo"), _threads("rtsp")
    demo_frames = supervisor.status()["demo"]["frames"]

    created = admin.post("/api/cameras", json={"name": "second", "url": str(clip)})
    assert created.status_code == 201
    _until(lambda: cameras().get("second", {}).get("frames", 0) > 0, "the added camera to run")
    changed = admin.put("/api/cameras/dead", json={"url": str(clip)})  # the dead camera gets a working URL
    assert changed.status_code == 200
    _until(lambda: cameras()["dead"]["frames"] > 0 and cameras()["dead"]["error"] is None, "the changed camera")
    assert admin.delete("/api/cameras/stuck", params={"purge": True}).status_code == 204
    assert admin.delete("/api/cameras/second", params={"purge": True}).status_code == 204
    _until(lambda: not ({"stuck", "second"} & set(cameras())), "the removed cameras to go")
    _until(lambda: not _threads("stuck") and not _threads("second"), "the removed cameras' threads to end")

    # the cameras nobody touched kept their threads, their run and their counts: nothing restarted
    assert _threads("demo") == [demo_thread] and _threads("rtsp") == [rtsp_thread]
    assert supervisor.run_id() == run_id and supervisor.restarts == restarts
    assert supervisor.status()["demo"]["frames"] > demo_frames
    assert len(list_runs(app.state.watchnet.engine)) == 1
    _until(lambda: any(e.camera == "demo" for e in list_events(app.state.watchnet.engine, kind="appeared")),
           "the demo camera's tracks to be stored")
    appeared = Counter((e.camera, e.track_id) for e in list_events(app.state.watchnet.engine, kind="appeared",
                                                                    limit=10_000))
    assert appeared and max(appeared.values()) == 1  # no track was started twice (no replay after a change)


def test_serve_started_without_cameras_runs_one_added_through_the_api(tmp_path: Path, clip: Path) -> None:
    """`watchnet serve` with no camera yet: a camera added through the API runs at once, and one SIGINT
    stops the console with that camera's tracks stored."""
    home, port = tmp_path / "home", free_port()
    settings = make_settings(home)
    engine = open_store(settings)
    accounts.create_user(engine, "admin", PASSWORD, "admin")
    engine.dispose()
    env = {**os.environ, "WATCHNET_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "watchnet", "serve", "--port", str(port)], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        _until(lambda: _answers(base), "the console to answer")
        with httpx.Client(base_url=base, timeout=30) as client:
            assert client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD}).status_code == 200
            assert client.get("/api/cameras").json() == []
            assert client.post("/api/cameras", json={"name": "late", "url": str(clip)}).status_code == 201
            _until(lambda: client.get("/api/cameras/late").json()["status"]["frames"] > 0, "the added camera to run")
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    engine = open_store(settings)
    try:
        assert count_tracks(engine, camera="late") > 0
        assert all(run.ended_at is not None for run in list_runs(engine))
    finally:
        engine.dispose()


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/api/auth/me", timeout=2).status_code in (200, 401)
    except httpx.TransportError:
        return False
