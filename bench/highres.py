"""High-resolution section of the pipeline bench: people in 1920x1080 MOT17 frames, by search mode.

Data: ``../shared/data/tracking/mot17_mini`` MOT17-02 (4 frames) and MOT17-04 (8 frames), 1920x1080, with
MOTChallenge ground truth. Counted people: class 1 (pedestrian), ``consider=1``, visibility >= 0.25.
A detection matching (IoU >= 0.5) an ignored box (consider=0, other person-like classes, or a pedestrian
below the visibility bar) is neither a hit nor a false detection, as the MOT evaluation does. Matching is
greedy by score (COCO style), so one pass gives every score threshold.

Rows: the product's search modes per detector (whole frame, tiles, tiles + whole pass, small tiles,
motion regions, focus), then nanodet-only experiments (issue 13's levers): the input re-shaped to the
frame (letterboxed or squashed), fixed two-scale layouts (a zoomed band), NMS IoU across tiles, and
"cycling" tiles (a finer tile set visited 2 per frame, the other tiles' boxes held from their last visit).
Each at two operating points: the product's "confident" per-class threshold (what starts a track) and
every box passed on (>= ``detector.low_threshold``, what ByteTrack's second stage sees; the issue's
baseline figures count these); plus the best recall over thresholds 0.25-0.70 whose false detections per
frame stay at or below the whole-frame row's at the confident threshold (a per-mode threshold).
Late columns: frames 4 on only (after a 6-tile cycle has visited every tile once): the detections at
the confident threshold and the output of the product's tracker (``CameraTracker``, ByteTrack) fed the
detections of every frame; 1 frame of MOT17-02 and 5 of MOT17-04, so thin evidence.

Cost: detector calls per frame and input pixels per frame in units of one 416x416 input (exact), ms per
frame (median, one frame at a time, models warm; noisy on the shared 2-core machine).

Limits: 12 frames in all of 54 people (identities), so a difference of a few points of recall is noise (a
bootstrap over identities gave a 95% interval of about +-0.05-0.08 for the difference of two modes);
motion needs a previous frame: each sequence's first frame has no background yet and falls back to
tiles, so the motion rows rest on 3 + 7 frames of a static camera.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import supervision as sv

from watchnet.core.config import Settings
from watchnet.core.records import CLASS_ID, Frame, subset
from watchnet.vision.analysis.detect import Detector
from watchnet.vision.analysis.regions import RegionSearch, SearchSettings, merge_crops
from watchnet.vision.analysis.track import CameraTracker
from watchnet.vision.models.nanodet import NanoDet, fit_shape

SEQUENCES = ("MOT17-02-FRCNN", "MOT17-04-FRCNN")
UNIT = 416 * 416  # input pixels of one call of today's nanodet
LATE = 4  # first frame of the late columns
FPS = 30.0  # both sequences

#: (row name, detector-section overrides, search overrides). "tiles" is the shipped default above 720p.
MODES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("whole frame", {"mode": "whole"}, {}),
    ("tiles (default)", {"mode": "tiles"}, {}),
    ("tiles + whole pass", {"mode": "tiles", "tiles_whole_pass": True}, {}),
    ("tiles 720 + whole", {"mode": "tiles", "tile_side": 720}, {}),
    ("motion regions", {"mode": "motion"}, {}),
    ("focus (whole + window, inputs fit)", {}, {"mode": "focus"}),
]

#: nanodet-only search rows: NMS IoU across tiles, and the whole frame at an input shaped like it.
NANODET_MODES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("tiles, merge IoU 0.4", {"mode": "tiles", "merge_iou": 0.4}, {}),
    ("tiles, merge IoU 0.6", {"mode": "tiles", "merge_iou": 0.6}, {}),
    ("whole frame, input fit (288x512)", {"mode": "whole"}, {"fit": True}),
]

#: nanodet-only fixed layouts: (row name, [(crop as frame fractions x0, y0, x1, y1), input (h, w)], squash).
PLANS: list[tuple[str, list[tuple[tuple[float, float, float, float], tuple[int, int]]], bool]] = [
    ("whole at 416x736", [((0, 0, 1, 1), (416, 736))], False),
    ("whole at 448x800", [((0, 0, 1, 1), (448, 800))], False),
    ("whole squashed to 448x768", [((0, 0, 1, 1), (448, 768))], True),
    ("whole 288x512 + top 40% at 224x992", [((0, 0, 1, 1), (288, 512)), ((0, 0, 1, 0.4), (224, 992))], False),
    ("whole 288x512 + middle 20-60% at 224x992", [((0, 0, 1, 1), (288, 512)), ((0, 0.2, 1, 0.6), (224, 992))],
     False),
]

#: nanodet-only cycling tile sets: (row name, tiles across, down, tile w, h in frame px, input (h, w), per frame).
CYCLES: list[tuple[str, int, int, int, int, tuple[int, int], int]] = [
    ("cycle 6 tiles of 720 (416x416), 2 per frame", 3, 2, 720, 720, (416, 416), 2),
    ("cycle 4 tiles 1056x594 (320x544), 2 per frame", 2, 2, 1056, 594, (320, 544), 2),
]

FrameFn = Callable[[np.ndarray], sv.Detections]


@dataclasses.dataclass(slots=True)
class Meter:
    """Detector calls and input pixels spent."""

    calls: int = 0
    pixels: int = 0

    def wrap(self, detect: Callable[[list[np.ndarray]], list[sv.Detections]],
             shape: Callable[[np.ndarray], tuple[int, int]]) -> Callable[[list[np.ndarray]], list[sv.Detections]]:
        def counted(images: list[np.ndarray]) -> list[sv.Detections]:
            for image in images:
                h, w = shape(image)
                self.calls += 1
                self.pixels += h * w
            return detect(images)
        return counted


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


def bench_rows(detector: Detector, name: str, settings: Settings,
               modes: list[tuple[str, dict[str, Any], dict[str, Any]]],
               sequences: list[tuple[str, np.ndarray, list[np.ndarray]]], say: Any) -> list[dict[str, Any]]:
    """One row per search mode: RegionSearch exactly as the product runs it."""
    rows = []
    fixed = detector.family.input_hw
    pixels = fixed[0] * fixed[1]
    fits = isinstance(detector.family, NanoDet)

    def fit_of(image: np.ndarray) -> tuple[int, int]:
        return fit_shape(image.shape[1], image.shape[0], pixels) if fits else fixed

    for mode, overrides, search in modes:
        say(f"high-res {name} {mode} ...")
        config = settings.detector.model_copy(update=overrides)
        wanted = {k: v for k, v in search.items() if k != "fit"}

        def factory(meter: Meter, config: Any = config, wanted: dict[str, Any] = wanted,
                    fit: bool = bool(search.get("fit"))) -> FrameFn:
            plain = meter.wrap(detector.detect, lambda image: fixed)
            fitted = meter.wrap(detector.detect_fit, fit_of)
            return RegionSearch(fitted if fit else plain, dataclasses.replace(SearchSettings.of(config), **wanted),
                                fitted)

        rows.append({"detector": name, "mode": mode, "overrides": {**overrides, **search},
                     **bench_mode(factory, sequences, settings)})
    return rows


def plan_factory(detector: Detector, plan: list[tuple[tuple[float, float, float, float], tuple[int, int]]],
                 squash: bool, settings: Settings) -> Callable[[Meter], FrameFn]:
    """A fixed layout: each crop (frame fractions) at its own nanodet input; boxes merged as the search does."""
    assert isinstance(detector.family, NanoDet)
    family = detector.family

    def factory(meter: Meter) -> FrameFn:
        def run(image: np.ndarray) -> sv.Detections:
            height, width = image.shape[:2]
            crops, found = [], []
            for (fx0, fy0, fx1, fy1), (h, w) in plan:
                box = (round(fx0 * width), round(fy0 * height), round(fx1 * width), round(fy1 * height))
                crop = image[box[1]:box[3], box[0]:box[2]]
                shaped = Detector(family.at(h, w), detector.config)
                meter.calls += 1
                meter.pixels += h * w
                if squash:
                    small = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA)
                    dets = shaped.detect([small])[0]
                    if len(dets):
                        ch, cw = crop.shape[:2]
                        dets.xyxy = (dets.xyxy * np.array([cw / w, ch / h, cw / w, ch / h], np.float32))
                else:
                    dets = shaped.detect([crop])[0]
                crops.append(box)
                found.append(dets)
            return merge_crops(crops, found, width, height, settings.detector.merge_iou)
        return run
    return factory


def cycle_factory(detector: Detector, across: int, down: int, tile_w: int, tile_h: int, input_hw: tuple[int, int],
                  per_frame: int, settings: Settings) -> Callable[[Meter], FrameFn]:
    """A finer tile set visited ``per_frame`` tiles per frame in turn; the other tiles' boxes are those of
    their last visit (what a tracker would carry), all merged as the search merges tiles."""
    assert isinstance(detector.family, NanoDet)
    shaped = Detector(detector.family.at(*input_hw), detector.config)

    def factory(meter: Meter) -> FrameFn:
        state: dict[str, Any] = {"next": 0, "held": None}

        def run(image: np.ndarray) -> sv.Detections:
            height, width = image.shape[:2]
            xs = np.linspace(0, width - tile_w, across).round().astype(int)
            ys = np.linspace(0, height - tile_h, down).round().astype(int)
            tiles = [(int(x), int(y), int(x) + tile_w, int(y) + tile_h) for y in ys for x in xs]
            if state["held"] is None:
                state["held"] = [sv.Detections.empty() for _ in tiles]
            for k in range(per_frame):
                t = (state["next"] + k) % len(tiles)
                x0, y0, x1, y1 = tiles[t]
                state["held"][t] = shaped.detect([image[y0:y1, x0:x1]])[0]
                meter.calls += 1
                meter.pixels += input_hw[0] * input_hw[1]
            state["next"] = (state["next"] + per_frame) % len(tiles)
            return merge_crops(tiles, state["held"], width, height, settings.detector.merge_iou)
        return run
    return factory


def bench_mode(factory: Callable[[Meter], FrameFn], sequences: list[tuple[str, np.ndarray, list[np.ndarray]]],
               settings: Settings) -> dict[str, Any]:
    """Run one mode over every sequence (a fresh search and tracker per sequence) and score it."""
    confident = settings.detector.thresholds["person"]
    low = settings.detector.low_threshold
    matches: list[tuple[float, int]] = []
    late: list[tuple[float, int]] = []
    tracked: list[tuple[float, int]] = []
    counted = late_counted = 0
    ms: list[float] = []
    meter = Meter()
    per_sequence = {}
    for name, gt, frames in sequences:
        run = factory(meter)
        tracker = CameraTracker("bench", settings.tracker, FPS)
        seq_matches: list[tuple[float, int]] = []
        seq_counted = 0
        for index, image in enumerate(frames, 1):
            started = time.perf_counter()
            found = run(image)
            ms.append((time.perf_counter() - started) * 1000)
            xyxy, score = _people(found)
            got, n = greedy_match(gt, index, xyxy, score)
            seq_matches += got
            seq_counted += n
            people = subset(found, np.asarray(found.class_id) == CLASS_ID["person"]) if len(found) else found
            if "confident" not in people.data:
                people.data["confident"] = np.zeros(len(people), bool)
            output = tracker.update(Frame("bench", index - 1, (index - 1) / FPS, (index - 1) / FPS, image), people)
            if index >= LATE:
                late += got
                late_counted += n
                tracked += greedy_match(gt, index, *_people(output.detections))[0]
        per_sequence[name] = _points(seq_matches, seq_counted, len(frames), confident, low)
        matches += seq_matches
        counted += seq_counted
    frames_total = sum(len(f) for _, _, f in sequences)
    late_frames = sum(max(0, len(f) - LATE + 1) for _, _, f in sequences)
    return {
        "calls_per_frame": round(meter.calls / frames_total, 2),
        "pixels_per_frame": round(meter.pixels / frames_total / UNIT, 2),
        "ms_per_frame_median": round(statistics.median(ms), 1),
        **_points(matches, counted, frames_total, confident, low),
        "sweep": _sweep(matches, counted, frames_total),
        "late": {"frames": late_frames,
                 "detections": _points(late, late_counted, late_frames, confident, low)["confident"],
                 "tracker": _points(tracked, late_counted, late_frames, 0.0, 0.0)["all"]},
        "per_sequence": per_sequence,
    }


def _people(found: sv.Detections) -> tuple[np.ndarray, np.ndarray]:
    if not len(found):
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    keep = np.asarray(found.class_id) == CLASS_ID["person"]
    return found.xyxy[keep], np.asarray(found.confidence)[keep]


def _sweep(matches: list[tuple[float, int]], counted: int, frames: int) -> list[list[float]]:
    """[threshold, recall, precision, false per frame] for thresholds 0.25-0.70."""
    table = np.array(matches, np.float64).reshape(-1, 2)
    out = []
    for threshold in np.round(np.arange(0.25, 0.705, 0.01), 2):
        chosen = table[table[:, 0] >= threshold - 1e-9]
        hits, false = int((chosen[:, 1] == 1).sum()), int((chosen[:, 1] == 0).sum())
        out.append([float(threshold), round(hits / max(counted, 1), 3), round(hits / max(hits + false, 1), 3),
                    round(false / max(frames, 1), 2)])
    return out


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
    """The high-resolution section: one row per detector x mode, then the nanodet experiments."""
    root = data / "tracking" / "mot17_mini"
    sequences = [(name, *load_sequence(root, name)) for name in SEQUENCES]
    rows: list[dict[str, Any]] = []
    for name in detectors:
        section = settings.detector.model_copy(update={"model": name, "input_size": 512 if name == "centernet"
                                                       else settings.detector.input_size})
        local = settings.model_copy(update={"detector": section})
        detector = Detector.from_settings(local)
        detector.detect([sequences[0][2][0]])  # warm-up
        rows += bench_rows(detector, name, local, MODES + (NANODET_MODES if name == "nanodet" else []),
                           sequences, say)
        if name != "nanodet":
            continue
        for mode, plan, squash in PLANS:
            say(f"high-res {name} {mode} ...")
            rows.append({"detector": name, "mode": mode, "overrides": {"plan": plan, "squash": squash},
                         **bench_mode(plan_factory(detector, plan, squash, local), sequences, local)})
        for mode, across, down, tile_w, tile_h, input_hw, per_frame in CYCLES:
            say(f"high-res {name} {mode} ...")
            rows.append({"detector": name, "mode": mode,
                         "overrides": {"tiles": [across, down, tile_w, tile_h], "input": input_hw,
                                       "per_frame": per_frame},
                         **bench_mode(cycle_factory(detector, across, down, tile_w, tile_h, input_hw, per_frame,
                                                    local), sequences, local)})
    baseline = next((r["confident"]["false_per_frame"] for r in rows if r["mode"] == "whole frame"), None)
    for r in rows:
        fits = [p for p in r.pop("sweep") if baseline is None or p[3] <= baseline]
        best = max(fits, key=lambda p: p[1]) if fits else None
        r["best_within_baseline_false"] = (
            None if best is None else dict(zip(("threshold", "recall", "precision", "false_per_frame"), best,
                                               strict=True)))
    return {"data": [f"mot17_mini/{s}" for s in SEQUENCES], "frames": sum(len(s[2]) for s in sequences),
            "baseline_false_per_frame": baseline, "rows": rows}


def print_table(section: dict[str, Any]) -> None:
    print("\n| detector | mode | calls/frame | pixels/frame (x416²) | ms/frame | recall | precision | false/frame "
          "| recall (all) | precision (all) | false/frame (all) | best recall at false <= whole frame's (threshold) "
          "| frames 4+: recall / false | frames 4+: tracker recall / precision / false |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in section["rows"]:
        c, a, b, late = r["confident"], r["all"], r["best_within_baseline_false"], r["late"]
        best = f"{b['recall']} ({b['threshold']}, {b['false_per_frame']} false)" if b else "-"
        t = late["tracker"]
        print(f"| {r['detector']} | {r['mode']} | {r['calls_per_frame']} | {r['pixels_per_frame']} | "
              f"{r['ms_per_frame_median']} | {c['recall']} | {c['precision']} | {c['false_per_frame']} | "
              f"{a['recall']} | {a['precision']} | {a['false_per_frame']} | {best} | "
              f"{late['detections']['recall']} / {late['detections']['false_per_frame']} | "
              f"{t['recall']} / {t['precision']} / {t['false_per_frame']} |")
