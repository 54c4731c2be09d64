"""Cameras in worker processes (``watchnet serve`` default): a killed or hung worker is replaced, its
camera resumes, the console answers throughout and nothing committed is lost.

Real pieces: a real ``watchnet serve`` process (uvicorn, SQLite store), its spawned worker process with
the real detector, a looping 3 s cut of the PETS video, SIGKILL and SIGSTOP sent to the worker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import waiting
from tests.api.conftest import PASSWORD, free_port, make_settings
from tests.waiting import pets_clip
from watchnet.services import accounts
from watchnet.store.db import open_store
from watchnet.store.queries import count_tracks

pytestmark = pytest.mark.slow

WAIT_S = 120.0


def until(check: Callable[[], Any], what: str, timeout: float = WAIT_S, during: Callable[[], None] | None = None,
          ) -> None:
    waiting.until(check, what, timeout, during)


@pytest.fixture()
def clip(shared_data: Path, tmp_path: Path) -> Path:
    return pets_clip(shared_data, tmp_path / "clip.mp4")


def answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/api/health", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture()
def console(tmp_path: Path, clip: Path) -> Iterator[tuple[httpx.Client, subprocess.Popen[str], Path]]:
    home, port = tmp_path / "home", free_port()
    engine = open_store(make_settings(home))
    accounts.create_user(engine, "admin", PASSWORD, "admin")
    engine.dispose()
    env = {**os.environ, "WATCHNET_HOME": str(home), "WATCHNET_WORKERS__HEARTBEAT_TIMEOUT_S": "6",
           "WATCHNET_WORKERS__RESTART_INITIAL_S": "0.2", "WATCHNET_STREAM__LOOP_PAUSE_S": "0.2"}
    proc = subprocess.Popen([sys.executable, "-m", "watchnet", "serve", "--port", str(port), "--loop",
                             "--source", f"cam={clip}"], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        until(lambda: proc.poll() is not None or answers(base), "the console to answer")
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        with httpx.Client(base_url=base, timeout=30) as client:
            login = client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
            assert login.status_code == 200
            yield client, proc, home
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()


def test_killed_and_hung_workers_are_replaced_while_the_console_answers(
    console: tuple[httpx.Client, subprocess.Popen[str], Path],
) -> None:
    client, proc, home = console
    engine = open_store(make_settings(home))

    def worker() -> dict:
        [row] = client.get("/api/workers").json()
        return row

    def frames() -> int:
        return int(client.get("/api/cameras/cam").json()["status"]["frames"])

    def console_up() -> None:  # asked on every poll while the worker is down: the console never stops answering
        assert client.get("/api/health").status_code == 200

    try:
        until(lambda: frames() > 0 and count_tracks(engine, camera="cam") > 0, "the camera's tracks to be stored")
        first = worker()
        assert first["alive"] and first["cameras"] == ["cam"] and first["pid"] != proc.pid
        snapshot = client.get("/api/cameras/cam/snapshot.jpg")  # live frame through shared memory
        assert snapshot.status_code == 200 and snapshot.content[:2] == b"\xff\xd8"
        stored = count_tracks(engine, camera="cam")

        os.kill(first["pid"], signal.SIGKILL)
        until(lambda: worker()["restarts"] == 1 and worker()["alive"] and frames() > 0,
              "a new worker to run the camera", during=console_up)
        second = worker()
        assert second["pid"] != first["pid"] and "code -9" in (second["last_exit"] or "")
        assert count_tracks(engine, camera="cam") >= stored  # nothing committed before the kill is lost
        until(lambda: count_tracks(engine, camera="cam") > stored, "the restarted worker's tracks", during=console_up)

        os.kill(second["pid"], signal.SIGSTOP)  # hung: alive, but silent
        until(lambda: worker()["restarts"] == 2 and worker()["alive"], "the hung worker to be replaced",
              during=console_up)
        third = worker()
        assert third["pid"] not in (first["pid"], second["pid"]) and third["last_exit"] == "hung (no heartbeat)"
        until(lambda: frames() > 0, "the camera to resume in the third worker", during=console_up)
        lost = client.get("/api/eventlog", params={"topic": "camera"}).json()  # camera status in the event log
        assert [e["reason"] for e in lost if e["event"] == "camera.worker_lost"] == ["exited with code -9",
                                                                                   "hung (no heartbeat)"]
        metrics = client.get("/metrics")
        assert metrics.status_code == 200 and 'watchnet_camera_worker_restarts_total{camera="cam"' in metrics.text
    finally:
        engine.dispose()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode in (0, 130), err[-3000:]  # uvicorn re-raises the SIGINT it handled
    assert "Traceback" not in err, err[-3000:]
