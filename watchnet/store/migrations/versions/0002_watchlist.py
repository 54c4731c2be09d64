"""Watchlist and alerts: subjects, subject_photos, subject_negatives, watchlist_state, alerts, alert_decisions.

Revision ID: 0002_watchlist
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_watchlist"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("watchlist",)
depends_on: str | Sequence[str] | None = None

# Frozen copies of schema.py's portable types, so this file never changes when schema.py does.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "subjects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("case_ref", sa.String(128), nullable=False),
        sa.Column("enrolled_by", sa.String(128), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subjects")),
    )
    op.create_index("ix_subjects_kind_active", "subjects", ["kind", "active"])
    op.create_table(
        "subject_photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("crop_path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("box", JSON, nullable=False),
        sa.Column("quality", sa.Double(), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("added_by", sa.String(128), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_subject_photos_subject_id_subjects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_photos")),
    )
    op.create_index(op.f("ix_subject_photos_subject_id"), "subject_photos", ["subject_id"])
    op.create_table(
        "subject_negatives",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("added_by", sa.String(128), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_subject_negatives_subject_id_subjects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_negatives")),
    )
    op.create_index(op.f("ix_subject_negatives_subject_id"), "subject_negatives", ["subject_id"])
    state = op.create_table(
        "watchlist_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watchlist_state")),
    )
    op.bulk_insert(state, [{"id": 1, "version": 0}])
    op.create_table(
        "alerts",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("subject_name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("camera", sa.String(64), nullable=False),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("frame_index", sa.Integer(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("box", JSON, nullable=True),
        sa.Column("crop_path", sa.Text(), nullable=True),
        sa.Column("snapshot_path", sa.Text(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("details", JSON, nullable=False),
        sa.Column("model", sa.String(64), nullable=True),
        sa.Column("embeddings", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_alerts_subject_id_subjects"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index("ix_alerts_state_at", "alerts", ["state", "at"])
    op.create_index("ix_alerts_subject_id_at", "alerts", ["subject_id", "at"])
    op.create_index("ix_alerts_camera_at", "alerts", ["camera", "at"])
    op.create_table(
        "alert_decisions",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("alert_id", BIG_ID, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("from_state", sa.String(16), nullable=False),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_alert_decisions_alert_id_alerts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_decisions")),
    )
    op.create_index(op.f("ix_alert_decisions_alert_id"), "alert_decisions", ["alert_id"])


def downgrade() -> None:
    op.drop_table("alert_decisions")
    op.drop_table("alerts")
    op.drop_table("watchlist_state")
    op.drop_table("subject_negatives")
    op.drop_table("subject_photos")
    op.drop_table("subjects")
