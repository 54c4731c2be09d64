"""Cameras as threads of one process (``workers.mode: thread``): one ``Runner`` for the life of the process.

Why threads and not child processes (as Frigate does, and as ``watchnet.runtime.camera`` does by default):
the runner already isolates each camera in its own thread (a camera's exception ends only that camera),
and the heavy parts (PyAV decoding, ONNX Runtime inference, JPEG encoding) release the GIL, so the API's
event loop stays responsive beside them; the live view gets each frame by reference. The price: a hard
crash in native code (a decoder segfault) takes the console down with the cameras.

The supervisor keeps one runner (one run in the store) for the life of the process. A camera added,
changed or removed through the API starts, restarts or ends that camera alone: the others keep their
threads, tracks and alerts (restarting everyone would replay files and raise every alert again), and
a camera stuck on a dead stream cannot hold up a change to another. With ``loop`` each video file
plays again when it ends (demo cameras play forever), independently of the others.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from watchnet.core.config import CameraConfig, Settings
from watchnet.core.records import Alert
from watchnet.runtime.runner import Runner, RunOptions
from watchnet.services.cameras import effective_cameras
from watchnet.services.live import LiveHub
from watchnet.store.db import Engine
from watchnet.store.recorder import Recorder
from watchnet.vision.analysis.detect import Detector
from watchnet.vision.pipeline import FrameResult, TrackAnalyzer

log = logging.getLogger(__name__)
AnalyzersFn = Callable[[CameraConfig], Sequence[TrackAnalyzer]]
FAILED_PAUSE_S = 10.0


@dataclass(slots=True)
class PipelineHooks:
    """What the pipeline needs from the rest of the process: the analyzers per camera (face matching,
    which record alerts through the alert manager and publish them on the app's bus), and who else
    wants to hear of an alert (metrics)."""

    analyzers: AnalyzersFn | None = None
    on_alert: Callable[[Alert], None] | None = None


class PipelineSupervisor:
    """Runs one ``Runner`` in a thread for the process's life and applies camera changes to it one camera
    at a time (``reload``); restarts the runner only if it crashes."""

    def __init__(self, settings: Settings, engine: Engine, live: LiveHub, hooks: PipelineHooks | None = None,
                 loop: bool = False, max_frames: int | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.live = live
        self.hooks = hooks or PipelineHooks()
        self.loop = loop
        self.max_frames = max_frames
        self._detector: Detector | None = None
        self._runner: Runner | None = None
        self._last_status: dict[str, dict[str, Any]] = {}
        self._changes = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._first = True
        self.restarts = 0  # runner (re)starts: 1 unless the runner crashed

    # --- control -----------------------------------------------------------------------------------
    def start(self) -> None:
        self._detector = Detector.from_settings(self.settings)  # fail fast on a missing model, before serving
        self._thread = threading.Thread(target=self._supervise, name="pipeline", daemon=True)
        self._thread.start()

    def reload(self) -> dict[str, list[str]]:
        """Bring the running cameras in line with the store (called after an API change): start the new
        ones, end the removed ones, restart the changed ones; the others are not touched. Returns at once
        (a camera ends in its own thread); returns what changed, by kind."""
        runner = self._runner
        if runner is None or not runner.started.wait(timeout=10.0):
            return {}  # the runner starts with the store's cameras anyway
        with self._changes:
            wanted = {c.name: c for c in self._cameras()}
            running = runner.camera_configs()
            changed: dict[str, list[str]] = {"added": [], "removed": [], "changed": []}
            for name in sorted(running.keys() - wanted.keys()):
                runner.remove_camera(name)
                changed["removed"].append(name)
            for name, camera in wanted.items():
                if name not in running:
                    runner.add_camera(camera)
                    changed["added"].append(name)
                elif running[name] != camera:
                    runner.replace_camera(camera)
                    changed["changed"].append(name)
        log.info("cameras reloaded: %s", changed)
        return changed

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        runner = self._runner
        if runner is not None:
            runner.stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    # --- read by the API ---------------------------------------------------------------------------
    def status(self) -> dict[str, dict[str, Any]]:
        runner = self._runner
        if runner is None:
            return dict(self._last_status)
        return {name: stats.as_dict() for name, stats in runner.stats.items()}

    def run_id(self) -> int | None:
        """The store's id of the current run (sightings are written against it)."""
        runner = self._runner
        return runner.run_id if runner is not None else None

    def detector_stats(self) -> dict[str, float]:
        runner = self._runner
        if runner is None:
            return {}
        return {"calls": float(runner.service.calls), "busy_s": runner.service.busy_s}

    # --- the loop ----------------------------------------------------------------------------------
    def _cameras(self) -> list[CameraConfig]:
        """Config cameras on the first start, then the store's camera table (which the API edits)."""
        cameras = effective_cameras(self.settings, self.engine, self._first)
        self._first = False
        return cameras

    def _supervise(self) -> None:
        while not self._stop.is_set():
            self._run_once()
            if not self._stop.is_set():
                self._stop.wait(FAILED_PAUSE_S)  # the runner crashed: try again after a pause

    def _run_once(self) -> None:
        assert self._detector is not None
        with self._changes:
            settings = self.settings.model_copy(update={"cameras": self._cameras()})
            runner = Runner(settings, self._detector, Recorder(self.engine),
                            RunOptions(max_frames=self.max_frames, loop=self.loop), on_result=self._on_result,
                            analyzers=self.hooks.analyzers, on_alert=self._on_alert, keep_alive=True)
            self._runner = runner
            self.restarts += 1
        if self._stop.is_set():
            runner.stop.set()
        try:
            runner.run()
        except Exception:  # the console stays up; the supervisor tries again after a pause
            log.exception("pipeline run failed")
        finally:
            self._last_status = {name: stats.as_dict() for name, stats in runner.stats.items()}
            self._runner = None

    def _on_result(self, result: FrameResult) -> None:
        self.live.publish(result)

    def _on_alert(self, alert: Alert) -> None:
        """Name the track in live views; the analyzer already recorded and published the alert."""
        self.live.note_alert(alert)
        if self.hooks.on_alert is not None:
            self.hooks.on_alert(alert)
