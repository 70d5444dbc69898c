"""Named models (SENTIMENT_MODELS): two and three at once with different label sets, chosen by body
and by OIP path; GET /v1/models; unknown names; the model on answers and log rows; per-model queues,
reloads and rollouts across two replicas."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from model import load_predictor
from service.app import create_app
from service.config import Settings
from service.log import RolloutRow
from tests.conftest import make_artifact
from tests.service.conftest import ADMIN, admin_rows, running
from tests.support.three_labels import LABELS, make_three_label_artifact

AUTH = {"X-API-Key": ADMIN}


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_three_label_artifact(tmp_path_factory.mktemp("three") / "artifact")


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_artifact(tmp_path_factory.mktemp("other") / "other", seed=7)


@pytest.fixture()
def models_settings(
    settings_for: Callable[..., Settings], tiny_artifact: Path, three: Path, other: Path
) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        models = {"en": tiny_artifact, "tri": three, "tickets": other}
        return settings_for(model_dir=None, models=overrides.pop("models", models), **overrides)

    return build


@pytest.fixture()
def client(models_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    with TestClient(create_app(models_settings())) as test_client:
        yield test_client


def test_models_are_listed_default_first(client: TestClient, tiny_artifact: Path, three: Path) -> None:
    listed = client.get("/v1/models").json()["models"]
    assert [(m["name"], m["default"]) for m in listed] == [("en", True), ("tri", False), ("tickets", False)]
    en, tri = listed[0], listed[1]
    assert en["labels"] == ["negative", "positive"] and tri["labels"] == LABELS
    assert en["version"] == load_predictor(tiny_artifact).version and tri["version"] == load_predictor(three).version
    assert en["max_tokens"] == load_predictor(tiny_artifact).artifact.config.max_tokens
    assert en["language"] is None  # no artifact records one yet
    model = client.get("/v1/model").json()  # the default
    assert (model["name"], model["version"]) == ("en", en["version"])


def test_the_body_chooses_the_model_on_both_routes(client: TestClient, three: Path) -> None:
    tri_version = load_predictor(three).version
    fast = client.post("/v1/sentiment", json={"text": "The movie was great.", "model": "tri"}).json()
    routed = client.post("/v1/sentiment", json={"text": "The movie.", "model": "tri", "sentences": True}).json()
    batch = client.post("/v1/sentiment/batch", json={"texts": ["a", "b"], "model": "tri"}).json()
    default = client.post("/v1/sentiment", json={"text": "good"}).json()
    for answer in (fast, routed, batch):
        assert (answer["model"], answer["model_version"]) == ("tri", tri_version)
    assert list(fast["probabilities"]) == LABELS and list(batch["results"][0]["probabilities"]) == LABELS
    assert default["model"] == "en" and list(default["probabilities"]) == ["negative", "positive"]
    rows = admin_rows(client)
    assert sorted(r["model"] for r in rows) == ["en", "tri", "tri", "tri", "tri"]
    assert {r["model_version"] for r in rows if r["model"] == "tri"} == {tri_version}
    only = admin_rows(client, model="en")
    assert [r["model"] for r in only] == ["en"]


def test_an_unknown_model_is_a_404_naming_the_served_ones(client: TestClient) -> None:
    for response in (
        client.post("/v1/sentiment", json={"text": "good", "model": "zh"}),
        client.post("/v1/sentiment", json={"text": "good", "model": "zh", "explain": True}),
        client.post("/v1/sentiment/batch", json={"texts": ["good"], "model": "zh"}),
        client.post("/v1/admin/reload", json={"model": "zh"}, headers=AUTH),
    ):
        error = response.json()["error"]
        assert response.status_code == 404 and error["code"] == "model_not_found"
        assert "'zh'" in error["message"] and "['en', 'tri', 'tickets']" in error["message"]
    v2 = client.post(
        "/v2/models/zh/infer", json={"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["a"]}]}
    )
    assert v2.status_code == 404 and v2.json()["code"] == "model_not_found"
    assert client.get("/v2/models/zh").status_code == 404
    assert client.get("/v2/models/zh/ready").status_code == 404


def test_oip_serves_each_model_by_its_name(client: TestClient, three: Path) -> None:
    request = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2], "data": ["good", "bad"]}]}
    answer = client.post("/v2/models/tri/infer", json=request).json()
    assert (answer["model_name"], answer["model_version"]) == ("tri", load_predictor(three).version)
    probabilities = next(o for o in answer["outputs"] if o["name"] == "probabilities")
    assert probabilities["shape"] == [2, 3] and probabilities["parameters"]["labels"] == ",".join(LABELS)
    assert client.get("/v2/models/en").json()["outputs"][2]["shape"] == [-1, 2]
    version = load_predictor(three).version
    assert client.get(f"/v2/models/tri/versions/{version}").status_code == 200
    assert client.get(f"/v2/models/en/versions/{version}").status_code == 404
    assert client.get("/v2/models/tickets/ready").json() == {"name": "tickets", "ready": True}
    assert {r["model"] for r in admin_rows(client) if r["endpoint"] == "v2/infer"} == {"tri"}


def test_one_model_keeps_the_name_sentiment(settings_for: Callable[..., Settings]) -> None:
    with TestClient(create_app(settings_for())) as client:
        assert [m["name"] for m in client.get("/v1/models").json()["models"]] == ["sentiment"]
        assert client.post("/v1/sentiment", json={"text": "good", "model": "sentiment"}).json()["model"] == "sentiment"
        assert client.get("/v2/models/sentiment").status_code == 200
        rows = admin_rows(client)
        assert [r["model"] for r in rows] == ["sentiment"]


def test_feedback_takes_the_labels_of_the_rows_model(client: TestClient) -> None:
    tri = client.post("/v1/sentiment", json={"text": "The movie.", "model": "tri"})
    en = client.post("/v1/sentiment", json={"text": "good"})
    admin_rows(client)  # written
    ok = client.post(
        "/v1/feedback",
        json={"request_id": tri.headers["x-request-id"], "item_index": 0, "label": "neutral"},
        headers=AUTH,
    )
    assert ok.status_code == 200, ok.text
    refused = client.post(
        "/v1/feedback",
        json={"request_id": en.headers["x-request-id"], "item_index": 0, "label": "neutral"},
        headers=AUTH,
    )
    assert refused.status_code == 422 and "'en'" in refused.json()["error"]["message"]


def test_a_flooded_model_does_not_hold_up_another(models_settings: Callable[..., Settings]) -> None:
    """Each model has its own batcher and queue: a backlog on `tickets` leaves `en` answering at once."""
    app = create_app(models_settings(max_batch_size=1))

    async def scenario() -> None:
        async with running(app) as client:
            slow = app.state.service.model("tickets").batcher
            real = slow.predictor
            gate = threading.Event()

            class Slow:
                version, labels, artifact, precision = real.version, real.labels, real.artifact, real.precision

                def predict(self, texts: list[str]) -> Any:
                    gate.wait(0.05)  # 50 ms per text: 40 texts queue for 2 s
                    return real.predict(texts)

            slow.predictor = Slow()
            flood = [
                asyncio.create_task(client.post("/v1/sentiment", json={"text": "good", "model": "tickets"}))
                for _ in range(40)
            ]
            await asyncio.sleep(0.2)  # the backlog is there
            assert slow.depth > 10
            started = time.perf_counter()
            answer = await client.post("/v1/sentiment", json={"text": "good", "model": "en"})
            took = time.perf_counter() - started
            assert answer.status_code == 200 and answer.json()["model"] == "en"
            assert took < 0.5, f"en waited {took:.2f} s behind tickets' backlog"
            assert slow.depth > 0  # tickets was still busy when en answered
            gate.set()
            assert all(r.status_code == 200 for r in await asyncio.gather(*flood))

    asyncio.run(scenario())


def test_reload_is_per_model(client: TestClient, tmp_path: Path) -> None:
    before = {m["name"]: m["version"] for m in client.get("/v1/models").json()["models"]}
    replacement = make_artifact(tmp_path / "new", seed=11)
    answer = client.post("/v1/admin/reload", json={"model": "tickets", "model_dir": str(replacement)}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"] == "tickets" and body["previous_version"] == before["tickets"] and body["changed"]
    after = {m["name"]: m["version"] for m in client.get("/v1/models").json()["models"]}
    assert after == {**before, "tickets": body["version"]}
    engine = client.app.state.service.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        (row,) = connection.execute(RolloutRow.__table__.select()).all()
    assert (row.model, row.version) == ("tickets", body["version"])
    default = client.post("/v1/admin/reload", headers=AUTH).json()  # no body: the default model
    assert default["model"] == "en" and not default["changed"]


def test_rollouts_converge_per_model_across_replicas(
    settings_for: Callable[..., Settings], tiny_artifact: Path, tmp_path: Path
) -> None:
    en, tickets = tmp_path / "en", tmp_path / "tickets"
    shutil.copytree(tiny_artifact, en)
    make_artifact(tickets, seed=3)

    async def versions(client: httpx.AsyncClient) -> dict[str, str]:
        return {m["name"]: m["version"] for m in (await client.get("/v1/models")).json()["models"]}

    async def scenario() -> None:
        settings = settings_for(model_dir=None, models={"en": en, "tickets": tickets}, rollout_poll_s=0.05)
        async with running(create_app(settings)) as a, running(create_app(settings)) as b:
            before = await versions(b)
            shutil.rmtree(tickets)
            make_artifact(tickets, seed=9)  # retrained in place, on the disk both replicas share
            answer = (await a.post("/v1/admin/reload", json={"model": "tickets"}, headers=AUTH)).json()
            deadline = time.monotonic() + 10
            while (await versions(b))["tickets"] != answer["version"]:
                assert time.monotonic() < deadline, "replica b did not follow the tickets rollout"
                await asyncio.sleep(0.02)
            assert (await versions(b))["en"] == before["en"]  # the other model untouched
            ready = (await b.get("/readyz")).json()
            assert ready["status"] == "ready" and ready["checks"]["models"]["tickets"]["rollout"]["in_step"]
            # a replica started now serves tickets' newest rollout and en's configured artifact
            async with running(create_app(settings)) as c:
                assert await versions(c) == {"en": before["en"], "tickets": answer["version"]}

    asyncio.run(scenario())
