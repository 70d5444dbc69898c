"""Shadow candidates: scored after the answer, off the request path, logged as shadow rows only."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from model import Prediction, Predictor
from service.app import create_app
from service.config import Settings
from tests.conftest import make_artifact
from tests.service.conftest import ADMIN, running
from tests.service.test_rollout import until

AUTH = {"X-API-Key": ADMIN}
TEXTS = ["good movie", "awful plot !", "the movie was not bad", "fine . great"]


class GatedPredictor:
    """A candidate that cannot finish until the test opens its gate (a slow candidate, as slow as wanted)."""

    def __init__(self, inner: Predictor) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.entered = threading.Event()

    def predict(self, texts: list[str]) -> list[Prediction]:
        self.entered.set()
        assert self.gate.wait(30), "the gate was never opened"
        return self.inner.predict(texts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def _requests(client: httpx.AsyncClient) -> list[bytes]:
    """The same requests on every app, each with its own fixed request id: single, batch and OIP."""
    bodies = []
    for i, text in enumerate(TEXTS):
        r = await client.post("/v1/sentiment", json={"text": text}, headers={"X-Request-ID": f"one-{i}"})
        assert r.status_code == 200, r.text
        bodies.append(r.content)
    r = await client.post("/v1/sentiment/batch", json={"texts": [*TEXTS, ""]}, headers={"X-Request-ID": "batch"})
    bodies.append(r.content)
    oip = {"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": TEXTS[:2]}]}
    r = await client.post("/v2/models/sentiment/infer", json=oip, headers={"X-Request-ID": "oip"})
    assert r.status_code == 200, r.text
    bodies.append(r.content)
    return bodies


async def _set_gated_candidate(app: Any, client: httpx.AsyncClient, artifact: Path, **shares: float) -> GatedPredictor:
    answer = await client.put(
        "/v1/models/sentiment/candidate", headers=AUTH, json={"model_dir": str(artifact), **shares}
    )
    assert answer.status_code == 200, answer.text
    candidate = app.state.service.model().candidate
    gated = GatedPredictor(candidate.batcher.predictor)
    candidate.batcher.predictor = gated
    return gated


def test_primary_answers_are_unchanged_and_never_wait_for_a_slow_candidate(
    settings_for: Callable[..., Settings], tmp_path: Path
) -> None:
    other = make_artifact(tmp_path / "candidate", seed=11)

    async def scenario() -> None:
        plain = create_app(settings_for(database_url=f"sqlite:///{tmp_path / 'plain.db'}"))
        shadowed = create_app(settings_for())
        async with running(plain) as a, running(shadowed) as b:
            gated = await _set_gated_candidate(shadowed, b, other, shadow_percent=100)
            expected = await _requests(a)
            try:
                # Every primary answer comes back while the candidate is stuck in its first shadow pass.
                answered = await _requests(b)
                assert answered == expected  # byte for byte
                await until(_async(gated.entered.is_set))
                assert not gated.gate.is_set()
            finally:
                gated.gate.set()
            service = shadowed.state.service
            texts = len(TEXTS) * 2 + 2  # single, batch (the empty text was refused), OIP

            async def all_scored() -> bool:
                assert service.writer.flush(30.0)
                rows = (await b.get("/v1/requests", params={"role": "shadow"}, headers=AUTH)).json()["rows"]
                return len(rows) == texts

            await until(all_scored)
            shadow = (await b.get("/v1/requests", params={"role": "shadow"}, headers=AUTH)).json()["rows"]
            served = (await b.get("/v1/requests", headers=AUTH)).json()["rows"]
            candidate_version = service.model().candidate.predictor.version
            assert {r["role"] for r in shadow} == {"shadow"}
            assert {r["model_version"] for r in shadow} == {candidate_version}
            assert {r["role"] for r in served} == {"primary"} and len(served) == texts + 1  # + the refused text
            assert sorted((r["request_id"], r["item_index"]) for r in shadow) == sorted(
                (r["request_id"], r["item_index"]) for r in served if r["label"] is not None
            )
            metrics = (await b.get("/metrics")).text
            assert f'sentiment_shadow_texts_scored_total{{model="sentiment"}} {float(texts)}' in metrics

    asyncio.run(scenario())


def _async(check: Callable[[], bool]) -> Callable[[], Any]:
    async def condition() -> bool:
        return check()

    return condition


def test_shadow_rows_are_never_counted_as_answers(settings_for: Callable[..., Settings], tmp_path: Path) -> None:
    other = make_artifact(tmp_path / "candidate", seed=11)

    async def scenario() -> None:
        app = create_app(settings_for(drift_refresh_s=0, stats_rollup_s=0))
        async with running(app) as client:
            put = {"model_dir": str(other), "shadow_percent": 100}
            assert (await client.put("/v1/models/sentiment/candidate", headers=AUTH, json=put)).status_code == 200
            for i, text in enumerate(TEXTS):
                await client.post("/v1/sentiment", json={"text": text}, headers={"X-Request-ID": f"r{i}"})
            service = app.state.service

            async def scored() -> bool:
                assert service.writer.flush(30.0)
                rows = (await client.get("/v1/requests", params={"role": "all"}, headers=AUTH)).json()["rows"]
                return len(rows) == 2 * len(TEXTS)

            await until(scored)
            stats = (await client.get("/v1/stats", params={"window": "1h"}, headers=AUTH)).json()
            assert stats["requests"]["total"] == len(TEXTS)
            review = (await client.get("/v1/review", headers=AUTH)).json()["items"]
            assert len(review) == len(TEXTS) and {i["model_version"] for i in review} == {service.predictor.version}
            # Feedback binds to the answer that was sent, never to the shadow row logged after it.
            label = service.predictor.labels[0]
            fb = await client.post("/v1/feedback", json={"request_id": "r0", "item_index": 0, "label": label})
            assert fb.status_code == 200 and fb.json()["model_version"] == service.predictor.version

    asyncio.run(scenario())


def test_a_full_lane_drops_and_counts_instead_of_queueing(
    settings_for: Callable[..., Settings], tmp_path: Path
) -> None:
    other = make_artifact(tmp_path / "candidate", seed=11)

    async def scenario() -> None:
        app = create_app(settings_for(shadow_max_queue=3))
        async with running(app) as client:
            gated = await _set_gated_candidate(app, client, other, shadow_percent=100)
            try:
                await client.post("/v1/sentiment", json={"text": "good"})
                await until(_async(gated.entered.is_set))  # the lane is busy with that one text
                for _ in range(10):
                    assert (await client.post("/v1/sentiment", json={"text": "good"})).status_code == 200
                lane = app.state.service.candidates.lane
                assert lane.depth == 3
                metrics = (await client.get("/metrics")).text
                assert 'sentiment_shadow_texts_dropped_total{reason="queue_full"} 7.0' in metrics
            finally:
                gated.gate.set()

    asyncio.run(scenario())


def test_shadow_share_takes_about_its_share_of_requests(settings_for: Callable[..., Settings], tmp_path: Path) -> None:
    other = make_artifact(tmp_path / "candidate", seed=11)

    async def scenario() -> None:
        app = create_app(settings_for())
        async with running(app) as client:
            put = {"model_dir": str(other), "shadow_percent": 25}
            assert (await client.put("/v1/models/sentiment/candidate", headers=AUTH, json=put)).status_code == 200
            for _ in range(200):
                await client.post("/v1/sentiment", json={"text": "good"})
            service = app.state.service

            async def drained() -> bool:
                return service.candidates.lane.depth == 0

            await until(drained)
            await asyncio.sleep(0.2)
            assert service.writer.flush(30.0)
            rows = (await client.get("/v1/requests", params={"role": "shadow", "limit": 1000}, headers=AUTH)).json()
            assert 25 <= rows["count"] <= 75  # 50 expected; the hash of random request ids decides

    asyncio.run(scenario())
