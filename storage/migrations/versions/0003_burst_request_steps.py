"""burst request steps and decisions: who decided each step, the finance approver chosen up
front, when the current step began (for nudges and expiry), and an index to list the audit log
by subject

Revision ID: 0003_burst_request_steps
Revises: 0002_use_case_totals
Create Date: 2026-11-28 12:10:07.173706
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0003_burst_request_steps"
down_revision = "0002_use_case_totals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "burst_request_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=20), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=False),
        sa.Column("as_admin", sa.Boolean(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("decided_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["people.id"], name=op.f("fk_burst_request_decisions_actor_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["burst_requests.id"],
            name=op.f("fk_burst_request_decisions_request_id_burst_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_burst_request_decisions")),
        sa.UniqueConstraint(
            "request_id", "step", name=op.f("uq_burst_request_decisions_request_id_step")
        ),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_subject", ["subject", "at"], unique=False)

    with op.batch_alter_table("burst_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("finance_approver_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("step_started_at", storage.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_burst_requests_finance_approver_id_people"),
            "people",
            ["finance_approver_id"],
            ["id"],
        )
    # Requests made before this revision started their step when they were made.
    op.execute(
        "UPDATE burst_requests SET step_started_at = created_at WHERE step_started_at IS NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("burst_requests", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_burst_requests_finance_approver_id_people"), type_="foreignkey"
        )
        batch_op.drop_column("step_started_at")
        batch_op.drop_column("finance_approver_id")

    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_subject")

    op.drop_table("burst_request_decisions")
