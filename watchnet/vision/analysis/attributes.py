"""Clothing colours of people and body colours of vehicles, per detection and voted over a track.

Why box geometry first: it is free and right for upright people (torso ~20-50 % of the box height,
legs ~55-90 %); pose keypoints, when a pose model already ran, only move those bands onto the real
shoulders, hips and knees. Why masks: a person's box is half background (between the legs, beside the
torso) and bare arms and legs are skin, which is never a clothing colour. Each mask is skipped when it
would leave too little to vote. Vehicles need no mask but a rule: glass, tyres, trim and road are grey
or black on every car, so paint is the chromatic colour that covers a fair share of the body.
Why vote over the track: one frame is often blurred, cut by the frame edge or badly lit; a weighted
majority over many frames (bigger and sharper boxes weigh more) is what gets stored and searched.

Keypoints are a (17, 3) array in COCO order (nose, eyes, ears, shoulders 5/6, elbows, wrists, hips
11/12, knees 13/14, ankles 15/16), each row **x, y, score** in frame pixels (the order of ``xyxy``).
MoveNet emits y, x, score normalised to 0..1: convert with ``keypoints_from_movenet``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from watchnet.core.config import AttributesConfig
from watchnet.core.records import VEHICLE_CLASSES
from watchnet.vision.analysis.colours import (
    ACHROMATIC,
    RegionColour,
    frame_levels,
    quantise,
    shrink,
    skin_table,
    vote,
)

Box = Sequence[float]
_SHOULDERS, _HIPS, _KNEES, _ANKLES = (5, 6), (11, 12), (13, 14), (15, 16)
#: The keys ``AttributeVoter`` votes on, each with the key of its confidence (input and result).
VOTED_KEYS: dict[str, str] = {
    "upper_colour": "upper_confidence",
    "lower_colour": "lower_confidence",
    "colour": "colour_confidence",
    "vehicle_type": "vehicle_type_confidence",
}


@dataclass(frozen=True, slots=True)
class PersonAttributes:
    """What one detection of a person looks like. Colours are None when the region could not be read."""

    upper_colour: str | None
    upper_confidence: float
    lower_colour: str | None
    lower_confidence: float
    upper_colours: list[str] = field(default_factory=list)  # top-2, for "red or blue" searches
    lower_colours: list[str] = field(default_factory=list)
    sharpness: float = 0.0
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class VehicleAttributes:
    """What one detection of a vehicle looks like. ``vehicle_type`` is the detector's class."""

    vehicle_type: str
    colour: str | None
    colour_confidence: float
    colours: list[str] = field(default_factory=list)
    sharpness: float = 0.0
    truncated: bool = False


def keypoints_from_movenet(yx_score: np.ndarray, frame_shape: tuple[int, int]) -> np.ndarray:
    """MoveNet's (17, 3) normalised y, x, score -> watchnet's (17, 3) pixel x, y, score."""
    h, w = frame_shape
    kp = np.asarray(yx_score, dtype=np.float32).reshape(17, 3)
    return np.stack([kp[:, 1] * w, kp[:, 0] * h, kp[:, 2]], axis=1)


def describe_person(
    frame_bgr: np.ndarray,
    xyxy: Box,
    keypoints: np.ndarray | None = None,
    *,
    levels: np.ndarray | None = None,
    config: AttributesConfig | None = None,
) -> dict[str, object]:
    """Upper- and lower-body colour of one person box (see ``PersonAttributes`` for the keys).

    ``levels`` is the frame's tone curve from ``colours.frame_levels``; pass it when describing
    several boxes of one frame so it is measured once (None: measured here if enabled).
    """
    cfg = config or AttributesConfig()
    levels = _levels(frame_bgr, levels, cfg)
    box = _clip(xyxy, frame_bgr.shape)
    truncated = _truncated(xyxy, frame_bgr.shape, cfg.edge_margin_px)
    if box is None:
        return asdict(PersonAttributes(None, 0.0, None, 0.0, truncated=True))
    upper, lower = _person_bands(box, keypoints, cfg)
    ref = _References(_side_strips(box, frame_bgr), _centre(box, frame_bgr, (0.35, 0.15, 0.65, 0.75)))
    up = _read(frame_bgr, upper, ref, levels, cfg, skin=cfg.skin_mask)
    lo = _read(frame_bgr, lower, ref, levels, cfg, skin=cfg.skin_mask)
    return asdict(PersonAttributes(
        up.name, round(up.confidence, 3), lo.name, round(lo.confidence, 3), up.top(), lo.top(),
        _sharpness(frame_bgr, box), truncated,
    ))


def describe_vehicle(
    frame_bgr: np.ndarray,
    xyxy: Box,
    label: str,
    *,
    levels: np.ndarray | None = None,
    config: AttributesConfig | None = None,
) -> dict[str, object]:
    """Type (the detector class) and body colour of one vehicle box.

    Windows, tyres, trim, chrome and road are black, grey or white on every car, so a chromatic colour
    covering ``vehicle_paint_share`` of the body wins over them (see ``_paint_first``); the body is
    read with the glossy colour table, where silver and white paint mirroring the sky stay grey.
    """
    if label not in VEHICLE_CLASSES:
        raise ValueError(f"not a vehicle class: {label!r}; expected one of {sorted(VEHICLE_CLASSES)}")
    cfg = config or AttributesConfig()
    levels = _levels(frame_bgr, levels, cfg)
    box = _clip(xyxy, frame_bgr.shape)
    truncated = _truncated(xyxy, frame_bgr.shape, cfg.edge_margin_px)
    if box is None:
        return asdict(VehicleAttributes(label, None, 0.0, truncated=True))
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    inset = round(w * cfg.vehicle_inset)
    rows = cfg.vehicle_rows
    body = (x1 + inset, y1 + round(h * rows[0]), x2 - inset, y1 + round(h * rows[1]))
    ref = _References(_corners(box, frame_bgr), _centre(box, frame_bgr, (0.3, 0.3, 0.7, 0.8)))
    res = _read(frame_bgr, body, ref, levels, cfg, skin=False, vehicle=True)
    return asdict(VehicleAttributes(
        label, res.name, round(res.confidence, 3), res.top(), _sharpness(frame_bgr, box), truncated,
    ))


class AttributeVoter:
    """Weighted vote of one track's per-detection attributes.

    Each observation weighs sqrt(box area) x sharpness (capped at 1) x the colour's own confidence,
    so a few small, blurred or uncertain frames cannot outvote many good ones. Truncated boxes (cut
    by the frame edge) are kept apart and used only if the track never had a whole box.
    """

    def __init__(self, config: AttributesConfig | None = None) -> None:
        self._cfg = config or AttributesConfig()
        self._votes: dict[bool, dict[str, defaultdict[str, float]]] = {
            False: defaultdict(lambda: defaultdict(float)), True: defaultdict(lambda: defaultdict(float)),
        }
        self._count = {False: 0, True: 0}

    @property
    def observations(self) -> int:
        """Observations that count (whole boxes, or truncated ones when there is nothing else)."""
        return self._count[False] or self._count[True]

    def add(self, observation: Mapping[str, object], xyxy: Box, frame_shape: tuple[int, ...]) -> float:
        """Add one detection's ``describe_*`` result; returns the weight it got."""
        x1, y1, x2, y2 = (float(v) for v in xyxy)
        cfg = self._cfg
        truncated = bool(observation.get("truncated")) or _truncated(xyxy, frame_shape, cfg.edge_margin_px)
        sharp = observation.get("sharpness")
        sharp_factor = min(1.0, float(sharp) / cfg.sharpness_ref) if isinstance(sharp, int | float) else 1.0
        base = float(np.sqrt(max(x2 - x1, 0.0) * max(y2 - y1, 0.0))) * max(sharp_factor, 0.05)
        votes = self._votes[truncated]
        for key, conf_key in VOTED_KEYS.items():
            value = observation.get(key)
            if not isinstance(value, str):
                continue
            conf = observation.get(conf_key, 1.0)
            votes[key][value] += base * (float(conf) if isinstance(conf, int | float) else 1.0)
        self._count[truncated] += 1
        return base

    def result(self) -> dict[str, object]:
        """The voted attributes: for each key, the winner and its share of the total weight."""
        votes = self._votes[False] if self._count[False] else self._votes[True]
        out: dict[str, object] = {}
        for key, tally in votes.items():
            total = sum(tally.values())
            if total <= 0:
                continue
            winner = max(tally, key=lambda k: tally[k])
            out[key] = winner
            out[VOTED_KEYS[key]] = round(tally[winner] / total, 3)
        out["observations"] = self.observations
        return out


# --- regions ------------------------------------------------------------------------------------

IntBox = tuple[int, int, int, int]


def _clip(xyxy: Box, shape: tuple[int, ...]) -> IntBox | None:
    h, w = shape[:2]
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    box = (max(0, round(x1)), max(0, round(y1)), min(w, round(x2)), min(h, round(y2)))
    return box if box[2] - box[0] >= 4 and box[3] - box[1] >= 4 else None


def _truncated(xyxy: Box, shape: tuple[int, ...], margin: int) -> bool:
    h, w = shape[:2]
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    return x1 < margin or y1 < margin or x2 > w - margin or y2 > h - margin


def _person_bands(box: IntBox, keypoints: np.ndarray | None, cfg: AttributesConfig) -> tuple[IntBox, IntBox]:
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    inset = round(w * cfg.person_inset)
    upper = (x1 + inset, y1 + round(h * cfg.upper_rows[0]), x2 - inset, y1 + round(h * cfg.upper_rows[1]))
    lower = (x1 + inset, y1 + round(h * cfg.lower_rows[0]), x2 - inset, y1 + round(h * cfg.lower_rows[1]))
    if keypoints is None:
        return upper, lower
    kp = np.asarray(keypoints, dtype=np.float32).reshape(17, 3)
    ok = kp[:, 2] >= cfg.keypoint_min_score

    def pts(ids: tuple[int, ...]) -> np.ndarray:
        return kp[[i for i in ids if ok[i]], :2]

    sh, hp, kn, an = pts(_SHOULDERS), pts(_HIPS), pts(_KNEES), pts(_ANKLES)
    min_w = max(2, round(0.3 * w))
    if len(sh) and len(hp):
        top, bot = float(sh[:, 1].mean()), float(hp[:, 1].mean())
        if bot - top > 0.1 * h:
            cols = np.concatenate([sh[:, 0], hp[:, 0]])
            upper = _band(cols, top + 0.1 * (bot - top), bot - 0.05 * (bot - top), min_w, box)
    if len(hp) and len(kn):
        top = float(hp[:, 1].mean())
        bot = float(kn[:, 1].mean())
        if len(an):
            bot += 0.5 * (float(an[:, 1].mean()) - bot)
        if bot - top > 0.1 * h:
            cols = np.concatenate([hp[:, 0], kn[:, 0]])
            lower = _band(cols, top + 0.1 * (bot - top), bot, min_w, box)
    return upper, lower


def _band(cols: np.ndarray, top: float, bot: float, min_w: int, box: IntBox) -> IntBox:
    left, right = float(cols.min()), float(cols.max())
    if right - left < min_w:
        mid = 0.5 * (left + right)
        left, right = mid - min_w / 2, mid + min_w / 2
    x1, y1, x2, y2 = box
    return max(x1, round(left)), max(y1, round(top)), min(x2, round(right)), min(y2, round(bot))


def _side_strips(box: IntBox, frame: np.ndarray) -> np.ndarray:
    """Pixels of the box's left and right edges (mostly background beside a person)."""
    x1, y1, x2, y2 = box
    sw = max(1, round(0.12 * (x2 - x1)))
    r1, r2 = y1 + round(0.2 * (y2 - y1)), y1 + round(0.9 * (y2 - y1))
    return np.concatenate([_small(frame[r1:r2, x1:x1 + sw]), _small(frame[r1:r2, x2 - sw:x2])])


def _corners(box: IntBox, frame: np.ndarray) -> np.ndarray:
    """Pixels of the box's four corners (road and background around a vehicle)."""
    x1, y1, x2, y2 = box
    cw, ch = max(1, round(0.15 * (x2 - x1))), max(1, round(0.15 * (y2 - y1)))
    parts = [frame[y1:y1 + ch, x1:x1 + cw], frame[y1:y1 + ch, x2 - cw:x2],
             frame[y2 - ch:y2, x1:x1 + cw], frame[y2 - ch:y2, x2 - cw:x2]]
    return np.concatenate([_small(p) for p in parts])


def _centre(box: IntBox, frame: np.ndarray, frac: tuple[float, float, float, float]) -> np.ndarray:
    """Pixels of the middle of the box, the part most surely on the object."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    rows = slice(y1 + round(frac[1] * h), y1 + round(frac[3] * h))
    return _small(frame[rows, x1 + round(frac[0] * w):x1 + round(frac[2] * w)])


@dataclass(frozen=True, slots=True)
class _References:
    """Pixel samples that tell background from object: the box's edges and its middle."""

    border: np.ndarray
    centre: np.ndarray


def _small(img: np.ndarray, side: int = 16) -> np.ndarray:
    """(N, 3) pixels of an image shrunk to ``side``: reference samples need few pixels."""
    if img.shape[0] == 0 or img.shape[1] == 0:
        return np.empty((0, 3), np.uint8)
    return shrink(img, side).reshape(-1, 3)


# --- reading a region ---------------------------------------------------------------------------

def _levels(frame: np.ndarray, levels: np.ndarray | None, cfg: AttributesConfig) -> np.ndarray | None:
    if levels is not None or not cfg.frame_levels:
        return levels
    return frame_levels(frame)


def _read(
    frame: np.ndarray,
    region: IntBox,
    ref: _References,
    levels: np.ndarray | None,
    cfg: AttributesConfig,
    *,
    skin: bool,
    vehicle: bool = False,
) -> RegionColour:
    """Vote a region's colours after leaving out skin and border-like (background) pixels."""
    x1, y1, x2, y2 = region
    palette = tuple(cfg.palette)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return RegionColour((), 0)
    crop = frame[y1:y2, x1:x2]
    idx = quantise(_small(crop, cfg.region_side), levels)
    n = idx.size
    keep = np.ones(n, dtype=bool)
    if skin:
        is_skin = skin_table().reshape(-1)[idx]
        if is_skin.mean() > cfg.skin_max_share:
            return RegionColour((), n)  # mostly bare skin (or skin-toned): say nothing
        keep &= ~is_skin
    masking = cfg.vehicle_background_mask if vehicle else cfg.background_mask
    if masking and ref.border.size and ref.centre.size:
        border, centre = quantise(ref.border, levels), quantise(ref.centre, levels)
        bg = _background_like(idx, border, centre, cfg.background_ratio)
        if (keep & ~bg).sum() >= cfg.min_valid_share * n:
            keep &= ~bg
    if vehicle:
        return _paint_first(vote(idx[keep], palette=palette, glossy=True), cfg.vehicle_paint_share)
    return vote(idx[keep], palette=palette)


def _paint_first(res: RegionColour, min_share: float) -> RegionColour:
    """On a car only paint is chromatic (glass, tyres, trim, chrome and road are not): the commonest
    chromatic colour wins once it covers ``min_share`` of the body, even if glass and trim outvote it."""
    for i, (name, share) in enumerate(res.colours):
        if name not in ACHROMATIC and share >= min_share:
            return RegionColour((res.colours[i], *res.colours[:i], *res.colours[i + 1:]), res.pixels)
    return res


def _background_like(idx: np.ndarray, border_idx: np.ndarray, centre_idx: np.ndarray, ratio: float
                     ) -> np.ndarray:
    """Pixels whose coarse colour (8 levels a channel) is ``ratio`` times commoner at the box's edges
    than in its middle: the road between the legs, not the jacket that also shows on the arms."""
    coarse = _coarse(idx)
    border_share = np.bincount(_coarse(border_idx), minlength=512) / max(border_idx.size, 1)
    centre_share = np.bincount(_coarse(centre_idx), minlength=512) / max(centre_idx.size, 1)
    found: np.ndarray = (border_share > ratio * centre_share)[coarse]
    return found


def _coarse(idx: np.ndarray) -> np.ndarray:
    b, g, r = idx // 1024, (idx // 32) % 32, idx % 32
    bins: np.ndarray = (b >> 2) * 64 + (g >> 2) * 8 + (r >> 2)
    return bins


def _sharpness(frame: np.ndarray, box: IntBox) -> float:
    """Variance of the Laplacian of the box (shrunk to 64 px): low means blurred."""
    x1, y1, x2, y2 = box
    grey = cv2.cvtColor(shrink(frame[y1:y2, x1:x2], 64), cv2.COLOR_BGR2GRAY)
    return round(float(cv2.Laplacian(grey, cv2.CV_32F).var()), 1)
