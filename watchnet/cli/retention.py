"""``watchnet retention purge``: delete rows, files and vectors older than ``retention_days``."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated

import typer

from watchnet.cli.common import friendly_errors, load_settings
from watchnet.store.db import open_store
from watchnet.store.retention import purge as run_purge

app = typer.Typer(help="Delete history older than retention_days.", no_args_is_help=True)


@app.callback()
def retention() -> None:
    """Delete history older than retention_days (a group, so that more commands can join `purge`)."""


@app.command()
@friendly_errors
def purge(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would be deleted")] = False,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="watchnet YAML config")] = None,
) -> None:
    """Delete sightings, tracks, events, alerts, their files and vectors older than retention_days."""
    settings = load_settings(config)
    report = run_purge(open_store(settings), settings, dry_run=dry_run, actor=getpass.getuser())
    typer.echo(json.dumps({"retention_days": settings.retention_days, **report.as_dict()}, indent=2))
