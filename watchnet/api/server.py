"""``watchnet serve``: the operator's console, and the cameras beside it.

The cameras run in supervised worker processes by default (``watchnet.runtime.camera``: live frames through
shared memory, alerts through the store's event log) or as threads of this process (``workers.mode: thread``,
``watchnet.runtime.in_process``). Either way the console hears every process's alerts through the event log
and hands each to the sinks once. Everything is built from one ``Services`` (``build_services``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI

from watchnet.api.app import create_app
from watchnet.api.state import ApiState
from watchnet.core.config import Settings
from watchnet.runtime.camera.supervisor import ProcessSupervisor
from watchnet.runtime.in_process import PipelineHooks, PipelineSupervisor
from watchnet.services.analysis_setup import build_analysis
from watchnet.services.container import Services, build_services
from watchnet.services.dispatch import SinkDispatcher
from watchnet.services.live import RemoteFrames

log = logging.getLogger(__name__)


def attach_pipeline(app: FastAPI, *, loop: bool = False, max_frames: int | None = None,
                    ) -> tuple[PipelineSupervisor, Callable[[], None]]:
    """Cameras as threads of this process, wired to the app (not started): their analyzers share the app's
    services (one face model for enrolment and matching, one alert manager and bus), and an enrolment
    through the API reloads the cameras' gallery at once. Returns the supervisor and the function that
    writes and links the last sightings when the cameras have stopped (the sinks close with the services)."""
    state: ApiState = app.state.watchnet
    supervisor = PipelineSupervisor(state.settings, state.engine, state.live, loop=loop, max_frames=max_frames)
    built = build_analysis(state.services, supervisor.run_id)
    supervisor.hooks = PipelineHooks(built.analyzers, on_alert=lambda a: state.metrics.alerts.labels(a.kind).inc())
    state.camera_status = supervisor.status
    state.detector_stats = supervisor.detector_stats
    state.on_cameras_changed = supervisor.reload
    return supervisor, built.close


def _nothing() -> None:
    return None


def serve(settings: Settings, host: str | None = None, port: int | None = None, *, pipeline: bool = True,
          loop: bool = False, max_frames: int | None = None,
          remote_frames: Callable[[RemoteFrames | None], RemoteFrames] | None = None) -> None:
    """Run the console (and, unless ``pipeline`` is false, the cameras) until Ctrl-C / SIGTERM.

    ``remote_frames``: live frames of cameras elsewhere, made from this console's own workers' (or None);
    the CLI passes the Ray cluster's (``watchnet.runtime.cluster.live``), so this module never imports Ray."""
    import uvicorn

    services = build_services(settings)
    app = create_app(settings, services)
    events = _follow_event_log(services)
    supervisor: PipelineSupervisor | None = None
    flush: Callable[[], None] = _nothing
    workers: ProcessSupervisor | None = None
    if pipeline and settings.workers.mode == "process":  # the console runs no camera code (watchnet.runtime.camera)
        workers = _start_workers(app, services, loop, max_frames)
    elif pipeline:  # even with no camera yet: one added through the API starts at once
        supervisor, flush = attach_pipeline(app, loop=loop, max_frames=max_frames)
        supervisor.start()
    if remote_frames is not None:  # e.g. a Ray cluster's cameras (watchnet serve --ray): pulled when someone watches
        app.state.watchnet.live.attach(remote_frames(workers))
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
        flush()  # the last sightings written and linked (thread mode): they can still log events
        events.close()  # what the cameras and the linker logged is handed to the sinks before they close
        services.close()
        services.engine.dispose()


class _EventLog:
    """The console's follower of the store's event log and its sink dispatcher, closed together."""

    def __init__(self, services: Services, dispatcher: SinkDispatcher) -> None:
        self.services = services
        self.dispatcher = dispatcher

    def close(self) -> None:
        self.services.bus.close()
        self.dispatcher.close()


def _follow_event_log(services: Services) -> _EventLog:
    """This console hears every process's alerts through the store's event log (``watchnet.store.outbox``):
    its WebSocket clients get them, and its ``SinkDispatcher`` hands each to each sink once (the alert
    manager of this process and of the workers then leave the sinks to it)."""
    manager = services.alerts
    manager.sinks_from_log = True
    poll = services.settings.workers.event_poll_s
    dispatcher = SinkDispatcher(services.engine, manager.sinks, poll_s=poll).start()
    services.bus.follow(services.engine, poll, on_events=dispatcher.wake)
    return _EventLog(services, dispatcher)


def _start_workers(app: FastAPI, services: Services, loop: bool, max_frames: int | None) -> ProcessSupervisor:
    """Cameras in supervised worker processes: live frames come through shared memory, alerts through the
    store's event log, and the journey linker runs here, once, for every worker's sightings."""
    state: ApiState = app.state.watchnet
    workers = ProcessSupervisor(services.settings, services.engine, loop=loop, max_frames=max_frames)
    state.live.attach(workers)
    state.camera_status = workers.status
    state.detector_stats = workers.detector_stats
    state.on_cameras_changed = workers.reload
    state.workers = workers.workers
    workers.start()
    if services.settings.linking.enabled:  # polls the store's sightings, so it sees every worker's
        workers.on_stop.append(services.linker().close)
    return workers
