import math
import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from model import load_predictor
from service.app import create_app
from service.config import Settings
from tests.service.conftest import ADMIN


def test_single_prediction_shape(client: TestClient) -> None:
    response = client.post("/v1/sentiment", json={"text": "A good movie!"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "label",
        "score",
        "probabilities",
        "polarity",
        "tokens_used",
        "tokens_total",
        "truncated",
        "language",
        "supported",
        "model",
        "model_version",
        "precision",
        "request_id",
    }
    assert body["label"] in body["probabilities"] and body["score"] == body["probabilities"][body["label"]]
    assert math.isclose(sum(body["probabilities"].values()), 1.0, abs_tol=1e-9)
    # two labels, no polarity head: p(positive) - p(negative)
    p = body["probabilities"]
    assert math.isclose(body["polarity"], p["positive"] - p["negative"], abs_tol=1e-9)
    assert body["request_id"] == response.headers["x-request-id"]
    assert (body["tokens_used"], body["tokens_total"], body["truncated"]) == (4, 4, False)
    assert (body["language"], body["supported"]) == (None, True)  # the fixture's artifact states no language


def test_request_id_is_honoured(client: TestClient) -> None:
    response = client.post("/v1/sentiment", json={"text": "fine"}, headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123" and response.json()["request_id"] == "abc-123"
    odd = client.post("/v1/sentiment", json={"text": "fine"}, headers={"X-Request-ID": "bad id\twith space"})
    assert (
        odd.headers["x-request-id"] != "bad id\twith space" and odd.json()["request_id"] == odd.headers["x-request-id"]
    )


def test_batch_matches_single_and_keeps_order(client: TestClient, tiny_artifact) -> None:  # type: ignore[no-untyped-def]
    texts = ["good", "the plot was awful and the movie was poor", "great " * 60, "fine !"]
    batch = client.post("/v1/sentiment/batch", json={"texts": texts})
    assert batch.status_code == 200
    results = batch.json()["results"]
    assert len(results) == len(texts)
    expected = load_predictor(tiny_artifact).predict(texts)
    for text, result, direct in zip(texts, results, expected, strict=True):
        single = client.post("/v1/sentiment", json={"text": text}).json()
        for label, p in direct.probabilities.items():
            assert abs(result["probabilities"][label] - p) < 1e-5
            assert abs(single["probabilities"][label] - p) < 1e-5
    assert results[2]["truncated"] is True and results[2]["tokens_used"] == 40


def test_batch_item_errors_do_not_spoil_the_rest(client: TestClient) -> None:
    response = client.post("/v1/sentiment/batch", json={"texts": ["good", "   ", "x" * 20_001, "bad\u0000", "fine"]})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r.get("error", {}).get("code") for r in results] == [
        None,
        "invalid_text",
        "text_too_long",
        "invalid_text",
        None,
    ]
    assert results[0]["label"] and results[4]["label"]


def test_model_info(client: TestClient) -> None:
    body = client.get("/v1/model").json()
    assert body["labels"] == ["negative", "positive"] and len(body["version"]) == 12
    assert body["config"]["vocab_size"] > 2 and "note" in body["metrics"]


def test_health_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "checks": {}}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    client.post("/v1/sentiment", json={"text": "good"})
    text = client.get("/metrics").text
    for name in (
        "sentiment_requests_total",
        "sentiment_request_latency_seconds_bucket",
        "sentiment_batch_size_bucket",
        "sentiment_queue_depth",
        "sentiment_queue_wait_seconds",
        "sentiment_log_rows_written_total",
        "sentiment_log_rows_dropped_total",
        "sentiment_model_info",
    ):
        assert name in text
    assert 'route="/v1/sentiment",status="200"' in text


def test_readiness_before_start(settings_for) -> None:  # type: ignore[no-untyped-def]
    from service.app import create_app

    with_no_lifespan = TestClient(create_app(settings_for()))  # not entered: the model is not loaded
    response = with_no_lifespan.get("/readyz")
    assert response.status_code == 503 and response.json()["status"] == "not_ready"
    assert with_no_lifespan.post("/v1/sentiment", json={"text": "good"}).status_code == 503


def test_openapi_describes_the_routes(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    for path in ("/v1/sentiment", "/v1/sentiment/batch", "/v1/model", "/v1/requests", "/v1/admin/reload"):
        assert path in schema["paths"]
    assert "SentimentResponse" in schema["components"]["schemas"]
    assert client.get("/docs").status_code == 200


def test_request_log_query(client: TestClient) -> None:
    from tests.service.conftest import admin_rows

    client.post("/v1/sentiment", json={"text": "good"})
    client.post("/v1/sentiment/batch", json={"texts": ["bad", "fine"]})
    rows = admin_rows(client)
    assert [r["endpoint"] for r in rows] == ["sentiment/batch", "sentiment/batch", "sentiment"]
    label = rows[0]["label"]
    assert all(r["label"] == label for r in admin_rows(client, label=label))
    assert len(admin_rows(client, limit=1)) == 1
    assert admin_rows(client, since="2999-01-01T00:00:00Z") == []
    bad = client.get("/v1/requests", params={"limit": 0}, headers={"X-API-Key": ADMIN})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"


def test_openapi_states_what_the_server_takes(settings_for: Callable[..., Settings]) -> None:
    # Issue 19 item 13: a generated client sends only what the server accepts.
    with TestClient(create_app(settings_for(max_text_chars=500, max_batch_items=7))) as client:
        schema = client.get("/openapi.json").json()
        parts = schema["components"]["schemas"]
        text = parts["SentimentRequest"]["properties"]["text"]
        assert (text["minLength"], text["maxLength"]) == (1, 500)
        pattern = re.compile(text["pattern"])
        assert pattern.search("good") and not pattern.search("  \n") and not pattern.search("a\x00b")
        texts = parts["BatchRequest"]["properties"]["texts"]
        assert (texts["minItems"], texts["maxItems"]) == (1, 7)
        assert parts["FeedbackRequest"]["properties"]["label"]["enum"] == client.get("/v1/model").json()["labels"]
        for path, name in [("/v1/requests", "since"), ("/v1/review", "since"), ("/v1/stats", "until")]:
            (parameter,) = [p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == name]
            string = next(b for b in parameter["schema"]["anyOf"] if b["type"] == "string")
            assert string["format"] == "date-time" and "format" not in parameter["schema"]
        infer = schema["paths"]["/v2/models/{name}/infer"]["post"]
        (model,) = [p for p in infer["parameters"] if p["name"] == "name"]
        assert model["schema"]["enum"] == ["sentiment"]
        body = infer["requestBody"]["content"]["application/json"]["schema"]["properties"]
        outputs = body["outputs"]["anyOf"][0]["items"]["properties"]["name"]["enum"]
        assert outputs == ["label", "score", "probabilities", "polarity"]
        assert body["inputs"]["items"]["properties"]["name"]["enum"] == ["text"]


def test_a_wrong_method_on_a_known_path_is_405_on_every_api(client: TestClient) -> None:
    for method, path, allowed in [
        ("GET", "/v1/sentiment", "POST"),
        ("GET", "/v2/models/sentiment/infer", "POST"),
        ("POST", "/v2/health/live", "GET"),
        ("DELETE", "/v2/models/sentiment", "GET"),
    ]:
        response = client.request(method, path)
        assert response.status_code == 405, (method, path, response.text)
        assert allowed in response.headers["allow"]
    assert client.get("/v2/nowhere").status_code == 404


def test_metrics_label_every_route_by_the_apps_own_routes(client: TestClient) -> None:
    """Route labels come from the app's routes (no list to keep in step): a route with parameters under its
    template, anything else under "other", so the label set stays bounded."""
    client.get("/v1/models")
    client.get("/v1/models/sentiment/compare", headers={"X-API-Key": ADMIN})
    client.get("/no/such/path")
    text = client.get("/metrics").text
    assert 'route="/v1/models",status="200"' in text
    assert 'route="/v1/models/{name}/compare",status="200"' in text
    assert 'route="other",status="404"' in text
