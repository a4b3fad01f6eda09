"""prompt library: template texts, versions and approval states

`prompt_templates` gains a description, a state (proposed, approved, retired; existing rows
keep what `approved` said), the current approved version and when it was first approved.
`prompt_template_versions` keeps every text proposed for a template with its variables, its
author, its state and who decided it; versions are never deleted.

Revision ID: 0014_prompt_library
Revises: 0013_dashboard_sign_in
Create Date: 2026-12-07 21:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_prompt_library"
down_revision = "0013_dashboard_sign_in"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("prompt_templates") as batch:
        batch.add_column(sa.Column("description", sa.Text(), server_default="", nullable=False))
        batch.add_column(
            sa.Column("state", sa.String(length=20), server_default="approved", nullable=False)
        )
        batch.add_column(sa.Column("current_version", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("first_approved_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE prompt_templates SET state = CASE WHEN approved THEN 'approved' "
        "ELSE 'proposed' END, first_approved_at = CASE WHEN approved THEN created_at END"
    )
    op.create_table(
        "prompt_template_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["people.id"], name=op.f("fk_prompt_template_versions_author_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["people.id"],
            name=op.f("fk_prompt_template_versions_decided_by_id_people"),
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["prompt_templates.id"],
            name=op.f("fk_prompt_template_versions_template_id_prompt_templates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompt_template_versions")),
        sa.UniqueConstraint(
            "template_id", "version", name=op.f("uq_prompt_template_versions_template_id_version")
        ),
    )


def downgrade() -> None:
    op.drop_table("prompt_template_versions")
    with op.batch_alter_table("prompt_templates") as batch:
        batch.drop_column("first_approved_at")
        batch.drop_column("current_version")
        batch.drop_column("state")
        batch.drop_column("description")
