"""Fit the re-id projection on a site's own footage: tracks are free labels (``watchnet reid fit``).

Why from video and not from stored sightings: a sighting keeps one vector per track, while the
projection learns from how crops *inside* one track vary (pose, background, light), so it needs several
crops per track. The videos go through the same detector and tracker as ``watchnet run``
(``CameraPipeline``); ``TrackCropSampler`` keeps up to ``per_track`` crops of each person track, taken
every ``every``-th detected box and at least ``min_height`` px tall. Tracks can switch identity in a
crowd; the fit tolerates a few such tracks, since it keeps only the directions most tracks vary along.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import supervision as sv

from watchnet.core.config import CameraConfig, Settings
from watchnet.core.errors import InputError
from watchnet.core.records import CLASSES, Alert, Frame, Track
from watchnet.vision.analysis.detect import Detector
from watchnet.vision.analysis.reid import SITE_PROJECTION_NAME, ReidEmbedder, TrackProjection
from watchnet.vision.pipeline import CameraPipeline


@dataclass
class TrackCropSampler:
    """A ``TrackAnalyzer`` that keeps a few crops per track of the wanted classes."""

    labels: Sequence[str] = ("person",)
    every: int = 3
    per_track: int = 12
    min_height: int = 48
    crops: dict[int, list[np.ndarray]] = field(default_factory=dict)
    _seen: dict[int, int] = field(default_factory=dict)

    def observe(self, frame: Frame, tracked: sv.Detections, tracks: dict[int, Track]) -> list[Alert]:
        if not len(tracked) or tracked.tracker_id is None or tracked.class_id is None:
            return []
        carried = tracked.data.get("carried", np.zeros(len(tracked), bool))
        h, w = frame.image.shape[:2]
        for xyxy, class_id, tid, was_carried in zip(tracked.xyxy, tracked.class_id, tracked.tracker_id, carried,
                                                    strict=True):
            if was_carried or CLASSES[int(class_id)] not in self.labels:
                continue
            tid = int(tid)
            self._seen[tid] = self._seen.get(tid, 0) + 1
            kept = self.crops.setdefault(tid, [])
            if (self._seen[tid] - 1) % self.every or len(kept) >= self.per_track:
                continue
            x1, y1 = max(0, int(xyxy[0])), max(0, int(xyxy[1]))
            x2, y2 = min(w, round(float(xyxy[2]))), min(h, round(float(xyxy[3])))
            if y2 - y1 >= self.min_height and x2 - x1 >= 8:
                kept.append(frame.image[y1:y2, x1:x2].copy())
        return []

    def track_ended(self, track: Track) -> None:
        return None


def collect_track_crops(
    settings: Settings, videos: Sequence[Path], say: Callable[[str], None] = lambda _l: None,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Crops of person tracks in ``videos`` and, per crop, a track label unique across the videos."""
    detector = Detector.from_settings(settings)
    crops: list[np.ndarray] = []
    labels: list[int] = []
    for number, video in enumerate(videos):
        if not Path(video).is_file():
            raise InputError(f"{video}: no such video file")
        sampler = TrackCropSampler(labels=tuple(settings.reid.labels))
        try:
            with av.open(str(video)) as container:
                stream = container.streams.video[0]
                fps = float(stream.average_rate or 10.0)
                camera = CameraConfig(name=f"fit{number}", url=str(video))
                pipeline = CameraPipeline(camera, settings, lambda image: detector.detect([image])[0], fps,
                                          analyzers=[sampler])
                for index, frame in enumerate(container.decode(stream)):
                    image = frame.to_ndarray(format="bgr24")
                    pipeline.process(Frame(camera.name, index, index / fps, index / fps, image))
        except av.error.FFmpegError as exc:
            raise InputError(f"{video}: not a readable video ({exc})") from exc
        kept = {tid: c for tid, c in sampler.crops.items() if len(c) >= settings.reid.fit_min_crops}
        say(f"{video}: {len(kept)} tracks with >= {settings.reid.fit_min_crops} crops")
        for tid, items in kept.items():
            crops.extend(items)
            labels.extend([number * 1_000_000 + tid] * len(items))
    return crops, np.asarray(labels, np.int64)


def fit_projection(
    settings: Settings, videos: Sequence[Path], say: Callable[[str], None] = lambda _l: None,
) -> TrackProjection:
    """Fit ``TrackProjection`` on the raw re-id features of the person tracks in ``videos``."""
    crops, labels = collect_track_crops(settings, videos, say)
    if len(np.unique(labels)) < 2:
        raise InputError("the videos gave fewer than two usable person tracks; give longer or busier footage")
    embedder = ReidEmbedder(settings, projection=False)
    features = embedder.features(crops)
    return TrackProjection.fit(features, labels, settings.reid.fit_directions, embedder.fingerprint)


def site_projection_path(settings: Settings) -> Path:
    """Where ``watchnet reid fit`` saves, and ``ReidEmbedder`` looks first (unless configured)."""
    return settings.reid.projection_path or settings.resolved_models_dir / SITE_PROJECTION_NAME
