"""End to end: a real `python -m service` process on a loopback port with a real SQLite file."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "e2e-admin-key"


def start(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "service", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_ready(url: str, process: subprocess.Popen[str], timeout: float = 30.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.stdout.read() if process.stdout else ''}")
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError("server not ready in time")


@pytest.fixture()
def server(tiny_artifact: Path, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str], Path]]:
    port = free_port()
    database = tmp_path / "requests.db"
    env = {
        "SENTIMENT_MODEL_DIR": str(tiny_artifact),
        "SENTIMENT_DATABASE_URL": f"sqlite:///{database}",
        "SENTIMENT_ADMIN_KEYS": ADMIN,
        "SENTIMENT_LOG_FLUSH_MS": "60000",
    }
    process = start(env, port)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        yield url, process, database
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


@pytest.mark.e2e
def test_real_process_serves_logs_and_drains_on_sigterm(server: tuple[str, subprocess.Popen[str], Path]) -> None:
    url, process, database = server
    with httpx.Client(base_url=url, timeout=10) as client:
        single = client.post("/v1/sentiment", json={"text": "A good movie"})
        assert single.status_code == 200 and single.json()["label"] in ("negative", "positive")
        batch = client.post("/v1/sentiment/batch", json={"texts": ["good", "bad", ""]})
        assert [("error" in r) for r in batch.json()["results"]] == [False, False, True]
        assert (
            client.post("/v1/sentiment", content=b"{oops", headers={"Content-Type": "application/json"}).status_code
            == 400
        )

    def one(i: int) -> int:
        return httpx.post(url + "/v1/sentiment", json={"text": f"good film {i}"}, timeout=10).status_code

    with ThreadPoolExecutor(16) as pool:
        assert set(pool.map(one, range(64))) == {200}
    # The flush interval is a minute: every row below reached the file because SIGTERM drained it.
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    with sqlite3.connect(database) as db:
        assert db.execute("select count(*) from request_log").fetchone()[0] == 1 + 3 + 64
        assert db.execute("pragma integrity_check").fetchone()[0] == "ok"


@pytest.mark.e2e
def test_bad_setting_stops_start_with_the_variable_named(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "service"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT), "SENTIMENT_MAX_BATCH_SIZE": "lots"},
    )
    assert run.returncode == 2 and "SENTIMENT_MAX_BATCH_SIZE" in run.stderr


@pytest.mark.e2e
def test_broken_artifact_stops_start_with_the_file_named(tiny_artifact: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in tiny_artifact.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    config = json.loads((broken / "config.json").read_text())
    config["hidden_size"] = 99
    (broken / "config.json").write_text(json.dumps(config))
    run = subprocess.run(
        [sys.executable, "-m", "service"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SENTIMENT_MODEL_DIR": str(broken)},
    )
    assert run.returncode == 2 and "weights.safetensors" in run.stderr


@pytest.mark.e2e
def test_sighup_reloads_the_artifact(tiny_artifact: Path, tmp_path: Path) -> None:
    from tests.conftest import make_artifact

    served = tmp_path / "served"
    make_artifact(served, seed=0)
    port = free_port()
    env = {"SENTIMENT_MODEL_DIR": str(served), "SENTIMENT_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}"}
    process = start(env, port)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        before = httpx.get(url + "/v1/model").json()["version"]
        make_artifact(served, seed=9)  # retrained in place
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while httpx.get(url + "/v1/model").json()["version"] == before:
            assert time.monotonic() < deadline, "SIGHUP did not reload the model"
            time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(30)
        if process.stdout:
            process.stdout.close()
