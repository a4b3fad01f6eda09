"""scoring week summaries: per-week baseline values and template sums, built with the rollup

The Monday spotlight and the score, leaderboard and App Home reads took the baselines' medians
over 8 weeks of rollup rows (200,000 at 10,000 people) and the template reports over 9 weeks,
on every call. Each closed week now keeps, beside its rollup, the person-week values baselines
take medians of (`scoring_week_values`) and its template sums (`scoring_template_weeks`);
`scoring_weeks.templates` names the prompt templates they were built with.

Revision ID: 0010_scoring_week_summaries
Revises: 0009_usage_unattributed_partial
Create Date: 2026-11-28 16:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_scoring_week_summaries"
down_revision = "0009_usage_unattributed_partial"
branch_labels = None
depends_on = None

MEDIANS = (
    "tokens_per_task",
    "acceptance_rate",
    "revision_burden",
    "first_draft_seconds",
    "cost_per_accepted",
    "accepted_per_1k_tokens",
    "accepted_per_week",
    "verified_minutes_per_week",
    "template_reuse_rate",
)


def upgrade() -> None:
    with op.batch_alter_table("scoring_weeks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("templates", sa.String(length=64), nullable=True))
    op.create_table(
        "scoring_week_values",
        sa.Column("week", sa.String(length=10), nullable=False),
        sa.Column("use_case", sa.String(length=100), nullable=False),
        sa.Column("person_weeks", sa.BigInteger(), nullable=False),
        *(sa.Column(name, sa.LargeBinary(), nullable=False) for name in MEDIANS),
        sa.PrimaryKeyConstraint("week", "use_case", name=op.f("pk_scoring_week_values")),
    )
    op.create_table(
        "scoring_template_weeks",
        sa.Column("week", sa.String(length=10), nullable=False),
        sa.Column("use_case", sa.String(length=100), nullable=False),
        sa.Column("template_id", sa.String(length=200), nullable=False),
        sa.Column("by_author", sa.Boolean(), nullable=False),
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
        sa.Column("people", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "week", "use_case", "template_id", "by_author", name=op.f("pk_scoring_template_weeks")
        ),
    )


def downgrade() -> None:
    op.drop_table("scoring_template_weeks")
    op.drop_table("scoring_week_values")
    with op.batch_alter_table("scoring_weeks", schema=None) as batch_op:
        batch_op.drop_column("templates")
