"""Log retention: old rows go in small batches; rows the rollup has not read and rows unexported
feedback points at stay; /v1/stats over old windows keeps its figures; the rollup has its own limit."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Engine, func, select

from service.app import create_app
from service.config import Settings
from service.log import FeedbackRow, RequestLogRow, make_engine, upgrade_schema
from service.log.retention import prune
from service.log.rollup import catch_up
from service.log.tables import StatsRollupRow
from tests.service.conftest import ADMIN
from tests.support.logrows import insert_feedback, insert_rows, log_row
from training.__main__ import main as training_main

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _count(engine: Engine, table: type) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table)) or 0)


def _ids(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return sorted(connection.scalars(select(RequestLogRow.request_id)))


@pytest.fixture()
def engine(database_url: str) -> Iterator[Engine]:
    built = make_engine(database_url, durable=False)
    upgrade_schema(built)
    yield built
    built.dispose()


def _old_and_new(engine: Engine) -> None:
    rows = [log_row(NOW - timedelta(days=40, minutes=i), request_id=f"old-{i:02d}") for i in range(23)]
    rows += [log_row(NOW - timedelta(days=2, minutes=i), request_id=f"new-{i}") for i in range(3)]
    insert_rows(engine, rows)


def test_rows_past_the_limit_go_in_bounded_batches(engine: Engine) -> None:
    _old_and_new(engine)
    result = prune(engine, now=NOW, retention_days=30, rollup_on=False, batch=5, pause_s=0)
    assert (result.rows, result.batches) == (23, 5)  # 5 + 5 + 5 + 5 + 3
    assert _ids(engine) == ["new-0", "new-1", "new-2"]
    again = prune(engine, now=NOW, retention_days=30, rollup_on=False, batch=5, pause_s=0, max_batches=1)
    assert (again.rows, again.more) == (0, False)
    # A call stopped at max_batches says so; the next one goes on.
    _old_and_new(engine)
    first = prune(engine, now=NOW, retention_days=30, rollup_on=False, batch=5, pause_s=0, max_batches=2)
    assert (first.rows, first.more) == (10, True)
    assert prune(engine, now=NOW, retention_days=30, rollup_on=False, batch=5, pause_s=0).rows == 13


def test_rows_feedback_points_at_stay_until_exported_or_too_old(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    _old_and_new(engine)
    insert_feedback(
        engine,
        [
            {"created_at": NOW - timedelta(days=39), "updated_at": NOW - timedelta(days=39), "request_id": r,
             "item_index": 0, "label": "negative"}
            for r in ("old-03", "old-07")
        ],
    )  # fmt: skip
    assert prune(engine, now=NOW, retention_days=30, rollup_on=False, pause_s=0).rows == 21
    assert _ids(engine) == ["new-0", "new-1", "new-2", "old-03", "old-07"]
    # A limit on feedback's age releases them: 39 days old, limit 60: kept; limit 35: deleted.
    assert prune(engine, now=NOW, retention_days=30, feedback_retention_days=60, rollup_on=False).rows == 0
    # Exported for training: released (the export names both, and marks them).
    out = tmp_path / "feedback.jsonl"
    assert training_main(["export-feedback", "--database", database_url, "--out", str(out)]) == 0
    assert [json.loads(line)["label"] for line in out.read_text().splitlines()] == ["negative", "negative"]
    with engine.connect() as connection:
        assert all(connection.scalars(select(FeedbackRow.exported_at)))
    assert prune(engine, now=NOW, retention_days=30, rollup_on=False, pause_s=0).rows == 2
    assert _count(engine, FeedbackRow) == 2  # the feedback itself stays (and joins nothing now)


def test_no_mark_export_keeps_the_rows_and_an_age_limit_releases_them(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    _old_and_new(engine)
    insert_feedback(
        engine,
        [{"created_at": NOW - timedelta(days=39), "updated_at": NOW - timedelta(days=39), "request_id": "old-03",
          "item_index": 0, "label": "negative"}],
    )  # fmt: skip
    out = tmp_path / "feedback.jsonl"
    assert training_main(["export-feedback", "--database", database_url, "--out", str(out), "--no-mark"]) == 0
    assert prune(engine, now=NOW, retention_days=30, rollup_on=False, pause_s=0).rows == 22
    assert prune(engine, now=NOW, retention_days=30, feedback_retention_days=35, rollup_on=False).rows == 1


def test_with_the_rollup_on_stats_over_old_windows_keep_their_figures(
    settings_for: Callable[..., Settings], database_url: str
) -> None:
    now = datetime.now(UTC)
    window = {"since": (now - timedelta(days=11)).isoformat(), "until": (now - timedelta(days=9)).isoformat()}

    def figures(client: TestClient) -> dict[str, Any]:
        stats = client.get("/v1/stats", params=window, headers={"X-API-Key": ADMIN}).json()
        return {k: stats[k] for k in ("requests", "labels", "score_histogram", "latency_ms", "text_length")}

    raw = settings_for(database_url=database_url, drift_refresh_s=0, stats_rollup_s=0)
    with TestClient(create_app(raw)) as client:
        engine = client.app.state.service.engine  # type: ignore[attr-defined]
        rows = [log_row(now - timedelta(days=10, minutes=7 * i), request_id=f"old-{i}", score=0.5 + i / 64)
                for i in range(40)]  # fmt: skip
        insert_rows(engine, rows)
        # Nothing goes before the rollup has read the log: /v1/stats could not count it any more.
        early = prune(engine, now=now, retention_days=5, rollup_on=True)
        assert (early.rows, early.skipped) == (0, "the stats rollup has not read the log yet")
        catch_up(engine, now=now.timestamp(), lag_s=60)
        # A late row (logged after the pass, in a minute the rollup has closed) stays until it is read.
        insert_rows(engine, [log_row(now - timedelta(days=10) + timedelta(minutes=3), request_id="late")])
        before = figures(client)  # from the raw log
        assert before["requests"]["total"] == 41
        pruned = prune(engine, now=now, retention_days=5, rollup_on=True, pause_s=0)
        assert pruned.rows == 40 and _ids(engine) == ["late"]
    with_rollup = settings_for(database_url=database_url, drift_refresh_s=0, stats_rollup_s=1e6)
    with TestClient(create_app(with_rollup)) as client:  # its first pass reads the late row
        engine = client.app.state.service.engine  # type: ignore[attr-defined]
        assert figures(client) == before
        assert prune(engine, now=now, retention_days=5, rollup_on=True, pause_s=0).rows == 1
        assert figures(client) == before


def test_rollup_rows_have_their_own_limit(engine: Engine) -> None:
    rows = [log_row(NOW - timedelta(days=d, minutes=1)) for d in (400, 200, 3)]
    insert_rows(engine, rows)
    catch_up(engine, now=NOW.timestamp(), lag_s=60)
    before = _count(engine, StatsRollupRow)
    result = prune(engine, now=NOW, retention_days=30, rollup_retention_days=365, pause_s=0)
    assert result.rows == 2 and 0 < result.rollup_rows < before
    with engine.connect() as connection:
        oldest = connection.scalar(select(func.min(StatsRollupRow.start_s)))
    assert oldest >= (NOW - timedelta(days=365)).timestamp() - 86400  # no period starts before the limit (a day)


def test_settings_refuse_a_rollup_that_would_outlive_nothing(settings_for: Callable[..., Settings]) -> None:
    with pytest.raises(ValidationError, match="SENTIMENT_STATS_ROLLUP_RETENTION_DAYS"):
        settings_for(log_retention_days=30, stats_rollup_retention_days=7)
    assert settings_for(log_retention_days=30, stats_rollup_retention_days=400).log_retention_days == 30


def test_the_service_prunes_in_the_background(settings_for: Callable[..., Settings]) -> None:
    settings = settings_for(drift_refresh_s=0, stats_rollup_s=0, log_retention_days=1, log_retention_every_s=0.05)
    with TestClient(create_app(settings)) as client:
        engine = client.app.state.service.engine  # type: ignore[attr-defined]
        now = datetime.now(UTC)
        insert_rows(engine, [log_row(now - timedelta(days=3), request_id=f"old-{i}") for i in range(7)])
        client.post("/v1/sentiment", json={"text": "good"})
        registry = client.app.state.service.metrics.registry  # type: ignore[attr-defined]
        for _ in range(200):
            if (
                registry.get_sample_value("sentiment_log_retention_deleted_rows_total", {"table": "request_log"}) or 0
            ) >= 7:
                break
            client.get("/healthz")  # lets the loop run
            time.sleep(0.02)
        assert registry.get_sample_value("sentiment_log_retention_deleted_rows_total", {"table": "request_log"}) == 7
        assert client.app.state.service.writer.flush(30.0)  # type: ignore[attr-defined]
        assert [r for r in _ids(engine) if r.startswith("old-")] == []
        assert _count(engine, RequestLogRow) == 1  # the prediction just made
