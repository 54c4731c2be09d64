"""Starts, watches and restarts camera worker processes for ``watchnet serve`` (the console runs no camera).

Supervision: one monitor thread reads every worker's heartbeats. A worker that exits without being
asked (crash, SIGKILL, out of memory) or stops beating for ``workers.heartbeat_timeout_s`` (hung: it
is killed first) is started again after a back-off that doubles per failure up to
``workers.restart_max_s`` and starts afresh once a worker stayed up ``workers.stable_s``. A restarted
worker opens a new run; everything its predecessor committed stays in the store.

Placement: cameras are packed ``workers.cameras_per_worker`` to a worker (1 by default: one camera's
decoder can then never take another down) up to ``workers.max_workers`` processes (one per CPU core by
default); past that a camera joins the least-loaded worker, since every worker loads its own models and a
process per camera on a small machine spends its memory and CPU on copies of them.
``reload`` brings the workers in line with the store's camera table after an API change, touching only
the changed cameras: an added camera goes to a worker with room (or a new one), a changed one is
restarted inside its worker, a removed one is ended there, and a worker left with no camera is stopped.

Why ``multiprocessing`` with the *spawn* start method: a fork of a process with threads (uvicorn,
ONNX Runtime pools) can inherit held locks; spawn starts a clean interpreter.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from watchnet.core.config import CameraConfig, Settings
from watchnet.runtime.camera.live_shm import SlotFrame, SlotReader
from watchnet.runtime.camera.worker import WorkerSpec, worker_main
from watchnet.services.cameras import effective_cameras
from watchnet.store.db import Engine
from watchnet.store.outbox import append_now
from watchnet.store.recorder import Recorder

log = logging.getLogger("watchnet.supervisor")


@dataclass(slots=True)
class _Worker:
    id: str
    cameras: dict[str, CameraConfig]
    process: BaseProcess | None = None
    conn: Connection | None = None
    started: float = 0.0
    last_beat: float = 0.0
    beat: dict[str, Any] = field(default_factory=dict)
    restarts: int = 0
    backoff: float = 0.0
    next_start: float | None = None  # when a dead worker is due to start again
    stopping: bool = False
    last_exit: str | None = None


class ProcessSupervisor:
    """Camera workers as processes; same interface as ``watchnet.api.server.PipelineSupervisor``."""

    def __init__(self, settings: Settings, engine: Engine, loop: bool = False, max_frames: int | None = None,
                 node: str = "local") -> None:
        self.settings = settings
        self.engine = engine
        self.loop = loop
        self.max_frames = max_frames
        self.node = node
        self.cfg = settings.workers
        self.prefix = f"wn{secrets.token_hex(3)}"
        self._ctx = mp.get_context("spawn")
        self._workers: dict[str, _Worker] = {}
        self._next_id = 0
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._readers: dict[str, SlotReader] = {}
        self.restarts = 0  # worker restarts after a crash or a hang, all workers together
        self.on_stop: list[Callable[[], None]] = []  # run after the workers ended (e.g. the linker's close)

    # --- control ------------------------------------------------------------------------------------
    def start(self) -> None:
        # the config's cameras go into the store first: from now on the store's table is the one truth
        Recorder(self.engine).upsert_cameras(self.settings.cameras)
        cameras = effective_cameras(self.settings, self.engine, first=True)
        with self._lock:
            for camera in cameras:
                self._place(camera)
        self._thread = threading.Thread(target=self._monitor, name="worker-supervisor", daemon=True)
        self._thread.start()

    def reload(self) -> dict[str, list[str]]:
        """Apply the store's cameras: start, restart or end only the cameras that changed."""
        wanted = {c.name: c for c in effective_cameras(self.settings, self.engine, first=False)}
        changed: dict[str, list[str]] = {"added": [], "removed": [], "changed": []}
        with self._lock:
            running = {name: w for w in self._workers.values() for name in w.cameras}
            for name in sorted(running.keys() - wanted.keys()):
                worker = running[name]
                del worker.cameras[name]
                if worker.cameras:
                    self._send(worker, ("remove", name))
                else:
                    self._retire(worker)
                changed["removed"].append(name)
            for name, camera in wanted.items():
                owner = running.get(name)
                if owner is None:
                    self._place(camera)
                    changed["added"].append(name)
                elif owner.cameras[name] != camera:
                    owner.cameras[name] = camera
                    self._send(owner, ("replace", camera.model_dump_json()))
                    changed["changed"].append(name)
        log.info("cameras reloaded: %s", changed)
        return changed

    def stop(self, timeout_s: float | None = None) -> None:
        """Ask every worker to stop (each closes its live tracks and writes them), kill any that do not."""
        self._stop.set()
        with self._lock:
            workers = list(self._workers.values())
            for worker in workers:
                worker.stopping = True
                self._send(worker, ("stop",))
        deadline = time.monotonic() + (timeout_s or self.cfg.stop_grace_s)
        for worker in workers:
            if worker.process is not None:
                worker.process.join(max(0.0, deadline - time.monotonic()))
                if worker.process.is_alive():
                    log.error("worker %s did not stop in time; killing it", worker.id)
                    worker.process.kill()
                    worker.process.join(5)
        if self._thread is not None:
            self._thread.join(5)
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()
        for hook in self.on_stop:
            hook()

    # --- read by the API ----------------------------------------------------------------------------
    def status(self) -> dict[str, dict[str, Any]]:
        """Each camera's numbers from its worker's latest heartbeat, with the worker's health beside them."""
        out: dict[str, dict[str, Any]] = {}
        now = time.monotonic()
        with self._lock:
            for worker in self._workers.values():
                alive = worker.process is not None and worker.process.is_alive()
                for name in worker.cameras:
                    row = dict(worker.beat.get("cameras", {}).get(name) or {"camera": name, "state": "starting"})
                    if not alive and not worker.stopping:
                        row["state"] = "restarting"
                        row["error"] = f"worker {worker.last_exit or 'ended'}; restarting"
                    row.update(worker=worker.id, pid=worker.process.pid if worker.process else None,
                               worker_restarts=worker.restarts, node=self.node,
                               heartbeat_age_s=round(now - worker.last_beat, 2) if worker.last_beat else None)
                    out[name] = row
        return out

    def workers(self) -> list[dict[str, Any]]:
        """Per-worker health: pid, cameras, restarts, heartbeat age, CPU seconds, node."""
        now = time.monotonic()
        with self._lock:
            return [{"worker": w.id, "node": self.node, "pid": w.process.pid if w.process else None,
                     "alive": bool(w.process and w.process.is_alive()), "cameras": sorted(w.cameras),
                     "restarts": w.restarts, "phase": w.beat.get("phase", "starting"),
                     "heartbeat_age_s": round(now - w.last_beat, 2) if w.last_beat else None,
                     "uptime_s": round(now - w.started, 1) if w.started else 0.0,
                     "cpu_s": float(w.beat.get("cpu_s", 0.0)), "last_exit": w.last_exit}
                    for w in self._workers.values()]

    def run_id(self) -> int | None:
        """No single run: each worker keeps its own (see ``workers``)."""
        return None

    def detector_stats(self) -> dict[str, float]:
        with self._lock:
            beats = [w.beat.get("detector", {}) for w in self._workers.values()]
        return {"calls": float(sum(b.get("calls", 0.0) for b in beats)),
                "busy_s": float(sum(b.get("busy_s", 0.0) for b in beats))}

    # live frames (``watchnet.services.live.RemoteFrames``) -------------------------------------------------
    def cameras(self) -> list[str]:
        with self._lock:
            return sorted(name for w in self._workers.values() for name in w.beat.get("slots", {}))

    def read(self, camera: str, known_seq: int) -> SlotFrame | None:
        with self._lock:
            name = next((w.beat["slots"][camera] for w in self._workers.values()
                         if camera in w.cameras and camera in w.beat.get("slots", {})), None)
            if name is None:
                return None
            reader = self._readers.get(camera)
            if reader is None or reader.name != name:
                if reader is not None:
                    reader.close()
                try:
                    reader = self._readers[camera] = SlotReader(name)
                except FileNotFoundError:  # the worker replaced or removed it meanwhile
                    self._readers.pop(camera, None)
                    return None
        return reader.read(known_seq)

    # --- internals ----------------------------------------------------------------------------------
    def _max_workers(self) -> int:
        return self.cfg.max_workers or max(2, os.cpu_count() or 1)

    def _place(self, camera: CameraConfig) -> None:
        """A worker with room, else a new one while under ``max_workers``, else the least-loaded one."""
        live = [w for w in self._workers.values() if not w.stopping]
        room = next((w for w in live if len(w.cameras) < self.cfg.cameras_per_worker), None)
        if room is None and len(live) >= self._max_workers():
            room = min(live, key=lambda w: len(w.cameras))
        if room is None:
            self._new_worker([camera])
        else:
            room.cameras[camera.name] = camera
            self._send(room, ("add", camera.model_dump_json()))

    def _new_worker(self, cameras: list[CameraConfig]) -> _Worker:
        self._next_id += 1
        worker = _Worker(id=f"w{self._next_id}", cameras={c.name: c for c in cameras})
        self._workers[worker.id] = worker
        self._spawn(worker)
        return worker

    def _spawn(self, worker: _Worker) -> None:
        spec = WorkerSpec(worker.id, self.settings.model_dump_json(),
                          tuple(c.model_dump_json() for c in worker.cameras.values()), self.prefix,
                          loop=self.loop, max_frames=self.max_frames, node=self.node)
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(target=worker_main, args=(spec, child), name=f"watchnet-worker-{worker.id}",
                                    daemon=True)
        process.start()
        child.close()
        worker.process, worker.conn = process, parent
        worker.started = worker.last_beat = time.monotonic()
        worker.next_start = None
        worker.beat = {}
        log.info("worker %s (pid %s) started for %s", worker.id, process.pid, sorted(worker.cameras))

    def _send(self, worker: _Worker, command: tuple[Any, ...]) -> None:
        if worker.conn is None:
            return  # dead: it starts with its current cameras
        with contextlib.suppress(OSError, ValueError):
            worker.conn.send(command)

    def _retire(self, worker: _Worker) -> None:
        worker.stopping = True
        self._send(worker, ("stop",))

    def _monitor(self) -> None:
        while not self._stop.wait(0.2):
            with self._lock:
                for worker in list(self._workers.values()):
                    self._check(worker)

    def _check(self, worker: _Worker) -> None:
        now = time.monotonic()
        self._drain(worker)
        process = worker.process
        hung = False
        if process is not None and process.is_alive():
            starting = not worker.beat or worker.beat.get("phase") == "loading"
            limit = self.cfg.start_timeout_s if starting else self.cfg.heartbeat_timeout_s
            if now - worker.last_beat > limit and not worker.stopping:
                log.error("worker %s (pid %s) sent no heartbeat for %.1f s: hung, killing it", worker.id,
                          process.pid, now - worker.last_beat)
                worker.last_exit, hung = "hung (no heartbeat)", True
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)  # type: ignore[arg-type]
                process.join(5)
            else:
                return
        if process is not None:  # it has ended
            process.join(0)
            if not hung:
                worker.last_exit = f"exited with code {process.exitcode}"
            worker.process = None
            if worker.conn is not None:
                worker.conn.close()
                worker.conn = None
            if worker.stopping or self._stop.is_set():
                del self._workers[worker.id]
                return
            up = now - worker.started
            worker.backoff = self.cfg.restart_initial_s if up >= self.cfg.stable_s or not worker.backoff \
                else min(worker.backoff * 2, self.cfg.restart_max_s)
            worker.next_start = now + worker.backoff
            log.error("worker %s %s after %.1f s; restarting in %.1f s", worker.id, worker.last_exit, up,
                      worker.backoff)
            self._log_event({"event": "camera.worker_lost", "worker": worker.id, "node": self.node,
                             "cameras": sorted(worker.cameras), "reason": worker.last_exit,
                             "restart_in_s": worker.backoff, "restarts": worker.restarts})
        if worker.next_start is not None and now >= worker.next_start and not self._stop.is_set():
            worker.restarts += 1
            self.restarts += 1
            self._spawn(worker)

    def _log_event(self, payload: dict[str, Any]) -> None:
        """Camera status into the store's event log, from a short thread: a busy store must not hold up
        the monitor (which holds the lock the API's status reads take)."""
        def write() -> None:
            try:
                append_now(self.engine, "camera", payload)
            except Exception:
                log.exception("could not log %s", payload.get("event"))

        threading.Thread(target=write, name="camera-event", daemon=True).start()

    def _drain(self, worker: _Worker) -> None:
        conn = worker.conn
        if conn is None:
            return
        try:
            while conn.poll():
                message = conn.recv()
                if message.get("type") == "beat":
                    worker.beat = message
                    worker.last_beat = time.monotonic()
        except (EOFError, OSError):
            return
