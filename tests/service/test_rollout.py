"""Rollouts on one SQLite log: apps in one process stand for replicas sharing the database."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from service.app import create_app
from service.config import Settings
from tests.conftest import make_artifact
from tests.service.conftest import ADMIN, running

AUTH = {"X-API-Key": ADMIN}


def copy_of(artifact: Path, where: Path) -> Path:
    shutil.copytree(artifact, where)
    return where


async def version(client: httpx.AsyncClient) -> str:
    return str((await client.get("/v1/model")).json()["version"])


async def until(condition: Callable[[], object], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():  # type: ignore[misc]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def test_a_reload_on_one_replica_reaches_the_other(
    settings_for: Callable[..., Settings], tiny_artifact: Path, tmp_path: Path
) -> None:
    served = copy_of(tiny_artifact, tmp_path / "served")

    async def scenario() -> None:
        settings = settings_for(model_dir=served, rollout_poll_s=0.05)
        async with running(create_app(settings)) as a, running(create_app(settings)) as b:
            old = await version(a)
            shutil.rmtree(served)
            make_artifact(served, seed=5)  # retrained in place
            answer = (await a.post("/v1/admin/reload", headers=AUTH)).json()
            new = answer["version"]
            assert new != old and answer["rollout_id"] is not None

            async def b_serves_new() -> bool:
                return await version(b) == new

            await until(b_serves_new)
            predicted = await b.post("/v1/sentiment", json={"text": "good"})
            assert predicted.json()["model_version"] == new
            rollout = (await b.get("/readyz")).json()["checks"]["rollout"]
            expected = {"id": answer["rollout_id"], "version": new, "in_step": True, "error": None, "poll_error": None}
            assert rollout == expected

    asyncio.run(scenario())


def test_a_replica_with_another_artifact_keeps_serving_reports_it_and_catches_up(
    settings_for: Callable[..., Settings], tiny_artifact: Path, tmp_path: Path
) -> None:
    dir_a, dir_b = copy_of(tiny_artifact, tmp_path / "a"), copy_of(tiny_artifact, tmp_path / "b")

    async def scenario() -> None:
        app_b = create_app(settings_for(model_dir=dir_b, rollout_poll_s=0.05))
        async with running(create_app(settings_for(model_dir=dir_a, rollout_poll_s=0.05))) as a, running(app_b) as b:
            old = await version(b)
            shutil.rmtree(dir_a)
            make_artifact(dir_a, seed=5)  # only replica a's disk has the new model
            new = (await a.post("/v1/admin/reload", headers=AUTH)).json()["version"]

            async def b_reports() -> bool:
                return (await b.get("/readyz")).json()["checks"]["rollout"]["error"] is not None

            await until(b_reports)
            ready = await b.get("/readyz")
            assert ready.status_code == 200 and ready.json()["status"] == "degraded"  # serving, out of step
            rollout = ready.json()["checks"]["rollout"]
            assert rollout["in_step"] is False and rollout["version"] == new
            assert f"holds version {old}, rollout wants {new}" in rollout["error"]
            assert (await b.post("/v1/sentiment", json={"text": "good"})).json()["model_version"] == old
            assert "sentiment_rollout_in_step 0.0" in (await b.get("/metrics")).text

            shutil.rmtree(dir_b)
            shutil.copytree(dir_a, dir_b)  # the operator fixes b's copy: b catches up on its next try

            async def b_serves_new() -> bool:
                return await version(b) == new

            await until(b_serves_new)
            assert (await b.get("/readyz")).json()["status"] == "ready"
            assert "sentiment_rollout_in_step 1.0" in (await b.get("/metrics")).text

    asyncio.run(scenario())


def test_a_replica_started_later_serves_the_newest_rollout(
    settings_for: Callable[..., Settings], tiny_artifact: Path, tmp_path: Path
) -> None:
    other = make_artifact(tmp_path / "other", seed=7)

    async def scenario() -> None:
        settings = settings_for(model_dir=tiny_artifact, rollout_poll_s=0.05)
        async with running(create_app(settings)) as a:
            answer = await a.post("/v1/admin/reload", headers=AUTH, json={"model_dir": str(other)})
            assert answer.status_code == 200
            new = answer.json()["version"]
        # Started after the rollout, configured with the old artifact: it serves the rollout's.
        async with running(create_app(settings)) as late:
            assert await version(late) == new
            assert (await late.get("/readyz")).json()["checks"]["rollout"]["in_step"] is True
        # With rollouts off (poll 0) a replica serves its configured artifact and ignores them.
        async with running(create_app(settings_for(model_dir=tiny_artifact, rollout_poll_s=0))) as alone:
            assert await version(alone) != new

    asyncio.run(scenario())


def test_a_bad_model_dir_is_refused_and_records_no_rollout(
    settings_for: Callable[..., Settings], tiny_artifact: Path, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with running(create_app(settings_for(rollout_poll_s=0.05))) as a:
            before = await version(a)
            answer = await a.post("/v1/admin/reload", headers=AUTH, json={"model_dir": str(tmp_path / "missing")})
            assert answer.status_code == 422 and answer.json()["error"]["code"] == "reload_failed"
            assert await version(a) == before
            assert (await a.get("/readyz")).json()["checks"]["rollout"]["id"] is None

    asyncio.run(scenario())
