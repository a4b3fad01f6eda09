"""policy_versions and person_settings: applied policies, and each person's notice settings

`tokenbot policy apply` stores each validated policy as a numbered version (the highest is in
force); `/tokens settings` stores what a person chose for reminders, alerts, the weekly digest
and quiet hours (NULL: the policy's default).

Revision ID: 0023_policy_versions
Revises: 0017_detector_runs
Create Date: 2026-12-07 22:40:00
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0023_policy_versions"
down_revision = "0022_auto_approvals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_versions",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("applied_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("applied_by", sa.String(320), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_policy_versions")),
    )
    op.create_table(
        "person_settings",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("reminders", sa.Boolean(), nullable=True),
        sa.Column("alerts", sa.String(10), nullable=True),
        sa.Column("digest", sa.Boolean(), nullable=True),
        sa.Column("quiet_hours", sa.String(11), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_person_settings_person_id_people")
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_person_settings")),
    )


def downgrade() -> None:
    op.drop_table("person_settings")
    op.drop_table("policy_versions")
