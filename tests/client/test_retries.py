"""Retries against real processes: a server that is not up yet, and one whose queue is full (503)."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sentiment_client import AsyncSentimentClient, ConnectionFailed, Overloaded, Prediction, RetryEvent, SentimentClient

from tests.conftest import make_artifact
from tests.e2e.conftest import ADMIN, ServerProcess, free_port

pytestmark = pytest.mark.e2e
LONG = "good movie " * 2000  # 4000 tokens: ~0.3-1 s per text through the slow artifact below


def test_connection_errors_are_retried_until_the_server_is_up(tiny_artifact: Path, tmp_path: Path) -> None:
    port = free_port()
    events: list[RetryEvent] = []
    outcome: list[Prediction | BaseException] = []
    client = SentimentClient(
        f"http://127.0.0.1:{port}", retries=200, backoff=0.05, max_backoff=0.2, on_retry=events.append
    )

    def call() -> None:
        try:
            outcome.append(client.predict("good movie", request_id="while-starting-1"))
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    server = ServerProcess.start(tmp_path / "requests.db", {"SENTIMENT_MODEL_DIR": str(tiny_artifact)}, port=port)
    try:
        caller.join(30)
    finally:
        client.close()
        server.stop()
    (result,) = outcome
    assert isinstance(result, Prediction) and result.request_id == "while-starting-1"
    assert events and all(e.status is None and e.code == "connection_error" for e in events)
    assert {e.request_id for e in events} == {"while-starting-1"}
    assert [e.attempt for e in events] == list(range(1, len(events) + 1))


def test_connection_failed_after_the_last_retry() -> None:
    events: list[RetryEvent] = []
    with SentimentClient(f"http://127.0.0.1:{free_port()}", retries=2, backoff=0.01, on_retry=events.append) as client:
        with pytest.raises(ConnectionFailed) as failed:
            client.predict("good")
    assert failed.value.status is None and failed.value.code == "connection_error"
    assert len(events) == 2 and failed.value.request_id == events[0].request_id == events[1].request_id


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A big, slow model, one text per forward pass and a queue of eight: easy to fill for real."""
    root = tmp_path_factory.mktemp("slow")
    artifact = make_artifact(root / "artifact", hidden=256, max_tokens=4000)
    env = {
        "SENTIMENT_MODEL_DIR": str(artifact),
        "SENTIMENT_MAX_QUEUE": "8",
        "SENTIMENT_MAX_BATCH_SIZE": "1",
        "SENTIMENT_MAX_BATCH_ITEMS": "16",
        "SENTIMENT_MAX_TEXT_CHARS": "50000",
        "SENTIMENT_INFERENCE_THREADS": "1",
        "SENTIMENT_LOG_FLUSH_MS": "10",
    }
    server = ServerProcess.start(root / "requests.db", env)
    yield server
    server.stop()


def queue_depth(url: str) -> float:
    match = re.search(r"^sentiment_queue_depth (\S+)$", httpx.get(url + "/metrics").text, re.MULTILINE)
    assert match is not None
    return float(match.group(1))


def test_503_is_retried_after_retry_after_with_the_same_request_id(slow_server: ServerProcess) -> None:
    url = slow_server.url
    filler = threading.Thread(
        target=lambda: httpx.post(url + "/v1/sentiment/batch", json={"texts": [LONG] * 8}, timeout=60)
    )
    filler.start()
    deadline = time.monotonic() + 10
    while queue_depth(url) < 6:  # the filler's texts wait for the model: three more do not fit
        assert time.monotonic() < deadline, "the queue never filled"
        time.sleep(0.01)
    events: list[RetryEvent] = []
    with SentimentClient(url, retries=6, max_retry_after=20, max_batch_items=16, on_retry=events.append) as client:
        results = client.predict_batch(["good movie", "awful plot", "fine"], request_id="after-503-1")
    filler.join(60)
    assert all(isinstance(r, Prediction) and r.request_id == "after-503-1" for r in results)
    assert events, "the first attempt should have met a full queue"
    for event in events:
        assert (event.status, event.code, event.request_id) == (503, "overloaded", "after-503-1")
        assert event.retry_after is not None and event.retry_after >= 1
        assert event.delay >= event.retry_after  # waited at least as long as the server asked
    assert logged_items(url, "after-503-1") == [0, 1, 2]  # the attempt that got through carried the same id


def logged_items(url: str, request_id: str) -> list[int]:
    """Item indexes of the request's log rows, once written (the log is written off the request path)."""
    deadline = time.monotonic() + 10
    while True:
        rows = httpx.get(url + "/v1/requests", params={"limit": 50}, headers={"X-API-Key": ADMIN}).json()["rows"]
        items = sorted(r["item_index"] for r in rows if r["request_id"] == request_id)
        if items or time.monotonic() > deadline:
            return items
        time.sleep(0.05)


def test_503_raises_overloaded_after_the_last_retry_and_caps_retry_after(slow_server: ServerProcess) -> None:
    events: list[RetryEvent] = []
    with SentimentClient(slow_server.url, retries=1, max_retry_after=0.05, on_retry=events.append) as client:
        started = time.monotonic()
        with pytest.raises(Overloaded) as overloaded:
            client.predict_batch(["good"] * 9)  # more texts than the whole queue holds: never fits
        elapsed = time.monotonic() - started
    error = overloaded.value
    assert (error.status, error.code) == (503, "overloaded") and error.retry_after is not None
    assert error.retry_after >= 1 and len(events) == 1 and events[0].delay <= 0.055
    assert elapsed < error.retry_after  # the cap, not the server's Retry-After, set the wait


def test_async_client_retries_and_raises_the_same_way() -> None:
    events: list[RetryEvent] = []

    async def run() -> None:
        url = f"http://127.0.0.1:{free_port()}"
        async with AsyncSentimentClient(url, retries=2, backoff=0.01, on_retry=events.append) as client:
            assert await client.predict_batch([]) == []
            with pytest.raises(ConnectionFailed) as failed:
                await client.predict("good", request_id="async-retry-1")
        assert failed.value.request_id == "async-retry-1"

    asyncio.run(run())
    assert [(e.attempt, e.request_id, e.status) for e in events] == [
        (1, "async-retry-1", None),
        (2, "async-retry-1", None),
    ]
