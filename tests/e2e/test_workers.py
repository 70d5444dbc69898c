"""SENTIMENT_WORKERS=2: two worker processes on one port, one shared SQLite log, a clean drain."""

from __future__ import annotations

import signal
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bench.fleet import Replica

pytestmark = pytest.mark.e2e


def test_two_workers_share_the_port_and_the_log_and_drain_on_sigterm(tiny_artifact: Path, tmp_path: Path) -> None:
    database = tmp_path / "requests.db"
    server = Replica(
        {
            "SENTIMENT_MODEL_DIR": str(tiny_artifact),
            "SENTIMENT_DATABASE_URL": f"sqlite:///{database}",
            "SENTIMENT_WORKERS": "2",
            "SENTIMENT_LOG_FLUSH_MS": "60000",  # rows stay in memory until the drain writes them
        },
        log_path=tmp_path / "server.log",
    ).start()
    try:
        server.wait_ready()

        def one(i: int) -> tuple[str, str]:
            # A new connection per request, so that the kernel hands them to either worker.
            with httpx.Client(base_url=server.url, timeout=15) as client:
                answer = client.post("/v1/sentiment", json={"text": f"a good film {i}"})
                assert answer.status_code == 200, answer.text
                return answer.headers["x-request-id"], client.get("/v1/model").json()["replica"]

        served: list[tuple[str, str]] = []
        deadline = time.monotonic() + 30
        with ThreadPoolExecutor(8) as pool:
            while len({replica for _, replica in served}) < 2:  # until both workers have answered
                assert time.monotonic() < deadline, f"only one worker answered: {served[:3]}"
                served += pool.map(one, range(len(served), len(served) + 16))
        assert len({replica.rpartition(":")[2] for _, replica in served}) == 2  # two pids
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=60) == 0
    finally:
        server.kill()
    with sqlite3.connect(database) as db:
        ids = [r[0] for r in db.execute("select request_id from request_log")]
        assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    # Every row reached the shared file, through the drain of both workers, under distinct ids.
    assert sorted(ids) == sorted(request_id for request_id, _ in served)
    assert len(set(ids)) == len(ids)
