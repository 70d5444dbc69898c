"""Feedback (the true label of a logged prediction) and the review queue that asks for it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from service.log.stats import FEEDBACK, LOG, PREDICTED, as_utc
from service.log.tables import FeedbackRow, RequestLogRow


def find_prediction(
    connection: Connection, request_id: str, item_index: int, *, owner: str | None = None, anyone: bool = False
) -> Row[Any, Any, Any, Any, Any, Any] | None:
    """The newest predicted log row of a request id and item made by `owner` (a retry logs it twice).

    `owner` is a client key id, None for rows logged without a key; `anyone=True` (an admin, or a
    service without prediction keys) takes the newest row whoever made it.
    """
    query = (
        select(LOG.id, LOG.label, LOG.model_version, LOG.created_at, LOG.client_key_id, LOG.model)
        .where(LOG.request_id == request_id, LOG.item_index == item_index, PREDICTED)
        .order_by(LOG.id.desc())
        .limit(1)
    )
    if not anyone:
        query = query.where(LOG.client_key_id == owner if owner is not None else LOG.client_key_id.is_(None))
    return connection.execute(query).first()


def upsert_feedback(
    connection: Connection,
    *,
    prediction: Row[Any, Any, Any, Any, Any, Any],
    request_id: str,
    item_index: int,
    label: str,
    note: str | None,
    client_key_id: str | None,
) -> dict[str, Any]:
    """Store the answer for the `prediction` row (from `find_prediction`).

    One answer per request id, item and owner: a later one replaces it and moves it to the newest
    row (a retry), so a row logged later by another client never inherits it.
    """
    now = datetime.now(UTC)
    table = FeedbackRow
    owner = prediction.client_key_id or ""
    values = {
        "created_at": now,
        "updated_at": now,
        "request_id": request_id,
        "item_index": item_index,
        "owner_key_id": owner,
        "log_id": prediction.id,
        "label": label,
        "note": note,
        "client_key_id": client_key_id,
    }
    changed = {k: values[k] for k in ("updated_at", "log_id", "label", "note", "client_key_id")}
    key = ["request_id", "item_index", "owner_key_id"]
    where = and_(*(getattr(FEEDBACK, k) == values[k] for k in key))
    dialect = connection.dialect.name
    if dialect in ("sqlite", "postgresql"):
        upsert = (sqlite_insert if dialect == "sqlite" else postgresql_insert)(table).values(values)
        connection.execute(upsert.on_conflict_do_update(index_elements=key, set_=changed))
    elif connection.execute(update(table).where(where).values(changed)).rowcount == 0:
        # another database: update, else insert (two answers at once may then race; the unique key holds)
        connection.execute(insert(table).values(values))
    row = connection.execute(select(FEEDBACK.created_at, FEEDBACK.updated_at).where(where)).one()
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
    model: str | None = None,
    model_is_default: bool = False,
) -> list[dict[str, Any]]:
    """The least confident predictions since `since` (lowest score first), with any feedback on them.

    `model`: one model's rows (`model_is_default`: also the rows without a name, from before 0006).
    """
    joined = RequestLogRow.__table__.outerjoin(FeedbackRow.__table__, FEEDBACK.log_id == LOG.id)
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
            LOG.model,
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
    if model is not None:
        query = query.where(or_(LOG.model == model, LOG.model.is_(None)) if model_is_default else LOG.model == model)
    items = []
    for row in connection.execute(query):
        item = dict(row._mapping)
        item["created_at"] = as_utc(item["created_at"])
        items.append(item)
    return items
