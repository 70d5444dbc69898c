"""The served model's name on every log row and every rollout (named models, SENTIMENT_MODELS).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

Rows written before have no name (NULL): they were all the one model's, which is the default
model's now; the routes that filter by model read NULL as the default model. A rollout row without a
name (written before) is the default model's rollout.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("request_log") as batch:
        batch.add_column(sa.Column("model", sa.String(64)))
        batch.create_index("ix_request_log_model_created", ["model", "created_at"])
    with op.batch_alter_table("rollouts") as batch:
        batch.add_column(sa.Column("model", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("rollouts") as batch:
        batch.drop_column("model")
    with op.batch_alter_table("request_log") as batch:
        batch.drop_index("ix_request_log_model_created")
        batch.drop_column("model")
