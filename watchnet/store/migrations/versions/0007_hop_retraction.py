"""Follow hops can be withdrawn: when the link that put a camera on a follow's timeline is later demoted
by the linker or cut by an operator, the hop is marked (time and reason) instead of deleted, so the
timeline shows what operators were told and that it was taken back.

Revision ID: 0007_hop_retraction
Revises: 0006_camera_settings
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_hop_retraction"
down_revision: str | None = "0006_camera_settings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("follow_hops") as batch:
        batch.add_column(sa.Column("retracted_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("retracted_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("follow_hops") as batch:
        batch.drop_column("retracted_reason")
        batch.drop_column("retracted_at")
