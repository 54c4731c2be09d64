"""Camera state changes reach the event log from the worker process that runs the camera, and any console reads
them at ``/api/eventlog?topic=camera``: a stream that starts, drops and comes back, a clip that ends, a camera
that fails, and the cameras' last states when the console stops them.

Real pieces: a real ``watchnet serve`` (SQLite store) with its worker process, a real RTSP stream
(``tests.rtsp_server``: ffmpeg publishing PETS through a relay) whose publisher is killed and started again,
a 3 s cut of PETS as a file camera, and a file that does not exist.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import waiting
from tests.api.conftest import PASSWORD, free_port, make_settings
from tests.rtsp_server import RtspServer, rtsp_server  # noqa: F401  (the fixture)
from tests.waiting import pets_clip
from watchnet.services import accounts
from watchnet.store import outbox
from watchnet.store.db import open_store

pytestmark = pytest.mark.slow
WAIT_S = 120.0


def states(events: list[dict[str, Any]], camera: str) -> list[str]:
    return [e["state"] for e in events if e.get("event") == "camera.state" and e["camera"] == camera]


def test_camera_state_changes_reach_the_event_log_from_the_worker(
    rtsp_server: Callable[..., RtspServer], shared_data: Path, tmp_path: Path,  # noqa: F811
) -> None:
    stream = rtsp_server()
    clip = pets_clip(shared_data, tmp_path / "clip.mp4")
    home, port = tmp_path / "home", free_port()
    engine = open_store(make_settings(home))
    accounts.create_user(engine, "admin", PASSWORD, "admin")
    env = {**os.environ, "WATCHNET_HOME": str(home), "WATCHNET_WORKERS__CAMERAS_PER_WORKER": "3",
           "WATCHNET_STREAM__RECONNECT_MAX_S": "1"}
    log = (tmp_path / "console.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "watchnet", "serve", "--port", str(port),
                             "--source", f"street={stream.url}", "--source", f"clip={clip}",
                             "--source", f"gone={tmp_path / 'no-such-video.mp4'}"],
                            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, text=True)
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return proc.poll() is not None or httpx.get(f"{base}/api/health", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    try:
        waiting.until(answers, "the console to answer", WAIT_S)
        assert proc.poll() is None, (tmp_path / "console.log").read_text()[-3000:]
        with httpx.Client(base_url=base, timeout=30) as client:
            assert client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD}).status_code == 200

            def logged() -> list[dict[str, Any]]:
                got = client.get("/api/eventlog", params={"topic": "camera", "limit": 500})
                assert got.status_code == 200
                return list(got.json())

            waiting.until(lambda: "running" in states(logged(), "street") and states(logged(), "clip")[-1:] == ["ended"]
                          and states(logged(), "gone")[-1:] == ["failed"], "the cameras' first states", WAIT_S)
            stream.kill_publisher()  # the camera's stream drops
            waiting.until(lambda: states(logged(), "street")[-1] in ("reconnecting", "connecting"),
                          "the dropped stream to be logged", WAIT_S)
            stream.start_publisher()
            waiting.until(lambda: states(logged(), "street")[-1] == "running", "the stream to be back", WAIT_S)
            events = logged()
            [worker] = client.get("/api/workers").json()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()

    street = states(events, "street")
    assert street[0] in ("starting", "connecting") and street.count("running") >= 2
    assert street.index("running") < max(i for i, s in enumerate(street) if s in ("reconnecting", "connecting"))
    assert states(events, "clip")[-2:] == ["running", "ended"]
    assert states(events, "gone")[-1] == "failed"
    for event in events:
        if event.get("event") == "camera.state":  # from the worker process that runs the camera
            assert event["worker"] == worker["worker"] and event["pid"] == worker["pid"] != proc.pid
            assert event["node"] == "local" and event["type"] == "camera" and "T" in event["time"]
    ids = [e["event_id"] for e in events]
    assert ids == sorted(set(ids))
    # when the console stopped, the worker logged its cameras' last states before it ended
    after = outbox.read_after(engine, max(ids), topics=["camera"])
    engine.dispose()
    assert [(e.payload["camera"], e.payload["state"]) for e in after] == [("street", "stopped")], \
        (tmp_path / "console.log").read_text()[-3000:]
    print("street:", " -> ".join(street), "| clip:", " -> ".join(states(events, "clip")), "| gone:",
          " -> ".join(states(events, "gone")))
