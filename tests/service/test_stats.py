"""GET /v1/stats against a hand-computed fixture, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.service.conftest import ADMIN
from tests.support.logrows import insert_feedback, insert_rows, log_row

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = {"since": "2026-01-01T00:00:00Z", "until": "2026-01-01T01:00:00Z"}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# Five rows inside the hour, two just outside it. Expected figures below are worked out by hand.
ROWS = [
    log_row(at(30), request_id="r1", label="positive", score=0.9, text_chars=30, tokens=10, unknown_tokens=1,
            latency_ms=4.0, queue_wait_ms=1.0, batch_size=1, model_version="v1"),
    log_row(at(45), request_id="r2", label="negative", score=0.6, text_chars=120, tokens=20, unknown_tokens=0,
            latency_ms=12.0, queue_wait_ms=2.0, batch_size=4, model_version="v1"),
    log_row(at(70), request_id="r3", label="positive", score=0.52, text_chars=60, tokens=4, unknown_tokens=2,
            latency_ms=40.0, queue_wait_ms=0.5, batch_size=4, model_version="v2"),
    log_row(at(80), request_id="r4", label=None, score=None, text_chars=0, tokens=None, unknown_tokens=None,
            latency_ms=1.0, queue_wait_ms=None, batch_size=None, model_version=None, status=422,
            error_code="invalid_text"),
    log_row(at(3599), request_id="r5", label="negative", score=0.97, text_chars=25000, tokens=0, unknown_tokens=0,
            latency_ms=100.0, queue_wait_ms=10.0, batch_size=32, model_version="v2"),
    log_row(at(-1), request_id="before", label="negative", score=0.7, model_version="v1"),
    log_row(at(3600), request_id="after", label="negative", score=0.7, model_version="v1"),
]  # fmt: skip
FEEDBACK = [("r1", "negative"), ("r2", "negative"), ("r3", "positive"), ("r5", "positive"), ("before", "positive")]


def _stats(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/stats", params=params, headers={"X-API-Key": ADMIN})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture()
def filled(settings_for: Callable[..., Settings], database_url: str) -> Any:
    with TestClient(create_app(settings_for(database_url=database_url, drift_refresh_s=0))) as client:
        engine = client.app.state.service.engine  # type: ignore[attr-defined]
        insert_rows(engine, ROWS)
        insert_feedback(
            engine,
            [
                {"created_at": at(4000), "updated_at": at(4000), "request_id": r, "item_index": 0, "label": label}
                for r, label in FEEDBACK
            ],
        )
        yield client


def test_aggregates_match_the_hand_computed_figures(filled: TestClient) -> None:
    stats = _stats(filled, **WINDOW)
    assert stats["window"] == {
        "start": "2026-01-01T00:00:00Z",
        "end": "2026-01-01T01:00:00Z",
        "interval_s": 60,
        "model_version": None,
        "model": None,
    }
    requests = stats["requests"]
    assert (requests["total"], requests["errors"], len(requests["series"])) == (5, 1, 60)
    assert requests["series"][0] == {"t": "2026-01-01T00:00:00Z", "count": 2, "errors": 0}
    assert requests["series"][1] == {"t": "2026-01-01T00:01:00Z", "count": 2, "errors": 1}
    assert requests["series"][59] == {"t": "2026-01-01T00:59:00Z", "count": 1, "errors": 0}
    assert sum(p["count"] for p in requests["series"][2:59]) == 0
    assert stats["labels"] == {"positive": 2, "negative": 2}
    score = stats["score_histogram"]["counts"]
    assert {i: c for i, c in enumerate(score) if c} == {10: 1, 12: 1, 18: 1, 19: 1}  # 0.52, 0.6, 0.9, 0.97
    assert stats["text_length"]["counts"] == [1, 1, 1, 0, 0, 0, 0, 0, 1]  # 30, 60, 120, 25000 (last bin)
    unknown = stats["unknown_token_rate"]
    assert unknown["counts"] == [1, 0, 0, 0, 1, 0, 0, 1] and unknown["mean"] == pytest.approx(0.2)  # 0, .1, .5
    assert stats["latency_ms"] == {"p50": 12.0, "p90": 100.0, "p99": 100.0, "max": 100.0}  # 1, 4, 12, 40, 100
    assert stats["queue_wait_ms"] == {"p50": 1.0, "p90": 10.0, "p99": 10.0, "max": 10.0}  # 0.5, 1, 2, 10
    assert stats["batch_size"]["counts"] == [1, 0, 2, 0, 0, 1, 0, 0, 0, 0, 0]
    assert stats["batch_size"]["mean"] == pytest.approx(10.25)
    assert stats["errors_by_code"] == {"invalid_text": 1}


def test_feedback_accuracy_precision_recall_and_confusion_per_version(filled: TestClient) -> None:
    feedback = _stats(filled, **WINDOW)["feedback"]
    assert (feedback["count"], feedback["accuracy"]) == (4, 0.5)  # the row before the window is not counted
    v1, v2 = feedback["by_version"]
    assert (v1["model_version"], v1["count"], v1["accuracy"]) == ("v1", 2, 0.5)
    assert v1["confusion"] == {"labels": ["negative", "positive"], "matrix": [[1, 1], [0, 0]]}
    assert v1["per_class"] == {
        "negative": {"precision": 1.0, "recall": 0.5, "support": 2},
        "positive": {"precision": 0.0, "recall": None, "support": 0},
    }
    assert v2["confusion"]["matrix"] == [[0, 0], [1, 1]]
    assert v2["per_class"]["positive"] == {"precision": 1.0, "recall": 0.5, "support": 2}


def test_model_version_filter_and_empty_window(filled: TestClient) -> None:
    stats = _stats(filled, model_version="v2", **WINDOW)
    assert stats["requests"]["total"] == 2 and stats["labels"] == {"positive": 1, "negative": 1}
    assert [v["model_version"] for v in stats["feedback"]["by_version"]] == ["v2"]
    empty = _stats(filled, window="1h")  # now: nothing logged
    assert empty["requests"]["total"] == 0 and empty["labels"] == {}
    assert empty["latency_ms"] == {"p50": None, "p90": None, "p99": None, "max": None}
    assert empty["feedback"] == {"count": 0, "accuracy": None, "by_version": []}
    assert empty["drift"]["drift"] is False and empty["drift"]["features"]["score"]["distance"] is None


def test_bad_stats_queries_are_json_errors(client: TestClient) -> None:
    headers = {"X-API-Key": ADMIN}
    bad = [
        {"window": "2h"},
        {"since": "yesterday"},
        {"since": "2026-01-02", "until": "2026-01-01"},
        {"until": "0001-01-01"},
    ]
    for params in bad:
        response = client.get("/v1/stats", params=params, headers=headers)
        assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request"
    assert client.get("/v1/stats").status_code == 401
    bad_reference = client.get("/v1/stats", params={"window": "1h", "reference": "2999-01-01"}, headers=headers)
    assert bad_reference.status_code == 422
