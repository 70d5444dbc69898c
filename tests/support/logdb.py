"""Read a request-log database from outside the service, on SQLite or PostgreSQL alike."""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool


def request_ids(database_url: str) -> set[str]:
    """Every request id with a row, read on a fresh connection (what another process would see)."""
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return {row[0] for row in connection.execute(text("select request_id from request_log"))}
    finally:
        engine.dispose()


def count_rows(database_url: str, table: str = "request_log") -> int:
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(f"select count(*) from {table}")).scalar_one())
    finally:
        engine.dispose()
