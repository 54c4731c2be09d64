"""Tables of the watchlist and its alerts: subjects, reference photos, negative examples, alerts, decisions.

Why one generic ``subjects`` table with a ``kind``: a face watchlist and a plate hotlist share the same
life-cycle (who enrolled it, why, under which case, until when), so both are rows here and only the
evidence tables differ (``subject_photos`` for faces; a plate hotlist adds its own).

Why embeddings are ``LargeBinary`` (little-endian float32 bytes) and not a vector type: the gallery is
searched in memory (``watchnet.store.vectors``), so the database only has to keep the bytes, the same
way on SQLite and PostgreSQL; ``model`` and ``dim`` say which embedder made them, so a change of
embedder never compares vectors from two different spaces.

Why ``alerts.subject_id`` is ``SET NULL`` on delete and the name is copied: removing a subject from the
watchlist must not erase the record of what was raised about them, and a decision history without the
name would be unreadable. ``watchlist_state`` is one row whose ``version`` grows with every change, so a
running matcher (possibly in another process) knows when to reload its in-memory gallery.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from watchnet.store.schema import Base, BigId, JSONType, utcnow

SUBJECT_KINDS: tuple[str, ...] = ("person", "plate")


class Subject(Base):
    """Someone (or, later, something) on a watchlist; expired or inactive subjects never match."""

    __tablename__ = "subjects"
    __table_args__ = (sa.Index("ix_subjects_kind_active", "kind", "active"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    name: Mapped[str] = mapped_column(sa.String(200))
    reason: Mapped[str] = mapped_column(sa.Text(), default="")
    case_ref: Mapped[str] = mapped_column(sa.String(128), default="")
    enrolled_by: Mapped[str] = mapped_column(sa.String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(default=True)


class SubjectPhoto(Base):
    """One reference photo of a subject: the stored copy, the face crop, its embedding and quality."""

    __tablename__ = "subject_photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(sa.ForeignKey("subjects.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(sa.Text())
    crop_path: Mapped[str] = mapped_column(sa.Text())
    sha256: Mapped[str] = mapped_column(sa.String(64))
    box: Mapped[list[float]] = mapped_column(JSONType)
    quality: Mapped[float]
    model: Mapped[str] = mapped_column(sa.String(64))
    dim: Mapped[int]
    embedding: Mapped[bytes] = mapped_column(sa.LargeBinary())
    added_by: Mapped[str] = mapped_column(sa.String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SubjectNegative(Base):
    """A face that is NOT this subject (from a dismissed alert or a photo): it vetoes look-alike matches."""

    __tablename__ = "subject_negatives"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(sa.ForeignKey("subjects.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(sa.String(64))
    model: Mapped[str] = mapped_column(sa.String(64))
    dim: Mapped[int]
    embedding: Mapped[bytes] = mapped_column(sa.LargeBinary())
    added_by: Mapped[str] = mapped_column(sa.String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WatchlistState(Base):
    """One row: a counter bumped in the same transaction as every watchlist change."""

    __tablename__ = "watchlist_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int]


class AlertRow(Base):
    """One raised alert and its current state; the evidence files live under ``home/alerts``.

    ``embeddings`` holds the faces that voted for the match (float32 bytes) while the alert is open, so
    that a dismissal can turn them into negative examples; it is cleared when the alert is decided.

    One row is a *group*: later matches of the same subject on the same camera within
    ``alerts.group_window_s`` of ``last_seen`` update it (``matches``, ``last_seen``, ``track_ids``, the
    best-scoring face's pictures) instead of adding rows, so operators decide once. ``at`` is the first match.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        sa.Index("ix_alerts_state_at", "state", "at"),
        sa.Index("ix_alerts_subject_id_at", "subject_id", "at"),
        sa.Index("ix_alerts_camera_at", "camera", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject_id: Mapped[int | None] = mapped_column(sa.ForeignKey("subjects.id", ondelete="SET NULL"))
    subject_name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(16))
    score: Mapped[float]
    camera: Mapped[str] = mapped_column(sa.String(64))
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    track_id: Mapped[int]
    frame_index: Mapped[int]
    at: Mapped[datetime]
    box: Mapped[list[float] | None] = mapped_column(JSONType)
    crop_path: Mapped[str | None] = mapped_column(sa.Text())
    snapshot_path: Mapped[str | None] = mapped_column(sa.Text())
    state: Mapped[str] = mapped_column(sa.String(16))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    model: Mapped[str | None] = mapped_column(sa.String(64))
    embeddings: Mapped[bytes | None] = mapped_column(sa.LargeBinary())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    matches: Mapped[int] = mapped_column(default=1, server_default=sa.text("1"))
    last_seen: Mapped[datetime | None]
    track_ids: Mapped[list[int] | None] = mapped_column(JSONType)


class AlertDecision(Base):
    """Who did what to an alert, when, and the state before and after: the alert's history."""

    __tablename__ = "alert_decisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(sa.String(16))
    actor: Mapped[str] = mapped_column(sa.String(128))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    from_state: Mapped[str] = mapped_column(sa.String(16))
    to_state: Mapped[str] = mapped_column(sa.String(16))
    note: Mapped[str] = mapped_column(sa.Text(), default="")
