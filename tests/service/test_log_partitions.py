"""PostgreSQL's request log partitioned by day: partitions ahead, retention dropping whole days (and
keeping the rows it must), `python -m service partition-log` on a populated log, later migrations."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text, update

from service.__main__ import main
from service.app import create_app
from service.config import Settings
from service.log import COLUMNS, Base, FeedbackRow, RequestLogRow, RequestLogWriter, make_engine, upgrade_schema
from service.log import partitions as parts
from service.log.engine import _alembic_config
from service.log.retention import prune
from service.log.rollup import catch_up
from tests.service.conftest import ADMIN
from tests.support.logrows import insert_feedback, insert_rows, log_row

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture()
def partitioned(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url, durable=False)
    upgrade_schema(engine, partition=True)
    yield engine
    engine.dispose()


def _where(engine: Engine) -> dict[str, str]:
    """Each row's request id -> the partition it is stored in."""
    with engine.connect() as connection:
        return dict(connection.execute(text("SELECT request_id, tableoid::regclass::text FROM request_log")).all())  # type: ignore[arg-type]


def _names(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return [p.name for p in parts.partitions(connection)]


def _write(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Through the service's writer (COPY on PostgreSQL)."""
    writer = RequestLogWriter(engine, flush_s=0.01, max_pending=10_000)
    writer.start()
    for row in rows:
        writer.add({**{c: row.get(c) for c in COLUMNS}, "role": row.get("role", "primary")})
    assert writer.flush(10)
    writer.stop()


def test_a_new_log_is_partitioned_by_day_with_partitions_ahead(partitioned: Engine) -> None:
    now = datetime.now(UTC)
    today = parts.day_floor(now)
    names = _names(partitioned)
    assert names == [parts.day_name(today + d * DAY) for d in range(parts.AHEAD_DAYS + 1)] + [parts.DEFAULT]
    _write(partitioned, [log_row(now, request_id="now"), log_row(now + 2 * DAY, request_id="ahead")])
    assert _where(partitioned) == {"now": parts.day_name(today), "ahead": parts.day_name(today + 2 * DAY)}
    # The background task keeps a week ahead as days pass; a second run has nothing to do.
    done = parts.maintain(partitioned, now=now + 3 * DAY)
    assert done.created == [parts.day_name(today + d * DAY) for d in range(8, 11)]
    assert parts.maintain(partitioned, now=now + 3 * DAY).created == []
    upgrade_schema(partitioned, partition=True)  # at the next start: unchanged
    assert len(_names(partitioned)) == parts.AHEAD_DAYS + 5


def test_the_service_starts_a_new_postgresql_log_partitioned_and_keeps_days_ahead(
    settings_for: Callable[..., Settings], postgres_url: str
) -> None:
    settings = settings_for(database_url=postgres_url, drift_refresh_s=0, stats_rollup_s=0)
    with TestClient(create_app(settings)) as client:
        engine = client.app.state.service.engine  # type: ignore[attr-defined]
        registry = client.app.state.service.metrics.registry  # type: ignore[attr-defined]
        for _ in range(200):  # the background task's first pass, at start
            if registry.get_sample_value("sentiment_log_partitions_ahead_days") == parts.AHEAD_DAYS:
                break
            client.get("/healthz")
            time.sleep(0.02)
        assert registry.get_sample_value("sentiment_log_partitions_ahead_days") == parts.AHEAD_DAYS
        client.post("/v1/sentiment", json={"text": "good"}, headers={"X-Request-ID": "served"})
        assert client.app.state.service.writer.flush(5)  # type: ignore[attr-defined]
        assert _where(engine) == {"served": parts.day_name(parts.day_floor(datetime.now(UTC)))}


def test_the_partitioned_log_is_the_declared_table(partitioned: Engine) -> None:
    """The parent has every declared column and index; autogenerate (env.py's filter) ignores the partitions."""
    with partitioned.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": parts.include_name})
        assert compare_metadata(context, Base.metadata) == []


def test_the_setting_off_or_a_log_with_rows_keeps_one_table(postgres_url: str) -> None:
    engine = make_engine(postgres_url, durable=False)
    upgrade_schema(engine)  # SENTIMENT_LOG_PARTITIONS=false
    insert_rows(engine, [log_row(NOW)])
    upgrade_schema(engine, partition=True)  # an old deployment: rows, so left as it is
    with engine.connect() as connection:
        assert not parts.is_partitioned(connection)
    assert parts.maintain(engine, now=NOW).skipped == "the log is not partitioned"
    engine.dispose()


def test_rows_of_a_day_without_a_partition_wait_in_the_default_and_move_when_it_is_made(partitioned: Engine) -> None:
    day = parts.day_floor(NOW - 3 * DAY)
    _write(partitioned, [log_row(day + timedelta(hours=h), request_id=f"r{h}") for h in (1, 23)])
    _write(partitioned, [log_row(day - timedelta(hours=1), request_id="before")])
    assert set(_where(partitioned).values()) == {parts.DEFAULT}
    done = parts.maintain(partitioned, now=NOW, first_day=day, ahead_days=0)
    assert done.moved == 2 and done.created[0] == parts.day_name(day)
    assert _where(partitioned) == {"r1": parts.day_name(day), "r23": parts.day_name(day), "before": parts.DEFAULT}


def _feedback(engine: Engine, request_id: str) -> None:
    insert_feedback(
        engine,
        [{"created_at": NOW - 30 * DAY, "updated_at": NOW - 30 * DAY, "request_id": request_id, "item_index": 0,
          "label": "negative"}],
    )  # fmt: skip


def test_retention_drops_whole_old_days_and_keeps_the_rows_feedback_needs(partitioned: Engine) -> None:
    parts.maintain(partitioned, now=NOW, first_day=NOW - 45 * DAY)
    rows = [log_row(NOW - d * DAY, request_id=f"d{d}-{i}") for d in (40, 39, 38, 2) for i in range(3)]
    rows += [log_row(parts.day_floor(NOW - 30 * DAY) + timedelta(hours=1), request_id="edge")]  # 30.5 days old
    rows += [log_row(NOW - 60 * DAY, request_id="default")]  # before the first partition
    _write(partitioned, rows)
    assert _where(partitioned)["default"] == parts.DEFAULT
    _feedback(partitioned, "d39-1")
    result = prune(partitioned, now=NOW, retention_days=30, rollup_on=False, pause_s=0)
    assert result.cutoff == parts.day_floor(NOW - 30 * DAY)  # whole days: "edge" waits for its day to pass
    gone = {parts.day_name(parts.day_floor(NOW - d * DAY)) for d in (40, 38)}
    assert gone <= set(result.partitions) and parts.day_name(parts.day_floor(NOW - 39 * DAY)) not in result.partitions
    assert len(result.partitions) == 45 - 30 - 1  # day 45 to day 31, less the one feedback needs
    # The kept day lost its other rows in batches; the default partition's old row went the same way.
    assert result.rows == 3 + 3 + 2 + 1
    assert sorted(_where(partitioned)) == ["d2-0", "d2-1", "d2-2", "d39-1", "edge"]
    # Exported for training: the next pass drops that day too.
    with partitioned.begin() as connection:
        connection.execute(update(FeedbackRow).values(exported_at=NOW))
    again = prune(partitioned, now=NOW, retention_days=30, rollup_on=False, pause_s=0)
    assert (again.partitions, again.rows) == ([parts.day_name(parts.day_floor(NOW - 39 * DAY))], 1)
    with partitioned.connect() as connection:  # the feedback itself stays
        assert connection.scalar(select(func.count()).select_from(FeedbackRow)) == 1


def test_a_drop_that_cannot_get_its_lock_waits_for_the_next_pass(
    partitioned: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts.maintain(partitioned, now=NOW, first_day=NOW - 40 * DAY, ahead_days=0)
    _write(partitioned, [log_row(NOW - 40 * DAY, request_id="old")])
    monkeypatch.setattr(parts, "LOCK_TRIES", 1)
    with partitioned.connect() as reader:  # a long read holds its lock on request_log until it ends
        reader.execute(text("SELECT count(*) FROM request_log"))
        busy = prune(partitioned, now=NOW, retention_days=30, rollup_on=False, pause_s=0)
        assert busy.partitions == [] and busy.rows == 0 and "busy" in (busy.skipped or "")
        assert "old" in _where(partitioned)  # nor deleted row by row
    done = prune(partitioned, now=NOW, retention_days=30, rollup_on=False, pause_s=0)
    assert parts.day_name(parts.day_floor(NOW - 40 * DAY)) in done.partitions and done.rows == 1


def test_a_day_with_a_row_the_rollup_has_not_read_stays(partitioned: Engine) -> None:
    parts.maintain(partitioned, now=NOW, first_day=NOW - 41 * DAY, ahead_days=0)
    _write(partitioned, [log_row(NOW - d * DAY, request_id=f"d{d}") for d in (40, 39)])
    catch_up(partitioned, now=NOW.timestamp(), lag_s=60)
    _write(partitioned, [log_row(NOW - 40 * DAY + timedelta(minutes=5), request_id="late")])  # after the pass
    result = prune(partitioned, now=NOW, retention_days=30, rollup_on=True, pause_s=0)
    assert parts.day_name(parts.day_floor(NOW - 39 * DAY)) in result.partitions
    assert parts.day_name(parts.day_floor(NOW - 40 * DAY)) not in result.partitions
    assert sorted(_where(partitioned)) == ["late"]  # its day-mate went by row; it waits for the rollup


def _stats(client: TestClient) -> dict[str, Any]:
    window = {"since": (NOW - 10 * DAY).isoformat(), "until": NOW.isoformat()}
    stats = client.get("/v1/stats", params=window, headers={"X-API-Key": ADMIN}).json()
    return {k: stats[k] for k in ("requests", "labels", "score_histogram", "latency_ms", "text_length")}


def _snapshot(engine: Engine) -> tuple[list[Any], list[Any]]:
    with engine.connect() as connection:
        rows = [tuple(r) for r in connection.execute(select(RequestLogRow.__table__).order_by(RequestLogRow.id))]
        bound = connection.execute(
            select(FeedbackRow.request_id, FeedbackRow.log_id, RequestLogRow.request_id)
            .join(RequestLogRow, RequestLogRow.id == FeedbackRow.log_id)
            .order_by(FeedbackRow.id)
        ).all()
    return rows, [tuple(r) for r in bound]


def test_partition_log_converts_a_populated_log_and_keeps_everything(
    settings_for: Callable[..., Settings],
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = settings_for(database_url=postgres_url, drift_refresh_s=0, stats_rollup_s=0, log_partitions=False)
    with TestClient(create_app(settings)) as client:  # an old deployment: one table
        engine = client.app.state.service.engine  # type: ignore[attr-defined]
        rows = [log_row(NOW - timedelta(hours=7 * i), request_id=f"r{i}", score=0.5 + i / 128) for i in range(40)]
        insert_rows(engine, rows)
        _feedback(engine, "r3")
        _feedback(engine, "r17")
        before_stats = _stats(client)
        before = _snapshot(engine)
    monkeypatch.setenv("SENTIMENT_DATABASE_URL", postgres_url)
    assert main(["partition-log"]) == 0
    out = capsys.readouterr().out
    assert "40 rows kept in partition request_log_before_" in out
    with TestClient(create_app(settings)) as client:
        engine = client.app.state.service.engine  # type: ignore[attr-defined]
        with engine.connect() as connection:
            assert parts.is_partitioned(connection)
            legacy = parts.partitions(connection)[0]
        assert legacy.start is None and legacy.end == parts.day_floor(datetime.now(UTC)) + 2 * DAY
        assert _snapshot(engine) == before  # every row and column, the ids, what feedback points at
        assert _stats(client) == before_stats
        # New rows take the next ids, into the partitions.
        client.post("/v1/sentiment", json={"text": "good"}, headers={"X-Request-ID": "after"})
        assert client.app.state.service.writer.flush(30.0)  # type: ignore[attr-defined]
        with engine.connect() as connection:
            newest = connection.execute(
                select(RequestLogRow.id, RequestLogRow.request_id).order_by(RequestLogRow.id.desc())
            ).first()
        assert newest is not None and newest.request_id == "after" and newest.id > max(r[0] for r in before[0])
    assert main(["partition-log"]) == 0  # again: a no-op
    assert "already partitioned" in capsys.readouterr().out


def test_partition_log_refuses_sqlite(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    monkeypatch.setenv("SENTIMENT_DATABASE_URL", url)
    assert main(["partition-log"]) == 2
    assert "partition-log needs PostgreSQL" in capsys.readouterr().err
    engine = make_engine(url, durable=False)
    upgrade_schema(engine, partition=True)  # the setting changes nothing on SQLite
    with pytest.raises(parts.NotPartitionable, match="needs PostgreSQL"):
        parts.convert(engine, now=NOW)
    engine.dispose()


def test_later_migrations_run_on_a_partitioned_log(postgres_url: str) -> None:
    engine = make_engine(postgres_url, durable=False)
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0006")  # before 0007 added `language`
    insert_rows(engine, [{k: v for k, v in log_row(NOW, request_id="old").items() if k != "language"}])
    assert not parts.convert(engine, now=datetime.now(UTC)).already
    upgrade_schema(engine)  # 0007 and 0008: ADD COLUMN (0008's NOT NULL with a default) on the partitioned table
    _write(engine, [log_row(datetime.now(UTC), request_id="new", language="en")])
    with engine.connect() as connection:
        found = connection.execute(text("SELECT request_id, language, role FROM request_log ORDER BY id")).all()
        assert [tuple(r) for r in found] == [("old", None, "primary"), ("new", "en", "primary")]
    # What a later migration may do: an index, on the parent and every partition.
    with engine.begin() as connection:
        Operations(MigrationContext.configure(connection)).create_index(
            "ix_request_log_role_created", "request_log", ["role", "created_at"]
        )
    with engine.connect() as connection:
        indexed = connection.scalar(text("SELECT count(*) FROM pg_indexes WHERE indexdef LIKE '%(role, created_at)%'"))
    assert indexed == 1 + len(_names(engine))  # the parent's and one per partition
    engine.dispose()
