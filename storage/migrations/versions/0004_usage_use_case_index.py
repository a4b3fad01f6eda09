"""usage by use case and time: estimates read a use case's latest calls through this index

Revision ID: 0004_usage_use_case_index
Revises: 0003_burst_request_steps
Create Date: 2026-11-28 12:30:00
"""

from alembic import op

revision = "0004_usage_use_case_index"
down_revision = "0003_burst_request_steps"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_usage_use_case_time", "usage_events", ["use_case", "occurred_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_usage_use_case_time", table_name="usage_events")
