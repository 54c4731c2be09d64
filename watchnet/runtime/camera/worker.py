"""One camera worker process: runs a few cameras with the ordinary ``Runner`` and reports its health.

Why a process per camera (or per few cameras): a decoder crash, a native segfault or a hang then costs
that worker alone; the console (``watchnet serve``) never runs camera code and stays up, and the
supervisor (``watchnet.runtime.camera.supervisor``) replaces the worker. Each worker writes its tracks, events,
sightings and alerts straight to the shared store (SQLite in WAL mode, or PostgreSQL), in its own run;
alerts reach the consoles through the store's event log (``watchnet.store.outbox``), never through memory.

Protocol with the supervisor, over one duplex pipe:
- worker -> supervisor: ``{"type": "beat", ...}`` every ``workers.heartbeat_s`` (cameras' numbers, the
  shared-memory slot of each camera's live frame, the run id) and ``{"type": "exit"}`` at a clean end.
  The heartbeat comes from its own thread; a worker whose interpreter stops (deadlock, SIGSTOP, a
  native hang holding the GIL) stops beating and is killed.
- supervisor -> worker: ``("add", camera_json)``, ``("replace", camera_json)``, ``("remove", name)``,
  ``("stop",)``. A change touches that camera alone; the worker's other cameras go on.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from watchnet.core.config import CameraConfig, Settings
from watchnet.runtime.camera.live_shm import SlotFrame, SlotWriter
from watchnet.runtime.camera.states import CameraStates

log = logging.getLogger("watchnet.worker")


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What a worker needs, as picklable plain data (spawned processes share no memory with the console)."""

    worker_id: str
    settings_json: str
    cameras_json: tuple[str, ...]
    slot_prefix: str
    loop: bool = False
    max_frames: int | None = None
    node: str = "local"


class _Live:
    """Keeps each camera's latest frame, with the names of watchlist-matched tracks on it: in its shared-memory
    slot (``prefix``: a worker process, read by its console on the same machine), or in memory (``prefix``
    None: a Ray camera actor, whose console on another machine asks for it with ``read`` only when someone
    watches; the frame is kept by reference, so a frame nobody asks for costs nothing)."""

    def __init__(self, settings: Settings, prefix: str | None) -> None:
        from watchnet.services.live import LiveHub

        self.prefix = prefix
        self.names = LiveHub(settings.api)  # only its match bookkeeping (alerts, unbinding) is used here
        self.slots: dict[str, SlotWriter] = {}
        self._latest: dict[str, tuple[int, Any, dict[int, str]]] = {}
        # a restarted actor must not repeat a sequence number its console already holds: start from the clock
        self._seq = time.time_ns() // 1000
        self._lock = threading.Lock()

    def publish(self, result: Any) -> None:
        self.names.publish(result)
        camera = result.frame.camera
        if self.prefix is None:
            names = self.names.names(camera)
            with self._lock:
                self._seq += 1
                self._latest[camera] = (self._seq, result, names)
            return
        tracked = result.tracked
        n = len(tracked)
        with self._lock:
            slot = self.slots.get(camera)
            if slot is None:
                slot = self.slots[camera] = SlotWriter(self.prefix, camera)
        slot.write(result.frame.index, result.frame.timestamp, result.frame.image,
                   np.asarray(tracked.xyxy, np.float32).reshape(-1, 4),
                   tracked.class_id if tracked.class_id is not None else np.zeros(n, np.int32),
                   tracked.tracker_id if tracked.tracker_id is not None else np.full(n, -1),
                   self.names.names(camera))

    def read(self, camera: str, known_seq: int = -1) -> SlotFrame | None:
        """The latest frame kept in memory, as a slot would give it; None before the first or if unchanged."""
        with self._lock:
            latest = self._latest.get(camera)
        if latest is None or latest[0] == known_seq:
            return None
        seq, result, names = latest
        tracked = result.tracked
        n = len(tracked)
        return SlotFrame(seq, result.frame.index, result.frame.timestamp, result.frame.image,
                         np.asarray(tracked.xyxy, np.float32).reshape(-1, 4),
                         np.asarray(tracked.class_id if tracked.class_id is not None else np.zeros(n), np.int32),
                         np.asarray(tracked.tracker_id if tracked.tracker_id is not None else np.full(n, -1),
                                    np.int32), dict(names))

    def slot_names(self) -> dict[str, str]:
        with self._lock:
            return {cam: slot.name for cam, slot in self.slots.items() if slot.name}

    def close(self, camera: str | None = None) -> None:
        with self._lock:
            for name in [c for c in self.slots if camera in (None, c)]:
                self.slots.pop(name).close()
            for name in [c for c in self._latest if camera in (None, c)]:
                del self._latest[name]


def worker_main(spec: WorkerSpec, conn: Connection) -> None:
    """The worker process's entry point (``multiprocessing`` spawn target)."""
    logging.basicConfig(level=logging.WARNING, format=f"%(levelname)s worker {spec.worker_id}: %(name)s: %(message)s")
    send_lock = threading.Lock()
    state: dict[str, Any] = {"runner": None, "phase": "loading", "live": None}
    stop = threading.Event()

    def send(message: dict[str, Any]) -> None:
        with send_lock:
            try:
                conn.send(message)
            except (OSError, ValueError):  # the supervisor is gone: nobody to report to, so stop
                stop.set()
                runner = state["runner"]
                if runner is not None:
                    runner.stop.set()

    settings = Settings.model_validate_json(spec.settings_json)
    beat = threading.Thread(target=_beat, args=(spec, settings, state, send, stop), name="heartbeat", daemon=True)
    beat.start()
    try:
        _run(spec, settings, conn, state, stop)
    finally:
        stop.set()
        send({"type": "exit", "worker": spec.worker_id, "pid": os.getpid()})


class CameraHost:
    """A runner with everything a camera needs outside the console: store, detector, analyzers (alerts go
    to the event log, not to sinks), live slots. Shared by worker processes and Ray camera actors."""

    def __init__(self, settings: Settings, cameras: list[CameraConfig], *, loop: bool = False,
                 max_frames: int | None = None, slot_prefix: str | None = None, detector: Any = None,
                 keep_latest: bool = False, origin: dict[str, Any] | None = None) -> None:
        from watchnet.runtime.runner import Runner, RunOptions
        from watchnet.services.analysis_setup import build_analysis
        from watchnet.services.container import build_services
        from watchnet.store.db import open_store
        from watchnet.store.recorder import Recorder
        from watchnet.vision.analysis.detect import Detector

        # the linker reads every camera's sightings: it runs once, beside the console, not in each worker
        settings = settings.model_copy(update={"cameras": cameras,
                                               "linking": settings.linking.model_copy(update={"enabled": False})})
        self.engine = open_store(settings)
        # live frames: a shared-memory slot per camera (``slot_prefix``) or the latest in memory (``keep_latest``)
        self.live = _Live(settings, slot_prefix) if slot_prefix else _Live(settings, None) if keep_latest else None
        self.built: Any = None
        self.states: CameraStates | None = None
        try:
            # the consoles hand the event log to the sinks (watchnet.services.dispatch): none here
            services = build_services(settings, self.engine, deliver_to_sinks=False)
            holder: list[Runner] = []
            self.built = build_analysis(services, lambda: holder[0].run_id if holder else None)
            live = self.live
            self.runner = Runner(
                settings, detector or Detector.from_settings(settings), Recorder(self.engine),
                RunOptions(max_frames=max_frames, loop=loop), on_result=live.publish if live else None,
                analyzers=self.built.analyzers, on_alert=live.names.note_alert if live else None, keep_alive=True)
            holder.append(self.runner)
            # each camera's state changes (connecting, running, reconnecting, ended, ...) into the event log
            runner = self.runner
            self.states = CameraStates(self.engine, lambda: runner.stats,
                                       {"pid": os.getpid(), **(origin or {})}).start()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """After the run: log the cameras' last states, flush sightings, release the slots and the store."""
        if self.states is not None:
            self.states.close()
            self.states = None
        if self.built is not None:
            self.built.close()
            self.built = None
        if self.live is not None:
            self.live.close()
        self.engine.dispose()


def _run(spec: WorkerSpec, settings: Settings, conn: Connection, state: dict[str, Any], stop: threading.Event) -> None:
    cameras = [CameraConfig.model_validate_json(c) for c in spec.cameras_json]
    host = CameraHost(settings, cameras, loop=spec.loop, max_frames=spec.max_frames, slot_prefix=spec.slot_prefix,
                      origin={"worker": spec.worker_id, "node": spec.node})
    state["live"] = host.live
    runner = state["runner"] = host.runner
    try:
        if stop.is_set():
            runner.stop.set()
        threading.Thread(target=_commands, args=(conn, runner, host.live), name="commands", daemon=True).start()
        state["phase"] = "running"
        runner.run()
    finally:
        state["phase"] = "stopping"
        host.close()


def _commands(conn: Connection, runner: Any, live: _Live | None) -> None:
    """Apply the supervisor's camera changes to this worker's runner, one camera at a time."""
    while not runner.stop.is_set():
        try:
            if not conn.poll(0.5):
                continue
            command = conn.recv()
        except (EOFError, OSError):  # the supervisor is gone: end the run cleanly
            runner.stop.set()
            return
        kind = command[0]
        try:
            if kind == "stop":
                runner.stop.set()
            elif kind == "add":
                runner.add_camera(CameraConfig.model_validate_json(command[1]))
            elif kind == "replace":
                runner.replace_camera(CameraConfig.model_validate_json(command[1]))
            elif kind == "remove":
                runner.remove_camera(command[1])
                if live is not None:
                    live.close(command[1])
        except Exception:  # a bad change must not end the worker's other cameras
            log.exception("command %s failed", kind)


def _beat(spec: WorkerSpec, settings: Settings, state: dict[str, Any], send: Any, stop: threading.Event) -> None:
    """Report health every ``heartbeat_s`` until the worker ends (its own thread: see the module doc)."""
    every = settings.workers.heartbeat_s
    while not stop.is_set():
        runner = state["runner"]
        live: _Live | None = state["live"]
        cameras = {}
        detector: dict[str, float] = {}
        if runner is not None:
            cameras = {name: stats.as_dict() for name, stats in runner.stats.items()}
            detector = {"calls": float(runner.service.calls), "busy_s": float(runner.service.busy_s)}
        send({"type": "beat", "worker": spec.worker_id, "pid": os.getpid(), "time": time.time(),
              "phase": state["phase"], "run_id": runner.run_id if runner is not None else None,
              "cameras": cameras, "slots": live.slot_names() if live is not None else {}, "detector": detector,
              "cpu_s": sum(os.times()[:2])})
        stop.wait(every)
