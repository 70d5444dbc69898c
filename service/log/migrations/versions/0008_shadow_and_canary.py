"""Shadow and canary candidates: a `role` on every log row, and the `candidates` table replicas follow.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

`request_log.role` says what a row is: `primary` (the model's answer, as every row before),
`canary` (an answer the model's canary candidate gave) or `shadow` (the candidate's score of a text
the primary answered, never sent to anyone: stats, drift, the review queue and feedback leave it out).
`candidates` holds each model's candidate as the fleet should run it; the newest row of a model wins,
and a row without `model_dir` means "no candidate".
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("request_log") as batch:
        batch.add_column(sa.Column("role", sa.String(16), nullable=False, server_default="primary"))
    op.create_table(
        "candidates",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("model_dir", sa.Text),
        sa.Column("version", sa.String(32)),
        sa.Column("shadow_percent", sa.Float, nullable=False, server_default="0"),
        sa.Column("canary_percent", sa.Float, nullable=False, server_default="0"),
        sa.Column("requested_by", sa.String(128)),
    )
    op.create_index("ix_candidates_model_id", "candidates", ["model", "id"])


def downgrade() -> None:
    op.drop_index("ix_candidates_model_id", table_name="candidates")
    op.drop_table("candidates")
    with op.batch_alter_table("request_log") as batch:
        batch.drop_column("role")
