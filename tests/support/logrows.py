"""Write request-log rows straight into a log database (fixtures for stats, drift and review)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert

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
    with engine.begin() as connection:
        connection.execute(insert(FeedbackRow), rows)
