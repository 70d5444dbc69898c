"""POST /v1/feedback: joined to the logged prediction, latest answer wins, JSON errors, every log mode."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from service.app import create_app
from service.config import Settings
from service.log import FeedbackRow
from tests.service.conftest import ADMIN, USER
from tests.support.logrows import insert_rows, log_row
from training.feedback import read_feedback


def _stored(client: TestClient) -> list[tuple[str, int, str, str | None]]:
    engine = client.app.state.service.engine  # type: ignore[attr-defined]
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
    engine = client.app.state.service.engine  # type: ignore[attr-defined]
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


OTHER = "user-key-0002"


def test_a_reused_request_id_never_inherits_feedback_and_cannot_poison_training(
    settings_for: Callable[..., Settings], database_url: str
) -> None:
    # Issue 19 item 1: key B reuses key A's request id after A's feedback; the export must still
    # pair A's text with A's label, and B's row must carry no feedback.
    settings = settings_for(database_url=database_url, api_keys=[USER, OTHER], drift_refresh_s=0)
    with TestClient(create_app(settings)) as client:
        a, b = {"X-API-Key": USER, "X-Request-ID": "victim-42"}, {"X-API-Key": OTHER, "X-Request-ID": "victim-42"}
        client.post("/v1/sentiment", json={"text": "An absolutely wonderful film"}, headers=a)
        answer = client.post("/v1/feedback", json={"request_id": "victim-42", "label": "positive"}, headers=a)
        assert answer.status_code == 200, answer.text
        client.post("/v1/sentiment", json={"text": "Terrible, boring, the worst film ever made."}, headers=b)
        assert client.app.state.service.writer.flush(30.0)  # type: ignore[attr-defined]
        # A's own retry after the feedback moves A's answer to A's newest row, not to B's.
        client.post("/v1/sentiment", json={"text": "An absolutely wonderful film"}, headers=a)
        again = client.post("/v1/feedback", json={"request_id": "victim-42", "label": "positive"}, headers=a)
        assert again.status_code == 200
        assert client.app.state.service.writer.flush(30.0)  # type: ignore[attr-defined]
        queue = client.get("/v1/review", params={"limit": 10}, headers={"X-API-Key": ADMIN}).json()["items"]
    examples, _ = read_feedback(database_url)
    assert [(e.text, e.label) for e in examples] == [("An absolutely wonderful film", "positive")]
    by_text = {(i["text"], i["feedback_label"]) for i in queue}
    assert ("Terrible, boring, the worst film ever made.", None) in by_text
    assert ("An absolutely wonderful film", "positive") in by_text and len(queue) == 3


def test_feedback_on_another_clients_prediction_is_an_unknown_prediction(
    settings_for: Callable[..., Settings], database_url: str
) -> None:
    # Issue 19 item 2: key B can neither read A's predicted label nor overwrite A's answer; A and
    # an admin can. The 404 is the very answer an id nobody used gets, so ids cannot be probed.
    settings = settings_for(database_url=database_url, api_keys=[USER, OTHER], drift_refresh_s=0)
    with TestClient(create_app(settings)) as client:
        owner, other, admin = ({"X-API-Key": key} for key in (USER, OTHER, ADMIN))
        request_id = client.post("/v1/sentiment", json={"text": "good"}, headers=owner).json()["request_id"]
        first = client.post("/v1/feedback", json={"request_id": request_id, "label": "positive"}, headers=owner)
        assert first.status_code == 200
        stolen = client.post("/v1/feedback", json={"request_id": request_id, "label": "negative"}, headers=other)
        unknown = client.post("/v1/feedback", json={"request_id": "never-used", "label": "negative"}, headers=other)
        assert stolen.status_code == unknown.status_code == 404
        assert stolen.json()["error"]["code"] == unknown.json()["error"]["code"] == "unknown_prediction"
        assert "predicted_label" not in stolen.text and "positive" not in stolen.text
        assert _stored(client) == [(request_id, 0, "positive", None)]  # A's answer stands
        by_admin = client.post(
            "/v1/feedback", json={"request_id": request_id, "label": "negative", "note": "checked"}, headers=admin
        )
        assert by_admin.status_code == 200 and by_admin.json()["predicted_label"]
        assert _stored(client) == [(request_id, 0, "negative", "checked")]  # the admin answered for A


def test_open_mode_feedback_still_takes_the_newest_row_whoever_logged_it(client: TestClient) -> None:
    # Without prediction keys there are no owners: any caller answers for any request id, as before.
    engine = client.app.state.service.engine  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    insert_rows(engine, [log_row(now, request_id="open-1", client_key_id="0123456789ab", label="negative")])
    body = client.post("/v1/feedback", json={"request_id": "open-1", "label": "positive"})
    assert body.status_code == 200 and body.json()["predicted_label"] == "negative"


def test_upgrade_to_0004_binds_existing_feedback_to_the_row_it_was_given_for(database_url: str) -> None:
    from alembic import command

    from service.log.engine import _alembic_config, make_engine, schema_revisions

    engine = make_engine(database_url, durable=False)
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0003")
    now = datetime.now(UTC)
    answered = now - timedelta(minutes=5)
    insert_rows(
        engine,
        [
            log_row(now - timedelta(minutes=9), request_id="victim-42", text="wonderful", client_key_id="aaaaaaaaaaaa"),
            log_row(now - timedelta(minutes=1), request_id="victim-42", text="terrible", client_key_id="bbbbbbbbbbbb"),
            log_row(now - timedelta(minutes=1), request_id="late", text="late text"),
        ],
    )
    with engine.begin() as connection:  # 0003's feedback table: no log_id, no owner
        connection.execute(
            text(
                "INSERT INTO feedback (created_at, updated_at, request_id, item_index, label) VALUES "
                "(:t, :t, 'victim-42', 0, 'positive'), (:t, :t, 'late', 0, 'negative')"
            ),
            {"t": answered},
        )
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    revision, head = schema_revisions(engine)
    engine.dispose()
    assert revision == head
    examples, _ = read_feedback(database_url)
    # The row logged after the answer is not the one answered; with none before, the newest is.
    assert sorted((e.text, e.label) for e in examples) == [("late text", "negative"), ("wonderful", "positive")]
