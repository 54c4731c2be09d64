"""Ray actors: one per camera (``CameraActor``) and one batched detector per node (``NodeDetector``).

Why an actor per camera: Ray places it on a node with a free ``watchnet_camera`` slot and, with
``max_restarts=-1``, starts it again on another node when its node is lost; its constructor starts the
camera, so a restart *is* the camera resuming (a new run in the store; what was committed stays).
Why a detector per node: the cameras of a node send their frames to one model session that batches
across cameras (``DetectorService`` inside a threaded actor), which is what a GPU needs; on a CPU node
it keeps one ONNX session instead of one per camera. A camera finds its node's detector by name.
Live views: a camera actor keeps its latest frame in memory and hands it out on ``read`` (a console's
``RayFrames``, ``watchnet.runtime.cluster.live``), so frames cross the network only while someone watches.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import numpy as np
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from watchnet.core.config import CameraConfig, Settings
from watchnet.runtime.camera.live_shm import SlotFrame

NAMESPACE = "watchnet"
CAMERA_RESOURCE = "watchnet_camera"


_remote: Any = ray.remote  # its typing stubs do not cover actor options such as max_concurrency


def camera_actor_name(camera: str) -> str:
    return f"watchnet-camera-{camera}"


class _NodeDetector:
    """The node's detection model; concurrent ``detect`` calls from its cameras are batched together."""

    def __init__(self, settings_json: str) -> None:
        from watchnet.runtime.runner import DetectorService
        from watchnet.vision.analysis.detect import Detector

        settings = Settings.model_validate_json(settings_json)
        self.service = DetectorService(Detector.from_settings(settings), settings.runtime.batch_size)

    def detect(self, images: list[np.ndarray]) -> list[Any]:
        return [self.service.detect(image) for image in images]

    def detect_fit(self, images: list[np.ndarray]) -> list[Any]:
        """Each image at a model input shaped like it (the focus search of high-resolution cameras)."""
        return [self.service.detect_fit(image) for image in images]

    def stats(self) -> dict[str, float]:
        return {"calls": float(self.service.calls), "busy_s": float(self.service.busy_s)}


NodeDetector: Any = _remote(num_cpus=0, max_concurrency=32)(_NodeDetector)


class RemoteDetector:
    """What a camera's runner sees as its detector: forwards to the node's ``NodeDetector``."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor

    def detect(self, images: list[np.ndarray]) -> list[Any]:
        return list(ray.get(self.actor.detect.remote(images)))

    def detect_fit(self, images: list[np.ndarray]) -> list[Any]:
        return list(ray.get(self.actor.detect_fit.remote(images)))


def node_detector(settings_json: str) -> Any:
    """The detector actor of the node this code runs on (created on first use, pinned to the node)."""
    node = ray.get_runtime_context().get_node_id()
    return NodeDetector.options(
        name=f"watchnet-detector-{node[:16]}", namespace=NAMESPACE, get_if_exists=True, lifetime="detached",
        scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
    ).remote(settings_json)


class _CameraActor:
    """One camera: started in the constructor, so Ray's restart of the actor restarts the camera."""

    def __init__(self, settings_json: str, camera_json: str, loop: bool = False, shared_detector: bool = True,
                 max_frames: int | None = None) -> None:
        from watchnet.runtime.camera.worker import CameraHost

        settings = Settings.model_validate_json(settings_json)
        camera = CameraConfig.model_validate_json(camera_json)
        self.name = camera.name
        self.node = ray.get_runtime_context().get_node_id()
        self.started = time.time()
        detector = RemoteDetector(node_detector(settings_json)) if shared_detector else None
        self.host = CameraHost(settings, [camera], loop=loop, detector=detector, max_frames=max_frames,
                               keep_latest=True, origin={"node": self.node, "actor": camera_actor_name(camera.name)})
        self.thread = threading.Thread(target=self.host.runner.run, name=f"camera-{camera.name}", daemon=True)
        self.thread.start()

    def status(self) -> dict[str, Any]:
        stats = self.host.runner.stats.get(self.name)
        row: dict[str, Any] = stats.as_dict() if stats is not None else {"camera": self.name, "state": "starting"}
        row.update(node=self.node, pid=os.getpid(), run_id=self.host.runner.run_id, actor_started=self.started,
                   cpu_s=sum(os.times()[:2]))
        return row

    def read(self, camera: str, known_seq: int = -1) -> SlotFrame | None:
        """The camera's latest frame with its boxes, track ids and watchlist names (what a worker's shared-memory
        slot holds), or None before the first frame or if it is still ``known_seq``. Raw, not encoded: the
        console draws, blurs for viewers and encodes it (``LiveHub``), so viewer blurring stays in one place;
        only a watched camera's frames cross the network, one per console request."""
        live = self.host.live
        return live.read(camera, known_seq) if live is not None and camera == self.name else None

    def stop(self, timeout_s: float = 10.0) -> bool:
        """End the camera (its live tracks are closed and written) and release the store."""
        self.host.runner.stop.set()
        self.thread.join(timeout_s)
        self.host.close()
        return not self.thread.is_alive()


CameraActor: Any = _remote(num_cpus=0, max_restarts=-1, max_task_retries=-1, max_concurrency=4)(_CameraActor)
