"""The log writer while log retention prunes a big log: rate and commit latency, before and during.

    flock /tmp/bench.lock .venv/bin/python -m bench.retention_bench --engine sqlite --rows 10000000
    flock /tmp/bench.lock .venv/bin/python -m bench.retention_bench --engine postgresql --rows 10000000

1. A fresh database filled as `bench.log_bench` fills it: `rows` hash-mode rows over the last 30
   days, in time order.
2. Paced writes (`--rate` rows/s through the service's RequestLogWriter, for `--seconds`): the
   commit latency of each row (from `add` to the commit of its group), p50 / p99 / max, and the
   rate reached; first with nothing else running, then while a retention pass of 15 days (half the
   rows) runs in another thread, started 2 s into the phase, as the service runs it
   (`service.log.retention.prune`: batches of 5,000, 50 ms apart, or on a partitioned log one
   DETACH / DROP per day), and the pass's own rows/s.
3. The writer's top rate (as fast as it commits) without and during a prune (if it still runs).

On PostgreSQL (`--layout both`, the default there) two databases in one server: a plain table and a
log partitioned by day from the start (day partitions made for the 30 days before the fill), each
vacuumed after its fill; the top rates alternate between them (`--rounds`, median shown, a
CHECKPOINT before each). Then the prune on each: row deletes on the plain table, day partitions
dropped on the other. Last, `python -m service partition-log`'s conversion of what is left of the
plain table, paced writes running through it, and the top rate after it. The databases are
deleted at the end.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from bench.log_bench import SPAN_S, VERSION, fill, measure_writer
from bench.machine import describe
from service.log import RequestLogRow, RequestLogWriter, make_engine, upgrade_schema
from service.log import partitions as parts
from service.log.retention import prune

ROW: dict[str, Any] = {
    "endpoint": "sentiment", "item_index": 0, "client_key_id": "a1b2c3d4e5f6", "text": None, "text_sha256": "9" * 64,
    "text_chars": 120, "label": "positive", "score": 0.93, "model_version": VERSION, "batch_size": 16,
    "queue_wait_ms": 1.2, "latency_ms": 4.5, "status": 200, "error_code": None, "explain": False, "sentences": False,
    "tokens": 30, "unknown_tokens": 2, "model": None, "language": None,
}  # fmt: skip


def paced(
    engine: Engine, rate: int, seconds: float, more: Callable[[], bool] = lambda: False
) -> tuple[float, float, float, float]:
    """Rows at `rate` per second for `seconds` (and on while `more()`): (rows/s committed, p50, p99, max ms)."""
    added: list[float] = []
    committed: list[float] = []
    lock = threading.Lock()

    def on_written(count: int) -> None:
        with lock:
            committed.extend([time.perf_counter()] * count)

    writer = RequestLogWriter(engine, flush_s=0.1, max_pending=1_000_000, on_written=on_written)
    writer.start()
    began = time.perf_counter()
    i = 0
    while i < rate * seconds or more():
        due = began + i / rate
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        added.append(time.perf_counter())
        writer.add({**ROW, "created_at": datetime.now(UTC), "request_id": f"paced{i:011d}"})
        i += 1
    writer.stop()
    elapsed = (committed[-1] if committed else time.perf_counter()) - began
    latencies = sorted((c - a) * 1000 for a, c in zip(added, committed, strict=False))
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    return len(committed) / elapsed, statistics.median(latencies), p99, latencies[-1]


class InThread:
    """`work` in a thread, `delay_s` after entering: its result and how long it took."""

    def __init__(self, work: Callable[[], Any], delay_s: float = 2.0) -> None:
        self.work, self.delay_s = work, delay_s
        self.result: Any = None
        self.seconds = 0.0
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        time.sleep(self.delay_s)  # the writer first runs alone a moment
        began = time.perf_counter()
        self.result = self.work()
        self.seconds = time.perf_counter() - began

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    def __enter__(self) -> InThread:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.thread.join()


def retention(engine: Engine) -> Any:
    """A retention pass of half the log (15 of 30 days), as the service runs one."""
    return prune(engine, now=datetime.now(UTC), retention_days=15, rollup_on=False)


def report(what: str, rate: float, p50: float, p99: float, worst: float) -> None:
    print(f"{what:>32}: {rate:7.0f} rows/s, commit p50 {p50:6.1f} ms, p99 {p99:6.1f} ms, max {worst:6.1f} ms")


def settle(engine: Engine) -> None:
    """PostgreSQL: VACUUM ANALYZE (so autovacuum does not start on the fresh rows mid-measure), then CHECKPOINT."""
    if engine.dialect.name != "postgresql":
        return
    with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as connection:
        connection.exec_driver_sql("VACUUM (ANALYZE) request_log")
        connection.exec_driver_sql("CHECKPOINT")


def quiet(engines: dict[str, Engine], args: argparse.Namespace) -> None:
    """Each log alone: paced writes, then the top rate, `--rounds` times alternating between the logs."""
    print("\n## the writer alone")
    for label, engine in engines.items():
        report(f"{label}: paced {args.rate}/s", *paced(engine, args.rate, args.seconds))
    tops: dict[str, list[float]] = {label: [] for label in engines}
    for _ in range(args.rounds):
        for label, engine in engines.items():
            settle(engine)
            tops[label].append(measure_writer(engine, args.top)[0])
    for label, rates in tops.items():
        listed = ", ".join(f"{r:,.0f}" for r in rates)
        print(f"{label + ': top rate':>32}: median {statistics.median(rates):7.0f} rows/s ({listed})")


def during_prune(engine: Engine, args: argparse.Namespace, label: str) -> None:
    """The writer while a retention pass of half the log runs (started 2 s into the paced phase)."""
    print(f"\n## {label}: a retention pass of 15 days")
    settle(engine)
    with InThread(lambda: retention(engine)) as pruning:
        report(f"paced {args.rate}/s, during a prune", *paced(engine, args.rate, args.seconds))
        still = pruning.running
        top, _, _, _ = measure_writer(engine, args.top)
        what = "during the prune" if still else "after the prune"
        print(f"{'top rate, ' + what:>32}: {top:7.0f} rows/s")
    result = pruning.result
    dropped = f", {len(result.partitions)} partitions dropped" if result.partitions else ""
    speed = result.rows / max(pruning.seconds, 1e-9)
    print(f"the prune: {result.rows:,} rows in {pruning.seconds:.1f} s ({speed:,.0f} rows/s{dropped})")
    with engine.connect() as connection:
        print(f"rows left: {connection.scalar(select(func.count()).select_from(RequestLogRow)):,}")


def conversion(engine: Engine, args: argparse.Namespace) -> None:
    """`python -m service partition-log`'s conversion, the writer paced through it; its top rate after."""
    with InThread(lambda: parts.convert(engine, now=datetime.now(UTC)), delay_s=1) as converting:
        report(f"paced {args.rate}/s, converting", *paced(engine, args.rate, 2, more=lambda: converting.running))
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in (converting.result.seconds or {}).items())
    print(f"the conversion: {converting.result.rows:,} rows in {converting.seconds:.1f} s ({steps})")
    top, _, _, _ = measure_writer(engine, args.top)
    print(f"{'top rate, after conversion':>32}: {top:7.0f} rows/s (rows go to the converted table's partition)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--layout",
        choices=["plain", "partitioned", "both"],
        default=None,
        help="PostgreSQL: one table, partitioned by day, or both in turn (default: both; SQLite: plain)",
    )
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--rate", type=int, default=2000, help="paced writes, rows/s")
    parser.add_argument("--seconds", type=float, default=20, help="paced writes, seconds per phase")
    parser.add_argument("--top", type=int, default=100_000, help="rows for each top-rate measurement")
    parser.add_argument("--rounds", type=int, default=3, help="top-rate measurements per log, alternating")
    args = parser.parse_args()
    layout = args.layout or ("both" if args.engine == "postgresql" else "plain")
    if args.engine == "sqlite" and layout != "plain":
        parser.error("SQLite has no partitions: --layout plain")
    print(f"{describe()} | {args.engine}, {args.rows:,} rows, layout {layout}")
    workdir = Path(tempfile.mkdtemp(prefix="retention-bench-"))
    server = None
    try:
        if args.engine == "postgresql":
            from tests.support.pgserver import PostgresServer

            server = PostgresServer(fsync=True)
            server.__enter__()
        engines: dict[str, Engine] = {}
        for partitioned in [False, True] if layout == "both" else [layout == "partitioned"]:
            label = "partitioned by day" if partitioned else "one table"
            url = f"sqlite:///{workdir / 'log.db'}" if server is None else server.create_database()
            engine = engines[label] = make_engine(url, durable=False)
            upgrade_schema(engine, partition=partitioned)
            start = datetime.now(UTC) - timedelta(seconds=SPAN_S)
            if partitioned:
                made = parts.maintain(engine, now=datetime.now(UTC), first_day=start)
                print(f"{label}: {len(made.created)} day partitions made for the fill")
            seconds = fill(engine, args.rows, args.rows, start)
            began = time.perf_counter()
            settle(engine)
            vacuum_s = time.perf_counter() - began
            print(f"{label}: {args.rows:,} rows over 30 days in {seconds:.0f} s, vacuumed in {vacuum_s:.0f} s")
        quiet(engines, args)
        for label, engine in engines.items():
            during_prune(engine, args, label)
        if "one table" in engines and server is not None:
            print("\n## one table: python -m service partition-log's conversion")
            conversion(engines["one table"], args)
        for engine in engines.values():
            engine.dispose()
    finally:
        if server is not None:
            server.__exit__(None, None, None)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
