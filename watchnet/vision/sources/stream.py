"""Live sources: RTSP/RTMP/HTTP streams, webcams, and files played as if they were cameras.

A live camera does not wait for us. If the pipeline is slower than the camera, reading frames in order
would put it further behind every second, so a background thread decodes continuously into a single
slot and the consumer always takes the newest picture; the ones it never took are counted as dropped.
Only the frame the consumer takes is converted to a numpy image, so dropping is cheap.

Networks fail: the reader thread reconnects with exponential back-off (jittered, so many cameras behind
one dead recorder do not hammer it in lockstep) and reports through ``status`` and the
``watchnet.vision.sources`` logger. Nothing network-related is ever raised into the consumer; ``frames()``
simply ends once the source has failed (``max_reconnects``), ended, or been closed.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import av
from av.video.frame import VideoFrame

from watchnet.core.config import StreamConfig
from watchnet.core.records import Frame
from watchnet.vision.sources.avopen import describe_error, open_container
from watchnet.vision.sources.base import Source, SourceState, log, redact_url
from watchnet.vision.sources.timing import FpsCap, FrameClock

#: Decoder threads for live video: frame threading adds one frame of latency per thread.
LIVE_DECODE_THREADS = 2
#: Longest wait in close() for the reader thread; a read blocked on a dead socket ends by its own timeout.
CLOSE_JOIN_S = 2.0
#: How often a waiting consumer re-checks for the end of the source.
POLL_S = 0.25
#: Relative jitter applied to every back-off delay.
JITTER = 0.2


@dataclass(slots=True)
class _Latest:
    index: int
    pts: float
    captured: float
    picture: VideoFrame


class StreamSource(Source):
    """The latest frame of a live source, decoded by a background thread that reconnects on failure.

    ``realtime`` paces decoding by pts against the wall clock (for files played as cameras, whose
    demuxer would otherwise read as fast as the disk allows); ``once`` is for finite inputs (files):
    end of input or a damaged read ends it (one that never gave a frame fails it) instead of
    reconnecting and replaying it from the start. ``Frame.index`` keeps counting across reconnects,
    and ``pts`` is seconds since the source started (the first connection's stream time; later
    connections are re-anchored to the wall-clock time since start), so both only ever increase.
    """

    def __init__(
        self,
        url: str,
        camera: str,
        *,
        stream: StreamConfig | None = None,
        fps_cap: float | None = None,
        realtime: bool = False,
        once: bool = False,
        input_format: str | None = None,
    ) -> None:
        super().__init__(camera, url)
        self._cfg = stream or StreamConfig()
        self._fps_cap = fps_cap
        self._realtime = realtime
        self._once = once
        self._input_format = input_format
        self._stop = threading.Event()
        self._interrupted = False
        self._closed = False
        self._cond = threading.Condition()
        self._slot: _Latest | None = None
        self._finished = False
        self._t0 = time.monotonic()
        self._index = 0
        self._last_pts = -1.0
        self._thread = threading.Thread(target=self._run, name=f"watchnet-source-{camera}", daemon=True)
        self._thread.start()

    def frames(self) -> Iterator[Frame]:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._slot is not None or self._finished, timeout=POLL_S)
                if self._stop.is_set():  # closed: whatever is still in the slot is not wanted
                    return
                item, self._slot = self._slot, None
                if item is None:
                    if self._finished:
                        return
                    continue
            image = item.picture.to_ndarray(format="bgr24")
            self._mark_delivered()
            yield Frame(self.camera, item.index, item.pts, item.captured, image)

    def interrupt(self) -> None:
        """End ``frames()`` and the reader's back-off wait now; never waits (the reader may be inside a
        connect, which its own open timeout ends). A ``close()`` after it does not wait for the reader
        either: whoever interrupts is stopping, and the reader releases its connection by itself."""
        self._interrupted = True
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def close(self) -> None:
        again, self._closed = self._closed, True
        self._stop.set()
        with self._cond:
            self._slot = None
            self._cond.notify_all()
        if not again and not self._interrupted and self._thread is not threading.current_thread():
            self._thread.join(timeout=CLOSE_JOIN_S)
            if self._thread.is_alive():
                log.warning("camera %s: reader still blocked in a read; it exits at its timeout", self.camera)
        self._set_state(SourceState.ENDED)

    # --- reader thread --------------------------------------------------------------------------------
    def _run(self) -> None:
        shown = redact_url(self.url)
        failures = reconnects = 0
        try:
            while not self._stop.is_set():
                got_frames, error = self._session()
                if self._stop.is_set():
                    break
                reason = f"{shown}: {error or 'the stream ended (end of input)'}"
                if self._once:
                    failed = error is not None and not got_frames
                    self._set_state(SourceState.FAILED if failed else SourceState.ENDED, error and reason)
                    break
                failures = 0 if got_frames else failures
                limit = self._cfg.max_reconnects
                if limit is not None and reconnects >= limit:
                    log.error("camera %s: %s; giving up after %d reconnects", self.camera, reason, reconnects)
                    self._set_state(SourceState.FAILED, f"{reason} (gave up after {reconnects} reconnects)")
                    break
                delay = self._backoff(failures)
                failures += 1
                log.warning("camera %s: %s; reconnecting in %.1f s", self.camera, reason, delay)
                self._set_state(SourceState.RECONNECTING, reason)
                if self._stop.wait(delay):
                    break
                reconnects += 1
                self._count(reconnects=1)
        except Exception as exc:  # a bug must not kill the thread silently: report it as a failure
            log.exception("camera %s: reader thread crashed", self.camera)
            self._set_state(SourceState.FAILED, f"{shown}: internal error: {exc!r}")
        finally:
            with self._cond:
                self._finished = True
                self._cond.notify_all()

    def _backoff(self, failures: int) -> float:
        cfg = self._cfg
        base = min(cfg.reconnect_max_s, cfg.reconnect_initial_s * 2.0**min(failures, 30))
        return max(0.0, base * random.uniform(1.0 - JITTER, 1.0 + JITTER))

    def _session(self) -> tuple[bool, str | None]:
        """One connection: decode until end of input (error None), failure (a reason) or stop."""
        opened = time.monotonic()
        try:
            container = open_container(self.url, self._cfg, self._input_format)
        except (av.FFmpegError, OSError) as exc:
            if time.monotonic() - opened >= self._cfg.open_timeout_s * 0.95:  # ffmpeg words a timeout oddly
                return False, f"cannot connect: no answer within {self._cfg.open_timeout_s:g} s (timed out)"
            return False, f"cannot connect: {_reason(exc, self._cfg.open_timeout_s)}"
        got_frames = False
        try:
            if not container.streams.video:
                return False, "no video stream"
            video = container.streams.video[0]
            video.thread_type = "AUTO"
            video.codec_context.thread_count = LIVE_DECODE_THREADS
            rate = video.average_rate or video.guessed_rate
            duration = 1.0 / float(rate) if rate else 0.04
            offset = 0.0 if self._index == 0 else max(time.monotonic() - self._t0, self._last_pts + duration)
            clock = FrameClock(video.time_base, duration, offset=offset)
            cap = FpsCap(self._fps_cap)
            anchor = time.monotonic() - offset  # wall-clock moment of pts 0, for realtime pacing
            for packet in container.demux(video):
                if self._stop.is_set():
                    return got_frames, None
                try:
                    pictures = packet.decode()
                except av.FFmpegError:
                    self._count(errors=1)
                    continue
                for picture in pictures:
                    pts = clock.seconds(picture.pts, picture.dts)
                    self._last_pts = pts
                    index = self._index
                    self._index += 1
                    self._count(decoded=1)
                    if not got_frames:
                        got_frames = True
                        self._set_state(SourceState.RUNNING)
                        log.info("camera %s: receiving frames from %s", self.camera, redact_url(self.url))
                    if not cap.admit(pts):
                        self._count(dropped=1)
                        continue
                    if self._realtime and self._stop.wait(max(0.0, anchor + pts - time.monotonic())):
                        return got_frames, None
                    self._publish(_Latest(index, pts, time.time(), picture))
            return got_frames, None
        except (av.FFmpegError, OSError) as exc:
            return got_frames, f"read failed: {_reason(exc, self._cfg.read_timeout_s)}"
        finally:
            container.close()

    def _publish(self, item: _Latest) -> None:
        with self._cond:
            if self._stop.is_set():
                return
            if self._slot is not None:
                self._count(dropped=1)  # the consumer never took it: stale now
            self._slot = item
            self._cond.notify()


def _reason(exc: BaseException, timeout_s: float) -> str:
    if isinstance(exc, av.ExitError | TimeoutError):
        return f"no answer within {timeout_s:g} s (timed out)"
    return describe_error(exc)
