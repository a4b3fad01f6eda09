"""burst_requests: auto-approval rules (which rule, its per-period slot, the Undo window) and
the submission key that makes a redelivered request submission find the request it made

Revision ID: 0022_auto_approvals
Revises: 0017_detector_runs
Create Date: 2026-12-07 22:40:00
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0022_auto_approvals"
down_revision = "0017_detector_runs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("burst_requests") as batch:
        batch.add_column(sa.Column("submission_key", sa.String(300), nullable=True))
        batch.add_column(sa.Column("use_case", sa.String(100), nullable=True))
        batch.add_column(sa.Column("auto_rule", sa.String(100), nullable=True))
        batch.add_column(sa.Column("auto_period", sa.String(20), nullable=True))
        batch.add_column(sa.Column("auto_slot", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("undo_until", storage.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("undone_at", storage.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column(
                "undone_by_id",
                sa.Integer(),
                sa.ForeignKey("people.id", name="fk_burst_requests_undone_by_id_people"),
                nullable=True,
            )
        )
        batch.add_column(sa.Column("revoked_amount", sa.BigInteger(), nullable=True))
        batch.create_unique_constraint("uq_burst_requests_submission_key", ["submission_key"])
        batch.create_unique_constraint(
            "uq_burst_requests_auto_slot",
            ["requester_id", "auto_rule", "auto_period", "auto_slot"],
        )


def downgrade() -> None:
    with op.batch_alter_table("burst_requests") as batch:
        batch.drop_constraint("uq_burst_requests_auto_slot", type_="unique")
        batch.drop_constraint("uq_burst_requests_submission_key", type_="unique")
        for column in (
            "revoked_amount",
            "undone_by_id",
            "undone_at",
            "undo_until",
            "auto_slot",
            "auto_period",
            "auto_rule",
            "use_case",
            "submission_key",
        ):
            batch.drop_column(column)
