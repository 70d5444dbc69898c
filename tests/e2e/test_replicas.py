"""Replicas on one PostgreSQL database: a reload reaches all of them; HAProxy routes around a dead one.

Real processes only: PostgreSQL (tests/support/pgserver.py), three `python -m service` replicas and
Debian's HAProxy, all on loopback free ports (bench/fleet.py starts them; bench/replicas_bench.py is
the long version).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from bench.fleet import HAProxy, Replica, drive, start_replicas
from service.log import make_engine, upgrade_schema
from tests.conftest import make_artifact

ADMIN = "replicas-admin-key"
pytestmark = pytest.mark.e2e


def migrated(url: str) -> str:
    # Migrate once before the replicas start, so that they do not race the first migration.
    engine = make_engine(url, durable=False)
    upgrade_schema(engine)
    engine.dispose()
    return url


def publish(link: Path, artifact: Path) -> None:
    """Point `link` at `artifact` atomically, as an operator should publish a new model."""
    temporary = link.with_name(link.name + ".new")
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(artifact)
    os.replace(temporary, link)


@pytest.fixture()
def fleet(tmp_path: Path) -> Iterator[list[Replica]]:
    started: list[Replica] = []
    yield started
    for replica in started:
        replica.kill()


def version_of(replica: Replica) -> str:
    return str(httpx.get(replica.url + "/v1/model", timeout=5).json()["version"])


def test_a_reload_through_one_replica_reaches_all_three_under_load(
    postgres_url: str, tmp_path: Path, fleet: list[Replica]
) -> None:
    v1, v2 = make_artifact(tmp_path / "v1", seed=1), make_artifact(tmp_path / "v2", seed=2)
    served = tmp_path / "current"
    publish(served, v1)
    env = {
        "SENTIMENT_MODEL_DIR": str(served),
        "SENTIMENT_DATABASE_URL": migrated(postgres_url),
        "SENTIMENT_ADMIN_KEYS": ADMIN,
        "SENTIMENT_ROLLOUT_POLL_S": "0.2",
    }
    fleet += start_replicas([env] * 3, tmp_path)
    old = version_of(fleet[0])
    assert [version_of(r) for r in fleet] == [old] * 3

    stop = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        load = pool.submit(drive, [r.url for r in fleet], stop, threads=3)
        time.sleep(0.5)
        publish(served, v2)
        asked = time.monotonic()
        answer = httpx.post(fleet[1].url + "/v1/admin/reload", headers={"X-API-Key": ADMIN}, timeout=30)
        assert answer.status_code == 200, answer.text
        new = answer.json()["version"]
        assert new != old and answer.json()["rollout_id"] is not None
        converged: dict[int, float] = {}
        while len(converged) < 3:
            for i, replica in enumerate(fleet):
                if i not in converged and version_of(replica) == new:
                    converged[i] = time.monotonic() - asked
            assert time.monotonic() - asked < 30, f"not every replica took {new}: {converged}"
            time.sleep(0.02)
        time.sleep(0.5)  # answers after the rollout
        stop.set()
        result = load.result(timeout=30)

    print(f"\nconverged in {max(converged.values()):.2f} s (per replica: {converged}); load: {result.ok} ok")
    assert result.errors == []  # no request failed during the rollout
    assert result.ok > 0 and set(result.versions) == {old, new}
    for replica in fleet:  # each one says which rollout it follows, and is in step with it
        rollout = httpx.get(replica.url + "/readyz", timeout=5).json()["checks"]["rollout"]
        assert rollout["version"] == new and rollout["in_step"] is True


def test_haproxy_routes_around_a_replica_killed_under_load(
    postgres_url: str, tiny_artifact: Path, tmp_path: Path, fleet: list[Replica]
) -> None:
    if not shutil.which("haproxy") and not Path("/usr/sbin/haproxy").exists():
        if os.environ.get("CI"):
            pytest.fail("haproxy is not installed (apt-get install haproxy)")
        pytest.skip("haproxy is not installed (apt-get install haproxy)")
    env = {
        "SENTIMENT_MODEL_DIR": str(tiny_artifact),
        "SENTIMENT_DATABASE_URL": migrated(postgres_url),
        "SENTIMENT_LOG_MODE": "durable",
    }
    fleet += start_replicas([env] * 3, tmp_path)
    proxy = HAProxy([r.address for r in fleet], tmp_path / "haproxy", check_interval_ms=300)
    threads = 4
    try:
        proxy.wait_ready()
        seen: set[str] = set()
        deadline = time.monotonic() + 15
        while len(seen) < 3 and time.monotonic() < deadline:  # the proxy spreads requests over the three
            seen.add(httpx.get(proxy.url + "/v1/model", timeout=5).json()["replica"])
        assert len(seen) == 3, proxy.log.read_text()
        stop = threading.Event()
        with ThreadPoolExecutor(1) as pool:
            load = pool.submit(drive, [proxy.url], stop, threads=threads)
            time.sleep(1.5)
            fleet[1].kill()  # kill -9 mid-load
            time.sleep(2.5)
            stop.set()
            result = load.result(timeout=30)
        after = httpx.post(proxy.url + "/v1/sentiment", json={"text": "still answering"}, timeout=10)
    finally:
        proxy.stop()

    print(f"\n{result.ok} ok, {len(result.errors)} errors, {result.rps:.0f} req/s; errors: {result.errors[:5]}")
    if result.errors:  # what the proxy saw: the lines of requests that did not end in 200
        print("\n".join(line for line in proxy.log.read_text().splitlines() if " 200 " not in line)[-3000:])
    assert after.status_code == 200
    # The bound: HAProxy resends a request whose connection failed or that got no byte of answer
    # (`retry-on conn-failure empty-response`, see bench/fleet.py), so the kill should cost no
    # request at all. The only ones that could still fail are those in flight on the killed replica
    # at the kill whose retries also failed: at most one per client connection.
    assert len(result.errors) <= threads, result.errors
    assert result.ok > 50
    # Durable mode: every 200 has its row in PostgreSQL (a retried request may have two).
    engine = create_engine(env["SENTIMENT_DATABASE_URL"])
    with engine.connect() as connection:
        logged = {r[0] for r in connection.execute(text("select request_id from request_log"))}
    engine.dispose()
    missing = [i for i in result.ok_ids if i not in logged]
    assert missing == []
