"""Per-camera settings saved from the console (fps cap, zones, lines, privacy masks, detection, plates).

One JSON column on ``cameras`` holding the ``CameraSettings`` keys an admin set; they are applied on top of the
camera's YAML entry, so a column per setting (and a migration per new setting) is not needed.

Revision ID: 0006_camera_settings
Revises: 0005_merge_round2
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_camera_settings"
down_revision: str | None = "0005_merge_round2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of schema.py's portable JSON type, so this file never changes when schema.py does.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("cameras") as batch:
        batch.add_column(sa.Column("settings", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cameras") as batch:
        batch.drop_column("settings")
