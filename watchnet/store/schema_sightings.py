"""Tables of the sightings domain: one searchable row per ended track, its vectors, a cache generation.

Why a separate vector table: filter-only searches scan ``sightings`` through its indexes, and keeping
the 0.5-4 KiB embeddings out of those rows keeps the rows (and the pages a range scan reads) small.
Vectors are raw little-endian float32 bytes, one row per (sighting, kind), ``kind`` being "face" or
"appearance"; they are deleted with their sighting (ON DELETE CASCADE, and explicitly by retention).

Why ``search_state``: search keeps an in-memory matrix per vector kind and only appends rows with
larger ids; a purge (in any process) bumps ``generation`` so every cache notices, with one primary-key
read, that rows disappeared and reloads.

Colour and plate columns are real columns (not JSON) so they can be indexed: the indexes below serve
the commonest forensic filters (class + time, camera + time, colours + time, plate). Migration:
``migrations/versions/0002_sightings.py`` (branch "sightings").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from watchnet.store.schema import Base, BigId


class SightingRecord(Base):
    """One tracked object as seen by one camera: where, when, what it looked like, what was read off it."""

    __tablename__ = "sightings"
    __table_args__ = (
        # class/camera + time, carrying the other of the two and last_seen: candidate ids for the commonest
        # filters come from the index alone, without a table lookup per row (measured 14x faster at 1 M)
        sa.Index("ix_sightings_label_first_seen", "label", "first_seen", "camera_id", "last_seen"),
        sa.Index("ix_sightings_camera_id_first_seen", "camera_id", "first_seen", "label", "last_seen"),
        sa.Index("ix_sightings_upper_colour_first_seen", "upper_colour", "first_seen"),
        sa.Index("ix_sightings_lower_colour_first_seen", "lower_colour", "first_seen"),
        sa.Index("ix_sightings_vehicle_colour_first_seen", "vehicle_colour", "first_seen"),
        sa.Index("ix_sightings_plate_key", "plate_key"),
        sa.Index("ix_sightings_first_seen", "first_seen"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    camera_id: Mapped[int] = mapped_column(sa.ForeignKey("cameras.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("runs.id", ondelete="SET NULL"))
    track_id: Mapped[int]
    label: Mapped[str] = mapped_column(sa.String(32))
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    upper_colour: Mapped[str | None] = mapped_column(sa.String(16))
    lower_colour: Mapped[str | None] = mapped_column(sa.String(16))
    vehicle_colour: Mapped[str | None] = mapped_column(sa.String(16))
    age_band: Mapped[str | None] = mapped_column(sa.String(16))
    gender: Mapped[str | None] = mapped_column(sa.String(16))
    plate: Mapped[str | None] = mapped_column(sa.String(16))
    # the plate cleaned and with confusables folded (O->0, B->8 ...): what exact and fuzzy search compare
    plate_key: Mapped[str | None] = mapped_column(sa.String(16))
    plate_score: Mapped[float | None]
    thumbnail_path: Mapped[str | None] = mapped_column(sa.Text())
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: {"entry": [x, y, vx, vy, h], "exit": [...]}: foot point, px/s and box height where the track came
    #: in and left (``TrackEnd``), for the linker's continuity cue
    ends: Mapped[dict[str, Any] | None]


class SightingVector(Base):
    """One embedding of one sighting: ``kind`` is "face" or "appearance"; ``vector`` is float32 bytes."""

    __tablename__ = "sighting_vectors"
    __table_args__ = (sa.Index("ix_sighting_vectors_kind_sighting_id", "kind", "sighting_id"),)

    sighting_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("sightings.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    dim: Mapped[int]
    vector: Mapped[bytes] = mapped_column(sa.LargeBinary())


class SearchState(Base):
    """Named counters shared by all processes; ``vectors`` is bumped whenever vectors are deleted."""

    __tablename__ = "search_state"

    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    generation: Mapped[int] = mapped_column(sa.BigInteger(), default=0)
