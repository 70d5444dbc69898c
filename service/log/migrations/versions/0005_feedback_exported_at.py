"""When each feedback row was last exported for training (log retention keeps its row until then).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

`python -m training export-feedback` sets `exported_at`; the retention pass
(`SENTIMENT_LOG_RETENTION_DAYS`) deletes a log row that feedback points at only once that feedback
was exported or is older than `SENTIMENT_FEEDBACK_RETENTION_DAYS`.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feedback") as batch:
        batch.add_column(sa.Column("exported_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("exported_at")
