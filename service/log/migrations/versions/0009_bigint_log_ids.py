"""64-bit request-log ids: `request_log.id` and `feedback.log_id` become BIGINT on PostgreSQL.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

Since 0001 they were 32-bit INTEGERs: at 500 requests/s (43 M rows a day) the ids run out after
about 50 days, retention or not (ids are never reused). PostgreSQL rewrites the table and its
indexes under an exclusive lock: about a minute per 10 M rows, during which the log cannot be written
(the service's writer holds rows in memory meanwhile, up to SENTIMENT_LOG_MAX_PENDING). Run
`python -m service migrate` in a quiet hour before starting the new version (README, "PostgreSQL").
SQLite's INTEGER PRIMARY KEY is 64-bit already: nothing to do there.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column("request_log", "id", type_=sa.BigInteger, existing_nullable=False)
    op.execute("ALTER SEQUENCE IF EXISTS request_log_id_seq AS BIGINT")
    op.alter_column("feedback", "log_id", type_=sa.BigInteger, existing_nullable=True)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column("feedback", "log_id", type_=sa.Integer, existing_nullable=True)
    op.execute("ALTER SEQUENCE IF EXISTS request_log_id_seq AS INTEGER")
    op.alter_column("request_log", "id", type_=sa.Integer, existing_nullable=False)
