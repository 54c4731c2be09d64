"""``watchnet serve``: the pipeline and the operator's console in one process.

Why the pipeline runs in a background *thread* of the API process, not a child process (as Frigate
does): the runner already isolates each camera in its own thread (a camera's exception ends only that
camera), and the heavy parts (PyAV decoding, ONNX Runtime inference, JPEG encoding) release the GIL,
so the API's event loop stays responsive beside them. In one process the live view gets each frame by
reference (no copy, no pipe, no shared-memory protocol) and encodes a JPEG only when someone watches;
a child process would have to encode or copy every frame of every camera across a process boundary.
The price: a hard crash in native code (a decoder segfault) takes the API down with the cameras.
Deployments that need that isolation run ``watchnet run`` (cameras) and ``watchnet serve --no-pipeline``
(console) as two processes on one PostgreSQL; the console then shows stored data but no live frames.

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

from sqlalchemy.engine import Engine

from watchnet.core.config import CameraConfig, Settings
from watchnet.core.records import Alert
from watchnet.runtime.runner import Runner
from watchnet.services.live import LiveHub
from watchnet.store.queries import list_cameras
from watchnet.store.recorder import Recorder
from watchnet.vision.analysis.detect import Detector
from watchnet.vision.pipeline import FrameResult, TrackAnalyzer

log = logging.getLogger("watchnet.api.server")
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
        configured = {c.name: c for c in self.settings.cameras}
        cameras: dict[str, CameraConfig] = dict(configured) if self._first else {}
        for row in list_cameras(self.engine):
            base = configured.get(row.name)
            update = {"url": row.url, "lat": row.lat, "lon": row.lon}
            cameras[row.name] = (base.model_copy(update=update) if base
                                 else CameraConfig(name=row.name, url=row.url, lat=row.lat, lon=row.lon))
        self._first = False
        # a console is live operation: files play in real time (newest frame wins) unless configured otherwise
        return sorted((c if c.live is not None else c.model_copy(update={"live": True}) for c in cameras.values()),
                      key=lambda c: c.name)

    def _supervise(self) -> None:
        while not self._stop.is_set():
            self._run_once()
            if not self._stop.is_set():
                self._stop.wait(FAILED_PAUSE_S)  # the runner crashed: try again after a pause

    def _run_once(self) -> None:
        assert self._detector is not None
        from watchnet.runtime.runner import RunOptions

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


def analysis(app: Any, run_id: Callable[[], int | None]) -> tuple[AnalyzersFn, Callable[[], None]]:
    """The cameras' analyzers, sharing the app's bus, alert manager and watchlist.

    One face model serves enrolment (API) and matching (cameras), and an enrolment through the API
    reloads the gallery at once. Returns the analyzers factory and the function that flushes the
    sightings writer and the alert sinks.
    """
    from watchnet.api.backends import alert_manager
    from watchnet.services.analysis_setup import build_analysis
    from watchnet.services.watchlist import Watchlist

    state = app.state.watchnet
    built = build_analysis(state.settings, state.engine, run_id, state.bus, manager=alert_manager(state))
    state.extras["watchlist"] = Watchlist(state.settings, state.engine, analyzer=built.watch.analyzer,
                                          on_change=lambda _action, _subject: built.watch.index.reload())
    return built.analyzers, built.close


def _nothing() -> None:
    return None


def serve(settings: Settings, host: str | None = None, port: int | None = None, *, pipeline: bool = True,
          loop: bool = False, max_frames: int | None = None) -> None:
    """Run the console (and, unless ``pipeline`` is false, the cameras) until Ctrl-C / SIGTERM."""
    import uvicorn

    from watchnet.api.app import create_app
    from watchnet.store.db import open_store

    engine = open_store(settings)
    app = create_app(settings, engine)
    state = app.state.watchnet
    events = _follow_event_log(state)
    supervisor: PipelineSupervisor | None = None
    flush: Callable[[], None] = _nothing
    workers: Any = None
    if pipeline and settings.workers.mode == "process":  # the console runs no camera code (watchnet.runtime.camera)
        workers = _start_workers(app, settings, engine, loop, max_frames)
    elif pipeline:  # even with no camera yet: one added through the API starts at once
        supervisor = PipelineSupervisor(settings, engine, state.live, loop=loop, max_frames=max_frames)
        analyzers, flush = analysis(app, supervisor.run_id)
        supervisor.hooks = PipelineHooks(analyzers, on_alert=lambda a: state.metrics.alerts.labels(a.kind).inc())
        state.camera_status = supervisor.status
        state.detector_stats = supervisor.detector_stats
        state.on_cameras_changed = supervisor.reload
        supervisor.start()
    config = uvicorn.Config(app, host=host or settings.api.host, port=port or settings.api.port,
                            log_level="warning", timeout_graceful_shutdown=3, ws_ping_interval=20)
    server = uvicorn.Server(config)
    try:
        server.run()
    finally:
        if supervisor is not None:
            supervisor.stop()
        if workers is not None:
            workers.stop()
        events.close()  # what the cameras logged is handed to the sinks before they close
        flush()
        if workers is not None or not pipeline:
            from watchnet.api.backends import alert_manager

            alert_manager(state).shutdown()
        engine.dispose()


def _follow_event_log(state: Any) -> Any:
    """This console hears every process's alerts through the store's event log (``watchnet.store.outbox``):
    its WebSocket clients get them, and its ``SinkDispatcher`` hands each to each sink once (the alert
    manager of this process and of the workers then leave the sinks to it)."""
    from watchnet.api.backends import alert_manager
    from watchnet.services.dispatch import SinkDispatcher

    manager = alert_manager(state)
    manager.sinks_from_log = True
    poll = state.settings.workers.event_poll_s
    dispatcher = SinkDispatcher(state.engine, manager.sinks, poll_s=poll).start()
    state.bus.follow(state.engine, poll, on_events=dispatcher.wake)

    class _Events:
        def close(self) -> None:
            state.bus.close()
            dispatcher.close()

    return _Events()


def _start_workers(app: Any, settings: Settings, engine: Engine, loop: bool, max_frames: int | None) -> Any:
    """Cameras in supervised worker processes: live frames come through shared memory, alerts through the
    store's event log, and the journey linker runs here, once, for every worker's sightings."""
    from watchnet.runtime.camera.supervisor import ProcessSupervisor

    state = app.state.watchnet
    workers = ProcessSupervisor(settings, engine, loop=loop, max_frames=max_frames)
    state.live.attach(workers)
    state.camera_status = workers.status
    state.detector_stats = workers.detector_stats
    state.on_cameras_changed = workers.reload
    state.extras["workers"] = workers.workers
    workers.start()
    if settings.linking.enabled:  # polls the store's sightings, so it sees every worker's
        from watchnet.api.backends import alert_manager
        from watchnet.services.linking.service import LinkerService

        linker = LinkerService(engine, settings, alert_manager(state))
        linker.start()
        workers.on_stop.append(linker.close)
    return workers
