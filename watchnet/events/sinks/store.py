"""The store sink: alerts and their decision history in the database, and negatives a dismissal adds.

Unlike the network sinks this one is written synchronously: an alert needs its id before anyone can
confirm or dismiss it, and one small insert per alert (alerts are rare) costs nothing. Decisions run
in one transaction that locks the alert (``FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite),
so two operators deciding at the same moment are serialised and see each other's decision.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row

from watchnet.records import Alert, AlertState
from watchnet.store.schema_watchlist import AlertDecision, AlertRow, SubjectNegative, WatchlistState
from watchnet.store.vectors import to_bytes

_alerts = cast(sa.Table, AlertRow.__table__)
_decisions = cast(sa.Table, AlertDecision.__table__)
_negatives = cast(sa.Table, SubjectNegative.__table__)
_state = cast(sa.Table, WatchlistState.__table__)


@contextlib.contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One write transaction that takes SQLite's write lock up front (see ``watchnet.store.db``)."""
    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            yield conn


def bump_version(conn: Connection) -> None:
    """Tell running matchers the watchlist changed (call inside the change's transaction)."""
    conn.execute(_state.update().where(_state.c.id == 1).values(version=_state.c.version + 1))


def insert_negatives(
    conn: Connection, subject_id: int, embeddings: np.ndarray, *, model: str, by: str, source: str,
) -> list[int]:
    """Store face embeddings as negative examples of a subject; the caller bumps the version."""
    vectors = np.atleast_2d(np.asarray(embeddings, np.float32))
    now = datetime.now(UTC)
    return [
        int(conn.execute(
            _negatives.insert().values(
                subject_id=subject_id, source=source[:64], model=model, dim=int(vectors.shape[1]),
                embedding=to_bytes(v), added_by=by, created_at=now,
            ).returning(_negatives.c.id)
        ).scalar_one())
        for v in vectors
    ]


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


def row_to_alert(row: Row[Any] | Any) -> Alert:
    """A stored alert row as the shared ``Alert`` record."""
    return Alert(
        subject_id=row.subject_id if row.subject_id is not None else -1, subject_name=row.subject_name,
        kind=row.kind, score=float(row.score), camera=row.camera, track_id=int(row.track_id),
        timestamp=row.at.timestamp(), frame_index=int(row.frame_index),
        xyxy=tuple(row.box) if row.box else None, crop_path=row.crop_path, snapshot_path=row.snapshot_path,
        lat=row.lat, lon=row.lon, state=AlertState(row.state), id=int(row.id),
    )


class AlertStore:
    """Reads and writes the ``alerts`` and ``alert_decisions`` tables."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def insert(
        self, alert: Alert, *, embeddings: np.ndarray | None = None, model: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> int:
        """Record a new alert; returns its id."""
        blob = None
        details = dict(details or {})
        if embeddings is not None and len(embeddings):
            vectors = np.atleast_2d(np.asarray(embeddings, np.float32))
            blob, details["embedding_dim"] = to_bytes(vectors), int(vectors.shape[1])
        now = datetime.now(UTC)
        with write_transaction(self.engine) as conn:
            return int(conn.execute(
                _alerts.insert().values(
                    subject_id=alert.subject_id, subject_name=alert.subject_name, kind=alert.kind,
                    score=float(alert.score), camera=alert.camera, lat=alert.lat, lon=alert.lon,
                    track_id=alert.track_id, frame_index=alert.frame_index,
                    at=datetime.fromtimestamp(alert.timestamp, UTC),
                    box=[float(v) for v in alert.xyxy] if alert.xyxy is not None else None,
                    crop_path=alert.crop_path, snapshot_path=alert.snapshot_path, state=str(alert.state),
                    details=details, model=model if blob is not None else None, embeddings=blob,
                    created_at=now, updated_at=now,
                ).returning(_alerts.c.id)
            ).scalar_one())

    def set_embeddings(self, alert_id: int, embeddings: np.ndarray) -> bool:
        """Replace the faces of an alert that still holds some (an open one); False if it does not."""
        vectors = np.atleast_2d(np.asarray(embeddings, np.float32))
        with write_transaction(self.engine) as conn:
            done = conn.execute(
                _alerts.update()
                .where(_alerts.c.id == alert_id, _alerts.c.embeddings.is_not(None),
                       _alerts.c.state.in_([AlertState.NEW.value, AlertState.CONFIRMED.value]))
                .values(embeddings=to_bytes(vectors))
            )
            return bool(done.rowcount)

    @contextlib.contextmanager
    def locked(self, alert_id: int) -> Iterator[tuple[Connection, Any | None]]:
        """A write transaction holding the alert's row (None if there is no such alert)."""
        with write_transaction(self.engine) as conn:
            query = sa.select(_alerts).where(_alerts.c.id == alert_id)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update()
            yield conn, conn.execute(query).first()

    def decisions(self, conn: Connection, alert_id: int) -> list[DecisionInfo]:
        rows = conn.execute(
            sa.select(_decisions).where(_decisions.c.alert_id == alert_id).order_by(_decisions.c.id)
        ).all()
        return [DecisionInfo(r.action, r.actor, r.at, r.from_state, r.to_state, r.note) for r in rows]

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

    def get(self, alert_id: int) -> tuple[Any, list[DecisionInfo]] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(_alerts).where(_alerts.c.id == alert_id)).first()
            return None if row is None else (row, self.decisions(conn, alert_id))

    def find(
        self, *, state: str | None = None, subject_id: int | None = None, camera: str | None = None,
        since: datetime | None = None, until: datetime | None = None, limit: int = 100, offset: int = 0,
    ) -> list[tuple[Any, list[DecisionInfo]]]:
        """Alerts matching every given filter, newest first, each with its decisions."""
        query = sa.select(_alerts)
        for column, value in ((_alerts.c.state, state), (_alerts.c.subject_id, subject_id),
                              (_alerts.c.camera, camera)):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(_alerts.c.at >= since)
        if until is not None:
            query = query.where(_alerts.c.at <= until)
        query = query.order_by(_alerts.c.at.desc(), _alerts.c.id.desc()).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            ids = [int(r.id) for r in rows]
            history: dict[int, list[DecisionInfo]] = {i: [] for i in ids}
            if ids:
                for d in conn.execute(
                    sa.select(_decisions).where(_decisions.c.alert_id.in_(ids)).order_by(_decisions.c.id)
                ).all():
                    history[int(d.alert_id)].append(
                        DecisionInfo(d.action, d.actor, d.at, d.from_state, d.to_state, d.note)
                    )
        return [(r, history[int(r.id)]) for r in rows]
