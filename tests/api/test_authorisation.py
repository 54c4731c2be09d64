"""Every API route is authorised: anonymous calls get 401, roles outside the route's rule get 403.

The rules are read from the app itself (each ``require`` dependency carries its roles), so a new route
without one fails here instead of shipping open.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute
from starlette.websockets import WebSocketDisconnect

from tests.api.conftest import ROLES
from watchnet.api.routes import PUBLIC_PATHS, ROUTERS


def _roles(route: APIRoute | APIWebSocketRoute, router: APIRouter | None) -> frozenset[str] | None:
    """The intersection of every ``require`` rule on the route (router-level and endpoint-level)."""
    found: frozenset[str] | None = None
    calls = [d.dependency for d in (router.dependencies if router else [])]
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        calls.append(dep.call)
        stack.extend(dep.dependencies)
    for call in calls:
        roles = getattr(call, "roles", None)
        if roles is not None:
            found = roles if found is None else found & roles
    return found


def _all(app: FastAPI) -> list[tuple[BaseRoute, APIRouter | None]]:
    """Every route of the app: those of the mounted routers (with their router) and the app's own."""
    found: list[tuple[BaseRoute, APIRouter | None]] = [(r, router) for router in ROUTERS for r in router.routes]
    found += [(r, None) for r in app.router.routes if isinstance(r, APIRoute | APIWebSocketRoute)]
    return found


def _routes(app: FastAPI) -> list[tuple[str, str, frozenset[str]]]:
    out = []
    for route, router in _all(app):
        if not isinstance(route, APIRoute) or route.path in PUBLIC_PATHS or route.path == "/":
            continue  # "/" is the dashboard shell (public: it shows the login form)
        roles = _roles(route, router)
        assert roles, f"{route.path} has no require(...) dependency: it would be open to anyone"
        for method in sorted((route.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append((method, route.path, roles))
    return out


def _fill(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: "1" if m.group(1) in {"track", "alert", "subject", "photo"} else "x", path)


def _call(client: TestClient, method: str, path: str) -> Any:
    kwargs: dict[str, Any] = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    return client.request(method, _fill(path), **kwargs)


def test_every_route_has_a_rule(app: FastAPI) -> None:
    routes = _routes(app)
    assert len(routes) >= 20
    api_paths = {r.path for r, _ in _all(app) if isinstance(r, APIRoute) and r.path.startswith("/api")}
    assert any(isinstance(r, APIWebSocketRoute) for r, _ in _all(app))
    assert api_paths >= PUBLIC_PATHS  # the exemptions exist, and are only these
    assert {"/api/health", "/api/auth/login", "/api/auth/token"} == PUBLIC_PATHS


def test_anonymous_gets_401_everywhere(app: FastAPI, anon: TestClient) -> None:
    for method, path, _ in _routes(app):
        response = _call(anon, method, path)
        assert response.status_code == 401, f"{method} {path}: {response.status_code} {response.text[:200]}"
        assert "log in" in response.json()["detail"]


def test_wrong_role_gets_403(app: FastAPI, clients: dict[str, TestClient]) -> None:
    checked = 0
    for method, path, roles in _routes(app):
        for role in ROLES:
            if role in roles:
                continue
            response = _call(clients[role], method, path)
            assert response.status_code == 403, f"{role} {method} {path}: {response.status_code} {response.text}"
            checked += 1
    assert checked > 20


def test_allowed_role_is_not_refused(app: FastAPI, clients: dict[str, TestClient]) -> None:
    """The other side: an allowed role passes authorisation (any answer but 401/403)."""
    for method, path, roles in _routes(app):
        if method != "GET" or "export" in path:
            continue
        role = sorted(roles)[0]
        response = _call(clients[role], method, path)
        assert response.status_code not in (401, 403), f"{role} GET {path}: {response.status_code}"


def test_websockets_refuse_anonymous_and_wrong_roles(app: FastAPI, anon: TestClient,
                                                     clients: dict[str, TestClient]) -> None:
    sockets = [r for r, _ in _all(app) if isinstance(r, APIWebSocketRoute)]
    for route in sockets:
        for client in (anon, clients["viewer"]):
            with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(route.path) as ws:
                ws.receive_json()
            assert refused.value.code == 1008


def test_metrics_needs_a_token(app: FastAPI, anon: TestClient, clients: dict[str, TestClient]) -> None:
    assert anon.get("/metrics").status_code == 401
    assert clients["operator"].get("/metrics").status_code == 403
    body = clients["auditor"].get("/metrics").text
    assert "watchnet_http_requests_total" in body
