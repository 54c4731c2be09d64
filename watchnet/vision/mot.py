"""MOTChallenge text format: the lingua franca of tracking tools, for export and evaluation.

One line per box: ``frame,id,left,top,width,height,score,-1,-1,-1`` with 1-based frames. Ground truth
files use the same columns with ``consider, class, visibility`` in place of the last three.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TextIO

import numpy as np
import supervision as sv

from watchnet.core.records import CLASS_ID


class MotWriter:
    """Appends one camera's tracked boxes to a MOT file as frames are processed."""

    def __init__(self, path: Path, classes: tuple[str, ...] = ("person",)) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file: TextIO = path.open("w", encoding="ascii")
        self._class_ids = np.array([CLASS_ID[c] for c in classes], dtype=int)

    def write(self, frame_index: int, tracked: sv.Detections) -> None:
        """Write the tracked boxes of the frame with 0-based ``frame_index``."""
        if not len(tracked) or tracked.tracker_id is None or tracked.class_id is None:
            return
        keep = np.isin(tracked.class_id, self._class_ids)
        scores = tracked.confidence if tracked.confidence is not None else np.ones(len(tracked))
        for (x1, y1, x2, y2), tid, score in zip(
            tracked.xyxy[keep], tracked.tracker_id[keep], scores[keep], strict=True
        ):
            self._file.write(
                f"{frame_index + 1},{int(tid)},{x1:.1f},{y1:.1f},{x2 - x1:.1f},{y2 - y1:.1f},{score:.3f},-1,-1,-1\n"
            )

    def close(self) -> None:
        self._file.close()


def cvml_to_mot(xml_path: Path, out_path: Path, scale: float = 1.0) -> int:
    """Convert a CVML ground-truth XML (PETS 2009 style: 0-based frames, centre boxes) to a MOT gt file.

    Boxes are multiplied by ``scale`` (0.625 maps the 768x576 annotations onto the 480x360 video).
    Returns the number of boxes written.
    """
    root = ET.parse(xml_path).getroot()
    rows: list[str] = []
    for frame in root.iter("frame"):
        number = int(frame.get("number", "0"))
        for obj in frame.iter("object"):
            box = obj.find("box")
            if box is None:
                continue
            h, w, xc, yc = (float(box.get(k, "0")) * scale for k in ("h", "w", "xc", "yc"))
            rows.append(f"{number + 1},{obj.get('id')},{xc - w / 2:.2f},{yc - h / 2:.2f},{w:.2f},{h:.2f},1,1,1")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text("\n".join(rows) + "\n", encoding="ascii")
    return len(rows)


def read_mot(path: Path) -> np.ndarray:
    """Load a MOT file as an [N, >=7] float array (frame, id, left, top, width, height, score, ...)."""
    data = np.loadtxt(path, delimiter=",", ndmin=2)
    return data if data.size else np.zeros((0, 10))
