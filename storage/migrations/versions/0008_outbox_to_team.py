"""outbox: the directory team a channel post is for (Notice.to_team)

On Teams every team has its own General channel, so a channel name alone does not say which
team's channel a team's spotlight goes to.

Revision ID: 0008_outbox_to_team
Revises: 0007_governance
Create Date: 2026-11-28 13:54:20.587653
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_outbox_to_team"
down_revision = "0007_governance"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("to_team", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("to_team")
