"""Pick the right source for a camera's URL, and probe a URL for the CLI/API health views.

The kind follows from the URL alone (so a config file stays a plain list of URLs); ``camera.live``
only overrides the behaviour: a file played live is paced in real time and the newest frame wins (to
show or measure "falling behind"), and a network URL with ``live: false`` is read frame by frame like a
file (e.g. a recording served over HTTP).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import av

from watchnet.core.config import CameraConfig, StreamConfig
from watchnet.core.errors import SourceError
from watchnet.vision.sources.avopen import (
    NETWORK_SCHEMES,
    describe_error,
    is_webcam,
    local_path,
    open_container,
    scheme_of,
)
from watchnet.vision.sources.base import Source, redact_url
from watchnet.vision.sources.file import FileSource
from watchnet.vision.sources.folder import FolderSource, list_images, read_image, seqinfo_rate
from watchnet.vision.sources.stream import StreamSource

SourceKind = Literal["file", "folder", "stream", "webcam"]


def source_kind(url: str) -> SourceKind:
    """What ``url`` names: a webcam, a network stream, a folder of images, or (anything else) a file."""
    if is_webcam(url):
        return "webcam"
    scheme = scheme_of(url)
    if scheme in NETWORK_SCHEMES:
        return "stream"
    if scheme not in ("", "file"):
        raise SourceError(f"cannot open '{redact_url(url)}': unsupported scheme '{scheme}://'")
    path = local_path(url)
    return "folder" if path is not None and path.is_dir() else "file"


def open_source(camera: CameraConfig, stream: StreamConfig | None = None) -> Source:
    """A ready source for ``camera``. Raises SourceError only for inputs that can never work.

    Files and folders are checked here (missing, empty, not a video: SourceError now, so the runner
    can report that camera and go on with the others). Streams and webcams never raise here: they
    connect in the background and report through ``status``.
    """
    cfg = stream or StreamConfig()
    kind = source_kind(camera.url)
    live = camera.live if camera.live is not None else kind in ("stream", "webcam")
    if kind == "folder":
        folder = local_path(camera.url) or camera.url
        return FolderSource(folder, camera.name, fps_cap=camera.fps_cap, realtime=live)
    if kind == "file" and live:
        probe(camera.url, cfg)  # fail now, like an offline file, rather than "reconnecting" to a missing one
        return StreamSource(
            camera.url, camera.name, stream=cfg, fps_cap=camera.fps_cap, realtime=True, once=True
        )
    if kind == "file" or not live:
        return FileSource(camera.url, camera.name, fps_cap=camera.fps_cap, stream=cfg)
    return StreamSource(camera.url, camera.name, stream=cfg, fps_cap=camera.fps_cap)


def probe(url: str, stream: StreamConfig | None = None) -> dict[str, object]:
    """What ``url`` delivers: kind, width, height, fps, frames (None if unknown), codec, duration_s.

    Opens the input (bounded by the stream timeouts) without decoding; raises SourceError if it cannot.
    """
    kind = source_kind(url)
    shown = redact_url(url)
    if kind == "folder":
        return _probe_folder(Path(local_path(url) or url))
    path = local_path(url)
    if path is not None and not path.exists():
        raise SourceError(f"cannot open video '{shown}': no such file; check the camera's url")
    try:
        container = open_container(url, stream or StreamConfig())
    except (av.FFmpegError, OSError) as exc:
        raise SourceError(f"cannot open video '{shown}': {describe_error(exc)}") from exc
    try:
        if not container.streams.video:
            raise SourceError(f"cannot open video '{shown}': it has no video stream")
        video = container.streams.video[0]
        rate = video.average_rate or video.guessed_rate
        return {
            "kind": kind,
            "width": video.width,
            "height": video.height,
            "fps": round(float(rate), 3) if rate else None,
            "frames": int(video.frames) or None,
            "codec": video.codec_context.name,
            "duration_s": round(container.duration / 1_000_000, 3) if container.duration else None,
        }
    finally:
        container.close()


def _probe_folder(folder: Path) -> dict[str, object]:
    images = list_images(folder)
    if not images:
        raise SourceError(f"cannot open folder '{folder}': it holds no images")
    first = read_image(images[0])
    rate = seqinfo_rate(folder)
    return {
        "kind": "folder",
        "width": int(first.shape[1]) if first is not None else None,
        "height": int(first.shape[0]) if first is not None else None,
        "fps": rate,
        "frames": len(images),
        "codec": "images",
        "duration_s": round(len(images) / rate, 3) if rate else None,
    }
