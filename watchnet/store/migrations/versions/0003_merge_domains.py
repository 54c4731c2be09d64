"""Join the domain branches (auth, sightings, watchlist) back into one head.

Each domain added its tables on its own branch off 0001 so they could be written side by side; from
here on, new migrations build on this single head (``alembic revision --autogenerate`` needs one).

Revision ID: 0003_merge_domains
Revises: 0002_auth, 0002_sightings, 0002_watchlist
"""

from __future__ import annotations

revision = "0003_merge_domains"
down_revision = ("0002_auth", "0002_sightings", "0002_watchlist")
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: a merge point only."""


def downgrade() -> None:
    """Nothing to change: a merge point only."""
