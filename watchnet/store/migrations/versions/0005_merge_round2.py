"""Join the second round's branches (alert groups, journeys, event log) back into one head.

They were written side by side, each off 0003; from here on new migrations build on this single head again
(``alembic revision --autogenerate`` needs one).

Revision ID: 0005_merge_round2
Revises: 0004_alert_groups, 0004_journeys, 0004_outbox
"""

from __future__ import annotations

revision = "0005_merge_round2"
down_revision = ("0004_alert_groups", "0004_journeys", "0004_outbox")
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: a merge point only."""


def downgrade() -> None:
    """Nothing to change: a merge point only."""
