"""authorize_refusals: one row per authorize call the policy refused; scoring_spend_rollups

The dashboard's policy exceptions count refused calls by reason (the decision's code) over a
period and a scope of people. Only refusals are written; allowed calls leave no row. No prompt
is stored: the identity and the model as sent, the use case and the project.

scoring_spend_rollups: spend per person, project, use case and model in each stored rollup
window, built with the scoring rollup, so the dashboard's finance page reads sums. Rollups
built before hold none, so every stored week is marked stale here (rebuilt on next read).

Revision ID: 0018_authorize_refusals
Revises: 0017_detector_runs
Create Date: 2026-12-07 22:40:00
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0018_authorize_refusals"
down_revision = "0023_policy_versions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "authorize_refusals",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("identity", sa.String(320), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("use_case", sa.String(100), nullable=True),
        sa.Column("project", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authorize_refusals")),
    )
    op.create_index("ix_authorize_refusals_at_code", "authorize_refusals", ["at", "code"])
    op.create_table(
        "scoring_spend_rollups",
        sa.Column("week", sa.String(length=10), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("project", sa.String(length=200), nullable=False),
        sa.Column("use_case", sa.String(length=100), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_micros", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "week",
            "person_id",
            "project",
            "use_case",
            "model",
            name=op.f("pk_scoring_spend_rollups"),
        ),
        sqlite_with_rowid=False,
    )
    op.execute("DELETE FROM scoring_weeks")  # rebuilt with their spend on the next read


def downgrade() -> None:
    op.drop_table("scoring_spend_rollups")
    op.drop_index("ix_authorize_refusals_at_code", table_name="authorize_refusals")
    op.drop_table("authorize_refusals")
