"""The shipped HAProxy rules against a hostile client: slow headers, slow bodies, over-long URLs.

A real `python -m service` replica behind Debian's HAProxy with the configuration of bench/fleet.py
(the same rules as docker/haproxy/haproxy.cfg, checked in tests/deploy), all on loopback.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.fleet import HAProxy, Replica, start_replicas
from tests.support.slow_client import dribble

pytestmark = pytest.mark.e2e
REQUEST_TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def proxy(tiny_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HAProxy]:
    if not shutil.which("haproxy") and not Path("/usr/sbin/haproxy").exists():
        if os.environ.get("CI"):
            pytest.fail("haproxy is not installed (apt-get install haproxy)")
        pytest.skip("haproxy is not installed (apt-get install haproxy)")
    folder = tmp_path_factory.mktemp("proxy")
    env = {"SENTIMENT_MODEL_DIR": str(tiny_artifact), "SENTIMENT_DATABASE_URL": f"sqlite:///{folder / 'log.db'}"}
    replicas: list[Replica] = start_replicas([env], folder)
    haproxy = HAProxy([r.address for r in replicas], folder / "haproxy", request_timeout_s=REQUEST_TIMEOUT_S)
    try:
        haproxy.wait_ready()
        yield haproxy
    finally:
        haproxy.stop()
        for replica in replicas:
            replica.kill()


def test_slow_headers_are_closed_with_a_json_408(proxy: HAProxy) -> None:
    seconds, answer = dribble(proxy.port, b"POST /v1/sentiment HTTP/1.1\r\n", b"Host: x\r\nX-Slow: " + b"a" * 100)
    print(f"\nslow headers closed after {seconds:.1f} s")
    assert seconds < REQUEST_TIMEOUT_S + 3  # the client would have gone on for 50 s
    assert answer.startswith(b"HTTP/1.1 408")  # HAProxy's own page (its internal errors are HTML)


def test_slow_body_is_closed_with_a_json_408(proxy: HAProxy) -> None:
    body = b'{"text": "' + b"a" * 200 + b'"}'
    head = b"POST /v1/sentiment HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    head += b"Content-Length: %d\r\n\r\n" % len(body)
    seconds, answer = dribble(proxy.port, head, body)
    print(f"\nslow body closed after {seconds:.1f} s")
    assert seconds < REQUEST_TIMEOUT_S + 3
    assert answer.startswith(b"HTTP/1.1 408")  # HAProxy's own page (its internal errors are HTML)


def test_an_over_long_url_gets_a_json_414(proxy: HAProxy) -> None:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:  # httpx caps URLs at 64 KiB
        sock.sendall(b"GET /v1/model?pad=" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        raw = sock.recv(65536)
    assert raw.startswith(b"HTTP/1.1 400")  # over HAProxy's 16 KiB buffer: its own 400, never reaching uvicorn
    answer = httpx.get(proxy.url + "/v1/model?pad=" + "a" * 9_000, timeout=10)
    assert answer.status_code == 414 and answer.json()["error"]["code"] == "url_too_long"


def test_a_keep_alive_client_with_pauses_is_not_cut(proxy: HAProxy) -> None:
    with httpx.Client(base_url=proxy.url, timeout=10) as client:
        for _ in range(3):  # pauses between requests longer than the request timeout
            answer = client.post("/v1/sentiment", json={"text": "a fine film"})
            assert answer.status_code == 200, answer.text
            time.sleep(REQUEST_TIMEOUT_S + 0.5)
        assert client.post("/v1/sentiment", json={"text": "still here"}).status_code == 200
