"""A hotlist plate seen by a camera raises an alert through the same path as a face match (real CLI)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from watchnet.core.config import Settings
from watchnet.services.alerts import AlertManager
from watchnet.store.db import open_store

pytestmark = pytest.mark.slow


def cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WATCHNET_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "watchnet", *args], env=env, capture_output=True, text=True,
                          timeout=300)


def test_hotlist_plate_alerts_through_watchnet_run(shared_data: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    frames = tmp_path / "camera"
    frames.mkdir()
    photo = shared_data / "plates" / "openalpr_eu" / "test_006.jpg"  # a parked car, plate RK099AN
    for i in range(30):  # a still camera looking at the parked car for 3 s, default settings
        shutil.copy(photo, frames / f"{i:04d}.jpg")

    added = cli("watchlist", "add-plate", "rk-099 an", "--by", "alice", "--reason", "stolen car", home=home)
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["name"] == "RK099AN"
    stranger = cli("watchlist", "add-plate", "ZZ999ZZ", "--by", "alice", home=home)
    assert stranger.returncode == 0, stranger.stderr

    run = cli("run", "--source", f"car={frames}", home=home)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "ALERT plate match: RK099AN" in run.stderr

    engine = open_store(Settings.load(home=home))
    alerts = AlertManager(engine).list_alerts()
    assert [(a.alert.kind, a.alert.subject_name, a.alert.camera) for a in alerts] == [("plate", "RK099AN", "car")]
    assert alerts[0].alert.state == "new"
    bad = cli("watchlist", "add-plate", "--by", "alice", "!!", home=home)
    assert bad.returncode == 2 and "not a plate" in bad.stderr
