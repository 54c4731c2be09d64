"""Bench: how well watchnet tells faces apart, per embedder and for the fused default, with honest error bars.

Sets (../shared/data/faces, see SOURCES.md):
- ``lfw_wild``: 40 people x 20 news photos (250 x 250, loosely cropped; pose, light, age and JPEG vary);
  the labelled face is the detection nearest the centre. 7,600 genuine and 312,000 impostor pairs.
- ``photos``: the 76 single-identity photos of 19 people of the earlier bench (deepface's 61 with
  identities.csv, face_recognition's 15 single-face photos); their largest face. 154 / 2,696 pairs.

Per set: failure to embed (no face found where the label says, or the quality gate that enrolment and
tracks apply refuses it), then, per embedder (dlib-resnet, sface, sface-int8, fused = the default), every
pair's cosine; a photo with no face scores -1 against everyone (a miss, never a silent drop). TAR at FAR
1e-2, 1e-3 and 1e-4 with a 95 % bootstrap interval over identities (people are resampled, not pairs,
because pairs of one person are not independent). With fewer than 1/FAR impostor pairs the threshold is
the highest impostor score: such FAR points are marked ``"resolved": false``.

Calibration (what goes into ``settings.faces``): the fusion weight is fixed by a rule, not searched:
each part's cosine is divided by the spread (std) of its impostor cosines, with equal importance, so
weights are proportional to 1/std. Thresholds are the score at ``target_far`` on all impostor pairs of
both sets. To show this does not overfit, the same recipe is cross-validated on lfw_wild by identity:
weights and threshold from one half of the people (plus ``photos``), TAR and realised FAR on the other.

Speed: ms per face to align and embed a batch of 16 faces, per embedder (median of repeats). The machine
had 2 cores shared with other jobs when these numbers were taken: treat them as upper bounds.

Writes bench/results/faces.json and bench/results/faces_roc_<set>.png. Run: ``.venv/bin/python bench/faces.py``.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from watchnet.core.config import Settings
from watchnet.core.records import Face
from watchnet.vision.analysis.faces import FaceAnalyzer, load_image
from watchnet.vision.models.face_embedders import FaceEmbedder

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("WATCHNET_SHARED_DATA", REPO.parent / "shared" / "data")) / "faces"
RESULTS = REPO / "bench" / "results"
PARTS = ("dlib-resnet", "sface", "sface-int8")
FARS = (1e-2, 1e-3, 1e-4)
MAX_SIDE = 1600  # photos are shrunk to this once, so 4000 px JPEGs are not kept in memory
BOOT = 200
RNG = np.random.default_rng(11)


def lfw_wild() -> list[tuple[Path, str]]:
    return [(f, f.parent.name) for f in sorted((DATA / "lfw_wild").glob("*/*.jpg"))]


def photos() -> list[tuple[Path, str]]:
    out = []
    with (DATA / "deepface" / "identities.csv").open() as f:
        out += [(DATA / "deepface" / r["file"], f"deepface:{r['identity']}") for r in csv.DictReader(f)]
    with (DATA / "face_recognition" / "labels.csv").open() as f:
        for r in csv.DictReader(f):
            who = r["identities_present"]
            if r["split"] != "video" and ";" not in who and not who.startswith("("):
                out.append((DATA / "face_recognition" / r["file"], f"fr:{who}"))
    return out


SETS: dict[str, tuple[Callable[[], list[tuple[Path, str]]], str]] = {
    "lfw_wild": (lfw_wild, "centre"),
    "photos": (photos, "largest"),
}


def shrink(image: np.ndarray) -> np.ndarray:
    scale = MAX_SIDE / max(image.shape[:2])
    return image if scale >= 1 else cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def pick(faces: list[Face], shape: tuple[int, ...], rule: str) -> Face | None:
    if not faces:
        return None
    if rule == "largest":
        return max(faces, key=lambda f: (f.xyxy[2] - f.xyxy[0]) * (f.xyxy[3] - f.xyxy[1]))
    cx, cy = shape[1] / 2, shape[0] / 2
    return min(faces, key=lambda f: ((f.xyxy[0] + f.xyxy[2]) / 2 - cx) ** 2 + ((f.xyxy[1] + f.xyxy[3]) / 2 - cy) ** 2)


def median_ms(fn: Callable[[], object], repeats: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))


# --- verification metrics --------------------------------------------------------------------------
def pair_scores(sims: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(genuine, impostor) scores of all pairs i < j."""
    iu = np.triu_indices(len(ids), 1)
    same = (ids[:, None] == ids[None, :])[iu]
    scores = sims[iu]
    return scores[same], scores[~same]


def threshold_at(impostors: np.ndarray, far: float) -> tuple[float, bool]:
    """Lowest score with at most ``far`` of impostors strictly above it; resolved if 1/far <= pairs."""
    imp = np.sort(impostors)[::-1]
    k = int(np.floor(far * len(imp)))
    return float(imp[min(k, len(imp) - 1)]), k >= 1


def tar_at(genuine: np.ndarray, impostors: np.ndarray, far: float) -> tuple[float, float, bool]:
    thr, resolved = threshold_at(impostors, far)
    return float((genuine > thr).mean()), thr, resolved


def bootstrap(sims: np.ndarray, ids: np.ndarray) -> dict[float, tuple[float, float]]:
    """95 % interval of TAR at each FAR when the people (not the pairs) are drawn again with replacement."""
    people = np.unique(ids)
    rows = {p: np.flatnonzero(ids == p) for p in people}
    out: dict[float, list[float]] = {far: [] for far in FARS}
    for _ in range(BOOT):
        drawn = RNG.choice(people, len(people), replace=True)
        idx = np.concatenate([rows[p] for p in drawn])
        draw = np.concatenate([np.full(len(rows[p]), i) for i, p in enumerate(drawn)])
        person = ids[idx]
        sub = sims[np.ix_(idx, idx)]
        iu = np.triu_indices(len(idx), 1)
        gen_mask = (draw[:, None] == draw[None, :])[iu]
        imp_mask = (person[:, None] != person[None, :])[iu]
        scores = sub[iu]
        for far in FARS:
            out[far].append(tar_at(scores[gen_mask], scores[imp_mask], far)[0])
    bounds = {far: np.percentile(v, [2.5, 97.5]) for far, v in out.items()}
    return {far: (float(b[0]), float(b[1])) for far, b in bounds.items()}


def verification(sims: np.ndarray, ids: np.ndarray, boot: bool = True) -> dict[str, Any]:
    gen, imp = pair_scores(sims, ids)
    out: dict[str, Any] = {"genuine_pairs": len(gen), "impostor_pairs": len(imp)}
    ci = bootstrap(sims, ids) if boot else {}
    for far in FARS:
        tar, thr, resolved = tar_at(gen, imp, far)
        out[f"far_{far:g}"] = {"tar": tar, "threshold": thr, "resolved": resolved, "ci95": ci.get(far, (tar, tar))}
    out["max_impostor"] = float(imp.max())
    grid = np.unique(np.concatenate([gen, imp]))[::-1]
    far_curve = np.searchsorted(-np.sort(imp)[::-1], -grid, side="right") / len(imp)
    tar_curve = np.searchsorted(-np.sort(gen)[::-1], -grid, side="right") / len(gen)
    keep = np.unique(np.geomspace(1, len(grid), 400).astype(int) - 1)
    out["curve"] = {"far": far_curve[keep].tolist(), "tar": tar_curve[keep].tolist()}
    return out


def similarity(vectors: np.ndarray, valid: np.ndarray) -> np.ndarray:
    return np.where(valid[:, None] & valid[None, :], vectors @ vectors.T, -1.0)


def fuse(parts: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    total = sum(weights.values())
    return sum(w / total * parts[p] for p, w in weights.items())  # type: ignore[return-value]


def zweights(parts: dict[str, list[np.ndarray]], ids_list: list[np.ndarray]) -> dict[str, float]:
    """The calibration rule: weight_i proportional to 1 / std of part i's impostor cosines (pooled sets)."""
    spread = {}
    for name, sims in parts.items():
        imps = np.concatenate([pair_scores(s, ids)[1] for s, ids in zip(sims, ids_list, strict=True)])
        imps = imps[imps > -1]
        spread[name] = float(imps.std())
    inv = {k: 1 / v for k, v in spread.items()}
    return {k: round(v / sum(inv.values()), 2) for k, v in inv.items()}


# --- running the models ----------------------------------------------------------------------------
def embed_set(name: str, analyzer: FaceAnalyzer, parts: dict[str, FaceEmbedder]) -> dict[str, Any]:
    load, rule = SETS[name]
    items = load()
    ids = np.array([who for _, who in items])
    vectors: dict[str, list[np.ndarray]] = {p: [] for p in parts}
    valid, no_face, gated, quality = [], [], [], []
    for path, _ in items:
        image = shrink(load_image(path))
        face = pick(analyzer.detect(image), image.shape, rule)
        if face is None or face.landmarks is None:
            no_face.append(path.name)
            valid.append(False)
            for p, emb in parts.items():
                vectors[p].append(np.zeros(emb.dim, np.float32))
            quality.append(0.0)
            continue
        if not analyzer.passes_quality(face):
            gated.append(path.name)
        valid.append(True)
        quality.append(face.quality)
        for p, emb in parts.items():
            vectors[p].append(emb.embed(image, [face.landmarks])[0])
    return {
        "ids": ids, "valid": np.array(valid), "quality": np.array(quality),
        "vectors": {p: np.stack(v) for p, v in vectors.items()},
        "faces": len(items), "people": len(set(ids.tolist())),
        "no_face": no_face, "gated": gated,
    }


def speed(image: np.ndarray, landmarks: np.ndarray, parts: dict[str, FaceEmbedder],
          fused_names: tuple[str, ...]) -> dict[str, float]:
    marks = [landmarks] * 16
    out = {p: median_ms(lambda e=emb: e.embed(image, marks)) / 16 for p, emb in parts.items()}  # type: ignore[misc]
    out["fused"] = sum(out[p] for p in fused_names)
    return out


def cross_validate(data: dict[str, dict[str, Any]], far: float) -> dict[str, Any]:
    """lfw_wild split by person into halves: calibrate on one half + photos, measure on the other."""
    lfw, other = data["lfw_wild"], data["photos"]
    people = np.unique(lfw["ids"])
    folds = []
    for k in (0, 1):
        test_people = set(people[k::2].tolist())
        test = np.array([i in test_people for i in lfw["ids"]])
        sims = {p: {"train": similarity(lfw["vectors"][p][~test], lfw["valid"][~test]),
                    "test": similarity(lfw["vectors"][p][test], lfw["valid"][test]),
                    "photos": similarity(other["vectors"][p], other["valid"])} for p in ("dlib-resnet", "sface")}
        train_ids, test_ids = lfw["ids"][~test], lfw["ids"][test]
        weights = zweights({p: [s["train"], s["photos"]] for p, s in sims.items()}, [train_ids, other["ids"]])
        row: dict[str, Any] = {"weights": weights}
        for name, w in (("dlib-resnet", {"dlib-resnet": 1.0}), ("sface", {"sface": 1.0}), ("fused", weights)):
            train = fuse({p: s["train"] for p, s in sims.items()}, w)
            ph = fuse({p: s["photos"] for p, s in sims.items()}, w)
            imps = np.concatenate([pair_scores(train, train_ids)[1], pair_scores(ph, other["ids"])[1]])
            thr, _ = threshold_at(imps, far)
            gen, imp = pair_scores(fuse({p: s["test"] for p, s in sims.items()}, w), test_ids)
            row[name] = {"threshold": thr, "held_out_tar": float((gen > thr).mean()),
                         "held_out_far": float((imp > thr).mean())}
        folds.append(row)
    return {"target_far": far, "folds": folds}


def plot(name: str, curves: dict[str, dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for label, r in curves.items():
        far, tar = np.asarray(r["curve"]["far"]), np.asarray(r["curve"]["tar"])
        keep = far > 0
        ax.plot(far[keep], tar[keep], label=f"{label} (TAR {r['far_0.001']['tar']:.3f} @1e-3)", drawstyle="steps-post")
    ax.set_xscale("log")
    ax.set_xlim(max(1e-6, 0.5 / next(iter(curves.values()))["impostor_pairs"]), 1)
    ax.set_xlabel("false accept rate (impostor pairs)")
    ax.set_ylabel("true accept rate (genuine pairs)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    settings = Settings.load()
    cfg = settings.faces
    analyzer = FaceAnalyzer(settings)
    parts = {p: analyzer.single_embedder(p) for p in PARTS}
    data = {name: embed_set(name, analyzer, parts) for name in SETS}
    all_ids = [d["ids"] for d in data.values()]
    sims = {name: {p: similarity(d["vectors"][p], d["valid"]) for p in PARTS} for name, d in data.items()}
    weights = zweights({p: [sims[n][p] for n in data] for p in ("dlib-resnet", "sface")}, all_ids)
    configured = {p: float(cfg.fusion_weights.get(p, 0.0)) for p in ("dlib-resnet", "sface")}
    results: dict[str, Any] = {
        "machine": "2 CPU cores shared with ~7 other jobs while measured; timings are upper bounds",
        "detector": cfg.detector, "default_embedder": cfg.embedder,
        "fusion_weights_configured": configured, "fusion_weights_rule": weights, "sets": {},
    }
    pooled: dict[str, list[np.ndarray]] = {}
    for name, d in data.items():
        set_sims = dict(sims[name])
        set_sims["fused"] = fuse(set_sims, configured)
        rows = {emb: verification(s, d["ids"]) for emb, s in set_sims.items()}
        for emb, s in set_sims.items():
            pooled.setdefault(emb, []).append(pair_scores(s, d["ids"])[1])
        sweep = {}
        for wd in (0.0, 0.2, 0.4, 0.5, 0.6, 0.72, 0.8, 1.0):
            s = fuse(set_sims, {"dlib-resnet": wd, "sface": 1 - wd})
            gen, imp = pair_scores(s, d["ids"])
            sweep[f"{wd:g}"] = {f"{far:g}": tar_at(gen, imp, far)[0] for far in FARS}
        results["sets"][name] = {
            "faces": d["faces"], "people": d["people"],
            "failure_to_embed": (len(d["no_face"]) + len(d["gated"])) / d["faces"],
            "no_face": d["no_face"], "quality_gated": d["gated"],
            "embedders": rows, "weight_sweep_dlib": sweep,
        }
        title = f"{name}: {d['faces']} faces of {d['people']} people"
        plot(name, {k: v for k, v in rows.items() if k != "sface-int8"}, RESULTS / f"faces_roc_{name}.png", title)
    results["calibrated"] = {
        emb: {"threshold_at_target_far": threshold_at(np.concatenate(v), cfg.target_far)[0],
              "max_impostor": float(np.concatenate(v).max()), "impostor_pairs": int(sum(map(len, v)))}
        for emb, v in pooled.items()
    }
    results["configured_thresholds"] = dict(cfg.match_thresholds)
    results["cross_validation_lfw_wild"] = cross_validate(data, cfg.target_far)
    first = next(p for p, _ in lfw_wild())
    image = load_image(first)
    face = pick(analyzer.detect(image), image.shape, "centre")
    assert face is not None and face.landmarks is not None
    results["ms_per_face_b16"] = speed(image, face.landmarks, parts, ("dlib-resnet", "sface"))
    print_table(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    for s in results["sets"].values():
        for r in s["embedders"].values():
            r.pop("curve", None)
    (RESULTS / "faces.json").write_text(json.dumps(results, indent=1, default=float) + "\n")


def print_table(results: dict[str, Any]) -> None:
    ms = results["ms_per_face_b16"]
    for name, s in results["sets"].items():
        print(f"\n{name}: {s['faces']} faces, {s['people']} people, failure to embed {s['failure_to_embed']:.2%} "
              f"(no face {len(s['no_face'])}, gated {len(s['quality_gated'])})")
        print(f"{'embedder':<12}" + "".join(f"{'TAR@' + format(f, 'g'):>22}" for f in FARS) + f"{'ms/face':>9}")
        for emb, r in s["embedders"].items():
            cells = ""
            for far in FARS:
                row = r[f"far_{far:g}"]
                lo, hi = row["ci95"]
                mark = "" if row["resolved"] else "*"
                cells += f"{row['tar']:>8.3f}{mark:1} [{lo:.3f},{hi:.3f}]"
            print(f"{emb:<12}{cells}{ms.get(emb, float('nan')):>9.1f}")
    print("\n* FAR not resolved: fewer impostor pairs than 1/FAR; the threshold is the highest impostor score")
    calibrated = {k: round(v["threshold_at_target_far"], 4) for k, v in results["calibrated"].items()}
    print("calibrated thresholds:", calibrated)
    print("fusion weights (rule):", results["fusion_weights_rule"], "configured:", results["fusion_weights_configured"])
    for fold in results["cross_validation_lfw_wild"]["folds"]:
        print("cv fold:", {k: v for k, v in fold.items()})


if __name__ == "__main__":
    main()
