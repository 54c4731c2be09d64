"""Fixtures for the console's API tests: an app on a real store, one logged-in client per role, and a
real uvicorn server on 127.0.0.1 for WebSocket and streaming tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from watchnet.api.app import create_app
from watchnet.core.config import Settings
from watchnet.services import accounts

PASSWORD = "correct horse battery staple"
ROLES = ("admin", "operator", "auditor", "viewer")


def make_settings(home: Path, db_url: str | None = None, **overrides: Any) -> Settings:
    return Settings.load(None, home=home, database_url=db_url, **overrides)


def add_users(app: FastAPI) -> None:
    engine = app.state.watchnet.engine
    for role in ROLES:
        accounts.create_user(engine, role, PASSWORD, role)


def login(client: TestClient, name: str, password: str = PASSWORD) -> TestClient:
    response = client.post("/api/auth/login", json={"username": name, "password": password})
    assert response.status_code == 200, response.text
    return client


@pytest.fixture()
def app(tmp_path: Path) -> Iterator[FastAPI]:
    """The app on a fresh SQLite store, with one user per role (name = role)."""
    application = create_app(make_settings(tmp_path / "home"))
    add_users(application)
    yield application
    application.state.watchnet.engine.dispose()


@pytest.fixture()
def anon(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


@pytest.fixture()
def clients(app: FastAPI) -> Iterator[dict[str, TestClient]]:
    """A logged-in client per role."""
    made = {role: TestClient(app) for role in ROLES}
    for role, client in made.items():
        client.__enter__()
        login(client, role)
    yield made
    for client in made.values():
        client.__exit__(None, None, None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    app: FastAPI
    url: str
    server: uvicorn.Server
    thread: threading.Thread


def start_server(app: FastAPI, timeout_s: float = 20.0) -> LiveServer:
    """uvicorn serving ``app`` on a free 127.0.0.1 port in a thread; returns once it accepts."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=2, ws_ping_interval=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    return LiveServer(app, f"http://127.0.0.1:{port}", server, thread)


def stop_server(live: LiveServer) -> None:
    live.server.should_exit = True
    live.thread.join(timeout=15)


@pytest.fixture()
def server(app: FastAPI) -> Iterator[LiveServer]:
    live = start_server(app)
    yield live
    stop_server(live)
