"""A folder of images as a camera: benchmark sequences (MOTChallenge ``img1/``) and exported stills.

Files are taken in natural order (``frame2`` before ``frame10``), since exporters rarely zero-pad.
A folder has no frame rate of its own, so pts come from, in order: the MOTChallenge ``seqinfo.ini``
next to it (then ``fps_cap`` drops frames exactly as for a video), else ``fps_cap``, else
``DEFAULT_FOLDER_FPS``. An unreadable image is skipped with a warning, not fatal: one bad JPEG should
not stop a thousand-frame sequence.
"""

from __future__ import annotations

import configparser
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from watchnet.core.errors import SourceError
from watchnet.core.records import Frame
from watchnet.vision.sources.base import Source, SourceState, log
from watchnet.vision.sources.timing import FpsCap

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
#: Frame rate assumed for pts when neither seqinfo.ini nor fps_cap gives one.
DEFAULT_FOLDER_FPS = 10.0


def natural_key(path: Path) -> list[object]:
    """Sort key that orders embedded numbers by value: img2 < img10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def list_images(folder: Path) -> list[Path]:
    """The image files directly in ``folder``, naturally sorted."""
    return sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()), key=natural_key
    )


def seqinfo_rate(folder: Path) -> float | None:
    """frameRate from a MOTChallenge ``seqinfo.ini`` beside ``folder`` (whose imDir must be it), if any."""
    ini = folder.parent / "seqinfo.ini"
    if not ini.is_file():
        return None
    parser = configparser.ConfigParser()
    try:
        parser.read(ini)
        seq = parser["Sequence"]
        if seq.get("imDir", folder.name) != folder.name:
            return None
        rate = float(seq.get("frameRate", "0"))
    except (configparser.Error, KeyError, ValueError):
        return None
    return rate if rate > 0 else None


def read_image(path: Path) -> np.ndarray | None:
    """BGR uint8 HxWx3, or None if the file cannot be decoded (bytes first: non-ASCII paths work too)."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    return image if image is not None and image.ndim == 3 else None


class FolderSource(Source):
    """The images of one folder as frames; ``realtime`` plays them at their rate, skipping late ones."""

    def __init__(
        self, folder: str | Path, camera: str, *, fps_cap: float | None = None, realtime: bool = False
    ) -> None:
        super().__init__(camera, str(folder))
        self.folder = Path(folder)
        try:
            self._files = list_images(self.folder)
        except OSError as exc:
            raise SourceError(f"cannot open folder '{folder}': {exc.strerror or exc}") from exc
        if not self._files:
            suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
            raise SourceError(f"cannot open folder '{folder}': it holds no images ({suffixes})")
        native = seqinfo_rate(self.folder)
        self.rate = native or fps_cap or DEFAULT_FOLDER_FPS
        self._cap = FpsCap(fps_cap if native else None)
        self._realtime = realtime
        self._position = 0
        self._closed = threading.Event()

    @property
    def image_count(self) -> int:
        return len(self._files)

    def frames(self) -> Iterator[Frame]:
        start_wall, start = time.time(), time.monotonic()
        first = self._position
        while self._position < len(self._files) and not self._closed.is_set():
            index = self._position
            if self._realtime:
                due = first + int((time.monotonic() - start) * self.rate)
                if due > index:  # the consumer was slow: jump to the picture that is due now
                    due = min(due, len(self._files) - 1)
                    self._count(dropped=due - index)
                    index = self._position = due
                elif self._closed.wait(start + (index - first) / self.rate - time.monotonic()):
                    break
            self._position = index + 1
            pts = index / self.rate
            if not self._cap.admit(pts):
                self._count(dropped=1)
                continue
            image = read_image(self._files[index])
            if image is None:
                log.warning("camera %s: skipping unreadable image %s", self.camera, self._files[index])
                self._count(errors=1)
                self._set_error(f"unreadable image '{self._files[index]}'")
                continue
            self._count(decoded=1)
            self._set_state(SourceState.RUNNING)
            self._mark_delivered()
            stamp = time.time() if self._realtime else start_wall + pts - first / self.rate
            yield Frame(self.camera, index, pts, stamp, image)
        self._set_state(SourceState.ENDED)

    def close(self) -> None:
        self._closed.set()
        self._set_state(SourceState.ENDED)
