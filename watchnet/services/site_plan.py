"""A site plan uploaded in the console: one image (PNG, JPEG or WebP) and the map corners it spans.

It lives under the data directory (``<home>/map/``: the image and ``plan.json`` with its bounds), so it
survives restarts without a configuration change, and it wins over ``api.map_image`` while it exists.
The bytes are checked before anything is written: a known image type by its own header (not by its
name), a pixel count read from the header before decoding (no decompression bombs), then a full decode;
SVG is refused (it can carry script).
"""

from __future__ import annotations

import io
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from watchnet.core.config import Settings
from watchnet.core.errors import InputError

Bounds = tuple[tuple[float, float], tuple[float, float]]
PLAN_TYPES = {"PNG": (".png", "image/png"), "JPEG": (".jpg", "image/jpeg"), "WEBP": (".webp", "image/webp")}
MAX_PLAN_PIXELS = 40_000_000
_META = "plan.json"


class PlanError(InputError):
    """A refused site plan, with the HTTP status that says why (413 too big, 415 not an image we take)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class SitePlan:
    """The uploaded plan: where its image is, its type, size and the corners it spans."""

    path: Path
    media_type: str
    width: int
    height: int
    bounds: Bounds
    uploaded_at: float
    uploaded_by: str


def plan_dir(settings: Settings) -> Path:
    """Where the uploaded plan is kept."""
    return settings.home / "map"


def current_plan(settings: Settings) -> SitePlan | None:
    """The uploaded plan, or None when there is none (or its files are gone)."""
    meta = plan_dir(settings) / _META
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
        (south, west), (north, east) = data["bounds"]
        path = plan_dir(settings) / str(data["file"])
        plan = SitePlan(path, str(data["media_type"]), int(data["width"]), int(data["height"]),
                        ((float(south), float(west)), (float(north), float(east))), float(data["uploaded_at"]),
                        str(data["uploaded_by"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return plan if path.is_file() else None


def check_plan(data: bytes, max_bytes: int) -> tuple[str, int, int]:
    """The image type (a ``PLAN_TYPES`` key), width and height of ``data``; PlanError when it is not a plan."""
    if len(data) > max_bytes:
        raise PlanError(f"the site plan is too large: the limit is {max_bytes / 1e6:.1f} MB", 413)
    if not data:
        raise PlanError("the site plan is empty")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            kind, (width, height) = str(probe.format), probe.size
    except Image.DecompressionBombError as exc:
        raise PlanError(f"the site plan has too many pixels: {exc}", 413) from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise PlanError("the site plan is not a PNG, JPEG or WebP image", 415) from exc
    if kind not in PLAN_TYPES:
        raise PlanError(f"the site plan is a {kind} image: use PNG, JPEG or WebP", 415)
    if width * height > MAX_PLAN_PIXELS:
        raise PlanError(f"the site plan has {width}x{height} pixels: at most {MAX_PLAN_PIXELS // 1_000_000} "
                        "million", 413)
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # a truncated or corrupt file fails here, not in the browser
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise PlanError(f"the site plan cannot be decoded: {exc}") from exc
    return kind, width, height


def save_plan(settings: Settings, data: bytes, bounds: Bounds, user: str, max_bytes: int) -> SitePlan:
    """Check ``data`` and keep it as the site plan spanning ``bounds`` (replacing any earlier one)."""
    kind, width, height = check_plan(data, max_bytes)
    suffix, media_type = PLAN_TYPES[kind]
    folder = plan_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"plan{suffix}"
    temporary = folder / f".plan{suffix}.part"
    temporary.write_bytes(data)
    os.replace(temporary, target)
    for other in folder.glob("plan.*"):
        if other != target and other.name != _META:
            other.unlink(missing_ok=True)
    plan = SitePlan(target, media_type, width, height, bounds, time.time(), user)
    meta = {"file": target.name, "media_type": media_type, "width": width, "height": height,
            "bounds": [list(bounds[0]), list(bounds[1])], "uploaded_at": plan.uploaded_at, "uploaded_by": user}
    (folder / f".{_META}.part").write_text(json.dumps(meta), encoding="utf-8")
    os.replace(folder / f".{_META}.part", folder / _META)
    return plan


def remove_plan(settings: Settings) -> bool:
    """Forget the uploaded plan (the configured one, if any, shows again); False when there was none."""
    plan = current_plan(settings)
    (plan_dir(settings) / _META).unlink(missing_ok=True)
    if plan is None:
        return False
    plan.path.unlink(missing_ok=True)
    return True
