"""A console's live view of cameras running as Ray actors on other machines (``RemoteFrames`` for ``LiveHub``).

Why pull and not push: a camera actor keeps only its latest frame (``CameraActor.read``) and sends it when a
console asks, which ``LiveHub`` does only when someone watches (a snapshot, a stream, a status read). So a
camera nobody watches sends nothing over the network, and a watched one sends at most one raw frame per
request. The console draws, blurs for viewers and JPEG-encodes it as for its own workers' frames: viewer
blurring stays in one place, the console.

The actors are found by name (``camera_actor_name``) in the ``watchnet`` namespace, whichever node Ray put
them on; a handle survives the actor's restart on another node. A camera with no actor is looked up again
only after ``miss_s``, so a stream of a camera that is not on the cluster does not query Ray per frame.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import ray

from watchnet.runtime.camera.live_shm import SlotFrame
from watchnet.runtime.cluster.actors import NAMESPACE, camera_actor_name
from watchnet.services.live import RemoteFrames

log = logging.getLogger("watchnet.runtime.cluster.live")


class RayFrames:
    """Latest frames of the cluster's camera actors, read on demand; ``local``: this console's own workers
    (asked first, for the cameras they run)."""

    def __init__(self, local: RemoteFrames | None = None, timeout_s: float = 5.0, miss_s: float = 2.0) -> None:
        self.local = local
        self.timeout_s = timeout_s
        self.miss_s = miss_s
        self._actors: dict[str, Any] = {}
        self._missing: dict[str, float] = {}  # camera -> when it was last found without an actor
        self._lock = threading.Lock()

    @classmethod
    def connect(cls, address: str, local: RemoteFrames | None = None) -> RayFrames:
        """Join the Ray cluster at ``address`` as a client of its actors (no work is placed here)."""
        if not ray.is_initialized():
            ray.init(address=address, namespace=NAMESPACE, log_to_driver=False)
        return cls(local)

    def cameras(self) -> list[str]:
        local = self.local.cameras() if self.local is not None else []
        with self._lock:
            return sorted(set(local) | set(self._actors))

    def read(self, camera: str, known_seq: int) -> SlotFrame | None:
        if self.local is not None and camera in self.local.cameras():
            frame: SlotFrame | None = self.local.read(camera, known_seq)
            return frame
        actor = self._actor(camera)
        if actor is None:
            return None
        try:
            frame = ray.get(actor.read.remote(camera, known_seq), timeout=self.timeout_s)
        except ray.exceptions.GetTimeoutError:
            log.warning("camera %s: no live frame from its actor within %.1f s", camera, self.timeout_s)
            return None
        except ray.exceptions.RayError:  # stopped (removed) or being placed again: look it up afresh next time
            with self._lock:
                self._actors.pop(camera, None)
            return None
        return frame

    def _actor(self, camera: str) -> Any:
        now = time.monotonic()
        with self._lock:
            actor = self._actors.get(camera)
            missed = self._missing.get(camera)
            if actor is not None or (missed is not None and now - missed < self.miss_s):
                return actor
        try:
            actor = ray.get_actor(camera_actor_name(camera), namespace=NAMESPACE)
        except ValueError:  # no such actor (not on the cluster, or not started yet)
            with self._lock:
                self._missing[camera] = now
            return None
        with self._lock:
            self._actors[camera] = actor
            self._missing.pop(camera, None)
        return actor
