"""The log writer while log retention prunes a big log: rate and commit latency, before and during.

    flock /tmp/bench.lock .venv/bin/python -m bench.retention_bench --engine sqlite --rows 10000000

1. A fresh database filled as `bench.log_bench` fills it: `rows` hash-mode rows over the last 30
   days, in time order.
2. Paced writes (`--rate` rows/s through the service's RequestLogWriter, for `--seconds`): the
   commit latency of each row (from `add` to the commit of its group), p50 / p99 / max, and the
   rate reached; first with nothing else running, then while a retention pass of 15 days (half the
   rows) runs in another thread, as the service runs it (`service.log.retention.prune`, batches of
   5,000, 50 ms apart), and the pass's own rows/s.
3. The writer's top rate (as fast as it commits) without and during a prune.
The database is deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from bench.log_bench import SPAN_S, VERSION, fill, measure_writer
from service.log import RequestLogRow, RequestLogWriter, make_engine, upgrade_schema
from service.log.retention import prune

ROW: dict[str, Any] = {
    "endpoint": "sentiment", "item_index": 0, "client_key_id": "a1b2c3d4e5f6", "text": None, "text_sha256": "9" * 64,
    "text_chars": 120, "label": "positive", "score": 0.93, "model_version": VERSION, "batch_size": 16,
    "queue_wait_ms": 1.2, "latency_ms": 4.5, "status": 200, "error_code": None, "explain": False, "sentences": False,
    "tokens": 30, "unknown_tokens": 2,
}  # fmt: skip


def paced(engine: Engine, rate: int, seconds: float) -> tuple[float, float, float, float]:
    """Rows at `rate` per second for `seconds`: (rows/s committed, p50, p99, max commit latency in ms)."""
    added: list[float] = []
    committed: list[float] = []
    lock = threading.Lock()

    def on_written(count: int) -> None:
        with lock:
            committed.extend([time.perf_counter()] * count)

    writer = RequestLogWriter(engine, flush_s=0.1, max_pending=1_000_000, on_written=on_written)
    writer.start()
    began = time.perf_counter()
    total = int(rate * seconds)
    for i in range(total):
        due = began + i / rate
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        added.append(time.perf_counter())
        writer.add({**ROW, "created_at": datetime.now(UTC), "request_id": f"paced{i:011d}"})
    writer.stop()
    elapsed = (committed[-1] if committed else time.perf_counter()) - began
    latencies = sorted((c - a) * 1000 for a, c in zip(added, committed, strict=False))
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    return len(committed) / elapsed, statistics.median(latencies), p99, latencies[-1]


class Pruning:
    """A retention pass of half the log in a thread, as the service runs one."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.rows = 0
        self.seconds = 0.0
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        began = time.perf_counter()
        result = prune(self.engine, now=datetime.now(UTC), retention_days=15, rollup_on=False)
        self.rows, self.seconds = result.rows, time.perf_counter() - began

    def __enter__(self) -> Pruning:
        self.thread.start()
        time.sleep(2)  # into its stride
        return self

    def __exit__(self, *_: object) -> None:
        self.thread.join()


def report(what: str, rate: float, p50: float, p99: float, worst: float) -> None:
    print(f"{what:>32}: {rate:7.0f} rows/s, commit p50 {p50:6.1f} ms, p99 {p99:6.1f} ms, max {worst:6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--rate", type=int, default=2000, help="paced writes, rows/s")
    parser.add_argument("--seconds", type=float, default=20, help="paced writes, seconds per phase")
    parser.add_argument("--top", type=int, default=100_000, help="rows for each top-rate measurement")
    args = parser.parse_args()
    flags = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    print(" ".join(f for f in ("avx2", "avx512f", "avx512_vnni", "amx_int8") if f in flags), "| cores:", os.cpu_count())
    workdir = Path(tempfile.mkdtemp(prefix="retention-bench-"))
    server = None
    try:
        if args.engine == "sqlite":
            url = f"sqlite:///{workdir / 'log.db'}"
        else:
            from tests.support.pgserver import PostgresServer

            server = PostgresServer(fsync=True)
            server.__enter__()
            url = server.create_database()
        engine = make_engine(url, durable=False)
        upgrade_schema(engine)
        start = datetime.now(UTC) - timedelta(seconds=SPAN_S)
        print(f"fill: {args.rows:,} rows over 30 days in {fill(engine, args.rows, args.rows, start):.0f} s")
        report(f"paced {args.rate}/s, quiet", *paced(engine, args.rate, args.seconds))
        top, _, _, _ = measure_writer(engine, args.top)
        print(f"top rate, quiet:              {top:7.0f} rows/s")
        with Pruning(engine) as pruning:
            report(f"paced {args.rate}/s, during a prune", *paced(engine, args.rate, args.seconds))
            top, _, _, _ = measure_writer(engine, args.top)
            print(f"top rate, during a prune:     {top:7.0f} rows/s")
        speed = pruning.rows / max(pruning.seconds, 1e-9)
        print(f"the prune: {pruning.rows:,} rows in {pruning.seconds:.0f} s ({speed:,.0f} rows/s)")
        with engine.connect() as connection:
            print(f"rows left: {connection.scalar(select(func.count()).select_from(RequestLogRow)):,}")
        engine.dispose()
    finally:
        if server is not None:
            server.__exit__(None, None, None)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
