"""HTTP load against the serving frameworks people would pick instead: LitServe, BentoML, Ray Serve (issue 24).

    flock /tmp/bench.lock python bench/peers_bench.py --imdb ../shared/data/aclImdb_v1.tar.gz \\
        [--precision fp32,int8] [--duration 8] [--rounds 2] [--peer-workers 2] \\
        [--servers project,project-2w,litserve,bentoml,rayserve]

Each framework lives in its own virtual environment, bench/.peers/NAME/venv (ignored by git), made
on first use (or by --setup): torch==2.13.0 first (so that no framework pulls a CUDA build), then
what `load_predictor` needs at the versions of requirements/lock.txt, then the framework at a pinned
version, with torch and those pins held as constraints. Each framework's server (bench/peers/) wraps
the same `load_predictor(precision=P)` the service loads, behind the framework's own dynamic batching
(32 texts, 5 ms wait; BentoML's is adaptive), --peer-workers inference processes of --peer-threads
intra-op threads each (default: one process per core, as LitServe's and BentoML's docs advise for
CPU, one thread each). Bodies are the service's {"text": ...}, answers carry label and probabilities;
BentoML's batchable endpoint takes {"text": ["..."]} (its docs' wrapper service for single texts,
`bentoml-wrapper`, fails under load in 1.4.40: bench/peers/bentoml_service.py).

Servers: `project` is `python -m service` as shipped (one process, ONNX Runtime's threads);
`project-2w` is the service in the peers' layout (SENTIMENT_WORKERS=--peer-workers,
SENTIMENT_INFERENCE_THREADS=--peer-threads). Per precision (SENTIMENT_PRECISION for the service,
load_predictor(precision=...) for the peers), each server is started as a real process tree on a
loopback port; before any load its answers to 64 texts (sent one at a time) are checked against
`Predictor.predict` here: same label, probabilities within 1e-6, or the server is skipped. Then wrk
(1 thread, a Lua script rotating bodies, as bench/http_bench.py) drives it at c=64 with short texts
and with IMDB test reviews, and the RSS and PSS of its whole process tree are read after the load.
The matrix runs --rounds times, servers and workloads in reverse order every other round: each cell
shows one figure per round. Every process started is stopped at the end, on failure and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.http_bench import Server, bench_texts, write_bodies, wrk  # noqa: E402
from bench.machine import describe  # noqa: E402

PEERS_DIR = ROOT / "bench" / ".peers"
LOCK = ROOT / "requirements" / "lock.txt"
TORCH = "torch==2.13.0"  # pinned: a bare `torch` pulls a multi-GB CUDA build
RUNTIME = ("numpy", "safetensors", "onnxruntime", "onnx")  # what load_predictor imports (ONNX Runtime path)
FRAMEWORKS = {  # name -> (pip requirement, distribution whose version is reported)
    "litserve": ("litserve==0.2.19", "litserve"),
    "bentoml": ("bentoml==1.4.40", "bentoml"),
    "rayserve": ("ray[serve]==2.60.0", "ray"),
}


def locked(names: tuple[str, ...]) -> list[str]:
    """The exact pins of requirements/lock.txt for `names`."""
    pins = {}
    for line in LOCK.read_text().splitlines():
        name, sep, version = line.partition("==")
        if sep and not line.startswith("#"):
            pins[name.strip().lower()] = f"{name.strip()}=={version.strip()}"
    return [pins[n] for n in names]


def venv_python(name: str) -> Path:
    return PEERS_DIR / name / "venv" / "bin" / "python"


def setup(name: str) -> None:
    """Create bench/.peers/NAME/venv with torch, the runtime pins and the framework (no-op when done)."""
    venv = PEERS_DIR / name / "venv"
    stamp = venv / ".installed"
    requirement = FRAMEWORKS[name][0]
    if stamp.exists() and stamp.read_text() == requirement:
        return
    print(f"setting up {venv} ({requirement}) ...", flush=True)
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv_python(name))
    pip = [python, "-m", "pip", "install", "--quiet"]
    constraints = venv / "constraints.txt"
    constraints.write_text("\n".join([TORCH, *locked(RUNTIME)]) + "\n")
    subprocess.run([*pip, TORCH], check=True)  # first, on its own: nothing after may replace it
    subprocess.run([*pip, "-c", str(constraints), *locked(RUNTIME)], check=True)
    subprocess.run([*pip, "-c", str(constraints), requirement], check=True)
    stamp.write_text(requirement)


def versions(name: str) -> dict[str, str]:
    """Installed versions of the framework, torch and the runtime in NAME's venv."""
    dists = [FRAMEWORKS[name][1], "torch", *RUNTIME, "fastapi", "uvicorn"]
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for d in sys.argv[1:]:\n"
        "    try:\n"
        "        out[d] = m.version(d)\n"
        "    except m.PackageNotFoundError:\n"
        "        pass\n"
        "print(json.dumps(out))\n"
    )
    out = subprocess.run([str(venv_python(name)), "-c", code, *dists], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


SERVERS = ("project", "project-2w", "litserve", "bentoml", "bentoml-wrapper", "rayserve")
DEFAULT_SERVERS = ("project", "project-2w", "litserve", "bentoml", "rayserve")
WORKLOADS = {"short": "short texts", "imdb": "IMDB reviews"}
CHECK_TEXTS = 64  # texts whose answers each server must give before any load
TOLERANCE = 1e-6


def server_config(name: str, precision: str, args: argparse.Namespace, tmp: Path) -> tuple[list[str], dict[str, str]]:
    """argv (less --port) and environment of one server."""
    model = {"SENTIMENT_MODEL_DIR": args.model} if args.model else {}
    if name.startswith("project"):
        env = {
            "SENTIMENT_DATABASE_URL": f"sqlite:///{tmp}/log-{name}-{precision}.db",
            "SENTIMENT_LOG_TEXT": "hash",
            "SENTIMENT_PRECISION": precision,
            **model,
        }
        if name == "project-2w":  # the peers' layout: a process per core, one thread each
            env.update(SENTIMENT_WORKERS=str(args.peer_workers), SENTIMENT_INFERENCE_THREADS=str(args.peer_threads))
        return [sys.executable, "-m", "service", "--log-level", "warning"], env
    framework = "bentoml" if name.startswith("bentoml") else name
    env = {
        "PYTHONPATH": str(ROOT),
        "PEERS_PRECISION": precision,
        "PEERS_WORKERS": str(args.peer_workers),
        "PEERS_THREADS": str(args.peer_threads),
        "BENTOML_HOME": str(tmp / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "true",
        "RAY_USAGE_STATS_ENABLED": "0",
        **model,
    }
    python = str(venv_python(framework))
    if framework == "bentoml":
        service = "Sentiment" if name == "bentoml-wrapper" else "SentimentBatch"
        bentoml = str(venv_python(framework).parent / "bentoml")
        return [bentoml, "serve", f"bench.peers.bentoml_service:{service}", "--host", "127.0.0.1"], env
    return [python, "-m", f"bench.peers.{name}_app"], env


def body(name: str, text: str) -> dict[str, Any]:
    """The request body: the service's {"text": ...}; BentoML's batchable endpoint takes a list of one."""
    return {"text": [text]} if name == "bentoml" else {"text": text}


def answer(name: str, payload: Any) -> dict[str, Any]:
    return payload[0] if name == "bentoml" else payload  # type: ignore[no-any-return]


def check_answers(server: Server, name: str, texts: list[str], reference: list[Any]) -> str | None:
    """None when the server's answers to `texts` (sent one at a time) are the reference's: the same label,
    every probability within TOLERANCE; else what differs."""
    worst = 0.0
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for text, want in zip(texts, reference, strict=True):
            r = client.post("/v1/sentiment", json=body(name, text))
            if r.status_code != 200:
                return f"HTTP {r.status_code} for {text[:40]!r}: {r.text[:200]}"
            got = answer(name, r.json())
            if got["label"] != want.label:
                return f"label {got['label']} instead of {want.label} for {text[:40]!r}"
            if set(got["probabilities"]) != set(want.probabilities):
                return f"labels {sorted(got['probabilities'])} instead of {sorted(want.probabilities)}"
            worst = max(worst, *(abs(got["probabilities"][k] - v) for k, v in want.probabilities.items()))
    if worst > TOLERANCE:
        return f"probabilities differ by up to {worst:.2e} (> {TOLERANCE:g})"
    return None


def ready_by_post(name: str, text: str):  # type: ignore[no-untyped-def]
    """Ready once POST /v1/sentiment answers 200 (each framework has its own health route; this one is the same
    for all, and true only once a model is loaded behind it)."""

    def ready(url: str) -> bool:
        return httpx.post(url + "/v1/sentiment", json=body(name, text), timeout=5).status_code == 200

    return ready


def list_bodies(texts: list[str]) -> Path:
    handle = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False)
    for t in texts:
        handle.write(json.dumps({"text": [t]}) + "\n")
    handle.close()
    return Path(handle.name)


def run_server(
    name: str,
    precision: str,
    order: list[str],
    args: argparse.Namespace,
    tmp: Path,
    texts: dict[str, list[str]],
    bodies: dict[str, dict[str, Path]],
    reference: list[Any],
) -> dict[str, Any]:
    """Start one server, check its answers, run its cells in `order`, read its memory, stop it."""
    argv, env = server_config(name, precision, args, tmp)
    log = tmp / f"{name}-{precision}.log"
    check = texts["short"][:8] + texts["imdb"][: CHECK_TEXTS - 8]
    try:
        server = Server(
            name,
            argv,
            env,
            ready=ready_by_post(name, check[0]),
            ready_timeout=240,
            log=log,
            own_session=True,
        )
    except Exception as exc:  # noqa: BLE001 (reported, the other servers go on)
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        print(f"  {name}: did not start ({exc})\n{tail}", flush=True)
        return {"error": f"did not start: {exc}"}
    out: dict[str, Any] = {"start_to_ready_s": server.start_to_ready}
    try:
        problem = check_answers(server, name, check, reference)
        if problem:
            print(f"  {name}: answers differ from Predictor.predict, skipped: {problem}", flush=True)
            return {"error": f"answers differ: {problem}"}
        for workload in order:
            r = wrk(
                server.url,
                "/v1/sentiment",
                bodies["list" if name == "bentoml" else "plain"][workload],
                args.concurrency,
                args.duration,
            )
            out[workload] = r
            print(
                f"  {name} {workload}: {r['rps']:.0f} req/s, p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
                f"errors {r['errors']:.0f}",
                flush=True,
            )
        rss, pss, processes = server.tree_memory_mb()
        out.update(rss_mb=rss, pss_mb=pss, processes=processes)
        print(f"  {name}: after load RSS {rss:.0f} MiB, PSS {pss:.0f} MiB, {processes} processes", flush=True)
    finally:
        server.stop()
    return out


def figures(values: list[float], fmt: str = "{:,.0f}") -> str:
    return ", ".join(fmt.format(v) if not math.isnan(v) else "–" for v in values)


def table(precision: str, rounds: list[dict[str, dict[str, Any]]], servers: list[str]) -> str:
    lines = [
        f"#### {precision}: req/s at c=64 (one figure per round), p99 ms, memory of the process tree after load\n",
        "| server | short texts req/s | IMDB reviews req/s | p99 ms short / reviews | RSS MiB | PSS MiB |",
        "| --- | ---: | ---: | --- | ---: | ---: |",
    ]
    for name in servers:
        cells = [r.get(name, {}) for r in rounds]
        errors = {c["error"] for c in cells if "error" in c}
        if errors and all("error" in c for c in cells):
            lines.append(f"| {name} | {'; '.join(sorted(errors))} | | | | |")
            continue

        def pick(workload: str, key: str, cells: list[dict[str, Any]] = cells) -> list[float]:
            return [c[workload][key] if workload in c else float("nan") for c in cells]

        p99 = " / ".join(figures(pick(w, "p99_ms")) for w in WORKLOADS)
        errs = sum(c[w]["errors"] for c in cells for w in WORKLOADS if w in c)
        mem = [c.get("rss_mb", float("nan")) for c in cells], [c.get("pss_mb", float("nan")) for c in cells]
        lines.append(
            f"| {name} | {figures(pick('short', 'rps'))} | {figures(pick('imdb', 'rps'))} | {p99}"
            f"{f' ({errs:.0f} errors)' if errs else ''} | {figures(mem[0])} | {figures(mem[1])} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imdb", help="aclImdb folder or .tar.gz (test reviews are sent); required unless --setup")
    parser.add_argument("--model", help="artifact directory (default: the shipped model)")
    parser.add_argument("--precision", default="fp32", help="comma-separated: fp32, int8, bf16 (project and peers)")
    parser.add_argument("--servers", default=",".join(DEFAULT_SERVERS), help=f"comma-separated, of {','.join(SERVERS)}")
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--concurrency", type=int, default=64, help="wrk connections")
    parser.add_argument("--rounds", type=int, default=2, help="the matrix this many times, reversed every other")
    parser.add_argument(
        "--peer-workers",
        type=int,
        default=os.cpu_count() or 1,
        help="inference processes (replicas) of each framework (default: one per core, as LitServe's and "
        "BentoML's docs advise for CPU)",
    )
    parser.add_argument(
        "--peer-threads",
        type=int,
        help="intra-op threads of each peer predictor (default: 1 with several workers, else 0 = ONNX Runtime's)",
    )
    parser.add_argument("--setup", action="store_true", help="only create the frameworks' venvs, then exit")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if args.peer_threads is None:
        args.peer_threads = 1 if args.peer_workers > 1 else 0
    servers = [s for s in args.servers.split(",") if s]
    unknown = set(servers) - set(SERVERS)
    if unknown:
        parser.error(f"unknown servers {sorted(unknown)}; known: {', '.join(SERVERS)}")
    frameworks = sorted({"bentoml" if s.startswith("bentoml") else s for s in servers if not s.startswith("project")})
    for name in frameworks:
        setup(name)
    if args.setup:
        for name in frameworks:
            print(name, versions(name))
        return 0
    if not args.imdb:
        parser.error("--imdb is required")
    if not shutil.which("wrk"):
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2

    import importlib.metadata as metadata

    from model.predictor import load_predictor

    print(f"CPU: {describe()}")
    project = {d: metadata.version(d) for d in ("onnxruntime", "numpy", "fastapi", "uvicorn")}
    print(f"project: python -m service on this venv ({sys.version.split()[0]}), {project}")
    for name in frameworks:
        print(f"{name}: {versions(name)}")
    print(
        f"peers: {args.peer_workers} worker(s) each, {args.peer_threads or 'default'} intra-op thread(s) per "
        f"predictor; batches of 32, 5 ms wait (BentoML: adaptive); wrk -t1 -c{args.concurrency} "
        f"-d{args.duration}s; {args.rounds} rounds, the order reversed every other\n",
        flush=True,
    )
    texts = bench_texts(args.imdb)
    bodies = {
        "plain": {w: write_bodies(t) for w, t in texts.items()},
        "list": {w: list_bodies(t) for w, t in texts.items()},
    }
    tmp = Path(tempfile.mkdtemp(prefix="peers_bench_"))
    results: dict[str, Any] = {"cpu": describe(), "versions": {n: versions(n) for n in frameworks}}
    interrupted = False

    def terminate(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    tables = []
    try:
        for precision in args.precision.split(","):
            model = load_predictor(args.model, precision=precision)
            check = texts["short"][:8] + texts["imdb"][: CHECK_TEXTS - 8]
            reference = [model.predict([t])[0] for t in check]  # one at a time: as the check sends them
            rounds: list[dict[str, dict[str, Any]]] = []
            for k in range(args.rounds):
                order = servers if k % 2 == 0 else servers[::-1]
                workloads = list(WORKLOADS) if k % 2 == 0 else list(WORKLOADS)[::-1]
                print(f"{precision}, round {k + 1}: {' -> '.join(order)}", flush=True)
                rounds.append(
                    {s: run_server(s, precision, workloads, args, tmp, texts, bodies, reference) for s in order}
                )
            results[precision] = rounds
            tables.append(table(precision, rounds, servers))
            print("\n" + tables[-1] + "\n", flush=True)
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted: every server started was stopped", file=sys.stderr)
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        interrupted = True
    finally:
        for paths in bodies.values():
            for path in paths.values():
                path.unlink(missing_ok=True)
    if tables:
        print("\n\n".join(tables))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    print(f"server logs: {tmp}")
    return 1 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
