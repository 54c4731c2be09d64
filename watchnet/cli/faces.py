"""``watchnet faces``: detect faces in photos, print their embeddings, compare two photos; and the two
watchlist chores that follow an embedder: re-embedding enrolled photos, and adding a confirmed alert's
faces to its subject.

``embed`` prints exactly the vectors the matcher compares: their dot product is the score ``compare``
prints and the watchlist thresholds apply to (for the fused default, the weighted sum of the dlib and
SFace cosines, see ``watchnet.vision.models.face_embedders``).

Output is JSON lines (one per image) so scripts can consume it; a file that cannot be read gives a line
with an ``error`` field, the run goes on with the next file and exits 1 at the end. Configuration
problems and missing models are one red line and exit 2, like every watchnet command.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from watchnet.cli.common import friendly_errors, load_settings, open_services, print_per_image
from watchnet.core.errors import InputError
from watchnet.core.records import Face
from watchnet.services.watchlist import Watchlist
from watchnet.vision.analysis.faces import FaceAnalyzer, load_image
from watchnet.vision.models.face_embedders import FusedEmbedder

app = typer.Typer(help="Detect, embed and compare faces in photos.", no_args_is_help=True)

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="watchnet YAML config (faces: ...)")]
ImagesArg = Annotated[list[Path], typer.Argument(help="Image files (JPEG, PNG, ...)")]


def _face_json(face: Face, with_embedding: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "box": [round(v, 1) for v in face.xyxy],
        "score": round(face.score, 4),
        "quality": round(face.quality, 4),
    }
    if face.landmarks is not None:
        out["landmarks"] = [[round(float(x), 1), round(float(y), 1)] for x, y in face.landmarks]
    if with_embedding and face.embedding is not None:
        out["embedding"] = [round(float(v), 6) for v in face.embedding]
    return out


def _each_image(images: list[Path], config: Path | None, with_embedding: bool) -> None:
    analyzer = FaceAnalyzer(load_settings(config))

    def describe(path: Path) -> dict[str, Any]:
        image = load_image(path)
        faces = analyzer.detect(image)
        if with_embedding:
            analyzer.embed(image, faces)
        return {"faces": [_face_json(f, with_embedding) for f in faces]}

    print_per_image(images, describe)


@app.command()
@friendly_errors
def detect(images: ImagesArg, config: ConfigOption = None) -> None:
    """Print the faces of each image: box, detector score, quality and five landmarks."""
    _each_image(images, config, with_embedding=False)


@app.command()
@friendly_errors
def embed(images: ImagesArg, config: ConfigOption = None) -> None:
    """Like ``detect``, plus each face's L2-normalised embedding."""
    _each_image(images, config, with_embedding=True)


@app.command()
@friendly_errors
def compare(
    a: Annotated[Path, typer.Argument(help="First photo (its largest face is used)")],
    b: Annotated[Path, typer.Argument(help="Second photo (its largest face is used)")],
    config: ConfigOption = None,
) -> None:
    """Cosine similarity of the largest face in each photo, and the verdict at the configured threshold."""
    analyzer = FaceAnalyzer(load_settings(config))
    vectors = []
    for path in (a, b):
        image = load_image(path)
        faces = analyzer.detect(image)
        if not faces:
            raise InputError(f"{path}: no face found; use a photo where a face is clearly visible")
        face = max(faces, key=lambda f: (f.xyxy[2] - f.xyxy[0]) * (f.xyxy[3] - f.xyxy[1]))
        analyzer.embed(image, [face])
        if face.embedding is None:
            raise InputError(f"{path}: the face has no landmarks to align; use a clearer photo")
        vectors.append(face.embedding)
    score = analyzer.similarity(vectors[0], vectors[1])
    verdict: dict[str, Any] = {
        "a": str(a),
        "b": str(b),
        "embedder": analyzer.model,
        "similarity": round(score, 4),
        "threshold": analyzer.match_threshold,
        "target_far": analyzer.cfg.target_far,
        "same_person": score >= analyzer.match_threshold,
    }
    embedder = analyzer.embedder
    if isinstance(embedder, FusedEmbedder):
        parts = zip(embedder.parts, embedder.split(vectors[0]), embedder.split(vectors[1]), strict=True)
        verdict["parts"] = {p.name: round(float(x[0] @ y[0]), 4) for p, x, y in parts}
        verdict["weights"] = {p.name: round(float(w), 4) for p, w in zip(embedder.parts, embedder.weights, strict=True)}
    typer.echo(json.dumps(verdict))


@app.command()
@friendly_errors
def reembed(
    force: Annotated[bool, typer.Option("--force", help="Recompute every photo, not only other embedders'")] = False,
    by: Annotated[str, typer.Option("--by", help="Who runs it (recorded in the audit log)")] = "system",
    config: ConfigOption = None,
) -> None:
    """Recompute enrolled photos' embeddings with the configured embedder (after changing it)."""
    done = _watchlist(config).reembed(by=by, force=force)
    typer.echo(json.dumps({"reembedded_photos": done}))


@app.command("add-alert-faces")
@friendly_errors
def add_alert_faces(
    alert: Annotated[int, typer.Argument(help="Id of a confirmed face alert")],
    by: Annotated[str, typer.Option("--by", help="Who adds the faces (recorded in the audit log)")],
    config: ConfigOption = None,
) -> None:
    """Add a confirmed alert's track faces to its subject as one more reference (audited)."""
    typer.echo(json.dumps(_watchlist(config).add_alert_faces(alert, by=by).as_dict(), indent=1))


def _watchlist(config: Path | None) -> Watchlist:
    return open_services(config).watchlist
