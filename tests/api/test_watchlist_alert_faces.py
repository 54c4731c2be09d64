"""The API route that adds a confirmed alert's faces to a subject: who may call it and what it refuses.

The full path (a real track alerts, two users confirm, the faces join the subject, audited) runs on real
photos in tests/integration/test_faces_fused.py; here only the HTTP contract.
"""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_alert_faces_route_checks_role_subject_and_alert(clients: dict[str, TestClient]) -> None:
    operator = clients["operator"]
    assert clients["viewer"].post("/api/watchlist/subjects/1/alert-faces", json={"alert_id": 1}).status_code == 403
    missing = operator.post("/api/watchlist/subjects/1/alert-faces", json={"alert_id": 1})
    assert missing.status_code == 404 and "no watchlist subject" in missing.json()["detail"]
    assert operator.post("/api/watchlist/subjects/1/alert-faces", json={"alert": 1}).status_code == 422
    assert operator.post("/api/watchlist/subjects/1/alert-faces", json={"alert_id": 0}).status_code == 422
