"""Tables of the event log: one ordered log of what happened (alerts raised and decided, journey updates,
camera status), written in the same transaction as the rows it describes, read by every process.

Why a table and not a message broker: the store is already shared by every console and worker, an
event then exists exactly when its row does (a transactional outbox: no event without its alert and
no alert without its event), and a console that was down reads on from its last id.
- ``event_log.id`` only grows. On PostgreSQL appends take a transaction advisory lock, so ids commit in
  order and a reader that has seen id N never later finds a smaller id appear; SQLite has one writer.
- ``event_deliveries`` holds each sink's cursor (the last event id handed to it), so each event goes to
  each sink once across all console processes (the cursor row is locked while delivering), with
  ``<sink>:<event id>`` as the idempotent delivery id receivers can use to drop a repeat after a crash.
Migration: ``migrations/versions/0004_outbox.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from watchnet.store.schema import Base, BigId, JSONType, utcnow


class EventLogRow(Base):
    """One event: its topic (``alert``, ``journey``, ``camera``) and its message as sent to consoles and sinks."""

    __tablename__ = "event_log"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(sa.String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EventDelivery(Base):
    """A sink's cursor in the event log."""

    __tablename__ = "event_deliveries"

    sink: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    last_id: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    delivered: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
