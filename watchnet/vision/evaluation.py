"""Scoring against ground truth: detection precision/recall and tracking MOTA/IDF1/HOTA.

Tracking metrics come from the Roboflow ``trackers`` evaluator (the TrackEval definitions of CLEAR,
Identity and HOTA) on MOTChallenge files; detection matching is one-to-one per frame at IoU >= 0.5
(Hungarian assignment), the usual definition.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import supervision as sv
from scipy.optimize import linear_sum_assignment
from trackers.eval import evaluate_mot_sequence

TRACK_METRICS = ("HOTA", "MOTA", "IDF1", "DetA", "AssA", "CLR_Re", "CLR_Pr", "IDSW", "MT", "ML", "Frag")


def tracking_metrics(gt_file: Path, tracker_file: Path) -> dict[str, float]:
    """CLEAR, Identity and HOTA metrics of one sequence (MOT files, 1-based frames)."""
    result = evaluate_mot_sequence(str(gt_file), str(tracker_file), metrics=["CLEAR", "HOTA", "Identity"])
    flat: dict[str, float] = {}
    for group in ("CLEAR", "HOTA", "Identity"):
        flat.update(result.to_dict()[group])
    return {k: round(float(flat[k]), 4) for k in TRACK_METRICS}


def match_counts(gt_xyxy: np.ndarray, pred_xyxy: np.ndarray, iou: float = 0.5) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) of one frame at the IoU threshold."""
    if len(gt_xyxy) == 0 or len(pred_xyxy) == 0:
        return 0, len(pred_xyxy), len(gt_xyxy)
    overlap = sv.box_iou_batch(gt_xyxy, pred_xyxy)
    rows, cols = linear_sum_assignment(-overlap)
    tp = int(np.count_nonzero(overlap[rows, cols] >= iou))
    return tp, len(pred_xyxy) - tp, len(gt_xyxy) - tp


def gt_boxes_by_frame(gt: np.ndarray) -> dict[int, np.ndarray]:
    """MOT rows -> {1-based frame: xyxy array}."""
    out: dict[int, np.ndarray] = {}
    for frame in np.unique(gt[:, 0]).astype(int):
        rows = gt[gt[:, 0] == frame]
        out[int(frame)] = np.column_stack([rows[:, 2], rows[:, 3], rows[:, 2] + rows[:, 4], rows[:, 3] + rows[:, 5]])
    return out
