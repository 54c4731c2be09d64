"""Pipeline benchmark on the PETS 2009 S2.L1 video (795 frames, 480x360, 10 fps) with its ground truth.

Measures, on this machine:
- decode-only fps (PyAV), detector ms per frame per available detector, tracker ms per update;
- detection precision/recall (every frame, confident person boxes, IoU 0.5) per detector;
- tracking HOTA/MOTA/IDF1 per detector and stride (the shipped default is stride 2 + motion gate);
- end-to-end fps for 1, 2, 4 and 8 concurrent cameras, offline (as fast as possible) and live
  (each camera paced at 10 fps, latest frame wins): the share of frames processed and the lag.
- high resolution (bench/highres.py): people in 1920x1080 MOT17-02/-04 frames per detector and search
  mode (whole frame, tiles, motion regions): recall, precision, false detections and cost per frame.
Prints a table, writes bench/results/pipeline.json and a trajectory picture pipeline_tracks.png
(``--highres-only``: just the high-resolution section, to bench/results/pipeline_highres.json).

Usage: python bench/pipeline.py [--quick] [--detectors nanodet,centernet] [--live-seconds 30] [--highres-only]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from watchnet.core.config import CameraConfig, Settings
from watchnet.core.records import CLASS_ID, Frame
from watchnet.runtime.runner import Runner, RunOptions
from watchnet.vision.analysis.detect import Detector
from watchnet.vision.analysis.track import CameraTracker
from watchnet.vision.evaluation import gt_boxes_by_frame, match_counts, tracking_metrics
from watchnet.vision.models.detectors import open_detector
from watchnet.vision.models.store import ModelStore
from watchnet.vision.mot import MotWriter, cvml_to_mot, read_mot
from watchnet.vision.pipeline import CameraPipeline
from watchnet.vision.sources.factory import open_source

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("WATCHNET_SHARED_DATA", REPO.parent / "shared" / "data"))
PETS = DATA / "tracking" / "pets09_s2l1" / "pets09_s2l1_view001_480x360_10fps.avi"
PETS_GT = DATA / "tracking" / "pets09_s2l1" / "PETS2009-S2L1.xml"
RESULTS = REPO / "bench" / "results"


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def load_frames(settings: Settings) -> list[np.ndarray]:
    with open_source(CameraConfig(name="pets", url=str(PETS)), settings.stream) as source:
        return [f.image for f in source.frames()]


def bench_decode(settings: Settings, repeats: int) -> dict[str, float]:
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        with open_source(CameraConfig(name="pets", url=str(PETS)), settings.stream) as source:
            count = sum(1 for _ in source.frames())
        rates.append(count / (time.perf_counter() - started))
    return {"decode_fps_median": round(statistics.median(rates), 1), "frames": count}


def bench_detector(settings: Settings, name: str, frames: list[np.ndarray], gt: dict[int, np.ndarray],
                   repeats: int) -> dict[str, object]:
    detector = Detector(open_detector(ModelStore(settings).path(name), name, settings.runtime,
                                      settings.detector.input_size), settings.detector)
    sample = frames[:: max(1, len(frames) // 30)][:30]
    detector.detect([sample[0]])  # warm-up
    per_frame = []
    for _ in range(repeats):
        for image in sample:
            started = time.perf_counter()
            detector.detect([image])
            per_frame.append((time.perf_counter() - started) * 1000)
    tp = fp = fn = 0
    detections = []
    for index, image in enumerate(frames):
        det = detector.detect([image])[0]
        detections.append(det)
        person = det[(det.class_id == CLASS_ID["person"]) & det.data["confident"]] if len(det) else det
        t, f, n = match_counts(gt.get(index + 1, np.zeros((0, 4))), person.xyxy)
        tp, fp, fn = tp + t, fp + f, fn + n
    return {
        "detector": name,
        "input_hw": list(detector.family.input_hw),
        "ms_per_frame_median": round(statistics.median(per_frame), 1),
        "ms_per_frame_p95": round(float(np.percentile(per_frame, 95)), 1),
        "precision": round(tp / max(tp + fp, 1), 3),
        "recall": round(tp / max(tp + fn, 1), 3),
        "_detections": detections,
    }


def bench_tracker(settings: Settings, detections: list) -> dict[str, float]:
    tracker = CameraTracker("pets", settings.tracker, 10.0)
    times = []
    for index, det in enumerate(detections):
        frame = Frame("pets", index, index / 10, 1e9 + index / 10, np.zeros((1, 1, 3), np.uint8))
        started = time.perf_counter()
        tracker.update(frame, det)
        times.append((time.perf_counter() - started) * 1000)
    return {"tracker_ms_median": round(statistics.median(times), 3),
            "tracker_ms_p95": round(float(np.percentile(times, 95)), 3)}


def bench_tracking(settings: Settings, name: str, frames: list[np.ndarray], gt_file: Path,
                   stride: int, gate: bool, workdir: Path, detector: Detector) -> dict[str, object]:
    tuned = settings.model_copy(update={"detector": settings.detector.model_copy(
        update={"stride": stride, "motion_gate": gate})})
    pipeline = CameraPipeline(CameraConfig(name="pets", url=str(PETS)), tuned,
                              lambda image: detector.detect([image])[0], fps=10.0)
    out = workdir / f"{name}-s{stride}-g{int(gate)}.txt"
    writer = MotWriter(out)
    detected = 0
    started = time.perf_counter()
    for index, image in enumerate(frames):
        result = pipeline.process(Frame("pets", index, index / 10, 1e9 + index / 10, image))
        writer.write(index, result.tracked)
        detected += int(result.detected)
    elapsed = time.perf_counter() - started
    writer.close()
    return {"detector": name, "stride": stride, "motion_gate": gate, "detected_frames": detected,
            "fps_decoded_frames_excluded": round(len(frames) / elapsed, 1),
            **tracking_metrics(gt_file, out), "_mot": out}


def bench_concurrency(settings: Settings, cameras: int, live: bool, seconds: float,
                      max_frames: int) -> dict[str, object]:
    cams = [CameraConfig(name=f"cam{i}", url=str(PETS), live=live) for i in range(cameras)]
    tuned = settings.model_copy(update={"cameras": cams})
    runner = Runner(tuned, Detector.from_settings(tuned), recorder=None,
                    options=RunOptions(max_frames=None if live else max_frames))
    if live:
        threading.Timer(seconds, runner.stop.set).start()
    summary = runner.run()
    per_camera = [c["fps"] for c in summary["cameras"]]
    frames = sum(c["frames"] for c in summary["cameras"])
    row: dict[str, object] = {
        "cameras": cameras, "mode": "live" if live else "offline",
        "total_fps": round(frames / summary["elapsed_s"], 1),
        "per_camera_fps_median": round(statistics.median(per_camera), 2),
        "detector_calls": summary["detector_calls"],
    }
    if live:
        dropped = sum(c["dropped"] for c in summary["cameras"])
        row["processed_share"] = round(frames / max(frames + dropped, 1), 3)
        row["frames_behind_per_camera"] = round(dropped / cameras, 1)
        lags = [c["lag_ms_p95"] for c in summary["cameras"] if c["lag_ms_p95"] is not None]
        row["lag_ms_p95_median"] = round(statistics.median(lags), 1) if lags else None
    return row


def run_concurrency(settings: Settings, counts: tuple[int, ...], live_s: float) -> list[dict[str, object]]:
    rows = []
    for live in (False, True):
        for n in counts:
            say(f"{n} camera(s), {'live' if live else 'offline'}, {settings.detector.model} ...")
            rows.append(bench_concurrency(settings, n, live, live_s, max_frames=300))
    return rows


def draw_tracks(frame: np.ndarray, mot_file: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = read_mot(mot_file)
    fig, ax = plt.subplots(figsize=(8, 6), dpi=80)
    ax.imshow(frame[:, :, ::-1])
    rng = np.random.default_rng(0)
    for tid in np.unique(data[:, 1]):
        rows = data[data[:, 1] == tid]
        cx, cy = rows[:, 2] + rows[:, 4] / 2, rows[:, 3] + rows[:, 5]
        ax.plot(cx, cy, lw=1.5, color=rng.random(3))
    ax.set_title(f"PETS S2.L1: {len(np.unique(data[:, 1]))} person tracks (feet positions), watchnet default")
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 1/2/4 cameras, short live runs")
    parser.add_argument("--detectors", default="nanodet,centernet")
    parser.add_argument("--live-seconds", type=float, default=30.0)
    parser.add_argument("--concurrency-only", metavar="DETECTOR",
                        help="only the 1-8 camera runs with this detector (pipeline_concurrency_<DETECTOR>.json)")
    parser.add_argument("--highres-only", action="store_true", help="only the 1080p section (pipeline_highres.json)")
    args = parser.parse_args()
    repeats = 1 if args.quick else 3
    settings = Settings.load(home=Path(tempfile.mkdtemp(prefix="watchnet-bench-")))
    if args.highres_only:
        import highres

        ModelStore(settings).pull([d for d in args.detectors.split(",") if d], progress=say)
        section = highres.run(settings, DATA, [d for d in args.detectors.split(",") if d], say)
        section["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(),
                              "load_average_at_end": list(os.getloadavg()),
                              "note": "measured while the 2-core machine was shared with other work"}
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "pipeline_highres.json").write_text(json.dumps(section, indent=2) + "\n")
        highres.print_table(section)
        return
    if args.concurrency_only:
        settings = settings.model_copy(update={"detector": settings.detector.model_copy(
            update={"model": args.concurrency_only})})
        ModelStore(settings).pull([args.concurrency_only], progress=say)
        rows = run_concurrency(settings, (1, 2, 4, 8), args.live_seconds)
        out = {"detector": args.concurrency_only, "concurrency": rows}
        (RESULTS / f"pipeline_concurrency_{args.concurrency_only}.json").write_text(json.dumps(out, indent=2) + "\n")
        print_concurrency(rows)
        return
    ModelStore(settings).pull([d for d in args.detectors.split(",") if d], progress=say)

    say("decoding ...")
    report: dict[str, object] = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform()}}
    report["decode"] = bench_decode(settings, repeats)
    frames = load_frames(settings)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        gt_file = work / "gt.txt"
        cvml_to_mot(PETS_GT, gt_file, scale=0.625)
        gt = gt_boxes_by_frame(read_mot(gt_file))
        detector_rows, tracking_rows = [], []
        for name in [d for d in args.detectors.split(",") if d]:
            say(f"detector {name} ...")
            row = bench_detector(settings, name, frames, gt, repeats)
            detections = row.pop("_detections")
            detector_rows.append(row)
            if name == settings.detector.model:
                report["tracker"] = bench_tracker(settings, detections)
            detector = Detector(open_detector(ModelStore(settings).path(name), name, settings.runtime,
                                              settings.detector.input_size), settings.detector)
            for stride, gate in ((1, False), (2, True), (3, True)):
                say(f"tracking {name} stride={stride} gate={gate} ...")
                result = bench_tracking(settings, name, frames, gt_file, stride, gate, work, detector)
                mot = result.pop("_mot")
                if name == settings.detector.model and stride == settings.detector.stride:
                    draw_tracks(frames[0], mot, RESULTS / "pipeline_tracks.png")
                tracking_rows.append(result)
        report["detectors"] = detector_rows
        report["tracking"] = tracking_rows
    counts = (1, 2, 4) if args.quick else (1, 2, 4, 8)
    live_s = min(args.live_seconds, 15.0) if args.quick else args.live_seconds
    report["concurrency"] = run_concurrency(settings, counts, live_s)
    import highres

    report["high_resolution"] = highres.run(settings, DATA, [d for d in args.detectors.split(",") if d], say)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "pipeline.json").write_text(json.dumps(report, indent=2) + "\n")
    print_tables(report)


def print_tables(report: dict) -> None:
    print(f"\ndecode-only: {report['decode']['decode_fps_median']} fps (median of runs, PyAV, 480x360)")
    if "tracker" in report:
        print(f"tracker: {report['tracker']['tracker_ms_median']} ms per update (median)")
    print("\n| detector | input | ms/frame (median) | p95 | precision | recall |")
    print("|---|---|---|---|---|---|")
    for r in report["detectors"]:
        print(f"| {r['detector']} | {r['input_hw']} | {r['ms_per_frame_median']} | {r['ms_per_frame_p95']} "
              f"| {r['precision']} | {r['recall']} |")
    print("\n| detector | stride | gate | detected frames | fps | HOTA | MOTA | IDF1 | IDSW |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in report["tracking"]:
        print(f"| {r['detector']} | {r['stride']} | {r['motion_gate']} | {r['detected_frames']} | "
              f"{r['fps_decoded_frames_excluded']} | {r['HOTA']} | {r['MOTA']} | {r['IDF1']} | {r['IDSW']} |")
    print_concurrency(report["concurrency"])
    if "high_resolution" in report:
        import highres

        highres.print_table(report["high_resolution"])


def print_concurrency(rows: list[dict]) -> None:
    print("\n| cameras | mode | total fps | per-camera fps (median) | processed share | dropped/camera | lag p95 ms |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['cameras']} | {r['mode']} | {r['total_fps']} | {r['per_camera_fps_median']} | "
              f"{r.get('processed_share', '-')} | {r.get('frames_behind_per_camera', '-')} | "
              f"{r.get('lag_ms_p95_median', '-')} |")


if __name__ == "__main__":
    main()
