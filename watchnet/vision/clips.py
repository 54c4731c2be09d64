"""A short clip around each alert: the seconds before the match and the seconds after, next to its snapshot.

Each camera keeps a bounded ring of its recent frames (downscaled to ``alerts.clip_max_side``, at most
``alerts.clip_fps`` a second, held as JPEG: a few hundred kB per camera). When a frame raises alerts, the
frames of the last ``clip_before_s`` seconds start a clip for each alert that has a snapshot; the next
``clip_after_s`` seconds of frames are added, then the clip is written as H.264 MP4 (what browsers play)
at ``<snapshot>.mp4``, on a thread of its own so the camera does not wait for the encoder. It is written to
a temporary name and renamed, so the route never serves half a file. The frames are the pipeline's
frames, privacy masks applied, faces as on the alert's snapshot (operators' evidence; the route has the
snapshot's authorisation). Time is the video's own (``Frame.pts``), so a file replayed faster than real
time gets the same seconds of picture as a live camera.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from watchnet.core.config import AlertsConfig
from watchnet.core.records import Alert

log = logging.getLogger("watchnet.clips")


def clip_path(snapshot_path: str | Path) -> Path:
    """Where the clip of the alert with this snapshot is (or will be) written."""
    return Path(snapshot_path).with_suffix(".mp4")


@dataclass(slots=True)
class _Pending:
    path: Path
    end: float
    frames: list[tuple[float, bytes]] = field(default_factory=list)


class ClipRecorder:
    """One camera's ring of recent frames and the clips still collecting their frames after the match."""

    def __init__(self, config: AlertsConfig) -> None:
        self.before = config.clip_before_s
        self.after = config.clip_after_s
        self.fps = config.clip_fps
        self.max_side = config.clip_max_side
        self.quality = min(config.jpeg_quality, 85)
        self._ring: deque[tuple[float, bytes]] = deque()
        self._pending: list[_Pending] = []
        self._last: float | None = None
        self.writers: list[threading.Thread] = []

    @property
    def enabled(self) -> bool:
        return self.before + self.after > 0

    def push(self, image: np.ndarray, pts: float, alerts: list[Alert]) -> None:
        """The camera's next frame (at ``pts`` seconds) and the alerts it raised."""
        if not self.enabled:
            return
        kept = self._keep(image, pts, force=bool(alerts))
        for alert in alerts:
            if alert.snapshot_path:
                self._pending.append(_Pending(clip_path(alert.snapshot_path), pts + self.after,
                                              [f for f in self._ring if f[0] >= pts - self.before]))
        for pending in list(self._pending):
            if kept is not None and (not pending.frames or pending.frames[-1][0] < kept[0]):
                pending.frames.append(kept)
            if pts >= pending.end:
                self._write(pending)

    def close(self) -> None:
        """The camera ended: write the clips that were still waiting for frames with what they have."""
        for pending in list(self._pending):
            self._write(pending)
        for writer in self.writers:
            writer.join(timeout=30)

    def _keep(self, image: np.ndarray, pts: float, force: bool) -> tuple[float, bytes] | None:
        if not force and self._last is not None and pts - self._last < 1.0 / self.fps:
            return None
        h, w = image.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        if scale < 1.0:
            image = cv2.resize(image, (round(w * scale) // 2 * 2, round(h * scale) // 2 * 2),
                               interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            return None
        frame = (pts, data.tobytes())
        self._last = pts
        self._ring.append(frame)
        while self._ring and self._ring[0][0] < pts - self.before:
            self._ring.popleft()
        return frame

    def _write(self, pending: _Pending) -> None:
        self._pending.remove(pending)
        if not pending.frames:
            return
        self.writers = [w for w in self.writers if w.is_alive()]
        writer = threading.Thread(target=write_clip, args=(pending.path, pending.frames, self.fps),
                                  name=f"clip-{pending.path.stem}", daemon=True)
        writer.start()
        self.writers.append(writer)


def write_clip(path: Path, frames: list[tuple[float, bytes]], fps: float) -> None:
    """Encode ``frames`` (pts, JPEG) as H.264 MP4 at ``path``; each frame shown for its own duration."""
    import av

    tmp = path.with_name(path.name + ".part")
    try:
        images = [np.asarray(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)) for _, data in frames]
        h, w = (d // 2 * 2 for d in images[0].shape[:2])
        start = frames[0][0]
        rate = max(1, round(fps))
        with av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.codec_context.time_base = Fraction(1, 1000)
            stream.options = {"preset": "veryfast", "crf": "28"}
            last = -1
            for (pts, _), image in zip(frames, images, strict=True):
                stamp = max(last + 1, round((pts - start) * 1000))
                pixels = np.asarray(cv2.resize(image, (w, h)) if image.shape[:2] != (h, w) else image, dtype=np.uint8)
                frame = av.VideoFrame.from_ndarray(pixels, format="bgr24")
                frame.pts, frame.time_base = stamp, Fraction(1, 1000)
                last = stamp
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        tmp.replace(path)
    except Exception:  # a clip is extra evidence: its failure must not touch the camera
        log.exception("clip %s not written", path)
        tmp.unlink(missing_ok=True)
