"""Security headers, closed CORS, refusal of cross-site writes, body limits, no open static pictures."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_security_headers_on_pages_and_api(anon: TestClient) -> None:
    for path in ("/", "/api/health", "/api/cameras", "/static/js/app.js"):
        headers = anon.get(path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
    assert anon.get("/api/health").headers["cache-control"] == "no-store"


def test_cors_is_closed_by_default(anon: TestClient) -> None:
    response = anon.options("/api/auth/login", headers={"Origin": "http://evil.example",
                                                       "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in response.headers
    got = anon.get("/api/health", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in got.headers


def test_cross_site_writes_are_refused(clients: dict[str, TestClient]) -> None:
    response = clients["admin"].post("/api/users", headers={"Origin": "http://evil.example"},
                                     json={"name": "eve", "password": "long enough password", "role": "admin"})
    assert response.status_code == 403 and "cross-site" in response.json()["detail"]
    same = clients["admin"].post("/api/auth/logout", headers={"Origin": "http://testserver"})
    assert same.status_code == 204


def test_json_bodies_are_limited(anon: TestClient) -> None:
    response = anon.post("/api/auth/login", content=b"{" + b" " * (2 << 20) + b"}",
                         headers={"content-type": "application/json"})
    assert response.status_code == 413 and "too large" in response.json()["detail"]


def test_no_data_under_static(anon: TestClient) -> None:
    assert anon.get("/static/../watchnet.db").status_code == 404
    assert anon.get("/static/index.html").status_code == 200
    assert anon.get("/docs").status_code == 404  # the docs page would load scripts from a CDN
    assert anon.get("/api/openapi.json").json()["info"]["title"] == "watchnet"
