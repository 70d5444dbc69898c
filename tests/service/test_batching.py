import asyncio
import threading
from collections.abc import Callable

from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.service.conftest import admin_rows, running


def test_concurrent_requests_share_forward_passes(settings_for: Callable[..., Settings]) -> None:
    app = create_app(settings_for(max_batch_size=64))

    async def fire() -> list[int]:
        async with running(app) as client:
            responses = await asyncio.gather(
                *(client.post("/v1/sentiment", json={"text": f"good movie number {i}"}) for i in range(100))
            )
            return [r.status_code for r in responses]

    assert asyncio.run(fire()) == [200] * 100
    with TestClient(app) as client:  # reopen to read the log the first run wrote
        sizes = [r["batch_size"] for r in admin_rows(client, limit=1000)]
    assert len(sizes) == 100 and max(sizes) > 1


def test_full_queue_answers_503_with_retry_after(settings_for: Callable[..., Settings]) -> None:
    app = create_app(settings_for(max_batch_size=1, max_queue=3))

    async def fire() -> list[tuple[int, str | None, str | None]]:
        async with running(app) as client:
            responses = await asyncio.gather(*(client.post("/v1/sentiment", json={"text": "good"}) for _ in range(40)))
            return [
                (r.status_code, r.headers.get("retry-after"), r.json().get("error", {}).get("code")) for r in responses
            ]

    results = asyncio.run(fire())
    refused = [r for r in results if r[0] == 503]
    assert refused and all(code == "overloaded" and int(after) >= 1 for _, after, code in refused)
    assert any(status == 200 for status, _, _ in results)


def test_a_failing_batch_fails_only_its_requests(client: TestClient) -> None:
    runtime = client.app.state.service  # type: ignore[attr-defined]
    real = runtime.batcher.predictor

    class Broken:
        version, artifact = real.version, real.artifact

        def predict(self, texts):  # type: ignore[no-untyped-def]
            raise RuntimeError("simulated fault")

    runtime.batcher.predictor = Broken()
    failed = client.post("/v1/sentiment", json={"text": "good"})
    assert failed.status_code == 503 and "simulated fault" in failed.json()["error"]["message"]
    runtime.batcher.predictor = real
    assert client.post("/v1/sentiment", json={"text": "good"}).status_code == 200  # the worker carried on


def test_lone_request_runs_without_waiting(client: TestClient) -> None:
    client.post("/v1/sentiment", json={"text": "good"})
    (row,) = admin_rows(client)
    assert row["batch_size"] == 1 and row["queue_wait_ms"] < 50
    assert threading.active_count() >= 2
