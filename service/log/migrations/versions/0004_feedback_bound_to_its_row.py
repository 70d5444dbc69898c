"""Feedback bound to the very log row it was given for, and to that row's owner.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

Until 0003 a feedback row was joined at read time to the newest predicted log row of its request
id and item, whoever wrote that row: a later request with the same X-Request-ID (another client's)
inherited the feedback, and its text went into training under the other client's label. Now each
feedback row names its log row (`log_id`) and that row's client key id (`owner_key_id`, '' for
none); the unique key is (request id, item, owner), so two clients that happen to reuse one
request id each keep their own answer.

Existing feedback is bound to the newest predicted row of its request id and item logged no later
than the feedback's last answer (else the newest one), the rule that was read until now minus the
rows logged after the answer.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BEFORE_ANSWER = """
    SELECT MAX(r.id) FROM request_log r
    WHERE r.request_id = feedback.request_id AND r.item_index = feedback.item_index
      AND r.label IS NOT NULL {extra}
"""


def upgrade() -> None:
    with op.batch_alter_table("feedback") as batch:
        batch.add_column(sa.Column("log_id", sa.Integer()))
        batch.add_column(sa.Column("owner_key_id", sa.String(16), nullable=False, server_default=""))
    before = BEFORE_ANSWER.format(extra="AND r.created_at <= feedback.updated_at")
    newest = BEFORE_ANSWER.format(extra="")
    op.execute(f"UPDATE feedback SET log_id = COALESCE(({before}), ({newest}))")
    op.execute(
        "UPDATE feedback SET owner_key_id = COALESCE("
        "(SELECT r.client_key_id FROM request_log r WHERE r.id = feedback.log_id), '')"
    )
    # Rows of one request id and item that now name the same owner (there were none before: the
    # unique key was the request id and item) cannot clash. A log row has one feedback row at most.
    with op.batch_alter_table("feedback") as batch:
        batch.drop_constraint("uq_feedback_item", type_="unique")
        batch.create_unique_constraint("uq_feedback_owner_item", ["request_id", "item_index", "owner_key_id"])
        batch.create_index("ix_feedback_log_id", ["log_id"], unique=True)


def downgrade() -> None:
    # Two owners' answers for one request id and item cannot both stay under the old unique key:
    # the newest answer wins, as it did before 0004.
    op.execute(
        "DELETE FROM feedback WHERE id NOT IN (SELECT MAX(f.id) FROM feedback f GROUP BY f.request_id, f.item_index)"
    )
    with op.batch_alter_table("feedback") as batch:
        batch.drop_index("ix_feedback_log_id")
        batch.drop_constraint("uq_feedback_owner_item", type_="unique")
        batch.create_unique_constraint("uq_feedback_item", ["request_id", "item_index"])
        batch.drop_column("owner_key_id")
        batch.drop_column("log_id")
