"""Request options and token counts on each row; the feedback and rollouts tables; a (label, time) index.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("request_log") as batch:
        batch.add_column(sa.Column("explain", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("sentences", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("tokens", sa.Integer()))
        batch.add_column(sa.Column("unknown_tokens", sa.Integer()))
    op.create_index("ix_request_log_version_created", "request_log", ["model_version", "created_at"])
    # The newest rows with one label (GET /v1/requests?label=) by a backward range scan; it also
    # serves every query the (label) index of 0001 served, so that one goes.
    op.drop_index("ix_request_log_label", "request_log")
    op.create_index("ix_request_log_label_created", "request_log", ["label", "created_at"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("item_index", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("note", sa.Text()),
        sa.Column("client_key_id", sa.String(16)),
        sa.UniqueConstraint("request_id", "item_index", name="uq_feedback_item"),
    )
    op.create_index("ix_feedback_created_at", "feedback", ["created_at"])
    op.create_table(
        "rollouts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("model_dir", sa.Text()),
        sa.Column("requested_by", sa.String(128)),
    )


def downgrade() -> None:
    op.drop_table("rollouts")
    op.drop_table("feedback")
    op.drop_index("ix_request_log_version_created", "request_log")
    op.drop_index("ix_request_log_label_created", "request_log")
    op.create_index("ix_request_log_label", "request_log", ["label"])
    with op.batch_alter_table("request_log") as batch:
        for name in ("unknown_tokens", "tokens", "sentences", "explain"):
            batch.drop_column(name)
