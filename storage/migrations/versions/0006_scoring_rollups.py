"""scoring rollups: per week, person, use case and template sums, and the weeks built

Revision ID: 0006_scoring_rollups
Revises: 0005_outbox_and_scheduler_jobs
Create Date: 2026-11-28 12:24:16.387673
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0006_scoring_rollups"
down_revision = "0005_outbox_and_scheduler_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scoring_rollups",
        sa.Column("week", sa.String(length=10), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("use_case", sa.String(length=100), nullable=False),
        sa.Column("template_id", sa.String(length=200), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_micros", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("artifacts", sa.BigInteger(), nullable=False),
        sa.Column("accepted", sa.BigInteger(), nullable=False),
        sa.Column("edited", sa.BigInteger(), nullable=False),
        sa.Column("edit_distance_sum", sa.Float(), nullable=False),
        sa.Column("drafts", sa.BigInteger(), nullable=False),
        sa.Column("first_draft_seconds_sum", sa.BigInteger(), nullable=False),
        sa.Column("verified_minutes", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "week", "person_id", "use_case", "template_id", name=op.f("pk_scoring_rollups")
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "scoring_weeks",
        sa.Column("week", sa.String(length=10), nullable=False),
        sa.Column("usage_events", sa.BigInteger(), nullable=False),
        sa.Column("outcomes", sa.BigInteger(), nullable=False),
        sa.Column("built_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("week", name=op.f("pk_scoring_weeks")),
    )


def downgrade() -> None:
    op.drop_table("scoring_weeks")
    op.drop_table("scoring_rollups")
