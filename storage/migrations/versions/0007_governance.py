"""governance: quota recommendations and the overrides applied from them; files on outbox rows

Revision ID: 0007_governance
Revises: 0006_scoring_rollups
Create Date: 2026-11-28 12:56:05.141554
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0007_governance"
down_revision = "0006_scoring_rollups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quota_recommendations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("subject_name", sa.String(length=200), nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("tier_from", sa.String(length=100), nullable=True),
        sa.Column("tier_to", sa.String(length=100), nullable=True),
        sa.Column("amount_from", sa.BigInteger(), nullable=False),
        sa.Column("amount_to", sa.BigInteger(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["people.id"],
            name=op.f("fk_quota_recommendations_decided_by_id_people"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quota_recommendations")),
        sa.UniqueConstraint("key", name=op.f("uq_quota_recommendations_key")),
    )
    op.create_index(
        op.f("ix_quota_recommendations_month"), "quota_recommendations", ["month"], unique=False
    )
    op.create_table(
        "quota_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("tier", sa.String(length=100), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("effective_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recommendation_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["people.id"], name=op.f("fk_quota_overrides_created_by_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["recommendation_id"],
            ["quota_recommendations.id"],
            name=op.f("fk_quota_overrides_recommendation_id_quota_recommendations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quota_overrides")),
    )
    op.create_index(
        "ix_quota_overrides_subject",
        "quota_overrides",
        ["kind", "subject", "effective_at"],
        unique=False,
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        # Rows already waiting carry no files.
        batch_op.add_column(
            sa.Column("attachments", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("attachments")
    op.drop_index("ix_quota_overrides_subject", table_name="quota_overrides")
    op.drop_table("quota_overrides")
    op.drop_index(op.f("ix_quota_recommendations_month"), table_name="quota_recommendations")
    op.drop_table("quota_recommendations")
