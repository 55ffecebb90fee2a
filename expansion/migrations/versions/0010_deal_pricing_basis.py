"""opportunities: how each deal was priced, the customer's stated budget, a sizing caveat,
the alternative for the same need, and the account's propensity beside the deal's own

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 17:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("opportunities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("price_basis", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("stated_budget", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("caveat", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("options", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("account_propensity", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("opportunities", schema=None) as batch_op:
        for column in ("account_propensity", "options", "caveat", "stated_budget", "price_basis"):
            batch_op.drop_column(column)
