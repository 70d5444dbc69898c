"""Feedback (the true label of a logged prediction) and the review queue that asks for it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from service.log.stats import FEEDBACK, LOG, PREDICTED, as_utc
from service.log.tables import FeedbackRow, RequestLogRow


def find_prediction(connection: Connection, request_id: str, item_index: int) -> Row[Any, Any, Any, Any] | None:
    """The newest predicted log row of a request id and item (a retried request is logged twice)."""
    query = (
        select(LOG.id, LOG.label, LOG.model_version, LOG.created_at)
        .where(LOG.request_id == request_id, LOG.item_index == item_index, PREDICTED)
        .order_by(LOG.id.desc())
        .limit(1)
    )
    return connection.execute(query).first()


def upsert_feedback(
    connection: Connection,
    *,
    request_id: str,
    item_index: int,
    label: str,
    note: str | None,
    client_key_id: str | None,
) -> dict[str, Any]:
    """Store the answer for an item; a later answer for the same item replaces the earlier one."""
    now = datetime.now(UTC)
    table = FeedbackRow
    values = {
        "created_at": now,
        "updated_at": now,
        "request_id": request_id,
        "item_index": item_index,
        "label": label,
        "note": note,
        "client_key_id": client_key_id,
    }
    changed = {k: values[k] for k in ("updated_at", "label", "note", "client_key_id")}
    dialect = connection.dialect.name
    if dialect in ("sqlite", "postgresql"):
        upsert = (sqlite_insert if dialect == "sqlite" else postgresql_insert)(table).values(values)
        connection.execute(upsert.on_conflict_do_update(index_elements=["request_id", "item_index"], set_=changed))
    else:  # another database: update, else insert (two answers at once may then race; the unique key holds)
        where = and_(FEEDBACK.request_id == request_id, FEEDBACK.item_index == item_index)
        if connection.execute(update(table).where(where).values(changed)).rowcount == 0:
            connection.execute(insert(table).values(values))
    row = connection.execute(
        select(FEEDBACK.created_at, FEEDBACK.updated_at).where(
            FEEDBACK.request_id == request_id, FEEDBACK.item_index == item_index
        )
    ).one()
    return {
        "request_id": request_id,
        "item_index": item_index,
        "label": label,
        "note": note,
        "created_at": as_utc(row.created_at),
        "updated_at": as_utc(row.updated_at),
    }


def review_queue(
    connection: Connection,
    *,
    since: datetime,
    limit: int,
    label: str | None = None,
    model_version: str | None = None,
    client_key_id: str | None = None,
) -> list[dict[str, Any]]:
    """The least confident predictions since `since` (lowest score first), with any feedback on them."""
    joined = RequestLogRow.__table__.outerjoin(
        FeedbackRow.__table__, and_(FEEDBACK.request_id == LOG.request_id, FEEDBACK.item_index == LOG.item_index)
    )
    query = (
        select(
            LOG.request_id,
            LOG.item_index,
            LOG.created_at,
            LOG.text,
            LOG.text_sha256,
            LOG.label,
            LOG.score,
            LOG.model_version,
            LOG.client_key_id,
            FEEDBACK.label.label("feedback_label"),
        )
        .select_from(joined)
        .where(LOG.created_at >= since, PREDICTED)
        .order_by(LOG.score.asc(), LOG.id.desc())
        .limit(limit)
    )
    for column, value in ((LOG.label, label), (LOG.model_version, model_version), (LOG.client_key_id, client_key_id)):
        if value is not None:
            query = query.where(column == value)
    items = []
    for row in connection.execute(query):
        item = dict(row._mapping)
        item["created_at"] = as_utc(item["created_at"])
        items.append(item)
    return items
