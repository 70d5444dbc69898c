"""Header and body read timeouts of `python -m service` itself (service/protocol.py), no proxy.

A real process on a loopback port with 1 s timeouts; the clients dribble a byte every 0.3 s.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from bench.fleet import Replica, start_replicas
from tests.support.slow_client import dribble

pytestmark = pytest.mark.e2e
TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def server(tiny_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    folder = tmp_path_factory.mktemp("slow")
    env = {
        "SENTIMENT_MODEL_DIR": str(tiny_artifact),
        "SENTIMENT_DATABASE_URL": f"sqlite:///{folder / 'log.db'}",
        "SENTIMENT_HEADER_TIMEOUT_S": str(TIMEOUT_S),
        "SENTIMENT_BODY_TIMEOUT_S": str(TIMEOUT_S),
    }
    [replica] = start_replicas([env], folder)
    try:
        yield replica
    finally:
        replica.kill()


def timeouts(server: Replica) -> dict[str, float]:
    text = httpx.get(server.url + "/metrics", timeout=5).text
    return {
        m[0]: float(m[1]) for m in re.findall(r'^sentiment_http_timeouts_total\{phase="(\w+)"\} (\S+)$', text, re.M)
    }


def assert_json_408(answer: bytes) -> None:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408") and b"application/json" in head, answer[:300]
    assert orjson.loads(body)["error"]["code"] == "request_timeout"


def test_slow_headers_are_closed_and_counted(server: Replica) -> None:
    before = timeouts(server).get("headers", 0)
    seconds, answer = dribble(server.port, b"POST /v1/sentiment HTTP/1.1\r\n", b"Host: x\r\nX-Slow: " + b"a" * 100, 0.3)
    print(f"\nslow headers closed after {seconds:.1f} s")
    assert seconds < TIMEOUT_S + 2  # the client would have gone on for 30 s
    assert_json_408(answer)
    assert timeouts(server)["headers"] == before + 1


def test_slow_body_is_closed_and_counted(server: Replica) -> None:
    before = timeouts(server).get("body", 0)
    body = b'{"text": "' + b"a" * 200 + b'"}'
    head = b"POST /v1/sentiment HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    head += b"Content-Length: %d\r\n\r\n" % len(body)
    seconds, answer = dribble(server.port, head, body, 0.3)
    print(f"\nslow body closed after {seconds:.1f} s")
    assert seconds < TIMEOUT_S + 2
    assert_json_408(answer)
    assert timeouts(server)["body"] == before + 1


def test_a_silent_connection_is_closed(server: Replica) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT_S + 3) as sock:
        started = time.monotonic()
        answer = sock.recv(65536)  # blocks until the server writes or closes
    assert time.monotonic() - started < TIMEOUT_S + 2
    assert_json_408(answer)


def test_keep_alive_clients_with_pauses_are_not_cut(server: Replica) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for _ in range(3):  # pauses longer than the header timeout, shorter than uvicorn's keep-alive (5 s)
            answer = client.post("/v1/sentiment", json={"text": "a fine film"})
            assert answer.status_code == 200, answer.text
            time.sleep(TIMEOUT_S + 0.5)
        assert client.post("/v1/sentiment", json={"text": "still here"}).status_code == 200
        assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        b"GET /v1/model?pad=" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ids=["request-line", "header", "70kB-url"],
)
def test_a_request_uvicorn_cannot_parse_gets_a_json_400_with_a_request_id(
    server: Replica, request_bytes: bytes
) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(request_bytes)
        answer = sock.recv(65536)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"application/json" in head, answer[:300]
    error = orjson.loads(body)["error"]
    assert error["code"] == "invalid_http_request"
    assert re.fullmatch(r"[0-9a-f]{24}", error["request_id"]) and error["request_id"].encode() in head


def test_generated_request_ids_are_random_not_a_counter(server: Replica) -> None:
    ids = [httpx.get(server.url + "/healthz", timeout=5).headers["x-request-id"] for _ in range(20)]
    assert all(re.fullmatch(r"[0-9a-f]{24}", i) for i in ids), ids
    # a prefix and a counter share all but the last few characters; random ids share about 1 in 16
    shared = [sum(a == b for a, b in zip(x, y, strict=True)) for x, y in zip(ids, ids[1:], strict=False)]
    assert max(shared) < 12, (ids, shared)
