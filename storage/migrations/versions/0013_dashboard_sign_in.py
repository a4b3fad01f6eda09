"""dashboard sign-in: one-time links and browser sessions

`dashboard_sign_ins` holds the SHA-256 of each one-time sign-in link's token (never the token),
who it signs in, when it expires and when it was used (set once, by a conditional update: a
link opens one session at most, even when opened twice at once). `dashboard_sessions` holds the
SHA-256 of each browser session's token, its person, how they signed in, and its end.

Revision ID: 0013_dashboard_sign_in
Revises: 0012_usage_model_resolution
Create Date: 2026-12-07 19:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_dashboard_sign_in"
down_revision = "0012_usage_model_resolution"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboard_sign_ins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_dashboard_sign_ins_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_sign_ins")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_dashboard_sign_ins_token_hash")),
    )
    op.create_index(
        op.f("ix_dashboard_sign_ins_person_id"), "dashboard_sign_ins", ["person_id"], unique=False
    )
    op.create_table(
        "dashboard_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_dashboard_sessions_person_id_people")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_dashboard_sessions")),
    )
    op.create_index(
        op.f("ix_dashboard_sessions_person_id"), "dashboard_sessions", ["person_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_dashboard_sessions_person_id"), table_name="dashboard_sessions")
    op.drop_table("dashboard_sessions")
    op.drop_index(op.f("ix_dashboard_sign_ins_person_id"), table_name="dashboard_sign_ins")
    op.drop_table("dashboard_sign_ins")
