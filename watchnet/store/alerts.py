"""The alerts repository: alerts, their decision history and confirmations, and alert groups.

Every statement on the ``alerts`` and ``alert_decisions`` tables lives here; the alert manager
(``watchnet.services.alerts``) owns the rules and calls these functions, and the API reads through them.
Rows come back as frozen ``StoredAlert`` / ``DecisionInfo`` records, never as SQLAlchemy rows, so the
layers above neither import SQLAlchemy nor depend on column access by name.

Alerts are written synchronously: an alert needs its id before anyone can confirm or dismiss it, and one
small insert per alert (alerts are rare) costs nothing. Decisions run in one transaction that locks the
alert (``FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so two operators deciding at the
same moment are serialised and see each other's decision.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from watchnet.core.records import Alert, AlertState
from watchnet.store.db import write_transaction
from watchnet.store.schema_watchlist import AlertDecision, AlertRow
from watchnet.store.vectors import to_bytes

_alerts = cast(sa.Table, AlertRow.__table__)
_decisions = cast(sa.Table, AlertDecision.__table__)
_OPEN = (AlertState.NEW.value, AlertState.CONFIRMED.value)


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """One row of ``alerts`` as stored (``embeddings`` only while the alert is open)."""

    id: int
    subject_id: int | None
    subject_name: str
    kind: str
    score: float
    camera: str
    lat: float | None
    lon: float | None
    track_id: int
    frame_index: int
    at: datetime
    box: list[float] | None
    crop_path: str | None
    snapshot_path: str | None
    state: str
    details: dict[str, Any] | None
    model: str | None
    embeddings: bytes | None
    created_at: datetime
    updated_at: datetime
    matches: int | None
    last_seen: datetime | None
    track_ids: list[int] | None


@dataclass(frozen=True, slots=True)
class DecisionInfo:
    """One entry of an alert's history."""

    action: str
    actor: str
    at: datetime
    from_state: str
    to_state: str
    note: str

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "actor": self.actor, "at": self.at.isoformat(),
                "from": self.from_state, "to": self.to_state, "note": self.note}


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """Filters of an alert list; ``None`` means "any"."""

    state: str | None = None
    subject_id: int | None = None
    camera: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self) -> list[sa.ColumnElement[bool]]:
        clauses: list[sa.ColumnElement[bool]] = []
        for column, value in ((_alerts.c.state, self.state), (_alerts.c.subject_id, self.subject_id),
                              (_alerts.c.camera, self.camera)):
            if value is not None:
                clauses.append(column == value)
        if self.since is not None:
            clauses.append(_alerts.c.at >= self.since)
        if self.until is not None:
            clauses.append(_alerts.c.at <= self.until)
        return clauses


def _stored(row: Any) -> StoredAlert:
    return StoredAlert(**{f.name: getattr(row, f.name) for f in dataclasses.fields(StoredAlert)})


def _decision(row: Any) -> DecisionInfo:
    return DecisionInfo(row.action, row.actor, row.at, row.from_state, row.to_state, row.note)


def row_to_alert(row: StoredAlert) -> Alert:
    """A stored alert as the shared ``Alert`` record."""
    last_seen = row.last_seen or row.at
    return Alert(
        subject_id=row.subject_id if row.subject_id is not None else -1, subject_name=row.subject_name,
        kind=row.kind, score=float(row.score), camera=row.camera, track_id=int(row.track_id),
        timestamp=row.at.timestamp(), frame_index=int(row.frame_index),
        xyxy=cast("tuple[float, float, float, float]", tuple(row.box)) if row.box else None,
        crop_path=row.crop_path, snapshot_path=row.snapshot_path,
        lat=row.lat, lon=row.lon, state=AlertState(row.state), id=int(row.id),
        matches=int(row.matches or 1), last_seen=last_seen.timestamp(),
        track_ids=tuple(int(t) for t in (row.track_ids or [row.track_id])),
    )


def merge_vectors(blob: bytes | None, dim: int, new: np.ndarray, cap: int, duplicate: float = 0.999) -> np.ndarray:
    """An alert's faces plus ``new`` ones that are not (near-)copies of a kept one, at most ``cap``.

    Why merge, not replace: an alert group gathers the faces of several tracks, and a dismissal must turn
    all of them into negatives, or the look-alike alerts again from another track.
    """
    kept = np.atleast_2d(np.frombuffer(blob, np.float32).reshape(-1, dim)) if blob else np.zeros((0, dim), np.float32)
    rows = list(kept[:cap])
    for vector in np.atleast_2d(np.asarray(new, np.float32)):
        if len(rows) >= cap:
            break
        norm = float(np.linalg.norm(vector)) or 1.0
        if not any(float(r @ vector) / ((float(np.linalg.norm(r)) or 1.0) * norm) >= duplicate for r in rows):
            rows.append(vector)
    return np.stack(rows).astype(np.float32) if rows else np.zeros((0, dim), np.float32)


class AlertStore:
    """Reads and writes the ``alerts`` and ``alert_decisions`` tables."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- writing --------------------------------------------------------------------------------
    def insert(
        self, alert: Alert, *, embeddings: np.ndarray | None = None, model: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> int:
        """Record a new alert; returns its id."""
        with write_transaction(self.engine) as conn:
            return self._insert(conn, alert, embeddings, model, details)

    def record(
        self, alert: Alert, *, window_s: float, max_faces: int, embeddings: np.ndarray | None = None,
        model: str | None = None, details: dict[str, Any] | None = None,
        on_written: Callable[[Connection, int, bool], None] | None = None,
    ) -> tuple[int, bool]:
        """Record a match: into the open alert of the same subject, camera and kind whose last match is at
        most ``window_s`` before this one (a group update), else as a new alert. Returns (id, grouped).

        A group keeps the first match's time (``at``), counts matches, moves ``last_seen``, lists every
        track, merges the faces, and takes the pictures, score and box of its best-scoring match.
        ``on_written(conn, id, grouped)`` runs inside the same transaction (the event log's append).
        """
        at = datetime.fromtimestamp(alert.timestamp, UTC)
        with write_transaction(self.engine) as conn:
            row = None
            if window_s > 0 and alert.subject_id >= 0:
                query = (
                    sa.select(_alerts)
                    .where(_alerts.c.subject_id == alert.subject_id, _alerts.c.camera == alert.camera,
                           _alerts.c.kind == alert.kind, _alerts.c.state.in_(_OPEN),
                           _alerts.c.last_seen >= at - timedelta(seconds=window_s))
                    .order_by(_alerts.c.last_seen.desc(), _alerts.c.id.desc()).limit(1)
                )
                if conn.dialect.name == "postgresql":
                    query = query.with_for_update()
                row = conn.execute(query).first()
            if row is None:
                new_id = self._insert(conn, alert, embeddings, model, details)
                if on_written is not None:
                    on_written(conn, new_id, False)
                return new_id, False
            tracks = [int(t) for t in (row.track_ids or [row.track_id])]
            values: dict[str, Any] = {
                "matches": int(row.matches) + 1, "last_seen": max(row.last_seen or row.at, at),
                "track_ids": tracks + ([alert.track_id] if alert.track_id not in tracks else []),
                "updated_at": datetime.now(UTC),
            }
            if alert.score > row.score:
                kept = {k: v for k, v in (row.details or {}).items() if k == "embedding_dim"}
                values.update(
                    score=float(alert.score), track_id=alert.track_id, frame_index=alert.frame_index,
                    box=[float(v) for v in alert.xyxy] if alert.xyxy is not None else None,
                    crop_path=alert.crop_path, snapshot_path=alert.snapshot_path, details={**(details or {}), **kept},
                )
            if embeddings is not None and len(embeddings) and row.embeddings is not None:
                dim = int((row.details or {}).get("embedding_dim") or np.atleast_2d(embeddings).shape[1])
                values["embeddings"] = to_bytes(merge_vectors(row.embeddings, dim, embeddings, max_faces))
            conn.execute(_alerts.update().where(_alerts.c.id == row.id).values(**values))
            if on_written is not None:
                on_written(conn, int(row.id), True)
            return int(row.id), True

    def _insert(
        self, conn: Connection, alert: Alert, embeddings: np.ndarray | None, model: str | None,
        details: dict[str, Any] | None,
    ) -> int:
        blob = None
        details = dict(details or {})
        if embeddings is not None and len(embeddings):
            vectors = np.atleast_2d(np.asarray(embeddings, np.float32))
            blob, details["embedding_dim"] = to_bytes(vectors), int(vectors.shape[1])
        now = datetime.now(UTC)
        at = datetime.fromtimestamp(alert.timestamp, UTC)
        return int(conn.execute(
            _alerts.insert().values(
                subject_id=alert.subject_id, subject_name=alert.subject_name, kind=alert.kind,
                score=float(alert.score), camera=alert.camera, lat=alert.lat, lon=alert.lon,
                track_id=alert.track_id, frame_index=alert.frame_index, at=at,
                box=[float(v) for v in alert.xyxy] if alert.xyxy is not None else None,
                crop_path=alert.crop_path, snapshot_path=alert.snapshot_path, state=str(alert.state),
                details=details, model=model if blob is not None else None, embeddings=blob,
                created_at=now, updated_at=now, matches=1, last_seen=at, track_ids=[alert.track_id],
            ).returning(_alerts.c.id)
        ).scalar_one())

    def set_embeddings(self, alert_id: int, embeddings: np.ndarray, max_faces: int = 200) -> bool:
        """Add faces to an alert that still holds some (an open one), near-copies left out (``merge_vectors``);
        False if it holds none (decided, or raised without faces)."""
        vectors = np.atleast_2d(np.asarray(embeddings, np.float32))
        with write_transaction(self.engine) as conn:
            row = conn.execute(
                sa.select(_alerts.c.embeddings, _alerts.c.details)
                .where(_alerts.c.id == alert_id, _alerts.c.embeddings.is_not(None), _alerts.c.state.in_(_OPEN))
            ).first()
            if row is None:
                return False
            dim = int((row.details or {}).get("embedding_dim") or vectors.shape[1])
            merged = merge_vectors(row.embeddings, dim, vectors, max_faces)
            conn.execute(_alerts.update().where(_alerts.c.id == alert_id).values(embeddings=to_bytes(merged)))
            return True

    @contextlib.contextmanager
    def locked(self, alert_id: int) -> Iterator[tuple[Connection, StoredAlert | None]]:
        """A write transaction holding the alert's row (None if there is no such alert)."""
        with write_transaction(self.engine) as conn:
            query = sa.select(_alerts).where(_alerts.c.id == alert_id)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update()
            row = conn.execute(query).first()
            yield conn, None if row is None else _stored(row)

    def decide(
        self, conn: Connection, alert_id: int, *, action: str, actor: str, from_state: str, to_state: str,
        note: str = "", clear_embeddings: bool = False,
    ) -> None:
        """Append a decision and move the alert to ``to_state`` (inside ``locked``'s transaction)."""
        now = datetime.now(UTC)
        conn.execute(_decisions.insert().values(
            alert_id=alert_id, action=action, actor=actor, at=now, from_state=from_state, to_state=to_state,
            note=note,
        ))
        values: dict[str, Any] = {"state": to_state, "updated_at": now}
        if clear_embeddings:
            values.update(embeddings=None, model=None)
        conn.execute(_alerts.update().where(_alerts.c.id == alert_id).values(**values))

    # --- reading --------------------------------------------------------------------------------
    def row(self, conn: Connection, alert_id: int) -> StoredAlert | None:
        """The alert's row as written so far in ``conn``'s transaction."""
        found = conn.execute(sa.select(_alerts).where(_alerts.c.id == alert_id)).first()
        return None if found is None else _stored(found)

    def decisions(self, conn: Connection, alert_id: int, *, by_time: bool = False) -> list[DecisionInfo]:
        """The alert's history in the order it was written (``by_time``: by decision time, then id)."""
        order = (_decisions.c.at, _decisions.c.id) if by_time else (_decisions.c.id,)
        rows = conn.execute(
            sa.select(_decisions).where(_decisions.c.alert_id == alert_id).order_by(*order)
        ).all()
        return [_decision(r) for r in rows]

    def get(self, alert_id: int, *, by_time: bool = False) -> tuple[StoredAlert, list[DecisionInfo]] | None:
        """One alert with its history, or None."""
        with self.engine.connect() as conn:
            row = self.row(conn, alert_id)
            return None if row is None else (row, self.decisions(conn, alert_id, by_time=by_time))

    def pictures(self, alert_id: int, which: Literal["crop_path", "snapshot_path"]) -> tuple[str | None] | None:
        """``(path,)`` of the alert's face crop or snapshot (the path may be None), or None without such alert."""
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(_alerts.c[which]).where(_alerts.c.id == alert_id)).first()
        return None if found is None else (found[0],)

    def count(self, where: AlertFilter) -> int:
        """How many alerts match every filter."""
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(_alerts).where(*where.where()))
                       .scalar_one())

    def page(self, where: AlertFilter, *, limit: int, offset: int) -> list[StoredAlert]:
        """Alerts matching every filter, newest first (by time, then id)."""
        with self.engine.connect() as conn:
            return _page(conn, where, limit, offset)

    def confirmations(self, ids: list[int]) -> dict[int, int]:
        """Distinct users who confirmed each of the alerts ``ids`` (absent: none)."""
        if not ids:
            return {}
        query = (sa.select(_decisions.c.alert_id, sa.func.count(sa.distinct(_decisions.c.actor)))
                 .where(_decisions.c.alert_id.in_(ids), _decisions.c.action == "confirm")
                 .group_by(_decisions.c.alert_id))
        with self.engine.connect() as conn:
            return {int(a): int(n) for a, n in conn.execute(query).all()}

    def find(
        self, *, state: str | None = None, subject_id: int | None = None, camera: str | None = None,
        since: datetime | None = None, until: datetime | None = None, limit: int = 100, offset: int = 0,
    ) -> list[tuple[StoredAlert, list[DecisionInfo]]]:
        """Alerts matching every given filter, newest first, each with its decisions."""
        with self.engine.connect() as conn:
            rows = _page(conn, AlertFilter(state, subject_id, camera, since, until), limit, offset)
            ids = [r.id for r in rows]
            history: dict[int, list[DecisionInfo]] = {i: [] for i in ids}
            if ids:
                for d in conn.execute(
                    sa.select(_decisions).where(_decisions.c.alert_id.in_(ids)).order_by(_decisions.c.id)
                ).all():
                    history[int(d.alert_id)].append(_decision(d))
        return [(r, history[r.id]) for r in rows]


def _page(conn: Connection, where: AlertFilter, limit: int, offset: int) -> list[StoredAlert]:
    query = (sa.select(_alerts).where(*where.where()).order_by(_alerts.c.at.desc(), _alerts.c.id.desc())
             .limit(limit).offset(offset))
    return [_stored(r) for r in conn.execute(query).all()]
