"""digest_items: each item's ARR and whether it was open, so a channel's Tier 1 pipeline can be
charted digest by digest (the trend in the digest's chart)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 23:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("digest_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expansion_arr", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("active", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("digest_items", schema=None) as batch_op:
        batch_op.drop_column("active")
        batch_op.drop_column("expansion_arr")
