"""crm_records: the CRM record written for (or matched to) each opportunity

Revision ID: 0011_crm
Revises: 0010
Create Date: 2026-12-07 20:15:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0011_crm"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crm_records",
        sa.Column("opportunity_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("account_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("crm", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("origin", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("claim", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("claimed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("crm_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("opportunity_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("written_amount", sa.Float(), nullable=True),
        sa.Column("close_probability", sa.Float(), nullable=True),
        sa.Column("owner_email", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("unowned", sa.Boolean(), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("close_date", sa.Date(), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("error_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("opportunity_id"),
    )
    with op.batch_alter_table("crm_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_crm_records_account_id"), ["account_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("crm_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_crm_records_account_id"))
    op.drop_table("crm_records")
