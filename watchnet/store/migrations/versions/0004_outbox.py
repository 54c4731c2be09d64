"""Event log (transactional outbox) and per-sink delivery cursors.

Revision ID: 0004_outbox
Revises: 0003_merge_domains
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_outbox"
down_revision: str | None = "0003_merge_domains"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of schema.py's portable types, so this file never changes when schema.py does.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "event_log",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("topic", sa.String(32), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_log")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "event_deliveries",
        sa.Column("sink", sa.String(200), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("delivered", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("sink", name=op.f("pk_event_deliveries")),
    )


def downgrade() -> None:
    op.drop_table("event_deliveries")
    op.drop_table("event_log")
