"""Several replicas started at once on one database: the schema upgrade is serialised, all come up."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from service.log import MIGRATIONS, schema_revisions
from tests.e2e.conftest import ServerProcess
from tests.support.logdb import count_rows

pytestmark = pytest.mark.e2e
REPLICAS = 4


def migrate_to_0001_with_rows(database_url: str, rows: int) -> None:
    """An outdated database: the first schema revision, already holding rows."""
    engine = create_engine(database_url, poolclass=NullPool)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        for i in range(rows):
            connection.execute(
                text(
                    "insert into request_log (created_at, request_id, endpoint, item_index, text_chars,"
                    " latency_ms, status) values (:t, :r, 'sentiment', 0, 4, 1.0, 200)"
                ),
                {"t": datetime.now(UTC), "r": f"old-{i}"},
            )
    engine.dispose()


@pytest.mark.parametrize("outdated", [False, True], ids=["empty", "outdated"])
def test_replicas_started_at_once_all_come_up_with_one_schema(
    database_url: str, tiny_artifact: Path, outdated: bool
) -> None:
    if outdated:
        migrate_to_0001_with_rows(database_url, 5)
    env = {"SENTIMENT_MODEL_DIR": str(tiny_artifact), "SENTIMENT_LOG_MODE": "durable"}
    servers = [ServerProcess.start(database_url, env, wait=False) for _ in range(REPLICAS)]
    try:
        for server in servers:
            server.wait_ready(60)  # fails with the server's log when one crashed at start
        for i, server in enumerate(servers):
            assert httpx.post(server.url + "/v1/sentiment", json={"text": f"good {i}"}).status_code == 200
    finally:
        for server in servers:
            server.stop()
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        current, head = schema_revisions(engine)
        assert current == head
        with engine.connect() as connection:
            assert connection.execute(text("select version_num from alembic_version")).all() == [(head,)]
        tables = inspect(engine).get_table_names()
        assert sorted(t for t in tables if t in {"request_log", "feedback", "rollouts"}) == [
            "feedback",
            "request_log",
            "rollouts",
        ]
    finally:
        engine.dispose()
    assert count_rows(database_url) == REPLICAS + (5 if outdated else 0)  # the old rows are kept
