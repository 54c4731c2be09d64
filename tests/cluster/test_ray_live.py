"""Live views of cameras on another machine: a camera actor on the second node of a real local Ray cluster
(``ray.cluster_utils.Cluster``), a console that pulls its frames only when someone watches (``RayFrames``).

Checks: an admin's snapshot is a JPEG of that camera's frame (its size, and close to the clip's picture);
a viewer's snapshot of the same frame is blurred (it differs from the admin's around the people); a real
``watchnet serve --no-pipeline --ray ADDRESS`` process serves the same snapshot. Prints the median time of
pulling one raw frame from the remote actor and of a snapshot request.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests import waiting
from tests.api.conftest import PASSWORD, add_users, free_port, login, make_settings
from watchnet.api.app import create_app

ray = pytest.importorskip("ray", reason="the cluster extra (pip install 'watchnet[cluster]') is not installed")
from ray.cluster_utils import Cluster  # noqa: E402

from watchnet.runtime.camera.live_shm import SlotFrame  # noqa: E402
from watchnet.runtime.cluster.actors import CAMERA_RESOURCE, NAMESPACE  # noqa: E402
from watchnet.runtime.cluster.live import RayFrames  # noqa: E402
from watchnet.runtime.cluster.reconcile import ClusterReconciler  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
WAIT_S = 240.0
SNAPSHOT = "/api/cameras/north/snapshot.jpg"


def _image(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return np.asarray(image)


def _frame(clip: Path, index: int) -> np.ndarray:
    capture = cv2.VideoCapture(str(clip))
    capture.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = capture.read()
    capture.release()
    assert ok
    return np.asarray(frame)


class Pinnable:
    """The console's ``RayFrames`` with a pause: once pinned, the hub gets no newer frame, so an admin's and a
    viewer's snapshot show the same frame (the camera itself goes on)."""

    def __init__(self, frames: RayFrames) -> None:
        self.frames = frames
        self.pinned = False
        self.last: SlotFrame | None = None

    def cameras(self) -> list[str]:
        return self.frames.cameras()

    def read(self, camera: str, known_seq: int) -> SlotFrame | None:
        if self.pinned:
            return None
        frame = self.frames.read(camera, known_seq)
        if frame is not None:
            self.last = frame
        return frame


def test_a_console_shows_a_camera_running_on_another_node(
    cluster: Cluster, pg_url: str, clip: Path, tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    settings = make_settings(home, pg_url, stream={"loop_pause_s": 0.2}, cameras=[{"name": "north", "url": str(clip)}])
    app = create_app(settings)
    add_users(app)
    engine = app.state.watchnet.engine
    second = cluster.add_node(num_cpus=1, resources={CAMERA_RESOURCE: 1})  # the head takes no camera
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, namespace=NAMESPACE, log_to_driver=False)
    reconciler = ClusterReconciler(settings, engine, loop=True)
    frames = RayFrames.connect(cluster.address)
    pin = Pinnable(frames)
    app.state.watchnet.live.attach(pin)  # what `watchnet serve --ray ADDRESS` does (without the pause)
    admin, viewer = (login(TestClient(app), role) for role in ("admin", "viewer"))
    console: subprocess.Popen[str] | None = None
    try:
        assert reconciler.reconcile()["added"] == ["north"]
        waiting.until(lambda: reconciler.status()["north"].get("frames", 0) > 0, "the camera to run", WAIT_S)
        assert reconciler.status()["north"]["node"] == second.node_id  # on the other node, not this one's

        def running_logged() -> list[dict[str, Any]]:  # the camera's state, written by its actor to the event log
            states = admin.get("/api/eventlog", params={"topic": "camera"}).json()
            return [e for e in states if e.get("event") == "camera.state" and e["state"] == "running"]

        waiting.until(running_logged, "the actor's camera.state event", WAIT_S)
        assert running_logged()[0]["camera"] == "north" and running_logged()[0]["node"] == second.node_id

        def people_on_screen() -> bool:
            got = admin.get(SNAPSHOT)
            return got.status_code == 200 and pin.last is not None and bool((pin.last.class_id == 0).sum() >= 2)

        waiting.until(people_on_screen, "a live frame with people on it", WAIT_S)
        pin.pinned = True
        shown = pin.last
        assert shown is not None
        full = admin.get(SNAPSHOT)
        assert full.status_code == 200 and full.headers["content-type"] == "image/jpeg"
        picture = _image(full.content)
        truth = _frame(clip, shown.index % 30)  # the 30-frame clip plays in a loop
        assert picture.shape == truth.shape == (360, 480, 3)
        assert float(np.abs(picture.astype(int) - truth.astype(int)).mean()) < 12.0  # that camera's picture

        blurred = viewer.get(SNAPSHOT)
        assert blurred.status_code == 200
        private = _image(blurred.content)
        assert private.shape == picture.shape
        heads = np.zeros(picture.shape[:2], bool)
        for x1, y1, x2, y2 in shown.xyxy[shown.class_id == 0].round().astype(int):
            heads[max(0, y1):max(0, y1) + max(1, (y2 - y1) // 4), max(0, x1):max(0, x2)] = True
        moved = np.abs(private.astype(int) - picture.astype(int)).max(axis=2)
        print(f"viewer vs admin: mean change {moved[heads].mean():.1f} on heads, {moved[~heads].mean():.1f} elsewhere")
        assert moved[heads].mean() > 3 * moved[~heads].mean() + 2, "the viewer's heads are not blurred"
        pin.pinned = False

        pulls = []
        for _ in range(10):  # a raw frame from the remote actor, as a watched camera's next frame would come
            started = time.perf_counter()
            assert frames.read("north", -1) is not None
            pulls.append(time.perf_counter() - started)
        requests = []
        for _ in range(10):  # one frame apart: each request pulls, draws and encodes a new frame
            time.sleep(0.15)
            started = time.perf_counter()
            assert admin.get(SNAPSHOT).status_code == 200
            requests.append(time.perf_counter() - started)
        print(f"remote live frame pull: median {statistics.median(pulls) * 1000:.1f} ms, "
              f"snapshot request: median {statistics.median(requests) * 1000:.1f} ms (10 each)")

        console, port = _serve(home, pg_url, cluster.address)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            assert client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD}).status_code == 200
            served = client.get(SNAPSHOT)
            assert served.status_code == 200, served.text
            assert _image(served.content).shape == (360, 480, 3)
    finally:
        if console is not None:
            console.terminate()
            try:
                console.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                console.kill()
                console.communicate()
        reconciler.close()
        engine.dispose()


def _serve(home: Path, db_url: str, address: str) -> tuple[subprocess.Popen[str], int]:
    """A real console process on the same store that shows the cluster's cameras: ``--no-pipeline --ray``."""
    port = free_port()
    env = {**os.environ, "WATCHNET_HOME": str(home), "WATCHNET_DATABASE_URL": db_url}
    home.mkdir(parents=True, exist_ok=True)
    log = (home / "console.log").open("w")  # a file, not a pipe nobody drains
    proc = subprocess.Popen([sys.executable, "-m", "watchnet", "serve", "--no-pipeline", "--port", str(port),
                             "--ray", address], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, text=True)

    def answers() -> bool:
        if proc.poll() is not None:
            return True
        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    waiting.until(answers, "the console to answer", 120.0)
    log.close()
    assert proc.poll() is None, (home / "console.log").read_text()[-3000:]
    return proc, port
