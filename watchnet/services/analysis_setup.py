"""Assembles the per-camera analyzers (descriptions for search, watchlist face matching) for a run.

``watchnet run`` and ``watchnet serve`` both build their pipelines through here, so a camera gets the
same analysis whichever command runs it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import supervision as sv

from watchnet.core.config import CameraConfig, Settings
from watchnet.core.records import Alert, Frame, Track
from watchnet.services.alerts import AlertManager
from watchnet.services.container import Services
from watchnet.services.watchlist import Watchlist
from watchnet.store.sightings import SightingStore, SightingWriter
from watchnet.store.vectors import GalleryIndex
from watchnet.vision.analysis.age_gender import AgeGenderEstimator
from watchnet.vision.analysis.describe import DescribeAnalyzer, HotPlate
from watchnet.vision.analysis.face_tracks import FaceTrackAnalyzer
from watchnet.vision.analysis.faces import FaceAnalyzer
from watchnet.vision.analysis.plates import PlateReader
from watchnet.vision.analysis.reid import ReidEmbedder
from watchnet.vision.pipeline import TrackAnalyzer


@dataclass(slots=True)
class Analysis:
    """The analyzers factory for ``Runner`` plus what must be flushed when the run ends: ``close`` writes the
    last sightings and links them. The alert sinks belong to the ``Services`` and are closed by their owner
    (``Services.close``), after the event log has been handed to them: the last links can still raise events."""

    analyzers: Callable[[CameraConfig], list[TrackAnalyzer]]
    watch: FaceWatch
    close: Callable[[], None]


def build_analysis(services: Services, run_id: Callable[[], int | None]) -> Analysis:
    """Describe every track for search (one sighting each) and match faces against the watchlist.

    The face model is loaded once and shared by the watchlist (enrolment), the matching and the
    descriptions; the matcher does nothing while the watchlist is empty. A watchlist change made
    through ``services`` reaches the cameras' gallery at once.
    """
    settings, engine = services.settings, services.engine
    watch = face_watch(services)
    writer = SightingWriter(SightingStore(engine, settings), run_id) if settings.search.describe else None
    hotlist = _Hotlist(services.watchlist, settings.watchlist.reload_s)
    # One plate reader and one age/gender estimator (when switched on) for all cameras.
    plates = PlateReader.from_settings(settings) if writer is not None else None
    ages = AgeGenderEstimator(settings) if writer is not None and settings.attributes.age_gender else None
    reid = ReidEmbedder(settings) if writer is not None and settings.reid.enabled else None  # one session for all
    linking = services.linker() if writer is not None and settings.linking.enabled else None

    def analyzers(camera: CameraConfig) -> list[TrackAnalyzer]:
        found: list[TrackAnalyzer] = []
        if writer is not None:
            describe = DescribeAnalyzer(camera, settings, plates=plates.for_camera(camera) if plates else None,
                                        faces=watch.analyzer, hotlist=hotlist,
                                        on_sighting=writer.put, age_gender=ages, reid=reid)
            found.append(_Recorded(describe, watch.manager))
        return found + list(watch.analyzers(camera))

    def close() -> None:
        if writer is not None:
            writer.close()
        if linking is not None:
            linking.close()  # after the writer: the last sightings get linked too

    return Analysis(analyzers, watch, close)


@dataclass(slots=True)
class FaceWatch:
    """What a run needs to match faces against the watchlist: one gallery, one face model, one manager."""

    settings: Settings
    index: GalleryIndex
    analyzer: FaceAnalyzer
    manager: AlertManager
    trackers: list[FaceTrackAnalyzer] = field(default_factory=list)

    def analyzers(self, camera: CameraConfig) -> list[TrackAnalyzer]:
        """The ``Runner(analyzers=...)`` factory: one ``FaceTrackAnalyzer`` per camera."""
        tracker = FaceTrackAnalyzer(self.settings, self.analyzer, self.index, self.manager, camera)
        self.trackers.append(tracker)
        return [tracker]

    def close(self, timeout: float = 10.0) -> None:
        """Flush the alert sinks (webhooks, MQTT)."""
        self.manager.shutdown(timeout)


def face_watch(services: Services) -> FaceWatch:
    """Wire the gallery, the face model and the alert manager of ``services`` for a run.

    A watchlist change made through ``services`` and a dismissal with ``add_negative`` made through its
    manager reload the gallery at once; changes from other processes (CLI, API) are picked up within
    ``watchlist.reload_s``.
    """
    settings = services.settings
    analyzer = services.faces
    # photos enrolled under another embedder get this one's vectors first, or they would silently not match
    services.watchlist.reembed()
    index = GalleryIndex(services.engine, settings.faces.embedder, settings.watchlist.reload_s)
    manager = services.alerts
    manager.on_negative(lambda _subject: index.reload())
    services.on_watchlist_change(lambda _action, _subject: index.reload())
    return FaceWatch(settings, index, analyzer, manager)


class _Hotlist:
    """The active, unexpired plate subjects of the watchlist, re-read every few seconds."""

    def __init__(self, watchlist: Watchlist, reload_s: float) -> None:
        self.watchlist = watchlist
        self.reload_s = reload_s
        self._lock = threading.Lock()
        self._plates: list[HotPlate] = []
        self._loaded = float("-inf")

    def __call__(self) -> list[HotPlate]:
        with self._lock:
            if time.monotonic() - self._loaded >= self.reload_s:
                subjects = self.watchlist.list_subjects(kind="plate", active=True, include_expired=False)
                self._plates = [HotPlate(s.id, s.name, s.name) for s in subjects]
                self._loaded = time.monotonic()
            return list(self._plates)


class _Recorded:
    """Passes an analyzer's new alerts (e.g. hotlist plates) through the alert manager: recorded and
    delivered exactly like face alerts. Alerts that already have an id were recorded by their raiser."""

    def __init__(self, inner: TrackAnalyzer, manager: AlertManager) -> None:
        self.inner = inner
        self.manager = manager

    def observe(self, frame: Frame, tracked: sv.Detections, tracks: dict[int, Track]) -> list[Alert]:
        return [self.manager.raise_alert(a) if a.id is None else a for a in self.inner.observe(frame, tracked, tracks)]

    def track_ended(self, track: Track) -> None:
        self.inner.track_ended(track)
