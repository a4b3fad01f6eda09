"""verified minutes beside the reported ones

`outcomes.verified_minutes`: the minutes a manager verified (the claim's figure). Verifying
used to overwrite `minutes_saved`, the figure the person's tools reported; both are kept now.
Rows verified before keep their figure in `minutes_saved` (readers fall back to it).

Revision ID: 0016_verified_minutes
Revises: 0015_savings_decisions
Create Date: 2026-12-07 20:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_verified_minutes"
down_revision = "0015_savings_decisions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outcomes") as batch:
        batch.add_column(sa.Column("verified_minutes", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outcomes") as batch:
        batch.drop_column("verified_minutes")
