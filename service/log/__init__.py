"""The request log: tables, migrations, the batching writer, and reads for the admin routes."""

from service.log.engine import (
    MIGRATIONS,
    DatabaseError,
    make_engine,
    masked,
    open_database,
    query_in_thread,
    schema_revisions,
    upgrade_schema,
)
from service.log.queries import recent_rows
from service.log.tables import COLUMNS, Base, FeedbackRow, RequestLogRow, RolloutRow
from service.log.writer import PendingRow, RequestLogWriter, WriterStats

__all__ = [
    "COLUMNS",
    "MIGRATIONS",
    "Base",
    "DatabaseError",
    "FeedbackRow",
    "PendingRow",
    "RequestLogRow",
    "RequestLogWriter",
    "RolloutRow",
    "WriterStats",
    "make_engine",
    "masked",
    "open_database",
    "query_in_thread",
    "recent_rows",
    "schema_revisions",
    "upgrade_schema",
]
