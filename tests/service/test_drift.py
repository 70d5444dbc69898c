"""Drift: a constructed shift fires, two samples of one distribution stay quiet; the gauges follow."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from service.log.drift import js_distance
from tests.service.conftest import ADMIN
from tests.support.logrows import insert_rows, log_row

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def sample(n: int, start: datetime, seed: int, *, shifted: bool = False) -> list[dict[str, Any]]:
    """`n` rows over the hour from `start`; shifted: more negatives, lower scores, longer texts, more unknowns,
    more Chinese."""
    rng = random.Random(seed)
    languages = random.Random(-seed)  # its own draws: the other features' samples stay as they were
    rows = []
    for i in range(n):
        negative = rng.random() < (0.7 if shifted else 0.4)
        score = min(0.999, 0.5 + abs(rng.gauss(0.1 if shifted else 0.3, 0.12)))
        chars = int(rng.lognormvariate(6.5 if shifted else 5.0, 0.6))
        tokens = max(1, chars // 5)
        unknown = sum(rng.random() < (0.15 if shifted else 0.02) for _ in range(min(tokens, 50)))
        language = "zh" if languages.random() < (0.5 if shifted else 0.1) else "en"
        rows.append(
            log_row(
                start + timedelta(seconds=3600 * i / n),
                request_id=f"s{seed}-{i}",
                label="negative" if negative else "positive",
                score=score,
                text_chars=chars,
                tokens=tokens,
                unknown_tokens=unknown,
                language=language,
            )
        )
    return rows


def test_js_distance_bounds() -> None:
    assert js_distance([5, 5], [50, 50]) == 0.0
    assert js_distance([1, 0], [0, 1]) == pytest.approx(1.0)
    assert 0 < js_distance([3, 1], [1, 3]) < 1


@pytest.fixture()
def client_for(settings_for: Callable[..., Settings]) -> Callable[..., TestClient]:
    def build(**overrides: Any) -> TestClient:
        return TestClient(create_app(settings_for(**{"drift_refresh_s": 0, **overrides})))

    return build


def _drift(client: TestClient) -> dict[str, Any]:
    params = {"since": "2026-01-01T01:00:00Z", "until": "2026-01-01T02:00:00Z"}
    response = client.get("/v1/stats", params=params, headers={"X-API-Key": ADMIN})
    assert response.status_code == 200, response.text
    return response.json()["drift"]  # type: ignore[no-any-return]


def test_a_constructed_shift_fires_on_every_feature(client_for: Callable[..., TestClient]) -> None:
    with client_for() as client:
        engine = client.app.state.service.engine  # type: ignore[attr-defined]
        insert_rows(engine, sample(1500, T0, seed=1) + sample(1500, T0 + timedelta(hours=1), seed=2, shifted=True))
        drift = _drift(client)
    assert drift["reference"] == {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z"}
    assert drift["method"] == "jensen-shannon distance" and drift["threshold"] == 0.1 and drift["drift"] is True
    for name, feature in drift["features"].items():
        assert feature["drift"] is True and feature["distance"] >= 0.1, name
        assert feature["reference_rows"] == 1500 == feature["current_rows"]


def test_two_samples_of_one_distribution_stay_quiet(client_for: Callable[..., TestClient]) -> None:
    with client_for() as client:
        engine = client.app.state.service.engine  # type: ignore[attr-defined]
        insert_rows(engine, sample(1500, T0, seed=3) + sample(1500, T0 + timedelta(hours=1), seed=4))
        drift = _drift(client)
    assert drift["drift"] is False
    for name, feature in drift["features"].items():
        assert feature["distance"] is not None and feature["distance"] < 0.1, name


def test_too_few_rows_give_no_distance(client_for: Callable[..., TestClient]) -> None:
    with client_for() as client:
        engine = client.app.state.service.engine  # type: ignore[attr-defined]
        insert_rows(engine, sample(900, T0, seed=1) + sample(1500, T0 + timedelta(hours=1), seed=2, shifted=True))
        drift = _drift(client)
    assert drift["min_rows"] == 1000 and drift["drift"] is False
    assert all(f["distance"] is None and f["reference_rows"] == 900 for f in drift["features"].values())


def test_gauges_report_drift_from_the_background_task(client_for: Callable[..., TestClient]) -> None:
    now = datetime.now(UTC)
    with client_for(drift_refresh_s=0.2, drift_window_s=600, drift_min_rows=50) as client:
        engine = client.app.state.service.engine  # type: ignore[attr-defined]
        reference = sample(200, now - timedelta(seconds=1200), seed=5)
        current = sample(200, now - timedelta(seconds=600), seed=6, shifted=True)
        for rows in (reference, current):  # squeeze each hour of the sample into its 10 minutes
            for i, row in enumerate(rows):
                row["created_at"] = rows[0]["created_at"] + timedelta(seconds=590 * i / len(rows))
        insert_rows(engine, reference + current)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            text = client.get("/metrics").text
            if 'sentiment_drift_detected{feature="score"} 1.0' in text:
                break
            time.sleep(0.1)
    assert 'sentiment_drift_detected{feature="score"} 1.0' in text
    assert 'sentiment_drift_detected{feature="label_mix"} 1.0' in text
    assert 'sentiment_drift_distance{feature="text_length"}' in text
