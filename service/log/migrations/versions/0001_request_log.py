"""Create the request_log table.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "request_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("endpoint", sa.String(64), nullable=False),
        sa.Column("item_index", sa.Integer(), nullable=False),
        sa.Column("client_key_id", sa.String(16)),
        sa.Column("text", sa.Text()),
        sa.Column("text_sha256", sa.String(64)),
        sa.Column("text_chars", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(64)),
        sa.Column("score", sa.Float()),
        sa.Column("model_version", sa.String(32)),
        sa.Column("batch_size", sa.Integer()),
        sa.Column("queue_wait_ms", sa.Float()),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(64)),
    )
    op.create_index("ix_request_log_created_at", "request_log", ["created_at"])
    op.create_index("ix_request_log_request_id", "request_log", ["request_id"])
    op.create_index("ix_request_log_label", "request_log", ["label"])


def downgrade() -> None:
    op.drop_table("request_log")
