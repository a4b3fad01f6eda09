"""savings decisions once only

`outcomes.savings_decided_claim`: the claim (its `savings.claim` audit entry) last verified or
declined on the outcome. Deciding is a conditional update on it, so one claim gets one
decision however many clicks race. Existing verified outcomes keep no claim id: verifying
them again is refused by `minutes_verified` already.

Revision ID: 0015_savings_decisions
Revises: 0014_prompt_library
Create Date: 2026-12-07 20:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_savings_decisions"
down_revision = "0014_prompt_library"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outcomes") as batch:
        batch.add_column(sa.Column("savings_decided_claim", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outcomes") as batch:
        batch.drop_column("savings_decided_claim")
