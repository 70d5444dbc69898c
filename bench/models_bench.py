"""Named models: resident memory per extra model, and what per-model queues do under a flood.

    python bench/models_bench.py [--model DIR] [--counts 1,2,4] [--requests 200]

Memory: for each count N, starts `python -m service` (a real process, SQLite log in a temporary
folder) serving N copies of one artifact (each its own directory, so each is loaded on its own) as
SENTIMENT_MODELS, sends 50 predictions to every model, and reads the process's VmRSS. Prints RSS
and the growth per extra model beside the artifact's size on disk.

Queues: one process serving two copies, `a` and `b`. Model b's short texts at concurrency 1, three
ways: alone; while 64 clients flood model a with long reviews (b has its own queue and worker);
and, for the one-queue service this replaced, b's texts sent to model a during the same flood.
Prints p50 / p99 of b's latency. On a shared or small host read the ratios within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe, rss_mb  # noqa: E402

SHORT = "The acting was fine but the plot dragged on."
REVIEW = " ".join(
    ["This film starts well, with a sharp script and a cast that clearly enjoys itself."]
    + ["Then the middle sags, the jokes repeat and the villain never feels like a threat."] * 12
    + ["Still, the last twenty minutes are wonderful and I left the cinema smiling."]
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, models: dict[str, Path], tmp: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "SENTIMENT_MODELS": ",".join(f"{n}={d}" for n, d in models.items()),
            "SENTIMENT_DATABASE_URL": f"sqlite:///{tmp}/log-{self.port}.db",
            "SENTIMENT_PORT": str(self.port),
            "SENTIMENT_ROLLOUT_POLL_S": "0",
            "SENTIMENT_MAX_QUEUE": "100000",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {self.process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def memory(artifact: Path, counts: list[int], tmp: Path) -> None:
    size = sum(f.stat().st_size for f in artifact.iterdir() if f.is_file()) / 1e6
    print(f"artifact {artifact.name}: {size:.1f} MB on disk (weights, vocabulary, config, metrics)")
    print(f"{'models':>6} {'RSS MB':>8} {'per extra model MB':>19}")
    base = None
    for n in counts:
        models = {}
        for i in range(n):
            copy = tmp / f"copy{i}"
            if not copy.exists():
                shutil.copytree(artifact, copy, ignore=shutil.ignore_patterns("report"))
            models[f"m{i}"] = copy
        server = Server(models, tmp)
        try:
            with httpx.Client(base_url=server.url, timeout=30) as client:
                for name in models:
                    for _ in range(50):
                        assert client.post("/v1/sentiment", json={"text": SHORT, "model": name}).status_code == 200
            rss = rss_mb(server.process.pid)
        finally:
            server.stop()
        if base is None:
            base, first = rss, n
            print(f"{n:>6} {rss:>8.1f} {'':>19}")
        else:
            print(f"{n:>6} {rss:>8.1f} {(rss - base) / (n - first):>19.1f}")


async def latencies(client: httpx.AsyncClient, model: str, count: int) -> list[float]:
    found = []
    for _ in range(count):
        started = time.perf_counter()
        response = await client.post("/v1/sentiment", json={"text": SHORT, "model": model})
        assert response.status_code == 200, response.text
        found.append((time.perf_counter() - started) * 1000)
    return found


async def flood(client: httpx.AsyncClient, stop: asyncio.Event, sent: list[int]) -> None:
    while not stop.is_set():
        try:
            response = await client.post("/v1/sentiment", json={"text": REVIEW, "model": "a"})
        except httpx.TransportError:  # a kept-alive connection the server closed meanwhile: send again
            continue
        assert response.status_code == 200, response.text
        sent[0] += 1


async def queues(artifact: Path, requests: int, tmp: Path) -> None:
    models = {"a": tmp / "copy0", "b": tmp / "copy1"}
    for d in models.values():
        if not d.exists():
            shutil.copytree(artifact, d, ignore=shutil.ignore_patterns("report"))
    server = Server(models, tmp)
    try:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(base_url=server.url, timeout=120, limits=limits) as client:
            await latencies(client, "b", 20)  # warm up
            rows = [("b alone", await latencies(client, "b", requests), None)]
            for label, target in (
                ("b during a flood of a (own queue)", "b"),
                ("b's texts on a's queue (one queue)", "a"),
            ):
                stop, sent = asyncio.Event(), [0]
                flooders = [asyncio.create_task(flood(client, stop, sent)) for _ in range(64)]
                await asyncio.sleep(2.0)  # the backlog builds
                started, before = time.perf_counter(), sent[0]
                found = await latencies(client, target, requests)
                rate = (sent[0] - before) / (time.perf_counter() - started)
                stop.set()
                await asyncio.gather(*flooders)
                rows.append((label, found, rate))
        print(f"{'model b, short texts, c=1':<38} {'p50 ms':>8} {'p99 ms':>8} {'flood reviews/s':>16}")
        for label, found, rate in rows:
            found.sort()
            p99 = found[min(len(found) - 1, int(0.99 * len(found)))]
            flood_rate = "" if rate is None else f"{rate:.0f}"
            print(f"{label:<38} {statistics.median(found):>8.1f} {p99:>8.1f} {flood_rate:>16}")
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "model" / "default", help="artifact to copy")
    parser.add_argument("--counts", default="1,2,4", help="model counts for the memory table")
    parser.add_argument("--requests", type=int, default=200, help="model b's requests per scenario")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-queues", action="store_true")
    args = parser.parse_args()
    print(f"machine: {describe()}")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_memory:
            memory(args.model, [int(n) for n in args.counts.split(",")], Path(tmp))
        if not args.skip_queues:
            asyncio.run(queues(args.model, args.requests, Path(tmp)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
