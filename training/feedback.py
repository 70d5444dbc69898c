"""Feedback from the service's log database as training examples.

Read with plain SQL by table name (`feedback`, `request_log`): the log database is the only thing
that passes from serving back to training, and training never imports the service's code. Each
feedback row joins the very log row it was given for (`feedback.log_id`, schema 0004: a later
request that reuses the request id never inherits it); rows whose text was not logged
(SENTIMENT_LOG_TEXT=hash or none) cannot train and are counted instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import Connection, bindparam, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from model.errors import first_line
from training.data import DataError, Example

SOURCE = "feedback"
QUERY = text(
    """
    SELECT f.id, r.text, f.label
    FROM feedback f
    JOIN request_log r ON r.id = f.log_id
    ORDER BY f.id
    """
)
MARK = text("UPDATE feedback SET exported_at = :now WHERE id IN :ids").bindparams(bindparam("ids", expanding=True))


def read_feedback(url: str) -> tuple[list[Example], int]:
    """Return (examples with the corrected label, number of feedback rows skipped for want of text)."""
    rows, unlogged = read_feedback_rows(url)
    return [example for _, example in rows], unlogged


def read_feedback_rows(url: str) -> tuple[list[tuple[int, Example]], int]:
    """(feedback id, example) per feedback row with text, and the number without text."""
    with _connection(url) as connection:
        rows = connection.execute(QUERY).all()
    kept = [(i, Example(t, label, SOURCE)) for i, t, label in rows if t is not None and t.strip()]
    return kept, len(rows) - len(kept)


def mark_exported(url: str, ids: list[int]) -> None:
    """Set `feedback.exported_at` on these rows: the service's log retention may then delete their
    log rows (SENTIMENT_LOG_RETENTION_DAYS). Called once the export is written."""
    now = datetime.now(UTC)
    with _connection(url) as connection:
        for start in range(0, len(ids), 500):
            connection.execute(MARK, {"now": now, "ids": ids[start : start + 500]})


@contextmanager
def _connection(url: str) -> Iterator[Connection]:
    try:
        shown = make_url(url).render_as_string(hide_password=True)
        engine = create_engine(url)
    except (ArgumentError, ImportError, ValueError) as exc:
        raise DataError(f"{url}: not a usable database URL ({exc})") from None
    try:
        with engine.begin() as connection:
            yield connection
    except SQLAlchemyError as exc:
        reason = first_line(exc, 200)
        old_schema = "log_id" in reason or "exported_at" in reason  # a log database from before schema 0005
        hint = "; upgrade it first: python -m service migrate" if old_schema else ""
        raise DataError(f"{shown}: cannot read feedback from this log database ({reason}{hint})") from None
    finally:
        engine.dispose()
