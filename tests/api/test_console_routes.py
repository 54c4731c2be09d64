"""The routes the control-room console added: an alert's evidence (enrolled photos, grouped tracks' crops,
journey for operators) and "test connection" for a camera URL before it is saved (admins)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from fastapi import FastAPI
from fastapi.testclient import TestClient

from watchnet.core.records import Alert

PETS = "tracking/pets09_s2l1/pets09_s2l1_view001_480x360_10fps.avi"


def test_alert_evidence(app: FastAPI, clients: dict[str, TestClient], shared_data: Path) -> None:
    operator = clients["operator"]
    photo = shared_data / "faces/face_recognition/lin-manuel-miranda.png"
    with photo.open("rb") as handle:
        subject = operator.post("/api/watchlist/subjects", data={"name": "Lin-Manuel Miranda", "reason": "a reason"},
                                files={"photo": (photo.name, handle, "image/png")}).json()
    alert = Alert(subject_id=subject["id"], subject_name=subject["name"], kind="face", score=0.9, camera="ham",
                  track_id=3, timestamp=time.time(), frame_index=5, xyxy=(1.0, 2.0, 30.0, 40.0))
    embeddings = np.ones((1, 128), np.float32) / np.sqrt(128)
    alert_id = app.state.watchnet.services.alerts.raise_alert(alert, embeddings, "dlib-resnet").id

    ev = operator.get(f"/api/alerts/{alert_id}/evidence")
    assert ev.status_code == 200
    body = ev.json()
    assert body["alert"]["id"] == alert_id and body["alert"]["track_ids"] == [3]
    assert len(body["photos"]) == 1 and operator.get(body["photos"][0]).headers["content-type"] == "image/jpeg"
    assert body["tracks"] == [] and body["journey"] is None and "stored" in body["journey_note"]
    auditor = clients["auditor"].get(f"/api/alerts/{alert_id}/evidence").json()
    assert auditor["journey_note"] == "journeys are shown to operators"
    assert clients["viewer"].get(f"/api/alerts/{alert_id}/evidence").status_code == 403
    assert operator.get("/api/alerts/999/evidence").status_code == 404


def test_camera_connection_test(clients: dict[str, TestClient], shared_data: Path) -> None:
    admin = clients["admin"]
    good = admin.post("/api/cameras/test", json={"url": str(shared_data / PETS)}).json()
    assert good["ok"] and (good["width"], good["height"]) == (480, 360) and good["fps"]
    dead = admin.post("/api/cameras/test", json={"url": "rtsp://cam:s3cret@127.0.0.1:9/live"}).json()
    assert not dead["ok"] and dead["error"] and "s3cret" not in dead["error"]
    missing = admin.post("/api/cameras/test", json={"url": "/nowhere/cam.mp4"}).json()
    assert not missing["ok"] and "no such file" in missing["error"]
    assert clients["operator"].post("/api/cameras/test", json={"url": "rtsp://x/y"}).status_code == 403
    assert admin.post("/api/cameras/test", json={"url": ""}).status_code == 422
