"""``watchnet run``: the main job. Process every camera concurrently into the store."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from watchnet.cli.common import friendly_errors, load_settings
from watchnet.core.config import Settings
from watchnet.core.records import CLASSES, Alert
from watchnet.runtime.runner import CameraStats, Runner, RunOptions
from watchnet.store.db import public_url
from watchnet.store.recorder import Recorder
from watchnet.vision.analysis.detect import Detector


def print_progress(stats: list[CameraStats]) -> None:
    """One line per camera: state, frames, fps, tracks, events (to stderr, so stdout stays clean)."""
    for s in stats:
        row = s.as_dict()  # the live state: a camera waiting for a dead stream says so
        line = (
            f"[{s.name}] {row['state']:<11} frames={s.frames:<6} fps={row['fps']:<6} "
            f"detected={s.detected_frames:<5} tracks={s.tracks_total:<4} active={s.tracks_active:<3} events={s.events}"
        )
        if row["error"]:
            line += f"  error: {row['error']}"
        print(line, file=sys.stderr, flush=True)


def print_alert(alert: Alert) -> None:
    """An alert as one loud line on stderr the moment it is raised."""
    place = f" at {alert.lat:.5f},{alert.lon:.5f}" if alert.lat is not None and alert.lon is not None else ""
    print(f"ALERT {alert.kind} match: {alert.subject_name} (score {alert.score:.3f}) on camera {alert.camera}"
          f"{place}, track {alert.track_id}, frame {alert.frame_index}", file=sys.stderr, flush=True)


def execute(settings: Settings, options: RunOptions) -> dict:
    """Open the store and the detector, run all cameras, return the summary.

    Alerts reach the webhook/MQTT sinks through the store's event log, as in a console: this process's
    ``SinkDispatcher`` shares each sink's cursor with every console's, so with or without consoles beside
    this run (on the same store, with the same sinks) each event is handed to each sink exactly once."""
    from watchnet.services.analysis_setup import build_analysis
    from watchnet.services.container import build_services
    from watchnet.services.dispatch import SinkDispatcher

    services = build_services(settings)
    services.alerts.sinks_from_log = True
    dispatcher = SinkDispatcher(services.engine, services.alerts.sinks, settings.workers.event_poll_s).start()
    detector = Detector.from_settings(settings)
    holder: list[Runner] = []
    analysis = build_analysis(services, run_id=lambda: holder[0].run_id if holder else None)

    def alerted(alert: Alert) -> None:
        print_alert(alert)
        dispatcher.wake()

    runner = Runner(settings, detector, Recorder(services.engine), options, analyzers=analysis.analyzers,
                    on_alert=alerted)
    holder.append(runner)
    try:
        summary = runner.run(progress=print_progress)
    finally:
        analysis.close()
        dispatcher.close()  # what is left in the log for the sinks, then the sinks send what they queued
        services.close()
    summary["database"] = public_url(settings.resolved_database_url)
    summary["snapshots"] = str(settings.snapshots_dir)
    if options.mot_dir:
        summary["mot_dir"] = str(options.mot_dir)
    if options.annotate_dir:
        summary["videos"] = str(options.annotate_dir)
    return summary


@friendly_errors
def run(
    config: Annotated[Path | None, typer.Argument(help="YAML config with cameras and settings")] = None,
    source: Annotated[list[str] | None, typer.Option("--source", "-s", help="NAME=URL (repeatable)")] = None,
    export_mot: Annotated[Path | None, typer.Option(help="Write each camera's tracks as MOTChallenge text")] = None,
    classes: Annotated[str, typer.Option(help="Classes in the MOT export, comma-separated")] = "person",
    annotate: Annotated[bool, typer.Option(help="Write an annotated video per camera under exports/")] = False,
    stride: Annotated[int | None, typer.Option(help="Run the detector every N-th frame")] = None,
    max_frames: Annotated[int | None, typer.Option(help="Stop each camera after N frames")] = None,
) -> None:
    """Detect and track people and vehicles on every camera, concurrently, into the store."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    overrides: dict[str, object] = {}
    if stride:
        overrides["detector"] = {"stride": stride}
    settings = load_settings(config, source, **overrides)
    mot_classes = tuple(c.strip() for c in classes.split(",") if c.strip())
    unknown = [c for c in mot_classes if c not in CLASSES]
    if unknown:
        raise typer.BadParameter(f"unknown classes {unknown}; known: {', '.join(CLASSES)}")
    options = RunOptions(
        annotate_dir=settings.exports_dir / "videos" if annotate else None,
        mot_dir=export_mot, mot_classes=mot_classes, max_frames=max_frames,
    )
    summary = execute(settings, options)
    print(json.dumps(summary, indent=2))
    if all(c["state"] in ("failed", "unreachable") for c in summary["cameras"]):
        raise typer.Exit(1)
