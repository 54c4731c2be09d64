"""Viewers see no recognisable face: a real console with the Hamilton clip as a camera (large faces, scene
cuts) and Lin-Manuel Miranda enrolled, so watchlist matches happen. Every picture a viewer can receive
(live snapshots while it plays, MJPEG frames, the last frame after the camera ended) and every picture an
export of an unconfirmed alert or of a search holds is run through the system's own face detector and
quality gate: no face passes it. The pictures viewers may not have (alert crops and frames, track and
sighting thumbnails, exports) are refused to them. The operators' pictures of the same frames do hold
faces that pass, so the check can fail."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.conftest import LiveServer, add_users, login, make_settings, start_server, stop_server
from watchnet.api.app import create_app
from watchnet.api.server import attach_pipeline
from watchnet.runtime.in_process import PipelineSupervisor
from watchnet.services.watchlist import read_photo_file
from watchnet.vision.analysis.faces import FaceAnalyzer

pytestmark = pytest.mark.slow

FACES = "faces/face_recognition"
FRAMES = 100  # close-ups until the cut after frame 19, then wider shots with several people
WAIT_S = 300.0


@dataclass
class Console:
    app: FastAPI
    supervisor: PipelineSupervisor
    faces: FaceAnalyzer


@pytest.fixture()
def console(tmp_path: Path, shared_data: Path) -> Iterator[Console]:
    settings = make_settings(tmp_path / "home", cameras=[
        {"name": "ham", "url": str(shared_data / FACES / "short_hamilton_clip.mp4"), "live": False}])
    app = create_app(settings)
    add_users(app)
    state = app.state.watchnet
    supervisor, flush = attach_pipeline(app, loop=False, max_frames=FRAMES)
    state.services.watchlist.enrol("Lin-Manuel Miranda",
                                   [read_photo_file(shared_data / FACES / "lin-manuel-miranda.png")],
                                   by="admin", reason="test")
    supervisor.start()
    yield Console(app, supervisor, FaceAnalyzer(settings))
    supervisor.stop()
    flush()
    state.engine.dispose()


def _image(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return np.asarray(image)


def _passing(faces: FaceAnalyzer, data: bytes) -> list[tuple[float, ...]]:
    """Boxes of faces in a picture that pass the quality gate for matching."""
    return [f.xyxy for f in faces.detect(_image(data)) if faces.passes_quality(f)]


def _zip(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_no_face_reaches_a_viewer(console: Console) -> None:
    app, supervisor, faces = console.app, console.supervisor, console.faces
    viewer, operator, admin = (login(TestClient(app), role) for role in ("viewer", "operator", "admin"))
    hub = app.state.watchnet.live
    server: LiveServer = start_server(app)
    viewed: list[tuple[str, bytes]] = []
    full: list[bytes] = []
    try:
        deadline = time.monotonic() + WAIT_S
        while hub.seq("ham") is None and time.monotonic() < deadline:
            time.sleep(0.05)
        with httpx.Client(base_url=server.url, cookies={"watchnet_session": viewer.cookies["watchnet_session"]},
                          timeout=30) as client, client.stream("GET", "/api/cameras/ham/live.mjpeg") as stream:
            buffer = b""
            for part in stream.iter_bytes():
                buffer += part
                if buffer.count(b"\xff\xd9") >= 6:
                    break
        for chunk in buffer.split(b"--watchnetframe")[1:]:
            start, end = chunk.find(b"\xff\xd8"), chunk.rfind(b"\xff\xd9")
            if start >= 0 and end > start:
                viewed.append(("mjpeg", chunk[start : end + 2]))
        last = None
        while supervisor.status().get("ham", {}).get("state") != "ended" and time.monotonic() < deadline:
            seq = hub.seq("ham")
            if seq != last:
                last = seq
                viewed.append((f"snapshot {seq}", viewer.get("/api/cameras/ham/snapshot.jpg").content))
                full.append(operator.get("/api/cameras/ham/snapshot.jpg").content)
            time.sleep(0.02)
        assert supervisor.status()["ham"]["state"] == "ended", "the clip was not processed in time"
        time.sleep(app.state.watchnet.settings.exports.live_settle_s)
        viewed.append(("the ended camera's last frame", viewer.get("/api/cameras/ham/snapshot.jpg").content))
    finally:
        stop_server(server)
    assert len(viewed) >= 10
    assert sum(bool(_passing(faces, data)) for data in full) >= 3, "the operators' view shows no usable face"

    alerts = operator.get("/api/alerts").json()["items"]
    assert alerts, "Lin-Manuel Miranda was never matched, so no match box was checked"
    first = alerts[0]["id"]
    tracks = operator.get("/api/tracks", params={"label": "person"}).json()["items"]
    with_thumb = [t for t in tracks if t["thumbnail"]]
    assert with_thumb
    refused = [f"/api/alerts/{first}/crop.jpg", f"/api/alerts/{first}/snapshot.jpg", with_thumb[0]["thumbnail"],
               f"/api/alerts/{first}/export.zip?reason=curious"]
    for url in refused:
        assert viewer.get(url).status_code == 403, url
    assert viewer.post("/api/search/export.zip", json={"reason": "curious"}).status_code == 403

    # exports: an unconfirmed alert (its match included) and a search page hide every face
    exported = _zip(operator.get(f"/api/alerts/{first}/export.zip", params={"reason": "case 1"}).content)
    viewed += [(f"alert export {name}", data) for name, data in exported.items() if name.endswith(".jpg")]
    page = _zip(operator.post("/api/search/export.zip", json={"reason": "case 1", "label": "person"}).content)
    thumbs = [(f"search export {name}", data) for name, data in page.items() if name.endswith(".jpg")]
    assert thumbs
    viewed += thumbs
    leaks = {what: boxes for what, data in viewed if (boxes := _passing(faces, data))}
    assert not leaks, f"faces that pass the quality gate reached a viewer or an export: {leaks}"

    # two people confirm: the match's own face may now stay in an export
    assert operator.post(f"/api/alerts/{first}/confirm", json={}).status_code == 200
    assert admin.post(f"/api/alerts/{first}/confirm", json={}).status_code == 200
    confirmed = _zip(operator.get(f"/api/alerts/{first}/export.zip", params={"reason": "case 1"}).content)
    assert _passing(faces, confirmed["face.jpg"]), "the confirmed match's face crop should stay as recorded"
