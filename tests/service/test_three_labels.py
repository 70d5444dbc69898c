"""A negative / neutral / positive artifact with a polarity head, end to end through the service:
predict (fast path and route), batch, sentences and `mixed`, explain toward neutral, feedback with
neutral, stats, drift and review with neutral, OIP probabilities [N, 3] and polarity, the client."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sentiment_client import models

from model import load_predictor
from service.app import create_app
from service.config import Settings
from service.log.drift import js_distance
from service.schemas import BatchResponse, SentimentResponse
from tests.service.conftest import ADMIN
from tests.support.logrows import insert_rows, log_row
from tests.support.three_labels import LABELS, make_three_label_artifact

EXPECTED = {"The movie was great.": "positive", "The plot was awful!": "negative", "The movie.": "neutral"}
TEXTS = list(EXPECTED)
MIXED = "The movie was great. The plot was awful!"
AGREEING = "The movie was great. Good plot."
AUTH = {"X-API-Key": ADMIN}


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_three_label_artifact(tmp_path_factory.mktemp("three") / "artifact")


@pytest.fixture()
def client(settings_for: Callable[..., Settings], artifact: Path) -> Iterator[TestClient]:
    settings = settings_for(model_dir=artifact, drift_refresh_s=0, drift_min_rows=1)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_every_answer_has_three_probabilities_and_the_heads_polarity(client: TestClient, artifact: Path) -> None:
    expected = load_predictor(artifact).predict(TEXTS)
    singles = [client.post("/v1/sentiment", json={"text": t}).json() for t in TEXTS]  # the fast path
    batch = client.post("/v1/sentiment/batch", json={"texts": TEXTS}).json()
    BatchResponse.model_validate(batch)
    for single, item, want, text in zip(singles, batch["results"], expected, TEXTS, strict=True):
        SentimentResponse.model_validate(single)
        assert single["label"] == item["label"] == EXPECTED[text]
        assert list(single["probabilities"]) == LABELS
        assert sum(single["probabilities"].values()) == pytest.approx(1.0)
        assert single["polarity"] == pytest.approx(want.polarity, abs=1e-6)
        assert item["polarity"] == pytest.approx(want.polarity, abs=1e-6)
        assert "mixed" not in single and "mixed" not in item  # only with sentences: true
    # the head's estimate (fitted near +0.8 / -0.8 / 0), not p(positive) - p(negative)
    assert [round(a["polarity"], 1) for a in singles] == [0.8, -0.8, 0.0]
    neutral = singles[2]["probabilities"]
    assert neutral["neutral"] > 0.9 and abs(neutral["positive"] - neutral["negative"]) < 0.1
    assert client.get("/v1/model").json()["labels"] == LABELS


def test_sentences_each_get_a_label_and_a_polarity_and_the_text_is_mixed(client: TestClient, artifact: Path) -> None:
    answer = client.post("/v1/sentiment", json={"text": MIXED, "sentences": True})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    SentimentResponse.model_validate(body)
    (own,) = load_predictor(artifact).sentences([MIXED])
    spans = [(s["start"], s["end"], s["label"]) for s in body["sentences"]]
    assert spans == [(0, 20, "positive"), (21, 40, "negative")]
    for got, want in zip(body["sentences"], own, strict=True):
        assert got["polarity"] == pytest.approx(want.prediction.polarity, abs=1e-6)
    assert body["sentences"][0]["polarity"] >= 0.5 and body["sentences"][1]["polarity"] <= -0.5
    assert body["mixed"] is True
    # The whole text leans one way without being clearly polar: what `mixed` adds.
    assert abs(body["polarity"]) < 0.5
    agreeing = client.post("/v1/sentiment", json={"text": AGREEING, "sentences": True}).json()
    assert [s["label"] for s in agreeing["sentences"]] == ["positive", "positive"] and agreeing["mixed"] is False
    batch = client.post("/v1/sentiment/batch", json={"texts": [MIXED, AGREEING, "The movie."], "sentences": True})
    assert [r["mixed"] for r in batch.json()["results"]] == [True, False, False]


def test_explanation_weights_are_drops_in_the_neutral_probability(client: TestClient, artifact: Path) -> None:
    text = "The movie."
    body = client.post("/v1/sentiment", json={"text": text, "explain": True}).json()
    assert body["label"] == "neutral"
    plain = client.post("/v1/sentiment", json={"text": text}).json()
    assert body["polarity"] == pytest.approx(plain["polarity"], abs=1e-6)
    predictor = load_predictor(artifact)
    tokens = body["explanation"]["tokens"]
    without = [text[: t["start"]] + text[t["end"] :] for t in tokens]  # the text less one token
    for token, rest in zip(tokens, predictor.predict(without), strict=True):
        drop = body["probabilities"]["neutral"] - rest.probabilities["neutral"]
        assert token["weight"] == pytest.approx(drop, abs=1e-6), token["text"]


def test_feedback_stats_drift_and_review_count_neutral(client: TestClient) -> None:
    engine = client.app.state.service.engine  # type: ignore[attr-defined]
    before = datetime.now(UTC) - timedelta(minutes=90)  # in the window before the last hour: drift's reference
    insert_rows(
        engine,
        [log_row(before, request_id=f"old-{i}", label=("negative", "positive")[i % 2]) for i in range(10)],
    )
    answer = client.post("/v1/sentiment/batch", json={"texts": [*TEXTS, "The plot."]}).json()
    assert [r["label"] for r in answer["results"]] == ["positive", "negative", "neutral", "neutral"]
    request_id = answer["request_id"]
    for index, label in ((0, "neutral"), (2, "neutral")):  # correct a positive to neutral; confirm a neutral
        stored = client.post("/v1/feedback", json={"request_id": request_id, "item_index": index, "label": label})
        assert stored.status_code == 200, stored.text
        assert stored.json()["label"] == "neutral"
    assert client.app.state.service.writer.flush(5.0)  # type: ignore[attr-defined]

    stats = client.get("/v1/stats", params={"window": "1h"}, headers=AUTH).json()
    assert stats["labels"] == {"positive": 1, "negative": 1, "neutral": 2}
    (version,) = stats["feedback"]["by_version"]
    assert version["confusion"] == {
        "labels": LABELS,  # rows: the true label; columns: the predicted one
        "matrix": [[0, 0, 0], [0, 1, 1], [0, 0, 0]],
    }
    assert version["per_class"]["neutral"] == {"precision": 1.0, "recall": 0.5, "support": 2}
    assert stats["feedback"]["accuracy"] == 0.5
    label_mix = stats["drift"]["features"]["label_mix"]
    assert (label_mix["reference_rows"], label_mix["current_rows"]) == (10, 4)
    # over negative / neutral / positive: the reference had no neutral at all
    assert label_mix["distance"] == pytest.approx(js_distance([5, 0, 5], [1, 2, 1]))

    review = client.get("/v1/review", params={"label": "neutral"}, headers=AUTH).json()
    assert sorted((i["item_index"], i["feedback_label"]) for i in review["items"]) == [(2, "neutral"), (3, None)]


def test_oip_probabilities_are_n_by_3_and_polarity_is_an_output(client: TestClient) -> None:
    metadata = client.get("/v2/models/sentiment").json()
    assert metadata["outputs"][2:] == [
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]},
        {"name": "polarity", "datatype": "FP32", "shape": [-1]},
    ]
    v1 = client.post("/v1/sentiment/batch", json={"texts": TEXTS}).json()["results"]
    request = {"inputs": [{"name": "text", "shape": [3], "datatype": "BYTES", "data": TEXTS}]}
    outputs = {o["name"]: o for o in client.post("/v2/models/sentiment/infer", json=request).json()["outputs"]}
    probabilities = outputs["probabilities"]
    assert probabilities["shape"] == [3, 3] and probabilities["parameters"] == {"labels": ",".join(LABELS)}
    flat = [r["probabilities"][label] for r in v1 for label in LABELS]
    assert probabilities["data"] == pytest.approx(flat, abs=1e-6)
    assert outputs["polarity"]["shape"] == [3]
    assert outputs["polarity"]["data"] == pytest.approx([r["polarity"] for r in v1], abs=1e-6)
    binary = client.post(
        "/v2/models/sentiment/infer",
        json={**request, "outputs": [{"name": "polarity", "parameters": {"binary_data": True}}]},
    )
    header = int(binary.headers["inference-header-content-length"])
    assert struct.unpack("<3f", binary.content[header:]) == pytest.approx([r["polarity"] for r in v1], abs=1e-6)


def test_the_client_reads_polarity_mixed_and_sentence_polarity(client: TestClient) -> None:
    body: dict[str, Any] = client.post("/v1/sentiment", json={"text": MIXED, "sentences": True}).json()
    parsed = models.prediction(body, model_version=body["model_version"], request_id=body["request_id"], item_index=0)
    assert parsed.polarity == body["polarity"] and parsed.mixed is True
    assert parsed.sentences is not None
    assert [s.polarity for s in parsed.sentences] == [s["polarity"] for s in body["sentences"]]
    assert set(parsed.probabilities) == set(LABELS)
    batch = models.batch_results(client.post("/v1/sentiment/batch", json={"texts": TEXTS}).json())
    assert [(p.label, p.mixed) for p in batch] == [(EXPECTED[t], None) for t in TEXTS]  # type: ignore[union-attr]
    assert all(isinstance(p, models.Prediction) and p.polarity is not None for p in batch)


def test_openapi_offers_every_label_for_feedback(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert schema["components"]["schemas"]["FeedbackRequest"]["properties"]["label"]["enum"] == LABELS
    sentiment = schema["components"]["schemas"]["SentimentResponse"]["properties"]
    assert {"polarity", "mixed"} <= set(sentiment)
