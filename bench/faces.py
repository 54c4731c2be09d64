"""Bench: which face detector and embedder watchnet uses by default, and at which match threshold.

Data (../shared/data/faces, see SOURCES.md): 76 single-identity photos of 19 people (deepface's 61 with
identities.csv, and the 15 single-face photos of face_recognition's labels.csv: knn train/test, the two
Hamilton enrolment pictures, obama_small), every pair of them (154 genuine, 2,696 impostor); three
multi-face photos; and the 10 s Hamilton clip, labelled by looking at its frames: frames 84-210 show
only Lin-Manuel Miranda singing (one face per frame), frames 213-274 the audience (neither Hamilton
person; Barack and Michelle Obama sit in it, in profile, so a match there to the Obama photos would not be
false — the gate rejects their profile faces). The clip is read every 3rd frame.

Measured, per detector: recall on the photos (labelled faces found), extra faces found, faces and frames
with a face in the clip, ms per full-frame call. Per detector x embedder (the largest face of each photo,
aligned with that embedder's template): verification ROC (TAR at FAR 1e-2 and 1e-3, EER, AUC, and the
threshold at FAR 1e-3), ms per face to embed (batch 1 and batch 16), and in the clip, with the
threshold at FAR 1e-3 and the quality gate: the share of Lin-only frames where Lin is matched (from the
two enrolment photos) and false matches in the audience. As a reference, dlib's own pipeline (HOG
detector, 5-point shapes, dlib's descriptor; ``pip install dlib-bin face_recognition_models``, eval
only) and the agreement of the ONNX rebuild with dlib on the same chips. Timings: median of repeats on
whatever this machine's cores are doing (2 shared cores when these numbers were taken).

Writes bench/results/faces.json and bench/results/faces_roc.png. Run: ``.venv/bin/python bench/faces.py``.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from watchnet.analysis.faces import FaceAnalyzer, load_image
from watchnet.config import Settings
from watchnet.records import Face

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("WATCHNET_SHARED_DATA", REPO.parent / "shared" / "data")) / "faces"
RESULTS = REPO / "bench" / "results"
DETECTORS = ("centerface", "blazeface")
EMBEDDERS = ("dlib-resnet", "faceres")
MULTI = {"face_recognition/knn_examples/test/kit_with_rose.jpg": 2,
         "face_recognition/knn_examples/test/obama_and_biden.jpg": 2, "face_recognition/two_people.jpg": 2}
LIN_FRAMES, AUDIENCE_FROM, VIDEO_STEP = range(84, 211), 213, 3
MAX_SIDE = 1600  # photos are shrunk to this once, so 4000 px JPEGs are not kept in memory 76 times


def photos() -> list[tuple[str, str]]:
    """(relative path, identity) of every single-identity photo."""
    out = []
    with (DATA / "deepface" / "identities.csv").open() as f:
        out += [(f"deepface/{r['file']}", f"deepface:{r['identity']}") for r in csv.DictReader(f)]
    with (DATA / "face_recognition" / "labels.csv").open() as f:
        for r in csv.DictReader(f):
            who = r["identities_present"]
            if r["split"] != "video" and ";" not in who and not who.startswith("("):
                out.append((f"face_recognition/{r['file']}", f"fr:{who}"))
    return out


def shrink(image: np.ndarray) -> np.ndarray:
    scale = MAX_SIDE / max(image.shape[:2])
    return image if scale >= 1 else cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def video_frames() -> list[tuple[int, np.ndarray]]:
    with av.open(str(DATA / "face_recognition" / "short_hamilton_clip.mp4")) as c:
        return [(i, f.to_ndarray(format="bgr24")) for i, f in enumerate(c.decode(video=0)) if i % VIDEO_STEP == 0]


def largest(faces: list[Face]) -> Face | None:
    return max(faces, key=lambda f: (f.xyxy[2] - f.xyxy[0]) * (f.xyxy[3] - f.xyxy[1]), default=None)


def median_ms(fn: Callable[[], object], repeats: int = 7) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))


def roc(embeddings: np.ndarray, ids: list[str], valid: np.ndarray) -> dict[str, Any]:
    """Verification over all pairs; a photo without a face scores -1 against everyone (a miss)."""
    sims = np.where(valid[:, None] & valid[None, :], embeddings @ embeddings.T, -1.0)
    iu = np.triu_indices(len(ids), 1)
    labels = np.asarray(ids)
    same = (labels[:, None] == labels[None, :])[iu]
    scores = sims[iu]
    gen, imp = np.sort(scores[same]), np.sort(scores[~same])[::-1]
    out: dict[str, Any] = {"genuine_pairs": int(same.sum()), "impostor_pairs": int((~same).sum())}
    for far in (1e-2, 1e-3):
        k = int(np.floor(far * len(imp)))  # at most k impostors may score above the threshold
        thr = float(imp[k])
        out[f"tar_at_far_{far:g}"] = float((gen > thr).mean())
        out[f"threshold_at_far_{far:g}"] = thr
    both = np.unique(np.concatenate([gen, imp]))
    frr = np.searchsorted(gen, both, side="left") / len(gen)
    far_curve = (imp[:, None] >= both[None, :]).mean(0)
    i = int(np.argmin(np.abs(frr - far_curve)))
    out["eer"] = float((frr[i] + far_curve[i]) / 2)
    out["auc"] = float((gen[:, None] > imp[None, :]).mean() + 0.5 * (gen[:, None] == imp[None, :]).mean())
    out["curve"] = {"far": far_curve.tolist(), "tar": (1 - frr).tolist()}
    return out


def bench_detector(name: str, images: list[np.ndarray], frames: list[tuple[int, np.ndarray]]) -> dict[str, Any]:
    fa = FaceAnalyzer(Settings.load(faces={"detector": name}))
    found = expected = extra = 0
    per_photo = [fa.detect(img) for img in images]
    for (rel, _), faces in zip(photos(), per_photo, strict=True):
        want = MULTI.get(rel, 1)
        found, expected, extra = found + min(len(faces), want), expected + want, extra + max(0, len(faces) - want)
    for rel, want in MULTI.items():
        faces = fa.detect(shrink(load_image(DATA / rel)))
        found, expected, extra = found + min(len(faces), want), expected + want, extra + max(0, len(faces) - want)
    counts = {i: len(fa.detect(img)) for i, img in frames}
    lin = [i for i in counts if i in LIN_FRAMES]
    return {
        "photo_recall": found / expected, "photo_faces_expected": expected, "photo_extra_faces": extra,
        "video_frames": len(counts), "video_frames_with_face": sum(1 for n in counts.values() if n),
        "video_faces": sum(counts.values()), "lin_frames_with_face": sum(1 for i in lin if counts[i]) / len(lin),
        "ms_per_frame_640x360": median_ms(lambda: fa.detect(frames[40][1])),
        "ms_per_photo": median_ms(lambda: fa.detect(images[0]), repeats=3),
        "_faces": per_photo,
    }


def bench_pair(det: str, emb: str, images: list[np.ndarray], faces: list[list[Face]],
               frames: list[tuple[int, np.ndarray]]) -> dict[str, Any]:
    fa = FaceAnalyzer(Settings.load(faces={"detector": det, "embedder": emb}))
    ids = [who for _, who in photos()]
    chosen = [largest(f) for f in faces]
    for img, face in zip(images, chosen, strict=True):
        if face is not None:
            fa.embed(img, [face])
    dim = fa.embedder.spec.dim
    vecs = np.stack([f.embedding if f is not None and f.embedding is not None else np.zeros(dim, np.float32)
                     for f in chosen])
    result = roc(vecs, ids, np.array([f is not None for f in chosen]))
    thr = result["threshold_at_far_0.001"]
    enrolled = []
    for file in ("lin-manuel-miranda.png", "alex-lacamoire.png"):
        img = load_image(DATA / "face_recognition" / file)
        face = largest(fa.detect(img))
        assert face is not None, file
        fa.embed(img, [face])
        assert face.embedding is not None
        enrolled.append(face.embedding)
    lin_hit, false_matches, gated_out = set(), 0, 0
    for i, img in frames:
        found = fa.detect(img)
        good = [f for f in found if fa.passes_quality(f)]
        gated_out += len(found) - len(good)
        fa.embed(img, good)
        for f in good:
            assert f.embedding is not None
            sims = [fa.similarity(f.embedding, e) for e in enrolled]
            best = int(np.argmax(sims))
            hit = sims[best] > thr
            if hit and best == 0 and i in LIN_FRAMES:
                lin_hit.add(i)
            elif hit and i >= AUDIENCE_FROM:
                false_matches += 1
    marked = [(img, f.landmarks) for img, f in zip(images, chosen, strict=True)
              if f is not None and f.landmarks is not None]
    first_img, first_lm = marked[0]
    chips = fa.embedder.chips(first_img, [first_lm])
    many = [fa.embedder.chips(img, [lm])[0] for img, lm in marked[:16]]
    result.update({
        "video_lin_frames_matched": len(lin_hit) / len([i for i, _ in frames if i in LIN_FRAMES]),
        "video_audience_false_matches": false_matches, "video_faces_gated_out": gated_out,
        "ms_per_face_embed_b1": median_ms(lambda: fa.embedder.embed_chips(chips)),
        "ms_per_face_embed_b16": median_ms(lambda: fa.embedder.embed_chips(many)) / len(many),
        "ms_per_face_align": median_ms(lambda: fa.embedder.chips(first_img, [first_lm])),
    })
    return result


def dlib_reference(images: list[np.ndarray]) -> dict[str, Any] | None:
    """dlib's own pipeline, and how close the ONNX rebuild comes to dlib's descriptor on dlib's chips."""
    try:
        import dlib
        import face_recognition_models as frm
    except ImportError:
        return None
    detector = dlib.get_frontal_face_detector()
    shapes = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
    net = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    fa = FaceAnalyzer(Settings.load(faces={"embedder": "dlib-resnet"}))
    vecs, valid, chips = [], [], []
    for img in images:
        rgb = np.ascontiguousarray(shrink(img)[:, :, ::-1])
        dets = detector(rgb, 1)
        if not dets:
            vecs.append(np.zeros(128))
            valid.append(False)
            continue
        box = max(dets, key=lambda d: d.area())
        chip = dlib.get_face_chip(rgb, shapes(rgb, box), size=150, padding=0.25)
        chips.append(chip)
        vecs.append(np.asarray(net.compute_face_descriptor(chip)))
        valid.append(True)
    arr = np.asarray(vecs, dtype=np.float32)
    arr /= np.maximum(np.linalg.norm(arr, axis=1, keepdims=True), 1e-12)
    result = roc(arr, [who for _, who in photos()], np.asarray(valid))
    ref = np.asarray([np.asarray(net.compute_face_descriptor(c)) for c in chips])
    ours = fa.embedder.session.run(None, {"input": np.stack(chips).transpose(0, 3, 1, 2).astype(np.float32)})[0]
    cos = (ours * ref).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
    result["missed_photos"] = int(len(valid) - sum(valid))
    result["ms_per_face_dlib_descriptor"] = median_ms(lambda: net.compute_face_descriptor(chips[0]))
    result["rebuild_vs_dlib"] = {"chips": len(chips), "min_cosine": float(cos.min()),
                                 "mean_cosine": float(cos.mean()), "max_abs_diff": float(np.abs(ours - ref).max())}
    return result


def plot(curves: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for label, r in curves.items():
        far, tar = np.asarray(r["curve"]["far"]), np.asarray(r["curve"]["tar"])
        keep = far > 0
        ax.plot(far[keep], tar[keep], label=f"{label} (EER {r['eer']:.1%})", drawstyle="steps-post")
    ax.set_xscale("log")
    ax.set_xlim(1 / 3000, 1)
    ax.set_xlabel("false accept rate (impostor pairs)")
    ax.set_ylabel("true accept rate (genuine pairs)")
    ax.set_title("Face verification: 76 photos, 154 genuine / 2,696 impostor pairs", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    images = [shrink(load_image(DATA / rel)) for rel, _ in photos()]
    frames = video_frames()
    results: dict[str, Any] = {"photos": len(images), "identities": len({w for _, w in photos()}),
                               "video_frames_read": len(frames), "detectors": {}, "pipelines": {}}
    faces = {}
    for det in DETECTORS:
        r = bench_detector(det, images, frames)
        faces[det] = r.pop("_faces")
        results["detectors"][det] = r
    for det in DETECTORS:
        for emb in EMBEDDERS:
            results["pipelines"][f"{det}+{emb}"] = bench_pair(det, emb, images, faces[det], frames)
    reference = dlib_reference(images)
    if reference is not None:
        results["dlib_reference"] = reference
    print(f"{'detector':<11}{'recall':>8}{'extra':>7}{'clip faces':>11}{'Lin frames':>11}{'ms/640':>8}")
    for det, r in results["detectors"].items():
        print(f"{det:<11}{r['photo_recall']:>8.3f}{r['photo_extra_faces']:>7}{r['video_faces']:>11}"
              f"{r['lin_frames_with_face']:>11.3f}{r['ms_per_frame_640x360']:>8.1f}")
    print(f"\n{'pipeline':<24}{'TAR@1e-2':>9}{'TAR@1e-3':>9}{'EER':>7}{'AUC':>8}{'thr@1e-3':>9}"
          f"{'Lin match':>10}{'false':>6}{'ms/face':>8}")
    rows = dict(results["pipelines"])
    if reference is not None:
        rows["dlib (HOG+5pt+dlib)"] = {**reference, "video_lin_frames_matched": float("nan"),
                                       "video_audience_false_matches": -1,
                                       "ms_per_face_embed_b16": reference["ms_per_face_dlib_descriptor"]}
    for name, r in rows.items():
        print(f"{name:<24}{r['tar_at_far_0.01']:>9.3f}{r['tar_at_far_0.001']:>9.3f}{r['eer']:>7.3f}"
              f"{r['auc']:>8.4f}{r['threshold_at_far_0.001']:>9.3f}{r['video_lin_frames_matched']:>10.3f}"
              f"{r['video_audience_false_matches']:>6}{r['ms_per_face_embed_b16']:>8.1f}")
    if reference is not None:
        print("\nONNX rebuild vs dlib on dlib's chips:", reference["rebuild_vs_dlib"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot(rows, RESULTS / "faces_roc.png")
    for r in [*rows.values(), reference or {}]:
        r.pop("curve", None)
    (RESULTS / "faces.json").write_text(json.dumps(results, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
