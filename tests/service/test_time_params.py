"""Time query parameters: every offset names the same instant, on every route; out of range is a 422."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.service.conftest import ADMIN
from tests.support.logrows import insert_rows, log_row

AUTH = {"X-API-Key": ADMIN}
# Rows at 06:30, 07:30 and 08:30 UTC on one day; "08:00+01:00" is 07:00 UTC, "06:00-01:00" is 07:00 UTC.
DAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
SEVEN_UTC = [
    (DAY + timedelta(hours=7)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    (DAY + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:%S+01:00"),
    (DAY + timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%S-01:00"),
    (DAY + timedelta(hours=7, minutes=30)).strftime("%Y-%m-%dT%H:%M:%S+00:30"),
]


@pytest.fixture()
def logged(settings_for: Callable[..., Settings]) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(drift_refresh_s=0, stats_rollup_s=0))) as client:
        engine = client.app.state.service.engine  # type: ignore[attr-defined]
        rows = [DAY + timedelta(hours=h, minutes=30) for h in (6, 7, 8)]
        insert_rows(engine, [log_row(t, request_id=f"at-{t.hour}", score=0.6) for t in rows])
        yield client


@pytest.mark.parametrize("since", SEVEN_UTC)
def test_every_offset_of_a_time_names_the_same_instant_on_every_route(logged: TestClient, since: str) -> None:
    client = logged
    rows = client.get("/v1/requests", params={"since": since}, headers=AUTH).json()["rows"]
    assert sorted(r["request_id"] for r in rows) == ["at-7", "at-8"]
    review = client.get("/v1/review", params={"since": since}, headers=AUTH).json()["items"]
    assert sorted(i["request_id"] for i in review) == ["at-7", "at-8"]
    until = (DAY + timedelta(hours=9)).isoformat()
    stats = client.get("/v1/stats", params={"since": since, "until": until}, headers=AUTH).json()
    assert stats["requests"]["total"] == 2 and stats["window"]["start"].startswith(SEVEN_UTC[0][:16])
    # until with an offset: 08:00+01:00 is 07:00 UTC, so only the 06:30 row is before it.
    early = client.get("/v1/stats", params={"since": DAY.isoformat(), "until": SEVEN_UTC[1]}, headers=AUTH).json()
    assert early["requests"]["total"] == 1


@pytest.mark.parametrize(
    ("path", "name", "value"),
    [
        ("/v1/stats", "until", "0001-01-01T00:00:00+01:00"),  # 31 Dec of year 0 in UTC
        ("/v1/stats", "since", "0001-01-01T00:00:00+01:00"),
        ("/v1/stats", "reference", "0001-01-01T00:00:00+01:00"),
        ("/v1/review", "since", "9999-12-31T23:59:59-01:00"),  # year 10000 in UTC
        ("/v1/requests", "since", "9999-12-31T23:59:59-01:00"),
        ("/v1/requests", "since", "0001-01-01T00:00:00+01:00"),
        ("/v1/review", "since", "2026-02-30T00:00:00Z"),  # matches the pattern, no such day
    ],
)
def test_a_time_outside_the_calendar_is_a_422_naming_the_parameter(
    client: TestClient, path: str, name: str, value: str
) -> None:
    response = client.get(path, params={name: value}, headers=AUTH)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and error["message"].startswith(f"{name}: ")
