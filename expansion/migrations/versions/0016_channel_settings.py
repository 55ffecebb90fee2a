"""channel_settings and channel_setting_events: per-channel settings (money redacted as bands)
and their audit trail

Revision ID: 0016
Revises: 0015_users
Create Date: 2026-12-07 23:10:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0016"
down_revision = "0015_users"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_settings",
        sa.Column("team_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("redact", sa.Boolean(), nullable=True),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "channel"),
    )
    op.create_table(
        "channel_setting_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("setting", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("old_value", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("new_value", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("channel_setting_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_channel_setting_events_channel"), ["channel"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("channel_setting_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_setting_events_channel"))
    op.drop_table("channel_setting_events")
    op.drop_table("channel_settings")
