"""use case totals: per person, period and use case usage, for capped use cases

Revision ID: 0002_use_case_totals
Revises: 0001
Create Date: 2026-11-28 12:08:52.617086
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_use_case_totals"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "use_case_totals",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("use_case", sa.String(length=100), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("person_id", "period", "use_case", name=op.f("pk_use_case_totals")),
    )
    # Build the projection from the usage already recorded (the same rule verify() checks).
    op.execute(
        "INSERT INTO use_case_totals (person_id, period, use_case, used, events) "
        "SELECT person_id, period, COALESCE(use_case, ''), SUM(budget_tokens), COUNT(*) "
        "FROM usage_events WHERE person_id IS NOT NULL "
        "GROUP BY person_id, period, COALESCE(use_case, '')"
    )


def downgrade() -> None:
    op.drop_table("use_case_totals")
