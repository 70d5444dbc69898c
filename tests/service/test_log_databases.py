"""The request log on both engines: the schema migrates and rows round-trip with every column."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select

from service.log import COLUMNS, Base, FeedbackRow, RequestLogRow, RequestLogWriter, make_engine, upgrade_schema


def test_schema_migrates_and_rows_round_trip(database_url: str) -> None:
    engine = make_engine(database_url, durable=False)
    upgrade_schema(engine)
    upgrade_schema(engine)  # idempotent
    tables = set(inspect(engine).get_table_names())
    assert {"request_log", "feedback", "rollouts", "alembic_version"} <= tables
    writer = RequestLogWriter(engine, flush_s=0.01, max_pending=100)
    writer.start()
    row = dict.fromkeys(COLUMNS)
    created = datetime.now(UTC)
    text = "tab\there, new\nline, back\\slash, 'quotes' \"both\", \\N, é, 😀"  # COPY's escapes
    row.update(
        created_at=created,
        text=text,
        score=0.125,
        request_id="r1",
        endpoint="sentiment",
        item_index=0,
        text_chars=3,
        latency_ms=1.5,
        status=200,
        explain=True,
        sentences=False,
        tokens=4,
        unknown_tokens=1,
        label="positive",
        role="shadow",
    )
    writer.add(row)
    assert writer.flush(10)
    writer.stop()
    with engine.connect() as connection:
        stored = connection.execute(select(RequestLogRow.__table__)).one()._mapping
    assert (stored["explain"], stored["sentences"], stored["tokens"], stored["unknown_tokens"]) == (True, False, 4, 1)
    assert (stored["text"], stored["score"], stored["client_key_id"], stored["role"]) == (text, 0.125, None, "shadow")
    stored_at = stored["created_at"]
    assert (stored_at if stored_at.tzinfo else stored_at.replace(tzinfo=UTC)) == created  # SQLite drops the zone
    engine.dispose()


def test_migrations_build_exactly_the_tables_the_code_declares(database_url: str) -> None:
    engine = make_engine(database_url, durable=False)
    upgrade_schema(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    # Types compare loosely across engines; tables, columns and indexes must match exactly.
    assert [
        d
        for d in differences
        if d[0] in {"add_table", "remove_table", "add_column", "remove_column", "add_index", "remove_index"}
    ] == []


def test_log_ids_go_past_32_bits(database_url: str) -> None:
    """At 500 requests/s a 32-bit id runs out in about 50 days: ids (and feedback's log_id) are 64-bit (0009)."""
    engine = make_engine(database_url, durable=False)
    upgrade_schema(engine)
    big = 2**31 + 5
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT setval('request_log_id_seq', {big})")
        else:  # the rowid follows the largest id
            connection.exec_driver_sql(
                "INSERT INTO request_log (id, created_at, request_id, endpoint, item_index, text_chars, latency_ms,"
                f" status) VALUES ({big}, '2026-01-01 00:00:00', 'seed', 'sentiment', 0, 1, 1.0, 200)"
            )
    writer = RequestLogWriter(engine, flush_s=0.01, max_pending=100)
    writer.start()
    row = dict.fromkeys(COLUMNS)
    row.update(
        created_at=datetime.now(UTC), request_id="after", endpoint="sentiment", item_index=0, text_chars=1,
        latency_ms=1.0, status=200, explain=False, sentences=False, role="primary",
    )  # fmt: skip
    writer.add(row)
    assert writer.flush(10)
    writer.stop()
    with engine.begin() as connection:
        (new_id,) = connection.execute(select(RequestLogRow.id).where(RequestLogRow.request_id == "after")).one()
        assert new_id > 2**31
        connection.execute(
            FeedbackRow.__table__.insert().values(
                created_at=datetime.now(UTC), updated_at=datetime.now(UTC), request_id="after", item_index=0,
                label="positive", log_id=new_id, owner_key_id="",
            )
        )  # fmt: skip
        assert connection.scalar(select(FeedbackRow.log_id)) == new_id
    engine.dispose()
