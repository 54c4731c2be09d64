"""What one API process holds: settings, the store, live frames, the alert feed, and hooks to the pipeline.

The API never reaches into camera workers (see ARCHITECTURE.md): the pipeline side hands it functions
(``camera_status``, ``detector_stats``, ``on_cameras_changed``) and pushes frames and alerts into
``live`` and ``feed``. With no pipeline attached (tests, a read-only console) these are empty.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from watchnet.api.metrics import ApiMetrics
from watchnet.api.ratelimit import LoginLimiter
from watchnet.core.config import Settings
from watchnet.services.bus import AlertBus
from watchnet.services.live import LiveHub


def _no_status() -> dict[str, dict[str, Any]]:
    return {}


def _no_detector() -> dict[str, float]:
    return {}


@dataclass(slots=True)
class ApiState:
    """Everything the routes need, on ``app.state.watchnet``."""

    settings: Settings
    engine: Engine
    live: LiveHub
    bus: AlertBus
    limiter: LoginLimiter
    metrics: ApiMetrics
    camera_status: Callable[[], dict[str, dict[str, Any]]] = _no_status
    detector_stats: Callable[[], dict[str, float]] = _no_detector
    on_cameras_changed: Callable[[], None] | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    closing: threading.Event = field(default_factory=threading.Event)
