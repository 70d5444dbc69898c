"""Insert a group of request-log rows the fastest way the driver offers.

Measured (bench/log_bench.py, BENCHMARKS.md): SQLAlchemy's generic executemany spends most of its
time per row in Python (parameter construction and type processing), which capped the writer at a
few thousand rows/s. PostgreSQL with psycopg 3 gets COPY (rows encoded in C); SQLite gets the
driver's executemany on plain tuples. Any other database takes the generic SQLAlchemy insert.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from datetime import UTC
from typing import Any

from sqlalchemy import Connection, DateTime, insert

from service.log.tables import COLUMNS, RequestLogRow

_COPY = f"COPY request_log ({', '.join(COLUMNS)}) FROM STDIN"
_SQLITE_INSERT = f"INSERT INTO request_log ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
_VALUES = operator.itemgetter(*COLUMNS)  # a row dict -> its values in COLUMNS order, in C
_TIMES = [i for i, name in enumerate(COLUMNS) if isinstance(RequestLogRow.__table__.c[name].type, DateTime)]


def _sqlite_row(row: dict[str, Any]) -> list[Any]:
    values = list(_VALUES(row))
    for i in _TIMES:  # SQLAlchemy's SQLite DateTime text format ("2026-01-31 12:00:00.000000"), in UTC
        value = values[i]
        if value is not None:
            if value.tzinfo is not None:
                value = value.astimezone(UTC).replace(tzinfo=None)
            values[i] = value.isoformat(" ", "microseconds")
    return values


def insert_rows(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` (dicts keyed by COLUMNS) within the connection's transaction."""
    dialect = connection.dialect
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        raw = connection.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor, cursor.copy(_COPY) as copy:
            for row in rows:
                copy.write_row(_VALUES(row))
    elif dialect.name == "sqlite":
        connection.exec_driver_sql(_SQLITE_INSERT, [tuple(_sqlite_row(row)) for row in rows])
    else:
        connection.execute(insert(RequestLogRow), list(rows))
