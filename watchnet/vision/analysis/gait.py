"""Gait: a small walking-style descriptor from pose keypoints over a track, and its own similarity.

From MoveNet MultiPose keypoints (``movenet-multipose`` in the model store) on consecutive crops of one
walking track: cadence (dominant frequency of the ankles' horizontal separation), stride (its spread,
relative to body height), arm swing (spread of the wrists around the hips), and body proportions
(torso and leg length, shoulder width, relative to height). Keypoints below ``min_score`` are ignored;
a track needs ``min_frames`` usable frames, else it has no descriptor.

Whether it earns a place in linking is measured, not assumed: on PETS09-S2L1 ground-truth tracks (each
track's first half against every track's second half; bench/gait.py, ``GAIT_FINDINGS``) it did not
separate people at all (AUC 0.47, rank-1 0 of 8; re-id: AUC 0.95, rank-1 0.75), and adding it to re-id
lowered the AUC (0.95 -> 0.91 at weight 0.05), so no analyzer computes it by
default and the linker's ``gait_scale`` stays 0. It stays here, tested, for sites with larger people
in view (the keypoints of 50-100 px people are the limiting factor).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

GAIT_DIM = 7
# Rough population spreads of each component, so that one unit of difference means as much in each.
_SCALE = np.asarray([0.35, 0.08, 0.06, 0.04, 0.05, 0.04, 0.06], np.float32)
GAIT_FINDINGS = "bench/results/gait.json"
_NOSE, _LSH, _RSH, _LWR, _RWR, _LHIP, _RHIP, _LANK, _RANK = 0, 5, 6, 9, 10, 11, 12, 15, 16


def pose_crops(session: object, crops_bgr: Sequence[np.ndarray], height: int = 256) -> np.ndarray:
    """MoveNet MultiPose on person crops (each padded to 2:1, resized to height x height/2): the most
    confident pose per crop as (N, 17, 3) rows of y, x, score in units of the padded crop's height."""
    out = np.zeros((len(crops_bgr), 17, 3), np.float32)
    width = height // 2
    for i, crop in enumerate(crops_bgr):
        h, w = crop.shape[:2]
        side_h = max(h, 2 * w)
        pad_x, pad_y = (side_h // 2 - w) // 2, (side_h - h) // 2
        padded = cv2.copyMakeBorder(crop, pad_y, side_h - h - pad_y, pad_x, side_h // 2 - w - pad_x,
                                    cv2.BORDER_CONSTANT)
        image = cv2.cvtColor(cv2.resize(padded, (width, height)), cv2.COLOR_BGR2RGB)
        poses = session.run(None, {"input": image[None].astype(np.int32)})[0][0]  # type: ignore[attr-defined]
        best = poses[int(np.argmax(poses[:, 55]))]
        kp = best[:51].reshape(17, 3)
        out[i] = np.stack([kp[:, 0], kp[:, 1] * 0.5, kp[:, 2]], axis=1)
    return out


def gait_descriptor(keypoints: np.ndarray, fps: float, min_score: float = 0.25,
                    min_frames: int = 12) -> np.ndarray | None:
    """(T, 17, 3) y, x, score of consecutive frames of one track -> the GAIT_DIM descriptor, or None."""
    kp = np.asarray(keypoints, np.float32)
    need = [_NOSE, _LSH, _RSH, _LHIP, _RHIP, _LANK, _RANK]
    usable = (kp[:, need, 2] >= min_score).all(axis=1)
    if int(usable.sum()) < min_frames:
        return None
    y, x = kp[..., 0], kp[..., 1]
    height = ((y[:, _LANK] + y[:, _RANK]) / 2 - y[:, _NOSE])
    usable &= height > 0.2
    if int(usable.sum()) < min_frames:
        return None
    hgt = np.where(usable, height, np.nan)
    shoulder_y, hip_y = (y[:, _LSH] + y[:, _RSH]) / 2, (y[:, _LHIP] + y[:, _RHIP]) / 2
    ankle_y = (y[:, _LANK] + y[:, _RANK]) / 2
    separation = (x[:, _LANK] - x[:, _RANK]) / hgt
    arms = ((x[:, _LWR] - x[:, _LHIP]) - (x[:, _RWR] - x[:, _RHIP])) / hgt
    arms_ok = usable & (kp[:, [_LWR, _RWR], 2] >= min_score).all(axis=1)
    signal = np.nan_to_num(separation - np.nanmean(separation))
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    freqs = np.fft.rfftfreq(len(signal), d=1.0 / fps)
    band = (freqs >= 0.4) & (freqs <= min(3.0, fps / 2))
    cadence = float(freqs[band][np.argmax(spectrum[band])]) if band.any() else 0.0

    def spread(values: np.ndarray, mask: np.ndarray) -> float:
        v = values[mask]
        return float(np.percentile(v, 90) - np.percentile(v, 10)) if len(v) >= 4 else 0.0

    return np.asarray([
        cadence,
        spread(separation, usable),
        spread(arms, arms_ok),
        float(np.nanmedian((hip_y - shoulder_y) / hgt)),
        float(np.nanmedian((ankle_y - hip_y) / hgt)),
        float(np.nanmedian(np.abs(x[:, _LSH] - x[:, _RSH]) / hgt)),
        float(np.nanmedian((shoulder_y - y[:, _NOSE]) / hgt)),
    ], np.float32)


def gait_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """1 for identical walking styles, towards 0 as they differ (Gaussian of the scaled distance)."""
    d = (np.asarray(a, np.float32) - np.asarray(b, np.float32)) / _SCALE
    return float(np.exp(-0.5 * float(np.mean(d * d))))
