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
from fractions import Fraction
from pathlib import Path

import numpy as np
import supervision as sv

from watchnet.core.config import CameraConfig, Settings
from watchnet.core.errors import WatchnetError
from watchnet.core.records import CLASS_ID, CLASSES, Alert, Frame, Track, TrackEvent, subset
from watchnet.store.recorder import Recorder
from watchnet.vision.analysis.blur import StreamBlur
from watchnet.vision.analysis.detect import Detector
from watchnet.vision.analysis.regions import RegionSearch, draw_searched
from watchnet.vision.clips import ClipRecorder
from watchnet.vision.mot import MotWriter
from watchnet.vision.pipeline import CameraPipeline, FrameResult, TrackAnalyzer
from watchnet.vision.sources.base import Source, SourceState
from watchnet.vision.sources.factory import open_source, probe, source_kind

log = logging.getLogger("watchnet.runtime.runner")


class DetectorService:
    """Owns the detector; camera threads submit frames and wait for their boxes."""

    def __init__(self, detector: Detector, max_batch: int) -> None:
        self.detector = detector
        self.max_batch = max_batch
        self._queue: queue.Queue[tuple[np.ndarray, Future[sv.Detections], bool] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="detector", daemon=True)
        self.calls = 0
        self.busy_s = 0.0
        self._thread.start()

    def detect(self, image: np.ndarray) -> sv.Detections:
        """Detect in one image; blocks the calling camera thread until its result is ready."""
        future: Future[sv.Detections] = Future()
        self._queue.put((image, future, False))
        return future.result()

    def detect_fit(self, image: np.ndarray) -> sv.Detections:
        """``detect`` at a model input shaped like the image (``Detector.detect_fit``; the focus search)."""
        future: Future[sv.Detections] = Future()
        self._queue.put((image, future, True))
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
                results: list[sv.Detections | None] = [None] * len(batch)
                for fit, run in ((False, self.detector.detect), (True, self.detector.detect_fit)):
                    picked = [i for i, item in enumerate(batch) if item[2] is fit]
                    for i, found in zip(picked, run([batch[i][0] for i in picked]) if picked else [], strict=True):
                        results[i] = found
            except Exception as exc:  # a model failure fails these frames, not the service
                for _, future, _ in batch:
                    future.set_exception(exc)
                continue
            self.busy_s += time.perf_counter() - started
            self.calls += len(batch)
            for (_, future, _), result in zip(batch, results, strict=True):
                assert result is not None
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
    loops: int = 0
    source: Source | None = None  # while the camera runs: its source, whose status gives the live state

    def live(self) -> tuple[str, str | None]:
        """(state, error) now: connecting, running, reconnecting, unreachable (never got a picture), or
        the final state (ended, stopped, failed) once the camera's thread is done.

        Read from the source because a camera thread waiting for a dead stream never gets a frame to
        report with: its own ``state`` would say "running" with 0 frames and no error for ever.
        """
        source = self.source
        if self.ended is not None or source is None:
            return self.state, self.error
        status = source.status
        if status.state == SourceState.CONNECTING:
            return "connecting", status.last_error
        if status.state == SourceState.RECONNECTING:
            seen = self.frames > 0 or status.frames_decoded > 0
            return ("reconnecting" if seen else "unreachable"), status.last_error
        if status.state == SourceState.RUNNING:
            return "running", self.error
        return self.state, self.error or status.last_error

    def as_dict(self) -> dict[str, object]:
        elapsed = (self.ended or time.monotonic()) - self.started
        state, error = self.live()
        source = self.source
        reconnects = source.status.reconnects if source is not None and self.ended is None else self.reconnects
        return {
            "camera": self.name, "state": state, "frames": self.frames,
            "detected_frames": self.detected_frames, "tracks": self.tracks_total, "events": self.events,
            "dropped": self.dropped, "reconnects": reconnects, "error": error, "loops": self.loops,
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
    loop: bool = False  # replay video files and folders when they end (demo cameras)


class _Camera:
    """One camera in a run: its config, its thread, its own stop switch and its numbers."""

    def __init__(self, config: CameraConfig) -> None:
        self.config = config
        self.stats = CameraStats(config.name)
        self.stop = threading.Event()
        self.source: Source | None = None
        self.thread: threading.Thread | None = None

    def halt(self) -> None:
        """Ask the camera to end now, from any thread, without waiting: a camera waiting for a dead
        stream gets no frame that would let it notice a flag, so its source is interrupted too."""
        self.stop.set()
        source = self.source
        if source is not None:
            source.interrupt()

    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


class Runner:
    """Processes cameras concurrently until they end or ``stop`` is set.

    Every camera is independent: its own thread and stop switch, so ``add_camera``, ``remove_camera``
    and ``replace_camera`` start or end that camera alone while the others go on (same run, same
    tracks, no replay). With ``keep_alive`` (the console) the run goes on with no camera left; without
    it (``watchnet run``) it ends when every camera has ended. A stop ends every camera within
    ``stream.stop_wait_s``, closing their live tracks and writing them.
    """

    def __init__(
        self, settings: Settings, detector: Detector, recorder: Recorder | None,
        options: RunOptions | None = None,
        on_result: Callable[[FrameResult], None] | None = None,
        analyzers: Callable[[CameraConfig], Sequence[TrackAnalyzer]] | None = None,
        on_alert: Callable[[Alert], None] | None = None,
        keep_alive: bool = False,
    ) -> None:
        if not settings.cameras and not keep_alive:
            raise WatchnetError("no cameras configured; give a config file or --source NAME=URL")
        self.settings = settings
        self.options = options or RunOptions()
        self.recorder = recorder
        self.on_result = on_result
        self.analyzers = analyzers
        self.on_alert = on_alert
        self.keep_alive = keep_alive
        self.service = DetectorService(detector, settings.runtime.batch_size)
        self._cameras: dict[str, _Camera] = {c.name: _Camera(c) for c in settings.cameras}
        self._gone: list[_Camera] = []  # removed or replaced during the run: joined at the end, summarised
        self._next_ids: dict[str, int] = {}  # per camera name: the tracker's next id when it last ended
        self._lock = threading.RLock()
        self._writer: StoreWriter | None = None
        self._tag = ""
        self.started = threading.Event()  # set once the run is open and its cameras started
        self.stop = threading.Event()
        self.run_id: int | None = None

    # --- cameras --------------------------------------------------------------------------------------
    @property
    def stats(self) -> dict[str, CameraStats]:
        """The numbers of the cameras now in the run, by name."""
        with self._lock:
            return {name: cam.stats for name, cam in self._cameras.items()}

    def camera_configs(self) -> dict[str, CameraConfig]:
        with self._lock:
            return {name: cam.config for name, cam in self._cameras.items()}

    def add_camera(self, config: CameraConfig) -> None:
        """Start one more camera (at once if the run is under way); the others are not touched."""
        with self._lock:
            if config.name in self._cameras:
                raise WatchnetError(f"camera {config.name!r} is already running; replace it instead")
            cam = self._cameras[config.name] = _Camera(config)
            if self.started.is_set() and not self.stop.is_set():
                self._spawn(cam, previous=self._predecessor(config.name), upsert=True)

    def remove_camera(self, name: str) -> bool:
        """End one camera (its live tracks are closed and stored); returns at once, False if unknown."""
        with self._lock:
            cam = self._cameras.pop(name, None)
            if cam is None:
                return False
            self._gone.append(cam)
        cam.halt()
        return True

    def replace_camera(self, config: CameraConfig) -> None:
        """Restart one camera with a new config (URL, position, rules); the others are not touched.

        The new thread first waits for the old one to end, so one name never has two live pictures.
        """
        with self._lock:
            old = self._cameras.pop(config.name, None)
            if old is not None:
                self._gone.append(old)
                old.halt()
            cam = self._cameras[config.name] = _Camera(config)
            if self.started.is_set() and not self.stop.is_set():
                self._spawn(cam, previous=self._predecessor(config.name), upsert=True)

    def _predecessor(self, name: str) -> threading.Thread | None:
        """The thread of an earlier camera of this name still ending, which a new one must wait for."""
        for old in reversed(self._gone):
            if old.config.name == name and old.alive():
                return old.thread
        return None

    def _spawn(self, cam: _Camera, previous: threading.Thread | None, upsert: bool) -> None:
        cam.thread = threading.Thread(target=self._camera, args=(cam, previous, upsert),
                                      name=f"cam-{cam.config.name}", daemon=True)
        cam.thread.start()

    # --- the run --------------------------------------------------------------------------------------
    def run(self, progress: Callable[[list[CameraStats]], None] | None = None, every_s: float = 2.0) -> dict:
        """Run to the end (or until ``self.stop`` is set); returns the run's summary."""
        if self.recorder is not None:
            self.recorder.upsert_cameras(self.settings.cameras)
            self.run_id = self.recorder.start_run(self.settings.model_dump(mode="json", exclude={"cameras"}))
            self._writer = StoreWriter(self.recorder, self.run_id)
        self._tag = time.strftime("%Y%m%d-%H%M%S") + (f"-run{self.run_id}" if self.run_id else "")
        started = time.monotonic()
        restore = self._handle_signals()
        try:
            with self._lock:
                initial = {c.name for c in self.settings.cameras}
                for cam in self._cameras.values():
                    self._spawn(cam, previous=None, upsert=cam.config.name not in initial)
                self.started.set()
            next_report = time.monotonic() + every_s
            while not self.stop.wait(0.2):
                with self._lock:
                    running = any(cam.alive() for cam in self._cameras.values())
                if not running and not self.keep_alive:
                    break
                if progress and time.monotonic() >= next_report:
                    progress(list(self.stats.values()))
                    next_report = time.monotonic() + every_s
        finally:
            restore()
            self.stop.set()
            self._end_cameras()
            self.service.close()
            if self._writer is not None:
                self._writer.close()
        with self._lock:
            everyone = [cam.stats for cam in self._gone] + [cam.stats for cam in self._cameras.values()]
        summary = {
            "run_id": self.run_id,
            "elapsed_s": round(time.monotonic() - started, 2),
            "detector_calls": self.service.calls,
            "detector_busy_s": round(self.service.busy_s, 2),
            "cameras": [s.as_dict() for s in everyone],
        }
        if self.recorder is not None and self.run_id is not None:
            self.recorder.end_run(self.run_id, summary)
        if progress:
            progress(list(self.stats.values()))
        return summary

    def _end_cameras(self) -> None:
        """Halt every camera at once, then wait (bounded) for each to close and deliver its tracks."""
        with self._lock:
            cams = [*self._gone, *self._cameras.values()]
        for cam in cams:
            cam.halt()
        deadline = time.monotonic() + self.settings.stream.stop_wait_s
        for cam in cams:
            if cam.thread is not None:
                cam.thread.join(timeout=max(0.0, deadline - time.monotonic()))
                if cam.thread.is_alive():
                    log.error("camera %s did not stop within %.1f s; leaving it behind", cam.config.name,
                              self.settings.stream.stop_wait_s)

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
    def _camera(self, cam: _Camera, previous: threading.Thread | None, upsert: bool) -> None:
        """One camera's thread: open, process, and (with ``loop``) replay files, until it ends or is halted."""
        if previous is not None:
            previous.join()  # a replaced camera: the old one has closed its tracks and let go of the name
        camera, stats, writer = cam.config, cam.stats, self._writer
        pipeline: CameraPipeline | None = None
        mot: MotWriter | None = None
        video: _AnnotatedVideo | None = None
        source: Source | None = None
        last: Frame | None = None
        clips = ClipRecorder(self.settings.alerts)  # a few seconds around each alert, next to its snapshot
        try:
            if upsert and self.recorder is not None:
                self.recorder.upsert_cameras([camera])  # added during the run: give it its row first
            while not cam.stop.is_set():
                try:
                    source = open_source(camera, self.settings.stream)
                except WatchnetError as exc:
                    stats.state, stats.error = "failed", str(exc)
                    log.error("camera %s: %s", camera.name, exc)
                    break
                cam.source = stats.source = source
                if cam.stop.is_set():  # halted while opening: halt() may have missed this source
                    break
                if pipeline is None:
                    fps = self._nominal_fps(camera)
                    search = RegionSearch.for_camera(self.service.detect, self.settings.detector, camera,
                                                      self.service.detect_fit)
                    pipeline = CameraPipeline(
                        camera, self.settings, search, fps,
                        snapshot_dir=self.settings.snapshots_dir / self._tag / camera.name,
                        analyzers=self.analyzers(camera) if self.analyzers else (),
                    )
                    self._continue_track_ids(camera.name, pipeline)
                    mot = MotWriter(self.options.mot_dir / f"{camera.name}.txt", self.options.mot_classes) \
                        if self.options.mot_dir else None
                    video = _AnnotatedVideo(self.options.annotate_dir / self._tag / f"{camera.name}.mp4",
                                            self.settings, search, fps=fps) if self.options.annotate_dir else None
                stats.state = "running"
                shift = (last.index + 1, last.pts + 1.0 / pipeline.tracker.fps) if last is not None else None
                for frame in source.frames():
                    if shift is not None:  # a replay continues the camera's clock: indices and pts only grow
                        frame = Frame(frame.camera, frame.index + shift[0], frame.pts + shift[1], frame.timestamp,
                                      frame.image)
                    result = pipeline.process(frame)
                    clips.push(result.frame.image, result.frame.pts, result.alerts)
                    self._deliver(result, stats, writer, mot, video)
                    last = frame
                    if cam.stop.is_set() or self._enough(stats):
                        break
                source.close()
                if not self._replay(cam, source):
                    break
                if last is not None:  # the pass ended: its tracks end (the replay is a new scene)
                    self._deliver(pipeline.finish(last), stats, writer, mot, video, final=True)
                stats.loops += 1
                if cam.stop.wait(self.settings.stream.loop_pause_s):
                    break
        except Exception as exc:  # a bug or a decoder crash ends this camera only
            stats.error = f"{type(exc).__name__}: {exc}"
            log.exception("camera %s failed", camera.name)
        finally:
            try:
                if last is not None and pipeline is not None:
                    self._deliver(pipeline.finish(last), stats, writer, mot, video, final=True)
            finally:
                if pipeline is not None:
                    with self._lock:
                        self._next_ids[camera.name] = pipeline.tracker._tracker._next_track_id
                clips.close()
                self._close_camera(cam, source, mot, video)

    def _continue_track_ids(self, name: str, pipeline: CameraPipeline) -> None:
        """A camera restarted in the same run (changed or re-added) goes on counting track ids: the store
        names a track by (run, camera, track id), so a new 1 would overwrite the earlier camera's track 1."""
        with self._lock:
            start = self._next_ids.get(name)
        tracker = pipeline.tracker._tracker
        if start is not None and start > tracker._next_track_id:
            tracker._next_track_id = start

    def _enough(self, stats: CameraStats) -> bool:
        return bool(self.options.max_frames and stats.frames >= self.options.max_frames)

    def _replay(self, cam: _Camera, source: Source) -> bool:
        """Whether a source that just ended should be played again (``loop``, a file that ended cleanly)."""
        if not self.options.loop or cam.stop.is_set() or self._enough(cam.stats) or cam.stats.frames == 0:
            return False
        return source.status.state == SourceState.ENDED and source_kind(cam.config.url) in ("file", "folder")

    def _close_camera(self, cam: _Camera, source: Source | None, mot: MotWriter | None,
                      video: _AnnotatedVideo | None) -> None:
        """Release the camera and settle its final state: ended, stopped, failed or unreachable."""
        stats = cam.stats
        try:
            if source is not None:
                source.close()
                status = source.status
                stats.dropped, stats.reconnects = status.frames_dropped, status.reconnects
                if status.last_error and not stats.error:
                    stats.error = status.last_error
                if status.state == SourceState.FAILED or (stats.error and not stats.frames):
                    stream = source_kind(cam.config.url) in ("stream", "webcam")
                    stats.state = "unreachable" if stream and not stats.frames else "failed"
                else:
                    stats.state = "ended"
            if cam.stop.is_set() and stats.state in ("ended", "running"):
                stats.state = "stopped"
        finally:
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

    With ``exports.blur_faces`` every face is blurred before drawing, by the same ``analysis.blur`` as every
    other export, watchlist matches included: an export keeps a match's face only once two people have
    confirmed the alert, which cannot have happened while the video was being written.
    Faces are searched every ``exports.video_face_every``-th frame and carried with their track's box in
    between; a person without a known face has the head region blurred.
    """

    def __init__(self, path: Path, settings: Settings | None = None, search: RegionSearch | None = None, *,
                 fps: float = 25.0) -> None:
        self._search = search  # outlines the crops the detector searched on detected frames
        self._rate = Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(25)  # plays at the source's speed
        import av

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
            self._stream = self._container.add_stream("libx264", rate=self._rate)
            self._stream.height, self._stream.width = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
            self._stream.pix_fmt = "yuv420p"
            self._stream.options = {"preset": "veryfast", "crf": "26"}
        canvas = image.copy()
        tracked = result.tracked
        if self._blur is not None:
            people = subset(tracked, np.asarray(tracked.class_id) == CLASS_ID["person"]) if len(tracked) else tracked
            ids = people.tracker_id if people.tracker_id is not None else np.full(len(people), -1)
            self._blur(canvas, people.xyxy, ids)
        if len(tracked):
            assert tracked.tracker_id is not None and tracked.class_id is not None
            labels = [f"{CLASSES[c]} #{t}" for c, t in zip(tracked.class_id, tracked.tracker_id, strict=True)]
            canvas = self._boxes.annotate(canvas, tracked)
            canvas = self._labels.annotate(canvas, tracked, labels=labels)
        if self._search is not None and result.detected and self._search.mode != "whole":
            draw_searched(canvas, self._search.searched)
        canvas = canvas[: self._stream.height, : self._stream.width]
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(canvas), format="bgr24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        if self._stream is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
        self._container.close()
