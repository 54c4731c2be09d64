"""What one API process holds: its services, live frames, and hooks to the pipeline.

The API never reaches into camera workers (``watchnet.runtime``): the pipeline side hands it functions
(``camera_status``, ``detector_stats``, ``on_cameras_changed``) and pushes frames and alerts into
``live`` and ``feed``. With no pipeline attached (tests, a read-only console) these are empty.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from watchnet.api.metrics import ApiMetrics
from watchnet.api.ratelimit import LoginLimiter
from watchnet.core.config import Settings
from watchnet.services.bus import AlertBus
from watchnet.services.container import Services
from watchnet.services.live import LiveHub
from watchnet.store.db import Engine


def _no_status() -> dict[str, dict[str, Any]]:
    return {}


def _no_detector() -> dict[str, float]:
    return {}


def _no_workers() -> list[dict[str, Any]]:
    return []


@dataclass(slots=True)
class ApiState:
    """Everything the routes need, on ``app.state.watchnet``; routes take its parts through the typed
    dependencies of ``watchnet.api.deps`` (``WatchlistDep``, ``AlertsDep`` ...)."""

    services: Services
    live: LiveHub
    limiter: LoginLimiter
    metrics: ApiMetrics
    camera_status: Callable[[], dict[str, dict[str, Any]]] = _no_status
    detector_stats: Callable[[], dict[str, float]] = _no_detector
    workers: Callable[[], list[dict[str, Any]]] = _no_workers
    on_cameras_changed: Callable[[], object] | None = None
    closing: threading.Event = field(default_factory=threading.Event)

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def engine(self) -> Engine:
        return self.services.engine

    @property
    def bus(self) -> AlertBus:
        return self.services.bus
