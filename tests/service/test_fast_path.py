"""The hot path of POST /v1/sentiment answers exactly as the FastAPI route; anything else falls back."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

import service.app
from service.app import create_app
from service.config import Settings
from tests.service.conftest import USER

HEADERS = {"X-API-Key": USER, "X-Request-ID": "fast-path-1"}
JSON = {**HEADERS, "Content-Type": "application/json"}


def _post_all(settings: Settings) -> list[Any]:
    with TestClient(create_app(settings)) as client:
        return [
            client.post("/v1/sentiment", json={"text": "the movie was great"}, headers=HEADERS),
            client.post("/v1/sentiment", json={"text": "great", "extra": 1}, headers=HEADERS),
            client.post("/v1/sentiment", json={"text": "great"}, headers={"X-Request-ID": "no-key"}),
            client.post("/v1/sentiment", content=b"{not json", headers=JSON),
            client.post("/v1/sentiment", content=b'{"text": "great"}', headers={**JSON, "Content-Type": "text/plain"}),
            client.post("/v1/sentiment", json={"text": "   "}, headers=HEADERS),
            # An escaped text stays on the fast path (the strict parser reads it); a repeated key
            # is the route's 400 either way.
            client.post("/v1/sentiment", content=b'{"text": "caf\\u00e9 was great"}', headers=JSON),
            client.post("/v1/sentiment", content=b'{"text": "great", "text": "awful"}', headers=JSON),
        ]


def test_fast_path_and_fastapi_route_give_the_same_answers(
    settings_for: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = service.app.fast_predict_one
    taken: list[bool] = []

    async def counting(runtime: Any, scope: Any, body: bytes) -> Any:
        answer = await real(runtime, scope, body)
        taken.append(answer is not None)
        return answer

    monkeypatch.setattr(service.app, "fast_predict_one", counting)
    fast = _post_all(settings_for(api_keys=[USER]))
    assert taken == [True, False, False, False, False, False, True, False]  # only plainly valid requests

    async def never(runtime: Any, scope: Any, body: bytes) -> None:
        return None

    monkeypatch.setattr(service.app, "fast_predict_one", never)
    slow = _post_all(settings_for(api_keys=[USER]))
    for a, b in zip(fast, slow, strict=True):
        assert (a.status_code, a.json()) == (b.status_code, b.json())
        assert a.headers["content-type"] == b.headers["content-type"]
        assert a.headers["x-request-id"] == b.headers["x-request-id"]
    assert [r.status_code for r in fast] == [200, 422, 401, 400, 422, 422, 200, 400]


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_either_runtime_serves_the_same_probabilities(settings_for: Callable[..., Settings], runtime: str) -> None:
    from model import load_predictor

    settings = settings_for(runtime=runtime)
    with TestClient(create_app(settings)) as client:
        answer = client.post("/v1/sentiment", json={"text": "the plot was poor"}).json()
    (expected,) = load_predictor(settings.model_dir, runtime="torch").predict(["the plot was poor"])
    assert answer["label"] == expected.label
    for label, p in expected.probabilities.items():
        assert abs(answer["probabilities"][label] - p) < 1e-5
