"""Alert groups: repeated matches of one subject on one camera update one alert row.

Adds ``alerts.matches`` (how many matches the group holds), ``alerts.last_seen`` (its latest match) and
``alerts.track_ids`` (every track that matched). Existing alerts become groups of one.

Revision ID: 0004_alert_groups
Revises: 0003_merge_domains
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_alert_groups"
down_revision: str | None = "0003_merge_domains"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of schema.py's portable types, so this file never changes when schema.py does.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("alerts", sa.Column("matches", sa.Integer(), server_default=sa.text("1"), nullable=False))
    op.add_column("alerts", sa.Column("last_seen", TS, nullable=True))
    op.add_column("alerts", sa.Column("track_ids", JSON, nullable=True))
    op.execute("UPDATE alerts SET last_seen = at")


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("track_ids")
        batch.drop_column("last_seen")
        batch.drop_column("matches")
