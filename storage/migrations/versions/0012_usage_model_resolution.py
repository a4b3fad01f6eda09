"""usage keeps the model name as sent and where its price came from

usage_events.model holds the resolved model (a catalog name, a public model id from
genai-prices, or the name as sent when nothing resolves it); model_sent keeps the provider's or
gateway's own name when it differs (gpt-4o-2024-08-06 booked as gpt-4o), and price_source says
whether the price is the policy's catalog, a public price, or unknown. Rows written before this
revision have NULL in both (their model is as sent; unknown_price tells the rest).
A partial index over the rows at an unknown price serves `usage unknown` and `usage reprice`.

Revision ID: 0012_usage_model_resolution
Revises: 0011_usage_use_case_covering
Create Date: 2026-12-07 19:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_usage_model_resolution"
down_revision = "0011_usage_use_case_covering"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage_events") as batch:
        batch.add_column(sa.Column("model_sent", sa.String(200), nullable=True))
        batch.add_column(sa.Column("price_source", sa.String(10), nullable=True))
    op.create_index(
        "ix_usage_unknown_price",
        "usage_events",
        ["model"],
        sqlite_where=sa.text("unknown_price"),
        postgresql_where=sa.text("unknown_price"),
    )


def downgrade() -> None:
    op.drop_index("ix_usage_unknown_price", table_name="usage_events")
    with op.batch_alter_table("usage_events") as batch:
        batch.drop_column("price_source")
        batch.drop_column("model_sent")
