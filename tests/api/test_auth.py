"""Logins: cookie flags, bearer tokens, wrong passwords, rate limiting, expiry, disabling, auditing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.conftest import PASSWORD, login
from watchnet.store import audit
from watchnet.store.schema_auth import ApiSession


def test_login_sets_a_strict_httponly_cookie(anon: TestClient) -> None:
    response = anon.post("/api/auth/login", json={"username": "operator", "password": PASSWORD})
    assert response.status_code == 200
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert "watchnet_session=" in cookie
    assert response.json()["user"] == {"id": 2, "name": "operator", "role": "operator", "disabled": False,
                                       "created_at": None}
    assert anon.get("/api/auth/me").json()["name"] == "operator"
    assert anon.post("/api/auth/logout").status_code == 204
    assert anon.get("/api/auth/me").status_code == 401


def test_wrong_password_is_401_and_audited(app: FastAPI, anon: TestClient) -> None:
    response = anon.post("/api/auth/login", json={"username": "operator", "password": "not the password"})
    assert response.status_code == 401
    assert "wrong user name or password" in response.json()["detail"]
    rows = audit.list_entries(app.state.watchnet.engine, action="login.failed")
    assert rows and rows[0].target == "operator"
    login(anon, "operator")
    assert audit.list_entries(app.state.watchnet.engine, action="login")[0].actor == "operator"


def test_five_failures_then_429_even_with_the_right_password(anon: TestClient) -> None:
    for _ in range(5):
        assert anon.post("/api/auth/login", json={"username": "viewer", "password": "wrong!"}).status_code == 401
    blocked = anon.post("/api/auth/login", json={"username": "viewer", "password": PASSWORD})
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    # other users from the same address are not locked out
    assert anon.post("/api/auth/login", json={"username": "auditor", "password": PASSWORD}).status_code == 200


def test_bearer_token_works_and_is_stored_hashed(app: FastAPI, anon: TestClient) -> None:
    token = anon.post("/api/auth/token", json={"username": "auditor", "password": PASSWORD}).json()["access_token"]
    fresh = TestClient(app)
    assert fresh.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).json()["role"] == "auditor"
    table = cast(sa.Table, ApiSession.__table__)
    with app.state.watchnet.engine.connect() as conn:
        stored = conn.execute(sa.select(table.c.token_hash)).scalars().all()
    assert token not in stored and all(len(h) == 64 for h in stored)


def test_expired_session_is_refused(app: FastAPI, clients: dict[str, TestClient]) -> None:
    table = cast(sa.Table, ApiSession.__table__)
    with app.state.watchnet.engine.begin() as conn:
        conn.execute(table.update().values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert clients["admin"].get("/api/auth/me").status_code == 401


def test_disabling_a_user_ends_their_sessions(clients: dict[str, TestClient]) -> None:
    assert clients["viewer"].get("/api/auth/me").status_code == 200
    changed = clients["admin"].patch("/api/users/viewer", json={"disabled": True})
    assert changed.status_code == 200 and changed.json()["disabled"] is True
    assert clients["viewer"].get("/api/auth/me").status_code == 401
    assert clients["admin"].patch("/api/users/admin", json={"disabled": True}).status_code == 409  # last admin


def test_admin_creates_users_and_bad_bodies_are_422(clients: dict[str, TestClient]) -> None:
    admin = clients["admin"]
    ok = admin.post("/api/users", json={"name": "carol", "password": "long enough password", "role": "viewer"})
    assert ok.status_code == 201
    again = admin.post("/api/users", json={"name": "carol", "password": "long enough password", "role": "viewer"})
    assert again.status_code == 400 and "already exists" in again.json()["detail"]
    short = admin.post("/api/users", json={"name": "dave", "password": "short", "role": "viewer"})
    assert short.status_code == 422 and "password" in short.json()["detail"]
    role = admin.post("/api/users", json={"name": "dave", "password": "long enough password", "role": "god"})
    assert role.status_code == 422
    extra = admin.post("/api/users", json={"name": "dave", "password": "long enough password", "role": "viewer",
                                           "is_admin": True})
    assert extra.status_code == 422 and "is_admin" in extra.json()["detail"]
    broken = admin.post("/api/users", content=b"{not json", headers={"content-type": "application/json"})
    assert broken.status_code == 422
