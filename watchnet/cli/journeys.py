"""``watchnet journeys``: where a person or vehicle came from and went next, link decisions, follow
mode, and the AI City multi-camera export. Queries and follows are audited with a reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from watchnet.cli.common import friendly_errors, open_services
from watchnet.core.config import Settings
from watchnet.core.errors import InputError
from watchnet.services.linking import aicity
from watchnet.services.linking.service import LinkerService
from watchnet.services.linking.topology import Topology
from watchnet.store.db import open_store

app = typer.Typer(help="Journeys across cameras: show, confirm/cut links, follow, export.", no_args_is_help=True)
By = Annotated[str, typer.Option("--by", help="Who decides or asks (recorded in the audit log)")]
Reason = Annotated[str, typer.Option("--reason", help="Why (recorded in the audit log)")]


def _echo(data: object) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


@app.command("show")
@friendly_errors
def show(
    by: By, reason: Reason,
    sighting: Annotated[int | None, typer.Option("--sighting", help="A sighting id (from search)")] = None,
    journey: Annotated[int | None, typer.Option("--journey", help="A journey id")] = None,
) -> None:
    """The journey of a sighting: trail with link scores and evidence, candidates, predicted next."""
    if (sighting is None) == (journey is None):
        raise InputError("give exactly one of --sighting and --journey")
    _echo(open_services(None).journeys.journey(actor=by, reason=reason, sighting_id=sighting, journey_id=journey))


@app.command("link")
@friendly_errors
def link() -> None:
    """Link every stored sighting not linked yet (the linker also runs inside `watchnet run`)."""
    settings = Settings.load()
    service = LinkerService(open_store(settings), settings)  # stepped here, not started: no thread
    typer.echo(f"linked {service.step()} sightings")


@app.command("confirm")
@friendly_errors
def confirm(link_id: Annotated[int, typer.Argument(help="Link id")], by: By, note: str = "") -> None:
    """Make a link a fact (journeys join; the trip teaches the transit-time histogram)."""
    _echo(open_services(None).journeys.confirm_link(link_id, by, note))


@app.command("cut")
@friendly_errors
def cut(link_id: Annotated[int, typer.Argument(help="Link id")], by: By, note: str = "") -> None:
    """Declare a link wrong: its journey splits."""
    _echo(open_services(None).journeys.cut_link(link_id, by, note))


@app.command("follow")
@friendly_errors
def follow(sighting: Annotated[int, typer.Argument(help="Sighting id to follow")], by: By, reason: Reason) -> None:
    """Follow a sighting's journey live from now on (the person stays anonymous)."""
    _echo(open_services(None).journeys.start_follow(sighting, by, reason))


@app.command("follows")
@friendly_errors
def follows(follow_id: Annotated[int, typer.Argument(help="Follow id")]) -> None:
    """A follow's timeline, last known camera and predicted next cameras."""
    _echo(open_services(None).journeys.follow(follow_id))


@app.command("export")
@friendly_errors
def export(
    out: Annotated[Path, typer.Option("--out", "-o", help="Text file in the AI City MTMC format")],
    min_cameras: Annotated[int, typer.Option(help="Only journeys seen by at least this many cameras")] = 1,
) -> None:
    """Write journeys as `camera_id obj_id frame_id xmin ymin width height xworld yworld`."""
    settings = Settings.load()
    topology = Topology.from_cameras(settings.cameras, settings.linking)  # foot points on the map where mapped
    found, cameras = aicity.rows(open_store(settings), min_cameras=min_cameras, topology=topology)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        count = aicity.write(handle, found)
    out.with_suffix(".cameras.json").write_text(json.dumps(cameras, indent=2), encoding="utf-8")
    typer.echo(f"wrote {count} boxes of {len({r[1] for r in found})} journeys to {out}")
