"""Runs many cameras at once: one thread per camera, one shared detector, one batched store writer.

Why threads and one detector: on a CPU the detector is the scarce resource; two ONNX Runtime sessions
running at once on two cores only thrash. One ``DetectorService`` owns the model, collects the frames
that camera threads submit and runs them back to back (or as one batch where the model allows), so
cameras share it fairly. Decoding (PyAV) and inference (ONNX Runtime) release the GIL, so threads
overlap them. A camera that fails (bad file, dead stream) ends its own thread and is reported; the
others go on. The store is written by one thread in batches (about once a second), never per frame.
On stop (Ctrl-C) cameras close their live tracks, the writer drains its queue, and the run is closed:
nothing already seen is lost.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import supervision as sv

from watchnet.analysis.detect import Detector
from watchnet.config import CameraConfig, Settings
from watchnet.errors import WatchnetError
from watchnet.mot import MotWriter
from watchnet.pipeline import CameraPipeline, FrameResult, TrackAnalyzer
from watchnet.records import CLASS_ID, Alert, Track, TrackEvent, subset
from watchnet.sources.base import Source
from watchnet.sources.factory import open_source, probe, source_kind
from watchnet.store.recorder import Recorder

log = logging.getLogger("watchnet.runner")


class DetectorService:
    """Owns the detector; camera threads submit frames and wait for their boxes."""

    def __init__(self, detector: Detector, max_batch: int) -> None:
        self.detector = detector
        self.max_batch = max_batch
        self._queue: queue.Queue[tuple[np.ndarray, Future[sv.Detections]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="detector", daemon=True)
        self.calls = 0
        self.busy_s = 0.0
        self._thread.start()

    def detect(self, image: np.ndarray) -> sv.Detections:
        """Detect in one image; blocks the calling camera thread until its result is ready."""
        future: Future[sv.Detections] = Future()
        self._queue.put((image, future))
        return future.result()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                batch.append(nxt)
            started = time.perf_counter()
            try:
                results = self.detector.detect([image for image, _ in batch])
            except Exception as exc:  # a model failure fails these frames, not the service
                for _, future in batch:
                    future.set_exception(exc)
                continue
            self.busy_s += time.perf_counter() - started
            self.calls += len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                future.set_result(result)


@dataclass(slots=True)
class CameraStats:
    """Live numbers for one camera, shown as progress and returned at the end."""

    name: str
    state: str = "starting"
    frames: int = 0
    detected_frames: int = 0
    tracks_total: int = 0
    tracks_active: int = 0
    events: int = 0
    dropped: int = 0
    reconnects: int = 0
    fps: float = 0.0
    lags: deque[float] = field(default_factory=lambda: deque(maxlen=5000))
    error: str | None = None
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None

    def as_dict(self) -> dict[str, object]:
        elapsed = (self.ended or time.monotonic()) - self.started
        return {
            "camera": self.name, "state": self.state, "frames": self.frames,
            "detected_frames": self.detected_frames, "tracks": self.tracks_total, "events": self.events,
            "dropped": self.dropped, "reconnects": self.reconnects, "error": self.error,
            "elapsed_s": round(elapsed, 2), "fps": round(self.frames / elapsed, 2) if elapsed > 0 else 0.0,
            "lag_ms_median": round(float(np.median(self.lags)) * 1000, 1) if self.lags else None,
            "lag_ms_p95": round(float(np.percentile(self.lags, 95)) * 1000, 1) if self.lags else None,
        }


class StoreWriter:
    """Collects tracks and events from all cameras and writes them in one transaction per interval."""

    def __init__(self, recorder: Recorder, run_id: int, interval_s: float = 1.0) -> None:
        self.recorder = recorder
        self.run_id = run_id
        self.interval_s = interval_s
        self._queue: queue.Queue[tuple[list[Track], list[TrackEvent]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="store-writer", daemon=True)
        self.error: str | None = None
        self._thread.start()

    def put(self, tracks: list[Track], events: list[TrackEvent]) -> None:
        if tracks or events:
            self._queue.put((tracks, events))

    def close(self) -> None:
        """Write everything still queued, then stop."""
        self._queue.put(None)
        self._thread.join()

    def _loop(self) -> None:
        pending_tracks: dict[tuple[str, int], Track] = {}
        pending_events: list[TrackEvent] = []
        deadline = time.monotonic() + self.interval_s
        done = False
        while not done:
            try:
                item = self._queue.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                item = ()  # type: ignore[assignment]
            if item is None:
                done = True
            elif item:
                tracks, events = item
                for track in tracks:
                    pending_tracks[(track.camera, track.track_id)] = track
                pending_events.extend(events)
            if done or time.monotonic() >= deadline:
                self._flush(pending_tracks, pending_events)
                deadline = time.monotonic() + self.interval_s

    def _flush(self, tracks: dict[tuple[str, int], Track], events: list[TrackEvent]) -> None:
        if not tracks and not events:
            return
        try:
            self.recorder.write(list(tracks.values()), list(events), self.run_id)
        except Exception as exc:  # keep the batch and retry on the next interval
            self.error = f"store write failed ({exc}); will retry"
            log.error(self.error)
            return
        self.error = None
        tracks.clear()
        events.clear()


@dataclass(slots=True)
class RunOptions:
    """What a run writes besides the store."""

    annotate_dir: Path | None = None
    mot_dir: Path | None = None
    mot_classes: tuple[str, ...] = ("person",)
    max_frames: int | None = None


class Runner:
    """Processes all configured cameras concurrently until they end or ``stop`` is set."""

    def __init__(
        self, settings: Settings, detector: Detector, recorder: Recorder | None,
        options: RunOptions | None = None,
        on_result: Callable[[FrameResult], None] | None = None,
        analyzers: Callable[[CameraConfig], Sequence[TrackAnalyzer]] | None = None,
        on_alert: Callable[[Alert], None] | None = None,
    ) -> None:
        if not settings.cameras:
            raise WatchnetError("no cameras configured; give a config file or --source NAME=URL")
        self.settings = settings
        self.options = options or RunOptions()
        self.recorder = recorder
        self.on_result = on_result
        self.analyzers = analyzers
        self.on_alert = on_alert
        self.service = DetectorService(detector, settings.runtime.batch_size)
        self.stats = {c.name: CameraStats(c.name) for c in settings.cameras}
        self.sources: dict[str, Source] = {}
        self.stop = threading.Event()
        self.run_id: int | None = None

    def run(self, progress: Callable[[list[CameraStats]], None] | None = None, every_s: float = 2.0) -> dict:
        """Run to the end (or until ``self.stop`` is set); returns the run's summary."""
        writer = None
        if self.recorder is not None:
            self.recorder.upsert_cameras(self.settings.cameras)
            self.run_id = self.recorder.start_run(self.settings.model_dump(mode="json", exclude={"cameras"}))
            writer = StoreWriter(self.recorder, self.run_id)
        tag = time.strftime("%Y%m%d-%H%M%S") + (f"-run{self.run_id}" if self.run_id else "")
        threads = [
            threading.Thread(target=self._camera, args=(cam, writer, tag), name=f"cam-{cam.name}", daemon=True)
            for cam in self.settings.cameras
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        restore = self._handle_signals()
        try:
            next_report = time.monotonic() + every_s
            while any(t.is_alive() for t in threads):
                for thread in threads:
                    thread.join(timeout=0.2)
                if progress and time.monotonic() >= next_report:
                    progress(list(self.stats.values()))
                    next_report = time.monotonic() + every_s
        finally:
            restore()
            self.stop.set()
            self.service.close()
            if writer is not None:
                writer.close()
        summary = {
            "run_id": self.run_id,
            "elapsed_s": round(time.monotonic() - started, 2),
            "detector_calls": self.service.calls,
            "detector_busy_s": round(self.service.busy_s, 2),
            "cameras": [s.as_dict() for s in self.stats.values()],
        }
        if self.recorder is not None and self.run_id is not None:
            self.recorder.end_run(self.run_id, summary)
        if progress:
            progress(list(self.stats.values()))
        return summary

    def _handle_signals(self) -> Callable[[], None]:
        """Ctrl-C / SIGTERM set ``stop`` (a clean, lossless stop); a second one exits at once.

        A handler instead of KeyboardInterrupt: the exception could land anywhere in the main thread,
        halfway through a library call, while the camera threads keep running.
        """
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def on_signal(signum: int, _frame: object) -> None:
            if self.stop.is_set():
                log.error("second stop signal: exiting without waiting")
                os._exit(130)
            log.warning("stopping: closing live tracks and writing what was seen (again to force)")
            self.stop.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore

    # --- one camera -------------------------------------------------------------------------------
    def _camera(self, camera: CameraConfig, writer: StoreWriter | None, tag: str) -> None:
        stats = self.stats[camera.name]
        try:
            source = open_source(camera, self.settings.stream)
        except WatchnetError as exc:
            stats.state, stats.error, stats.ended = "failed", str(exc), time.monotonic()
            log.error("camera %s: %s", camera.name, exc)
            return
        self.sources[camera.name] = source
        pipeline = CameraPipeline(
            camera, self.settings, self.service.detect, self._nominal_fps(camera),
            snapshot_dir=self.settings.snapshots_dir / tag / camera.name,
            analyzers=self.analyzers(camera) if self.analyzers else (),
        )
        mot = MotWriter(self.options.mot_dir / f"{camera.name}.txt", self.options.mot_classes) \
            if self.options.mot_dir else None
        video = _AnnotatedVideo(self.options.annotate_dir / tag / f"{camera.name}.mp4", self.settings) \
            if self.options.annotate_dir else None
        stats.state = "running"
        last = None
        try:
            for frame in source.frames():
                result = pipeline.process(frame)
                self._deliver(result, stats, writer, mot, video)
                last = frame
                if self.stop.is_set() or (self.options.max_frames and stats.frames >= self.options.max_frames):
                    break
        except Exception as exc:  # a bug or a decoder crash ends this camera only
            stats.error = f"{type(exc).__name__}: {exc}"
            log.exception("camera %s failed", camera.name)
        finally:
            if last is not None:
                self._deliver(pipeline.finish(last), stats, writer, mot, video, final=True)
            source.close()
            status = source.status
            stats.dropped, stats.reconnects = status.frames_dropped, status.reconnects
            if status.last_error and not stats.error:
                stats.error = status.last_error
            stats.state = "failed" if status.state == "failed" or (stats.error and not stats.frames) else "ended"
            if self.stop.is_set() and stats.state == "ended":
                stats.state = "stopped"
            stats.ended = time.monotonic()
            if mot:
                mot.close()
            if video:
                video.close()

    def _deliver(
        self, result: FrameResult, stats: CameraStats, writer: StoreWriter | None,
        mot: MotWriter | None, video: _AnnotatedVideo | None, final: bool = False,
    ) -> None:
        stats.frames += 0 if final else 1
        stats.detected_frames += int(result.detected)
        stats.events += len(result.events)
        stats.tracks_total += sum(1 for e in result.events if e.kind == "appeared")
        stats.tracks_active = len(result.tracked)
        if not final:
            stats.lags.append(max(0.0, time.time() - result.frame.timestamp))
        if writer is not None:
            writer.put(result.changed + result.ended, result.events)
        if mot is not None and not final:
            mot.write(result.frame.index, result.tracked)
        if video is not None and not final:
            video.write(result)
        if self.on_alert is not None:
            for alert in result.alerts:
                self.on_alert(alert)
        if self.on_result is not None:
            self.on_result(result)

    def _nominal_fps(self, camera: CameraConfig) -> float:
        if camera.fps_cap:
            return camera.fps_cap
        if source_kind(camera.url) in ("file", "folder"):
            try:
                fps = probe(camera.url, self.settings.stream).get("fps")
                if isinstance(fps, (int, float)) and fps > 0:
                    return float(fps)
            except WatchnetError:
                pass
        return 25.0


class _AnnotatedVideo:
    """Writes a camera's frames with track boxes and ids drawn on, as H.264 MP4 (PyAV).

    With ``exports.blur_faces`` the faces of people who matched no watchlist subject (no face alert on
    their track so far) are blurred before drawing, by the same ``analysis.blur`` as every other export.
    Faces are searched every ``exports.video_face_every``-th frame and carried with their track's box in
    between; a person without a known face has the head region blurred.
    """

    def __init__(self, path: Path, settings: Settings | None = None) -> None:
        import av

        from watchnet.analysis.blur import StreamBlur

        self._blur = StreamBlur.from_settings(settings) if settings is not None and settings.exports.blur_faces \
            else None
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._container = av.open(str(path), mode="w")
        self._stream: av.video.stream.VideoStream | None = None
        self._boxes = sv.BoxAnnotator(thickness=2)
        self._labels = sv.LabelAnnotator(text_scale=0.4, text_padding=2)
        self._av = av

    def write(self, result: FrameResult) -> None:
        image = result.frame.image
        if self._stream is None:
            self._stream = self._container.add_stream("libx264", rate=25)
            self._stream.height, self._stream.width = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
            self._stream.pix_fmt = "yuv420p"
            self._stream.options = {"preset": "veryfast", "crf": "26"}
        canvas = image.copy()
        tracked = result.tracked
        if self._blur is not None:
            self._blur.matches.update(a.track_id for a in result.alerts if a.kind == "face")
            people = subset(tracked, np.asarray(tracked.class_id) == CLASS_ID["person"]) if len(tracked) else tracked
            ids = people.tracker_id if people.tracker_id is not None else np.full(len(people), -1)
            self._blur(canvas, people.xyxy, ids)
        if len(tracked):
            from watchnet.records import CLASSES

            assert tracked.tracker_id is not None and tracked.class_id is not None
            labels = [f"{CLASSES[c]} #{t}" for c, t in zip(tracked.class_id, tracked.tracker_id, strict=True)]
            canvas = self._boxes.annotate(canvas, tracked)
            canvas = self._labels.annotate(canvas, tracked, labels=labels)
        canvas = canvas[: self._stream.height, : self._stream.width]
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(canvas), format="bgr24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        if self._stream is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
        self._container.close()
