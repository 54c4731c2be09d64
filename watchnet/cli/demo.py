"""``watchnet demo``: fetch the demo video and run the main job on it (what ``make demo`` does)."""

from __future__ import annotations

import json

import typer

from watchnet.cli.common import friendly_errors
from watchnet.cli.run import execute
from watchnet.core.config import Settings
from watchnet.runtime.runner import RunOptions
from watchnet.services.demo import DEMO_CAMERA, fetch_demo_video
from watchnet.store.queries import count_tracks

app = typer.Typer(help="The demo camera (PETS 2009 pedestrians from Debian's opencv-doc).", no_args_is_help=True)


@app.command("fetch-video")
@friendly_errors
def fetch_video() -> None:
    """Download (once) and verify the demo video; print its path."""
    print(fetch_demo_video())


@app.command("run")
@friendly_errors
def run_demo() -> None:
    """Run the main job on the demo camera with the embedded default (SQLite, CPU)."""
    video = fetch_demo_video()
    camera = DEMO_CAMERA.model_copy(update={"url": str(video)})
    settings = Settings.load(cameras=[camera.model_dump()])
    options = RunOptions(
        annotate_dir=settings.exports_dir / "videos", mot_dir=settings.exports_dir / "mot", mot_classes=("person",)
    )
    summary = execute(settings, options)
    from watchnet.store.db import open_store

    tracks = count_tracks(open_store(settings), run_id=summary["run_id"], label="person")
    print(json.dumps(summary, indent=2))
    print(f"\nwatchnet home: {settings.home}")
    print(f"  {tracks} person tracks in {summary['database']} (run {summary['run_id']})")
    print(f"  snapshots: {summary['snapshots']}")
    print(f"  annotated video: {summary['videos']}")
    print(f"  MOT export: {summary['mot_dir']}")
