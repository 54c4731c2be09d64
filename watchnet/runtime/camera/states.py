"""Camera state changes into the store's event log, from wherever the camera runs (a worker process or a Ray
camera actor): ``camera`` events ``camera.state`` beside the supervisor's ``camera.worker_lost``.

Why from the camera's own process: only it sees its source go from connecting to running, reconnecting after
a dropped stream, failing or ending; the consoles (any number, on any machine) learn it from the log
(``GET /api/eventlog?topic=camera``), as they learn alerts, and a console that was down reads what it missed.
Why a watcher that polls the runner's numbers rather than a hook in the runner: the state of a live source
is read from the source (``CameraStats.live``), which changes on the decoder's thread with no callback; a
look every ``every_s`` costs nothing and catches every state that lasts longer than that. A change that
could not be written (the store busy) is written on the next look.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from watchnet.store.db import Engine
from watchnet.store.outbox import append_now

log = logging.getLogger("watchnet.camera_states")

#: what a camera no longer in its runner (removed, or moved to another worker) is logged as
REMOVED = "removed"


class CameraStates:
    """Logs each camera's state when it changes: connecting, running, reconnecting, unreachable, ended,
    stopped, failed, or ``removed`` (``origin``: who runs it, e.g. worker id, node, pid)."""

    def __init__(self, engine: Engine, cameras: Callable[[], Mapping[str, Any]], origin: Mapping[str, Any],
                 every_s: float = 0.5) -> None:
        self.engine = engine
        self.cameras = cameras  # name -> CameraStats (its ``live()`` gives (state, error))
        self.origin = dict(origin)
        self.every_s = every_s
        self.logged = 0
        self._seen: dict[str, str] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="camera-states", daemon=True)

    def start(self) -> CameraStates:
        self._thread.start()
        return self

    def check(self) -> int:
        """One look: log every camera whose state changed since the last; returns how many were logged."""
        with self._lock:
            now: dict[str, tuple[str, str | None]] = {}
            for name, stats in list(self.cameras().items()):
                now[name] = stats.live()
            for name in self._seen.keys() - now.keys():
                now[name] = (REMOVED, None)
            written = 0
            for name, (state, error) in sorted(now.items()):
                previous = self._seen.get(name)
                if state == previous:
                    continue
                payload = {"event": "camera.state", "camera": name, "state": state, "previous": previous,
                           "error": error, **self.origin}  # when: the event's own time
                try:
                    append_now(self.engine, "camera", payload)
                except Exception:  # the store is away for a moment: the change is still unseen, so retried
                    log.exception("could not log camera %s %s", name, state)
                    continue
                written += 1
                if state == REMOVED:
                    self._seen.pop(name, None)
                else:
                    self._seen[name] = state
            self.logged += written
            return written

    def close(self) -> None:
        """Stop watching, after a last look (a camera that just ended or stopped is logged)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self.check()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.check()
            except Exception:  # a camera's numbers mid-change: look again next time
                log.exception("camera state check failed")
            self._stop.wait(self.every_s)
