"""`SentimentClient` and `AsyncSentimentClient` against a real `python -m service` process."""

from __future__ import annotations

import asyncio
import math
import time

import httpx
import pytest
from sentiment_client import (
    AsyncSentimentClient,
    AuthenticationError,
    InvalidRequest,
    ItemError,
    NotFound,
    PermissionDenied,
    Prediction,
    RetryEvent,
    SentimentClient,
    TooLarge,
)

from tests.client.conftest import MAX_BATCH_ITEMS, USER
from tests.e2e.conftest import ADMIN, ServerProcess

pytestmark = pytest.mark.e2e
TEXTS = ["good movie", "awful plot", "", "the plot was fine", "bad !", "great great", "poor", "not good", "movie ."]


def logged(server: ServerProcess, request_id: str, rows: int) -> list[dict[str, object]]:
    """The request's log rows, newest first, once all `rows` are written (the log is written off the request path)."""
    deadline = time.monotonic() + 10
    while True:
        response = httpx.get(f"{server.url}/v1/requests", params={"limit": 1000}, headers={"X-API-Key": ADMIN})
        found = [row for row in response.json()["rows"] if row["request_id"] == request_id]
        if len(found) >= rows or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_predict_answers_as_the_http_api_does(server: ServerProcess) -> None:
    with SentimentClient(server.url, api_key=USER) as client:
        result = client.predict("good movie", request_id="client-single-1")
        model = client.model()
    raw = httpx.post(f"{server.url}/v1/sentiment", json={"text": "good movie"}, headers={"X-API-Key": USER}).json()
    assert isinstance(result, Prediction)
    assert (result.label, result.probabilities, result.tokens_total) == (
        raw["label"],
        raw["probabilities"],
        raw["tokens_total"],
    )
    assert result.score == result.probabilities[result.label]
    assert result.request_id == "client-single-1" and result.item_index == 0
    assert result.model_version == model.version and model.labels == list(result.probabilities)
    assert model.max_batch_items == MAX_BATCH_ITEMS
    assert result.explanation is None and result.sentences is None and result.mixed is None
    assert result.polarity == raw["polarity"]


def test_predict_batch_splits_over_the_limit_and_keeps_order(server: ServerProcess) -> None:
    with SentimentClient(server.url, api_key=USER) as client:
        results = client.predict_batch(TEXTS, request_id="job-7")
        singles = {t: client.predict(t) for t in TEXTS if t}
    assert len(results) == len(TEXTS)
    for text, result in zip(TEXTS, results, strict=True):
        if not text:
            assert isinstance(result, ItemError) and result.code == "invalid_text"
            continue
        assert isinstance(result, Prediction)
        assert result.label == singles[text].label
        expected = singles[text].probabilities
        assert all(math.isclose(result.probabilities[k], v, abs_tol=1e-6) for k, v in expected.items())
    # 9 texts with a limit of 4: three requests, ids suffixed in order, item indexes within each
    ids = [(r.request_id, r.item_index) for r in results]
    assert ids == [(f"job-7.{i // MAX_BATCH_ITEMS}", i % MAX_BATCH_ITEMS) for i in range(len(TEXTS))]
    assert [row["item_index"] for row in logged(server, "job-7.1", rows=4)] == [3, 2, 1, 0]  # newest first


def test_predict_batch_also_splits_by_body_size(server: ServerProcess) -> None:
    texts = [f"good movie number {i} " * 3 for i in range(6)]  # ~60 bytes each
    with SentimentClient(server.url, api_key=USER, max_batch_items=100, max_batch_bytes=130) as client:
        results = client.predict_batch(texts)
    assert all(isinstance(r, Prediction) for r in results)
    assert len({r.request_id for r in results}) == 3  # two texts a request


def test_errors_are_typed_with_code_status_and_request_id(server: ServerProcess) -> None:
    events: list[RetryEvent] = []
    with SentimentClient(server.url, on_retry=events.append) as anonymous:
        with pytest.raises(AuthenticationError) as unauthorized:
            anonymous.predict("good", request_id="no-key-1")
    assert (unauthorized.value.status, unauthorized.value.code) == (401, "unauthorized")
    assert unauthorized.value.request_id == "no-key-1"
    with SentimentClient(server.url, api_key="wrong-key-123", on_retry=events.append) as wrong:
        with pytest.raises(PermissionDenied) as forbidden:
            wrong.predict("good")
    assert (forbidden.value.status, forbidden.value.code) == (403, "forbidden")
    with SentimentClient(server.url, api_key=USER, on_retry=events.append) as client:
        with pytest.raises(InvalidRequest) as empty:
            client.predict("   ")
        assert (empty.value.status, empty.value.code, empty.value.message) == (422, "invalid_text", "text is empty")
        with pytest.raises(TooLarge) as long:
            client.predict("good " * 1000)
        assert (long.value.status, long.value.code) == (413, "text_too_long")
        with pytest.raises(NotFound) as unknown:
            client.feedback("no-such-request", "positive")
        assert unknown.value.status == 404 and unknown.value.code in ("unknown_prediction", "not_found")
        with pytest.raises(ValueError, match="request_id"):
            client.predict("good", request_id="has spaces")
    assert events == []  # a 4xx is never retried


def test_feedback_on_a_prediction(server: ServerProcess) -> None:
    if "/v1/feedback" not in httpx.get(server.url + "/openapi.json").json()["paths"]:
        pytest.skip("this server has no POST /v1/feedback (issue 12)")
    with SentimentClient(server.url, api_key=USER) as client:
        results = client.predict_batch(["good movie", "awful plot"])
        second = results[1]
        assert isinstance(second, Prediction)
        answer = client.feedback(second.request_id, "negative", item_index=second.item_index, note="checked")
    assert (answer.request_id, answer.item_index) == (second.request_id, 1)
    assert (answer.label, answer.note) == ("negative", "checked")
    assert answer.predicted_label == second.label and answer.model_version == second.model_version


def test_async_client(server: ServerProcess) -> None:
    async def run() -> None:
        async with AsyncSentimentClient(server.url, api_key=USER, concurrency=2) as client:
            assert await client.ready()
            single = await client.predict("good movie")
            results = await client.predict_batch(TEXTS)
            model = await client.model()
            async with AsyncSentimentClient(server.url) as anonymous:
                with pytest.raises(AuthenticationError):
                    await anonymous.predict("good")
            with pytest.raises(InvalidRequest):
                await client.predict("")
        assert single.model_version == model.version
        assert [isinstance(r, ItemError) for r in results] == [t == "" for t in TEXTS]
        assert len({r.request_id for r in results}) == math.ceil(len(TEXTS) / MAX_BATCH_ITEMS)
        first = results[0]
        assert isinstance(first, Prediction) and first.probabilities == single.probabilities

    asyncio.run(run())


def test_explain_and_sentences_options(server: ServerProcess) -> None:
    request = httpx.get(server.url + "/openapi.json").json()["components"]["schemas"]["SentimentRequest"]
    if "explain" not in request["properties"]:
        pytest.skip("this server has no explain / sentences options (issue 11)")
    text = "Good movie. Awful plot!"
    with SentimentClient(server.url, api_key=USER) as client:
        single = client.predict(text, explain=True, sentences=True)
        batch = client.predict_batch([text, "good"], explain=True)
    assert single.explanation is not None and single.sentences is not None
    assert [text[t.start : t.end].lower() for t in single.explanation.tokens] == [
        t.text for t in single.explanation.tokens
    ]
    assert single.sentences[0].start == 0 and single.sentences[-1].end <= len(text)
    assert single.mixed is not None and all(s.polarity is not None for s in single.sentences)
    assert all(isinstance(r, Prediction) and r.explanation is not None and r.sentences is None for r in batch)


def test_language_options_and_answers(server: ServerProcess) -> None:
    request = httpx.get(server.url + "/openapi.json").json()["components"]["schemas"]["SentimentRequest"]
    if "language" not in request["properties"]:
        pytest.skip("this server does not route by language (issue 22)")
    with SentimentClient(server.url, api_key=USER) as client:
        single = client.predict("good", language="en", unsupported_language="answer")
        batch = client.predict_batch(["good", "bad"], language="zh")
        plain = client.predict("good")
    # the fixture's artifact states no language: it reads any, as the language named
    assert (single.language, single.supported, single.model) == ("en", True, "sentiment")
    assert all(isinstance(r, Prediction) and r.language == "zh" and r.model == "sentiment" for r in batch)
    assert (plain.language, plain.supported) == (None, True)  # nothing stated, nothing identified
