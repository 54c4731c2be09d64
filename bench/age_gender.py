"""Bench: apparent gender accuracy, apparent-age consistency and cost of ``AgeGenderEstimator`` (faceres).

READ THIS FIRST. These are *apparent* attributes (what a face looks like to one network), measured on a
tiny, non-representative set: 76 photos of 19 famous people (mostly white, mostly 25-60, studio and
press lighting) and one stage clip. The numbers say nothing about children, older people, darker skin,
CCTV angles or anyone's actual age or gender identity, and must not be used for decisions about
individuals. In watchnet the feature is off by default and only filters or describes anonymous tracks.

Labels, and exactly how they were made (no label came from looking at a face or from a model):
- Apparent gender: the public gender presentation of the named public figure, written down by hand
  from the name. deepface: ``identities.csv``'s ``name_note`` (e.g. "Angelina Jolie" -> female);
  face_recognition: the folder / file name of ``labels.csv`` (e.g. "rose_leslie" -> female). The table
  is ``GENDER`` below, one line per person, so it can be checked. 19 people: 6 female, 13 male.
- Age: there are no age labels (photos are undated). Reported instead: each identity's predicted age
  distribution, the within-identity spread (std, range, share of photos in the identity's modal band:
  the same person's photos are taken within some years of each other, so a consistent estimator keeps
  them close), and one coarse label we can justify: every person here is an adult (18+) in every
  photo, because all 19 are known for adult careers (actors, CEOs, politicians, musicians) and the
  photos come from those roles; so "predicted a band under 18" is an error. No finer band is claimed.
- The Hamilton clip: frames 84-210 show only Lin-Manuel Miranda (labelled in bench/faces.py by looking
  at the frames; male per the same name rule); every 3rd frame, faces passing the quality gate.

Measured: per photo (largest face, CenterFace, shrunk to 1600 px): gender accuracy and coverage at
several minimum confidences (the default ``gender_min_confidence`` included), per labelled gender;
per identity (quality-weighted vote over its photos, exactly like a track); age consistency as above;
ms per face (align + model) at batch 1 and 16 on whatever the machine's cores are doing (2 shared
cores when these numbers were taken). Writes bench/results/age_gender.json.
Run: ``.venv/bin/python bench/age_gender.py``.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from watchnet.core.config import Settings
from watchnet.vision.analysis.age_gender import AgeGender, AgeGenderEstimator, AgeGenderVoter
from watchnet.vision.analysis.faces import FaceAnalyzer, load_image

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("WATCHNET_SHARED_DATA", REPO.parent / "shared" / "data")) / "faces"
RESULTS = REPO / "bench" / "results"
MAX_SIDE = 1600
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
LIN_FRAMES, VIDEO_STEP = range(84, 211), 3
UNDER_18 = ("0-12", "13-17")
# Apparent gender as publicly presented, from the name (see the module docstring); never from pixels.
GENDER = {
    "Angelina Jolie": "female", "Jennifer Aniston": "female", "Scarlett Johansson": "female",
    "Mark Zuckerberg": "male", "Jack Dorsey": "male", "Elon Musk": "male", "Jeff Bezos": "male",
    "Marissa Mayer": "female", "Sundar Pichai": "male", "Katy Perry": "female", "Matt Damon": "male",
    "Leonardo DiCaprio": "male", "George Clooney": "male",
    "alex_lacamoire": "male", "biden": "male", "kit_harington": "male", "obama": "male",
    "rose_leslie": "female", "lin_manuel_miranda": "male",
}


def photos() -> list[tuple[str, str]]:
    """(relative path, person) of every single-person photo: deepface by name_note, face_recognition by name."""
    out = []
    with (DATA / "deepface" / "identities.csv").open() as f:
        out += [(f"deepface/{r['file']}", r["name_note"]) for r in csv.DictReader(f)]
    with (DATA / "face_recognition" / "labels.csv").open() as f:
        for r in csv.DictReader(f):
            who = r["identities_present"]
            if r["split"] != "video" and ";" not in who and not who.startswith("("):
                out.append((f"face_recognition/{r['file']}", who))
    return out


def shrink(image: np.ndarray) -> np.ndarray:
    scale = MAX_SIDE / max(image.shape[:2])
    return image if scale >= 1 else cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def median_ms(fn: Any, repeats: int = 7) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))


def gender_table(rows: list[tuple[str, AgeGender]]) -> dict[str, Any]:
    """Coverage and accuracy of the reported gender per minimum confidence, overall and per label."""
    out: dict[str, Any] = {}
    for t in THRESHOLDS:
        entry: dict[str, Any] = {}
        for group in ("all", "female", "male"):
            chosen = [(GENDER[p], r) for p, r in rows if group in ("all", GENDER[p])]
            said = [(truth, r) for truth, r in chosen if r.gender_confidence >= t]
            right = sum(1 for truth, r in said if ("male" if r.male_probability >= 0.5 else "female") == truth)
            entry[group] = {"n": len(chosen), "coverage": len(said) / max(len(chosen), 1),
                            "accuracy": right / len(said) if said else float("nan")}
        out[str(t)] = entry
    return out


def vote(results: list[tuple[AgeGender, float]], settings: Settings) -> AgeGender | None:
    voter = AgeGenderVoter(settings.attributes)
    for r, quality in results:
        voter.add(r, quality)
    return voter.result()


def age_consistency(by_person: dict[str, list[AgeGender]]) -> dict[str, Any]:
    people: dict[str, Any] = {}
    for person, results in sorted(by_person.items()):
        ages = np.array([r.age for r in results])
        bands = Counter(r.age_band for r in results)
        people[person] = {
            "photos": len(results), "age_mean": float(ages.mean()), "age_std": float(ages.std()),
            "age_min": float(ages.min()), "age_max": float(ages.max()), "bands": dict(bands),
            "modal_band_share": bands.most_common(1)[0][1] / len(results),
        }
    multi = [p for p in people.values() if p["photos"] >= 2]
    return {
        "per_identity": people,
        "mean_within_identity_std_years": float(np.mean([p["age_std"] for p in multi])),
        "photos_in_modal_band": sum(p["modal_band_share"] * p["photos"] for p in multi)
        / sum(p["photos"] for p in multi),
    }


def video(analyzer: FaceAnalyzer, estimator: AgeGenderEstimator, settings: Settings) -> dict[str, Any]:
    """Lin-Manuel Miranda's frames of the Hamilton clip: per-face results and their quality-weighted vote."""
    found: list[tuple[AgeGender, float]] = []
    with av.open(str(DATA / "face_recognition" / "short_hamilton_clip.mp4")) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in LIN_FRAMES and i % VIDEO_STEP == 0:
                image = frame.to_ndarray(format="bgr24")
                faces = [f for f in analyzer.detect(image) if analyzer.passes_quality(f)
                         and f.quality >= settings.attributes.age_gender_min_quality]
                found += [(r, f.quality) for r, f in zip(estimator.estimate(image, faces), faces, strict=True)]
    voted = vote(found, settings)
    return {
        "faces": len(found), "gender_reported": sum(1 for r, _ in found if r.gender is not None),
        "gender_correct": sum(1 for r, _ in found if r.gender == "male"),
        "bands": dict(Counter(r.age_band for r, _ in found)),
        "age_mean": float(np.mean([r.age for r, _ in found])), "age_std": float(np.std([r.age for r, _ in found])),
        "track_vote": None if voted is None else {
            "age_band": voted.age_band, "age_band_confidence": voted.age_band_confidence,
            "gender": voted.gender, "gender_confidence": voted.gender_confidence},
    }


def main() -> None:
    settings = Settings.load()
    analyzer = FaceAnalyzer(settings)
    estimator = AgeGenderEstimator(settings, analyzer.store)
    rows: list[tuple[str, AgeGender]] = []
    per_person: dict[str, list[tuple[AgeGender, float]]] = defaultdict(list)
    chips: list[tuple[np.ndarray, Any]] = []
    missed = 0
    for rel, person in photos():
        image = shrink(load_image(DATA / rel))
        faces = analyzer.detect(image)
        if not faces:
            missed += 1
            continue
        face = max(faces, key=lambda f: (f.xyxy[2] - f.xyxy[0]) * (f.xyxy[3] - f.xyxy[1]))
        result = estimator.estimate(image, [face])[0]
        rows.append((person, result))
        per_person[person].append((result, face.quality))
        chips.append((image, face))
    votes = {p: vote(r, settings) for p, r in per_person.items()}
    said = {p: v.gender for p, v in votes.items() if v is not None and v.gender is not None}
    identity_right, identity_said = sum(1 for p, g in said.items() if g == GENDER[p]), len(said)
    image, face = chips[0]
    results: dict[str, Any] = {
        "warning": "apparent attributes on a tiny, non-representative set; not for decisions about individuals",
        "photos": len(rows) + missed, "photos_without_face": missed, "identities": len(per_person),
        "label_counts": dict(Counter(GENDER[p] for p in per_person)),
        "gender_min_confidence": settings.attributes.gender_min_confidence,
        "gender_per_photo": gender_table(rows),
        "gender_per_identity": {"reported": identity_said, "correct": identity_right, "of": len(votes),
                                "votes": {p: (v.gender, v.gender_confidence) if v else None for p, v in votes.items()}},
        "adult_label_photos_under_18": sum(1 for _, r in rows if r.age_band in UNDER_18),
        "age": age_consistency({p: [r for r, _ in v] for p, v in per_person.items()}),
        "mean_age_band_confidence": float(np.mean([r.age_band_confidence for _, r in rows])),
        "video_lin_manuel_miranda": video(analyzer, estimator, settings),
        "ms_per_face_b1": median_ms(lambda: estimator.estimate(image, [face])),
        "ms_per_face_b16": median_ms(lambda: estimator.estimate(image, [face] * 16)) / 16,
        "load_average_1min": os.getloadavg()[0],  # timings on shared cores: read them with this
    }
    report(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "age_gender.json").write_text(json.dumps(results, indent=1, default=float) + "\n")


def report(r: dict[str, Any]) -> None:
    print(f"{r['photos']} photos, {r['identities']} people ({r['label_counts']}); APPARENT attributes, tiny set\n")
    print(f"{'min conf':>8}{'coverage':>10}{'accuracy':>10}{'female acc':>12}{'male acc':>10}")
    for t, e in r["gender_per_photo"].items():
        print(f"{t:>8}{e['all']['coverage']:>10.3f}{e['all']['accuracy']:>10.3f}"
              f"{e['female']['accuracy']:>12.3f}{e['male']['accuracy']:>10.3f}")
    g = r["gender_per_identity"]
    print(f"\nper identity (quality-weighted vote): {g['correct']}/{g['reported']} correct, "
          f"{g['reported']}/{g['of']} reported")
    print(f"\n{'identity':<20}{'n':>3}{'mean age':>9}{'std':>6}{'range':>13}{'modal share':>12}  bands")
    for person, p in r["age"]["per_identity"].items():
        print(f"{person:<20}{p['photos']:>3}{p['age_mean']:>9.1f}{p['age_std']:>6.1f}"
              f"{p['age_min']:>6.1f}-{p['age_max']:<6.1f}{p['modal_band_share']:>12.2f}  {p['bands']}")
    a, v = r["age"], r["video_lin_manuel_miranda"]
    print(f"\nwithin-identity age std {a['mean_within_identity_std_years']:.1f} y, photos in modal band "
          f"{a['photos_in_modal_band']:.2f}, adults predicted under 18: {r['adult_label_photos_under_18']}, "
          f"mean band confidence {r['mean_age_band_confidence']:.2f}")
    print(f"Hamilton clip (Lin only): {v['faces']} faces, gender reported {v['gender_reported']}, male "
          f"{v['gender_correct']}, bands {v['bands']}, age {v['age_mean']:.1f}+-{v['age_std']:.1f}, "
          f"vote {v['track_vote']}")
    print(f"ms per face (align + model): batch 1 {r['ms_per_face_b1']:.1f}, batch 16 {r['ms_per_face_b16']:.1f} "
          f"(load average {r['load_average_1min']:.1f})")


if __name__ == "__main__":
    main()
