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

`--open-loop` measures instead, below saturation, what a steady 10% of explanation requests does to
plain p99 (issue 11):

    flock /tmp/bench.lock python bench/explain_load_bench.py --open-loop \\
        [--fractions 0.3,0.6] [--duration 8] [--repeats 3]

It first measures the plain capacity C of the server (wrk, c=64, short texts). Then, for each
fraction f, an open-loop generator (this process, asyncio on raw keep-alive HTTP/1.1 connections,
evenly spaced arrivals) sends a total of R = f*C requests/s where every 10th request is
`{"text": short, "explain": true}` and the others `{"text": short}` (the SHORT texts of
bench/predictor_bench.py), and, for comparison, the plain requests alone at 0.9*R/s. It runs
`--repeats` windows of `--duration` seconds of each, alternating without / with and pooled per
row, so that the machine's drifting background load hits both alike. Latency is counted from each
request's scheduled send time (no coordinated omission), per class. The last two rows repeat the
highest R with SENTIMENT_EXPLAIN_PASS_TOKENS=10^9.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_bench import Server, write_bodies, wrk  # noqa: E402
from bench.predictor_bench import SHORT  # noqa: E402


def Service(root: Path, env: dict[str, str]) -> Server:  # noqa: N802 - reads as the class it returns
    """`python -m service` from the checkout at `root` (this one, or `--before`), ready to serve."""
    argv = [sys.executable, "-m", "service", "--log-level", "warning"]
    return Server("service", argv, {"PYTHONPATH": str(root), **env}, cwd=root)


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


class OpenLoop:
    """Send `rate` requests/s for `duration` s, evenly spaced, every `explain_every`-th with explain.

    Raw HTTP/1.1 keep-alive connections (a pool that grows when all are busy, up to `max_connections`;
    a request that finds none waits, and that wait counts in its latency): cheap enough that one
    Python process keeps a rate of several hundred requests/s beside the server on two cores.
    """

    def __init__(self, port: int, rate: float, duration: float, explain_every: int) -> None:
        self.port, self.rate, self.duration = port, rate, duration
        self.explain_every = explain_every
        self.latencies: dict[str, list[float]] = {"plain": [], "explain": []}
        self.errors: dict[str, int] = {"plain": 0, "explain": 0}
        self.reasons: collections.Counter[str] = collections.Counter()  # errors by status or exception
        self.sent = {"plain": 0, "explain": 0}
        self.max_lag = 0.0
        self.send_span = 0.0
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []  # LIFO, last use
        self._open = 0
        self._max_connections = 1024
        self._freed = asyncio.Event()

    @staticmethod
    def request(text: str, explain: bool) -> bytes:
        body = json.dumps({"text": text, "explain": True} if explain else {"text": text}).encode()
        head = (
            "POST /v1/sentiment HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while True:
            while self._idle:
                reader, writer, used = self._idle.pop()
                if time.perf_counter() - used < 3.0:  # uvicorn closes keep-alive connections idle 5 s
                    return reader, writer
                writer.close()
                self._open -= 1
            if self._open < self._max_connections:
                self._open += 1
                try:
                    return await asyncio.open_connection("127.0.0.1", self.port)
                except OSError:
                    self._open -= 1
                    raise
            self._freed.clear()
            await self._freed.wait()

    async def _one(self, payload: bytes, kind: str, due: float) -> None:
        ok, reason = False, ""
        conn = None
        try:
            conn = await self._connection()
            reader, writer = conn
            writer.write(payload)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await asyncio.wait_for(reader.readexactly(length), 60)
            ok, reason = status == 200, str(status)
            self._idle.append((reader, writer, time.perf_counter()))
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            reason = type(exc).__name__
            if conn is not None:
                conn[1].close()
                self._open -= 1
        finally:
            self._freed.set()
        if ok:
            self.latencies[kind].append(time.perf_counter() - due)
        else:
            self.errors[kind] += 1
            self.reasons[reason] += 1

    async def run(self) -> None:
        payloads = {(t, e): self.request(t, e) for t in SHORT for e in (False, True)}
        tasks: list[asyncio.Task[None]] = []
        total = int(self.rate * self.duration)
        start = time.perf_counter() + 0.05
        i = 0
        while i < total:
            now = time.perf_counter()
            while i < total and start + i / self.rate <= now:
                due = start + i / self.rate
                self.max_lag = max(self.max_lag, now - due)
                explain = self.explain_every > 0 and i % self.explain_every == self.explain_every - 1
                kind = "explain" if explain else "plain"
                self.sent[kind] += 1
                payload = payloads[(SHORT[i % len(SHORT)], explain)]
                tasks.append(asyncio.create_task(self._one(payload, kind, due)))
                i += 1
            if i < total:
                await asyncio.sleep(max(0.0, start + i / self.rate - time.perf_counter()))
        self.send_span = time.perf_counter() - start + 1 / self.rate  # the last arrival's interval too
        await asyncio.gather(*tasks)
        for _, writer, _ in self._idle:
            writer.close()

    def stats(self, kind: str) -> dict[str, float]:
        ms = sorted(x * 1000 for x in self.latencies[kind])
        if not ms:
            return {"n": 0, "rate": 0.0, "p50": float("nan"), "p99": float("nan"), "max": float("nan")}
        return {
            "n": len(ms),
            "rate": self.sent[kind] / self.send_span,
            "p50": statistics.median(ms),
            "p99": ms[min(len(ms) - 1, int(0.99 * len(ms)))],
            "max": ms[-1],
        }


def merge(runs: list[OpenLoop]) -> OpenLoop:
    """The pooled latencies, counts and send time of several windows at the same rate."""
    total = OpenLoop(runs[0].port, runs[0].rate, sum(r.duration for r in runs), runs[0].explain_every)
    for r in runs:
        for kind in ("plain", "explain"):
            total.latencies[kind] += r.latencies[kind]
            total.errors[kind] += r.errors[kind]
            total.sent[kind] += r.sent[kind]
        total.reasons.update(r.reasons)
        total.max_lag = max(total.max_lag, r.max_lag)
        total.send_span += r.send_span
    return total


def open_loop(fractions: list[float], duration: int, connections: int, repeats: int) -> int:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    bodies = write_bodies(SHORT * 10)
    tmp = Path(tempfile.mkdtemp())
    env = {"SENTIMENT_DATABASE_URL": f"sqlite:///{tmp}/log.db", "SENTIMENT_LOG_TEXT": "hash"}
    server = Service(ROOT, env)
    wrk(server.url, "/v1/sentiment", bodies, connections, 3)  # warm-up
    capacity = wrk(server.url, "/v1/sentiment", bodies, connections, 10)
    print(
        f"plain capacity (wrk c={connections}, 10 s): {capacity['rps']:.0f} req/s, "
        f"p50 {capacity['p50_ms']:.1f} ms, p99 {capacity['p99_ms']:.1f} ms, errors {capacity['errors']:.0f}"
    )
    print()
    print(
        "| R (share of capacity) | EXPLAIN_PASS_TOKENS | explanations | plain req/s asked → achieved "
        "| plain p50 ms | plain p99 ms | plain max ms | explain req/s achieved | explain p50 ms "
        "| explain p99 ms | errors (plain/explain) | max send lag ms | plain p99 ÷ without |"
    )
    print("| --- " * 13 + "|")

    def measure(rate: float, explain: bool, port: int) -> OpenLoop:
        load = OpenLoop(port, rate, duration, 10 if explain else 0)
        asyncio.run(load.run())
        return load

    def paired(rate: float, port: int) -> tuple[OpenLoop, OpenLoop]:
        """Alternate `repeats` windows without and with explanations (the machine's load drifts), pooled."""
        runs = [
            measure(rate if explain else 0.9 * rate, explain, port) for _ in range(repeats) for explain in (False, True)
        ]
        return merge(runs[0::2]), merge(runs[1::2])

    def row(f: float, tokens: str, load: OpenLoop, asked: float, base_p99: float | None) -> float:
        p, e = load.stats("plain"), load.stats("explain")
        exp = load.sent["explain"] > 0
        ratio = f"{p['p99'] / base_p99:.2f}" if base_p99 else "–"
        ex = f"{e['rate']:.1f} | {e['p50']:.1f} | {e['p99']:.1f}" if exp else "– | – | –"
        print(
            f"| {f:.0%} ({asked / 0.9:.0f}/s) | {tokens} | {'10%' if exp else 'none'} | {asked:.0f} → {p['rate']:.0f} "
            f"| {p['p50']:.1f} | {p['p99']:.1f} | {p['max']:.1f} | {ex} "
            f"| {load.errors['plain']}/{load.errors['explain']} {dict(load.reasons) or ''} "
            f"| {load.max_lag * 1000:.1f} | {ratio} |"
        )
        sys.stdout.flush()
        return p["p99"]

    rates = [f * capacity["rps"] for f in fractions]
    for f, rate in zip(fractions, rates, strict=True):
        base, mixed = paired(rate, server.port)
        row(f, "4096 (default)", mixed, 0.9 * rate, row(f, "4096 (default)", base, 0.9 * rate, None))
    server.stop()
    server = Service(ROOT, {**env, "SENTIMENT_EXPLAIN_PASS_TOKENS": "1000000000"})
    wrk(server.url, "/v1/sentiment", bodies, connections, 3)  # warm-up
    f, rate = fractions[-1], rates[-1]
    base, mixed = paired(rate, server.port)
    row(f, "10^9", mixed, 0.9 * rate, row(f, "10^9", base, 0.9 * rate, None))
    server.stop()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open-loop", action="store_true", help="the open-loop measurement (see above)")
    parser.add_argument("--fractions", default="0.3,0.6", help="open loop: total rates as shares of capacity")
    parser.add_argument("--repeats", type=int, default=3, help="open loop: alternating windows per row pair")
    parser.add_argument("--imdb", help="aclImdb folder or .tar.gz (train reviews for row 3; closed-loop mode)")
    parser.add_argument("--before", help="another checkout to compare plain traffic with (e.g. /work/main)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    args = parser.parse_args()
    if args.open_loop:
        fractions = [float(x) for x in args.fractions.split(",")]
        return open_loop(fractions, args.duration, args.connections, args.repeats)
    if not args.imdb:
        parser.error("--imdb is required without --open-loop")
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
