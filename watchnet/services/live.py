"""Live frames: the latest picture of each camera, drawn on and JPEG-encoded only when someone watches.

``publish`` runs on the camera thread for every frame, so it only keeps references (the decoder gives
a fresh array per frame, nothing is copied). Drawing and encoding happen in the API's thread pool, at
most once per frame and variant however many clients watch, and not at all when nobody does.

Variants. ``full`` (operators, admins): boxes, track ids, and names only on tracks that matched the
watchlist. ``private`` (viewers, auditors): *every* face is blurred by ``watchnet.vision.analysis.blur.ViewerBlur``
(the one function between a viewer and any picture): faces searched inside the person boxes and in the
whole frame, so faces low in a box, people without a box and the camera's last frame are covered, and
watchlist matches too (a match is only an unconfirmed machine reading; matches are marked without a
name). The search runs on a budget (every ``exports.live_face_every``-th rendered frame, at once on a new
track or a scene change, faces carried with their boxes in between, every head blurred as well), only
for frames someone watches. The blur is irreversible: the JPEG never held the face.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import cv2
import numpy as np

from watchnet.core.config import ApiConfig, ExportsConfig, Settings
from watchnet.core.records import CLASS_ID, CLASSES, Alert
from watchnet.vision.analysis.blur import ViewerBlur
from watchnet.vision.pipeline import FrameResult

Variant = Literal["full", "private"]
_MAX_MATCHES = 2000
_PERSON = CLASS_ID["person"]


class RemoteFrames(Protocol):
    """Frames of cameras running in other processes (``watchnet.runtime.camera.live_shm``): read on demand only."""

    def cameras(self) -> list[str]: ...

    def read(self, camera: str, known_seq: int) -> Any: ...


@dataclass(slots=True)
class _Latest:
    seq: int
    index: int
    timestamp: float
    received: float
    image: np.ndarray
    xyxy: np.ndarray
    class_id: np.ndarray
    tracker_id: np.ndarray


class LiveHub:
    """Latest frame per camera plus watchlist matches per track, rendered on demand."""

    def __init__(self, config: ApiConfig, exports: ExportsConfig | None = None,
                 viewer_blur: ViewerBlur | None = None) -> None:
        self.config = config
        self.exports = exports or ExportsConfig()
        #: Without a face detector (none given) viewers' pictures are blurred whole: fail closed.
        self.viewer_blur = viewer_blur or ViewerBlur(self.exports, None)
        self._latest: dict[str, _Latest] = {}
        self._matches: OrderedDict[tuple[str, int], str] = OrderedDict()
        self._cache: dict[tuple[str, Variant], tuple[int, bool, bytes]] = {}
        self._lock = threading.Lock()
        self._seq = 0
        self._remote: RemoteFrames | None = None
        self._remote_seq: dict[str, int] = {}

    def attach(self, remote: RemoteFrames) -> None:
        """Take frames of cameras that run in worker processes: each is copied out of its slot only when
        someone asks for it (snapshot, stream, status), so nothing is done for cameras nobody watches."""
        self._remote = remote

    def _pull(self, camera: str) -> None:
        remote = self._remote
        if remote is None:
            return
        frame = remote.read(camera, self._remote_seq.get(camera, -1))
        if frame is None:
            return
        with self._lock:
            self._remote_seq[camera] = frame.seq
            self._seq += 1
            self._latest[camera] = _Latest(self._seq, frame.index, frame.timestamp, time.time(), frame.image,
                                           frame.xyxy, frame.class_id, frame.tracker_id)
            for key in [k for k in self._matches if k[0] == camera]:  # the worker's names are the truth
                del self._matches[key]
            for tid, name in frame.names.items():
                self._matches[(camera, tid)] = name

    @classmethod
    def from_settings(cls, settings: Settings) -> LiveHub:
        """The console's hub: viewers' pictures blurred with the configured face detector (loaded on first use)."""
        return cls(settings.api, settings.exports, ViewerBlur.from_settings(settings))

    def publish(self, result: FrameResult) -> None:
        """Keep ``result`` as its camera's latest frame (called on the camera thread)."""
        tracked = result.tracked
        n = len(tracked)
        ids = tracked.tracker_id if tracked.tracker_id is not None else np.full(n, -1)
        classes = tracked.class_id if tracked.class_id is not None else np.zeros(n, dtype=int)
        with self._lock:
            self._seq += 1
            self._latest[result.frame.camera] = _Latest(
                self._seq, result.frame.index, result.frame.timestamp, time.time(), result.frame.image,
                np.asarray(tracked.xyxy, dtype=np.float32).reshape(-1, 4), np.asarray(classes), np.asarray(ids),
            )
        for alert in result.alerts:
            self.note_alert(alert)
        self.unbind(result.frame.camera, result.unbound)

    def note_alert(self, alert: Alert) -> None:
        """Remember that a track matched a subject, so its box is named from now on."""
        with self._lock:
            self._matches[(alert.camera, alert.track_id)] = alert.subject_name
            while len(self._matches) > _MAX_MATCHES:
                self._matches.popitem(last=False)

    def unbind(self, camera: str, unbound: list[tuple[int, str]]) -> None:
        """Take names off tracks whose faces stopped supporting them (``FrameResult.unbound``): from now on
        the box is drawn as anyone's. The alert keeps its record; only the live label goes."""
        if not unbound:
            return
        with self._lock:
            for tid, name in unbound:
                if self._matches.get((camera, tid)) == name:
                    del self._matches[(camera, tid)]

    def names(self, camera: str) -> dict[int, str]:
        """The names the live view puts on the boxes of ``camera``'s latest frame, by track id."""
        self._pull(camera)
        with self._lock:
            latest = self._latest.get(camera)
            if latest is None:
                return {}
            return {int(t): self._matches[(camera, int(t))] for t in latest.tracker_id
                    if (camera, int(t)) in self._matches}

    def reset(self, camera: str | None = None) -> None:
        """Forget a camera's frames and matches (its tracker ids restart), or everything."""
        with self._lock:
            for key in [k for k in self._latest if camera in (None, k)]:
                del self._latest[key]
            for match in [k for k in self._matches if camera in (None, k[0])]:
                del self._matches[match]
        self.viewer_blur.forget(camera)

    def cameras(self) -> list[str]:
        remote = self._remote.cameras() if self._remote is not None else []
        with self._lock:
            return sorted(set(self._latest) | set(remote))

    def seq(self, camera: str) -> int | None:
        self._pull(camera)
        latest = self._latest.get(camera)
        return latest.seq if latest else None

    def info(self, camera: str) -> dict[str, float | int] | None:
        self._pull(camera)
        latest = self._latest.get(camera)
        if latest is None:
            return None
        return {"frame_index": latest.index, "timestamp": latest.timestamp, "age_s": time.time() - latest.received}

    def jpeg(self, camera: str, variant: Variant) -> bytes | None:
        """The latest frame of ``camera`` drawn for ``variant``, as JPEG; None before the first frame."""
        self._pull(camera)
        with self._lock:
            latest = self._latest.get(camera)
            cached = self._cache.get((camera, variant))
            if latest is None:
                return None
            # a viewer's frame that stayed the latest for a while (the camera ended or stalls) is searched in full
            settled = variant == "private" and time.time() - latest.received >= self.exports.live_settle_s
            if cached is not None and cached[0] == latest.seq and (cached[1] or not settled):
                return cached[2]
            names = {tid: name for (cam, tid), name in self._matches.items() if cam == camera}
        data = self._render(camera, latest, names, variant, settled)
        with self._lock:
            self._cache[(camera, variant)] = (latest.seq, settled or variant == "full", data)
        return data

    def _render(self, camera: str, latest: _Latest, names: dict[int, str], variant: Variant, exact: bool) -> bytes:
        image = latest.image
        h, w = image.shape[:2]
        scale = min(1.0, self.config.live_max_side / max(h, w))
        canvas = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) \
            if scale < 1.0 else image.copy()
        boxes = latest.xyxy * scale
        if variant == "private":  # every face, matches included: none is confirmed by two people here
            people = latest.class_id == _PERSON
            self.viewer_blur(camera, canvas, boxes[people], latest.tracker_id[people], (), exact=exact,
                             seq=latest.index)
        for box, cls, tid in zip(boxes, latest.class_id, latest.tracker_id, strict=True):
            _draw_box(canvas, box, int(cls), int(tid), names.get(int(tid)), variant)
        ok, buf = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, self.config.live_jpeg_quality])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        return buf.tobytes()


_COLOURS = {"person": (80, 200, 80), "match": (40, 40, 235)}
_VEHICLE = (230, 160, 40)


def _draw_box(canvas: np.ndarray, box: np.ndarray, cls: int, tid: int, name: str | None, variant: Variant) -> None:
    x1, y1, x2, y2 = (round(float(v)) for v in box)
    label = CLASSES[cls] if 0 <= cls < len(CLASSES) else "object"
    colour = _COLOURS["match"] if name else _COLOURS.get(label, _VEHICLE)
    cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, 3 if name else 2)
    text = f"#{tid}" if tid >= 0 else label
    if name:
        text += f" {name}" if variant == "full" else " watchlist match"
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
    top = max(th + 4, y1)
    cv2.rectangle(canvas, (x1, top - th - 4), (x1 + tw + 4, top), colour, -1)
    cv2.putText(canvas, text, (x1 + 2, top - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
