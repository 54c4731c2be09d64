"""Viewer blur bench: what hiding every face in the viewers' live picture costs, and whether any face leaks.

On the Hamilton clip (large faces, scene cuts) and PETS09 (small people, many boxes), frames go through
the real pipeline (detector + tracker) and then through ``LiveHub`` as the console renders them: the
``full`` picture (operators) and the ``private`` one (viewers) with ``exports.live_face_every`` = 1
(a face search on every rendered frame), 3 (the default) and 5. Per frame: render time (median, p95)
and how many faces the system's own detector + quality gate still finds in the viewer's picture
(``leaks``; the full picture's count is the reference). Prints a table, writes bench/results/viewer_blur.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from watchnet.core.config import CameraConfig, Settings  # noqa: E402
from watchnet.core.records import Frame  # noqa: E402
from watchnet.services.live import LiveHub  # noqa: E402
from watchnet.vision.analysis.blur import ViewerBlur  # noqa: E402
from watchnet.vision.analysis.detect import Detector  # noqa: E402
from watchnet.vision.analysis.faces import FaceAnalyzer  # noqa: E402
from watchnet.vision.pipeline import CameraPipeline, FrameResult  # noqa: E402

DATA = REPO.parent / "shared" / "data"
CLIPS = {
    "hamilton": (DATA / "faces/face_recognition/short_hamilton_clip.mp4", 29.97),
    "pets09": (DATA / "tracking/pets09_s2l1/pets09_s2l1_view001_480x360_10fps.avi", 10.0),
}


def decode(path: Path, count: int) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            out.append(frame.to_ndarray(format="bgr24"))
            if len(out) == count:
                break
    return out


def results(settings: Settings, detector: Detector, name: str, frames: list[np.ndarray],
            fps: float) -> list[FrameResult]:
    pipeline = CameraPipeline(CameraConfig(name=name, url=name), settings, lambda image: detector.detect([image])[0],
                              fps=fps)
    return [pipeline.process(Frame(name, i, i / fps, 1e9 + i / fps, image)) for i, image in enumerate(frames)]


def measure(settings: Settings, faces: FaceAnalyzer, done: list[FrameResult], variant: str,
            every: int) -> dict[str, object]:
    cfg = settings.exports.model_copy(update={"live_face_every": every})
    hub = LiveHub(settings.api, cfg, ViewerBlur(cfg, lambda: faces))
    times, leaks, usable = [], 0, 0
    for result in done:
        hub.publish(result)
        started = time.perf_counter()
        data = hub.jpeg(result.frame.camera, variant)  # type: ignore[arg-type]
        times.append((time.perf_counter() - started) * 1000)
        assert data is not None
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        found = sum(faces.passes_quality(f) for f in faces.detect(np.asarray(image)))
        usable += int(found > 0)
        leaks += found
    return {"variant": variant, "live_face_every": every if variant == "private" else None,
            "render_ms_median": round(statistics.median(times), 1),
            "render_ms_p95": round(float(np.percentile(times, 95)), 1),
            "faces_passing_gate": leaks, "frames_with_such_faces": usable, "frames": len(done)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=150)
    args = parser.parse_args()
    settings = Settings.load()
    detector = Detector.from_settings(settings)
    faces = FaceAnalyzer(settings)
    rows = []
    for name, (path, fps) in CLIPS.items():
        done = results(settings, detector, name, decode(path, args.frames), fps)
        rows.append({"clip": name, **measure(settings, faces, done, "full", 1)})
        for every in (1, 3, 5):
            rows.append({"clip": name, **measure(settings, faces, done, "private", every)})
    header = f"{'clip':9} {'variant':8} {'every':>5} {'ms med':>7} {'ms p95':>7} {'faces':>6} {'frames':>7}"
    print(header)
    for r in rows:
        print(f"{r['clip']:9} {r['variant']:8} {r['live_face_every'] or '-':>5} {r['render_ms_median']:>7} "
              f"{r['render_ms_p95']:>7} {r['faces_passing_gate']:>6} {r['frames_with_such_faces']:>7}")
    out = REPO / "bench" / "results" / "viewer_blur.json"
    out.write_text(json.dumps({
        "note": "render = draw + blur + JPEG of one live frame in the API; faces = faces the system's own detector "
                "finds in the rendered picture that pass the matching quality gate (full = reference). Measured "
                "on 2 CPU cores shared with other work, so times are upper bounds.",
        "machine": platform.platform(), "frames_per_clip": args.frames, "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
