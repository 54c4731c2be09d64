"""Evidence exports over HTTP: an alert's ZIP (bystanders blurred) for operators, admins and auditors only,
a search export for those who may search, each with a reason and an audit entry; viewers and anonymous
callers get nothing. And the viewers' live picture, blurred by the same function as the exports."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.integration.test_exports import SHARPNESS_DROP, decode, load, raise_photo_alert, sharpness
from watchnet.core.config import Settings
from watchnet.core.records import Alert, Frame, subset
from watchnet.services.exports import ExportTools
from watchnet.services.live import LiveHub
from watchnet.store import audit
from watchnet.vision.analysis.blur import ViewerBlur, grow
from watchnet.vision.pipeline import FrameResult

TWO_PEOPLE = "faces/face_recognition/two_people.jpg"


def _zip(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.mark.slow
def test_alert_export(app: FastAPI, clients: dict[str, TestClient], anon: TestClient, shared_data: Path) -> None:
    state = app.state.watchnet
    tools = ExportTools(state.settings)
    alert_id, shot = raise_photo_alert(state.settings, state.engine, shared_data / TWO_PEOPLE, tools.detector,
                                       tools.faces)
    url = f"/api/alerts/{alert_id}/export.zip"

    response = clients["operator"].get(url, params={"reason": "case 21, for the prosecutor"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"] == f'attachment; filename="watchnet-alert-{alert_id}.zip"'
    files = _zip(response.content)
    assert set(files) == {"alert.json", "face.jpg", "frame.jpg"}
    manifest = json.loads(files["alert.json"])
    assert manifest["alert"]["id"] == alert_id and manifest["export"]["by"] == "operator"
    frame = decode(files["frame.jpg"])
    other = shot.faces[1]
    assert other is not None
    assert sharpness(frame, other.xyxy) < sharpness(shot.image, other.xyxy) * SHARPNESS_DROP
    entry = audit.list_entries(state.engine, action="export.alert")[0]
    assert (entry.actor, entry.target) == ("operator", f"alert:{alert_id}")
    assert entry.details["reason"] == "case 21, for the prosecutor" and entry.details["blur"] is True

    assert clients["auditor"].get(url, params={"reason": "yearly review"}).status_code == 200
    assert clients["admin"].get(url, params={"reason": "court copy", "blur": "false"}).status_code == 200
    assert audit.list_entries(state.engine, action="export.alert")[0].details["blur"] is False

    refused = clients["viewer"].get(url, params={"reason": "curious"})
    assert refused.status_code == 403 and "viewer" in refused.json()["detail"]
    assert anon.get(url, params={"reason": "curious"}).status_code == 401
    no_reason = clients["operator"].get(url)
    assert no_reason.status_code == 422 and "reason" in no_reason.json()["detail"]
    assert clients["operator"].get("/api/alerts/999/export.zip", params={"reason": "case 21"}).status_code == 404
    exports = audit.list_entries(state.engine, action="export.alert")
    assert [e.actor for e in exports] == ["admin", "auditor", "operator"]  # refused calls left no entry
    assert audit.verify(state.engine).ok


def test_search_export_needs_a_reason_and_a_searcher(app: FastAPI, clients: dict[str, TestClient],
                                                     anon: TestClient) -> None:
    op = clients["operator"]
    missing = op.post("/api/search/export.zip", json={"label": "person"})
    assert missing.status_code == 422 and "reason" in missing.json()["detail"]
    assert op.post("/api/search/export.zip", json={"reason": "x"}).status_code == 422  # too short to mean anything
    response = op.post("/api/search/export.zip", json={"reason": "case 4: red jacket", "label": "person"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    manifest = json.loads(_zip(response.content)["results.json"])
    assert manifest["results"] == [] and manifest["query"]["label"] == "person"
    engine = app.state.watchnet.engine
    exported = audit.list_entries(engine, action="export.search")[0]
    searched = audit.list_entries(engine, action="search")[0]
    assert exported.actor == "operator" and exported.details["reason"] == "case 4: red jacket"
    assert exported.details["search_audit_id"] == searched.id and searched.details["reason"] == "case 4: red jacket"
    for role in ("auditor", "viewer"):  # auditors may not search, so they may not export a search either
        assert clients[role].post("/api/search/export.zip", json={"reason": "case 4"}).status_code == 403
    assert anon.post("/api/search/export.zip", json={"reason": "case 4"}).status_code == 401


@pytest.mark.slow
def test_live_private_view_blurs_every_face(shared_data: Path) -> None:
    """The viewers' live picture blurs every face with the face detector, the (unconfirmed) match's too."""
    settings = Settings.load()
    image = load(shared_data / TWO_PEOPLE)
    tools = ExportTools(settings)
    found = tools.detector.detect([image])[0]
    people = subset(found, np.asarray(found.data["confident"], bool) & (np.asarray(found.class_id) == 0))
    people.tracker_id = np.array([4, 5])
    faces = [f for f in tools.faces.detect(image) if tools.faces.passes_quality(f)]
    assert len(faces) == 2
    api = settings.api.model_copy(update={"live_max_side": 2000, "live_jpeg_quality": 95})
    hub = LiveHub(api, settings.exports, ViewerBlur.from_settings(settings))
    hub.publish(FrameResult(Frame("cam", 0, 0.0, 0.0, image), people, [], [], [], True))
    hub.note_alert(Alert(subject_id=1, subject_name="A", kind="face", score=0.97, camera="cam", track_id=4,
                         timestamp=0.0, frame_index=0))
    private, full = (decode(hub.jpeg("cam", v) or b"") for v in ("private", "full"))
    for face in faces:
        inner = grow(face.xyxy, -0.2)  # clear of drawn boxes and labels
        assert sharpness(private, inner) < sharpness(full, inner) * SHARPNESS_DROP
    assert not [f for f in tools.faces.detect(private) if tools.faces.passes_quality(f)]

    blind = LiveHub(api, settings.exports)  # no face detector: the viewers' picture is blurred whole
    blind.publish(FrameResult(Frame("cam", 0, 0.0, 0.0, image), people, [], [], [], True))
    whole = decode(blind.jpeg("cam", "private") or b"")
    assert not [f for f in tools.faces.detect(whole) if tools.faces.passes_quality(f)]
