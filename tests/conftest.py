"""Shared fixtures: where the real test data lives, and an isolated watchnet home per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from watchnet.core.config import Settings

pytest_plugins = ["tests.postgres"]

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("WATCHNET_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real, third-party test data set (see ../shared/data/SOURCES.md). Never copied into the repo."""
    if not (SHARED_DATA / "SOURCES.md").is_file():
        pytest.fail(f"shared test data not found at {SHARED_DATA}; set WATCHNET_SHARED_DATA")
    return SHARED_DATA


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    """Settings with a fresh WATCHNET_HOME under tmp_path and the shared user model cache."""
    return Settings.load(home=tmp_path / "home")
