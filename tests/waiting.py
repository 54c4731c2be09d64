"""Helpers for tests that drive real servers, workers and clusters: wait for a condition, make a short clip."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

PETS = "tracking/pets09_s2l1/pets09_s2l1_view001_480x360_10fps.avi"


def until(check: Callable[[], object], what: str, timeout: float, during: Callable[[], None] | None = None,
          every: float = 0.3) -> None:
    """Poll ``check`` until it is true (running ``during`` before each look); fail saying what never came."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if during is not None:
            during()
        if check():
            return
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def pets_clip(shared_data: Path, out: Path) -> Path:
    """The first 3 s of PETS (30 frames) as H.264, so a looping camera replays it during a test."""
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(shared_data / PETS),
                    "-frames:v", "30", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(out)],
                   check=True, timeout=60)
    return out
