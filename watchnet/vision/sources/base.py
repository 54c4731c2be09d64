"""What every camera source is: an iterator of ``Frame`` records plus a status the runner can poll.

Sources run in two threads at once: the consumer iterates ``frames()`` while the runner or the API reads
``status`` to show camera health. So the counters live behind one lock and ``status`` returns a frozen
snapshot; a reader never sees a half-updated status and never blocks decoding for long.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

from watchnet.core.records import Frame

log = logging.getLogger("watchnet.vision.sources")

#: Seconds of recent deliveries over which ``SourceStatus.fps`` is measured.
FPS_WINDOW_S = 3.0


class SourceState(enum.StrEnum):
    """Life-cycle of a source. ``ended`` and ``failed`` are final."""

    CONNECTING = "connecting"
    RUNNING = "running"
    RECONNECTING = "reconnecting"
    ENDED = "ended"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """A consistent snapshot of one source's health.

    ``frames_decoded`` counts pictures the decoder produced; ``frames_dropped`` those never handed to the
    consumer (over the fps cap, or stale because a newer live frame replaced them); ``decode_errors``
    damaged packets or unreadable images that were skipped. ``fps`` is the rate at which frames were
    handed to the consumer over the last few seconds (0 when nothing is flowing).
    """

    state: SourceState
    frames_decoded: int = 0
    frames_dropped: int = 0
    decode_errors: int = 0
    reconnects: int = 0
    last_error: str | None = None
    fps: float = 0.0


class Source(ABC):
    """A camera: iterate ``frames()``, poll ``status``, and ``close()`` (or use it as a context manager).

    ``frames()`` never raises on a damaged file or a dropped network connection: it ends, and ``status``
    says why. Only opening something that can never work (missing file, not a video) raises
    ``watchnet.core.errors.SourceError``, from the constructor, i.e. from ``open_source``.
    """

    def __init__(self, camera: str, url: str) -> None:
        self.camera = camera
        self.url = url
        self._lock = threading.Lock()
        self._state = SourceState.CONNECTING
        self._decoded = 0
        self._dropped = 0
        self._errors = 0
        self._reconnects = 0
        self._last_error: str | None = None
        self._delivered: deque[float] = deque()

    @abstractmethod
    def frames(self) -> Iterator[Frame]:
        """Yield decoded frames until the source ends, fails or is closed."""

    @abstractmethod
    def close(self) -> None:
        """Release the decoder (and any thread) promptly; safe to call more than once, from any thread."""

    def interrupt(self) -> None:
        """Make ``frames()`` end soon, from any thread, without waiting for anything (a stop, a removed
        camera); ``close()`` is still called afterwards by the consumer. Sources that wait in
        ``frames()`` for something other than their own decoding override it."""
        self.close()

    @property
    def status(self) -> SourceStatus:
        """A snapshot of the source's health; cheap and safe to call from any thread."""
        now = time.monotonic()
        with self._lock:
            self._prune(now)
            times = self._delivered
            fps = 0.0
            if len(times) >= 2 and now - times[-1] < FPS_WINDOW_S / 2:
                fps = (len(times) - 1) / max(times[-1] - times[0], 1e-6)
            return SourceStatus(
                state=self._state,
                frames_decoded=self._decoded,
                frames_dropped=self._dropped,
                decode_errors=self._errors,
                reconnects=self._reconnects,
                last_error=self._last_error,
                fps=round(fps, 2),
            )

    def __enter__(self) -> Source:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(camera={self.camera!r}, url={redact_url(self.url)!r})"

    # --- bookkeeping for subclasses ---------------------------------------------------------------
    def _set_state(self, state: SourceState, error: str | None = None) -> None:
        with self._lock:
            if self._state in (SourceState.ENDED, SourceState.FAILED):
                return  # final states stay final (close() after a failure must not hide it)
            self._state = state
            if error is not None:
                self._last_error = error

    def _set_error(self, error: str) -> None:
        with self._lock:
            self._last_error = error

    def _count(self, decoded: int = 0, dropped: int = 0, errors: int = 0, reconnects: int = 0) -> None:
        with self._lock:
            self._decoded += decoded
            self._dropped += dropped
            self._errors += errors
            self._reconnects += reconnects

    def _mark_delivered(self) -> None:
        now = time.monotonic()
        with self._lock:
            self._delivered.append(now)
            self._prune(now)

    def _prune(self, now: float) -> None:
        while self._delivered and now - self._delivered[0] > FPS_WINDOW_S:
            self._delivered.popleft()


def redact_url(url: str) -> str:
    """The URL with any password replaced, so logs and statuses never leak camera credentials."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))
