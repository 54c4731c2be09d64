"""Assembles the per-camera analyzers (descriptions for search, watchlist face matching) for a run.

``watchnet run`` and ``watchnet serve`` both build their pipelines through here, so a camera gets the
same analysis whichever command runs it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import supervision as sv

from watchnet.core.config import CameraConfig
from watchnet.core.records import Alert, Frame, Track
from watchnet.services.alerts import AlertManager
from watchnet.services.container import Services
from watchnet.services.watchlist import FaceWatch, Watchlist, face_watch
from watchnet.store.sightings import SightingStore, SightingWriter
from watchnet.vision.analysis.age_gender import AgeGenderEstimator
from watchnet.vision.analysis.describe import DescribeAnalyzer, HotPlate
from watchnet.vision.analysis.plates import PlateReader
from watchnet.vision.analysis.reid import ReidEmbedder
from watchnet.vision.pipeline import TrackAnalyzer


@dataclass(slots=True)
class Analysis:
    """The analyzers factory for ``Runner`` plus what must be flushed when the run ends."""

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
    watch = face_watch(settings, engine, manager=services.alerts, analyzer=services.faces)
    services.on_watchlist_change(lambda _action, _subject: watch.index.reload())
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
        watch.close()

    return Analysis(analyzers, watch, close)


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
