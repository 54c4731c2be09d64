"""The operator's console in a real browser against a real ``watchnet serve``: log in, watch live
cameras, enrol a subject by photo, get the alert live (banner + beep), confirm it with two users,
search, open the map with the subject's path, and check what a viewer may not see."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ARTIFACTS, PASSWORD, Console, copy_log_on_failure

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ALERT_WAIT_MS = 120_000
KEEP_SHOTS = bool(os.environ.get("WATCHNET_E2E_SHOTS"))  # also save screenshots of passing runs


def login(page: Any, console: Console, name: str) -> None:
    page.goto(console.url + "/")
    page.fill("#login-user", name)
    page.fill("#login-password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#shell:not([hidden])")
    assert name in page.inner_text("#whoami")


def live_frames(page: Any) -> int:
    return int(page.evaluate(
        "() => [...document.querySelectorAll('#live-grid img')].filter(i => i.complete && i.naturalWidth > 0).length"))


def test_operator_journey(console: Console, browser: Any, shared_data: Path) -> None:
    try:
        _journey(console, browser, shared_data)
    except BaseException:
        copy_log_on_failure(console)
        raise


def _journey(console: Console, browser: Any, shared_data: Path) -> None:
    olivia = browser()
    login(olivia, console, "olivia")
    # live grid: both cameras stream, with status badges
    olivia.wait_for_function("() => document.querySelectorAll('#live-grid img').length === 2")
    olivia.wait_for_function(
        "() => [...document.querySelectorAll('#live-grid img')].every(i => i.complete && i.naturalWidth > 0)",
        timeout=60_000)
    assert live_frames(olivia) == 2
    assert olivia.locator("#live-grid .status").count() == 2

    # enrol Lin-Manuel Miranda from a photo
    olivia.click("nav a[data-view=watchlist]")
    olivia.fill("#enrol-name", "Lin-Manuel Miranda")
    olivia.fill("#enrol-reason", "e2e: person of interest")
    olivia.set_input_files("#enrol-photo", str(shared_data / "faces/face_recognition/lin-manuel-miranda.png"))
    olivia.click("#enrol-form button[type=submit]")
    olivia.wait_for_selector("#subjects tr[data-subject]")
    assert "Lin-Manuel Miranda" in olivia.inner_text("#subjects")
    # a non-image is refused with a clear message
    bad = shared_data / "SOURCES.md"
    olivia.fill("#enrol-name", "Nobody")
    olivia.fill("#enrol-reason", "should fail")
    olivia.set_input_files("#enrol-photo", str(bad))
    olivia.click("#enrol-form button[type=submit]")
    olivia.wait_for_function("() => document.querySelector('#enrol-error').textContent.includes('not a JPEG')")

    # the stage camera shows him: the alert arrives live (banner + beep) without reloading
    olivia.wait_for_selector("#alert-banner:not([hidden])", timeout=ALERT_WAIT_MS)
    assert "Lin-Manuel Miranda" in olivia.inner_text("#alert-banner")
    assert olivia.evaluate("() => window.watchnetBeeps || 0") >= 1
    olivia.click("#alert-banner")
    olivia.wait_for_selector("#alert-list .alert-card")
    card = olivia.locator("#alert-list .alert-card").first
    alert_id = card.get_attribute("data-alert")
    card.locator("button.primary").click()
    counter = f'[data-confirmations="{alert_id}"]'
    olivia.wait_for_function(f"() => document.querySelector('{counter}')?.textContent.startsWith('1 of 2')")

    # a second user confirms: confirmed for both, the first sees it change live
    ada = browser()
    login(ada, console, "ada")
    ada.goto(console.url + "/#/alerts")
    ada_card = ada.locator(f'#alert-list .alert-card[data-alert="{alert_id}"]')
    ada_card.wait_for()
    assert "1 of 2" in ada_card.inner_text()
    ada_card.locator("button.primary").click()
    ada.wait_for_selector(f'#alert-list .alert-card.confirmed[data-alert="{alert_id}"]')
    olivia.wait_for_selector(f'#alert-list .alert-card.confirmed[data-alert="{alert_id}"]')

    # search (reason required, audited)
    olivia.click("nav a[data-view=search]")
    olivia.fill("#search-reason", "e2e case 42")
    # watchlist-only identity mode: no search by face photo is offered, and the page says why in plain words
    assert olivia.locator("#search-mode option").all_inner_texts() == ["like"]
    assert "keeps no face data" in olivia.locator("#search-photo-note").inner_text()
    olivia.select_option("#search-label", "person")
    for _attempt in range(8):  # sightings are written as tracks end; a few seconds in, some have
        olivia.click("#search-form button[type=submit]")
        olivia.wait_for_function(
            "() => /found \\(audit entry \\d+\\)/.test(document.querySelector('#search-info').textContent)")
        if olivia.locator("#search-results .result").count():
            break
        olivia.wait_for_timeout(4000)
    olivia.wait_for_function(
        "() => [...document.querySelectorAll('#search-results img')].some(i => i.complete && i.naturalWidth > 0)")
    if KEEP_SHOTS:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        olivia.screenshot(path=str(ARTIFACTS / "search.png"))

    # the map: cameras placed, the subject's camera-to-camera path drawn
    olivia.click("nav a[data-view=map]")
    olivia.wait_for_selector("#map #cameras g[data-camera=stage]")
    assert olivia.locator("#map #cameras g[data-camera]").count() == 2
    olivia.fill("#map-reason", "e2e path")
    olivia.click("#map-form button[type=submit]")
    olivia.wait_for_selector("#map-steps li")
    assert re.search(r"stage", olivia.inner_text("#map-steps"))
    assert olivia.locator("#trajectory circle").count() >= 1
    if KEEP_SHOTS:
        olivia.screenshot(path=str(ARTIFACTS / "map.png"))

    # the audit log holds the journey
    ada.click("nav a[data-view=audit]")
    ada.click("#verify")
    ada.wait_for_selector("#verify-result.ok")
    text = ada.inner_text("#audit-table")
    for action in ("watchlist.enrol", "alert.confirm", "search", "login"):
        assert action in text

    # a viewer sees live views (blurred) but no watchlist, search or alerts
    vic = browser()
    login(vic, console, "vic")
    vic.wait_for_function("() => [...document.querySelectorAll('#live-grid img')].some(i => i.naturalWidth > 0)")
    for view in ("watchlist", "search", "alerts", "audit"):
        assert vic.locator(f"nav a[data-view={view}]").is_hidden()
    assert "blurred" in vic.inner_text("#view")
    cookie = {c["name"]: c["value"] for c in vic.context.cookies()}
    refused = httpx.get(console.url + "/api/watchlist/subjects", cookies=cookie, timeout=10)
    assert refused.status_code == 403
