"""Security headers, closed CORS, refusal of cross-site writes, body limits, no open static pictures, and
error messages that expose no server path or CLI flag."""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

from fastapi import FastAPI
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


def test_upload_errors_name_no_server_path_or_flag(clients: dict[str, TestClient], shared_data: Path) -> None:
    """Photos the server cannot use are refused with what to do, never a temporary file's path or a CLI flag."""
    op = clients["operator"]
    faces = shared_data / "faces" / "face_recognition"
    car = shared_data / "plates" / "openalpr_eu" / "eu1.jpg"

    def enrol(photo: Path, **form: str) -> str:
        r = op.post("/api/watchlist/subjects", data={"name": "X", "reason": "a reason", **form},
                    files={"photo": (photo.name, photo.read_bytes(), "image/jpeg")})
        assert r.status_code == 400, r.text
        return str(r.json()["detail"])

    details = {
        "no face": enrol(car),
        "two faces": enrol(faces / "two_people.jpg"),
        "face index": enrol(faces / "two_people.jpg", face_index="5"),
    }
    assert details["no face"].startswith("no face found in the uploaded photo;")
    assert "choose which face to use (face index 0 = largest" in details["two faces"]
    searched = op.post("/api/search/photo", data={"reason": "case 3", "mode": "face"},
                       files={"file": ("lin.png", (faces / "lin-manuel-miranda.png").read_bytes(), "image/png")})
    assert searched.status_code == 400
    details["face search"] = searched.json()["detail"]
    assert details["face search"].startswith("search by face photo is off")
    window = op.post("/api/search", json={"reason": "case 3", "since": "2025-01-02T00:00:00Z",
                                          "until": "2025-01-01T00:00:00Z"})
    assert window.status_code == 400
    details["window"] = window.json()["detail"]
    for url in ("/api/journeys/links/999/confirm", "/api/journeys/follows/999/stop", "/api/alerts/999/confirm"):
        unknown = op.post(url, json={})
        assert unknown.status_code in (400, 404), (url, unknown.text)
        details[url] = unknown.json()["detail"]
        assert details[url].startswith("no "), (url, details[url])
    for what, detail in details.items():
        assert "/" not in detail and "--" not in detail and "tmp" not in detail and "`" not in detail, (what, detail)
    caps = op.get("/api/search/capabilities").json()
    assert caps["face_photo"] is False and caps["look_alike"] is True
    assert "/" not in caps["face_photo_note"] and "identity" not in caps["face_photo_note"]


def test_uploads_raise_no_deprecation_warning(app: FastAPI, clients: dict[str, TestClient]) -> None:
    """Refusing a too-large photo (bytes or pixels) must not print a library deprecation warning each time."""
    op = clients["operator"]
    limit = app.state.watchnet.settings.api.max_upload_bytes
    bomb = b"\x89PNG\r\n\x1a\n" + b"\0\0\0\rIHDR" + struct.pack(">II", 50_000, 50_000) + b"\x08\x02\0\0\0" + b"\0" * 64
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for content in (b"\xff\xd8\xff" + b"\0" * (limit + 1000), bomb):
            r = op.post("/api/watchlist/subjects", data={"name": "X", "reason": "a reason"},
                        files={"photo": ("x.png", content, "image/png")})
            assert r.status_code == 413, r.text
    assert not [str(w.message) for w in caught if "deprecat" in str(w.message).lower()]


def test_ids_beyond_a_database_integer_are_refused_not_500(clients: dict[str, TestClient]) -> None:
    """Found by the schema fuzzer in CI: ``after`` past SQLite's 64-bit INTEGER raised OverflowError (500)."""
    admin = clients["admin"]
    for topic in ("alert", "camera", "journey"):
        response = admin.get("/api/eventlog", params={"after": 2**63, "topic": topic})
        assert response.status_code == 422, response.text
        assert admin.get("/api/eventlog", params={"after": 2**62, "topic": topic}).json() == []
