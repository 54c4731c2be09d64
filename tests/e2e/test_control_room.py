"""The control-room console (issue 14) in headless Chromium against a real ``watchnet serve`` on real video,
at 1600x900 and at a phone size (390x844): live layouts remembered per user, full screen, state badges with
errors, the "connection lost" banner and streams that come back after a server restart; the alert decision
view with its evidence and keyboard decisions; cameras added, tested, placed and removed from the console;
map, search paging, timeline, readable audit, charts; and no page wider than a phone."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import CHROMIUM, CHROMIUM_FLAGS, PASSWORD, Console, copy_log_on_failure

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
DESKTOP = {"width": 1600, "height": 900}
PHONE = {"width": 390, "height": 844}
ALERT_WAIT_S = 180


@pytest.fixture(scope="module")
def chromium(playwright_: Any) -> Iterator[Any]:
    browser = playwright_.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
    yield browser
    browser.close()


@pytest.fixture()
def page_at(chromium: Any, console: Console) -> Iterator[Any]:
    """A factory: a fresh browser context at a viewport, logged in as a user."""
    contexts: list[Any] = []

    def open_(user: str, viewport: dict[str, int] = DESKTOP) -> Any:
        context = chromium.new_context(viewport=viewport)
        context.set_default_timeout(30_000)
        contexts.append(context)
        page = context.new_page()
        page.goto(console.url + "/")
        page.fill("#login-user", user)
        page.fill("#login-password", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_selector("#shell:not([hidden])")
        return page

    yield open_
    for context in contexts:
        with contextlib.suppress(Exception):
            context.close()


def client(console: Console, user: str) -> httpx.Client:
    c = httpx.Client(base_url=console.url, timeout=60)
    c.post("/api/auth/login", json={"username": user, "password": PASSWORD}).raise_for_status()
    return c


def an_alert(console: Console, shared_data: Path) -> int:
    """The id of an alert on the stage camera (enrols the subject when no earlier test did)."""
    with contextlib.closing(client(console, "olivia")) as c:
        if not c.get("/api/watchlist/subjects").json():
            photo = shared_data / "faces/face_recognition/lin-manuel-miranda.png"
            c.post("/api/watchlist/subjects", data={"name": "Lin-Manuel Miranda", "reason": "e2e control room"},
                   files={"photo": (photo.name, photo.read_bytes(), "image/png")}).raise_for_status()
        deadline = time.monotonic() + ALERT_WAIT_S
        while time.monotonic() < deadline:
            items = c.get("/api/alerts").json()["items"]
            if items:
                return int(items[0]["id"])
            time.sleep(2)
    pytest.fail("no alert on the stage camera within 3 minutes")


def no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] + 1, f"{page.url}: {width}px wide"


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1600x900", "390x844"])
def test_live_layouts_fullscreen_badges(console: Console, page_at: Any, viewport: dict[str, int]) -> None:
    page = page_at("olivia", viewport)
    page.wait_for_function("() => document.querySelectorAll('#live-grid .cam').length === 2")
    badges = page.locator("#live-grid .status").all_inner_texts()
    known = {"connecting", "running", "reconnecting", "restarting", "ended"}
    assert len(badges) == 2 and all(b in known for b in badges)
    page.wait_for_function("() => [...document.querySelectorAll('#live-grid img')].some(i => i.naturalWidth > 0)",
                           timeout=90_000)
    if viewport is PHONE:  # one column, and the menu folds away behind a button
        assert page.locator("#nav").is_hidden()
        page.click("#menu-toggle")
        assert page.locator("#nav a[data-view=alerts]").is_visible()
        page.click("#menu-toggle")
        no_sideways_scroll(page)
        return
    page.click("[data-layout='1']")
    assert page.locator("#live-grid .cam").count() == 1
    assert page.inner_text("#live-page") == "page 1 of 2"
    page.click("#live-next")
    assert page.locator("#live-grid .cam").count() == 1
    page.click("[data-layout='2x2']")
    assert page.get_attribute("#live-grid", "data-layout") == "2x2"
    columns = "() => getComputedStyle(document.querySelector('#live-grid')).gridTemplateColumns.split(' ').length"
    assert page.evaluate(columns) == 2
    # remembered for this user across reloads, not for another user
    page.reload()
    page.wait_for_selector("#live-grid .cam")
    assert page.get_attribute("[data-layout='2x2']", "aria-pressed") == "true"
    other = page_at("ada", viewport)
    other.wait_for_selector("#live-grid .cam")
    assert other.get_attribute("[data-layout='auto']", "aria-pressed") == "true"
    # double-click: full screen; Escape leaves it
    tile = page.locator("#live-grid .cam").first
    tile.dblclick()
    page.wait_for_selector("#live-grid .cam.fullscreen")
    box = page.locator("#live-grid .cam.fullscreen").bounding_box()
    assert box["width"] >= 1500 and box["height"] >= 850
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.querySelector('#live-grid .cam.fullscreen')")
    # labels are legible: the camera name at least 15 px
    assert page.evaluate("() => parseFloat(getComputedStyle(document.querySelector('.cam-name')).fontSize)") >= 15


def test_unreachable_camera_badge_and_console_crud(console: Console, page_at: Any, shared_data: Path) -> None:
    try:
        page = page_at("ada")
        page.goto(console.url + "/#/cameras")
        page.wait_for_selector("#camera-table tbody tr[data-camera=stage]")
        # test connection: a dead stream says why, a real video says what it is
        page.fill("#cam-name", "ghost")
        page.fill("#cam-url", "rtsp://127.0.0.1:9/nothing")
        page.click("#cam-test")
        page.wait_for_selector("#cam-test-result.bad", timeout=60_000)
        assert "Cannot connect" in page.inner_text("#cam-test-result")
        page.fill("#cam-url", str(shared_data / "tracking/pets09_s2l1/pets09_s2l1_view001_480x360_10fps.avi"))
        page.click("#cam-test")
        page.wait_for_selector("#cam-test-result.ok", timeout=60_000)
        assert "480×360" in page.inner_text("#cam-test-result")
        # place it by clicking on the map, save it with the dead URL: its tile says "unreachable" with the error
        page.fill("#cam-url", "rtsp://127.0.0.1:9/nothing")
        page.locator("#cam-map").click(position={"x": 200, "y": 150})
        assert page.input_value("#cam-lat") and page.input_value("#cam-lon")
        lat = float(page.input_value("#cam-lat"))
        page.click("#cam-save")
        page.wait_for_selector("#camera-table tbody tr[data-camera=ghost]")
        assert f"{lat:.5f}" in page.inner_text("#camera-table tbody tr[data-camera=ghost]")
        page.goto(console.url + "/#/live")
        page.click("[data-layout='auto']")
        tile = "#live-grid .cam[data-tile=ghost]"
        page.wait_for_selector(tile)
        page.wait_for_function(
            f"() => ['unreachable', 'reconnecting', 'failed']"
            f".includes(document.querySelector('{tile} .status')?.dataset.state)"
            f" && document.querySelector('{tile} .tile-error').textContent.length > 0", timeout=90_000)
        # the other cameras went on
        running = page.locator("#live-grid .status[data-state=running]").count()
        assert running >= 1
        # edit, then remove from the console
        page.goto(console.url + "/#/cameras")
        page.click("button[data-edit=ghost]")
        assert page.input_value("#cam-name") == "ghost" and page.locator("#cam-name").is_disabled()
        page.once("dialog", lambda d: d.accept())
        page.click("button[data-remove=ghost]")
        page.wait_for_function("() => !document.querySelector('#camera-table tr[data-camera=ghost]')")
    except BaseException:
        copy_log_on_failure(console)
        raise


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1600x900", "390x844"])
def test_alert_decision_view(console: Console, page_at: Any, shared_data: Path, viewport: dict[str, int]) -> None:
    alert_id = an_alert(console, shared_data)
    page = page_at("olivia", viewport)
    page.goto(f"{console.url}/#/alerts/{alert_id}")
    page.wait_for_selector(f'#decision[data-alert="{alert_id}"]')
    # evidence side by side: enrolled photo, matched face, scene frame, the camera on the map, the journey line
    loaded = "(sel) => [...document.querySelectorAll(sel)].some(i => i.complete && i.naturalWidth > 0)"
    for sel in ("#decision img[alt^='Enrolled photo']", "#decision-crop", "#decision-scene"):
        page.wait_for_function(loaded, arg=sel)
    assert page.locator("#decision-map g.here[data-camera=stage]").count() == 1
    assert page.locator("#decision-journey").count() == 1
    assert page.locator("#decision-tracks").count() == 1
    # the seconds before and after the match: an H.264 clip written next to the snapshot, played in the view
    page.wait_for_function("""() => { const v = document.querySelector('#decision-clip');
        return v && v.readyState >= 2 && v.videoWidth > 0 && v.duration >= 2; }""", timeout=60_000)
    clip = client(console, "olivia").get(f"/api/alerts/{alert_id}/clip.mp4")
    assert clip.status_code == 200 and clip.headers["content-type"] == "video/mp4"
    with contextlib.closing(client(console, "vic")) as viewer:  # the snapshot's readers only
        assert viewer.get(f"/api/alerts/{alert_id}/clip.mp4").status_code == 403
    if viewport is PHONE:
        no_sideways_scroll(page)
        return
    alert = client(console, "olivia").get(f"/api/alerts/{alert_id}").json()
    # keyboard: a fresh operator decides with one key (c while new, x once confirmed)
    with contextlib.closing(client(console, "ada")) as admin:
        admin.post("/api/users", json={"name": "kim", "role": "operator", "password": PASSWORD})
    kim = page_at("kim")
    kim.goto(f"{console.url}/#/alerts/{alert_id}")
    kim.wait_for_selector(f'#decision[data-alert="{alert_id}"]')
    kim.locator("#view").click(position={"x": 5, "y": 5})
    if alert["state"] == "new":
        before = alert["confirmations"]
        kim.keyboard.press("c")
        card = f"#alert-list .alert-card[data-alert='{alert_id}']"
        kim.wait_for_function(f"() => /{before + 1} of 2|confirmed/"
                              f".test(document.querySelector(\"{card}\").textContent)")
    else:
        kim.keyboard.press("x")
        kim.wait_for_selector(f'#alert-list .alert-card.closed[data-alert="{alert_id}"]')
    # filters: by camera (pets has none of his alerts), by state
    kim.select_option("#alert-camera", "pets")
    kim.wait_for_selector("#no-alerts")
    kim.select_option("#alert-camera", "")
    kim.wait_for_selector(f'#alert-list .alert-card[data-alert="{alert_id}"]')
    # j/k move between alerts without a mouse (with one alert, the selection stays)
    kim.keyboard.press("j")
    assert kim.locator("#alert-list .alert-card.selected").count() == 1


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1600x900", "390x844"])
def test_map_search_timeline_audit_stats(console: Console, page_at: Any, shared_data: Path,
                                         viewport: dict[str, int]) -> None:
    an_alert(console, shared_data)
    page = page_at("olivia", viewport)
    page.goto(console.url + "/#/map")
    page.wait_for_selector("#map #cameras g[data-camera=stage][data-state]")
    assert (page.locator("#map-scale text").text_content() or "").endswith("m")  # SVG: no inner_text
    assert page.locator("#map-legend").is_visible()
    assert page.locator("#map g[data-camera=stage] .heading").count() == 1  # heading from the configuration
    page.wait_for_selector("#alert-markers g[data-alerts]")  # the alert rings come from a second request
    assert "alert" in (page.text_content("#alert-markers") or "")
    no_sideways_scroll(page)
    page.goto(console.url + "/#/search")
    page.fill("#search-reason", "e2e control room")
    page.select_option("#search-preset", "24h")
    page.click("#search-form button[type=submit]")
    page.wait_for_function(
        "() => /found \\(audit entry \\d+\\)/.test(document.querySelector('#search-info').textContent)")
    assert page.locator("#search-prev").is_disabled()
    if page.locator("#search-results .result").count():
        fit = page.evaluate("() => getComputedStyle(document.querySelector('#search-results .thumb')).objectFit")
        assert fit == "contain"  # people at their own aspect ratio, not cut at head and feet
    no_sideways_scroll(page)
    page.goto(console.url + "/#/timeline")
    page.fill("#timeline-reason", "e2e timeline")
    page.click("#timeline-subject-form button[type=submit]")
    page.wait_for_selector("#timeline-axis")
    assert "stage" in page.inner_text("#timeline-list")
    page.goto(console.url + "/#/stats")
    page.wait_for_selector("#chart-hourly")
    assert "hour (local time)" in (page.text_content("#chart-hourly") or "")
    no_sideways_scroll(page)
    auditor = page_at("ada", viewport)
    auditor.goto(console.url + "/#/audit")
    auditor.wait_for_selector("#audit-table tbody tr")
    headers = auditor.locator("#audit-table th").all_inner_texts()
    assert headers[:6] == ["#", "When", "Who", "What", "On", "Why"]
    assert "e2e control room" in auditor.inner_text("#audit-table")  # the search's reason, in its own column


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1600x900", "390x844"])
def test_page_load_asks_early_and_streams_late(console: Console, page_at: Any, viewport: dict[str, int]) -> None:
    """The live wall's load (issue 14's 300 ms budget): the session and the camera list asked for together,
    once; the alert list after the wall; a stream opened only after its tile's first snapshot; every static
    file under the versioned, cached path. (A camera without frames asking for no picture: bench/console.py.)"""
    page = page_at("olivia", viewport)
    page.wait_for_function("() => document.querySelectorAll('#live-grid .cam[data-picture=shown]').length === 2",
                           timeout=90_000)
    events: list[str] = []  # "> url" when asked, "< url" when answered, in order
    page.on("request", lambda r: events.append("> " + r.url.replace(console.url, "")))
    page.on("requestfinished", lambda r: events.append("< " + r.url.replace(console.url, "")))
    page.reload()
    page.wait_for_function("() => [...document.querySelectorAll('#live-grid .cam')].every((t) => t.dataset.picture)")
    page.wait_for_function("() => document.querySelectorAll('#live-grid .cam[data-picture=shown]').length === 2")
    page.wait_for_timeout(1500)
    requests = [e[2:] for e in events if e.startswith(">")]
    assert requests.count("/api/cameras") == 1 and requests.count("/api/auth/me") == 1, requests
    assert events.index("> /api/cameras") < events.index("< /api/auth/me"), "camera list waited for the session"
    alerts = next(i for i, u in enumerate(requests) if u.startswith("/api/alerts?limit="))
    assert alerts > requests.index("/api/cameras")
    for name in ("pets", "stage"):
        snap = next(i for i, u in enumerate(requests) if u.startswith(f"/api/cameras/{name}/snapshot.jpg"))
        stream = next(i for i, u in enumerate(requests) if u.startswith(f"/api/cameras/{name}/live.mjpeg"))
        assert snap < stream, f"{name}: stream opened before its first picture"
    statics = [u for u in requests if u.startswith("/static/")]
    assert statics and all(u.startswith("/static/v/") for u in statics), statics


def test_connection_lost_banner_and_streams_come_back(console: Console, page_at: Any) -> None:
    """Stops the server under an open console and starts it again on the same port (runs last)."""
    page = page_at("olivia")
    page.wait_for_function("() => [...document.querySelectorAll('#live-grid img')].some(i => i.naturalWidth > 0)",
                           timeout=90_000)
    args = console.process.args
    console.process.terminate()
    console.process.wait(timeout=60)
    page.wait_for_selector("#conn-banner:not([hidden])", timeout=30_000)
    assert "Connection lost" in page.inner_text("#conn-banner")
    # a new server on the same port: the banner goes and the tiles get pictures again without a reload
    page.evaluate("() => document.querySelectorAll('#live-grid img').forEach(i => { i.dataset.before = i.src; })")
    env = {**os.environ, "WATCHNET_HOME": str(console.home)}
    with console.log.open("ab") as out:
        console.process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL)
    page.wait_for_selector("#conn-banner", state="hidden", timeout=180_000)
    page.wait_for_function("""() => [...document.querySelectorAll('#live-grid img')]
        .some(i => i.src !== i.dataset.before && i.complete && i.naturalWidth > 0)""", timeout=120_000)
