"""Pick the detector family for an ONNX file: by catalog name, else by its output signature."""

from __future__ import annotations

from pathlib import Path

from watchnet.core.config import RuntimeConfig
from watchnet.core.errors import ModelError
from watchnet.vision.models.centernet import CenterNet
from watchnet.vision.models.detector_base import DetectorFamily
from watchnet.vision.models.nanodet import NanoDet
from watchnet.vision.models.runtime import create_session
from watchnet.vision.models.yolo import Yolo, head_kind


def open_detector(path: Path, name: str, runtime: RuntimeConfig, input_size: int) -> DetectorFamily:
    """Load ``path`` and bind the matching family. ``name`` is the slot ('nanodet', 'centernet', ...)."""
    session = create_session(path, runtime)
    outputs = session.get_outputs()
    if name == "nanodet" or (len(outputs) == 6 and outputs[0].shape[-1] == 80):
        return NanoDet(session, input_size, source=path, runtime=runtime)
    if name == "centernet" or (len(outputs) == 1 and list(outputs[0].shape[1:]) == [100, 6]):
        return CenterNet(session, input_size)
    if head_kind(session) is not None:
        return Yolo(session, input_size)
    raise ModelError(
        f"{path}: cannot tell which detector family this ONNX file is (outputs "
        f"{[(o.name, o.shape) for o in outputs]}); see README, 'Your own detector'"
    )
