"""Plain-request latency with and without explanation traffic, and before/after the explain code.

    flock /tmp/bench.lock python bench/explain_load_bench.py --imdb ../shared/data/aclImdb_v1.tar.gz \\
        [--before /work/main] [--duration 10]

Each server is a real `python -m service` process on a loopback port. Plain short texts go through
wrk (1 thread, 64 connections, POST /v1/sentiment, the bodies of bench/http_bench.py); while wrk
runs, this process sends `"explain": true` requests open-loop at a fixed rate, so wrk's latencies
are those of plain requests only. Rows:

1. `--before` checkout (no explain code) vs this checkout, plain traffic only: the fast path's cost.
2. this checkout with explanations of short texts at 10% of all requests (rate = plain req/s / 9
   from row 1).
3. explanations of ~300-token reviews, 1 per second, with SENTIMENT_EXPLAIN_PASS_TOKENS at its
   default (4096) and at 10^9 (a whole explanation in one pass): what the chunking buys plain p99.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_bench import free_port, write_bodies, wrk  # noqa: E402
from bench.predictor_bench import SHORT  # noqa: E402


class Service:
    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service", "--log-level", "warning", "--port", str(self.port)],
            cwd=root,
            env={**os.environ, "PYTHONPATH": str(root), **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started = time.monotonic()
        while True:
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() - started > 90:
                raise RuntimeError("the service did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


class ExplainLoad:
    """Send explain requests at `rate` per second (open loop) from a thread until stopped."""

    def __init__(self, url: str, texts: list[str], rate: float) -> None:
        self.url, self.texts, self.rate = url, texts, rate
        self.latencies: list[float] = []
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> ExplainLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(120)

    async def _one(self, client: httpx.AsyncClient, text: str) -> None:
        started = time.perf_counter()
        try:
            answer = await client.post("/v1/sentiment", json={"text": text, "explain": True}, timeout=60)
            self.statuses.append(answer.status_code)
        except httpx.HTTPError:
            self.statuses.append(0)
        self.latencies.append(time.perf_counter() - started)

    async def _run(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, limits=httpx.Limits(max_connections=256)) as client:
            tasks, i, start = [], 0, time.perf_counter()
            while not self._stop.is_set():
                due = start + i / self.rate
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                tasks.append(asyncio.create_task(self._one(client, self.texts[i % len(self.texts)])))
                i += 1
            await asyncio.gather(*tasks)

    def summary(self) -> str:
        if not self.latencies:
            return "none sent"
        ms = sorted(x * 1000 for x in self.latencies)
        ok = sum(s == 200 for s in self.statuses)
        p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
        return f"{len(ms)} sent, {ok} ok, p50 {statistics.median(ms):.0f} ms, p99 {p99:.0f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imdb", required=True, help="aclImdb folder or .tar.gz (train reviews for row 3)")
    parser.add_argument("--before", help="another checkout to compare plain traffic with (e.g. /work/main)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    args = parser.parse_args()
    from model import tokenize
    from training.data import read_dataset

    reviews = [e.text for e in read_dataset(args.imdb, split="train")[::50] if 250 <= len(tokenize(e.text)) <= 300]
    bodies = write_bodies(SHORT * 10)
    tmp = Path(tempfile.mkdtemp())
    env = {"SENTIMENT_DATABASE_URL": f"sqlite:///{tmp}/log.db", "SENTIMENT_LOG_TEXT": "hash"}
    c, d = args.connections, args.duration
    print("| server | explanation traffic | plain req/s | plain p50 ms | plain p99 ms | errors | explanations |")
    print("| --- | --- | --- | --- | --- | --- | --- |")

    def row(name: str, traffic: str, r: dict[str, float], load: ExplainLoad | None) -> None:
        extra = load.summary() if load else "-"
        numbers = f"{r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']:.0f}"
        print(f"| {name} | {traffic} | {numbers} | {extra} |")
        sys.stdout.flush()

    if args.before:
        server = Service(Path(args.before), {**env, "SENTIMENT_DATABASE_URL": f"sqlite:///{tmp}/before.db"})
        row(f"before ({args.before})", "none", wrk(server.url, "/v1/sentiment", bodies, c, d), None)
        server.stop()
    server = Service(ROOT, env)
    plain = wrk(server.url, "/v1/sentiment", bodies, c, d)
    row("this checkout", "none", plain, None)
    rate = plain["rps"] / 9  # explanations = 10% of all requests
    with ExplainLoad(server.url, SHORT, rate) as load:
        r = wrk(server.url, "/v1/sentiment", bodies, c, d)
    row("this checkout", f"10%: short texts at {rate:.0f}/s", r, load)
    server.stop()
    for pass_tokens in ("4096", "1000000000"):
        server = Service(ROOT, {**env, "SENTIMENT_EXPLAIN_PASS_TOKENS": pass_tokens})
        with ExplainLoad(server.url, reviews, 1.0) as load:
            r = wrk(server.url, "/v1/sentiment", bodies, c, d)
        row(f"EXPLAIN_PASS_TOKENS={pass_tokens}", "1/s: 250-300-token reviews", r, load)
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
