"""A real ``watchnet serve`` (subprocess, real models, real videos) and headless Debian Chromium driven by
Playwright (``executable_path=/usr/bin/chromium``: no browser download). Screenshots of every open page
go to tests/artifacts/ when a test fails."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = os.environ.get("WATCHNET_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
PASSWORD = "e2e password 12345"
USERS = {"olivia": "operator", "ada": "admin", "vic": "viewer"}
START_TIMEOUT_S = 120.0


@dataclass
class Console:
    url: str
    home: Path
    process: subprocess.Popen[bytes]
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(home: Path, *args: str, stdin: str | None = None) -> None:
    env = {**os.environ, "WATCHNET_HOME": str(home)}
    code = "import sys, typer; from watchnet.cli.users import app; app()"
    done = subprocess.run([sys.executable, "-c", code, *args], input=stdin, text=True, env=env,
                          capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[Console]:
    """``watchnet serve`` on the PETS pedestrians and the Hamilton clip, both looping, with three users."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (scripts/system-deps.sh)", pytrace=False)
    home = tmp_path_factory.mktemp("e2e") / "home"
    config = home.parent / "watchnet.yaml"
    config.write_text(yaml.safe_dump({"cameras": [
        {"name": "pets", "url": str(shared_data / "tracking/pets09_s2l1/pets09_s2l1_view001_480x360_10fps.avi"),
         "lat": 51.4416, "lon": -0.9419},
        {"name": "stage", "url": str(shared_data / "faces/face_recognition/short_hamilton_clip.mp4"),
         "lat": 51.4430, "lon": -0.9395, "heading": 135, "fov": 70},
    ]}))
    for name, role in USERS.items():
        _cli(home, "add", name, "--role", role, "--password-stdin", stdin=PASSWORD + "\n")
    port = _free_port()
    log = home.parent / "serve.log"
    env = {**os.environ, "WATCHNET_HOME": str(home)}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "watchnet.cli.serve", str(config), "--port", str(port), "--loop"],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                break
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"watchnet serve did not start:\n{log.read_text()[-3000:]}", pytrace=False)
        time.sleep(0.3)
    console = Console(url, home, process, log)
    yield console
    process = console.process  # a test may have restarted the server: stop the one running now
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def playwright_() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture()
def browser(playwright_: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A factory of fresh Chromium contexts (each its own --user-data-dir), closed after the test."""
    contexts: list[Any] = []

    def new() -> Any:
        profile = tmp_path / f"profile-{len(contexts)}"
        context = playwright_.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 850},
        )
        context.set_default_timeout(30_000)
        contexts.append(context)
        return context.pages[0] if context.pages else context.new_page()

    yield new
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for i, context in enumerate(contexts):
            for j, page in enumerate(context.pages):
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{i}-{j}.png"), full_page=True)
    for context in contexts:
        with contextlib.suppress(Exception):
            context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    outcome: Any = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def copy_log_on_failure(console: Console) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(console.log, ARTIFACTS / "serve.log")
