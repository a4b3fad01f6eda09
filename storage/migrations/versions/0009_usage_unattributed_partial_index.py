"""unattributed usage: a partial index over the rows without a person only

Every recorded event paid for an (identity, person_id) index entry, though only unattributed
rows (person_id IS NULL) are ever looked up by identity: the admin listing and `usage
reassign`. A partial index costs attributed rows nothing.

Revision ID: 0009_usage_unattributed_partial
Revises: 0008_outbox_to_team
Create Date: 2026-11-28 15:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_usage_unattributed_partial"
down_revision = "0008_outbox_to_team"
branch_labels = None
depends_on = None

UNATTRIBUTED = sa.text("person_id IS NULL")


def upgrade() -> None:
    op.drop_index("ix_usage_identity_unattributed", table_name="usage_events")
    op.create_index(
        "ix_usage_unattributed",
        "usage_events",
        ["identity"],
        unique=False,
        sqlite_where=UNATTRIBUTED,
        postgresql_where=UNATTRIBUTED,
    )


def downgrade() -> None:
    op.drop_index("ix_usage_unattributed", table_name="usage_events")
    op.create_index(
        "ix_usage_identity_unattributed", "usage_events", ["identity", "person_id"], unique=False
    )
