"""team_allocations and team_pool_shares: members' shares of their team's pool per period

`team_allocations` holds every setting of a share (append-only, who set it and when);
`team_pool_shares` is the projection the draw-down limit reads: each member's current
allocation and what they drew from the pool in the period (issues #16 and #23).

Revision ID: 0020_team_allocations
Revises: 0017_detector_runs
Create Date: 2026-12-07 22:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0020_team_allocations"
down_revision = "0021_ledger_person_period"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "team_allocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("set_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_team_allocations_team_id_teams")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_team_allocations_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["set_by_id"], ["people.id"], name=op.f("fk_team_allocations_set_by_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_allocations")),
    )
    op.create_index("ix_team_allocations_team_period", "team_allocations", ["team_id", "period"])
    op.create_table(
        "team_pool_shares",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("allocation", sa.BigInteger(), nullable=True),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "period", "person_id", name=op.f("pk_team_pool_shares")),
    )


def downgrade() -> None:
    op.drop_table("team_pool_shares")
    op.drop_index("ix_team_allocations_team_period", table_name="team_allocations")
    op.drop_table("team_allocations")
