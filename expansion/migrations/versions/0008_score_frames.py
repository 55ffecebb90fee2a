"""score frames and portfolio frames: results and the merged portfolio as Parquet

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 16:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "score_frames",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("score_run_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=True),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["score_run_id"], ["score_runs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("score_frames", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_score_frames_score_run_id"), ["score_run_id"], unique=False
        )

    op.create_table(
        "portfolio_frames",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("data_version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=True),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("portfolio_frames", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_portfolio_frames_data_version"), ["data_version"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("portfolio_frames", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portfolio_frames_data_version"))
    op.drop_table("portfolio_frames")
    with op.batch_alter_table("score_frames", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_score_frames_score_run_id"))
    op.drop_table("score_frames")
