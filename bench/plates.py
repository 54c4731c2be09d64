"""Bench: licence plate localisation and reading on the shared plate sets, for several settings.

Data (../shared/data/plates, see SOURCES.md): ``openalpr_eu`` (40 car photos, one labelled plate box and
text each; European plates, 29 of them Slovak) read as whole scenes, and ``lprnet_cn`` (100 Chinese
94x24 plate crops) read as crops. Labels are used as published, so a few count against us where the
label itself has O for 0 (RKO99AN, RKO26AJ, OYO9FEU); the "folded" accuracy compares with confusables
(O/0, I/1, B/8 ...) folded on both sides, as the hotlist matcher does.

Measures per setting: whole-plate accuracy (some reported plate equals the label), top-1 accuracy (the
best-scored plate does), character accuracy (1 - edit distance / longer length, best reported plate),
localisation recall (a reported plate has IoU >= 0.3 with the labelled box, or the right text), the text
detector's own recall (any text box with IoU >= 0.3, before any plate filter), other plates reported per
photo, and milliseconds per photo or crop (median, p95; one picture per call, models warm).

Optional: when the ``rapidocr`` library is importable (it is not a watchnet dependency) the same models
are also driven through it, on the same selection rules, to compare with our own pre/post-processing.

Writes bench/results/plates.json. Run: ``.venv/bin/python bench/plates.py``.

``--by-country``: whole-plate exact per camera country set (EU photos with ``[sk, eu]``, Chinese crops and
the same crops composed into two-row plates with ``[cn]``), split by the labelled plate's country, the
cost per plate (ms per photo or crop) and a character confusion table; bench/results/plates_by_country.json.
"""

from __future__ import annotations

import csv
import functools
import itertools
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from watchnet.core.config import Settings
from watchnet.core.plate_text import edit_distance, fold_confusables
from watchnet.vision.analysis.plates import PlateRead, PlateReader, load_image
from watchnet.vision.models.ocr import TextRead
from watchnet.vision.models.store import ModelStore

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("WATCHNET_SHARED_DATA", REPO.parent / "shared" / "data")) / "plates"
RESULTS = REPO / "bench" / "results"

#: Settings tried on the EU scenes: (name, PlatesConfig overrides). The first is the shipped default.
EU_VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("default", {}),
    ("countries sk,eu", {"countries": ["sk", "eu"]}),
    ("det never enlarges", {"det_min_side": 0}),
    ("det min side 480", {"det_min_side": 480}),
    ("det min side 800", {"det_min_side": 800}),
    ("det max side 640", {"det_limit_side": 640}),
    ("with cls", {"use_cls": True}),
    ("no line merge", {"merge_gap": 0.0}),
    ("as rapidocr lib below", {"merge_gap": 0.0, "det_min_side": 0}),
]


def _otsu(crop: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    return cv2.cvtColor(cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1], cv2.COLOR_GRAY2BGR)


def _clahe(crop: np.ndarray) -> np.ndarray:
    grey = cv2.createCLAHE(2.0, (4, 4)).apply(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY))
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)


def _linear48(crop: np.ndarray) -> np.ndarray:
    return cv2.resize(crop, (round(crop.shape[1] * 48 / crop.shape[0]), 48))


#: Settings tried on the CN crops (a deployment in China lists "cn" first): (name, overrides, treatment
#: applied to the crop before the reader sees it). The first is the shipped default plus countries=[cn].
CN_VARIANTS: list[tuple[str, dict[str, Any], Callable[[np.ndarray], np.ndarray] | None]] = [
    ("countries cn", {"countries": ["cn"]}, None),
    ("countries eu,cn (default)", {}, None),
    ("crop pad 0", {"countries": ["cn"], "crop_pad": 0.0}, None),
    ("crop pad 0.2", {"countries": ["cn"], "crop_pad": 0.2}, None),
    ("crop pad 0.35", {"countries": ["cn"], "crop_pad": 0.35}, None),
    ("with cls", {"countries": ["cn"], "use_cls": True}, None),
    ("linear upscale, not cubic", {"countries": ["cn"]}, _linear48),
    ("Otsu binarised", {"countries": ["cn"]}, _otsu),
    ("CLAHE", {"countries": ["cn"]}, _clahe),
]


Plates = list[PlateRead]


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def load_eu() -> list[tuple[str, np.ndarray, str, tuple[float, float, float, float]]]:
    out = []
    for label in sorted((DATA / "openalpr_eu").glob("*.txt")):
        name, x, y, w, h, text = label.read_text().split()
        box = (float(x), float(y), float(x) + float(w), float(y) + float(h))
        out.append((name, load_image(DATA / "openalpr_eu" / name), text, box))
    return out


def load_cn() -> list[tuple[str, np.ndarray, str]]:
    with (DATA / "lprnet_cn" / "labels.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [(r["file"], load_image(DATA / "lprnet_cn" / r["file"]), r["plate_text"]) for r in rows]


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def char_accuracy(label: str, plates: list[PlateRead]) -> float:
    if not plates:
        return 0.0
    return max(1 - edit_distance(label, p.text) / max(len(label), len(p.text)) for p in plates)


def timed(fn: Callable[[], list[PlateRead]]) -> tuple[list[PlateRead], float, float]:
    """Result, wall ms and CPU ms (all threads: steadier than wall time on a machine others share)."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, (time.perf_counter() - start) * 1000, (time.process_time() - cpu) * 1000


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    ms = sorted(r["ms"] for r in rows)
    cpu = sorted(r["cpu_ms"] for r in rows)
    out = {
        "n": n,
        "accuracy": sum(r["exact"] for r in rows) / n,
        "accuracy_folded": sum(r["folded"] for r in rows) / n,
        "top1_accuracy": sum(r["top1"] for r in rows) / n,
        "char_accuracy": sum(r["chars"] for r in rows) / n,
        "localisation_recall": sum(r["located"] for r in rows) / n,
        "ms_median": statistics.median(ms),
        "ms_p95": ms[min(n - 1, round(0.95 * (n - 1)))],
        "cpu_ms_median": statistics.median(cpu),
        "cpu_ms_p95": cpu[min(n - 1, round(0.95 * (n - 1)))],
    }
    if "det_hit" in rows[0]:
        out["text_detector_recall"] = sum(r["det_hit"] for r in rows) / n
        out["other_plates_per_photo"] = sum(r["others"] for r in rows) / n
    if "province" in rows[0]:
        out["province_accuracy"] = sum(r["province"] for r in rows) / n
        out["accuracy_without_province"] = sum(r["rest"] for r in rows) / n
    return out


def score_plates(label: str, plates: list[PlateRead], ms: float, cpu_ms: float) -> dict[str, Any]:
    folded = fold_confusables(label)
    return {
        "exact": any(p.text == label for p in plates),
        "folded": any(fold_confusables(p.text) == folded for p in plates),
        "top1": bool(plates) and plates[0].text == label,
        "chars": char_accuracy(label, plates),
        "ms": ms,
        "cpu_ms": cpu_ms,
        "read": [p.text for p in plates],
        "score": plates[0].score if plates else 0.0,
    }


def bench_eu(reader: PlateReader, data: list, read: Callable | None = None) -> dict[str, Any]:
    read = read or reader.read
    read(data[0][1])  # warm-up
    rows = []
    for name, image, label, box in data:
        plates, ms, cpu_ms = timed(functools.partial(read, image))
        row = score_plates(label, plates, ms, cpu_ms)
        folded = fold_confusables(label)
        hit = [iou(p.xyxy, box) >= 0.3 or fold_confusables(p.text) == folded for p in plates]
        row.update(file=name, label=label, located=any(hit), others=len(hit) - sum(hit))
        row["det_hit"] = any(iou(b.xyxy, box) >= 0.3 for b in reader.detector(image))
        rows.append(row)
    return {"summary": summary(rows), "rows": rows}


def bench_cn(reader: PlateReader, data: list, treat: Callable | None = None) -> dict[str, Any]:
    treat = treat or (lambda c: c)
    reader.read(treat(data[0][1]))
    rows = []
    for name, image, label in data:
        crop = treat(image)
        plates, ms, cpu_ms = timed(functools.partial(reader.read, crop))
        row = score_plates(label, plates, ms, cpu_ms)
        row.update(file=name, label=label, located=bool(plates))
        row["province"] = bool(plates) and plates[0].text[:1] == label[:1]
        row["rest"] = bool(plates) and plates[0].text[1:] == label[1:]
        rows.append(row)
    return {"summary": summary(rows), "rows": rows}


def rapidocr_scenes(settings: Settings, reader: PlateReader) -> Callable[[np.ndarray], Plates] | None:
    """Our plate selection on lines found and read by the rapidocr library with the store's models."""
    try:
        from rapidocr import RapidOCR
    except ImportError:
        return None
    store = ModelStore(settings)
    engine = RapidOCR(
        params={
            "Global.log_level": "error",
            "Global.use_cls": False,
            "Global.text_score": 0.0,
            "Det.model_path": str(store.path("ppocr-det")),
            "Rec.model_path": str(store.path("ppocr-rec")),
            "Cls.model_path": str(store.path("ppocr-cls")),
            "Det.limit_type": "max",
            "Det.limit_side_len": settings.plates.det_limit_side,
        }
    )

    def read(image: np.ndarray) -> list[PlateRead]:
        out = engine(image)
        if out.boxes is None:
            return []
        quads = [np.asarray(b, np.float32) for b in out.boxes]
        keep = [i for i, q in enumerate(quads) if reader._plate_shaped(q)]
        reads = [TextRead(out.txts[i], float(out.scores[i]), ()) for i in keep]
        return reader.select([quads[i] for i in keep], reads)

    return read


def table(results: list[dict[str, Any]]) -> str:
    head = (
        f"{'setting':28s} {'set':3s} {'acc':>5s} {'fold':>5s} {'top1':>5s} {'char':>5s} {'loc':>5s} "
        f"{'det':>5s} {'fp/img':>6s} {'ms med':>7s} {'ms p95':>7s} {'cpu med':>7s} {'cpu p95':>7s}"
    )
    lines, nan = [head, "-" * len(head)], float("nan")
    for r in results:
        s = r["summary"]
        lines.append(
            f"{r['name']:28s} {r['set']:3s} {s['accuracy']:5.2f} {s['accuracy_folded']:5.2f} "
            f"{s['top1_accuracy']:5.2f} {s['char_accuracy']:5.2f} {s['localisation_recall']:5.2f} "
            f"{s.get('text_detector_recall', nan):5.2f} {s.get('other_plates_per_photo', nan):6.2f} "
            f"{s['ms_median']:7.1f} {s['ms_p95']:7.1f} {s['cpu_ms_median']:7.1f} {s['cpu_ms_p95']:7.1f}"
        )
    return "\n".join(lines)


def main() -> None:
    eu, cn = load_eu(), load_cn()
    base = Settings.load()
    results: list[dict[str, Any]] = []
    for name, over in EU_VARIANTS:
        say(f"eu: {name} ...")
        reader = PlateReader.from_settings(Settings.load(plates=over))
        results.append({"name": name, "set": "eu", "plates": over, **bench_eu(reader, eu)})
    for name, over, treat in CN_VARIANTS:
        say(f"cn: {name} ...")
        reader = PlateReader.from_settings(Settings.load(plates=over))
        results.append({"name": name, "set": "cn", "plates": over, **bench_cn(reader, cn, treat)})
    reader = PlateReader.from_settings(Settings.load(plates={"merge_gap": 0.0, "det_min_side": 0}))
    library = rapidocr_scenes(base, reader)
    if library is not None:
        say("rapidocr library ...")
        row = bench_eu(reader, eu, library)
        results.append({"name": "rapidocr lib", "set": "eu", "plates": {"merge_gap": 0.0, "det_min_side": 0}, **row})
    else:
        say("rapidocr library not importable: comparison skipped")
    keep_rows = {("eu", EU_VARIANTS[0][0]), ("cn", CN_VARIANTS[0][0])}
    for result in results:  # per-picture rows only for the defaults: the file stays readable
        if (result["set"], result["name"]) not in keep_rows:
            result.pop("rows")
    text = table(results)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
        },
        "load_average_at_end": os.getloadavg(),  # others share the cores: wall ms suffer, CPU ms less
        "default": {"eu": EU_VARIANTS[0][0], "cn": CN_VARIANTS[0][0]},
        "table": text.splitlines(),
        "results": results,
    }
    (RESULTS / "plates.json").write_text(json.dumps(report, indent=1, ensure_ascii=False, default=float))
    say(f"wrote {RESULTS / 'plates.json'}")


#: Camera settings of the by-country section: (row, data, plates overrides). A Slovak site lists "sk" before
#: the generic "eu"; a Chinese toll gate lists only "cn"; "local prior" adds the deployment's belief that
#: most plates are from its own province (the LPRNet crops come from Anhui, 皖).
CAMERA_SETS: list[tuple[str, str, dict[str, Any]]] = [
    ("eu", "eu", {"countries": ["sk", "eu"]}),
    ("eu default", "eu", {}),
    ("cn", "cn", {"countries": ["cn"]}),
    ("cn local prior", "cn", {"countries": ["cn"], "lead_prior": {"皖": 4.0}}),
    ("cn two-row", "two-row", {"countries": ["cn"]}),
]

#: Published EU labels that contradict their own plate's format (checked by eye on the photos): a letter O
#: where the plate has the digit 0 (Slovak plates: 2 letters, 3 digits, 2 letters; UK: the age digits "09").
LABEL_FIXES = {"eu5.jpg": "OY09FEU", "test_006.jpg": "RK099AN", "test_024.jpg": "RK026AJ"}


def plate_country(label: str, candidates: list[str]) -> str:
    """The first shipped format (of ``candidates``) a label fits: which country a labelled plate is from."""
    import re

    formats = Settings.load().plates.all_formats()
    for code in candidates:
        if any(re.fullmatch(p, label) for p in formats[code]):
            return code
    return "other"


def confusions(rows: list[dict[str, Any]]) -> dict[str, int]:
    """label char -> read char counts over same-length wrong reads; '<len>' counts reads of another length."""
    out: dict[str, int] = {}
    for row in rows:
        read = row["read"][0] if row["read"] else ""
        if read == row["label"]:
            continue
        if len(read) != len(row["label"]):
            out["<len>"] = out.get("<len>", 0) + 1
            continue
        for a, b in zip(row["label"], read, strict=True):
            if a != b:
                out[f"{a}->{b}"] = out.get(f"{a}->{b}", 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def isotonic(scores: list[float], right: list[bool], grid: tuple[float, ...]) -> list[list[float]]:
    """Pool-adjacent-violators fit of P(read exactly right | score), sampled at ``grid``: the calibration
    points ``plates.calibration`` ships with."""
    order = np.argsort(scores)
    blocks: list[list[float]] = []  # [sum right, count, mean score]
    for i in order:
        blocks.append([float(right[i]), 1.0, float(scores[i])])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            b = blocks.pop()
            a = blocks[-1]
            a[2] = (a[2] * a[1] + b[2] * b[1]) / (a[1] + b[1])
            a[0] += b[0]
            a[1] += b[1]
    xs = [b[2] for b in blocks]
    ys = [b[0] / b[1] for b in blocks]
    return [[g, round(float(np.interp(g, xs, ys)), 3)] for g in grid]


def reliability(rows: list[dict[str, Any]],
                edges: tuple[float, ...] = (0.5, 0.7, 0.8, 0.9, 0.95, 1.01)) -> list[dict]:
    """Share of best reads that are exactly right per score band: what a read's score means."""
    out = []
    for lo, hi in itertools.pairwise(edges):
        band = [r for r in rows if r["read"] and lo <= r["score"] < hi]
        out.append({"score": [lo, min(hi, 1.0)], "n": len(band),
                    "exact": round(sum(r["top1"] for r in band) / len(band), 3) if band else None})
    return out


def main_by_country() -> None:
    """Whole-plate exact per camera setting and per plate country, cost per plate, confusions, calibration."""
    sys.path.insert(0, str(REPO / "tests" / "integration"))
    from test_small_objects import compose_two_row  # the same composition the two-row test reads

    eu = [(name, image, LABEL_FIXES.get(name, label), box) for name, image, label, box in load_eu()]
    cn = load_cn()
    data: dict[str, list] = {"eu": eu, "cn": cn,
                             "two-row": [(name, compose_two_row(image), label) for name, image, label in cn]}
    report: dict[str, Any] = {"camera_sets": [], "label_fixes": LABEL_FIXES,
                              "note": "measured once while the 2-core machine was shared with other work"}
    lines = [f"{'setting':15s} {'countries':9s} {'plates':>6s} {'exact':>6s} {'as pub.':>7s} {'folded':>6s} "
             f"{'ms/plate':>8s} {'cpu ms':>7s}  exact by plate country"]
    calibration_rows: list[dict[str, Any]] = []
    for name, which, overrides in CAMERA_SETS:
        say(f"{name} with {overrides} ...")
        reader = PlateReader.from_settings(Settings.load(plates=overrides))
        result = bench_eu(reader, data[which]) if which == "eu" else bench_cn(reader, data[which])
        rows = result["rows"]
        published = sum(r["exact"] and r["file"] not in LABEL_FIXES for r in rows) / len(rows)
        by_country: dict[str, list[bool]] = {}
        for row in rows:
            code = plate_country(row["label"], ["cn", "sk", "hr", "cz", "pl", "de", "it", "uk", "es", "hu"])
            by_country.setdefault(code, []).append(bool(row["exact"]))
        summary_ = {**result["summary"], "accuracy_as_published": published}
        per = {k: {"n": len(v), "exact": round(sum(v) / len(v), 3)} for k, v in sorted(by_country.items())}
        report["camera_sets"].append({"setting": name, "plates": overrides, "summary": summary_,
                                      "by_plate_country": per, "confusions": confusions(rows),
                                      "rows": [{k: r[k] for k in ("file", "label", "read", "score", "exact")}
                                               for r in rows]})
        if name in ("eu", "cn"):
            calibration_rows += rows
        lines.append(f"{name:15s} {','.join(overrides.get('countries', ['eu', 'cn'])):9s} {summary_['n']:6d} "
                     f"{summary_['accuracy']:6.2f} {published:7.2f} {summary_['accuracy_folded']:6.2f} "
                     f"{summary_['ms_median']:8.1f} {summary_['cpu_ms_median']:7.1f}  "
                     + ", ".join(f"{k} {v['exact']:.2f} ({v['n']})" for k, v in per.items()))
    print("\n".join(lines))
    for entry in report["camera_sets"]:
        top = list(entry["confusions"].items())[:12]
        print(f"\nconfusions ({entry['setting']}): " + (", ".join(f"{k} x{v}" for k, v in top) or "none"))
    read = [r for r in calibration_rows if r["read"]]
    grid = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0)
    report["calibration"] = isotonic([r["score"] for r in read], [bool(r["top1"]) for r in read], grid)
    report["reliability"] = reliability(calibration_rows)
    print("\nbest-read score band -> share exactly right: " + ", ".join(
        f"{b['score'][0]:.2f}-{b['score'][1]:.2f}: {b['exact']} ({b['n']})" for b in report["reliability"]))
    print(f"isotonic calibration (score, P(right)) on {len(read)} reads: {report['calibration']}")
    report["table"] = lines
    report["load_average_at_end"] = os.getloadavg()
    (RESULTS / "plates_by_country.json").write_text(json.dumps(report, indent=1, ensure_ascii=False, default=float))
    say(f"wrote {RESULTS / 'plates_by_country.json'}")


if __name__ == "__main__":
    if "--by-country" in sys.argv:
        main_by_country()
    else:
        main()
