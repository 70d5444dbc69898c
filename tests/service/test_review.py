"""GET /v1/review: the least confident recent predictions, with filters and any feedback on them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.service.conftest import ADMIN
from tests.support.logrows import insert_rows, log_row

HEADERS = {"X-API-Key": ADMIN}


def test_least_confident_first_with_filters_and_feedback(client: TestClient) -> None:
    engine = client.app.state.service.engine  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    insert_rows(
        engine,
        [
            log_row(now - timedelta(minutes=1), request_id="a", score=0.9, label="positive", client_key_id="k1"),
            log_row(now - timedelta(minutes=2), request_id="b", score=0.51, label="negative", model_version="v2"),
            log_row(now - timedelta(minutes=3), request_id="c", score=0.7, label="positive", client_key_id="k1"),
            log_row(now - timedelta(minutes=4), request_id="d", score=None, label=None, status=422),
            log_row(now - timedelta(days=3), request_id="old", score=0.5, label="positive"),
        ],
    )
    assert client.post("/v1/feedback", json={"request_id": "c", "label": "negative"}).status_code == 200
    body = client.get("/v1/review", headers=HEADERS).json()
    assert body["text_logged"] is True
    assert [(i["request_id"], i["feedback_label"]) for i in body["items"]] == [
        ("b", None),
        ("c", "negative"),
        ("a", None),
    ]
    assert body["items"][0]["text"] == "some text" and body["items"][0]["created_at"].endswith("Z")

    def ids(**params: str | int) -> list[str]:
        response = client.get("/v1/review", params=params, headers=HEADERS)
        assert response.status_code == 200, response.text
        return [i["request_id"] for i in response.json()["items"]]

    assert ids(label="positive") == ["c", "a"]
    assert ids(model_version="v2") == ["b"]
    assert ids(client_key_id="k1", limit=1) == ["c"]
    assert ids(since=(now - timedelta(days=4)).isoformat()) == ["old", "b", "c", "a"]
    assert client.get("/v1/review").status_code == 401


def test_hash_mode_says_no_text_is_logged(settings_for: Callable[..., Settings]) -> None:
    with TestClient(create_app(settings_for(log_text="hash"))) as client:
        client.post("/v1/sentiment", json={"text": "good"})
        assert client.app.state.service.writer.flush(30.0)  # type: ignore[attr-defined]
        body = client.get("/v1/review", headers=HEADERS).json()
    assert body["text_logged"] is False
    (item,) = body["items"]
    assert item["text"] is None and len(item["text_sha256"]) == 64
