"""Journeys: sightings linked across cameras, scored links, learned transit times, follows and their hops.

Revision ID: 0004_journeys
Revises: 0003_merge_domains
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_journeys"
down_revision: str | None = "0003_merge_domains"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of schema.py's portable types, so this file never changes when schema.py does.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "journeys",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("first_seen", TS, nullable=False),
        sa.Column("last_seen", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journeys")),
    )
    op.create_index("ix_journeys_last_seen", "journeys", ["last_seen"])
    op.create_table(
        "journey_members",
        sa.Column("sighting_id", BIG_ID, nullable=False),
        sa.Column("journey_id", BIG_ID, nullable=False),
        sa.Column("camera", sa.String(64), nullable=False),
        sa.Column("first_seen", TS, nullable=False),
        sa.Column("last_seen", TS, nullable=False),
        _fk("journey_members", "sighting_id", "sightings", "CASCADE"),
        _fk("journey_members", "journey_id", "journeys", "CASCADE"),
        sa.PrimaryKeyConstraint("sighting_id", name=op.f("pk_journey_members")),
    )
    op.create_index("ix_journey_members_journey_id_first_seen", "journey_members", ["journey_id", "first_seen"])
    op.create_table(
        "journey_links",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("src_id", BIG_ID, nullable=False),
        sa.Column("dst_id", BIG_ID, nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("evidence", JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("decided_by", sa.String(128), nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        _fk("journey_links", "src_id", "sightings", "CASCADE"),
        _fk("journey_links", "dst_id", "sightings", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journey_links")),
    )
    op.create_index("ix_journey_links_src_id", "journey_links", ["src_id"])
    op.create_index("ix_journey_links_dst_id", "journey_links", ["dst_id"])
    op.create_index("ix_journey_links_state", "journey_links", ["state"])
    op.create_table(
        "transit_bins",
        sa.Column("src_camera", sa.String(64), nullable=False),
        sa.Column("dst_camera", sa.String(64), nullable=False),
        sa.Column("bin", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("src_camera", "dst_camera", "bin", name=op.f("pk_transit_bins")),
    )
    op.create_table(
        "follows",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("journey_id", BIG_ID, nullable=True),
        sa.Column("origin_sighting_id", BIG_ID, nullable=True),
        sa.Column("alert_id", BIG_ID, nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("started_by", sa.String(128), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("stopped_at", TS, nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        _fk("follows", "journey_id", "journeys", "SET NULL"),
        _fk("follows", "origin_sighting_id", "sightings", "SET NULL"),
        _fk("follows", "alert_id", "alerts", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follows")),
    )
    op.create_index("ix_follows_active", "follows", ["active"])
    op.create_table(
        "follow_hops",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("follow_id", BIG_ID, nullable=False),
        sa.Column("sighting_id", BIG_ID, nullable=False),
        sa.Column("camera", sa.String(64), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("evidence", JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        _fk("follow_hops", "follow_id", "follows", "CASCADE"),
        _fk("follow_hops", "sighting_id", "sightings", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_hops")),
        sa.UniqueConstraint("follow_id", "sighting_id", name=op.f("uq_follow_hops_follow_id_sighting_id")),
    )
    op.create_index("ix_follow_hops_follow_id", "follow_hops", ["follow_id"])
    op.create_table(
        "linker_state",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_linker_state")),
    )


def downgrade() -> None:
    for table in ("linker_state", "follow_hops", "follows", "transit_bins", "journey_links", "journey_members",
                  "journeys"):
        op.drop_table(table)
