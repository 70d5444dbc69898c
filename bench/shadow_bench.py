"""Shadow scoring's cost to the primary: p99 of short texts with 0% and with 100% shadow.

    python bench/shadow_bench.py [--model DIR] [--duration 8] [--rounds 2]

Starts `python -m service` (a real process, SQLite log in a temporary folder) twice per round, one
way after the other: without a candidate, and with a candidate (a copy of the artifact, its own
load) shadowing 100% of requests. Each run: 64 closed-loop clients of short texts for `--duration`
seconds (saturated: the primaries never idle, so the lane mostly drops), then a paced open loop at
half the throughput the no-shadow run reached (below saturation: the lane runs between batches).
Prints req/s, p50 / p99 per run, the ratio of p99s, and the shadow texts scored and dropped.
On a shared or small host read the ratios within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe  # noqa: E402

SHORT = "The acting was fine but the plot dragged on."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(model: Path, candidate: Path | None, tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "SENTIMENT_MODEL_DIR": str(model),
        "SENTIMENT_DATABASE_URL": f"sqlite:///{tmp}/log-{port}.db",
        "SENTIMENT_PORT": str(port),
        "SENTIMENT_ROLLOUT_POLL_S": "0",
        "SENTIMENT_DRIFT_REFRESH_S": "0",
        "SENTIMENT_MAX_QUEUE": "100000",
    }
    if candidate is not None:
        env |= {"SENTIMENT_CANDIDATES": str(candidate), "SENTIMENT_SHADOW_PERCENT": "100"}
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "--log-level", "warning"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.1)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def closed_loop(url: str, clients: int, seconds: float) -> tuple[float, list[float]]:
    found: list[float] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        end = time.monotonic() + seconds

        async def one() -> None:
            while time.monotonic() < end:
                t = time.perf_counter()
                assert (await client.post("/v1/sentiment", json={"text": SHORT})).status_code == 200
                found.append(time.perf_counter() - t)

        started = time.monotonic()
        await asyncio.gather(*(one() for _ in range(clients)))
        return len(found) / (time.monotonic() - started), found


async def paced(url: str, rate: float, seconds: float) -> list[float]:
    found: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=256)) as client:

        async def one() -> None:
            t = time.perf_counter()
            assert (await client.post("/v1/sentiment", json={"text": SHORT})).status_code == 200
            found.append(time.perf_counter() - t)

        tasks = []
        started = time.monotonic()
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return found


def shadow_counts(url: str) -> tuple[float, float]:
    text = httpx.get(f"{url}/metrics").text
    scored = sum(float(v) for v in re.findall(r"^sentiment_shadow_texts_scored_total\{[^}]*\} (\S+)", text, re.M))
    dropped = sum(float(v) for v in re.findall(r"^sentiment_shadow_texts_dropped_total\{[^}]*\} (\S+)", text, re.M))
    return scored, dropped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "model" / "default", help="the primary's artifact")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per load phase")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of (no shadow, 100%% shadow)")
    args = parser.parse_args()
    print(describe())
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        candidate = tmp / "candidate"
        shutil.copytree(args.model, candidate, ignore=shutil.ignore_patterns("report"))
        rate = None
        heads = ("round", "shadow", "load", "req/s", "p50 ms", "p99 ms", "scored", "dropped")
        print(" ".join(f"{h:>{w}}" for h, w in zip(heads, (5, 6, 14, 7, 7, 7, 7, 8), strict=True)))
        for r in range(1, args.rounds + 1):
            p99 = {}
            for shadow in (False, True):
                process, url = start(args.model, candidate if shadow else None, tmp)
                try:
                    asyncio.run(closed_loop(url, 8, 1.0))  # warm up
                    rps, found = asyncio.run(closed_loop(url, 64, args.duration))
                    rate = rate or rps / 2
                    s1 = shadow_counts(url)
                    tag = "100%" if shadow else "0%"
                    print(f"{r:>5} {tag:>6} {'c=64':>14} {rps:>7.0f} {pct(found, .5):>7.1f} {pct(found, .99):>7.1f} "
                          f"{s1[0]:>7.0f} {s1[1]:>8.0f}")  # fmt: skip
                    p99[(shadow, "c64")] = pct(found, 0.99)
                    slow = asyncio.run(paced(url, rate, args.duration))
                    time.sleep(1.0)
                    s2 = shadow_counts(url)
                    load = f"paced {rate:.0f}/s"
                    print(f"{r:>5} {tag:>6} {load:>14} {len(slow) / args.duration:>7.0f} {pct(slow, .5):>7.1f} "
                          f"{pct(slow, .99):>7.1f} {s2[0] - s1[0]:>7.0f} {s2[1] - s1[1]:>8.0f}")  # fmt: skip
                    p99[(shadow, "paced")] = pct(slow, 0.99)
                finally:
                    process.terminate()
                    process.wait(30)
            for load in ("c64", "paced"):
                print(
                    f"round {r} {load}: p99 with 100% shadow / without = {p99[(True, load)] / p99[(False, load)]:.2f}"
                )


if __name__ == "__main__":
    main()
