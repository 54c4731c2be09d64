"""``build_services``: the one place a process builds its services.

``watchnet run``, ``watchnet serve``, a camera worker, the API's dependencies and the tests all get their
watchlist, alert manager, search and export tools from a ``Services`` made here, so each service has one
constructor call in the whole code base and one instance per process. Services are built on first use
(most load a model or open a sink connection) under a lock, because API routes run on a thread pool.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from watchnet.core.config import Settings
from watchnet.services.alerts import AlertManager
from watchnet.services.bus import AlertBus
from watchnet.services.exports import Exports, ExportTools
from watchnet.services.linking.journeys import Journeys
from watchnet.services.search import SightingSearch
from watchnet.services.watchlist import Watchlist
from watchnet.store.db import Engine, open_store

if TYPE_CHECKING:
    from watchnet.services.linking.service import LinkerService
    from watchnet.vision.analysis.faces import FaceAnalyzer

T = TypeVar("T")


class Services:
    """Every service of one process, built lazily and exactly once.

    ``deliver_to_sinks=False`` is for camera workers: their alerts go to the store's event log and the
    consoles hand each to the webhook/MQTT sinks once (``watchnet.services.dispatch``).
    """

    def __init__(self, settings: Settings, engine: Engine, bus: AlertBus | None = None, *,
                 deliver_to_sinks: bool = True, faces: FaceAnalyzer | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.bus = bus if bus is not None else AlertBus(settings.alerts.bus_queue)
        self.deliver_to_sinks = deliver_to_sinks
        self._lock = threading.RLock()
        self._built: dict[str, object] = {}
        self._faces = faces
        self._on_watchlist_change: list[Callable[[str, int], None]] = []

    def _once(self, name: str, make: Callable[[], T]) -> T:
        with self._lock:
            if name not in self._built:
                self._built[name] = make()
            found: T = self._built[name]  # type: ignore[assignment]
            return found

    @property
    def alerts(self) -> AlertManager:
        """The process's alert manager: records, groups, publishes on ``bus``, audits decisions."""
        return self._once("alerts", self._make_alerts)

    @property
    def watchlist(self) -> Watchlist:
        """Enrolment and the subjects; shares the face model with the cameras once they use one."""
        return self._once("watchlist", lambda: Watchlist(
            self.settings, self.engine, analyzer=self._faces,
            on_change=self._watchlist_changed))

    @property
    def search(self) -> SightingSearch:
        """Forensic search (it caches vectors, so one per process)."""
        return self._once("search", lambda: SightingSearch(self.engine, self.settings, faces=self._faces))

    @property
    def exports(self) -> Exports:
        """Evidence exports (their models, a person and a face detector, load on the first export)."""
        return self._once("exports", lambda: Exports(self.engine, self.settings, ExportTools(self.settings)))

    @property
    def faces(self) -> FaceAnalyzer:
        """The face model, loaded on first use and shared by the watchlist, search and the cameras."""
        with self._lock:
            if self._faces is None:
                from watchnet.vision.analysis.faces import FaceAnalyzer

                self._faces = FaceAnalyzer(self.settings)
                self._built.pop("watchlist", None)  # rebuilt around the shared model on next use
                self._built.pop("search", None)
            return self._faces

    def on_watchlist_change(self, hook: Callable[[str, int], None]) -> None:
        """Call ``hook(action, subject_id)`` after every committed watchlist change (e.g. reload a gallery)."""
        self._on_watchlist_change.append(hook)

    def _watchlist_changed(self, action: str, subject_id: int) -> None:
        for hook in self._on_watchlist_change:
            hook(action, subject_id)

    @property
    def journeys(self) -> Journeys:
        """Journeys, link decisions and follows for the console and the CLI."""
        return self._once("journeys", lambda: Journeys(self.engine, self.settings))

    def linker(self) -> LinkerService:
        """A started journey linker (and follow desk) over every camera's sightings; the caller closes it."""
        from watchnet.services.linking.service import LinkerService

        service = LinkerService(self.engine, self.settings, self.alerts)
        service.start()
        return service

    def close(self, timeout: float = 10.0) -> None:
        """Flush the alert sinks, if the manager was ever made."""
        manager = self._built.get("alerts")
        if isinstance(manager, AlertManager):
            manager.shutdown(timeout)

    def _make_alerts(self) -> AlertManager:
        if self.deliver_to_sinks:
            return AlertManager.from_settings(self.settings, self.engine, self.bus)
        cfg = self.settings.alerts
        manager = AlertManager(self.engine, self.bus, (), confirmations=cfg.confirmations,
                               group_window_s=cfg.group_window_s, group_max_faces=cfg.group_max_faces)
        manager.sinks_from_log = True
        return manager


def build_services(settings: Settings, engine: Engine | None = None, *, bus: AlertBus | None = None,
                   deliver_to_sinks: bool = True, faces: FaceAnalyzer | None = None) -> Services:
    """The services of one process over ``engine`` (opened and migrated from ``settings`` when not given);
    ``faces``: a face model already loaded (a bench or test that shares one across runs)."""
    return Services(settings, engine if engine is not None else open_store(settings), bus,
                    deliver_to_sinks=deliver_to_sinks, faces=faces)
