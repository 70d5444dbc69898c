"""Candidates across replicas (apps in one process sharing one SQLite log), promote, stop, bad candidates."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx

from service.app import create_app
from service.config import Settings
from tests.conftest import make_artifact
from tests.service.conftest import ADMIN, running
from tests.service.test_rollout import until, version

AUTH = {"X-API-Key": ADMIN}
PATH = "/v1/models/sentiment/candidate"


async def candidate_of(client: httpx.AsyncClient) -> dict[str, object] | None:
    answer = await client.get(PATH, headers=AUTH)
    assert answer.status_code == 200, answer.text
    return answer.json()["candidate"]  # type: ignore[no-any-return]


def test_a_candidate_set_on_one_replica_runs_on_every_one_and_promote_rolls_it_out(
    settings_for: Callable[..., Settings], tmp_path: Path
) -> None:
    other = make_artifact(tmp_path / "candidate", seed=11)

    async def scenario() -> None:
        settings = settings_for(rollout_poll_s=0.05)
        async with running(create_app(settings)) as a, running(create_app(settings)) as b:
            old = await version(a)
            put = {"model_dir": str(other), "shadow_percent": 0, "canary_percent": 100}
            set_on_a = await a.put(PATH, headers=AUTH, json=put)
            assert set_on_a.status_code == 200, set_on_a.text
            new = set_on_a.json()["candidate"]["version"]
            assert new != old

            async def b_runs_it() -> bool:
                seen = await candidate_of(b)
                return seen is not None and seen["version"] == new and seen["canary_percent"] == 100

            await until(b_runs_it)
            assert (await b.post("/v1/sentiment", json={"text": "good"})).json()["model_version"] == new  # canary

            promoted = await a.post(f"{PATH}/promote", headers=AUTH)
            assert promoted.status_code == 200, promoted.text
            assert promoted.json()["rollout"]["version"] == new and promoted.json()["candidate"]["candidate"] is None

            async def every_replica_on_the_candidate() -> bool:
                return all([await version(c) == new and await candidate_of(c) is None for c in (a, b)])

            await until(every_replica_on_the_candidate)
            for client in (a, b):
                answer = await client.post("/v1/sentiment", json={"text": "good"})
                assert answer.json()["model_version"] == new
            again = await a.post(f"{PATH}/promote", headers=AUTH)
            assert again.status_code == 409 and again.json()["error"]["code"] == "no_candidate"
        # A replica started afterwards serves the promoted model and runs no candidate.
        async with running(create_app(settings)) as late:
            assert await version(late) == new and await candidate_of(late) is None

    asyncio.run(scenario())


def test_stop_reaches_every_replica_and_a_late_replica_runs_the_recorded_candidate(
    settings_for: Callable[..., Settings], tmp_path: Path
) -> None:
    other = make_artifact(tmp_path / "candidate", seed=11)

    async def scenario() -> None:
        settings = settings_for(rollout_poll_s=0.05)
        async with running(create_app(settings)) as a:
            assert (await a.put(PATH, headers=AUTH, json={"model_dir": str(other)})).status_code == 200
            async with running(create_app(settings)) as late:
                seen = await candidate_of(late)
                assert seen is not None and seen["shadow_percent"] == 100 and seen["canary_percent"] == 0
                assert (await late.delete(PATH, headers=AUTH)).json()["candidate"] is None

                async def a_stopped() -> bool:
                    return await candidate_of(a) is None

                await until(a_stopped)

    asyncio.run(scenario())


def test_bad_candidates_are_refused_and_change_nothing(settings_for: Callable[..., Settings], tmp_path: Path) -> None:
    three = make_artifact(tmp_path / "three", labels=["negative", "neutral", "positive"], seed=3)

    async def scenario() -> None:
        async with running(create_app(settings_for(rollout_poll_s=0.05))) as a:
            for body in ({"model_dir": str(tmp_path / "missing")}, {"model_dir": str(three)}, {"model_dir": "a\x00b"}):
                answer = await a.put(PATH, headers=AUTH, json=body)
                assert answer.status_code == 422 and answer.json()["error"]["code"] == "candidate_failed"
                assert await candidate_of(a) is None
            for body in ({"model_dir": "x", "shadow_percent": 101}, {"model_dir": "x", "canary_percent": -1}, {}):
                assert (await a.put(PATH, headers=AUTH, json=body)).status_code == 422
            assert (await a.put("/v1/models/nope/candidate", headers=AUTH, json={"model_dir": "x"})).status_code == 404
            assert (await a.put(PATH, json={"model_dir": str(three)})).status_code in (401, 403)

    asyncio.run(scenario())


def test_the_setting_runs_a_candidate_at_start(settings_for: Callable[..., Settings], tmp_path: Path) -> None:
    other = make_artifact(tmp_path / "candidate", seed=11)

    async def scenario() -> None:
        app = create_app(settings_for(candidates=str(other), shadow_percent=100, canary_percent=0))
        async with running(app) as client:
            seen = await candidate_of(client)
            assert seen is not None and seen["model_dir"] == str(other.resolve()) and seen["id"] is None
            await client.post("/v1/sentiment", json={"text": "good"})
            service = app.state.service

            async def shadowed() -> bool:
                assert service.writer.flush(30.0)
                rows = (await client.get("/v1/requests", params={"role": "shadow"}, headers=AUTH)).json()["rows"]
                return len(rows) == 1

            await until(shadowed)

    asyncio.run(scenario())


def test_promote_refuses_a_folder_rewritten_since_the_candidate_was_compared(
    settings_for: Callable[..., Settings], tmp_path: Path
) -> None:
    folder = make_artifact(tmp_path / "candidate", seed=11)

    async def scenario() -> None:
        async with running(create_app(settings_for(rollout_poll_s=0))) as client:
            old = await version(client)
            put = {"model_dir": str(folder), "shadow_percent": 100, "canary_percent": 0}
            assert (await client.put(PATH, headers=AUTH, json=put)).status_code == 200
            make_artifact(folder, seed=12)  # another training run writes into the same folder
            promoted = await client.post(f"{PATH}/promote", headers=AUTH)
            assert promoted.status_code == 422 and promoted.json()["error"]["code"] == "reload_failed"
            assert "not " in promoted.json()["error"]["message"]
            assert await version(client) == old  # the primary keeps serving

    asyncio.run(scenario())
