"""High-resolution section of the pipeline bench: people in 1920x1080 MOT17 frames, by search mode.

Data: ``../shared/data/tracking/mot17_mini`` MOT17-02 (4 frames) and MOT17-04 (8 frames), 1920x1080, with
MOTChallenge ground truth. Counted people: class 1 (pedestrian), ``consider=1``, visibility >= 0.25.
A detection matching (IoU >= 0.5) an ignored box (consider=0, other person-like classes, or a pedestrian
below the visibility bar) is neither a hit nor a false detection, as the MOT evaluation does. Matching is
greedy by score (COCO style), so one pass gives every score threshold.

Rows: each detector x search mode (whole frame, tiles, tiles + whole pass, small tiles, motion regions),
at two operating points: the product's "confident" per-class threshold (what starts a track) and every
box passed on (>= ``detector.low_threshold``, what ByteTrack's second stage sees; the issue's baseline
figures count these). Cost: detector calls per frame (exact) and ms per frame (median, one frame at a
time, models warm; noisy on the shared 2-core machine).

Limits: 12 frames in all, and motion needs a previous frame: each sequence's first frame has no
background yet and falls back to tiles, so the motion rows rest on 3 + 7 frames of a static camera.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import supervision as sv

from watchnet.core.config import Settings
from watchnet.core.records import CLASS_ID
from watchnet.vision.analysis.detect import Detector
from watchnet.vision.analysis.regions import RegionSearch, SearchSettings

SEQUENCES = ("MOT17-02-FRCNN", "MOT17-04-FRCNN")

#: (row name, detector-section overrides). "tiles" is the shipped default above 720p.
MODES: list[tuple[str, dict[str, Any]]] = [
    ("whole frame", {"mode": "whole"}),
    ("tiles (default)", {"mode": "tiles"}),
    ("tiles + whole pass", {"mode": "tiles", "tiles_whole_pass": True}),
    ("tiles 720 + whole", {"mode": "tiles", "tile_side": 720}),
    ("motion regions", {"mode": "motion"}),
]


def load_sequence(root: Path, name: str) -> tuple[np.ndarray, list[np.ndarray]]:
    gt = np.loadtxt(root / name / "gt" / "gt.txt", delimiter=",", ndmin=2)
    frames = []
    for file in sorted((root / name / "img1").glob("*.jpg")):
        image = cv2.imread(str(file))
        if image is None:
            raise SystemExit(f"cannot read {file}")
        frames.append(image)
    return gt, frames


def greedy_match(
    gt: np.ndarray, frame: int, xyxy: np.ndarray, score: np.ndarray
) -> tuple[list[tuple[float, int]], int]:
    """(score, kind) per detection, kind 1 hit, 0 false, -1 ignored; and the number of counted people."""
    rows = gt[gt[:, 0] == frame]
    boxes = np.column_stack([rows[:, 2], rows[:, 3], rows[:, 2] + rows[:, 4], rows[:, 3] + rows[:, 5]])
    counted = (rows[:, 6] == 1) & (rows[:, 7] == 1) & (rows[:, 8] >= 0.25)
    iou = sv.box_iou_batch(xyxy, boxes) if len(xyxy) and len(boxes) else np.zeros((len(xyxy), len(boxes)))
    used = np.zeros(len(boxes), bool)
    out = []
    for k in np.argsort(-score):
        if len(boxes):
            candidates = np.where(counted & ~used, iou[k], 0.0)
            j = int(np.argmax(candidates))
            if candidates[j] >= 0.5:
                used[j] = True
                out.append((float(score[k]), 1))
                continue
            if np.where(~counted, iou[k], 0.0).max() >= 0.5:
                out.append((float(score[k]), -1))
                continue
        out.append((float(score[k]), 0))
    return out, int(counted.sum())


def bench_mode(detector: Detector, settings: Settings, overrides: dict[str, Any],
               sequences: list[tuple[str, np.ndarray, list[np.ndarray]]]) -> dict[str, Any]:
    config = settings.detector.model_copy(update=overrides)
    confident = config.thresholds["person"]
    matches: list[tuple[float, int]] = []
    counted = calls = 0
    ms: list[float] = []
    per_sequence = {}
    for name, gt, frames in sequences:
        search = RegionSearch(detector.detect, SearchSettings.of(config))
        seq_matches: list[tuple[float, int]] = []
        seq_counted = 0
        for index, image in enumerate(frames, 1):
            started = time.perf_counter()
            found = search(image)
            ms.append((time.perf_counter() - started) * 1000)
            calls += len(search.searched)
            keep = np.asarray(found.class_id) == CLASS_ID["person"] if len(found) else np.zeros(0, bool)
            xyxy = found.xyxy[keep] if len(found) else np.zeros((0, 4), np.float32)
            score = np.asarray(found.confidence)[keep] if len(found) else np.zeros(0, np.float32)
            got, n = greedy_match(gt, index, xyxy, score)
            seq_matches += got
            seq_counted += n
        per_sequence[name] = _points(seq_matches, seq_counted, len(frames), confident, config.low_threshold)
        matches += seq_matches
        counted += seq_counted
    frames_total = sum(len(f) for _, _, f in sequences)
    return {
        "calls_per_frame": round(calls / frames_total, 2),
        "ms_per_frame_median": round(statistics.median(ms), 1),
        **_points(matches, counted, frames_total, confident, config.low_threshold),
        "per_sequence": per_sequence,
    }


def _points(matches: list[tuple[float, int]], counted: int, frames: int, confident: float,
            low: float) -> dict[str, Any]:
    table = np.array(matches, np.float64).reshape(-1, 2)
    out: dict[str, Any] = {}
    for label, threshold in (("confident", confident), ("all", low)):
        chosen = table[table[:, 0] >= threshold]
        hits, false = int((chosen[:, 1] == 1).sum()), int((chosen[:, 1] == 0).sum())
        out[label] = {
            "threshold": threshold,
            "recall": round(hits / max(counted, 1), 3),
            "precision": round(hits / max(hits + false, 1), 3),
            "false_per_frame": round(false / max(frames, 1), 2),
        }
    out["people"] = counted
    return out


def run(settings: Settings, data: Path, detectors: list[str], say: Any) -> dict[str, Any]:
    """The high-resolution section: one row per detector x mode."""
    root = data / "tracking" / "mot17_mini"
    sequences = [(name, *load_sequence(root, name)) for name in SEQUENCES]
    rows = []
    for name in detectors:
        section = settings.detector.model_copy(update={"model": name, "input_size": 512 if name == "centernet"
                                                       else settings.detector.input_size})
        detector = Detector.from_settings(settings.model_copy(update={"detector": section}))
        detector.detect([sequences[0][2][0]])  # warm-up
        for mode, overrides in MODES:
            say(f"high-res {name} {mode} ...")
            rows.append({"detector": name, "mode": mode, "overrides": overrides,
                         **bench_mode(detector, settings.model_copy(update={"detector": section}), overrides,
                                      sequences)})
    return {"data": [f"mot17_mini/{s}" for s in SEQUENCES], "frames": sum(len(s[2]) for s in sequences),
            "rows": rows}


def print_table(section: dict[str, Any]) -> None:
    print("\n| detector | mode | calls/frame | ms/frame | recall | precision | false/frame "
          "| recall (all) | precision (all) | false/frame (all) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in section["rows"]:
        c, a = r["confident"], r["all"]
        print(f"| {r['detector']} | {r['mode']} | {r['calls_per_frame']} | {r['ms_per_frame_median']} | "
              f"{c['recall']} | {c['precision']} | {c['false_per_frame']} | {a['recall']} | {a['precision']} | "
              f"{a['false_per_frame']} |")
