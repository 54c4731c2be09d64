"""``watchnet export``: evidence ZIPs from the command line (the same exports as the console's downloads).

Faces of everyone who is not a watchlist match are blurred unless ``--no-blur`` is given; either way the
export is audited with ``--by`` and ``--reason`` (see ``watchnet.services.exports``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from watchnet.cli.common import friendly_errors, open_services

app = typer.Typer(help="Export evidence (alerts) as ZIP files, bystanders' faces blurred.", no_args_is_help=True)


@app.callback()
def group() -> None:
    """Export evidence as ZIP files (a group even with one command, so `export alert` keeps its name)."""


@app.command("alert")
@friendly_errors
def alert(
    alert_id: Annotated[int, typer.Argument(help="Alert id (see `watchnet alerts list`)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="ZIP file to write")],
    by: Annotated[str, typer.Option("--by", help="Who exports (audited)")],
    reason: Annotated[str, typer.Option("--reason", help="Why (audited)")],
    blur: Annotated[bool, typer.Option("--blur/--no-blur", help="Blur the faces of non-matches")] = True,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="watchnet YAML config")] = None,
) -> None:
    """Write the alert's JSON, face crop and frame (everyone but the match blurred) to one ZIP."""
    result = open_services(config).exports.alert(alert_id, out, blur, actor=by, reason=reason)
    typer.echo(json.dumps({"zip": str(out), "files": result.files, "missing": result.missing,
                           "faces_blurred": result.faces_blurred, "heads_blurred": result.heads_blurred,
                           "audit_id": result.audit_id}, indent=2))
