"""Write request-log rows straight into a log database (fixtures for stats, drift and review)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, select

from service.log import FeedbackRow, RequestLogRow


def log_row(created_at: datetime, **values: Any) -> dict[str, Any]:
    """A predicted row with plain defaults; `values` override any column."""
    row: dict[str, Any] = {
        "created_at": created_at,
        "request_id": f"req-{created_at.timestamp()}",
        "endpoint": "sentiment",
        "item_index": 0,
        "client_key_id": None,
        "text": "some text",
        "text_sha256": None,
        "text_chars": 9,
        "label": "positive",
        "score": 0.9,
        "model_version": "v1",
        "batch_size": 1,
        "queue_wait_ms": 1.0,
        "latency_ms": 5.0,
        "status": 200,
        "error_code": None,
        "explain": False,
        "sentences": False,
        "tokens": 2,
        "unknown_tokens": 0,
    }
    row.update(values)
    return row


def insert_rows(engine: Engine, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as connection:
        connection.execute(insert(RequestLogRow), rows)


def insert_feedback(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Feedback rows; one without `log_id` is bound to the newest predicted row of its request id and item."""
    log = RequestLogRow.__table__.c
    with engine.begin() as connection:
        for row in rows:
            if "log_id" not in row:
                newest = (
                    select(log.id, log.client_key_id)
                    .where(log.request_id == row["request_id"], log.item_index == row["item_index"])
                    .where(log.label.is_not(None))
                    .order_by(log.id.desc())
                    .limit(1)
                )
                found = connection.execute(newest).first()
                owner = (found and found.client_key_id) or ""
                row = {**row, "log_id": found.id if found else None, "owner_key_id": owner}
            connection.execute(insert(FeedbackRow), [row])
