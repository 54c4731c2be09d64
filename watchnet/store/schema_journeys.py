"""Tables of the journeys domain: sightings joined across cameras into anonymous journeys.

Why these shapes:
- ``journey_members`` maps each linked sighting to its journey and copies camera and times, so a
  journey's trail and the "no two simultaneous tracks" check are one indexed read, not a join over
  ``sightings``. A sighting's row goes when the sighting goes (ON DELETE CASCADE, and retention).
- ``journey_links`` keeps every scored link with its evidence: ``state`` is "auto" (made by the
  linker), "candidate" (uncertain, waits for an operator), "confirmed" or "cut". A journey is the
  connected component of its members over auto and confirmed links, so cutting a link splits it.
- ``transit_bins`` is the learned topology: per camera pair, counts of confirmed transit times in bins.
- ``follows`` and ``follow_hops`` are follow mode: a followed journey and its timeline of cameras.
- ``linker_state`` holds the linker's cursor (the last sighting id it processed), so the linker can
  run in any process and resume after a restart.
Migration: ``migrations/versions/0004_journeys.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from watchnet.store.schema import Base, BigId, utcnow


class Journey(Base):
    """One anonymous identity across cameras; ``subject_id`` only once it holds a confirmed match."""

    __tablename__ = "journeys"
    __table_args__ = (sa.Index("ix_journeys_last_seen", "last_seen"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    label: Mapped[str] = mapped_column(sa.String(32))
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class JourneyMember(Base):
    """One sighting in one journey (a sighting is in exactly one journey)."""

    __tablename__ = "journey_members"
    __table_args__ = (sa.Index("ix_journey_members_journey_id_first_seen", "journey_id", "first_seen"),)

    sighting_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("sightings.id", ondelete="CASCADE"), primary_key=True
    )
    journey_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("journeys.id", ondelete="CASCADE"))
    camera: Mapped[str] = mapped_column(sa.String(64))
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]


class JourneyLink(Base):
    """A scored link from an earlier sighting to a later one, with the evidence behind the score."""

    __tablename__ = "journey_links"
    __table_args__ = (
        sa.Index("ix_journey_links_src_id", "src_id"),
        sa.Index("ix_journey_links_dst_id", "dst_id"),
        sa.Index("ix_journey_links_state", "state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    src_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("sightings.id", ondelete="CASCADE"))
    dst_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("sightings.id", ondelete="CASCADE"))
    score: Mapped[float]
    state: Mapped[str] = mapped_column(sa.String(16))
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(sa.String(128))
    decided_at: Mapped[datetime | None]
    note: Mapped[str] = mapped_column(sa.Text(), default="")


class TransitBin(Base):
    """Learned topology: how many confirmed trips from one camera to another took ``bin`` x width seconds."""

    __tablename__ = "transit_bins"

    src_camera: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    dst_camera: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    bin: Mapped[int] = mapped_column(primary_key=True)
    count: Mapped[int]


class Follow(Base):
    """A journey followed live, because an alert fired or an operator chose to (with a reason)."""

    __tablename__ = "follows"
    __table_args__ = (sa.Index("ix_follows_active", "active"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    journey_id: Mapped[int | None] = mapped_column(BigId, sa.ForeignKey("journeys.id", ondelete="SET NULL"))
    origin_sighting_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("sightings.id", ondelete="SET NULL")
    )
    alert_id: Mapped[int | None] = mapped_column(BigId, sa.ForeignKey("alerts.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(sa.Text())
    started_by: Mapped[str] = mapped_column(sa.String(128))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    stopped_at: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(default=True)


class FollowHop(Base):
    """One entry of a follow's timeline: the journey reached a camera (with the link that got it there)."""

    __tablename__ = "follow_hops"
    __table_args__ = (sa.UniqueConstraint("follow_id", "sighting_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    follow_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("follows.id", ondelete="CASCADE"), index=True)
    sighting_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("sightings.id", ondelete="CASCADE"))
    camera: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime]
    score: Mapped[float | None]
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: set when the link behind this hop was demoted or cut: the hop stays, marked as taken back
    retracted_at: Mapped[datetime | None]
    retracted_reason: Mapped[str | None] = mapped_column(sa.Text())


class LinkerState(Base):
    """Named cursors of the linker (e.g. the last sighting id and the last alert id it processed)."""

    __tablename__ = "linker_state"

    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    position: Mapped[int] = mapped_column(sa.BigInteger(), default=0)
