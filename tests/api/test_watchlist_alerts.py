"""Enrolment uploads (checked before anything is stored), and the alert flow over HTTP and WebSocket:
an alert raised by the real alert manager reaches a live WebSocket client, two different users confirm
it, a dismissal can add a negative example, and every step lands in the audit log."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import websockets
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.conftest import LiveServer
from watchnet.core.records import Alert
from watchnet.store import audit

FACES = "faces/face_recognition"


def _enrol(client: TestClient, photo: Path, name: str = "Lin-Manuel Miranda") -> dict:
    with photo.open("rb") as handle:
        response = client.post("/api/watchlist/subjects", data={"name": name, "reason": "e2e case 1"},
                               files={"photo": (photo.name, handle, "image/png")})
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_uploads_are_checked(app: FastAPI, clients: dict[str, TestClient], tmp_path: Path) -> None:
    op = clients["operator"]

    def post(content: bytes, filename: str = "x.jpg") -> tuple[int, str]:
        r = op.post("/api/watchlist/subjects", data={"name": "X", "reason": "a reason"},
                    files={"photo": (filename, content, "image/jpeg")})
        return r.status_code, r.json()["detail"]

    assert post(b"%PDF-1.4 not an image at all" * 10) == (
        415, "the photo is not a JPEG, PNG or WebP image (its content, not its name, was checked)")
    code, detail = post(b"\xff\xd8\xff\xe0" + b"\0" * 200)
    assert code == 400 and "header is broken" in detail
    _, png = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))
    code, detail = post(png.tobytes(), "tiny.png")
    assert code == 400 and "at least 32 px" in detail
    limit = app.state.watchnet.settings.api.max_upload_bytes
    code, detail = post(b"\xff\xd8\xff" + b"\0" * (limit + 100_000))
    assert code == 413 and "too large" in detail
    missing = op.post("/api/watchlist/subjects", data={"name": "X"})
    assert missing.status_code == 422 and "photo" in missing.json()["detail"] and "reason" in missing.json()["detail"]
    assert op.get("/api/watchlist/subjects").json() == []


@pytest.mark.slow
def test_enrol_then_alert_flow(app: FastAPI, clients: dict[str, TestClient], server: LiveServer,
                               shared_data: Path) -> None:
    subject = _enrol(clients["operator"], shared_data / FACES / "lin-manuel-miranda.png")
    assert subject["photos"] and subject["enrolled_by"] == "operator"
    face = clients["operator"].get(subject["photos"][0]["url"])
    assert face.status_code == 200 and face.headers["content-type"] == "image/jpeg"
    two = shared_data / FACES / "two_people.jpg"
    with two.open("rb") as handle:
        crowded = clients["operator"].post("/api/watchlist/subjects", data={"name": "Y", "reason": "a reason"},
                                           files={"photo": ("two.jpg", handle, "image/jpeg")})
    assert crowded.status_code == 400 and "faces" in crowded.json()["detail"]

    state = app.state.watchnet
    cookie = clients["operator"].cookies.get("watchnet_session")
    received: list[dict] = []

    async def listen() -> None:
        url = server.url.replace("http", "ws") + "/api/alerts/ws"
        async with websockets.connect(url, additional_headers={"Cookie": f"watchnet_session={cookie}"},
                                      open_timeout=10) as ws:
            await asyncio.sleep(0.3)  # subscribed server-side before the alert is raised
            alert = Alert(subject_id=subject["id"], subject_name=subject["name"], kind="face", score=0.96,
                          camera="ham", track_id=7, timestamp=time.time(), frame_index=42,
                          xyxy=(1.0, 2.0, 30.0, 40.0))
            embeddings = np.ones((2, 128), np.float32) / np.sqrt(128)
            await asyncio.to_thread(state.services.alerts.raise_alert, alert, embeddings, "dlib-resnet")
            received.append(json.loads(await asyncio.wait_for(ws.recv(), timeout=10)))

    asyncio.run(listen())
    message = received[0]
    assert message["type"] == "alert" and message["alert"]["subject"]["name"] == "Lin-Manuel Miranda"
    assert "crop_path" not in message["alert"]
    alert_id = message["alert"]["id"]
    again = Alert(subject_id=subject["id"], subject_name=subject["name"], kind="face", score=0.97, camera="ham",
                  track_id=8, timestamp=time.time(), frame_index=99, xyxy=(1.0, 2.0, 30.0, 40.0))
    assert state.services.alerts.raise_alert(again).id == alert_id  # the same person again: one alert, updated
    grouped = clients["operator"].get(f"/api/alerts/{alert_id}").json()
    assert (grouped["matches"], grouped["track_ids"], grouped["score"]) == (2, [7, 8], 0.97)
    assert grouped["last_seen"] is not None and grouped["track_id"] == 8  # the best match's track and face

    first = clients["operator"].post(f"/api/alerts/{alert_id}/confirm", json={"note": "looks like him"})
    assert first.status_code == 200 and first.json()["state"] == "new" and first.json()["confirmations"] == 1
    twice = clients["operator"].post(f"/api/alerts/{alert_id}/confirm")
    assert twice.status_code == 409 and "different user" in twice.json()["detail"]
    assert clients["auditor"].post(f"/api/alerts/{alert_id}/confirm").status_code == 403
    second = clients["admin"].post(f"/api/alerts/{alert_id}/confirm")
    assert second.status_code == 200 and second.json()["state"] == "confirmed"
    detail = clients["auditor"].get(f"/api/alerts/{alert_id}").json()
    assert [d["actor"] for d in detail["decisions"]] == ["operator", "admin"]
    assert clients["operator"].post(f"/api/alerts/{alert_id}/close").json()["state"] == "closed"
    listed = clients["auditor"].get("/api/alerts", params={"state": "closed"}).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == alert_id
    actions = {e.action for e in audit.list_entries(state.engine)}
    assert {"watchlist.enrol", "alert.confirm", "alert.close", "login"} <= actions
    assert audit.verify(state.engine).ok


def test_websocket_refuses_other_sites(server: LiveServer, clients: dict[str, TestClient]) -> None:
    cookie = clients["operator"].cookies.get("watchnet_session")

    async def attempt() -> None:
        url = server.url.replace("http", "ws") + "/api/alerts/ws"
        headers = {"Cookie": f"watchnet_session={cookie}", "Origin": "http://evil.example"}
        async with websockets.connect(url, additional_headers=headers, open_timeout=10) as ws:
            await asyncio.wait_for(ws.recv(), timeout=5)

    with pytest.raises(websockets.exceptions.InvalidStatus):
        asyncio.run(attempt())


def test_dismiss_unknown_alert_is_404(clients: dict[str, TestClient]) -> None:
    r = clients["operator"].post("/api/alerts/999/dismiss", json={"negative": True})
    assert r.status_code == 404 and "no alert" in r.json()["detail"]
    assert clients["operator"].post("/api/alerts/999/dismiss", json={"negative": "maybe"}).status_code == 422
