"""One camera's stages wired together: motion gate -> detector (on a stride) -> tracker -> rules.

The detector is passed in as a function so that several cameras can share one model session (and
have their frames batched) without this module knowing how; see ``runner.DetectorService``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import supervision as sv

from watchnet.core.config import CameraConfig, Settings, frame_points
from watchnet.core.records import Alert, Frame, Track, TrackEvent
from watchnet.vision.analysis.motion import MotionGate
from watchnet.vision.analysis.rules import RuleEngine
from watchnet.vision.analysis.scene import SceneChange, SceneMonitor
from watchnet.vision.analysis.track import CameraTracker

DetectFn = Callable[[np.ndarray], sv.Detections]


class TrackAnalyzer(Protocol):
    """A per-camera stage that looks at tracked objects: faces, attributes, plates.

    ``observe`` sees every processed frame with its tracked boxes (``data['carried']`` marks boxes the
    detector did not see; analyzers usually skip those) and may raise alerts at once. ``track_ended``
    is called when a track ends, before it is stored: the place to fill ``track.attributes`` with the
    track's voted description and to release per-track state. Analyzers decide their own sampling
    (e.g. every N-th frame of a track) so the hot path stays cheap. An analyzer that names tracks (faces)
    also offers ``take_unbound() -> list[tuple[int, str]]``: the (track id, name) pairs whose evidence
    stopped holding since the last call, which ``FrameResult.unbound`` carries to the live view.
    """

    def observe(self, frame: Frame, tracked: sv.Detections, tracks: dict[int, Track]) -> list[Alert]: ...

    def track_ended(self, track: Track) -> None: ...


@dataclass(slots=True)
class FrameResult:
    """Everything one frame produced, for the sinks (store, overlays, exports)."""

    frame: Frame
    tracked: sv.Detections
    events: list[TrackEvent]
    changed: list[Track]
    ended: list[Track]
    detected: bool
    alerts: list[Alert] = field(default_factory=list)
    scene: SceneChange | None = None  # the view changed at this frame: every earlier track ended
    unbound: list[tuple[int, str]] = field(default_factory=list)  # (track id, name) no longer supported


class CameraPipeline:
    """Processes the frames of one camera, in order, and keeps each track's best snapshot."""

    def __init__(
        self, camera: CameraConfig, settings: Settings, detect: DetectFn, fps: float,
        snapshot_dir: Path | None = None, analyzers: Sequence[TrackAnalyzer] = (),
    ) -> None:
        self.camera = camera
        self.analyzers = list(analyzers)
        self.detect = detect
        self.stride = settings.detector.stride
        fps = fps if fps > 0 else 10.0
        refresh = max(1, int(fps * 0.8 / self.stride))  # re-detect before a still track would expire
        self.gate = MotionGate(settings.detector.motion_threshold, refresh) if settings.detector.motion_gate else None
        self.tracker = CameraTracker(camera.name, settings.tracker, fps)
        self.scene = SceneMonitor(settings.scene, fps) if settings.scene.enabled else None
        self.rules = RuleEngine(camera)
        self.snapshot_dir = snapshot_dir
        self._best: dict[int, tuple[float, np.ndarray]] = {}
        self._processed = 0
        self._privacy: tuple[tuple[int, ...], np.ndarray] | None = None  # (frame shape, pixels to black out)

    def mask(self, frame: Frame) -> Frame:
        """Black out the camera's privacy masks, first of all: every later stage (scene check, motion, detector,
        crops, snapshots, the live picture, annotated video) only ever sees the masked frame."""
        if not self.camera.privacy_masks:
            return frame
        shape = frame.image.shape
        if self._privacy is None or self._privacy[0] != shape:
            height, width = shape[:2]
            hidden = np.zeros((height, width), np.uint8)
            polygons = [np.round(np.asarray(frame_points(p, width, height), np.float32)).astype(np.int32)
                        for p in self.camera.privacy_masks]
            cv2.fillPoly(hidden, polygons, 1)
            self._privacy = (shape, hidden.astype(bool))
        image = frame.image if frame.image.flags.writeable else frame.image.copy()
        image[self._privacy[1]] = 0
        return Frame(frame.camera, frame.index, frame.pts, frame.timestamp, image)

    def process(self, frame: Frame) -> FrameResult:
        """Run the stages on one frame (its privacy masks blacked out first)."""
        frame = self.mask(frame)
        # A changed view (cut, camera move, frozen or blank picture) ends every track first: no track,
        # and no name on one, is carried onto whoever stands there now.
        verdict = self.scene.check(frame.image, frame.pts, frame.index) if self.scene is not None else None
        cut = self.tracker.end_all(frame) if verdict is not None and verdict.change is not None else None
        on_stride = self._processed % self.stride == 0 or cut is not None
        # New tracks need a second detector pass to be confirmed: never let the gate delay it.
        run_detector = on_stride and (
            self.gate is None or self.gate.should_detect(frame.image) or self.tracker.tentative > 0 or cut is not None
        )
        self._processed += 1
        detections: sv.Detections | None = None
        if verdict is not None and not verdict.usable:  # frozen or blank: nothing on it is current
            run_detector, detections = False, sv.Detections.empty()
        elif run_detector:
            detections = self.detect(frame.image)
        update = self.tracker.update(frame, detections)
        if cut is not None:
            update.events[:0] = cut.events
            update.ended[:0] = cut.ended
        events = update.events + self.rules.evaluate(frame, update.detections)
        alerts: list[Alert] = []
        unbound: list[tuple[int, str]] = []
        for analyzer in self.analyzers:
            alerts.extend(analyzer.observe(frame, update.detections, self.tracker.active))
            release = getattr(analyzer, "take_unbound", None)  # analyzers that name tracks say when a name goes
            if release is not None:
                unbound.extend(release())
        self._keep_best_crops(frame, update.changed)
        self._end(update.ended)
        return FrameResult(frame, update.detections, events, update.changed, update.ended, run_detector, alerts,
                           verdict.change if verdict is not None else None, unbound)

    def finish(self, frame: Frame) -> FrameResult:
        """End of stream (or stop): close every live track."""
        frame = self.mask(frame)
        update = self.tracker.finish(frame)
        self._end(update.ended)
        return FrameResult(frame, update.detections, update.events, [], update.ended, False)

    def _end(self, ended: list[Track]) -> None:
        for track in ended:
            for analyzer in self.analyzers:
                analyzer.track_ended(track)
        self._save_snapshots(ended)

    def _keep_best_crops(self, frame: Frame, changed: list[Track]) -> None:
        """Remember a copy of the crop where each track scored best (a small copy, not the frame)."""
        if self.snapshot_dir is None:
            return
        for track in changed:
            best = self._best.get(track.track_id)
            if track.best_xyxy is None or (best is not None and best[0] >= track.best_score):
                continue
            x1, y1, x2, y2 = (round(v) for v in track.best_xyxy)
            crop = frame.image[max(y1, 0) : max(y2, 0), max(x1, 0) : max(x2, 0)]
            if crop.size:
                self._best[track.track_id] = (track.best_score, crop.copy())

    def _save_snapshots(self, ended: list[Track]) -> None:
        if self.snapshot_dir is None:
            return
        for track in ended:
            best = self._best.pop(track.track_id, None)
            if best is None:
                continue
            self.snapshot_dir.mkdir(parents=True, exist_ok=True)
            path = self.snapshot_dir / f"{track.track_id:06d}.jpg"
            if cv2.imwrite(str(path), best[1], [cv2.IMWRITE_JPEG_QUALITY, 90]):
                track.snapshot_path = str(path)
