"""SENTIMENT_WORKERS=2: two worker processes on one port, one shared SQLite log, a clean drain."""

from __future__ import annotations

import shutil
import signal
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bench.fleet import Replica
from model.artifact import weights_version
from tests.conftest import make_artifact

pytestmark = pytest.mark.e2e


def test_two_workers_share_the_port_and_the_log_reload_on_sighup_and_drain_on_sigterm(
    tiny_artifact: Path, tmp_path: Path
) -> None:
    database = tmp_path / "requests.db"
    served = tmp_path / "served"
    shutil.copytree(tiny_artifact, served)
    server = Replica(
        {
            "SENTIMENT_MODEL_DIR": str(served),
            "SENTIMENT_ROLLOUT_POLL_S": "0",  # only the parent's SIGHUP can reach both workers
            "SENTIMENT_DATABASE_URL": f"sqlite:///{database}",
            "SENTIMENT_WORKERS": "2",
            "SENTIMENT_LOG_FLUSH_MS": "60000",  # rows stay in memory until the drain writes them
        },
        log_path=tmp_path / "server.log",
    ).start()
    try:
        server.wait_ready()

        def one(i: int) -> tuple[str, str, str]:
            # A new connection per request, so that the kernel hands them to either worker.
            with httpx.Client(base_url=server.url, timeout=15) as client:
                answer = client.post("/v1/sentiment", json={"text": f"a good film {i}"})
                assert answer.status_code == 200, answer.text
                model = client.get("/v1/model").json()
                return answer.headers["x-request-id"], model["replica"], model["version"]

        answered: list[tuple[str, str, str]] = []

        def until_both_workers_serve(version: str) -> None:
            deadline = time.monotonic() + 30
            with ThreadPoolExecutor(8) as pool:
                while len({replica for _, replica, v in answered if v == version}) < 2:
                    assert time.monotonic() < deadline, f"not both workers on {version}: {answered[-4:]}"
                    answered.extend(pool.map(one, range(len(answered), len(answered) + 16)))

        old = httpx.get(server.url + "/v1/model", timeout=10).json()["version"]
        until_both_workers_serve(old)
        assert len({replica.rpartition(":")[2] for _, replica, _ in answered}) == 2  # two pids
        shutil.rmtree(served)
        make_artifact(served, seed=3)  # retrained in place
        assert server.process is not None
        server.process.send_signal(signal.SIGHUP)  # to the parent: every worker reloads, none restarts
        new = weights_version(served / "weights.safetensors")
        assert new != old
        until_both_workers_serve(new)
        assert len({replica for _, replica, _ in answered}) == 2  # reloaded in place: the same two processes
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=60) == 0
    finally:
        server.kill()
    with sqlite3.connect(database) as db:
        ids = [r[0] for r in db.execute("select request_id from request_log")]
        assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    # Every row reached the shared file, through the drain of both workers, under distinct ids.
    assert sorted(ids) == sorted(request_id for request_id, _, _ in answered)
    assert len(set(ids)) == len(ids)
