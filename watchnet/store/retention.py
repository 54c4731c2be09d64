"""Retention: delete everything older than ``settings.retention_days`` — rows, files and vectors.

What is purged, by the time it describes: sightings (``last_seen``) with their vectors and thumbnails,
tracks (``last_seen``) with their snapshots, track events (``at``), alerts (``at``) with their decision
history and evidence crops/snapshots, journeys, links and follows, the event log (``created_at``), and
runs that ended before the cut-off and own nothing any more. Then files under the snapshot, thumbnail and
alert folders older than the cut-off are swept too, so a file whose row was lost (a crash between
writing the file and the row) does not live for ever.

What is deliberately kept (``KEPT``): configuration-like tables (cameras, users, the watchlist and its
photos, which have their own ``expires_at``), live sessions, and the audit log, which is evidence about
the operators themselves and has its own legal retention; deleting from it would also break its hash
chain. A test checks that every table of the schema is either purged here or listed in ``KEPT``.

Every purge bumps the sightings cache generation in the same transaction as its deletes, so search
caches in every process reload instead of returning purged sightings; an in-process ``SightingSearch``
can be passed to drop its caches at once. A purge is recorded in the audit log.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from watchnet.core.config import Settings
from watchnet.store import audit
from watchnet.store.sightings import bump_generation
from watchnet.store.tables import load_all_tables

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Purged:
    """One table's purge rule: rows whose ``time_column`` is older than the cut-off go, with their files."""

    table: str
    time_column: str
    file_columns: tuple[str, ...] = ()
    children: tuple[tuple[str, str], ...] = ()  # (table, foreign-key column) deleted first


PLAN: tuple[Purged, ...] = (
    # journeys first: a journey ends no later than its newest sighting, so it never outlives them
    Purged("journeys", "last_seen", (), (("journey_members", "journey_id"),)),
    Purged("journey_links", "created_at"),
    Purged("follows", "started_at", (), (("follow_hops", "follow_id"),)),
    Purged("sightings", "last_seen", ("thumbnail_path",), (("sighting_vectors", "sighting_id"),)),
    Purged("track_events", "at"),
    Purged("tracks", "last_seen", ("snapshot_path",)),
    Purged("alerts", "at", ("crop_path", "snapshot_path"), (("alert_decisions", "alert_id"),)),
    # the event log repeats alerts, decisions and follow hops (names, places, times): it ages out with them;
    # a console resuming from an id older than the oldest kept event simply starts at the oldest
    Purged("event_log", "created_at"),
)
#: Tables a purge never touches, with the reason.
KEPT: dict[str, str] = {
    "cameras": "configuration",
    "users": "accounts",
    "api_sessions": "expire on their own",
    "audit_log": "evidence about operators; its own retention, and a hash chain",
    "audit_head": "the audit chain's head",
    "subjects": "watchlist enrolments expire by expires_at",
    "subject_photos": "reference photos of enrolled subjects",
    "subject_negatives": "part of an enrolment",
    "watchlist_state": "a counter",
    "search_state": "a counter",
    "alembic_version": "schema version",
    "transit_bins": "learned camera topology: counts of transit times per camera pair, about no one",
    "linker_state": "the linker's cursors",
    "event_deliveries": "each sink's cursor into the event log: counters, about no one",
}
#: Child tables and runs, purged along with the tables of ``PLAN``.
PURGED_WITH: frozenset[str] = frozenset(
    {"sighting_vectors", "alert_decisions", "runs", "journey_members", "follow_hops"}
)


@dataclass(slots=True)
class PurgeReport:
    """What a purge deleted (or, in a dry run, would delete)."""

    cutoff: datetime
    dry_run: bool
    rows: dict[str, int] = field(default_factory=dict)
    files: int = 0
    bytes: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"cutoff": self.cutoff.isoformat(), "dry_run": self.dry_run, "rows": self.rows,
                "files": self.files, "bytes": self.bytes}


class _HasCaches(Protocol):
    caches: dict[str, Any]
    plates: Any


def cutoff_for(settings: Settings, now: datetime | None = None) -> datetime:
    """The instant before which everything is purged."""
    return (now or datetime.now(UTC)) - timedelta(days=settings.retention_days)


def file_roots(settings: Settings) -> list[Path]:
    """Folders holding per-sighting, per-track and per-alert files (never exports or models)."""
    return [settings.snapshots_dir, settings.thumbnails_dir, settings.home / "alerts"]


def purge(
    engine: Engine, settings: Settings, *, dry_run: bool = False, now: datetime | None = None,
    actor: str = "system", search: _HasCaches | None = None,
) -> PurgeReport:
    """Delete every row, file and vector older than ``retention_days``; return what went."""
    report = PurgeReport(cutoff_for(settings, now), dry_run)
    present = set(sa.inspect(engine).get_table_names())
    tables = load_all_tables().tables
    files: set[str] = set()
    for rule in PLAN:
        if rule.table in present:
            deleted, paths = _purge_table(engine, tables[rule.table], rule, report.cutoff, settings, dry_run, present)
            report.rows[rule.table] = deleted
            files.update(paths)
    report.rows["runs"] = _purge_runs(engine, report.cutoff, dry_run, present)
    swept = files | set(_old_files(file_roots(settings), report.cutoff))
    report.files, report.bytes = _delete_files(swept, dry_run)
    if not dry_run:
        _prune_empty_dirs(file_roots(settings))
        if search is not None:
            for cache in search.caches.values():
                cache.generation = -1
            search.plates.generation = -1
        if any(report.rows.values()) or report.files:
            audit.record(engine, actor, "retention.purge", "store", report.as_dict())
    return report


def _purge_table(
    engine: Engine, table: sa.Table, rule: Purged, cutoff: datetime, settings: Settings, dry_run: bool,
    present: set[str],
) -> tuple[int, list[str]]:
    """Delete expired rows in batches (children first), one transaction per batch; return count + files."""
    key = table.c.id
    old = table.c[rule.time_column] < cutoff
    columns = [key, *(table.c[c] for c in rule.file_columns)]
    total, paths = 0, list[str]()
    batch = settings.search.purge_batch
    last_id = None
    while True:
        with engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                query = sa.select(*columns).where(old).order_by(key).limit(batch)
                if dry_run and last_id is not None:
                    query = query.where(key > last_id)
                rows = conn.execute(query).all()
                if not rows:
                    return total, paths
                ids = [r[0] for r in rows]
                paths += [p for r in rows for p in r[1:] if p]
                total += len(ids)
                last_id = ids[-1]
                if not dry_run:
                    _delete(conn, table, rule, ids, present)
        if len(rows) < batch:
            return total, paths


def _delete(conn: Connection, table: sa.Table, rule: Purged, ids: Sequence[int], present: set[str]) -> None:
    tables = load_all_tables().tables
    for child, column in rule.children:
        if child in present:
            conn.execute(sa.delete(tables[child]).where(tables[child].c[column].in_(ids)))
    conn.execute(sa.delete(table).where(table.c.id.in_(ids)))
    if rule.table == "sightings":
        bump_generation(conn)


def _purge_runs(engine: Engine, cutoff: datetime, dry_run: bool, present: set[str]) -> int:
    """Runs that ended before the cut-off and that no unexpired track, event or sighting refers to."""
    tables = load_all_tables().tables
    runs = tables["runs"]
    query = sa.select(runs.c.id).where(runs.c.ended_at.is_not(None), runs.c.ended_at < cutoff)
    for name, time_column in (("tracks", "last_seen"), ("track_events", "at"), ("sightings", "last_seen")):
        if name in present:  # a run goes once nothing that is kept refers to it (a dry run deleted nothing)
            table = tables[name]
            query = query.where(~sa.exists().where(table.c.run_id == runs.c.id, table.c[time_column] >= cutoff))
    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            ids = conn.execute(query).scalars().all()
            if ids and not dry_run:
                conn.execute(sa.delete(runs).where(runs.c.id.in_(ids)))
    return len(ids)


def _old_files(roots: Iterable[Path], cutoff: datetime) -> Iterable[str]:
    limit = cutoff.timestamp()
    for root in roots:
        if not root.is_dir():
            continue
        for folder, _dirs, names in os.walk(root):
            for name in names:
                path = os.path.join(folder, name)
                try:
                    if os.stat(path).st_mtime < limit:
                        yield path
                except OSError:
                    continue


def _delete_files(paths: Iterable[str], dry_run: bool) -> tuple[int, int]:
    count = size = 0
    for path in paths:
        try:
            size += os.stat(path).st_size
            if not dry_run:
                os.remove(path)
            count += 1
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("retention: cannot delete %s: %s", path, exc)
    return count, size


def _prune_empty_dirs(roots: Iterable[Path]) -> None:
    for root in roots:
        if not root.is_dir():
            continue
        for folder, _dirs, _names in sorted(os.walk(root), key=lambda w: -len(w[0])):
            if Path(folder) != root:
                try:
                    os.rmdir(folder)
                except OSError:
                    continue


class RetentionScheduler:
    """Runs ``purge`` every ``search.purge_every_s`` on a daemon thread: the automatic hook for the
    runner or the server (``start()`` at start-up, ``stop()`` at shutdown). ``tick()`` instead runs it
    from a loop the caller already has, when it is due."""

    def __init__(self, engine: Engine, settings: Settings, search: _HasCaches | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.search = search
        self.last: PurgeReport | None = None
        self.error: str | None = None
        self._next = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self, now_s: float | None = None) -> PurgeReport | None:
        """Purge if the period has passed since the last purge; returns the report when it ran."""
        import time

        now_s = time.monotonic() if now_s is None else now_s
        if now_s < self._next:
            return None
        self._next = now_s + self.settings.search.purge_every_s
        try:
            self.last = purge(self.engine, self.settings, search=self.search)
            self.error = None
        except Exception as exc:  # a failed purge is retried next period, never kills the host
            self.error = f"retention purge failed: {exc}"
            log.error(self.error)
        return self.last

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(min(self.settings.search.purge_every_s, 60.0))
