"""Slack deliveries: the requests the bot already handled, to drop retries and replays

One row per Slack event id (``event:<id>``) or signed request (``sig:<signature>``), claimed
before the request's work runs; a second delivery finds the row and does nothing. In the main
database, so every replica shares it; ``slack_*`` like the SDK's stores of migration 0005, so
autogenerate leaves it alone. The bot (bot/deliveries.py) prunes rows older than an hour.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_deliveries",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("slack_deliveries_received_at", "slack_deliveries", ["received_at"])


def downgrade() -> None:
    op.drop_index("slack_deliveries_received_at", table_name="slack_deliveries")
    op.drop_table("slack_deliveries")
