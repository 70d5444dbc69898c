"""Reads of the log database for the admin routes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, or_, select

from service.log.tables import RequestLogRow


def recent_rows(
    engine: Engine,
    *,
    limit: int,
    since: datetime | None = None,
    label: str | None = None,
    model: str | None = None,
    default: bool = False,
    role: str = "served",
) -> list[dict[str, Any]]:
    """Return the newest log rows first (by time); `model` keeps one model's rows (`default`: it is the default).

    `role`: `served` (answers: primary and canary rows), `shadow` (a candidate's shadow scores) or `all`.

    Ordered by created_at alone, so that whatever the planner's row estimates (stale on a log that
    grows all the time), a backward scan of ix_request_log_created_at (or, with a label,
    ix_request_log_label_created) stops after `limit` rows. Ordering by id made PostgreSQL read
    every row of the window and sort them: 74 ms for the last minute's 20,000 rows.
    """
    table = RequestLogRow.__table__
    query = select(table).order_by(table.c.created_at.desc()).limit(limit)
    if since is not None:
        query = query.where(table.c.created_at >= since)
    if label is not None:
        query = query.where(table.c.label == label)
    if model is not None:
        query = query.where(model_is(table.c.model, model, default=default))
    if role == "served":
        query = query.where(table.c.role != "shadow")
    elif role == "shadow":
        query = query.where(table.c.role == "shadow")
    with engine.connect() as connection:
        rows = [dict(r._mapping) for r in connection.execute(query)]
    for row in rows:
        created = row["created_at"]
        if isinstance(created, datetime) and created.tzinfo is None:
            row["created_at"] = created.replace(tzinfo=UTC)  # SQLite drops the zone; we store UTC
    return rows


def model_is(column: Any, model: str, *, default: bool) -> ColumnElement[bool]:
    """Rows of `model`: its name, and for the default model also rows without one (before 0006)."""
    return or_(column == model, column.is_(None)) if default else column == model  # type: ignore[no-any-return]
