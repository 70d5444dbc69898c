"""GET /v1/models/{name}/compare against a hand-computed fixture, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from service.app import create_app
from service.config import Settings
from service.log import RequestLogRow
from tests.service.conftest import ADMIN
from tests.support.logrows import insert_feedback, insert_rows, log_row

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = {"since": "2026-01-01T00:00:00Z", "until": "2026-01-01T01:00:00Z"}
AUTH = {"X-API-Key": ADMIN}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def primary(t: float, request_id: str, label: str, score: float, item: int = 0, **values: Any) -> dict[str, Any]:
    return log_row(
        at(t),
        request_id=request_id,
        item_index=item,
        label=label,
        score=score,
        model_version="v1",
        model="sentiment",
        role="primary",
        latency_ms=10.0,
        text=f"text {request_id}",
        **values,
    )


def shadow(t: float, request_id: str, label: str, score: float, item: int = 0, version: str = "c1") -> dict[str, Any]:
    return log_row(
        at(t),
        request_id=request_id,
        item_index=item,
        label=label,
        score=score,
        model_version=version,
        model="sentiment",
        role="shadow",
        latency_ms=2.0,
        text=f"text {request_id}",
    )


# Worked out by hand below. c1 is the candidate compared; c0 an earlier one.
ROWS = [
    primary(10, "r1", "positive", 0.9), shadow(11, "r1", "positive", 0.8),      # agree
    primary(20, "r2", "negative", 0.6), shadow(21, "r2", "negative", 0.7),      # agree
    primary(30, "r3", "positive", 0.95), shadow(31, "r3", "negative", 0.9),     # disagree, 1.85
    primary(40, "r4", "negative", 0.55), shadow(41, "r4", "positive", 0.6),     # disagree, 1.15
    primary(50, "r5", "positive", 0.7), shadow(51, "r5", "positive", 0.75),     # agree (batch item 0)
    primary(50, "r5", "positive", 0.8, item=1),                                 # no shadow score (dropped)
    log_row(at(60), request_id="r6", label="positive", score=0.9, model_version="c1", model="sentiment",
            role="canary", latency_ms=20.0),                                    # the canary answered
    primary(70, "r7", "positive", 0.9), shadow(71, "r7", "negative", 0.99, version="c0"),  # another candidate
    primary(-20, "old", "positive", 0.9), shadow(-10, "old", "negative", 0.9),  # before the window
    log_row(at(80), request_id="o1", label="positive", score=0.9, model_version="x1", model="other",
            role="primary"),
    log_row(at(81), request_id="o1", label="negative", score=0.9, model_version="x2", model="other",
            role="shadow"),                                                     # another model's pair
]  # fmt: skip
# (request id, item, role of the row it was given for, true label)
FEEDBACK = [("r1", 0, "primary", "positive"), ("r3", 0, "primary", "negative"), ("r4", 0, "primary", "negative"),
            ("r5", 1, "primary", "positive"), ("r6", 0, "canary", "negative")]  # fmt: skip


@pytest.fixture()
def filled(settings_for: Callable[..., Settings], database_url: str) -> Iterator[TestClient]:
    settings = settings_for(database_url=database_url, drift_refresh_s=0, stats_rollup_s=0)
    with TestClient(create_app(settings)) as client:
        engine = client.app.state.service.engine  # type: ignore[attr-defined]
        insert_rows(engine, ROWS)
        log = RequestLogRow.__table__.c
        rows = []
        with engine.connect() as connection:
            for request_id, item, role, label in FEEDBACK:
                query = select(log.id).where(log.request_id == request_id, log.item_index == item, log.role == role)
                log_id = connection.execute(query).scalar_one()
                rows.append({"created_at": at(3000), "updated_at": at(3000), "request_id": request_id,
                             "item_index": item, "label": label, "log_id": log_id, "owner_key_id": ""})  # fmt: skip
        insert_feedback(engine, rows)
        yield client


def _compare(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/models/sentiment/compare", params={**WINDOW, **params}, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_compare_figures_match_the_hand_computed_ones(filled: TestClient) -> None:
    figures = _compare(filled, candidate_version="c1")
    assert figures["candidate_version"] == "c1" and figures["model"] == "sentiment"
    assert figures["agreement"] == {
        "pairs": 5,
        "agreed": 3,
        "rate": 0.6,
        "by_label": {
            "positive": {"pairs": 3, "agreed": 2, "rate": pytest.approx(2 / 3)},
            "negative": {"pairs": 2, "agreed": 1, "rate": 0.5},
        },
    }
    worst = figures["disagreements"]
    assert [(d["request_id"], d["primary"]["label"], d["candidate"]["label"]) for d in worst] == [
        ("r3", "positive", "negative"),
        ("r4", "negative", "positive"),
    ]
    assert worst[0]["text"] == "text r3" and worst[0]["candidate"] == {
        "label": "negative",
        "score": 0.9,
        "model_version": "c1",
    }
    latency = figures["latency_ms"]
    assert latency["primary"] == {"count": 7, "p50": 10.0, "p90": 10.0, "p99": 10.0, "max": 10.0}  # r1-r5 (3), r7
    assert latency["shadow"] == {"count": 5, "p50": 2.0, "p90": 2.0, "p99": 2.0, "max": 2.0}
    assert latency["canary"] == {"count": 1, "p50": 20.0, "p90": 20.0, "p99": 20.0, "max": 20.0}
    assert figures["feedback"]["on_both"] == {
        "count": 3,  # r1, r3, r4: r5 item 1 has no shadow score, r6 was the canary's
        "primary_correct": 2,  # r1, r4
        "candidate_correct": 2,  # r1, r3
        "primary_accuracy": pytest.approx(2 / 3),
        "candidate_accuracy": pytest.approx(2 / 3),
    }
    assert figures["feedback"]["served"] == {
        "primary": {"count": 4, "accuracy": 0.75},  # r1, r4, r5/1 right; r3 wrong
        "canary": {"count": 1, "accuracy": 0.0},
    }


def test_without_a_candidate_version_every_candidate_of_the_window_counts(filled: TestClient) -> None:
    figures = _compare(filled, limit=1)
    assert figures["candidate_version"] is None  # no candidate runs: every one in the window
    assert (figures["agreement"]["pairs"], figures["agreement"]["agreed"]) == (6, 3)  # + r7 against c0
    assert [d["request_id"] for d in figures["disagreements"]] == ["r7"]  # 0.9 + 0.99, the most confident
    assert figures["latency_ms"]["shadow"]["count"] == 6


def test_an_empty_window_and_bad_queries(filled: TestClient) -> None:
    empty = _compare(filled, since="2025-01-01T00:00:00Z", until="2025-01-02T00:00:00Z")
    assert empty["agreement"] == {"pairs": 0, "agreed": 0, "rate": None, "by_label": {}}
    assert empty["latency_ms"]["primary"] == {"count": 0, "p50": None, "p90": None, "p99": None, "max": None}
    assert empty["feedback"]["on_both"]["primary_accuracy"] is None
    unknown = filled.get("/v1/models/nope/compare", headers=AUTH)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"
    backwards = filled.get(
        "/v1/models/sentiment/compare", params={"since": WINDOW["until"], "until": WINDOW["since"]}, headers=AUTH
    )
    assert backwards.status_code == 422
    assert filled.get("/v1/models/sentiment/compare").status_code in (401, 403)
