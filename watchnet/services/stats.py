"""Statistics for the console: how many tracks per camera, class and hour in a window (counts only, no people).

Why a service for a single query: the window's defaults and its bounds are a decision (the last day by
default, at most a year, so one request cannot make the database group every track ever stored), and the
totals are derived from the hourly counts here, so the API only presents them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from watchnet.core.errors import InputError
from watchnet.store.db import Engine
from watchnet.store.stats import HourCount, hourly_track_counts

__all__ = ["DEFAULT_WINDOW", "MAX_WINDOW", "HourCount", "TrackStats", "track_stats"]

#: The longest window one request may count over.
MAX_WINDOW = timedelta(days=366)
#: The window counted when the caller gives no start.
DEFAULT_WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class TrackStats:
    """Tracks that started in [since, until]: in all, per camera, per class and per (hour, camera, class)."""

    since: datetime
    until: datetime
    total: int
    per_camera: dict[str, int]
    per_class: dict[str, int]
    hourly: list[HourCount]


def track_stats(engine: Engine, since: datetime | None = None, until: datetime | None = None,
                camera: str | None = None) -> TrackStats:
    """Count the tracks that started in the window (default: the last 24 hours up to now) on one or all cameras.

    Raises InputError when the window ends before it starts or spans more than ``MAX_WINDOW``.
    """
    end = _utc(until) if until else datetime.now(UTC)
    start = _utc(since) if since else end - DEFAULT_WINDOW
    if start > end or end - start > MAX_WINDOW:
        raise InputError("since must be before until, at most a year apart")
    hourly = hourly_track_counts(engine, start, end, camera)
    per_camera: dict[str, int] = {}
    per_class: dict[str, int] = {}
    for bucket in hourly:
        per_camera[bucket.camera] = per_camera.get(bucket.camera, 0) + bucket.count
        per_class[bucket.label] = per_class.get(bucket.label, 0) + bucket.count
    return TrackStats(since=start, until=end, total=sum(per_camera.values()), per_camera=per_camera,
                      per_class=per_class, hourly=hourly)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
