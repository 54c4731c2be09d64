"""``watchnet detect IMG...``: the camera detection path (whole frame, tiles or regions as configured) on stills.

One JSON line per image, for scripts and other tools:
``{"file": PATH, "detections": [{"box": [x1, y1, x2, y2], "label": "person", "score": 0.87}, ...]}``,
boxes in image pixels, best first. By default only boxes above the class's "confident" threshold (those
that start a track) are printed; ``--all`` adds the weak ones the tracker also sees. ``--camera NAME`` uses
that configured camera's search mode, region of interest and minimum object size. An unreadable image
gives a line with an ``error`` field; the others are still processed and the exit code is 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import cv2
import numpy as np
import typer

from watchnet.cli.common import friendly_errors, load_settings, print_per_image
from watchnet.core.config import CameraConfig, Settings
from watchnet.core.errors import ConfigError, InputError
from watchnet.core.records import CLASSES
from watchnet.vision.analysis.detect import Detector
from watchnet.vision.analysis.regions import RegionSearch, SearchSettings


def read_image(path: Path) -> np.ndarray:
    """Decode an image file to BGR, or raise InputError saying what to give instead."""
    if not path.is_file():
        raise InputError(f"{path}: no such file; give JPEG, PNG, BMP or WebP image files")
    image = cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise InputError(f"{path}: not a readable image; give JPEG, PNG, BMP or WebP image files")
    return image


def _camera(settings: Settings, name: str | None) -> CameraConfig | None:
    if name is None:
        return None
    for camera in settings.cameras:
        if camera.name == name:
            return camera
    known = ", ".join(c.name for c in settings.cameras) or "none configured"
    raise ConfigError(f"no camera named {name!r} in the configuration (cameras: {known})")


def detect_image(detector: Detector, search: SearchSettings, image: np.ndarray, weak: bool) -> list[dict[str, Any]]:
    """The detections of one still, as JSON-ready dicts, best first."""
    found = RegionSearch(detector.detect, search, detector.detect_fit)(image)  # fresh per image: stills share no motion
    if not len(found):
        return []
    assert found.confidence is not None and found.class_id is not None
    keep = np.ones(len(found), bool) if weak else np.asarray(found.data["confident"], bool)
    order = [i for i in np.argsort(-found.confidence) if keep[i]]
    return [
        {
            "box": [round(float(v), 1) for v in found.xyxy[i]],
            "label": CLASSES[int(found.class_id[i])],
            "score": round(float(found.confidence[i]), 4),
        }
        for i in order
    ]


@friendly_errors
def detect(
    images: Annotated[list[Path], typer.Argument(help="Image files (JPEG, PNG, ...)")],
    config: Annotated[Path | None, typer.Option("--config", "-c", help="watchnet YAML config")] = None,
    camera: Annotated[str | None, typer.Option("--camera", help="Use this configured camera's settings")] = None,
    mode: Annotated[str | None, typer.Option(
        "--mode", help="auto, whole, focus, tiles or motion (default: config)")] = None,
    weak: Annotated[bool, typer.Option("--all", help="Also print weak boxes (below the confident threshold)")] = False,
) -> None:
    """Detect people and vehicles in still images; one JSON line per image."""
    settings = load_settings(config)
    cam = _camera(settings, camera)
    if mode is not None:
        cam = (cam or CameraConfig(name="cli", url="-")).model_copy(update={"detect_mode": mode})
        CameraConfig.model_validate(cam.model_dump())
    search = SearchSettings.of(settings.detector, cam)
    detector = Detector.from_settings(settings)
    print_per_image(images, lambda path: {"detections": detect_image(detector, search, read_image(path), weak)})
