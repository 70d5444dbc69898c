"""The explain and sentences options over HTTP; the default answer stays byte for byte the same."""

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

import service.app
from model import load_predictor
from service.app import create_app
from service.config import Settings
from service.schemas import BatchResponse, SentimentResponse
from tests.service.conftest import admin_rows, running

TEXT = "The movie was good. The plot was poor!"


def test_default_answer_is_unchanged_byte_for_byte(
    settings_for: Callable[..., Settings], tiny_artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = {"X-Request-ID": "same-id"}
    with TestClient(create_app(settings_for())) as client:
        fast = client.post("/v1/sentiment", json={"text": TEXT}, headers=headers).content
    # the FastAPI route, with the options present but off
    monkeypatch.setattr(service.app, "fast_predict_one", _never)
    with TestClient(create_app(settings_for())) as client:
        routed = client.post(
            "/v1/sentiment", json={"text": TEXT, "explain": False, "sentences": False}, headers=headers
        )
        batch = client.post("/v1/sentiment/batch", json={"texts": [TEXT], "explain": False}, headers=headers).content
    (p,) = load_predictor(tiny_artifact).predict([TEXT])
    expected = {  # the answer as it was before the options existed (plus polarity), key order included
        "label": p.label,
        "score": p.score,
        "probabilities": p.probabilities,
        "polarity": p.polarity,
        "tokens_used": p.tokens_used,
        "tokens_total": p.tokens_total,
        "truncated": False,
        "language": None,  # the fixture states no language
        "supported": True,
    }
    # the tiny artifact records no accuracy gate: `auto` serves it in fp32
    served_by = {"model_version": load_predictor(tiny_artifact).version, "precision": "fp32"}
    assert (
        fast == routed.content == orjson.dumps({**expected, "model": "sentiment", **served_by, "request_id": "same-id"})
    )
    assert batch == orjson.dumps(
        {
            "results": [{**expected, "model": "sentiment", **served_by}],
            "model": "sentiment",
            **served_by,
            "request_id": "same-id",
        }
    )


async def _never(runtime: Any, scope: Any, body: bytes) -> None:
    return None


def test_explain_and_sentences_on_one_text(client: TestClient, tiny_artifact: Path) -> None:
    answer = client.post("/v1/sentiment", json={"text": TEXT, "explain": True, "sentences": True})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    SentimentResponse.model_validate(body)
    (expected,) = load_predictor(tiny_artifact).explain([TEXT])
    assert body["label"] == expected.prediction.label
    explanation = body["explanation"]
    assert explanation["method"] == "occlusion"
    assert [TEXT[t["start"] : t["end"]] for t in explanation["tokens"]] == [
        "The", "movie", "was", "good", ".", "The", "plot", "was", "poor", "!",
    ]  # fmt: skip
    for got, want in zip(explanation["tokens"], expected.tokens, strict=True):
        assert got["weight"] == pytest.approx(want.weight, abs=1e-6)
    assert [(s["start"], s["end"]) for s in body["sentences"]] == [(0, 19), (20, 38)]
    assert all(s["label"] in ("negative", "positive") for s in body["sentences"])
    rows = admin_rows(client)
    assert (rows[0]["explain"], rows[0]["sentences"]) == (True, True)


def test_batch_applies_the_options_to_every_text(client: TestClient) -> None:
    texts = ["good", "", "The plot was poor. Bad!"]
    answer = client.post("/v1/sentiment/batch", json={"texts": texts, "explain": True, "sentences": True})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    BatchResponse.model_validate(body)
    first, empty, third = body["results"]
    assert empty["error"]["code"] == "invalid_text"
    assert [t["text"] for t in first["explanation"]["tokens"]] == ["good"]
    assert [(s["start"], s["end"]) for s in third["sentences"]] == [(0, 18), (19, 23)]
    assert len(third["explanation"]["tokens"]) == 7
    only_sentences = client.post("/v1/sentiment/batch", json={"texts": ["Good. Bad."], "sentences": True}).json()
    assert "explanation" not in only_sentences["results"][0] and len(only_sentences["results"][0]["sentences"]) == 2


def test_explaining_a_text_over_the_token_limit_is_413(settings_for: Callable[..., Settings]) -> None:
    with TestClient(create_app(settings_for(max_explain_tokens=5))) as client:
        long = "the movie was good and the plot was fine"
        answer = client.post("/v1/sentiment", json={"text": long, "explain": True})
        assert answer.status_code == 413
        assert answer.json()["error"]["code"] == "too_long_to_explain"
        assert "SENTIMENT_MAX_EXPLAIN_TOKENS" in answer.json()["error"]["message"]
        assert client.post("/v1/sentiment", json={"text": long}).status_code == 200  # without explain: fine
        batch = client.post("/v1/sentiment/batch", json={"texts": ["good", long], "explain": True}).json()
        assert "explanation" in batch["results"][0]
        assert batch["results"][1]["error"]["code"] == "too_long_to_explain"
        rows = admin_rows(client, limit=10)
        assert {(r["status"], r["error_code"]) for r in rows if r["endpoint"] == "sentiment/batch"} == {
            (200, None),
            (413, "too_long_to_explain"),
        }


def test_an_explanation_split_over_many_passes_is_the_same_and_lets_plain_texts_through(
    settings_for: Callable[..., Settings], tiny_artifact: Path
) -> None:
    """With 8 tokens of explanation per pass a 27-token text needs 28 passes: a plain request
    sent after it is answered long before it, and the weights equal the one-call explanation."""
    text = " ".join(["the movie was good but the plot was poor"] * 3)  # 27 tokens: 28 rows
    app = create_app(settings_for(explain_pass_tokens=8, max_explain_tokens=100))
    finished: list[str] = []

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with running(app) as client:

            async def post(name: str, body: dict[str, Any]) -> dict[str, Any]:
                answer = await client.post("/v1/sentiment", json=body)
                finished.append(name)
                return answer.json()  # type: ignore[no-any-return]

            explained = asyncio.create_task(post("explain", {"text": text, "explain": True}))
            while app.state.service.batcher.batches_run < 3:  # the explanation is under way
                await asyncio.sleep(0.001)
            plain = await post("plain", {"text": "good"})
            explanation = (await explained)["explanation"]
            assert app.state.service.batcher.batches_run >= 28  # one 26-token row per pass
            return plain, explanation

    plain, explanation = asyncio.run(scenario())
    assert finished == ["plain", "explain"] and plain["label"] in ("negative", "positive")
    (expected,) = load_predictor(tiny_artifact).explain([text])
    assert [t["weight"] for t in explanation["tokens"]] == pytest.approx([t.weight for t in expected.tokens], abs=1e-6)


def test_openapi_documents_the_options(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert {"explain", "sentences"} <= set(schemas["SentimentRequest"]["properties"])
    assert {"explain", "sentences"} <= set(schemas["BatchRequest"]["properties"])
    assert {"text", "start", "end", "weight"} == set(schemas["TokenAttribution"]["properties"])
    assert {"explanation", "sentences"} <= set(schemas["SentimentResponse"]["properties"])


def test_explanation_work_over_the_budget_is_refused_up_front(settings_for: Callable[..., Settings]) -> None:
    # Issue 19 item 6: 256 texts of ~295 tokens with explain ran 30 s of CPU, then answered 503.
    long = " ".join(["good", "plot", "but", "dull"] * 74)
    # A 10 ms timeout: a budget of rate x 5 ms is below this work on any machine (the test model
    # would need over 80 M tokens/s), so the refusal does not depend on how fast this one is.
    with TestClient(create_app(settings_for(max_batch_items=256, request_timeout_s=0.01))) as client:
        runtime = client.app.state.service  # type: ignore[attr-defined]
        n = len(runtime.predictor.encode(long).ids)  # what the model reads (the test model truncates)

        def passes() -> float:
            return runtime.metrics.registry.get_sample_value("sentiment_batch_size_count") or 0.0

        before = passes()
        answer = client.post("/v1/sentiment/batch", json={"texts": [long] * 256, "explain": True})
        assert answer.status_code == 413, answer.text
        error = answer.json()["error"]
        assert error["code"] == "explain_budget_exceeded"
        assert f"takes about {256 * n * (n + 1):,} tokens" in error["message"]
        assert "tokens/s x SENTIMENT_REQUEST_TIMEOUT_S=0.01 x 0.5" in error["message"]
        assert passes() == before  # refused before any forward pass ran
        assert admin_rows(client) == []
    with TestClient(create_app(settings_for(explain_budget_tokens=1000, max_batch_items=256))) as client:
        assert client.post("/v1/sentiment/batch", json={"texts": [long] * 256}).status_code == 200  # no explain
        text = " ".join(["good"] * 30)  # 30 x 31 = 930 tokens of work: fits; two of them do not
        assert client.post("/v1/sentiment", json={"text": text, "explain": True}).status_code == 200
        both = client.post("/v1/sentiment/batch", json={"texts": [text, text], "explain": True})
        assert both.status_code == 413 and "(SENTIMENT_EXPLAIN_BUDGET_TOKENS)" in both.json()["error"]["message"]
