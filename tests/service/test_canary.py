"""Canary candidates: a sticky share of clients (or requests when open) answered by the candidate."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from service.app import create_app
from service.candidate import in_share
from service.config import Settings
from tests.conftest import make_artifact
from tests.service.conftest import ADMIN, running

AUTH = {"X-API-Key": ADMIN}


@pytest.mark.parametrize("percent", [1.0, 5.0, 10.0, 50.0, 90.0])
def test_the_share_holds_within_tolerance_over_2000_keys(percent: float) -> None:
    keys = [f"client-{i}" for i in range(2000)]
    taken = sum(in_share(k, percent, "canary:en") for k in keys)
    # Binomial: 4 standard deviations, at least 10 keys either way.
    slack = max(10.0, 4 * (2000 * percent / 100 * (1 - percent / 100)) ** 0.5)
    assert abs(taken - 2000 * percent / 100) <= slack


def test_assignment_is_sticky_monotone_and_salted() -> None:
    keys = [f"k{i}" for i in range(2000)]
    at_5 = {k for k in keys if in_share(k, 5, "canary:en")}
    assert at_5 == {k for k in keys if in_share(k, 5, "canary:en")}  # the same every time
    at_10 = {k for k in keys if in_share(k, 10, "canary:en")}
    assert at_5 <= at_10  # raising the share keeps every client already in it
    other_model = {k for k in keys if in_share(k, 5, "canary:zh")}
    assert other_model != at_5  # each model draws its own share
    assert not any(in_share(k, 0, "s") for k in keys) and all(in_share(k, 100, "s") for k in keys)


def test_canary_answers_are_sticky_per_key_and_say_their_version(
    settings_for: Callable[..., Settings], tmp_path: Path
) -> None:
    other = make_artifact(tmp_path / "candidate", seed=11)
    keys = [f"client-key-{i:04d}" for i in range(40)]

    async def scenario() -> None:
        app = create_app(settings_for(api_keys=keys))
        async with running(app) as client:
            put = {"model_dir": str(other), "shadow_percent": 0, "canary_percent": 50}
            assert (await client.put("/v1/models/sentiment/candidate", headers=AUTH, json=put)).status_code == 200
            service = app.state.service
            primary, candidate = service.predictor.version, service.model().candidate.predictor.version
            versions: dict[str, set[str]] = {}
            for key in keys:
                for path, body in (("/v1/sentiment", {"text": "good"}), ("/v1/sentiment/batch", {"texts": ["bad"]})):
                    for _ in range(2):
                        answer = await client.post(path, json=body, headers={"X-API-Key": key})
                        assert answer.status_code == 200, answer.text
                        versions.setdefault(key, set()).add(answer.json()["model_version"])
            assert all(len(v) == 1 for v in versions.values())  # sticky: one version per client
            on = Counter(next(iter(v)) for v in versions.values())
            assert set(on) == {primary, candidate} and 8 <= on[candidate] <= 32
            assert service.writer.flush(30.0)
            rows = (await client.get("/v1/requests", params={"limit": 1000}, headers=AUTH)).json()["rows"]
            assert {(r["role"], r["model_version"]) for r in rows} == {("primary", primary), ("canary", candidate)}
            stats = (await client.get("/v1/stats", params={"window": "1h"}, headers=AUTH)).json()
            assert stats["requests"]["total"] == 160  # canary answers are answers

            # Stop: everyone is answered by the primary again.
            assert (await client.delete("/v1/models/sentiment/candidate", headers=AUTH)).json()["candidate"] is None
            for key in keys[:10]:
                answer = await client.post("/v1/sentiment", json={"text": "good"}, headers={"X-API-Key": key})
                assert answer.json()["model_version"] == primary

    asyncio.run(scenario())


def test_open_service_draws_per_request_id(settings_for: Callable[..., Settings], tmp_path: Path) -> None:
    other = make_artifact(tmp_path / "candidate", seed=11)

    async def scenario() -> None:
        app = create_app(settings_for())
        async with running(app) as client:
            put = {"model_dir": str(other), "shadow_percent": 0, "canary_percent": 20}
            assert (await client.put("/v1/models/sentiment/candidate", headers=AUTH, json=put)).status_code == 200
            candidate = app.state.service.model().candidate.predictor.version
            seen: Counter[bool] = Counter()
            for i in range(300):
                first = await client.post("/v1/sentiment", json={"text": "good"}, headers={"X-Request-ID": f"q{i}"})
                again = await client.post("/v1/sentiment", json={"text": "good"}, headers={"X-Request-ID": f"q{i}"})
                assert first.json()["model_version"] == again.json()["model_version"]  # the same id, the same draw
                seen[first.json()["model_version"] == candidate] += 1
            assert 30 <= seen[True] <= 90  # 60 expected

    asyncio.run(scenario())
