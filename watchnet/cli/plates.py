"""``watchnet plates``: read licence plates in photos (whole scenes, vehicle crops or plate crops).

Output is JSON lines, one per image: ``{"file", "plates": [{"text", "box", "score", "country"}]}``, best
plate first, box as x1, y1, x2, y2 pixels. A picture that is plate-shaped (or tiny) is read as one plate
crop, anything else as a scene; ``--as`` forces either. A file that cannot be read gives a line with an
``error`` field, the run goes on and exits 1 at the end; configuration problems and missing models are
one red line and exit 2, like every watchnet command.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from watchnet.cli.common import friendly_errors, load_settings
from watchnet.core.errors import InputError
from watchnet.vision.analysis.plates import PlateRead, PlateReader, load_image

app = typer.Typer(help="Read licence plates in photos.", no_args_is_help=True)

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="watchnet YAML config (plates: ...)")]
ImagesArg = Annotated[list[Path], typer.Argument(help="Image files (JPEG, PNG, ...): scenes or plate crops")]


@app.callback()
def _group() -> None:
    """Read licence plates in photos (a group, so ``watchnet plates read`` stays a sub-command)."""


class Mode(StrEnum):
    """How a picture is read."""

    AUTO = "auto"
    SCENE = "scene"
    CROP = "crop"


def _plate_json(plate: PlateRead) -> dict[str, Any]:
    return {
        "text": plate.text,
        "box": [round(v, 1) for v in plate.xyxy],
        "score": round(plate.score, 4),
        "confidence": plate.confidence,
        "country": plate.country,
    }


def _read(reader: PlateReader, path: Path, mode: Mode) -> list[PlateRead]:
    image = load_image(path)
    if mode is Mode.SCENE:
        return reader.read_scene(image)
    if mode is Mode.CROP:
        found = reader.read_crops([image])[0]
        return [found] if found else []
    return reader.read(image)


@app.command()
@friendly_errors
def read(
    images: ImagesArg,
    config: ConfigOption = None,
    mode: Annotated[Mode, typer.Option("--as", help="auto: plate-shaped or tiny pictures are crops")] = Mode.AUTO,
) -> None:
    """Print the plates read in each image as one JSON line."""
    reader = PlateReader.from_settings(load_settings(config))
    failed = False
    for path in images:
        try:
            line: dict[str, Any] = {"file": str(path), "plates": [_plate_json(p) for p in _read(reader, path, mode)]}
        except InputError as exc:
            failed = True
            line = {"file": str(path), "error": str(exc)}
        typer.echo(json.dumps(line, ensure_ascii=False))
    if failed:
        raise typer.Exit(1)
