"""The linker as a background thread of ``watchnet run`` / ``watchnet serve``.

Every ``linking.poll_s`` it links the sightings written since its cursor, then starts follows for new
alerts, then delivers the hops. It reads the database, not the writer's queue, so a linker in another
process on the same database works the same way.
"""

from __future__ import annotations

import logging
import threading

from watchnet.core.config import Settings
from watchnet.services.alerts import AlertManager
from watchnet.services.linking.follow import FollowDesk
from watchnet.services.linking.linker import Linker
from watchnet.store.db import Engine

log = logging.getLogger("watchnet.services.linking")


class LinkerService:
    """Owns one ``Linker`` and one ``FollowDesk`` wired together; ``start`` runs them on a thread."""

    def __init__(self, engine: Engine, settings: Settings, manager: AlertManager | None = None) -> None:
        self.settings = settings
        self.desk = FollowDesk(engine, settings, manager)
        self.linker = Linker(engine, settings, on_joined=self.desk.on_joined, after_commit=self.desk.flush,
                             on_split=self.desk.on_split)
        self.desk.topology = self.linker.topology
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> int:
        """One round: link new sightings, follow new alerts; returns how many sightings were linked."""
        linked = 0
        while True:  # catch up in batches
            batch = self.linker.step()
            linked += batch
            if batch == 0:
                break
        self.linker.topology = self.linker.load_topology()  # links confirmed in another process teach too
        self.desk.topology = self.linker.topology
        self.desk.check_alerts()
        return linked

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="linker", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the thread after one last round (the sightings writer must be closed first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._round()

    def _round(self) -> None:
        try:
            self.step()
            self.error = None
        except Exception as exc:  # the linker must never take the cameras down
            self.error = str(exc)
            log.exception("linking failed; will retry")

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.linking.poll_s):
            self._round()
