"""The small typed records that every stage shares.

Data flows one way (sources -> analysis -> events -> store -> api), and these records are the only
things that cross a stage boundary. They are plain dataclasses holding numpy arrays, so they are cheap
to create on the hot path and easy to pickle between camera processes.

Per-frame batches of boxes travel as ``supervision.Detections`` (xyxy, confidence, class_id,
tracker_id): that is the batch type the tracker and zone tools already speak, so we do not wrap it.
``Detection`` below is the single-box form used at the edges (JSON, store, API).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import supervision as sv

#: The object classes watchnet detects, in a fixed order. ``class_id`` in every record indexes this.
CLASSES: tuple[str, ...] = ("person", "bicycle", "car", "motorcycle", "bus", "truck")
CLASS_ID: dict[str, int] = {name: i for i, name in enumerate(CLASSES)}
VEHICLE_CLASSES: frozenset[str] = frozenset({"bicycle", "car", "motorcycle", "bus", "truck"})


def subset(detections: sv.Detections, selector: np.ndarray) -> sv.Detections:
    """``detections[selector]`` (a boolean mask or index array), typed as the batch it is."""
    picked = detections[selector]
    assert isinstance(picked, sv.Detections)
    return picked


@dataclass(slots=True)
class Frame:
    """One decoded picture from one camera.

    ``index`` counts decoded frames from 0 in the source (after any fps cap it is still the source's
    index, so MOT exports line up with ground truth); ``pts`` is seconds from the start of the source
    and ``timestamp`` the wall-clock time it was captured (for files: start time + pts).
    """

    camera: str
    index: int
    pts: float
    timestamp: float
    image: np.ndarray  # H x W x 3, uint8, BGR

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the picture."""
        return int(self.image.shape[0]), int(self.image.shape[1])


@dataclass(frozen=True, slots=True)
class Detection:
    """One box: what, where, how sure, and (once tracked) which track."""

    xyxy: tuple[float, float, float, float]
    score: float
    label: str
    track_id: int | None = None


class TrackEventKind(enum.StrEnum):
    """What happened to a track."""

    APPEARED = "appeared"
    LEFT = "left"
    ZONE_ENTER = "zone_enter"
    ZONE_EXIT = "zone_exit"
    LINE_CROSS = "line_cross"


@dataclass(frozen=True, slots=True)
class TrackEvent:
    """A life-cycle or rule event for one track (appeared, left, entered a zone, crossed a line)."""

    camera: str
    track_id: int
    kind: TrackEventKind
    label: str
    frame_index: int
    timestamp: float
    rule: str | None = None  # zone or line name for rule events
    detail: dict[str, object] = field(default_factory=dict)


#: Seconds of a track's start and end over which its entry and exit motion is fitted.
ENDS_WINDOW_S = 1.0


@dataclass(frozen=True, slots=True)
class TrackEnd:
    """Where a track entered or left its camera's picture: the foot point (bottom centre of the box, px),
    its velocity (px/s, a straight-line fit over the first or last ``ENDS_WINDOW_S``) and the box height
    (px: the local scale, a person is about 1.7 m). What the linker's continuity cue extrapolates."""

    x: float
    y: float
    vx: float
    vy: float
    height: float

    def as_list(self) -> list[float]:
        return [round(v, 2) for v in (self.x, self.y, self.vx, self.vy, self.height)]

    @classmethod
    def from_list(cls, values: object) -> TrackEnd | None:
        """The stored form back; None for anything that is not five finite numbers."""
        if not isinstance(values, list | tuple) or len(values) != 5:
            return None
        try:
            x, y, vx, vy, h = (float(v) for v in values)
        except (TypeError, ValueError):
            return None
        if not all(np.isfinite((x, y, vx, vy, h))) or h <= 0:
            return None
        return cls(x, y, vx, vy, h)


@dataclass(slots=True)
class Track:
    """Summary of one tracked object in one camera, kept up to date while it lives.

    ``path`` is a thinned list of (frame_index, cx, cy, w, h) so a trajectory can be drawn and stored
    without one row per frame. ``head`` and ``tail`` keep every (timestamp, foot x, foot y, box height)
    of the track's first and last ``ENDS_WINDOW_S``: its entry and exit motion (``TrackEnd``).
    """

    camera: str
    track_id: int
    label: str
    first_frame: int
    last_frame: int
    first_seen: float
    last_seen: float
    best_score: float = 0.0
    hits: int = 0
    best_xyxy: tuple[float, float, float, float] | None = None
    snapshot_path: str | None = None
    path: list[tuple[int, float, float, float, float]] = field(default_factory=list)
    attributes: dict[str, object] = field(default_factory=dict)
    head: list[tuple[float, float, float, float]] = field(default_factory=list)
    tail: list[tuple[float, float, float, float]] = field(default_factory=list)


@dataclass(slots=True)
class Face:
    """A face found in a frame: box, five landmarks, detector score, quality and (optionally) embedding.

    Landmarks are (x, y) pixels in frame coordinates: right eye, left eye, nose, right mouth, left mouth
    (the ArcFace/CenterFace order). ``quality`` in [0, 1] combines size, blur, pose and detector score.
    """

    xyxy: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray | None = None  # 5 x 2 float32
    quality: float = 0.0
    embedding: np.ndarray | None = None  # L2-normalised float32 vector
    track_id: int | None = None


@dataclass(slots=True)
class Sighting:
    """One searchable record per track: where and when, what it looked like, what was read off it."""

    camera: str
    track_id: int
    label: str
    first_seen: datetime
    last_seen: datetime
    attributes: dict[str, object] = field(default_factory=dict)
    plate: str | None = None
    face_embedding: np.ndarray | None = None
    appearance_embedding: np.ndarray | None = None
    thumbnail_path: str | None = None
    reid_embedding: np.ndarray | None = None  # L2-normalised; dot product = linker appearance similarity
    entry: TrackEnd | None = None  # how the track came into the picture (the linker's continuity cue)
    exit: TrackEnd | None = None  # how it left (for a provisional sighting: where it is now)
    # written while its track still runs (``linking.provisional_after_s``): the track's final sighting
    # later updates that same row instead of adding a second one
    provisional: bool = False


class AlertState(enum.StrEnum):
    """Life-cycle of an alert: new -> confirmed -> closed, or dismissed."""

    NEW = "new"
    CONFIRMED = "confirmed"
    CLOSED = "closed"
    DISMISSED = "dismissed"


@dataclass(slots=True)
class Alert:
    """A watchlist or hotlist match raised on a track."""

    subject_id: int
    subject_name: str
    kind: str  # "face" or "plate"
    score: float
    camera: str
    track_id: int
    timestamp: float
    frame_index: int
    xyxy: tuple[float, float, float, float] | None = None
    crop_path: str | None = None
    snapshot_path: str | None = None
    lat: float | None = None
    lon: float | None = None
    state: AlertState = AlertState.NEW
    id: int | None = None
    matches: int = 1  # an alert is a group: repeated matches of its subject on its camera (alerts.group_window_s)
    last_seen: float | None = None  # the group's latest match (None: only this one)
    track_ids: tuple[int, ...] = ()  # every track of the group (empty: only track_id)
