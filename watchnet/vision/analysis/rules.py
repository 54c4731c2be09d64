"""Zone and line rules per camera, built on supervision's PolygonZone and LineZone.

A zone raises ``zone_enter``/``zone_exit`` when a tracked object's bottom-centre (its feet, for a
person) enters or leaves the polygon; a line raises ``line_cross`` with direction ``in`` or ``out``.
Only tracks of the rule's classes count, and carried (not detected) boxes count too, so a person who
crosses while the detector is skipping frames is still seen crossing.
"""

from __future__ import annotations

import numpy as np
import supervision as sv

from watchnet.core.config import CameraConfig, frame_points
from watchnet.core.records import CLASS_ID, CLASSES, Frame, TrackEvent, TrackEventKind, subset


class _Zone:
    def __init__(self, name: str, polygon: list[tuple[float, float]], classes: list[str]) -> None:
        self.name = name
        self.zone = sv.PolygonZone(
            polygon=np.round(np.array(polygon)).astype(np.int64),
            triggering_anchors=(sv.Position.BOTTOM_CENTER,),
        )
        self.class_ids = np.array([CLASS_ID[c] for c in classes], dtype=int)
        self.inside: set[int] = set()


class _Line:
    def __init__(self, name: str, start: tuple[float, float], end: tuple[float, float], classes: list[str]) -> None:
        self.name = name
        self.line = sv.LineZone(
            start=sv.Point(*start), end=sv.Point(*end), triggering_anchors=(sv.Position.BOTTOM_CENTER,)
        )
        self.class_ids = np.array([CLASS_ID[c] for c in classes], dtype=int)


class RuleEngine:
    """Evaluates one camera's zones and lines on each frame's tracked detections."""

    def __init__(self, camera: CameraConfig) -> None:
        self.camera = camera.name
        self._config = camera
        self._size: tuple[int, int] | None = None
        self.zones: list[_Zone] = []
        self.lines: list[_Line] = []
        if not any(0 <= x <= 1 and 0 <= y <= 1 for x, y in self._points()):  # all in pixels: build now
            self._build(0, 0)

    def _points(self) -> list[tuple[float, float]]:
        cam = self._config
        return [p for z in cam.zones for p in z.polygon] + [p for ln in cam.lines for p in (ln.start, ln.end)]

    def _build(self, width: int, height: int) -> None:
        """Zones and lines in pixels of a ``width`` x ``height`` frame (console shapes are frame-relative)."""
        cam = self._config
        self._size = (width, height)
        self.zones = [_Zone(z.name, frame_points(z.polygon, width, height), z.classes) for z in cam.zones]
        self.lines = []
        for ln in cam.lines:
            start, end = frame_points([ln.start, ln.end], width, height)
            self.lines.append(_Line(ln.name, start, end, ln.classes))

    def __bool__(self) -> bool:
        return bool(self._config.zones or self._config.lines)

    def evaluate(self, frame: Frame, tracked: sv.Detections) -> list[TrackEvent]:
        """Events raised by this frame's tracked boxes."""
        if not self or len(tracked) == 0:
            return []
        height, width = frame.image.shape[:2]
        if self._size is None or (self._size != (0, 0) and self._size != (width, height)):
            self._build(width, height)
        assert tracked.tracker_id is not None and tracked.class_id is not None
        events: list[TrackEvent] = []
        for zone in self.zones:
            chosen = subset(tracked, np.isin(tracked.class_id, zone.class_ids))
            inside_mask = zone.zone.trigger(chosen) if len(chosen) else np.zeros(0, bool)
            assert chosen.tracker_id is not None
            now_inside = {int(t) for t, m in zip(chosen.tracker_id, inside_mask, strict=True) if m}
            seen = {int(t) for t in chosen.tracker_id}
            for tid in sorted(now_inside - zone.inside):
                events.append(self._event(frame, chosen, tid, TrackEventKind.ZONE_ENTER, zone.name))
            for tid in sorted((zone.inside - now_inside) & seen):
                events.append(self._event(frame, chosen, tid, TrackEventKind.ZONE_EXIT, zone.name))
            zone.inside = now_inside | (zone.inside - seen)  # unseen tracks keep their last state
        for line in self.lines:
            chosen = subset(tracked, np.isin(tracked.class_id, line.class_ids))
            if not len(chosen):
                continue
            crossed_in, crossed_out = line.line.trigger(chosen)
            assert chosen.tracker_id is not None
            for i, tid in enumerate(chosen.tracker_id):
                if crossed_in[i] or crossed_out[i]:
                    direction = "in" if crossed_in[i] else "out"
                    events.append(
                        self._event(frame, chosen, int(tid), TrackEventKind.LINE_CROSS, line.name, direction)
                    )
        return events

    def _event(
        self, frame: Frame, subset: sv.Detections, tid: int, kind: TrackEventKind, rule: str,
        direction: str | None = None,
    ) -> TrackEvent:
        assert subset.tracker_id is not None and subset.class_id is not None
        index = int(np.flatnonzero(subset.tracker_id == tid)[0])
        label = CLASSES[int(subset.class_id[index])]
        detail: dict[str, object] = {"xyxy": [round(float(v), 1) for v in subset.xyxy[index]]}
        if direction:
            detail["direction"] = direction
        return TrackEvent(self.camera, tid, kind, label, frame.index, frame.timestamp, rule, detail)
