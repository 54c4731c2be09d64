"""Sightings: one searchable row per track, its face/appearance vectors, and the search cache generation.

Revision ID: 0002_sightings
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_sightings"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("sightings",)
depends_on: str | Sequence[str] | None = None

# Frozen copies of schema.py's portable types, so this file never changes when schema.py does.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sightings",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("first_seen", TS, nullable=False),
        sa.Column("last_seen", TS, nullable=False),
        sa.Column("upper_colour", sa.String(16), nullable=True),
        sa.Column("lower_colour", sa.String(16), nullable=True),
        sa.Column("vehicle_colour", sa.String(16), nullable=True),
        sa.Column("age_band", sa.String(16), nullable=True),
        sa.Column("gender", sa.String(16), nullable=True),
        sa.Column("plate", sa.String(16), nullable=True),
        sa.Column("plate_key", sa.String(16), nullable=True),
        sa.Column("plate_score", sa.Double(), nullable=True),
        sa.Column("thumbnail_path", sa.Text(), nullable=True),
        sa.Column("attributes", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["cameras.id"], name=op.f("fk_sightings_camera_id_cameras"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_sightings_run_id_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sightings")),
    )
    for name, columns in (
        ("ix_sightings_label_first_seen", ["label", "first_seen", "camera_id", "last_seen"]),
        ("ix_sightings_camera_id_first_seen", ["camera_id", "first_seen", "label", "last_seen"]),
        ("ix_sightings_upper_colour_first_seen", ["upper_colour", "first_seen"]),
        ("ix_sightings_lower_colour_first_seen", ["lower_colour", "first_seen"]),
        ("ix_sightings_vehicle_colour_first_seen", ["vehicle_colour", "first_seen"]),
        ("ix_sightings_plate_key", ["plate_key"]),
        ("ix_sightings_first_seen", ["first_seen"]),
    ):
        op.create_index(name, "sightings", columns)
    op.create_table(
        "sighting_vectors",
        sa.Column("sighting_id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sighting_id"], ["sightings.id"], name=op.f("fk_sighting_vectors_sighting_id_sightings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("sighting_id", "kind", name=op.f("pk_sighting_vectors")),
    )
    op.create_index("ix_sighting_vectors_kind_sighting_id", "sighting_vectors", ["kind", "sighting_id"])
    op.create_table(
        "search_state",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_search_state")),
    )


def downgrade() -> None:
    op.drop_table("search_state")
    op.drop_table("sighting_vectors")
    op.drop_table("sightings")
