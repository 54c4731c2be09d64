"""Where each sighting's track came into the picture and where it left (foot point, velocity, box height).

The linker's continuity cue extrapolates a track's exit to the next track's entry: in the same camera's
image, or across cameras through their ground mappings. One JSON column; old rows stay NULL (no cue).

Revision ID: 0008_sighting_ends
Revises: 0007_hop_retraction
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_sighting_ends"
down_revision: str | None = "0007_hop_retraction"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of schema.py's portable JSON type, so this file never changes when schema.py does.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("sightings") as batch:
        batch.add_column(sa.Column("ends", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sightings") as batch:
        batch.drop_column("ends")
