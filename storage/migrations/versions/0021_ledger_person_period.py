"""ledger entries by person and period

`balance` splits a person's usage of the current period by where it was drawn from (own
grants, team pool, project budgets, reserved pools, overdraft), reading their debit and
overdraft entries of that period: this index keeps that read to one period's entries instead
of the person's whole history.

Revision ID: 0021_ledger_person_period
Revises: 0017_detector_runs
Create Date: 2026-12-07 23:20:00
"""

from alembic import op

revision = "0021_ledger_person_period"
down_revision = "0018_authorize_refusals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_ledger_entries_person_period", "ledger_entries", ["person_id", "period", "entry_type"]
    )


def downgrade() -> None:
    op.drop_index("ix_ledger_entries_person_period", table_name="ledger_entries")
