"""``watchnet serve``: cameras + API + dashboard in one process (see ``watchnet.api.server``)."""

from __future__ import annotations

import functools
import importlib.util
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from watchnet.cli.common import friendly_errors, load_settings
from watchnet.core.errors import WatchnetError


@friendly_errors
def serve(
    config: Annotated[Path | None, typer.Argument(help="YAML config with cameras and settings")] = None,
    source: Annotated[list[str] | None, typer.Option("--source", "-s", help="NAME=URL (repeatable)")] = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: api.host, 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: api.port, 8080)")] = None,
    demo: Annotated[bool, typer.Option("--demo", help="Add the demo camera (fetched once) and loop it")] = False,
    loop: Annotated[bool, typer.Option("--loop", help="Replay video files when they end")] = False,
    pipeline: Annotated[bool, typer.Option(help="Run the cameras here (--no-pipeline: console only)")] = True,
    max_frames: Annotated[int | None, typer.Option(help="Stop each camera after N frames")] = None,
    ray: Annotated[str | None, typer.Option("--ray", help="Ray cluster address: show its camera actors live "
                                            "(workers.ray_address; pip install 'watchnet[cluster]')")] = None,
) -> None:
    """Serve the operator's console on http://HOST:PORT/ and run the cameras beside it."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    overrides: dict[str, object] = {"workers": {"ray_address": ray}} if ray else {}
    settings = load_settings(config, source, **overrides)
    if settings.workers.ray_address and importlib.util.find_spec("ray") is None:
        raise WatchnetError("Ray is not installed; install the extra: pip install 'watchnet[cluster]'")
    if demo:
        from watchnet.services.demo import DEMO_CAMERA, fetch_demo_video

        camera = DEMO_CAMERA.model_copy(update={"url": str(fetch_demo_video())})
        others = [c.model_dump() for c in settings.cameras if c.name != camera.name]
        settings = load_settings(config, None, cameras=[*others, camera.model_dump()], **overrides)
        loop = True
    from watchnet.api.server import serve as run_server
    from watchnet.services import accounts
    from watchnet.store.db import open_store

    engine = open_store(settings)
    if accounts.count_admins(engine) == 0:
        _first_admin(engine)
    engine.dispose()
    shown = host or settings.api.host
    typer.echo(f"watchnet console on http://{shown}:{port or settings.api.port}/  (Ctrl-C stops)", err=True)
    remote_frames = None
    if settings.workers.ray_address:  # the cluster's cameras live; Ray is imported here only
        from watchnet.runtime.cluster.live import RayFrames

        address = settings.workers.ray_address
        remote_frames = functools.partial(RayFrames.connect, address)
    run_server(settings, host, port, pipeline=pipeline, loop=loop, max_frames=max_frames, remote_frames=remote_frames)


def _first_admin(engine: object) -> None:
    """No admin yet: create one interactively, or say how (never a default password)."""
    from watchnet.cli.users import prompt_password
    from watchnet.store.audit import record

    if not sys.stdin.isatty():
        typer.secho("no admin account yet: create one with `watchnet users create-admin NAME`", fg="yellow", err=True)
        return
    typer.echo("No admin account yet; create the first one now.", err=True)
    name = typer.prompt("admin user name")
    from watchnet.services.accounts import create_user

    create_user(engine, name, prompt_password(), "admin")  # type: ignore[arg-type]
    record(engine, "cli", "user.create", name, {"role": "admin", "via": "serve"})  # type: ignore[arg-type]


if __name__ == "__main__":  # `python -m watchnet.cli.serve`, before the command is registered in watchnet.cli
    typer.run(serve)
