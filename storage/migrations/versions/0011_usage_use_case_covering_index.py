"""estimates read a use case's latest calls from the index alone

ix_usage_use_case_time (use_case, occurred_at) also carries the three columns the estimate's
history reads (input and output tokens, template): the latest 1,000 calls of a use case come
from the index without a visit to the table per row (key columns on both databases, so
the models describe one index).
Same number of indexes on usage_events; each entry a few bytes wider.

Revision ID: 0011_usage_use_case_covering
Revises: 0010_scoring_week_summaries
Create Date: 2026-11-28 16:40:00
"""

from alembic import op

revision = "0011_usage_use_case_covering"
down_revision = "0010_scoring_week_summaries"
branch_labels = None
depends_on = None

COVERING = ["use_case", "occurred_at", "input_tokens", "output_tokens", "template_id"]


def upgrade() -> None:
    op.drop_index("ix_usage_use_case_time", table_name="usage_events")
    op.create_index("ix_usage_use_case_time", "usage_events", COVERING)


def downgrade() -> None:
    op.drop_index("ix_usage_use_case_time", table_name="usage_events")
    op.create_index("ix_usage_use_case_time", "usage_events", ["use_case", "occurred_at"])
