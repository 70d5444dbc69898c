"""POST /v1/feedback: joined to the logged prediction, latest answer wins, JSON errors, every log mode."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from service.app import create_app
from service.config import Settings
from service.log import FeedbackRow
from tests.service.conftest import ADMIN, USER
from tests.support.logrows import insert_rows, log_row


def _stored(client: TestClient) -> list[tuple[str, int, str, str | None]]:
    engine = client.app.state.runtime.engine  # type: ignore[attr-defined]
    table = FeedbackRow.__table__
    with engine.connect() as connection:
        rows = connection.execute(select(table.c.request_id, table.c.item_index, table.c.label, table.c.note))
        return [tuple(r) for r in rows]


def test_feedback_joins_the_prediction_and_the_latest_answer_wins(
    settings_for: Callable[..., Settings], database_url: str
) -> None:
    # A long flush interval: the prediction's row is still in memory when the feedback arrives.
    settings = settings_for(database_url=database_url, api_keys=[USER], log_flush_ms=60_000, drift_refresh_s=0)
    with TestClient(create_app(settings)) as client:
        auth = {"X-API-Key": USER}
        answer = client.post("/v1/sentiment/batch", json={"texts": ["good", "bad plot"]}, headers=auth).json()
        request_id = answer["request_id"]
        first = client.post(
            "/v1/feedback", json={"request_id": request_id, "item_index": 1, "label": "negative"}, headers=auth
        )
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["predicted_label"] == answer["results"][1]["label"]
        assert body["model_version"] == answer["model_version"] and body["created_at"].endswith("Z")
        second = client.post(
            "/v1/feedback",
            json={"request_id": request_id, "item_index": 1, "label": "positive", "note": "sarcasm"},
            headers=auth,
        ).json()
        assert (second["label"], second["note"], second["created_at"]) == ("positive", "sarcasm", body["created_at"])
        assert second["updated_at"] > body["updated_at"]
        assert _stored(client) == [(request_id, 1, "positive", "sarcasm")]
        assert client.post("/v1/feedback", json={"request_id": request_id, "label": "negative"}).status_code == 401


def test_unknown_prediction_is_404_and_unknown_label_is_422(client: TestClient) -> None:
    request_id = client.post("/v1/sentiment", json={"text": "good"}).json()["request_id"]
    for body, status, code in [
        ({"request_id": "no-such-request", "label": "positive"}, 404, "unknown_prediction"),
        ({"request_id": request_id, "item_index": 3, "label": "positive"}, 404, "unknown_prediction"),
        ({"request_id": request_id, "label": "neutral"}, 422, "invalid_label"),
        ({"request_id": request_id}, 422, "invalid_request"),
        ({"request_id": request_id, "label": "positive", "item_index": -1}, 422, "invalid_request"),
        # Past the log column's range: 422, not 503 not_ready (an OverflowError reading the log).
        ({"request_id": request_id, "label": "positive", "item_index": 9223372036854775808}, 422, "invalid_request"),
        ({"request_id": request_id, "label": "positive", "item_index": 2**31}, 422, "invalid_request"),
        ({"request_id": request_id, "label": "positive", "item_index": 10**40}, 422, "invalid_request"),
    ]:
        response = client.post("/v1/feedback", json=body)
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["code"] == code and error["request_id"]
    assert _stored(client) == []


def test_an_item_that_failed_has_no_prediction_to_correct(client: TestClient) -> None:
    request_id = client.post("/v1/sentiment/batch", json={"texts": ["good", ""]}).json()["request_id"]
    response = client.post("/v1/feedback", json={"request_id": request_id, "item_index": 1, "label": "positive"})
    assert response.status_code == 404


@pytest.mark.parametrize("mode", ["hash", "none"])
def test_feedback_works_without_the_text(settings_for: Callable[..., Settings], mode: str) -> None:
    with TestClient(create_app(settings_for(log_text=mode))) as client:
        request_id = client.post("/v1/sentiment", json={"text": "good"}).json()["request_id"]
        response = client.post("/v1/feedback", json={"request_id": request_id, "label": "negative"})
        assert response.status_code == 200 and response.json()["label"] == "negative"


def test_a_retried_request_id_joins_its_newest_row(client: TestClient) -> None:
    engine = client.app.state.runtime.engine  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    insert_rows(
        engine,
        [
            log_row(now - timedelta(seconds=2), request_id="retry-1", label="negative", model_version="old"),
            log_row(now - timedelta(seconds=1), request_id="retry-1", label="positive", model_version="new"),
        ],
    )
    body = client.post("/v1/feedback", json={"request_id": "retry-1", "label": "negative"}).json()
    assert (body["predicted_label"], body["model_version"]) == ("positive", "new")
    stats = client.get("/v1/stats", params={"window": "1h"}, headers={"X-API-Key": ADMIN}).json()
    assert stats["feedback"]["count"] == 1 and stats["feedback"]["by_version"][0]["model_version"] == "new"
