"""People and vehicle detection: any detector family -> ``supervision.Detections`` in watchnet classes.

The family returns COCO boxes; here they are mapped to watchnet's classes, filtered by a low floor
(the tracker's second association stage wants weak boxes too), and NMS'd per class. Per-class
"confident" thresholds are kept in ``data['confident']`` so the tracker and rules can use both.
"""

from __future__ import annotations

import numpy as np
import supervision as sv

from watchnet.core.config import DetectorConfig, Settings
from watchnet.core.records import CLASS_ID, CLASSES
from watchnet.vision.models.detector_base import DetectorFamily, FitsInput, RawBoxes

#: 0-based COCO class index -> watchnet class name, for the classes watchnet tracks.
COCO_TO_CLASS: dict[int, str] = {0: "person", 1: "bicycle", 2: "car", 3: "motorcycle", 5: "bus", 7: "truck"}
_LOOKUP = np.full(91, -1, dtype=np.int64)
for _coco, _name in COCO_TO_CLASS.items():
    _LOOKUP[_coco] = CLASS_ID[_name]


class Detector:
    """Runs one detector family on batches of frames with watchnet's class mapping and thresholds."""

    def __init__(self, family: DetectorFamily, config: DetectorConfig) -> None:
        self.family = family
        self.config = config
        self._confident = np.array([config.thresholds.get(c, 1.0) for c in CLASSES], np.float32)

    @classmethod
    def from_settings(cls, settings: Settings) -> Detector:
        """Load the configured detector through the model store (or a user's own ONNX file)."""
        from watchnet.vision.models.detectors import open_detector
        from watchnet.vision.models.store import ModelStore

        name = settings.detector.model
        path = ModelStore(settings).path(name)
        return cls(open_detector(path, name, settings.runtime, settings.detector.input_size), settings.detector)

    def detect(self, images: list[np.ndarray]) -> list[sv.Detections]:
        """Detect people and vehicles in each BGR image."""
        raw = self.family(images, self.config.low_threshold)
        return [self._to_detections(r) for r in raw]

    def detect_fit(self, images: list[np.ndarray]) -> list[sv.Detections]:
        """Like ``detect``, but each image runs at a model input shaped like it with no more pixels than
        the model's own (a wide frame is seen larger at the same cost); families with a fixed input
        (centernet, YOLO exports) run as ``detect``. Used by the search's focus mode."""
        if not isinstance(self.family, FitsInput):
            return self.detect(images)
        return [self._to_detections(r) for r in self.family.fitted(images, self.config.low_threshold)]

    def _to_detections(self, raw: RawBoxes) -> sv.Detections:
        class_id = _LOOKUP[np.clip(raw.coco_class, 0, len(_LOOKUP) - 1)]
        keep = class_id >= 0
        if not keep.any():
            return sv.Detections.empty()
        detections = sv.Detections(
            xyxy=raw.xyxy[keep].astype(np.float32),
            confidence=raw.score[keep].astype(np.float32),
            class_id=class_id[keep],
        )
        detections = detections.with_nms(threshold=self.config.nms_iou, class_agnostic=False)
        assert detections.confidence is not None and detections.class_id is not None
        detections.data["confident"] = detections.confidence >= self._confident[detections.class_id]
        return detections
