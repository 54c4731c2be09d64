"""The console under write load while a camera records: no "database is locked", no 500, no dropped
connection.

A real uvicorn server, the real pipeline (detector, tracker, face analysis, sightings writer) on the
PETS video looped as a live camera, and 128 real HTTP calls, 16 at a time: half create users (a read
then a write, plus an audit write), half list tracks (reads while the store writer commits every
second). An overloaded server may answer 503 with Retry-After; anything 5xx else, or a connection
that breaks, fails the test.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.conftest import PASSWORD, add_users, login, make_settings, start_server, stop_server
from watchnet.api.app import create_app
from watchnet.api.server import attach_pipeline
from watchnet.runtime.in_process import PipelineSupervisor
from watchnet.store.db import make_engine

PETS = "tracking/pets09_s2l1/pets09_s2l1_view001_480x360_10fps.avi"
CALLS = 128
AT_ONCE = 16


@pytest.fixture()
def recording(tmp_path: Path, shared_data: Path) -> Iterator[tuple[FastAPI, PipelineSupervisor]]:
    settings = make_settings(tmp_path / "home", cameras=[
        {"name": "demo", "url": str(shared_data / PETS), "live": True}])
    app = create_app(settings)
    add_users(app)
    state = app.state.watchnet
    supervisor, flush = attach_pipeline(app, loop=True)
    supervisor.start()
    yield app, supervisor
    supervisor.stop()
    flush()
    state.engine.dispose()


def _call(base: str, cookie: str, k: int) -> int | str:
    """One API call on its own connection; the status, or the transport error's name."""
    try:
        with httpx.Client(base_url=base, cookies={"watchnet_session": cookie}, timeout=120) as client:
            if k % 2:
                response = client.get("/api/tracks", params={"limit": 50})
            else:
                response = client.post("/api/users", json={"name": f"user{k}", "password": PASSWORD,
                                                             "role": "viewer"})
    except httpx.TransportError as exc:
        return type(exc).__name__
    if response.status_code == 503:
        assert response.headers.get("retry-after"), "a 503 must say when to retry"
    return response.status_code


@pytest.mark.slow
def test_concurrent_api_writes_while_a_camera_records(recording: tuple[FastAPI, PipelineSupervisor]) -> None:
    app, supervisor = recording
    live = start_server(app)
    try:
        deadline = time.monotonic() + 120
        while supervisor.status().get("demo", {}).get("frames", 0) < 20:  # the camera is recording
            assert time.monotonic() < deadline, f"the camera never started: {supervisor.status()}"
            time.sleep(0.2)
        login = httpx.post(f"{live.url}/api/auth/login", json={"username": "admin", "password": PASSWORD})
        cookie = login.cookies["watchnet_session"]
        with ThreadPoolExecutor(AT_ONCE) as pool:
            results = list(pool.map(lambda k: _call(live.url, cookie, k), range(CALLS)))
        assert supervisor.status()["demo"]["state"] == "running"
    finally:
        stop_server(live)
    failures = [r for r in results if not isinstance(r, int) or (r >= 500 and r != 503)]
    assert not failures, f"{len(failures)} of {CALLS} calls failed: {sorted(Counter(map(str, results)).items())}"
    created = [r for k, r in enumerate(results) if k % 2 == 0]
    assert created.count(201) + created.count(503) == CALLS // 2
    assert created.count(201) > 0


def test_a_store_busy_past_its_wait_answers_503_with_retry_after(tmp_path: Path) -> None:
    """Another process holds SQLite's write lock longer than ``store.busy_timeout_s``: 503, not 500."""
    settings = make_settings(tmp_path / "home", store={"busy_timeout_s": 0.3, "retry_after_s": 3})
    app = create_app(settings)
    add_users(app)
    other = make_engine(settings.resolved_database_url)  # a second engine: as if another process wrote
    try:
        with TestClient(app) as client:
            login(client, "admin")
            with other.connect() as conn, conn.begin():
                conn.execute(sa.text("UPDATE users SET disabled = disabled"))
                busy = client.post("/api/users", json={"name": "late", "password": PASSWORD, "role": "viewer"})
                reads = client.get("/api/tracks")  # readers never wait for the writer (WAL)
            assert busy.status_code == 503, busy.text
            assert busy.headers["retry-after"] == "3" and "try again" in busy.json()["detail"]
            assert reads.status_code == 200
            again = client.post("/api/users", json={"name": "late", "password": PASSWORD, "role": "viewer"})
            assert again.status_code == 201, again.text
    finally:
        other.dispose()
        app.state.watchnet.engine.dispose()


def test_no_free_database_connection_answers_503_with_retry_after(tmp_path: Path) -> None:
    """Every pooled connection busy past ``store.pool_timeout_s``: 503 with Retry-After, not 500."""
    settings = make_settings(tmp_path / "home", store={"pool_size": 1, "max_overflow": 0, "pool_timeout_s": 0.2})
    app = create_app(settings)
    add_users(app)
    engine = app.state.watchnet.engine
    try:
        with TestClient(app) as client:
            login(client, "admin")
            with engine.connect():  # the pool's only connection, held
                busy = client.get("/api/tracks")
            assert busy.status_code == 503 and busy.headers["retry-after"] == "2"
            assert client.get("/api/tracks").status_code == 200
    finally:
        engine.dispose()
