"""The language each logged text was read as (served by language, issue 22).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

`language` is the ISO 639-1 code the request named or the identifier detected (`en`, `zh`, ...);
NULL on rows written before, and on rows of a request that named its model rather than a language
while only one language is served.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("request_log") as batch:
        batch.add_column(sa.Column("language", sa.String(16)))


def downgrade() -> None:
    with op.batch_alter_table("request_log") as batch:
        batch.drop_column("language")
