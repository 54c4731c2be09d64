"""A site plan uploaded on the map page (admins): checked image bytes (type by header, size and pixel limits,
a full decode), kept under the data directory, served by /api/map/image and winning over the configured plan
until it is removed."""

from __future__ import annotations

from pathlib import Path

import cv2
import httpx
import numpy as np
from fastapi import FastAPI
from fastapi.testclient import TestClient

BOUNDS = {"south": "51.4400", "west": "-0.9450", "north": "51.4460", "east": "-0.9360"}


def _png(width: int = 400, height: int = 300) -> bytes:
    image = np.full((height, width, 3), 230, np.uint8)
    cv2.rectangle(image, (40, 40), (width - 40, height - 40), (60, 60, 60), 4)
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()


def _upload(client: TestClient, data: bytes, name: str = "plan.png", **bounds: str) -> httpx.Response:
    return client.put("/api/map/plan", data={**BOUNDS, **bounds}, files={"image": (name, data, "image/png")})


def test_upload_serve_and_remove_a_site_plan(app: FastAPI, clients: dict[str, TestClient],
                                             shared_data: Path) -> None:
    admin, operator = clients["admin"], clients["operator"]
    before = operator.get("/api/map").json()
    assert before["mode"] == "canvas" and not before["uploaded"]
    photo = (shared_data / "faces/face_recognition/lin-manuel-miranda.png").read_bytes()  # any real PNG
    done = admin.put("/api/map/plan", data=BOUNDS, files={"image": ("site.png", photo, "image/png")})
    assert done.status_code == 200, done.text
    plan = done.json()
    assert plan["width"] > 0 and plan["bounds"] == [[51.44, -0.945], [51.446, -0.936]]
    shown = operator.get("/api/map").json()
    assert shown["mode"] == "plan" and shown["uploaded"] and shown["image"] == plan["image"]
    assert shown["bounds"] == plan["bounds"]
    image = operator.get(shown["image"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png" and image.content == photo
    home = app.state.watchnet.settings.home
    assert (home / "map" / "plan.png").read_bytes() == photo
    # a JPEG replaces it
    _ok, jpeg = cv2.imencode(".jpg", np.zeros((120, 160, 3), np.uint8))
    assert admin.put("/api/map/plan", data=BOUNDS, files={"image": ("x.jpg", jpeg.tobytes(), "image/jpeg")}
                     ).status_code == 200
    assert operator.get("/api/map/image").headers["content-type"] == "image/jpeg"
    assert not (home / "map" / "plan.png").exists()
    assert "map.plan" in admin.get("/api/audit", params={"action": "map.plan"}).text
    # removed: the map falls back to what is configured
    assert admin.delete("/api/map/plan").status_code == 204
    assert operator.get("/api/map").json()["mode"] == "canvas"
    assert operator.get("/api/map/image").status_code == 404
    assert admin.delete("/api/map/plan").status_code == 404


def test_bad_site_plans_are_refused(clients: dict[str, TestClient]) -> None:
    admin = clients["admin"]
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    refused = _upload(admin, svg, "plan.svg")
    assert refused.status_code == 415 and "PNG, JPEG or WebP" in refused.text
    assert _upload(admin, b"not an image at all").status_code == 415
    truncated = _upload(admin, _png()[:300])
    assert truncated.status_code == 400 and "cannot be decoded" in truncated.text
    upside_down = _upload(admin, _png(), south="51.45", north="51.44")
    assert upside_down.status_code == 422 and "south" in upside_down.text
    assert _upload(admin, _png(), east="181").status_code == 422
    big = _upload(admin, _png() + b"\0" * (11 * 1024 * 1024))
    assert big.status_code == 413
    for role in ("operator", "auditor", "viewer"):
        assert _upload(clients[role], _png()).status_code == 403
        assert clients[role].delete("/api/map/plan").status_code == 403
    assert admin.get("/api/map").json()["mode"] == "canvas"  # nothing was kept
