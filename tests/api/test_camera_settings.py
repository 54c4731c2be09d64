"""Per-camera settings edited in the console: saved with the camera's row, validated by the same field models as
the YAML (so bad input is a 422 that says what is wrong), applied on top of the YAML camera by the one merge both
supervisors use, and only admins may change them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.conftest import PASSWORD, add_users, login, make_settings
from watchnet.api.app import create_app
from watchnet.core.config import CameraConfig, LineRule, ZoneRule
from watchnet.services.cameras import effective_cameras

MASK = [[0.0, 0.0], [0.5, 0.0], [0.5, 0.4], [0.0, 0.4]]
LINE = {"name": "door", "start": [0.1, 0.9], "end": [0.9, 0.9]}


def _add(admin: TestClient, name: str = "gate") -> None:
    assert admin.post("/api/cameras", json={"name": name, "url": "/videos/gate.mp4"}).status_code == 201


def test_settings_round_trip(clients: dict[str, TestClient]) -> None:
    admin = clients["admin"]
    _add(admin)
    fresh = admin.get("/api/cameras/gate").json()["settings"]
    assert fresh["privacy_masks"] == [] and fresh["fps_cap"] is None and fresh["zones"] == []
    body: dict[str, Any] = {"privacy_masks": [MASK], "lines": [LINE], "fps_cap": 5, "detect_mode": "tiles",
                            "min_object_px": 12, "plate_countries": ["cn"]}
    saved = admin.patch("/api/cameras/gate/settings", json=body)
    assert saved.status_code == 200, saved.text
    settings = saved.json()["settings"]
    assert settings["privacy_masks"] == [MASK] and settings["lines"][0]["start"] == [0.1, 0.9]
    assert (settings["fps_cap"], settings["detect_mode"], settings["min_object_px"]) == (5, "tiles", 12)
    assert settings["plate_countries"] == ["cn"]
    # a PATCH changes only what it sends
    again = admin.patch("/api/cameras/gate/settings", json={"fps_cap": 2.5}).json()["settings"]
    assert again["fps_cap"] == 2.5 and again["privacy_masks"] == [MASK] and again["detect_mode"] == "tiles"
    # a change of URL keeps the settings
    assert admin.put("/api/cameras/gate", json={"url": "/videos/other.mp4"}).status_code == 200
    assert admin.get("/api/cameras/gate").json()["settings"]["privacy_masks"] == [MASK]
    listed = clients["viewer"].get("/api/cameras").json()
    assert [c["settings"]["fps_cap"] for c in listed if c["name"] == "gate"] == [2.5]
    audit = admin.get("/api/audit", params={"action": "camera.settings"})
    assert audit.status_code == 200 and "camera.settings" in audit.text


def test_bad_settings_are_refused_with_a_reason(clients: dict[str, TestClient]) -> None:
    admin = clients["admin"]
    _add(admin)

    def refused(body: dict[str, Any], *words: str) -> None:
        response = admin.patch("/api/cameras/gate/settings", json=body)
        assert response.status_code == 422, (body, response.text)
        assert all(word in response.text for word in words), response.text

    refused({"privacy_masks": [[[0, 0], [1, 1]]]}, "privacy_masks", "at least 3")
    refused({"privacy_masks": [[[0, 0], [1.5, 0], [1, 1]]]}, "privacy_masks", "less than or equal to 1")
    refused({"privacy_masks": [[[-0.1, 0], [1, 0], [1, 1]]]}, "greater than or equal to 0")
    refused({"zones": [{"name": "z", "polygon": [[0, 0], [1, 1]]}]}, "zones", "at least 3")
    refused({"plate_countries": ["cn", "xx"]}, "plate_countries", "xx")
    refused({"detect_mode": "everywhere"}, "detect_mode")
    refused({"fps_cap": 0}, "fps_cap")
    refused({"colour": "red"}, "colour")
    assert admin.get("/api/cameras/gate").json()["settings"]["privacy_masks"] == []  # nothing was saved
    assert admin.patch("/api/cameras/nowhere/settings", json={"fps_cap": 1}).status_code == 404


def test_only_admins_change_settings(clients: dict[str, TestClient]) -> None:
    _add(clients["admin"])
    for role in ("operator", "auditor", "viewer"):
        assert clients[role].patch("/api/cameras/gate/settings", json={"fps_cap": 1}).status_code == 403


def test_stored_settings_win_over_the_yaml(tmp_path: Path) -> None:
    """The one merge both supervisors start cameras from: YAML camera, then the store's row and settings."""
    yaml_camera = CameraConfig(name="hall", url="/videos/hall.mp4", fps_cap=10, neighbours=[],
                               zones=[ZoneRule(name="desk", polygon=[(10, 10), (50, 10), (50, 50)])],
                               lines=[LineRule(name="door", start=(0, 100), end=(200, 100))])
    app: FastAPI = create_app(make_settings(tmp_path / "home", cameras=[yaml_camera.model_dump()]))
    add_users(app)
    state = app.state.watchnet
    try:
        with TestClient(app) as client:
            login(client, "admin", PASSWORD)
            _add(client, "hall")  # as the supervisor does at start: the YAML camera gets its row
            first = effective_cameras(state.settings, state.engine, first=True)
            assert [c.name for c in first] == ["hall"] and first[0].fps_cap == 10 and first[0].live is True
            assert first[0].zones[0].name == "desk"
            client.patch("/api/cameras/hall/settings", json={"fps_cap": 3, "privacy_masks": [MASK]})
            hall = effective_cameras(state.settings, state.engine, first=False)[0]
            assert hall.fps_cap == 3 and hall.privacy_masks == [[tuple(p) for p in MASK]]
            assert hall.zones[0].name == "desk" and hall.lines[0].name == "door"  # not sent: the YAML's stay
            assert hall.url == "/videos/gate.mp4"
    finally:
        state.engine.dispose()
