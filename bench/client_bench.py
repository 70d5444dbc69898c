"""What the Python client and the Open Inference Protocol cost against hand-written HTTP calls.

    python bench/client_bench.py [--texts 2048] [--repeats 3]

Starts `python -m service` (the shipped model, async log) on a loopback port and scores the same
texts each way, printing texts/s (median of the repeats) and the ratio to hand-written httpx calls
of the same shape. All figures come from one run, so their ratios hold on a noisy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import tritonclient.http as triton

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "client"))
sys.path.insert(0, str(ROOT))

from sentiment_client import AsyncSentimentClient, SentimentClient  # noqa: E402

from tests.e2e.conftest import free_port  # noqa: E402

WORDS = "a wonderful moving film with a dull plot and far too long but great acting , sadly not".split()
CHUNK = 256


def make_texts(n: int) -> list[str]:
    rng = np.random.default_rng(0)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(8, 60)))) for _ in range(n)]


def timed(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=2048, help="texts scored by each batch method")
    parser.add_argument("--singles", type=int, default=256, help="texts sent one request each")
    parser.add_argument("--repeats", type=int, default=3, help="runs per method (the median is printed)")
    args = parser.parse_args()
    texts, singles = make_texts(args.texts), make_texts(args.singles)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "SENTIMENT_DATABASE_URL": f"sqlite:///{tmp}/log.db",
            "SENTIMENT_MAX_BATCH_ITEMS": str(CHUNK),
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "service", "--port", str(port), "--log-level", "warning"], cwd=ROOT, env=env
        )
        try:
            with SentimentClient(url) as client:
                client.wait_ready(120)
            run(url, texts, singles, args.repeats)
        finally:
            server.terminate()
            server.wait(60)


def run(url: str, texts: list[str], singles: list[str], repeats: int) -> None:
    parts = [texts[i : i + CHUNK] for i in range(0, len(texts), CHUNK)]
    http = httpx.Client(base_url=url, timeout=60)
    client = SentimentClient(url)
    tc = triton.InferenceServerClient(url.removeprefix("http://"))

    def raw_batch() -> None:
        for part in parts:
            http.post("/v1/sentiment/batch", json={"texts": part}).raise_for_status()

    def raw_v2() -> None:
        for part in parts:
            body = {"inputs": [{"name": "text", "shape": [len(part)], "datatype": "BYTES", "data": part}]}
            http.post("/v2/models/sentiment/infer", json=body).raise_for_status()

    def triton_binary() -> None:
        for part in parts:
            tensor = triton.InferInput("text", [len(part)], "BYTES")
            tensor.set_data_from_numpy(np.array([t.encode() for t in part], dtype=np.object_))
            tc.infer("sentiment", [tensor]).as_numpy("probabilities")

    def async_batch(concurrency: int) -> Callable[[], object]:
        async def go() -> None:
            async with AsyncSentimentClient(url, concurrency=concurrency, max_batch_items=CHUNK) as aclient:
                await aclient.predict_batch(texts)

        return lambda: asyncio.run(go())

    def raw_singles() -> None:
        for text in singles:
            http.post("/v1/sentiment", json={"text": text}).raise_for_status()

    def client_singles() -> None:
        for text in singles:
            client.predict(text)

    raw_batch()  # warm up: the model's first batches, the connection pools
    rows = [
        ("hand-written httpx, /v1/sentiment/batch", len(texts), raw_batch),
        ("SentimentClient.predict_batch", len(texts), lambda: client.predict_batch(texts)),
        ("AsyncSentimentClient.predict_batch, concurrency 1", len(texts), async_batch(1)),
        ("AsyncSentimentClient.predict_batch, concurrency 4", len(texts), async_batch(4)),
        ("hand-written httpx, /v2 infer (JSON)", len(texts), raw_v2),
        ("tritonclient infer (binary tensors)", len(texts), triton_binary),
        ("hand-written httpx, /v1/sentiment, one text a request", len(singles), raw_singles),
        ("SentimentClient.predict, one text a request", len(singles), client_singles),
    ]
    print(f"{len(texts)} texts in requests of {CHUNK} (singles: {len(singles)}), median of {repeats} runs\n")
    print("| method | texts/s | vs hand-written |")
    print("| --- | ---: | ---: |")
    baseline = {}
    for name, n, fn in rows:
        rate = n / timed(fn, repeats)
        key = "single" if "one text" in name else "batch"
        baseline.setdefault(key, rate)
        print(f"| {name} | {rate:,.0f} | {rate / baseline[key]:.2f} |", flush=True)
    http.close()
    client.close()
    tc.close()


if __name__ == "__main__":
    main()
