"""Scale-out benches: worker processes, replicas behind HAProxy, rollout convergence, failover.

    python bench/replicas_bench.py workers  --workers 1,2            # req/s, one port (wrk)
    python bench/replicas_bench.py workers  --workers 1,2,4,8,16     # the curve, on a machine with the cores
    python bench/replicas_bench.py proxy    --replicas 1,2,3         # req/s through HAProxy (wrk)
    python bench/replicas_bench.py rollout  --replicas 3 --rollouts 5 --poll 0.5,1,2
    python bench/replicas_bench.py failover --duration 30 --kills 3  # kill -9 under load, long version

Real processes on loopback: `python -m service` (the shipped model unless --model), PostgreSQL
(tests/support/pgserver.py) as the shared log, Debian's HAProxy (bench/fleet.py) and wrk. Prints
markdown tables; every figure of one table comes from one run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fleet import HAProxy, Replica, drive, start_replicas  # noqa: E402
from bench.http_bench import write_bodies, wrk  # noqa: E402
from bench.predictor_bench import SHORT  # noqa: E402

ADMIN = "bench-admin-key-1"


@contextmanager
def postgres() -> Iterator[str]:
    """A fresh PostgreSQL server and database, migrated once (replicas must not race the first migration)."""
    from service.log import make_engine, upgrade_schema
    from tests.support.pgserver import PostgresServer

    with PostgresServer() as server:
        url = server.create_database()
        engine = make_engine(url, durable=False)
        upgrade_schema(engine)
        engine.dispose()
        yield url


def base_env(args: argparse.Namespace, database_url: str) -> dict[str, str]:
    env = {"SENTIMENT_DATABASE_URL": database_url, "SENTIMENT_LOG_TEXT": "hash", "SENTIMENT_ADMIN_KEYS": ADMIN}
    if args.model:
        env["SENTIMENT_MODEL_DIR"] = args.model
    return env


def bench_workers(args: argparse.Namespace, folder: Path) -> None:
    bodies = write_bodies(SHORT * 10)
    print(f"\n### SENTIMENT_WORKERS on one port: short texts, wrk -t1 -c{args.concurrency}, {args.duration} s\n")
    print("| workers | req/s | p50 ms | p99 ms | errors | start to ready s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for n in [int(x) for x in args.workers.split(",")]:
        env = base_env(args, f"sqlite:///{folder}/workers-{n}.db") | {"SENTIMENT_WORKERS": str(n)}
        server = Replica(env, log_path=folder / f"workers-{n}.log").start()
        try:
            ready = server.wait_ready(180)
            time.sleep(3 if n > 1 else 0)  # /readyz answers once the first worker is up; let the others start
            wrk(server.url, "/v1/sentiment", bodies, args.concurrency, 2)  # warm-up
            r = wrk(server.url, "/v1/sentiment", bodies, args.concurrency, args.duration)
        finally:
            server.stop(60)
        print(f"| {n} | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']:.0f} | {ready:.1f} |")


def bench_proxy(args: argparse.Namespace, folder: Path) -> None:
    bodies = write_bodies(SHORT * 10)
    counts = [int(x) for x in args.replicas.split(",")]
    print(f"\n### Through HAProxy: short texts, wrk -t1 -c{args.concurrency}, {args.duration} s, log on PostgreSQL\n")
    print("| replicas | req/s | p50 ms | p99 ms | errors |")
    print("| --- | --- | --- | --- | --- |")
    with postgres() as url:
        for n in counts:
            replicas = start_replicas([base_env(args, url)] * n, folder, timeout=180)
            proxy = HAProxy([r.address for r in replicas], folder / f"haproxy-{n}")
            try:
                proxy.wait_ready()
                wrk(proxy.url, "/v1/sentiment", bodies, args.concurrency, 2)  # warm-up
                r = wrk(proxy.url, "/v1/sentiment", bodies, args.concurrency, args.duration)
            finally:
                proxy.stop()
                for replica in replicas:
                    replica.stop(60)
            print(f"| {n} | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']:.0f} |")


def second_artifact(source: Path, where: Path) -> Path:
    """A copy of `source` with one weight nudged: same size and load time, another version."""
    import numpy as np
    from safetensors.numpy import load_file, save_file

    shutil.copytree(source, where)
    tensors = load_file(where / "weights.safetensors")
    name = sorted(tensors)[0]
    tensors[name] = (tensors[name] + np.float32(1e-6)).astype(tensors[name].dtype)
    save_file(tensors, where / "weights.safetensors")
    return where


def publish(link: Path, artifact: Path) -> None:
    temporary = link.with_name(link.name + ".new")
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(artifact)
    os.replace(temporary, link)


def bench_rollout(args: argparse.Namespace, folder: Path) -> None:
    from model import DEFAULT_MODEL_DIR

    first = Path(args.model) if args.model else DEFAULT_MODEL_DIR
    artifacts = [first, second_artifact(first, folder / "second")]
    link = folder / "current"
    n = int(args.replicas)
    print(f"\n### Rollout convergence: {n} replicas, reload through one, {args.rollouts} rollouts per poll interval")
    print("(seconds from the admin request to each replica serving the new version; a client load of")
    print(f"{args.threads} threads runs throughout)\n")
    print("| poll s | reload answer s | median s (all replicas) | max s | failed requests | requests |")
    print("| --- | --- | --- | --- | --- | --- |")
    with postgres() as url:
        for poll in [float(x) for x in args.poll.split(",")]:
            publish(link, artifacts[0])
            env = base_env(args, url) | {"SENTIMENT_MODEL_DIR": str(link), "SENTIMENT_ROLLOUT_POLL_S": str(poll)}
            replicas = start_replicas([env] * n, folder, timeout=180)
            stop = threading.Event()
            times: list[float] = []
            answers: list[float] = []
            try:
                with ThreadPoolExecutor(1) as pool:
                    load = pool.submit(drive, [r.url for r in replicas], stop, threads=args.threads)
                    for k in range(args.rollouts):
                        time.sleep(1.0)
                        publish(link, artifacts[(k + 1) % 2])
                        asked = time.monotonic()
                        reload_url = replicas[0].url + "/v1/admin/reload"
                        answer = httpx.post(reload_url, headers={"X-API-Key": ADMIN}, timeout=60)
                        answer.raise_for_status()
                        answers.append(time.monotonic() - asked)
                        new = answer.json()["version"]
                        pending = set(range(n))
                        while pending:
                            for i in list(pending):
                                if httpx.get(replicas[i].url + "/v1/model", timeout=10).json()["version"] == new:
                                    times.append(time.monotonic() - asked)
                                    pending.discard(i)
                            if time.monotonic() - asked > 120:
                                raise RuntimeError(f"replicas {pending} never took {new}")
                            time.sleep(0.01)
                    stop.set()
                    result = load.result()
            finally:
                stop.set()
                for replica in replicas:
                    replica.stop(60)
            print(
                f"| {poll:g} | {statistics.median(answers):.2f} | {statistics.median(times):.2f} | {max(times):.2f} "
                f"| {len(result.errors)} | {result.ok + len(result.errors)} |"
            )


def bench_failover(args: argparse.Namespace, folder: Path) -> None:
    print(f"\n### Failover: 3 replicas behind HAProxy, durable log on PostgreSQL, {args.threads} client threads,")
    print(f"{args.duration} s, kill -9 of one replica {args.kills} times (restarted after each)\n")
    with postgres() as url:
        env = base_env(args, url) | {"SENTIMENT_LOG_MODE": "durable"}
        replicas = start_replicas([env] * 3, folder, timeout=180)
        proxy = HAProxy([r.address for r in replicas], folder / "haproxy")
        stop = threading.Event()
        try:
            proxy.wait_ready()
            with ThreadPoolExecutor(1) as pool:
                load = pool.submit(drive, [proxy.url], stop, threads=args.threads)
                every = args.duration / (args.kills + 1)
                for k in range(args.kills):
                    time.sleep(every)
                    victim = replicas[k % 3]
                    victim.kill()
                    victim.start()  # the same port: HAProxy takes it back once /readyz answers
                time.sleep(every)
                stop.set()
                result = load.result()
        finally:
            stop.set()
            proxy.stop()
            for replica in replicas:
                replica.stop(60)
            from sqlalchemy import create_engine, text

            engine = create_engine(url)
            with engine.connect() as connection:
                logged = {r[0] for r in connection.execute(text("select request_id from request_log"))}
            engine.dispose()
    missing = sum(1 for i in result.ok_ids if i not in logged)
    print("| requests | 200 | client-visible errors | req/s | 200s without a row |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| {result.ok + len(result.errors)} | {result.ok} | {len(result.errors)} | {result.rps:.0f} | {missing} |")
    for error in result.errors[:10]:
        print(f"- {error}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["workers", "proxy", "rollout", "failover"], help="which bench")
    parser.add_argument("--model", help="artifact directory (default: the shipped model)")
    parser.add_argument("--workers", default="1,2", help="workers: comma-separated SENTIMENT_WORKERS values")
    parser.add_argument("--replicas", default="1,2,3", help="proxy: comma-separated replica counts; rollout: one")
    parser.add_argument("--concurrency", type=int, default=64, help="wrk connections")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (failover: whole run)")
    parser.add_argument("--rollouts", type=int, default=5, help="rollout: rollouts per poll interval")
    parser.add_argument("--poll", default="0.5,1,2", help="rollout: comma-separated SENTIMENT_ROLLOUT_POLL_S values")
    parser.add_argument("--threads", type=int, default=4, help="rollout/failover: client threads")
    parser.add_argument("--kills", type=int, default=3, help="failover: how many kill -9")
    args = parser.parse_args()
    if args.what in ("workers", "proxy") and not shutil.which("wrk"):
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    if args.what == "rollout":
        args.replicas = args.replicas if args.replicas != "1,2,3" else "3"
    folder = Path(tempfile.mkdtemp(prefix="replicas-bench-"))
    print(f"(process logs in {folder}; {os.cpu_count()} CPUs)")
    {"workers": bench_workers, "proxy": bench_proxy, "rollout": bench_rollout, "failover": bench_failover}[args.what](
        args, folder
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
