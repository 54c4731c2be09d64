"""The evidence for one link: every cue as a log-likelihood ratio, summed into a probability.

Why naive Bayes with clipped linear log-odds per cue: each cue is missing on many tracks (no face, no
plate, colours unsure), and summing log-likelihood ratios lets a missing cue add exactly nothing while a
decisive one (an equal plate, a face above its match threshold) outweighs the rest. The per-cue centre
and scale live in ``LinkingConfig``; the clip keeps one noisy soft cue from deciding alone.

Hard constraints come first and refuse a link outright: class mismatch, a trip faster than the class
can move, and a time overlap between cameras whose views do not overlap.

Appearance: the "reid" vector kind when both sightings have it (its dot product is the similarity)
and the colour-layout "appearance" vector, as two cues (on the PETS bench the colour layout separated
people better than the re-id vector of the day, so neither replaces the other). A gait vector, when a
future analyzer stores one as kind "gait", is a further cue (``gait_scale`` 0 keeps it unused until it
measurably helps). Entry/exit zones, where declared for a camera pair, add ``zone_match`` or
``zone_miss`` from where the earlier track ended and the later one began. Continuity: the earlier
track's exit (foot point and speed) carried on over the gap, compared with the later track's entry, in
one camera's picture or across cameras with ground mappings (``continuity_error``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from watchnet.core.config import LinkingConfig
from watchnet.core.plate_text import edit_distance
from watchnet.core.records import VEHICLE_CLASSES
from watchnet.services.linking.topology import Topology, inside
from watchnet.store.journeys import SightingInfo

REID = "reid"
APPEARANCE = "appearance"
FACE = "face"
GAIT = "gait"


@dataclass(slots=True)
class Evidence:
    """A scored pair: probability, whether it is possible at all, and each cue's contribution."""

    score: float
    feasible: bool
    cues: dict[str, float] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    refused: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"score": round(self.score, 4), "cues": {k: round(v, 3) for k, v in self.cues.items()},
                **self.facts, **({"refused": self.refused} if self.refused else {})}


def gap_seconds(a: SightingInfo, b: SightingInfo) -> float:
    """Seconds from ``a`` leaving to ``b`` appearing (negative when they overlap in time)."""
    return (b.first_seen - a.last_seen).total_seconds()


def compatible(a: str, b: str) -> bool:
    """Same class, or two vehicle classes (a van read as car, then truck, is one vehicle)."""
    return a == b or (a in VEHICLE_CLASSES and b in VEHICLE_CLASSES and "bicycle" not in (a, b))


def _soft(value: float, centre: float, scale: float, cap: float) -> float:
    return max(-cap, min(cap, (value - centre) * scale))


def _cosine(a: SightingInfo, b: SightingInfo, kind: str) -> float | None:
    va, vb = a.vectors.get(kind), b.vectors.get(kind)
    if va is None or vb is None or va.shape != vb.shape:
        return None
    return float(np.dot(va, vb))


def ceiling(a: SightingInfo, b: SightingInfo, cfg: LinkingConfig, face_threshold: float,
            topo: Topology | None = None) -> float:
    """The highest log-odds ``score_pair`` could give this pair: the appearance and face cues as they
    are, every other cue at its best. A cheap pre-filter (one dot product), so the full scoring only
    runs for the few candidates that could still reach ``candidate_at``."""
    pair = (a.camera, b.camera)
    zones = topo is None or pair in topo.zones
    learned = topo is None or bool(topo.learned.get(pair))
    transit = cfg.cue_cap if learned else max(cfg.transit_inside, 0.0)
    bound = (cfg.prior_log_odds + transit + 2 * cfg.colour_same + max(cfg.same_camera, 0.0)
             + (cfg.zone_match if zones else 0.0))
    cap = cfg.cue_cap
    face = _cosine(a, b, FACE)
    if face is not None:
        bound += _soft(face, face_threshold, cfg.face_scale, 2 * cap)
    reid = _cosine(a, b, REID)
    if reid is not None:
        bound += _soft(reid, cfg.reid_centre, cfg.reid_scale, cap)
    look = _cosine(a, b, APPEARANCE)
    if look is not None:
        bound += _soft(look, cfg.appearance_centre, cfg.appearance_scale, cap)
    if a.plate_key and b.plate_key:
        bound += cfg.plate_same
    if cfg.gait_scale > 0 and GAIT in a.vectors and GAIT in b.vectors:
        bound += cap
    if cfg.continuity_scale > 0 and a.exit is not None and b.entry is not None:
        bound += min(cap, cfg.continuity_centre * cfg.continuity_scale)  # its best: a miss of zero
    return bound


def continuity_error(a: SightingInfo, b: SightingInfo, topo: Topology, cfg: LinkingConfig) -> float | None:
    """How far (in heights of the person) ``b`` appeared from where ``a``'s walk, carried on at its exit
    speed for the gap, says it should be; the allowance grows with the gap (``continuity_tau_s``).

    None when either end is unknown, the gap is beyond ``continuity_max_gap_s``, or the cameras differ and
    one has no ground mapping.
    """
    if a.exit is None or b.entry is None:
        return None
    gap = gap_seconds(a, b)
    if gap > cfg.continuity_max_gap_s:
        return None
    predicted = topo.carry(a.camera, a.exit, gap, b.camera)
    if predicted is None:
        return None
    miss = math.hypot(predicted[0] - b.entry.x, predicted[1] - b.entry.y) / b.entry.height
    return miss / (1.0 + max(gap, 0.0) / cfg.continuity_tau_s)


def _zones(a: SightingInfo, b: SightingInfo, topo: Topology, cfg: LinkingConfig,
           ends: dict[int, tuple[tuple[float, float], ...]]) -> float | None:
    """The zone cue: did ``a`` leave by the declared exit zone and ``b`` appear in the entry zone?"""
    declared = topo.zones.get((a.camera, b.camera))
    if declared is None or a.id not in ends or b.id not in ends:
        return None
    exit_zone, entry_zone = declared
    ok = (exit_zone is None or inside(ends[a.id][-1], exit_zone)) and (
        entry_zone is None or inside(ends[b.id][0], entry_zone))
    return cfg.zone_match if ok else cfg.zone_miss


def score_pair(a: SightingInfo, b: SightingInfo, topo: Topology, cfg: LinkingConfig,
               face_threshold: float, ends: dict[int, tuple[tuple[float, float], ...]] | None = None) -> Evidence:
    """How likely ``b`` (later) is the same person or vehicle as ``a`` (earlier), with the evidence.

    ``ends`` (sighting id -> first and last box centre) feeds the entry/exit zone cue where declared.
    """
    gap = gap_seconds(a, b)
    facts: dict[str, Any] = {"from": a.camera, "to": b.camera, "gap_s": round(gap, 2)}
    if not compatible(a.label, b.label):
        return Evidence(0.0, False, facts=facts, refused=f"class {a.label} vs {b.label}")
    if gap < -cfg.overlap_slack_s and not topo.overlaps(a.camera, b.camera):
        return Evidence(0.0, False, facts=facts, refused="seen at the same time by cameras whose views do not overlap")
    dist = topo.distance(a.camera, b.camera)
    if dist is not None:
        facts["distance_m"] = round(dist, 1)
        limit = cfg.max_speed_mps.get(b.label, max(cfg.max_speed_mps.values()))
        if dist > 0 and not topo.overlaps(a.camera, b.camera):
            speed = max(dist - 2 * cfg.view_radius_m, 0.0) / max(gap, 1e-3)
            facts["speed_mps"] = round(speed, 2) if gap > 0 else None
            if (gap <= 0 and dist > 2 * cfg.view_radius_m) or speed > limit:
                return Evidence(0.0, False, facts=facts, refused=f"would need more than {limit:g} m/s")
    cues: dict[str, float] = {}
    cap = cfg.cue_cap
    face = _cosine(a, b, FACE)
    if face is not None:
        cues["face"] = _soft(face, face_threshold, cfg.face_scale, 2 * cap)
        facts["face_cosine"] = round(face, 3)
    reid = _cosine(a, b, REID)
    if reid is not None:
        cues["reid"] = _soft(reid, cfg.reid_centre, cfg.reid_scale, cap)
        facts["reid_cosine"] = round(reid, 3)
    look = _cosine(a, b, APPEARANCE)
    if look is not None:
        cues["appearance"] = _soft(look, cfg.appearance_centre, cfg.appearance_scale, cap)
        facts["appearance_cosine"] = round(look, 3)
    gait = _cosine(a, b, GAIT)
    if gait is not None and cfg.gait_scale > 0:
        cues["gait"] = _soft(gait, 0.5, cfg.gait_scale, cap)
    if a.plate_key and b.plate_key:
        edits = edit_distance(a.plate_key, b.plate_key)
        facts["plates"] = [a.plate_key, b.plate_key]
        cues["plate"] = cfg.plate_same if edits == 0 else cfg.plate_near if edits == 1 else (
            cfg.plate_differ if edits > 2 else 0.0)
    colour = 0.0
    pairs = ((a.vehicle_colour, b.vehicle_colour),) if b.label in VEHICLE_CLASSES else (
        (a.upper_colour, b.upper_colour), (a.lower_colour, b.lower_colour))
    for ca, cb in pairs:
        if ca and cb:
            colour += cfg.colour_same if ca == cb else cfg.colour_differ
    if colour:
        cues["colours"] = colour
    transit, model = topo.transit_llr(a.camera, b.camera, max(gap, 0.0))
    if model != "none":
        cues["transit"] = transit
        facts["transit_model"] = model
    if cfg.continuity_scale > 0:
        miss = continuity_error(a, b, topo, cfg)
        if miss is not None:
            cues["continuity"] = _soft(cfg.continuity_centre - miss, 0.0, cfg.continuity_scale, cap)
            facts["continuity_error"] = round(miss, 2)
    zone = _zones(a, b, topo, cfg, ends or {})
    if zone is not None:
        cues["zones"] = zone
    if a.camera == b.camera and cfg.same_camera:
        cues["same_camera"] = cfg.same_camera
    logit = cfg.prior_log_odds + sum(cues.values())
    return Evidence(1.0 / (1.0 + math.exp(-logit)), True, cues, facts)
