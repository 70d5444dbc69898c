"""Feedback from the service's log database as training examples.

Read with plain SQL by table name (`feedback`, `request_log`): the log database is the only thing
that passes from serving back to training, and training never imports the service's code. Each
feedback row joins the very log row it was given for (`feedback.log_id`, schema 0004: a later
request that reuses the request id never inherits it); rows whose text was not logged
(SENTIMENT_LOG_TEXT=hash or none) cannot train and are counted instead.
"""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from model.errors import first_line
from training.data import DataError, Example

SOURCE = "feedback"
QUERY = text(
    """
    SELECT r.text, f.label
    FROM feedback f
    JOIN request_log r ON r.id = f.log_id
    ORDER BY f.id
    """
)


def read_feedback(url: str) -> tuple[list[Example], int]:
    """Return (examples with the corrected label, number of feedback rows skipped for want of text)."""
    try:
        shown = make_url(url).render_as_string(hide_password=True)
        engine = create_engine(url)
    except (ArgumentError, ImportError, ValueError) as exc:
        raise DataError(f"{url}: not a usable database URL ({exc})") from None
    try:
        with engine.connect() as connection:
            rows = connection.execute(QUERY).all()
    except SQLAlchemyError as exc:
        reason = first_line(exc, 200)
        old_schema = "log_id" in reason  # a log database from before schema 0004
        hint = "; upgrade it first: python -m service migrate" if old_schema else ""
        raise DataError(f"{shown}: cannot read feedback from this log database ({reason}{hint})") from None
    finally:
        engine.dispose()
    examples = [Example(t, label, SOURCE) for t, label in rows if t is not None and t.strip()]
    return examples, len(rows) - len(examples)
