"""Bench: forensic search latency on synthetic stores of 10 k, 100 k and 1 M sightings built from real vectors.

Real vectors: face embeddings of the shared face photos (deepface, 13 identities, and face_recognition
examples) from the configured embedder, and appearance vectors of person crops cut from PETS09-S2L1 at
its ground-truth boxes. Each synthetic sighting copies one of them with small Gaussian noise (faces: cosine
to the original ~0.95, like two frames of one person), on one of 20 cameras, at a random time in 30 days,
with random colours and (vehicles) plates from a pool, so plates repeat as real ones do.

Stores are SQLite files under a temporary folder, bulk-loaded with executemany in 20 k-row batches (the
product's ``SightingStore`` writes ~5 k rows/s with RETURNING, too slow to build 1 M rows here). Queries go
through the real ``SightingSearch.search`` (audit entry included). Measured per size: build time, database
size on disk, vector-cache build time and memory, and latency (median, p95 over 60 queries, caches warm)
of: filter-only (camera + 1-day window + class + colour), face similarity over everything, face + filters
(3 cameras, 7 days, class), look-alike + colour, exact plate, fuzzy plate (1 edit). Face top-1 identity
accuracy checks that the answers are right, not only fast.

Also "reid": how well the appearance vector retrieves people, on PETS ground-truth crops (first half of
each person's crops as queries, second half as gallery): crop rank-1, mAP and track-level rank-1.

The machine is shared: latencies are only comparable at a low load average (written to the JSON;
the committed run was taken at a load of about 1.5 on 2 cores; at a load of 8-12 the 1 M medians were
3-5x higher). Writes bench/results/search.json.
Run: ``.venv/bin/python bench/search.py [--sizes 10000,100000,1000000]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from watchnet.core.config import Settings
from watchnet.services.search import SearchQuery, SightingSearch
from watchnet.store.db import make_engine, migrate
from watchnet.store.sightings import APPEARANCE, FACE, plate_key
from watchnet.vision.analysis.describe import appearance_embedding
from watchnet.vision.analysis.faces import FaceAnalyzer, load_image

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("WATCHNET_SHARED_DATA", REPO.parent / "shared" / "data"))
PETS = DATA / "tracking" / "pets09_s2l1"
PALETTE = ["black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "beige"]
LABELS = ["person", "car", "truck", "bus", "bicycle", "motorcycle"]
LABEL_P = [0.70, 0.20, 0.04, 0.02, 0.02, 0.02]
CAMERAS, DAYS, QUERIES, BATCH = 20, 30, 60, 20_000
FACE_SHARE, FACE_NOISE, APPEARANCE_NOISE = 0.3, 0.025, 0.02


def real_faces(settings: Settings) -> tuple[np.ndarray, list[str]]:
    """Embeddings and identities of every shared face photo with one detectable face."""
    analyzer = FaceAnalyzer(settings)
    items: list[tuple[Path, str]] = []
    with open(DATA / "faces" / "deepface" / "identities.csv") as f:
        items += [(DATA / "faces" / "deepface" / r["file"], r["identity"]) for r in csv.DictReader(f)]
    train = DATA / "faces" / "face_recognition" / "knn_examples" / "train"
    items += [(p, p.parent.name) for p in sorted(train.glob("*/*"))]
    vectors, names = [], []
    for path, who in items:
        image = load_image(path)
        faces = analyzer.detect(image)
        if not faces:
            continue
        best = max(faces, key=lambda f: (f.xyxy[2] - f.xyxy[0]) * (f.xyxy[3] - f.xyxy[1]))
        analyzer.embed(image, [best])
        if best.embedding is not None:
            vectors.append(best.embedding)
            names.append(who)
    return np.stack(vectors).astype(np.float32), names


def pets_crops() -> dict[int, list[np.ndarray]]:
    """Person crops at PETS ground-truth boxes (every 5th frame, whole boxes only), by person id."""
    boxes: dict[int, list[tuple[int, float, float, float, float]]] = defaultdict(list)
    for frame in ET.parse(PETS / "PETS2009-S2L1.xml").getroot().iter("frame"):
        n = int(frame.get("number", "0"))
        if n % 5:
            continue
        for obj in frame.iter("object"):
            b = obj.find("box")
            assert b is not None
            h, w, xc, yc = (float(b.get(k, "0")) * 0.625 for k in ("h", "w", "xc", "yc"))
            boxes[n].append((int(obj.get("id", "0")), xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2))
    crops: dict[int, list[np.ndarray]] = defaultdict(list)
    video = cv2.VideoCapture(str(PETS / "pets09_s2l1_view001_480x360_10fps.avi"))
    index = 0
    while True:
        ok, image = video.read()
        if not ok:
            break
        for pid, x1, y1, x2, y2 in boxes.get(index, []):
            x1, y1, x2, y2 = max(0, int(x1)), max(0, int(y1)), min(480, int(x2)), min(360, int(y2))
            if x2 - x1 >= 12 and y2 - y1 >= 30 and x1 > 1 and x2 < 479 and y2 < 359:
                crops[pid].append(image[y1:y2, x1:x2].copy())
        index += 1
    return crops


def reid_quality(crops: dict[int, list[np.ndarray]]) -> dict[str, float]:
    """Crop rank-1 / mAP and track-level rank-1 of the appearance vector on PETS people."""
    q_vec: list[np.ndarray] = []
    g_vec: list[np.ndarray] = []
    q_id: list[int] = []
    g_id: list[int] = []
    for pid, items in crops.items():
        half = len(items) // 2
        for i, crop in enumerate(items):
            (q_vec if i < half else g_vec).append(appearance_embedding(crop))
            (q_id if i < half else g_id).append(pid)
    Q, G, qi, gi = np.stack(q_vec), np.stack(g_vec), np.array(q_id), np.array(g_id)
    relevant = gi[np.argsort(-(Q @ G.T), axis=1)] == qi[:, None]
    aps = [float((np.cumsum(r)[r] / (np.flatnonzero(r) + 1)).mean()) for r in relevant]
    people = sorted(crops)

    def track(m: np.ndarray, ids: np.ndarray) -> np.ndarray:
        t = np.stack([m[ids == p].mean(0) for p in people])
        return t / np.linalg.norm(t, axis=1, keepdims=True)

    track_rank1 = float((np.argmax(track(Q, qi) @ track(G, gi).T, 1) == np.arange(len(people))).mean())
    return {"people": len(people), "query_crops": len(qi), "gallery_crops": len(gi),
            "crop_rank1": round(float(relevant[:, 0].mean()), 3), "crop_mAP": round(float(np.mean(aps)), 3),
            "track_rank1": round(track_rank1, 3), "chance_rank1": round(1 / len(people), 3)}


def _noisy(base: np.ndarray, picks: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    out = base[picks] + rng.normal(0, sigma, (picks.size, base.shape[1])).astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def build(path: Path, n: int, faces: np.ndarray, looks: np.ndarray, now: datetime, seed: int = 0) -> dict[str, Any]:
    """A synthetic store of ``n`` sightings; returns timings and the plate pool."""
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    rng = np.random.default_rng(seed)
    raw = engine.raw_connection()
    cur = raw.cursor()
    started = time.perf_counter()
    cur.execute("BEGIN")
    cur.executemany("INSERT INTO cameras (id, name, url, created_at) VALUES (?, ?, '', ?)",
                    [(c + 1, f"cam{c:02d}", now.replace(tzinfo=None).isoformat(" ")) for c in range(CAMERAS)])
    pool = ["".join(rng.choice(list("ABCDEFGHJKLMNPRSTVXYZ"), 2)) + f"{rng.integers(100, 999)}"
            + "".join(rng.choice(list("ABCDEFGHJKLMNPRSTVXYZ"), 2)) for _ in range(max(n // 20, 10))]
    for start in range(0, n, BATCH):
        size = min(BATCH, n - start)
        ids = np.arange(start + 1, start + size + 1)
        labels = rng.choice(len(LABELS), size, p=LABEL_P)
        first_us = int(now.timestamp() * 1e6) - DAYS * 86_400_000_000 + rng.integers(0, DAYS * 86_400_000_000, size)
        last_us = first_us + rng.integers(2_000_000, 120_000_000, size)
        first_txt, last_txt = (  # SQLAlchemy's SQLite text form of naive UTC datetimes
            np.char.replace(np.datetime_as_string(v.astype("datetime64[us]"), unit="us"), "T", " ")
            for v in (first_us, last_us)
        )
        cams = rng.integers(1, CAMERAS + 1, size)
        colours = rng.integers(0, len(PALETTE), (size, 3))
        has_face = (labels == 0) & (rng.random(size) < FACE_SHARE)
        has_plate = (labels != 0) & (labels < 4) & (rng.random(size) < 0.8)
        plates = rng.integers(0, len(pool), size)
        rows, vectors = [], []
        face_picks = rng.integers(0, len(faces), size)
        look_picks = rng.integers(0, len(looks), size)
        face_vecs = _noisy(faces, face_picks[has_face], FACE_NOISE, rng)
        look_vecs = _noisy(looks, look_picks[labels == 0], APPEARANCE_NOISE, rng)
        fi = li = 0
        for k in range(size):
            person = labels[k] == 0
            upper, lower = (PALETTE[colours[k, 0]], PALETTE[colours[k, 1]]) if person else (None, None)
            vcol = None if person else PALETTE[colours[k, 2]]
            plate = pool[plates[k]] if has_plate[k] else None
            attrs = {"upper_colour": upper, "lower_colour": lower} if person else {"colour": vcol}
            rows.append((int(ids[k]), int(cams[k]), int(ids[k]), LABELS[labels[k]], str(first_txt[k]), str(last_txt[k]),
                         upper, lower, vcol, plate, plate_key(plate), 0.9 if plate else None,
                         f"thumbnails/cam{cams[k]:02d}/{ids[k]}.jpg", json.dumps(attrs)))
            if person:
                vectors.append((int(ids[k]), APPEARANCE, 128, look_vecs[li].astype("<f4").tobytes()))
                li += 1
            if has_face[k]:
                vectors.append((int(ids[k]), FACE, faces.shape[1], face_vecs[fi].astype("<f4").tobytes()))
                fi += 1
        cur.executemany(
            "INSERT INTO sightings (id, camera_id, track_id, label, first_seen, last_seen, upper_colour, "
            "lower_colour, vehicle_colour, plate, plate_key, plate_score, thumbnail_path, attributes) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        cur.executemany("INSERT INTO sighting_vectors (sighting_id, kind, dim, vector) VALUES (?, ?, ?, ?)", vectors)
    cur.execute("COMMIT")
    cur.execute("ANALYZE")
    raw.close()
    engine.dispose()
    return {"build_s": round(time.perf_counter() - started, 1), "pool": pool}


def _timed(fn: Any) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t) * 1000, out


def measure(path: Path, settings: Settings, faces: np.ndarray, names: list[str], looks: np.ndarray,
            pool: list[str], now: datetime) -> dict[str, Any]:
    engine = make_engine(f"sqlite:///{path}")
    api = SightingSearch(engine, settings)
    out: dict[str, Any] = {"db_mb": round(path.stat().st_size / 2**20, 1)}
    for kind in (FACE, APPEARANCE):
        ms, _ = _timed(lambda k=kind: api.caches[k].refresh(engine))
        out[f"{kind}_cache_s"] = round(ms / 1000, 2)
        out[f"{kind}_vectors"] = int(api.caches[kind].ids.size)
        out[f"{kind}_cache_mb"] = round(api.caches[kind].nbytes / 2**20, 1)
    ms, _ = _timed(lambda: api.plates.refresh(engine))
    out["plate_index_s"] = round(ms / 1000, 2)
    rng = np.random.default_rng(1)
    by_identity: dict[str, list[int]] = defaultdict(list)
    for i, who in enumerate(names):
        by_identity[who].append(i)
    pairs = [(i, j) for ids in by_identity.values() for i in ids for j in ids if i != j]

    def window(days: float) -> tuple[datetime, datetime]:
        start = now - timedelta(days=float(rng.uniform(days, DAYS)))
        return start, start + timedelta(days=days)

    def q_filter() -> SearchQuery:
        since, until = window(1)
        return SearchQuery(cameras=(f"cam{rng.integers(CAMERAS):02d}",), since=since, until=until, label="person",
                           upper_colour=str(rng.choice(PALETTE)))

    def q_face() -> tuple[SearchQuery, str]:
        i, j = pairs[rng.integers(len(pairs))]
        return SearchQuery(face=faces[j], limit=10), names[i]

    def q_combined() -> SearchQuery:
        since, until = window(7)
        cams = tuple(f"cam{c:02d}" for c in rng.choice(CAMERAS, 3, replace=False))
        return SearchQuery(face=faces[rng.integers(len(faces))], cameras=cams, since=since, until=until,
                           label="person", limit=10)

    def q_like() -> SearchQuery:
        return SearchQuery(like=looks[rng.integers(len(looks))], upper_colour=str(rng.choice(PALETTE)), limit=10)

    def q_plate(fuzzy: bool) -> SearchQuery:
        text = pool[rng.integers(len(pool))]
        if fuzzy:
            k = int(rng.integers(len(text)))
            text = text[:k] + ("X" if text[k] != "X" else "Y") + text[k + 1:]
        return SearchQuery(plate=text, fuzzy=fuzzy)

    cases: dict[str, Any] = {
        "filter": q_filter, "face": q_face, "face+filters": q_combined, "like+colour": q_like,
        "plate": lambda: q_plate(False), "plate~1": lambda: q_plate(True),
    }
    # a face is "right" when the top hit copies a photo of the probe's identity
    face_rows = _face_identity(engine, faces, names)
    for name, make in cases.items():
        times, right, found = [], 0, []
        for _ in range(QUERIES):
            made = make()
            query, who = made if isinstance(made, tuple) else (made, None)
            ms, page = _timed(lambda q=query: api.search(q, actor="bench", reason="latency bench"))
            times.append(ms)
            found.append(page.total if page.total is not None else len(page.results))
            if who is not None and page.results:
                right += face_rows.get(page.results[0].id) == who
        out[name] = {"median_ms": round(statistics.median(times), 1),
                     "p95_ms": round(float(np.percentile(times, 95)), 1), "median_found": statistics.median(found)}
        if name == "face":
            out[name]["top1_identity"] = round(right / QUERIES, 3)
    engine.dispose()
    return out


def _face_identity(engine: Any, faces: np.ndarray, names: list[str]) -> dict[int, str]:
    """Sighting id -> identity of the real face its vector was copied from (nearest original)."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT sighting_id, vector FROM sighting_vectors WHERE kind = 'face'")).all()
    if not rows:
        return {}
    matrix = np.frombuffer(b"".join(r[1] for r in rows), "<f4").reshape(len(rows), -1)
    nearest = np.argmax(matrix @ faces.T, axis=1)
    return {int(r[0]): names[k] for r, k in zip(rows, nearest, strict=True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="watchnet-search-bench-"))
    settings = Settings.load(home=work / "home", identity_mode="keep-embeddings")
    t = time.perf_counter()
    faces, names = real_faces(settings)
    crops = pets_crops()
    looks = np.stack([appearance_embedding(c) for items in crops.values() for c in items])
    print(f"real vectors: {len(faces)} faces ({len(set(names))} people), {len(looks)} person crops "
          f"({time.perf_counter() - t:.0f} s)", file=sys.stderr)
    reid = reid_quality(crops)
    now = datetime.now(UTC)
    results = []
    for n in sizes:
        path = work / f"sightings_{n}.db"
        built = build(path, n, faces, looks, now)
        print(f"built {n} sightings in {built['build_s']} s", file=sys.stderr)
        row = {"sightings": n, "build_s": built["build_s"],
               **measure(path, settings, faces, names, looks, built["pool"], now)}
        results.append(row)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    _print(results, reid)
    out = {"bench": "search", "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                          "platform": platform.platform(),
                                          "load_avg_1m_at_end": round(os.getloadavg()[0], 2)},
           "embedder": settings.faces.embedder, "face_dim": int(faces.shape[1]), "appearance_dim": int(looks.shape[1]),
           "queries_per_case": QUERIES, "reid": reid, "sizes": results}
    target = REPO / "bench" / "results" / "search.json"
    target.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {target.relative_to(REPO)}", file=sys.stderr)


def _print(results: list[dict[str, Any]], reid: dict[str, float]) -> None:
    cases = ["filter", "face", "face+filters", "like+colour", "plate", "plate~1"]
    head = f"{'sightings':>10} {'build s':>8} {'db MB':>7} {'face/app vec':>13} {'cache s':>8} {'cache MB':>9}"
    print(head + "".join(f" {c + ' ms':>16}" for c in cases) + "  face top-1")
    for r in results:
        vectors = f"{r['face_vectors']}/{r['appearance_vectors']}"
        cache_s = r["face_cache_s"] + r["appearance_cache_s"] + r["plate_index_s"]
        cache_mb = r["face_cache_mb"] + r["appearance_cache_mb"]
        line = f"{r['sightings']:>10} {r['build_s']:>8} {r['db_mb']:>7} {vectors:>13} {cache_s:>8.2f} {cache_mb:>9.1f}"
        line += "".join(f" {str(r[c]['median_ms']) + ' / ' + str(r[c]['p95_ms']):>16}" for c in cases)
        print(line + f"  {r['face']['top1_identity']}")
    print(f"(latency: median / p95 over {QUERIES} queries; cache = face + appearance matrices + plate index)")
    print("reid on PETS GT crops: " + ", ".join(f"{k}={v}" for k, v in reid.items()))


if __name__ == "__main__":
    main()
