"""The camera settings editor (issues 13 and 14) in headless Chromium against a real ``watchnet serve`` on real
video, at 1600x900 and at a phone size: an admin draws a privacy mask and a line on the PETS camera's frame,
sets the fps cap and plate countries, sees bad input refused with its reason, saves, and finds it all again
after a reload; the camera restarts with the mask and its live picture is black there."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import cv2
import numpy as np
import pytest

from tests.e2e.conftest import Console, copy_log_on_failure
from tests.e2e.test_control_room import DESKTOP, PHONE, chromium, client, no_sideways_scroll, page_at  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
MASK = [(0.05, 0.05), (0.45, 0.05), (0.45, 0.45), (0.05, 0.45)]  # top left of the PETS view, where people walk
RESET: dict[str, Any] = {"privacy_masks": [], "zones": [], "lines": [], "fps_cap": None, "plate_countries": None,
         "detect_mode": None, "min_object_px": None}


def _click(page: Any, fx: float, fy: float) -> None:
    box = page.locator("#set-overlay").bounding_box()
    page.locator("#set-overlay").click(position={"x": box["width"] * fx, "y": box["height"] * fy})


def _masked_is_black(console: Console) -> float:
    """Share of the mask's inner pixels that are black in the live picture of pets (admin: full picture)."""
    with contextlib.closing(client(console, "ada")) as c:
        response = c.get("/api/cameras/pets/snapshot.jpg")
    if response.status_code != 200:
        return 0.0
    picture = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    if picture is None:
        return 0.0
    height, width = picture.shape[:2]
    inner = picture[int(0.1 * height): int(0.4 * height), int(0.1 * width): int(0.4 * width)]
    return float((inner.max(axis=2) < 24).mean())


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1600x900", "390x844"])
def test_draw_a_mask_and_a_line_and_save(console: Console, page_at: Any,  # noqa: F811
                                          viewport: dict[str, int]) -> None:
    try:
        with contextlib.closing(client(console, "ada")) as c:
            c.patch("/api/cameras/pets/settings", json=RESET).raise_for_status()
        page = page_at("ada", viewport)
        page.goto(console.url + "/#/cameras")
        page.click("button[data-settings=pets]")
        page.wait_for_selector("#cam-settings[data-camera=pets]")
        page.wait_for_function("() => document.querySelector('#set-frame').naturalWidth > 0", timeout=120_000)
        assert page.locator("#shape-list li").count() == 1  # "No zones, lines or privacy masks."

        # a mask by clicking four corners, then Finish; a polygon of two points is refused in the page
        page.select_option("#shape-kind", "mask")
        _click(page, *MASK[0])
        _click(page, *MASK[1])
        page.click("#shape-finish")
        assert "at least 3 points" in page.inner_text("#shape-hint")
        for point in MASK[2:]:
            _click(page, *point)
        page.click("#shape-finish")
        # a line by two clicks, named
        page.select_option("#shape-kind", "line")
        page.fill("#shape-name", "door")
        _click(page, 0.6, 0.8)
        _click(page, 0.95, 0.8)
        items = page.locator("#shape-list li")
        assert items.count() == 2 and "door" in items.nth(1).inner_text()
        assert page.locator("#set-overlay polygon.shape.mask").count() == 1
        assert page.locator("#set-overlay polyline.shape.line").count() == 1
        # keyboard: a typed zone, then deleted with its button
        page.select_option("#shape-kind", "zone")
        page.fill("#shape-points", "0.6,0.1 0.9,0.1 0.9,0.3")
        page.click("#shape-add-typed")
        assert items.count() == 3
        page.locator("#shape-list button[data-delete-shape='2']").click()
        assert items.count() == 2

        page.fill("#set-fps", "8")
        page.fill("#set-plates", "cn, xx")  # an unknown country: the server says which
        page.click("#set-save")
        page.wait_for_selector("#set-result.bad")
        assert "xx" in page.inner_text("#set-result")
        page.fill("#set-plates", "cn")
        page.click("#set-save")
        page.wait_for_selector("#set-result.ok")
        if viewport is PHONE:
            no_sideways_scroll(page)

        # after a reload the settings come back
        page.reload()
        page.wait_for_selector("#camera-table tbody tr[data-camera=pets]")
        page.click("button[data-settings=pets]")
        page.wait_for_selector("#cam-settings[data-camera=pets]")
        assert page.input_value("#set-fps") == "8" and page.input_value("#set-plates") == "cn"
        listed = page.inner_text("#shape-list")
        assert "Privacy mask" in listed and "door" in listed
        with contextlib.closing(client(console, "ada")) as c:
            saved = c.get("/api/cameras/pets").json()["settings"]
        assert len(saved["privacy_masks"]) == 1 and saved["lines"][0]["name"] == "door"
        mask = saved["privacy_masks"][0]
        assert all(abs(x - ex) < 0.02 and abs(y - ey) < 0.02 for (x, y), (ex, ey) in zip(mask, MASK, strict=True))

        # the camera restarted with the mask: its live picture is black there
        deadline, black = time.monotonic() + 60, 0.0
        while time.monotonic() < deadline:
            black = _masked_is_black(console)
            if black > 0.99:
                break
            time.sleep(1)
        assert black > 0.99, black
    except BaseException:
        copy_log_on_failure(console)
        raise
    finally:
        with contextlib.closing(client(console, "ada")) as c:
            c.patch("/api/cameras/pets/settings", json=RESET)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1600x900", "390x844"])
def test_upload_a_site_plan_on_the_map(console: Console, page_at: Any, tmp_path: Any,  # noqa: F811
                                       viewport: dict[str, int]) -> None:
    plan = np.full((700, 1000, 3), 235, np.uint8)
    cv2.rectangle(plan, (100, 100), (900, 600), (40, 40, 40), 6)
    path = tmp_path / "site-plan.png"
    cv2.imwrite(str(path), plan)
    try:
        page = page_at("ada", viewport)
        page.goto(console.url + "/#/map")
        page.wait_for_selector("#map #cameras g[data-camera=stage]")
        page.click("#plan-details summary")
        page.set_input_files("#plan-file", str(path))
        page.fill("#plan-south", "51.4400")
        page.fill("#plan-north", "51.4450")
        page.fill("#plan-west", "-0.9440")
        page.fill("#plan-east", "-0.9380")
        page.click("#plan-upload")
        page.wait_for_selector("#map .background image[href^='/api/map/image']")
        assert "uploaded site plan" in page.inner_text("#view")
        loaded = page.evaluate("async () => (await fetch('/api/map/image')).headers.get('content-type')")
        assert loaded == "image/png"
        if viewport is PHONE:
            no_sideways_scroll(page)
        page.click("#plan-details summary")
        page.click("#plan-remove")
        page.wait_for_function("() => !document.querySelector('#map .background image')")
    except BaseException:
        copy_log_on_failure(console)
        raise
    finally:
        with contextlib.closing(client(console, "ada")) as c:
            c.delete("/api/map/plan")
