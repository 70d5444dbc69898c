"""The client with named models: `models()`, and `model=` on every prediction call (sync and async)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sentiment_client import AsyncSentimentClient, ModelSummary, NotFound, Prediction, SentimentClient

from tests.client.conftest import USER
from tests.conftest import make_artifact
from tests.e2e.conftest import ServerProcess
from tests.support.three_labels import LABELS, make_three_label_artifact


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("models")
    en, tri = make_artifact(root / "en"), make_three_label_artifact(root / "tri")
    env = {"SENTIMENT_MODELS": f"en={en},tri={tri}", "SENTIMENT_API_KEYS": USER, "SENTIMENT_LOG_FLUSH_MS": "10"}
    process = ServerProcess.start(root / "requests.db", env)
    yield process
    process.stop()


def test_models_and_model_on_every_call(server: ServerProcess) -> None:
    with SentimentClient(server.url, api_key=USER) as client:
        listed = client.models()
        assert [(m.name, m.default) for m in listed] == [("en", True), ("tri", False)]
        assert isinstance(listed[0], ModelSummary) and listed[1].labels == LABELS
        default = client.predict("good")
        tri = client.predict("The movie.", model="tri")
        assert (default.model, tri.model) == ("en", "tri") and list(tri.probabilities) == LABELS
        assert tri.model_version == listed[1].version
        batch = client.predict_batch(["a", "b"], model="tri", sentences=True)
        assert all(isinstance(p, Prediction) and p.model == "tri" for p in batch)
        assert client.model().name == "en"
        with pytest.raises(NotFound) as raised:
            client.predict("good", model="zh")
        assert raised.value.code == "model_not_found"

    async def scenario() -> None:
        async with AsyncSentimentClient(server.url, api_key=USER) as client:
            assert [m.name for m in await client.models()] == ["en", "tri"]
            assert (await client.predict("good", model="tri")).model == "tri"
            (item,) = await client.predict_batch(["good"], model="tri")
            assert isinstance(item, Prediction) and item.model == "tri"

    asyncio.run(scenario())
