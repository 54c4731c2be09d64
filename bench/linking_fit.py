"""Calibrate the linker's cue weights on one half of the multi-camera bench and check them on the other.

Why: each cue's centre/scale in ``LinkingConfig`` turns a similarity into log-odds; set by eye they
were mis-calibrated for the current re-id default (almost every pair read as "different"). Here the
candidate pairs the linker itself would score (neighbour cameras, inside the window) from a run of
``bench/mtmc.py --work DIR`` are labelled by ground truth (same PETS person or not) and:
- each cue's AUC is measured on the evaluation half;
- a joint logistic regression (numpy IRLS, small L2) over re-id cosine, colour-layout cosine, equal and
  differing colours, transit inside the window and entry/exit zones is fitted on the FIT half only
  (pairs whose later track starts before frame 397, i.e. the first 39.7 s), its AUC reported on the
  other half; the weights map onto the config as ``scale = weight``, ``centre`` = where that cue alone
  is even (the 1-D fit's crossing point), ``prior_log_odds`` absorbs the rest.
- the re-id cue is also checked on iitd_two_camera (real, different cameras): track-level (mean of a
  person's crops per camera) cosines same vs different, and what the calibrated cue gives them.

    .venv/bin/python bench/linking_fit.py --work /tmp/j10cal/strips   # writes bench/results/linking_fit.json
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import mtmc  # noqa: E402

from watchnet.services.linking.evidence import APPEARANCE, REID, _cosine, continuity_error  # noqa: E402
from watchnet.services.linking.topology import Topology, inside  # noqa: E402
from watchnet.store import journeys as repo  # noqa: E402
from watchnet.store.db import open_store  # noqa: E402

#: transit is 0 inside the declared window (or none declared) and -1 outside: inside is the normal case, so a
#: site without a topology gets the same calibration; zones are +1 (used), -1 (missed), 0 (not declared)
#: continuity: "present" (1 when the cue can speak) and "miss" (minus the error in person heights, at most
#: ``MISS_CLIP``, 0 when absent); fitted on its own where present (its centre and scale), not in the joint fit
FEATURES = ("reid", "appearance", "colour_same", "colour_differ", "transit", "zones", "continuity_present",
            "continuity_miss", "same_camera")
MISS_CLIP = 4.0
JOINT = tuple(f for f in FEATURES if not f.startswith("continuity"))
SPLIT_S = 39.7  # frames 0-396 fit, 397-794 evaluate


def logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, iters: int = 50) -> np.ndarray:
    """Weights (bias first) of an L2-regularised logistic regression, by Newton's method."""
    xb = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(xb.shape[1])
    reg = l2 * np.eye(xb.shape[1])
    reg[0, 0] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-xb @ w))
        grad = xb.T @ (p - y) + reg @ w
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + reg
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return w


def auc(score: np.ndarray, y: np.ndarray) -> float | None:
    pos, neg = score[y == 1], score[y == 0]
    if not len(pos) or not len(neg):
        return None
    ranks = np.argsort(np.argsort(np.concatenate([pos, neg]))) + 1
    return round(float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))), 4)


def pairs(work: Path, scenario: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Feature rows, same-person labels and the later track's start (s) of every candidate pair."""
    mtmc.STRIPS.clear()
    mtmc.STRIPS.update(mtmc.SCENARIOS[scenario]["regions"])
    settings = mtmc.settings_for(work / "home", {n: work / f"{n}.mp4" for n in mtmc.STRIPS})
    replayed = work / "replay_provisional.db"  # bench/mtmc.py writes the captured sightings there
    if replayed.is_file():
        settings = settings.model_copy(update={"database_url": f"sqlite:///{replayed}"})
    engine = open_store(settings)
    gt = mtmc.ground_truth()
    ev = mtmc.evaluate(engine, 1, gt, work / "mot", work)
    identity: dict[int, int] = ev["_identity"]
    with engine.connect() as conn:
        infos = [i for i in repo.new_sightings(conn, 0, 10**6) if i.id in identity]
        ends = repo.track_ends(conn, infos)
    cfg = settings.linking
    topo = Topology.from_cameras(settings.cameras, cfg)
    t0 = min(i.first_seen for i in infos)
    rows, labels, starts = [], [], []
    for b in infos:
        for a in infos:
            gap = (b.first_seen - a.last_seen).total_seconds()
            here = a.camera == b.camera
            if a.id == b.id or a.first_seen > b.first_seen or not (here or (a.camera, b.camera) in topo.windows):
                continue
            if not -cfg.overlap_slack_s <= gap <= cfg.window_s:
                continue
            reid, look = _cosine(a, b, REID), _cosine(a, b, APPEARANCE)
            if reid is None or look is None:
                continue
            same = sum(1 for x, y in ((a.upper_colour, b.upper_colour), (a.lower_colour, b.lower_colour))
                       if x and y and x == y)
            differ = sum(1 for x, y in ((a.upper_colour, b.upper_colour), (a.lower_colour, b.lower_colour))
                         if x and y and x != y)
            transit = zone = 0.0
            if not here:
                window = topo.windows[(a.camera, b.camera)]
                transit = 0.0 if window.min_s <= max(gap, 0) <= window.max_s else -1.0
                exit_zone, entry_zone = topo.zones.get((a.camera, b.camera), (None, None))
                if a.id in ends and b.id in ends:
                    zone = 1.0 if ((exit_zone is None or inside(ends[a.id][-1], exit_zone))
                                   and (entry_zone is None or inside(ends[b.id][0], entry_zone))) else -1.0
            miss = continuity_error(a, b, topo, cfg)
            present = 0.0 if miss is None else 1.0
            rows.append([reid, look, same, differ, transit, zone, present,
                         0.0 if miss is None else -min(miss, MISS_CLIP), float(here)])
            labels.append(int(identity[a.id] == identity[b.id]))
            starts.append((b.first_seen - t0) / timedelta(seconds=1))
    return np.asarray(rows), np.asarray(labels), np.asarray(starts)


def iitd_check(centre: float, scale: float) -> dict[str, Any]:
    """Track-level re-id cosines across the two real iitd cameras, and the calibrated cue's log-odds."""
    import reid as reid_bench

    from watchnet.core.config import Settings
    from watchnet.vision.analysis.reid import ReidEmbedder, track_embedding

    crops, people, cameras = reid_bench.load_set(reid_bench.DATA / "reid" / "iitd_two_camera")
    emb = ReidEmbedder(Settings.load()).embed(crops)
    tracks: dict[tuple[str, str], np.ndarray] = {}
    for p in sorted(set(people)):
        for c in sorted(set(cameras)):
            sel = (people == p) & (cameras == c)
            vec = track_embedding(emb[sel]) if sel.any() else None
            if vec is not None:
                tracks[(p, c)] = vec
    same: list[float] = []
    other: list[float] = []
    cams = sorted(set(cameras))
    for (p, c), v in tracks.items():
        for (p2, d), w in tracks.items():
            if c == cams[0] and d == cams[1]:
                (same if p == p2 else other).append(float(v @ w))
    s, o = np.asarray(same), np.asarray(other)

    def q(v: np.ndarray) -> dict[str, float]:
        return {f"p{k}": round(float(np.percentile(v, k)), 3) for k in (10, 50, 90)}

    y = np.r_[np.ones(len(s)), np.zeros(len(o))]
    return {"people": len(s), "same_cosine": q(s), "different_cosine": q(o),
            "auc": auc(np.r_[s, o], y),
            "cue_log_odds_same_median": round(float(np.median((s - centre) * scale)), 2),
            "cue_log_odds_different_median": round(float(np.median((o - centre) * scale)), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="A bench/mtmc.py --work folder (already run)")
    parser.add_argument("--scenario", default="strips", choices=sorted(mtmc.SCENARIOS))
    parser.add_argument("--out", default="linking_fit")
    args = parser.parse_args()
    x, y, start = pairs(args.work, args.scenario)
    fit, held = start < SPLIT_S, start >= SPLIT_S
    out: dict[str, Any] = {
        "scenario": args.scenario, "pairs": {"fit": int(fit.sum()), "evaluate": int(held.sum()),
                                             "same_fit": int(y[fit].sum()), "same_evaluate": int(y[held].sum())},
        "split": f"fit on pairs whose later track starts before {SPLIT_S} s (frames 0-396), evaluate on the rest",
        "note": "measured once while the machine was shared with other jobs",
    }
    cross = x[:, FEATURES.index("same_camera")] == 0
    out["auc_evaluate_half_cross_camera"] = {
        name: auc(x[held & cross, k] * (-1 if name == "colour_differ" else 1), y[held & cross])
        for k, name in enumerate(FEATURES[:-1])}
    present = x[:, FEATURES.index("continuity_present")] == 1
    miss = x[:, FEATURES.index("continuity_miss")]
    out["auc_continuity_evaluate_half_where_present"] = {
        "cross_camera": auc(miss[held & cross & present], y[held & cross & present]),
        "same_camera": auc(miss[held & ~cross & present], y[held & ~cross & present]),
        "pairs_cross_same": [int((held & cross & present).sum()), int((held & ~cross & present).sum())]}
    base = float(np.log(y[fit].mean() / (1 - y[fit].mean())))
    one_d: dict[str, dict[str, float]] = {}
    for k, name in enumerate(FEATURES[:2]):
        b0, w1 = logistic(x[fit, k:k + 1], y[fit])
        one_d[name] = {"centre": round(float((base - b0) / w1), 3), "scale": round(float(w1), 2)}
    # continuity alone, where it speaks: its centre (where even) and scale from a 1-D fit on the fit half
    k_miss = FEATURES.index("continuity_miss")
    sel = fit & present
    prior_present = float(np.log(y[sel].mean() / (1 - y[sel].mean())))
    c0, c1 = logistic(x[sel, k_miss:k_miss + 1], y[sel])
    one_d["continuity"] = {"centre": round(float((c0 - prior_present) / c1), 3), "scale": round(float(c1), 2),
                           "pairs": int(sel.sum()), "same": int(y[sel].sum())}
    # the joint fit covers the cues every pair has; continuity is added on top as its own log-likelihood
    # ratio (zero where it is even), so pairs it cannot speak to (no ground mapping, long gaps) keep the
    # same calibration
    cols = [FEATURES.index(f) for f in JOINT]
    w = logistic(x[fit][:, cols], y[fit])
    joint = dict(zip(("bias", *JOINT), (round(float(v), 3) for v in w), strict=True))
    cont = one_d["continuity"]
    cap = 6.0  # LinkingConfig.cue_cap

    def logit(sel: np.ndarray) -> np.ndarray:
        llr = np.clip((cont["centre"] + x[sel, k_miss]) * cont["scale"], -cap, cap) * x[sel, FEATURES.index(
            "continuity_present")]
        return np.hstack([np.ones((int(sel.sum()), 1)), x[sel][:, cols]]) @ w + llr

    out["one_cue_fits"] = one_d
    out["joint_fit"] = joint
    out["auc_joint_evaluate_half"] = auc(np.hstack([np.ones((int(held.sum()), 1)), x[held][:, cols]]) @ w, y[held])
    out["auc_joint_with_continuity_evaluate_half"] = auc(logit(held), y[held])
    # onto the config: soft cues w*(s - centre); transit/zones +-w; the prior takes the rest
    config = {
        "reid_centre": one_d["reid"]["centre"], "reid_scale": round(max(joint["reid"], 0.0), 2),
        "appearance_centre": one_d["appearance"]["centre"],
        "appearance_scale": round(max(joint["appearance"], 0.0), 2),
        "colour_same": round(max(joint["colour_same"], 0.0), 2),
        "colour_differ": round(min(joint["colour_differ"], 0.0), 2),
        "transit_inside": 0.0,
        "transit_outside": round(-max(joint["transit"], 0.0), 2),
        "zone_match": round(max(joint["zones"], 0.0), 2),
        "zone_miss": round(-max(joint["zones"], 0.0), 2),
        "same_camera": round(joint["same_camera"], 2),
        "continuity_scale": round(max(float(cont["scale"]), 0.0), 2),
        "continuity_centre": round(max(float(cont["centre"]), 0.0), 2),
    }
    config["prior_log_odds"] = round(
        joint["bias"] + config["reid_scale"] * config["reid_centre"]
        + config["appearance_scale"] * config["appearance_centre"], 2)
    out["config"] = config
    for half, sel in (("fit", fit), ("evaluate", held)):
        probs = 1 / (1 + np.exp(-logit(sel)))
        out[f"{half}_half_pairs_at"] = {
            str(t): {"pairs_above": int((probs >= t).sum()), "same_pairs": int(y[sel].sum()),
                     "precision": round(float(y[sel][probs >= t].mean()), 3) if (probs >= t).any() else None}
            for t in (0.5, 0.7, 0.8, 0.9)}
    out["iitd_reid"] = iitd_check(config["reid_centre"], config["reid_scale"])
    (mtmc.RESULTS / f"{args.out}.json").write_text(json.dumps(out, indent=2), encoding="utf-8")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
