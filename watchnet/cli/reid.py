"""``watchnet reid``: person re-identification embeddings of crops, and fitting the site's projection.

``embed`` prints exactly the vectors sightings carry (``Sighting.reid_embedding``): their dot product is
the linker's appearance similarity with the configuration given, projection included. One JSON line per
image; a file that is not an image gives a line with an ``error`` field, the run goes on and exits 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from watchnet.cli.common import friendly_errors, load_settings, print_per_image
from watchnet.vision.analysis.faces import load_image

app = typer.Typer(help="Person re-identification: embed crops, fit the site's metric.", no_args_is_help=True)

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="watchnet YAML config (reid: ...)")]


@app.command()
@friendly_errors
def embed(
    images: Annotated[list[Path], typer.Argument(help="Person crops (JPEG, PNG, ...), one person each")],
    config: ConfigOption = None,
) -> None:
    """Print each crop's re-id embedding as {"file": ..., "embedding": [...]}."""
    from watchnet.vision.analysis.reid import ReidEmbedder

    embedder = ReidEmbedder(load_settings(config))
    print_per_image(images, lambda path: {
        "embedding": [round(float(v), 6) for v in embedder.embed([load_image(path)])[0]]})


@app.command()
@friendly_errors
def fit(
    videos: Annotated[list[Path], typer.Argument(help="Footage from this site's cameras (video files)")],
    out: Annotated[Path | None, typer.Option(help="Where to save; default: the models dir (used from then on)")] = None,
    config: ConfigOption = None,
) -> None:
    """Learn the re-id projection from the person tracks in the videos and save it (.npz)."""
    from watchnet.vision.reid_fit import fit_projection, site_projection_path

    settings = load_settings(config)
    projection = fit_projection(settings, videos, say=lambda line: typer.echo(line, err=True))
    target = out or site_projection_path(settings)
    projection.save(target)
    typer.echo(json.dumps({"saved": str(target), "tracks": projection.tracks, "crops": projection.crops,
                           "directions": int(projection.basis.shape[0]), "model": projection.model}))
