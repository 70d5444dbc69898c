"""HTTP load with wrk: the service vs a bare FastAPI ceiling vs the service without batching.

    python bench/http_bench.py --imdb ../shared/data/aclImdb_v1.tar.gz [--duration 10]

Needs `wrk` (Debian package). Starts each server as a real process on a loopback port, drives it
with wrk (1 thread, a Lua script rotating POST bodies) at concurrency 1, 16, 64, 256, and prints
requests/s, p50/p99 latency and errors per run, plus start-to-ready time, peak RSS under load and
the batch endpoint's texts/s. All figures come from one run, so their ratios hold on a noisy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LUA = """
local bodies = {}
local i = 0
init = function(args)
  local f = io.open(args[1], "r")
  for line in f:lines() do bodies[#bodies + 1] = line end
  f:close()
end
request = function()
  i = (i % #bodies) + 1
  return wrk.format("POST", args_path, {["Content-Type"] = "application/json"}, bodies[i])
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A server started as a real process (its own session when `own_session`), ready once `ready(url)` is true
    (default: GET /readyz for the service, /docs otherwise, answers 200)."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        *,
        cwd: Path = ROOT,
        ready: Callable[[str], bool] | None = None,
        ready_timeout: float = 60,
        log: Path | None = None,
        own_session: bool = False,
    ) -> None:
        self.name, self.port = name, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        started = time.monotonic()
        out = open(log, "wb") if log else None  # the child keeps its own copy: closed here once started
        try:
            self.process = subprocess.Popen(
                [*argv, "--port", str(self.port)],
                cwd=cwd,
                env={**os.environ, **env},
                stdout=out or subprocess.DEVNULL,
                stderr=subprocess.STDOUT if out else subprocess.DEVNULL,
                start_new_session=own_session,
            )
        finally:
            if out:
                out.close()
        ready_path = "/readyz" if "service" in argv else "/docs"
        is_ready = ready or (lambda url: httpx.get(url + ready_path, timeout=1).status_code == 200)
        try:
            while True:
                try:
                    if is_ready(self.url):
                        break
                except httpx.TransportError:
                    pass
                if self.process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {self.process.returncode} before it was ready")
                if time.monotonic() - started > ready_timeout:
                    raise RuntimeError(f"{name} did not start in {ready_timeout:.0f} s")
                time.sleep(0.02)
        except BaseException:
            self.stop()
            raise
        self.start_to_ready = time.monotonic() - started

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]

    def tree_memory_mb(self) -> tuple[float, float, int]:
        """(RSS, PSS, processes) of the server and every process under it, now: RSS counts pages shared
        between them once per process, PSS splits them among their sharers."""
        rss = pss = 0
        tree = process_tree(self.process.pid)
        for pid in tree:
            try:
                rss += int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))  # type: ignore[union-attr]
                pss += int(re.search(r"^Pss:\s+(\d+)", Path(f"/proc/{pid}/smaps_rollup").read_text(), re.M).group(1))  # type: ignore[union-attr]
            except (OSError, AttributeError):
                pass  # gone meanwhile (or a kernel thread without memory)
        return rss / 1024, pss / 1024, len(tree)

    def stop(self) -> None:
        """SIGTERM, 30 s to exit, then SIGKILL for it and whatever it started that is still there."""
        tree = process_tree(self.process.pid)
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        deadline = time.monotonic() + 10
        while (left := [p for p in tree[1:] if Path(f"/proc/{p}").exists()]) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def process_tree(root: int) -> list[int]:
    """`root` and every process under it (from /proc), parents first."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, i = [root], 0
    while i < len(tree):
        tree.extend(children.get(tree[i], []))
        i += 1
    return tree


def wrk(url: str, path: str, bodies: Path, connections: int, duration: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA.replace("args_path", json.dumps(path)).replace("args[1]", json.dumps(str(bodies))))
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", script.name, url],
        capture_output=True,
        text=True,
        timeout=duration + 60,
    ).stdout
    os.unlink(script.name)

    def latency(pct: str) -> float:
        m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            return float("nan")
        return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1000.0}[m.group(2)]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(int(x) for x in sock.groups()) if sock else 0)
    return {"rps": rps, "p50_ms": latency("50"), "p99_ms": latency("99"), "errors": errors}


def write_bodies(texts: list[str], key: str = "text") -> Path:
    handle = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False)
    for t in texts:
        handle.write(json.dumps({key: t}) + "\n")
    handle.close()
    return Path(handle.name)


def bench_texts(imdb: str) -> dict[str, list[str]]:
    """The texts every HTTP bench sends: "short" (8 short sentences, 10 times) and "imdb" (1,000 IMDB test
    reviews, every 25th: all lengths)."""
    from bench.predictor_bench import SHORT
    from training.data import read_dataset

    return {"short": SHORT * 10, "imdb": [e.text for e in read_dataset(imdb, split="test")][::25][:1000]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imdb", required=True, help="aclImdb folder or .tar.gz (test reviews are sent)")
    parser.add_argument("--model", help="artifact directory (default: the shipped model)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--concurrency", default="1,16,64,256", help="comma-separated connection counts")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the service (e.g. SENTIMENT_INFERENCE_THREADS=1)",
    )
    parser.add_argument(
        "--servers", default="bare,batched,bs1,torch", help="which servers to run: bare,batched,bs1,torch"
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    from bench.predictor_bench import SHORT

    workloads = {name: write_bodies(texts) for name, texts in bench_texts(args.imdb).items()}
    levels = [int(c) for c in args.concurrency.split(",")]
    tmp = Path(tempfile.mkdtemp())
    base_env = {
        "SENTIMENT_DATABASE_URL": f"sqlite:///{tmp}/log.db",
        "SENTIMENT_LOG_TEXT": "hash",
        **dict(e.split("=", 1) for e in args.env),
    }
    if args.model:
        base_env["SENTIMENT_MODEL_DIR"] = args.model
    python = sys.executable
    configs = {
        "bare FastAPI (ceiling)": (
            [python, "-m", "uvicorn", "bench.bare_app:app", "--log-level", "warning", "--no-access-log"],
            {},
        ),
        "service (micro-batched)": ([python, "-m", "service", "--log-level", "warning"], {}),
        "service (batch size 1)": (
            [python, "-m", "service", "--log-level", "warning"],
            {"SENTIMENT_MAX_BATCH_SIZE": "1"},
        ),
        "service on torch (micro-batched)": (
            [python, "-m", "service", "--log-level", "warning"],
            {"SENTIMENT_RUNTIME": "torch"},
        ),
    }
    short_names = {
        "bare FastAPI (ceiling)": "bare",
        "service (micro-batched)": "batched",
        "service (batch size 1)": "bs1",
        "service on torch (micro-batched)": "torch",
    }
    results: dict[str, object] = {}
    for workload, bodies in workloads.items():
        print(f"\n### {workload} texts, single-text POST /v1/sentiment, wrk -t1, {args.duration} s per run\n")
        print("| server | c | req/s | p50 ms | p99 ms | errors |")
        print("| --- | --- | --- | --- | --- | --- |")
        wanted = set(args.servers.split(","))
        for name, (argv, env) in configs.items():
            if short_names[name] not in wanted:
                continue
            if workload == "imdb" and name.startswith("bare"):
                continue  # the ceiling does no work per text: the short run measures it
            server = Server(name, argv, {**base_env, **env})
            for c in levels:
                r = wrk(server.url, "/v1/sentiment", bodies, c, args.duration)
                results[f"{workload}|{name}|{c}"] = r
                print(f"| {name} | {c} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']:.0f} |")
            results[f"{name}|start_to_ready_s|{workload}"] = server.start_to_ready
            results[f"{name}|peak_rss_mb|{workload}"] = server.peak_rss_mb()
            print(
                f"| {name}: start to ready {server.start_to_ready:.2f} s, peak RSS {server.peak_rss_mb():.0f} MB |||||"
            )
            server.stop()
    server = Server("service", configs["service (micro-batched)"][0], base_env)
    batch_bodies = write_bodies([json.dumps(SHORT * 32)], key="texts")
    batch_bodies.write_text("".join(json.dumps({"texts": SHORT * 32}) + "\n" for _ in range(4)))
    r = wrk(server.url, "/v1/sentiment/batch", batch_bodies, 4, args.duration)
    results["batch_endpoint_texts_s"] = r["rps"] * len(SHORT) * 32
    print(
        f"\nbatch endpoint, 256 short texts per request, c=4: {r['rps']:.1f} req/s = "
        f"{results['batch_endpoint_texts_s']:.0f} texts/s (p99 {r['p99_ms']:.0f} ms, errors {r['errors']:.0f})"
    )
    print(f"start to ready: {server.start_to_ready:.2f} s; peak RSS under load: {server.peak_rss_mb():.0f} MB")
    results["start_to_ready_s"] = server.start_to_ready
    results["peak_rss_mb"] = server.peak_rss_mb()
    server.stop()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
