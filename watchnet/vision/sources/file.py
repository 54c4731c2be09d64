"""Video files (or non-live URLs) decoded as fast as the consumer takes them: offline processing.

The file is opened and its first frames decoded in the constructor, so ``open_source`` fails at once,
with a ``SourceError`` the runner can catch per camera, for anything that will never give a picture
(missing, empty, random bytes, no video stream). After that, damage is not an error: damaged packets
are skipped and counted, a truncated file gives the frames that are there and then ends, and the reason
is left in ``status.last_error``; a batch job over many files should not die on one bad recording.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator

import av
from av.video.frame import VideoFrame

from watchnet.core.config import StreamConfig
from watchnet.core.errors import SourceError
from watchnet.core.records import Frame
from watchnet.vision.sources.avopen import describe_error, local_path, open_container
from watchnet.vision.sources.base import Source, SourceState, log, redact_url
from watchnet.vision.sources.timing import FpsCap, FrameClock

#: Frames decoded up front: proves the file decodes, and lets FrameClock pick pts or dts from real data.
LOOKAHEAD = 8
#: Damaged packets in a row after which the rest of the file is given up as unreadable.
MAX_CONSECUTIVE_ERRORS = 50
#: Fewer decoded frames than this share of the header's frame count means the file was cut short.
TRUNCATED_BELOW = 0.98


class FileSource(Source):
    """Every frame of a video file, in order; ``fps_cap`` drops frames by pts but keeps source indices.

    ``Frame.pts`` is seconds from the first decoded frame; ``Frame.timestamp`` the wall-clock time of
    the first ``frames()`` call plus pts. ``frames()`` continues where it stopped if called again and
    yields nothing once the file has ended. ``close()`` may come from another thread: it waits for the
    frame being decoded, never for the consumer.
    """

    def __init__(
        self, url: str, camera: str, *, fps_cap: float | None = None, stream: StreamConfig | None = None
    ) -> None:
        super().__init__(camera, url)
        shown = redact_url(url)
        path = local_path(url)
        if path is not None and not path.exists():
            raise SourceError(f"cannot open video '{shown}': no such file; check the camera's url")
        if path is not None and path.is_dir():
            raise SourceError(f"cannot open video '{shown}': it is a folder (use it as a folder of images)")
        try:
            self._container = open_container(url, stream or StreamConfig())
        except (av.FFmpegError, OSError) as exc:
            raise SourceError(f"cannot open video '{shown}': {describe_error(exc)}") from exc
        if not self._container.streams.video:
            self._container.close()
            raise SourceError(f"cannot open video '{shown}': it has no video stream")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        rate = self._stream.average_rate or self._stream.guessed_rate
        self._announced = int(self._stream.frames or 0)
        self._clock = FrameClock(self._stream.time_base, 1.0 / float(rate) if rate else 0.04)
        self._cap = FpsCap(fps_cap)
        self._lock_decode = threading.Lock()
        self._closed = False
        self._damage: str | None = None
        self._index = 0
        self._start_wall: float | None = None
        self._packets = self._container.demux(self._stream)
        self._frame_iter = self._decode()
        self._pending: deque[VideoFrame] = deque()
        for frame in self._frame_iter:
            self._pending.append(frame)
            if len(self._pending) >= LOOKAHEAD:
                break
        if not self._pending:
            self._container.close()
            reason = self._damage or "no picture could be decoded"
            raise SourceError(f"cannot open video '{shown}': {reason}")
        self._clock.decide([(f.pts, f.dts) for f in self._pending])

    def frames(self) -> Iterator[Frame]:
        if self._start_wall is None:
            self._start_wall = time.time()
        while True:
            with self._lock_decode:
                if self._closed:
                    return
                frame = self._pending.popleft() if self._pending else next(self._frame_iter, None)
                if frame is None:
                    self._finish()
                    return
                index = self._index
                self._index += 1
                pts = self._clock.seconds(frame.pts, frame.dts)
                self._count(decoded=1)
                if not self._cap.admit(pts):
                    self._count(dropped=1)
                    continue
                image = frame.to_ndarray(format="bgr24")
            self._set_state(SourceState.RUNNING)
            self._mark_delivered()
            yield Frame(self.camera, index, pts, self._start_wall + pts, image)

    def close(self) -> None:
        with self._lock_decode:
            if self._closed:
                return
            self._closed = True
            self._pending.clear()
            self._container.close()
        self._set_state(SourceState.ENDED)

    # --- internals ------------------------------------------------------------------------------------
    def _decode(self) -> Iterator[VideoFrame]:
        """Decoded pictures; damaged packets are skipped and counted instead of ending the file."""
        errors_in_row = 0
        while True:
            try:
                packet = next(self._packets)
            except StopIteration:
                return
            except av.FFmpegError as exc:  # the demuxer gave up on this read; resume from here
                errors_in_row += 1
                self._count(errors=1)
                if errors_in_row >= MAX_CONSECUTIVE_ERRORS:
                    self._damage = f"unreadable after {self._index} frames ({describe_error(exc)})"
                    return
                self._packets = self._container.demux(self._stream)
                continue
            try:
                frames = packet.decode()
            except av.FFmpegError as exc:
                errors_in_row += 1
                self._count(errors=1)
                if errors_in_row >= MAX_CONSECUTIVE_ERRORS:
                    self._damage = f"undecodable after {self._index} frames ({describe_error(exc)})"
                    return
                continue
            errors_in_row = 0
            yield from frames

    def _finish(self) -> None:
        decoded = self._index
        reason = None
        if self._damage:
            reason = f"video '{redact_url(self.url)}' is damaged: {self._damage}"
        elif self._announced and decoded < self._announced * TRUNCATED_BELOW:
            reason = (
                f"video '{redact_url(self.url)}' ended after {decoded} of the {self._announced} frames its "
                "header announces: the file is truncated or damaged"
            )
        if reason:
            log.warning("camera %s: %s", self.camera, reason)
        self._closed = True
        self._container.close()
        self._set_state(SourceState.ENDED, reason)
