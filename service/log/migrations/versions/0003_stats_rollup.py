"""The stats rollup: the log's figures per minute, hour and day, and how far they reach.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

Creates the tables only. The rollup of the rows already in the log (a backfill) is done by the
service's background task after start, an hour of log time per transaction, resumable: this
upgrade stays instant on a 10 M-row database and `/v1/stats` reads the raw log until then.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stats_rollup",
        sa.Column("span_s", sa.Integer(), nullable=False),
        sa.Column("start_s", sa.BigInteger(), nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("figure", sa.String(24), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("bin", sa.Integer(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.Float()),
        sa.Column("low", sa.Float()),
        sa.Column("high", sa.Float()),
        sa.PrimaryKeyConstraint("span_s", "start_s", "model_version", "figure", "category", "bin"),
    )
    op.create_table(
        "stats_rollup_state",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("watermark_s", sa.BigInteger()),
        sa.Column("seen_id", sa.BigInteger()),
        sa.Column("rescan_from_id", sa.BigInteger()),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
    )
    op.bulk_insert(sa.table("stats_rollup_state", sa.column("id", sa.Integer())), [{"id": 1}])


def downgrade() -> None:
    op.drop_table("stats_rollup_state")
    op.drop_table("stats_rollup")
