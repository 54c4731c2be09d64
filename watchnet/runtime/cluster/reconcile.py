"""Keeps the cluster's camera actors in line with the store's camera table (add, change, remove a camera in
the console and the cluster follows within ``every_s``).

The reconciler is the actors' owner: it runs in ``watchnet cluster up`` (any machine that reaches the
Ray cluster and the database). Cameras are spread over the nodes (``SPREAD``), one ``watchnet_camera``
resource each where nodes declare it (``ray start --resources '{"watchnet_camera": 8}'``), so a node
takes no more cameras than it declared.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import ray

from watchnet.core.config import CameraConfig, Settings
from watchnet.runtime.cluster.actors import CAMERA_RESOURCE, NAMESPACE, CameraActor, camera_actor_name
from watchnet.services.cameras import effective_cameras
from watchnet.store.db import Engine

log = logging.getLogger("watchnet.runtime.cluster")


class ClusterReconciler:
    """Camera actors for the store's cameras, one each; ``reconcile`` applies the differences."""

    def __init__(self, settings: Settings, engine: Engine, *, loop: bool = False, shared_detector: bool = True,
                 max_frames: int | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.loop = loop
        self.shared_detector = shared_detector
        self.max_frames = max_frames
        self.actors: dict[str, tuple[CameraConfig, Any]] = {}
        self._first = True
        self._stop = threading.Event()

    def reconcile(self) -> dict[str, list[str]]:
        if self._first:  # the config's cameras go into the store first: from now on its table is the one truth
            from watchnet.store.recorder import Recorder

            Recorder(self.engine).upsert_cameras(self.settings.cameras)
        wanted = {c.name: c for c in effective_cameras(self.settings, self.engine, first=self._first)}
        self._first = False
        changed: dict[str, list[str]] = {"added": [], "removed": [], "changed": []}
        for name in sorted(self.actors.keys() - wanted.keys()):
            self._end(name)
            changed["removed"].append(name)
        for name, camera in wanted.items():
            current = self.actors.get(name)
            if current is not None and current[0] == camera:
                continue
            if current is not None:
                self._end(name)
            self.actors[name] = (camera, self._start(camera))
            changed["changed" if current is not None else "added"].append(name)
        if any(changed.values()):
            log.info("cluster cameras: %s", changed)
        return changed

    def status(self, timeout_s: float = 10.0) -> dict[str, dict[str, Any]]:
        """Each camera's numbers and node (``restarting`` while its actor is being placed again)."""
        refs = {name: actor.status.remote() for name, (_, actor) in self.actors.items()}
        out: dict[str, dict[str, Any]] = {}
        for name, ref in refs.items():
            try:
                out[name] = ray.get(ref, timeout=timeout_s)
            except (ray.exceptions.RayError, TimeoutError) as exc:
                out[name] = {"camera": name, "state": "restarting", "error": type(exc).__name__}
        return out

    def run(self, every_s: float = 2.0) -> None:
        """Reconcile every ``every_s`` until ``close``."""
        while not self._stop.wait(every_s):
            try:
                self.reconcile()
            except Exception:  # the store or the cluster is away for a moment: try again
                log.exception("reconcile failed")

    def close(self) -> None:
        self._stop.set()
        for name in list(self.actors):
            self._end(name)

    def _start(self, camera: CameraConfig) -> Any:
        resources = {CAMERA_RESOURCE: 1} if ray.cluster_resources().get(CAMERA_RESOURCE) else {}
        return CameraActor.options(
            name=camera_actor_name(camera.name), namespace=NAMESPACE, resources=resources,
            scheduling_strategy="SPREAD",
        ).remote(self.settings.model_dump_json(), camera.model_dump_json(), self.loop, self.shared_detector,
                 self.max_frames)

    def _end(self, name: str) -> None:
        _, actor = self.actors.pop(name)
        try:
            ray.get(actor.stop.remote(self.settings.stream.stop_wait_s), timeout=self.settings.stream.stop_wait_s + 10)
        except (ray.exceptions.RayError, TimeoutError):
            log.warning("camera %s did not stop cleanly; killing its actor", name)
        ray.kill(actor, no_restart=True)
