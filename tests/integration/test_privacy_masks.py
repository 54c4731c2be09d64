"""Privacy masks on real video: a mask over the half of the PETS view where people walk hides them from the
whole pipeline. Nothing is detected or tracked in it, and the frames that go on (live picture, snapshots,
annotated video) have its pixels black."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from watchnet.core.config import CameraConfig, Settings
from watchnet.runtime.runner import Runner, RunOptions
from watchnet.services.live import LiveHub
from watchnet.vision.analysis.detect import Detector
from watchnet.vision.pipeline import FrameResult

pytestmark = pytest.mark.slow

PETS = "tracking/pets09_s2l1/pets09_s2l1_view001_480x360_10fps.avi"
LEFT_HALF = [(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]
FRAMES = 150
WIDTH = 480


def _run(settings: Settings, detector: Detector, camera: CameraConfig, hub: LiveHub | None = None,
         ) -> tuple[list[np.ndarray], list[FrameResult]]:
    """Detected (not carried) person boxes of every frame, and the results themselves."""
    boxes: list[np.ndarray] = []
    results: list[FrameResult] = []

    def keep(result: FrameResult) -> None:
        tracked = result.tracked
        if len(tracked):
            carried = np.asarray(tracked.data.get("carried", np.zeros(len(tracked), bool)), bool)
            seen = (np.asarray(tracked.class_id) == 0) & ~carried
            boxes.append(tracked.xyxy[seen])
        results.append(result)
        if hub is not None:
            hub.publish(result)

    tuned = settings.model_copy(update={"cameras": [camera]})
    Runner(tuned, detector, recorder=None, options=RunOptions(max_frames=FRAMES), on_result=keep).run()
    return boxes, results


def test_a_privacy_mask_hides_people_from_everything(shared_data: Path, settings: Settings) -> None:
    detector = Detector.from_settings(settings)
    url = str(shared_data / PETS)
    open_boxes, _ = _run(settings, detector, CameraConfig(name="pets", url=url))
    inside = [b for frame in open_boxes for b in frame if b[2] < WIDTH / 2 - 10]
    assert len(inside) >= 20, "people should walk in the left half of PETS without a mask"

    hub = LiveHub(settings.api, settings.exports)
    masked_boxes, results = _run(settings, detector, CameraConfig(name="pets", url=url, privacy_masks=[LEFT_HALF]),
                                 hub)
    assert len(results) >= FRAMES - 1
    assert [b for frame in masked_boxes for b in frame if b[2] < WIDTH / 2 - 10] == []  # no one found there
    assert sum(len(frame) for frame in masked_boxes) > 0  # the right half is still watched
    for result in results:  # what goes on to the live view, snapshots and the annotated video
        assert not result.frame.image[:, : WIDTH // 2].any()
        assert result.frame.image[:, WIDTH // 2 + 1 :].any()

    jpeg = hub.jpeg("pets", "full")
    assert jpeg is not None
    picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None
    half = picture.shape[1] // 2
    hidden = picture[:, : half - 8]
    # JPEG blocks and the box outlines of people at the mask's edge may touch a few pixels; the rest is black
    assert (hidden.max(axis=2) < 24).mean() > 0.99, (hidden.max(axis=2) < 24).mean()
    assert picture[:, half + 8 :].mean() > 40
