"""``make screenshots``: a real demo run (``watchnet serve`` on the PETS walk and the Hamilton clip, a
subject enrolled from a photo, a real alert) photographed page by page in headless Debian Chromium at
1600x900 and at a phone size (390x844), into docs/screenshots/<page>-<size>.png.

Usage: python scripts/screenshots.py DATA_DIR [OUT_DIR]   (DATA_DIR: the shared test-data folder)
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

CHROMIUM = os.environ.get("WATCHNET_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
SIZES = {"desktop": (1600, 900), "phone": (390, 844)}
PASSWORD = "screenshot password 123"
USERS = {"olivia": "operator", "ada": "admin"}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_config(data: Path, home: Path) -> Path:
    config = home.parent / "watchnet.yaml"
    config.write_text(yaml.safe_dump({"cameras": [
        {"name": "pets", "url": str(data / "tracking/pets09_s2l1/pets09_s2l1_view001_480x360_10fps.avi"),
         "lat": 51.4416, "lon": -0.9419, "heading": 45, "fov": 70},
        {"name": "stage", "url": str(data / "faces/face_recognition/short_hamilton_clip.mp4"),
         "lat": 51.4430, "lon": -0.9395, "heading": 200, "fov": 60},
    ]}))
    return config


@contextlib.contextmanager
def serve(config: Path, home: Path, port: int) -> Iterator[str]:
    """``watchnet serve`` on ``config``, looping, until the block ends."""
    env = {**os.environ, "WATCHNET_HOME": str(home)}
    for name, role in USERS.items():
        add = ["add", name, "--role", role, "--password-stdin"]
        subprocess.run([sys.executable, "-c", "from watchnet.cli.users import app; app()", *add],
                       input=PASSWORD + "\n", text=True, env=env, check=False, capture_output=True)
    log = (home.parent / "serve.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "watchnet.cli.serve", str(config), "--port", str(port), "--loop"],
                               env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"watchnet serve did not start; see {home.parent / 'serve.log'}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def login(page: Any, url: str, name: str) -> None:
    page.goto(url + "/")
    page.fill("#login-user", name)
    page.fill("#login-password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#shell:not([hidden])")


def prepare(url: str, data: Path, wait_s: float = 180.0) -> int:
    """Enrol the subject through the API and wait for the first alert; returns its id."""
    with httpx.Client(base_url=url, timeout=60) as client:
        client.post("/api/auth/login", json={"username": "olivia", "password": PASSWORD}).raise_for_status()
        photo = data / "faces/face_recognition/lin-manuel-miranda.png"
        subject = {"name": "Lin-Manuel Miranda", "reason": "demo: person of interest"}
        client.post("/api/watchlist/subjects", data=subject,
                    files={"photo": (photo.name, photo.read_bytes(), "image/png")}).raise_for_status()
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            items = client.get("/api/alerts").json()["items"]
            if items:
                time.sleep(15)  # let tracks end, so sightings (search, track crops) exist
                return int(items[0]["id"])
            time.sleep(2)
    raise SystemExit(f"no alert within {wait_s:.0f} s")


def shoot(url: str, out: Path, alert_id: int) -> list[Path]:
    from playwright.sync_api import sync_playwright

    shots: list[Path] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        for size, (width, height) in SIZES.items():
            for user in ("olivia", "ada"):
                context = browser.new_context(viewport={"width": width, "height": height})
                page = context.new_page()
                if user == "olivia":
                    page.goto(url + "/")
                    page.wait_for_selector("#login:not([hidden])")
                    shots.append(_snap(page, out, "login", size))
                login(page, url, user)
                pages = _pages_for(user, alert_id)
                for name, hash_, ready in pages:
                    page.goto(f"{url}/{hash_}")
                    with contextlib.suppress(Exception):
                        page.wait_for_selector(ready, timeout=20_000)
                    if name == "search":
                        page.fill("#search-reason", "demo screenshot")
                        page.click("#search-form button[type=submit]")
                        with contextlib.suppress(Exception):
                            page.wait_for_selector("#search-results .result img", timeout=20_000)
                    if name == "timeline":
                        page.fill("#timeline-reason", "demo screenshot")
                        page.click("#timeline-subject-form button[type=submit]")
                        with contextlib.suppress(Exception):
                            page.wait_for_selector("#timeline-axis", timeout=20_000)
                    if name == "camera-settings":  # the editor, with a privacy mask and a line drawn (not saved)
                        with contextlib.suppress(Exception):
                            page.click("button[data-settings]")
                            page.wait_for_function("() => document.querySelector('#set-frame').naturalWidth > 0",
                                                   timeout=30_000)
                            page.fill("#shape-points", "0.02,0.05 0.3,0.05 0.3,0.35 0.02,0.35")
                            page.click("#shape-add-typed")
                            page.select_option("#shape-kind", "line")
                            page.fill("#shape-name", "door")
                            page.fill("#shape-points", "0.55,0.85 0.95,0.8")
                            page.click("#shape-add-typed")
                            page.locator("#cam-settings").scroll_into_view_if_needed()
                    if name == "live":
                        with contextlib.suppress(Exception):
                            page.wait_for_function(
                                "() => [...document.querySelectorAll('#live-grid img')].every(i => i.naturalWidth > 0)",
                                timeout=30_000)
                    page.wait_for_timeout(1500)
                    shots.append(_snap(page, out, name, size))
                context.close()
        browser.close()
    return shots


def _pages_for(user: str, alert_id: int) -> list[tuple[str, str, str]]:
    if user == "olivia":
        return [("live", "#/live", "#live-grid img"), ("alerts", f"#/alerts/{alert_id}", "#decision .evidence-row"),
                ("watchlist", "#/watchlist", "#subjects"), ("search", "#/search", "#search-form"),
                ("map", "#/map", "#map"), ("follow", "#/follow", "#follow-form"),
                ("timeline", "#/timeline", "#timeline-subject-form"), ("stats", "#/stats", "section")]
    return [("cameras", "#/cameras", "#camera-table tbody tr"),
            ("camera-settings", "#/cameras", "#camera-table button[data-settings]"),
            ("audit", "#/audit", "#audit-table tbody tr"), ("users", "#/users", "table")]


def _snap(page: Any, out: Path, name: str, size: str) -> Path:
    path = out / f"{name}-{size}.png"
    page.screenshot(path=str(path))
    print(path)
    return path


def main() -> None:
    data = Path(sys.argv[1]).resolve()
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "docs/screenshots").resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="watchnet-shots-", ignore_cleanup_errors=True) as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        config = demo_config(data, home)
        with serve(config, home, _port()) as url:
            alert_id = prepare(url, data)
            shots = shoot(url, out, alert_id)
    print(f"{len(shots)} screenshots in {out}")


if __name__ == "__main__":
    main()
