"""Bench: does the gait descriptor help linking? PETS09-S2L1 ground-truth tracks, halves matched.

Every ground-truth person box at least ``--min-height`` px tall (480x360 video, 10 fps; every frame, so
cadence can be read) is cropped with 10 % margin, and MoveNet MultiPose (the model store's
``movenet-multipose``) gives its keypoints (``watchnet.vision.analysis.gait.pose_crops``). Each person's track is
cut in two halves (two "sightings" of one person); the gait descriptor of every first half is compared with
that of every second half (``gait_similarity``), and likewise the re-id embedding (``ReidEmbedder``, the mean
of the crops of each half, every 5th frame). Reported: AUC of same vs different person, rank-1 of the first
halves among the second halves, for gait, re-id, and re-id + w x gait, plus the AUC of each gait component
alone. The same camera on both halves makes this easier for both cues than two cameras would.
The machine is shared by several jobs while this runs; no timings are reported.
Writes bench/results/gait.json. Run: ``.venv/bin/python bench/gait.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import av
import numpy as np

from watchnet.core.config import Settings
from watchnet.vision.analysis.gait import gait_descriptor, gait_similarity, pose_crops
from watchnet.vision.analysis.reid import ReidEmbedder
from watchnet.vision.models.runtime import create_session
from watchnet.vision.models.store import ModelStore

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("WATCHNET_SHARED_DATA", REPO.parent / "shared" / "data"))
PETS = DATA / "tracking" / "pets09_s2l1"
COMPONENTS = ["cadence", "stride", "arm_swing", "torso", "leg", "shoulder_width", "head"]


def gt_crops(min_height: float) -> dict[int, list[tuple[int, np.ndarray]]]:
    """Per ground-truth person: (frame, crop) for every frame where the box is tall enough."""
    boxes: dict[int, list[tuple[int, float, float, float, float]]] = defaultdict(list)
    for node in ET.parse(PETS / "PETS2009-S2L1.xml").getroot().iter("frame"):
        for obj in node.iter("object"):
            box = obj.find("box")
            assert box is not None
            xc, yc, w, h = (float(box.get(k, 0)) * 0.625 for k in ("xc", "yc", "w", "h"))
            if h >= min_height:
                boxes[int(node.get("number", 0))].append((int(obj.get("id", 0)), xc, yc, w, h))
    crops: dict[int, list[tuple[int, np.ndarray]]] = defaultdict(list)
    with av.open(str(PETS / "pets09_s2l1_view001_480x360_10fps.avi")) as container:
        for index, frame in enumerate(container.decode(video=0)):
            image = frame.to_ndarray(format="bgr24")
            for person, xc, yc, w, h in boxes.get(index, []):
                hh, hw = h * 0.55, w * 0.55
                y1, y2 = max(0, int(yc - hh)), min(image.shape[0], int(yc + hh))
                x1, x2 = max(0, int(xc - hw)), min(image.shape[1], int(xc + hw))
                if y2 - y1 >= 8 and x2 - x1 >= 4:
                    crops[person].append((index, image[y1:y2, x1:x2].copy()))
    return crops


def auc(sims: np.ndarray, same: np.ndarray) -> float:
    pos, neg = sims[same], sims[~same]
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())


def rank1(sims: np.ndarray, first: np.ndarray, second: np.ndarray) -> float:
    return float(np.mean(second[np.argmax(sims, axis=1)] == first))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--min-height", type=float, default=50.0)
    parser.add_argument("--min-frames", type=int, default=40)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "gait.json")
    args = parser.parse_args()
    settings = Settings()
    pose = create_session(ModelStore(settings).path("movenet-multipose"), settings.runtime)
    reid = ReidEmbedder(settings)
    halves: list[tuple[int, int, np.ndarray, np.ndarray]] = []  # person, half, gait, reid
    for person, items in sorted(gt_crops(args.min_height).items()):
        if len(items) < args.min_frames:
            continue
        keypoints = pose_crops(pose, [c for _, c in items])
        middle = len(items) // 2
        for half, part in enumerate((slice(0, middle), slice(middle, len(items)))):
            gait = gait_descriptor(keypoints[part], fps=10.0)
            if gait is None:
                continue
            crops = [c for _, c in items[part]][::5]
            vector = reid.embed(crops).mean(axis=0)
            halves.append((person, half, gait, vector / np.linalg.norm(vector)))
    both = {p for p, h, _, _ in halves if h == 0} & {p for p, h, _, _ in halves if h == 1}
    first = [x for x in halves if x[1] == 0 and x[0] in both]
    second = [x for x in halves if x[1] == 1 and x[0] in both]
    ids_a, ids_b = np.asarray([x[0] for x in first]), np.asarray([x[0] for x in second])
    same = ids_a[:, None] == ids_b[None, :]
    gait = np.asarray([[gait_similarity(a[2], b[2]) for b in second] for a in first])
    appearance = np.asarray([[float(a[3] @ b[3]) for b in second] for a in first])
    result: dict[str, object] = {
        "people": len(both), "min_height_px": args.min_height, "min_frames": args.min_frames,
        "gait": {"auc": round(auc(gait, same), 3), "rank1": round(rank1(gait, ids_a, ids_b), 3)},
        "reid": {"auc": round(auc(appearance, same), 3), "rank1": round(rank1(appearance, ids_a, ids_b), 3)},
        "fused": {}, "components_auc": {},
    }
    for weight in (0.05, 0.1, 0.2):
        fused = appearance + weight * gait
        result["fused"][f"reid+{weight}*gait"] = {  # type: ignore[index]
            "auc": round(auc(fused, same), 3), "rank1": round(rank1(fused, ids_a, ids_b), 3)}
    for j, name in enumerate(COMPONENTS):
        values_a, values_b = np.asarray([a[2][j] for a in first]), np.asarray([b[2][j] for b in second])
        result["components_auc"][name] = round(auc(-np.abs(values_a[:, None] - values_b[None, :]), same), 3)  # type: ignore[index]
    result["verdict"] = ("gait kept out of linking (linking.gait_scale 0): it does not separate people here and "
                         "lowers re-id when fused") if result["gait"]["auc"] < 0.65 else "gait separates people"  # type: ignore[index]
    result["machine"] = "shared with other jobs while measured"
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
