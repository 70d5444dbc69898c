"""The stats rollup gives exactly the figures of the raw log: same /v1/stats JSON with and without it.

Rows sit on minute and hour edges (and a microsecond either side), windows start and end inside
minutes, so every part of the read path is used: raw edges, whole minutes, whole hours, the raw
tail past the watermark. Values are dyadic fractions, so sums are exact in any order.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from service.app import create_app
from service.config import Settings
from service.log import make_engine, schema_revisions
from service.log.engine import _alembic_config
from service.log.rollup import catch_up, reset, roll_up
from service.log.tables import StatsRollupRow
from tests.service.conftest import ADMIN
from tests.support.logrows import insert_feedback, insert_rows, log_row

T0 = datetime(2026, 1, 1, tzinfo=UTC)
US = 1e-6
# Offsets (seconds from T0) on and around minute and hour edges, over five hours and the hour before.
EDGES = [-3600, -60 - US, -US, 0, US, 59.999999, 60, 61.5, 119, 3599.999999, 3600, 3600 + US, 7199, 7200]
EDGES += [7260.25, 10799.5, 10800, 11400, 11459.999999, 14400 - US, 14400, 17999, 18000, 18030]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def fixture_rows(seed: int, offsets: list[float]) -> list[dict[str, Any]]:
    pick = random.Random(seed).choice
    rows = []
    for i, offset in enumerate(offsets):
        if i % 7 == 3:  # a refused text: no label, no version
            rows.append(
                log_row(at(offset), request_id=f"s{seed}-{i}", label=None, score=None, model_version=None,
                        tokens=None, unknown_tokens=None, batch_size=None, queue_wait_ms=None,
                        latency_ms=pick([0.25, 1.0]), status=pick([413, 422]),
                        error_code=pick(["invalid_text", "too_large"]), language=pick(["fr", None]))
            )  # fmt: skip
            continue
        tokens = pick([0, 4, 8, 16])
        rows.append(
            log_row(at(offset), request_id=f"s{seed}-{i}", label=pick(["positive", "negative"]),
                    score=pick([0.5, 0.625, 0.75, 0.875, 0.9375, 1.0]), model_version=pick(["v1", "v2"]),
                    text_chars=pick([0, 49, 50, 300, 19999, 25000]), tokens=tokens,
                    unknown_tokens=min(tokens, pick([0, 1, 2, 4])), batch_size=pick([1, 2, 3, 16, 64]),
                    queue_wait_ms=pick([0.125, 0.5, 2.0, 8.0, None]),
                    latency_ms=pick([0.25, 1.5, 3.0, 12.5, 40.0, 100.0, 2000.0]), language=pick(["en", "zh", None]))
        )  # fmt: skip
    return rows


# since, until, model version: edges inside minutes, hour pieces, an hourly series (3 days), one version.
WINDOWS = [
    (at(30.5), at(5 * 3600 + 17 * 60 + 0.25), None),
    (at(0), at(3600), None),
    (at(-US), at(7200 + US), "v1"),
    (at(-86400 + 13), at(2 * 86400 + 7), None),
    (at(-86400 + 13), at(2 * 86400 + 7), "v2"),
    (at(11459), at(11461), None),
]


def all_stats(client: TestClient) -> list[dict[str, Any]]:
    answers = []
    for since, until, version in WINDOWS:
        params = {"since": since.isoformat(), "until": until.isoformat()}
        if version:
            params["model_version"] = version
        response = client.get("/v1/stats", params=params, headers={"X-API-Key": ADMIN})
        assert response.status_code == 200, response.text
        answers.append(response.json())
    return answers


def without_rollup_block(answers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in a.items() if k != "rollup"} for a in answers]


@pytest.fixture()
def apps(settings_for: Callable[..., Settings], database_url: str) -> Iterator[tuple[TestClient, TestClient, Engine]]:
    """An app that reads the rollup (its own passes never advance: the test drives them) and one that does not."""
    with_rollup = settings_for(database_url=database_url, drift_refresh_s=0, stats_rollup_s=1e6, stats_rollup_lag_s=1e9)
    raw = settings_for(database_url=database_url, drift_refresh_s=0, stats_rollup_s=0)
    with TestClient(create_app(with_rollup)) as client, TestClient(create_app(raw)) as plain:
        yield client, plain, client.app.state.service.engine  # type: ignore[attr-defined]


def test_stats_from_the_rollup_equal_the_raw_log(apps: tuple[TestClient, TestClient, Engine]) -> None:
    client, plain, engine = apps
    insert_rows(engine, fixture_rows(1, EDGES))
    feedback = [("s1-1", "negative"), ("s1-5", "positive"), ("s1-12", "positive")]
    insert_feedback(
        engine,
        [
            {"created_at": at(20000), "updated_at": at(20000), "request_id": r, "item_index": 0, "label": label}
            for r, label in feedback
        ],
    )
    # Roll up to 03:10 only: windows reaching past it read the rest from the log.
    catch_up(engine, now=(at(3 * 3600 + 600) + timedelta(seconds=60)).timestamp(), lag_s=60)
    partly = all_stats(client)
    assert partly[0]["rollup"]["until"] == "2026-01-01T03:10:00Z"
    assert partly[0]["rollup"]["minutes_read"] == 3 * 60 + 10 - 1  # 00:01 .. 03:10: whole minutes only
    assert without_rollup_block(partly) == without_rollup_block(all_stats(plain))

    # Rows that arrive after their minute (and hour) was rolled up: read from the log at once (their
    # ids are newer than the rollup's), then rolled up by the next pass.
    insert_rows(engine, fixture_rows(2, [61.5, 3600 + US, 7199, 10800]))
    assert without_rollup_block(all_stats(client)) == without_rollup_block(all_stats(plain))
    progress = roll_up(engine, now=(at(3 * 3600 + 600) + timedelta(seconds=60)).timestamp(), lag_s=60)
    assert progress.late_minutes == 4
    late = all_stats(client)
    assert late != partly
    assert without_rollup_block(late) == without_rollup_block(all_stats(plain))

    catch_up(engine, now=at(10 * 86400).timestamp(), lag_s=60)
    whole = all_stats(client)
    assert whole[3]["rollup"]["minutes_read"] > 0
    assert without_rollup_block(whole) == without_rollup_block(all_stats(plain))
    assert whole[0]["requests"]["total"] == 24 + 4 - 5  # the rows of [00:00:30.5, 05:17:00.25)

    # A late row in a closed day: its minute, hour and day are rebuilt.
    insert_rows(engine, fixture_rows(7, [-60 - US, 7199.5]))
    assert roll_up(engine, now=at(10 * 86400).timestamp(), lag_s=60).late_minutes == 2
    assert without_rollup_block(all_stats(client)) == without_rollup_block(all_stats(plain))
    assert all_stats(client)[3]["requests"]["total"] == whole[3]["requests"]["total"] + 2


def test_a_reset_rollup_is_rebuilt_and_stays_exact(apps: tuple[TestClient, TestClient, Engine]) -> None:
    client, plain, engine = apps
    insert_rows(engine, fixture_rows(3, EDGES))
    catch_up(engine, now=at(10 * 86400).timestamp(), lag_s=60)
    with engine.connect() as connection:
        built = connection.scalar(select(func.count()).select_from(StatsRollupRow))
        spans = {span for (span,) in connection.execute(select(StatsRollupRow.span_s).distinct())}
    assert spans == {60, 3600, 86400}
    with engine.begin() as connection:  # an operator deleted log rows: forget the rollup, it is rebuilt
        reset(connection)
    assert without_rollup_block(all_stats(client)) == without_rollup_block(all_stats(plain))  # raw meanwhile
    catch_up(engine, now=at(10 * 86400).timestamp(), lag_s=60)
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(StatsRollupRow)) == built
    assert without_rollup_block(all_stats(client)) == without_rollup_block(all_stats(plain))


def test_upgrade_from_0002_with_rows_then_backfill(settings_for: Callable[..., Settings], database_url: str) -> None:
    engine = make_engine(database_url, durable=False)
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
    old = [{k: v for k, v in row.items() if k != "language"} for row in fixture_rows(4, EDGES)]  # added by 0007
    insert_rows(engine, old)  # the log's columns are those of 0002: 0003 adds tables only
    engine.dispose()
    raw = settings_for(database_url=database_url, drift_refresh_s=0, stats_rollup_s=0)
    with TestClient(create_app(raw)) as plain:  # migrates at start
        before = all_stats(plain)
        engine = plain.app.state.service.engine  # type: ignore[attr-defined]
        assert schema_revisions(engine) == ("0009", "0009")
        catch_up(engine, now=at(10 * 86400).timestamp(), lag_s=60)
    with_rollup = settings_for(database_url=database_url, drift_refresh_s=0, stats_rollup_s=1e6, stats_rollup_lag_s=1e9)
    with TestClient(create_app(with_rollup)) as client:
        after = all_stats(client)
    assert after[3]["rollup"]["minutes_read"] > 0
    assert without_rollup_block(after) == without_rollup_block(before)


def test_a_row_just_before_a_minute_counts_in_that_minute(
    settings_for: Callable[..., Settings], database_url: str
) -> None:
    # SQLite's date functions round to milliseconds: 00:00:59.9999995 must not count in 00:01.
    raw = settings_for(database_url=database_url, drift_refresh_s=0, stats_rollup_s=0)
    with TestClient(create_app(raw)) as plain:
        insert_rows(plain.app.state.service.engine, [log_row(at(59.999999))])  # type: ignore[attr-defined]
        series = all_stats(plain)[1]["requests"]["series"]
    assert (series[0]["count"], series[1]["count"]) == (1, 0)


def test_the_rollup_command_backfills_and_resets(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from service.__main__ import main
    from service.log.rollup_read import state

    url = f"sqlite:///{tmp_path / 'log.db'}"
    monkeypatch.setenv("SENTIMENT_DATABASE_URL", url)
    assert main(["migrate"]) == 0
    engine = make_engine(url, durable=False)
    insert_rows(engine, fixture_rows(5, EDGES))
    assert main(["rollup"]) == 0
    assert "rolled up to " in capsys.readouterr().out
    with engine.connect() as connection:
        mark, seen = state(connection)
        rolled = connection.scalar(select(func.count()).select_from(StatsRollupRow))
    assert mark is not None and mark > at(18030).timestamp() and seen == len(EDGES) and rolled
    assert main(["rollup", "--reset"]) == 0
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(StatsRollupRow)) == rolled
    engine.dispose()


def test_passes_running_at_once_build_one_exact_rollup(apps: tuple[TestClient, TestClient, Engine]) -> None:
    """Replicas run passes at the same time: the state moves compare-and-set, nothing is counted twice."""
    from concurrent.futures import ThreadPoolExecutor

    client, plain, engine = apps
    insert_rows(engine, fixture_rows(6, EDGES))
    now = at(10 * 86400).timestamp()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: catch_up(engine, now=now, lag_s=60), range(4)))
    assert all(r.watermark_s == results[0].watermark_s for r in results)
    assert without_rollup_block(all_stats(client)) == without_rollup_block(all_stats(plain))


def test_the_background_task_rolls_up_and_shows_its_watermark_on_metrics(
    settings_for: Callable[..., Settings],
) -> None:
    import re
    import time

    now = datetime.now(UTC).replace(microsecond=0)
    settings = settings_for(drift_refresh_s=0, stats_rollup_s=0.2, stats_rollup_lag_s=0)
    with TestClient(create_app(settings)) as client:
        engine = client.app.state.service.engine  # type: ignore[attr-defined]
        insert_rows(engine, [log_row(now - timedelta(hours=3, seconds=i)) for i in range(5)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = re.search(
                r"^sentiment_stats_rollup_watermark_timestamp_seconds (\S+)$", client.get("/metrics").text, re.M
            )
            stats = client.get("/v1/stats", params={"window": "24h"}, headers={"X-API-Key": ADMIN}).json()
            if found and float(found.group(1)) >= now.timestamp() - 120 and stats["rollup"]["minutes_read"]:
                break
            time.sleep(0.1)
    assert found and float(found.group(1)) >= now.timestamp() - 120
    assert stats["requests"]["total"] == 5 and stats["rollup"]["until"] is not None
