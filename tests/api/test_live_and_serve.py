"""The pipeline beside the API (``PipelineSupervisor``) on a real video with the real detector: live
JPEG/MJPEG with overlays, blurred for viewers, camera status from the runner, camera CRUD reloading
it, and the stored tracks with thumbnails behind the login."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.conftest import LiveServer, add_users, login, make_settings, start_server, stop_server
from watchnet.api.app import create_app
from watchnet.runtime.in_process import PipelineHooks, PipelineSupervisor

PETS = "tracking/pets09_s2l1/pets09_s2l1_view001_480x360_10fps.avi"
WAIT_S = 120.0


def _until(check: object, what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture()
def running(tmp_path: Path, shared_data: Path) -> Iterator[tuple[FastAPI, PipelineSupervisor]]:
    settings = make_settings(tmp_path / "home", cameras=[
        {"name": "pets", "url": str(shared_data / PETS), "lat": 51.4416, "lon": -0.9419, "live": False}])
    app = create_app(settings)
    add_users(app)
    state = app.state.watchnet
    supervisor = PipelineSupervisor(settings, state.engine, state.live, PipelineHooks(), loop=False, max_frames=150)
    state.camera_status, state.detector_stats = supervisor.status, supervisor.detector_stats
    state.on_cameras_changed = supervisor.reload
    supervisor.start()
    yield app, supervisor
    supervisor.stop()
    state.engine.dispose()


@pytest.mark.slow
def test_live_views_status_and_tracks(running: tuple[FastAPI, PipelineSupervisor]) -> None:
    app, supervisor = running
    live: LiveServer = start_server(app)
    try:
        op = login(TestClient(app), "operator")
        viewer = login(TestClient(app), "viewer")
        _until(lambda: app.state.watchnet.live.seq("pets") is not None, "a first live frame")
        full = op.get("/api/cameras/pets/snapshot.jpg")
        private = viewer.get("/api/cameras/pets/snapshot.jpg")
        assert full.status_code == private.status_code == 200
        assert full.headers["content-type"] == "image/jpeg"
        a = cv2.imdecode(np.frombuffer(full.content, np.uint8), cv2.IMREAD_COLOR)
        b = cv2.imdecode(np.frombuffer(private.content, np.uint8), cv2.IMREAD_COLOR)
        assert a is not None and b is not None and a.shape == b.shape == (360, 480, 3)

        with httpx.Client(base_url=live.url, cookies={"watchnet_session": op.cookies["watchnet_session"]},
                          timeout=20) as client, client.stream("GET", "/api/cameras/pets/live.mjpeg") as stream:
            assert stream.headers["content-type"].startswith("multipart/x-mixed-replace")
            chunk = b""
            for part in stream.iter_bytes():
                chunk += part
                if chunk.count(b"--watchnetframe") >= 2:
                    break
            assert b"Content-Type: image/jpeg" in chunk and b"\xff\xd8" in chunk

        cams = op.get("/api/cameras").json()
        assert cams[0]["name"] == "pets" and cams[0]["status"]["state"] in ("running", "ended")
        assert "url" in cams[0] and cams[0]["url"] is None  # only admins see stream URLs
        _until(lambda: supervisor.status()["pets"]["state"] == "ended", "the 150 frames to be processed")
        assert supervisor.status()["pets"]["frames"] == 150
        page = op.get("/api/tracks", params={"label": "person"}).json()
        assert page["total"] > 3
        with_thumb = next(t for t in page["items"] if t["thumbnail"])
        thumb = op.get(with_thumb["thumbnail"])
        assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
        assert op.get(f"/api/tracks/{with_thumb['id']}").json()["path"]
        stats = viewer.get("/api/stats").json()
        assert stats["per_camera"]["pets"] == stats["per_class"]["person"] + sum(
            v for k, v in stats["per_class"].items() if k != "person")
        assert "watchnet_frames_processed_total" in login(TestClient(app), "auditor").get("/metrics").text
        mapped = viewer.get("/api/map").json()
        assert mapped["mode"] == "canvas" and mapped["cameras"][0]["name"] == "pets"
    finally:
        stop_server(live)


@pytest.mark.slow
def test_camera_crud_reloads_the_pipeline(running: tuple[FastAPI, PipelineSupervisor], shared_data: Path) -> None:
    app, supervisor = running
    admin = login(TestClient(app), "admin")
    restarts = supervisor.restarts
    created = admin.post("/api/cameras", json={"name": "second", "url": str(shared_data / PETS),
                                               "lat": 51.442, "lon": -0.94})
    assert created.status_code == 201 and created.json()["url"].endswith(".avi")
    assert admin.post("/api/cameras", json={"name": "second", "url": "x"}).status_code == 409
    assert admin.post("/api/cameras", json={"name": "bad name!", "url": "x"}).status_code == 422
    _until(lambda: "second" in supervisor.status(), "the new camera")
    assert supervisor.restarts == restarts  # one camera started, the runner was not restarted
    moved = admin.put("/api/cameras/second", json={"url": "rtsp://u:secret@127.0.0.1:1/x", "lat": 1.0, "lon": 2.0})
    assert moved.status_code == 200 and moved.json()["url"] == "rtsp://u:***@127.0.0.1:1/x"
    _until(lambda: supervisor.status().get("second", {}).get("state") in ("connecting", "unreachable"),
           "the changed camera to connect to its new (dead) URL")
    assert admin.delete("/api/cameras/nope").status_code == 404
    assert admin.delete("/api/cameras/second").status_code in (204, 409)
    assert admin.delete("/api/cameras/second", params={"purge": True}).status_code in (204, 404)
    _until(lambda: "second" not in supervisor.status(), "the removed camera to go")
    assert "second" not in [c["name"] for c in admin.get("/api/cameras").json()]
    assert supervisor.restarts == restarts
