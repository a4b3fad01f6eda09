"""detector_runs: the closed weeks the gaming detectors have judged

The daily `detectors` job judges the week holding yesterday and every settled, closed week not
in this table (after downtime, or a first install on existing data), then records it.

Revision ID: 0017_detector_runs
Revises: 0016_verified_minutes
Create Date: 2026-12-07 21:00:00
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0017_detector_runs"
down_revision = "0016_verified_minutes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "detector_runs",
        sa.Column("week", sa.String(10), primary_key=True),
        sa.Column("ran_at", storage.models.UTCDateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("detector_runs")
