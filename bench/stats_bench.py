"""GET /v1/stats latency at scale: N log rows on SQLite or PostgreSQL, windows of 1 h, 24 h and 7 d.

    python bench/stats_bench.py --engine sqlite,postgresql --rows 1000000,10000000 --lock /tmp/bench.lock

(`--lock` holds the shared machine's benchmark lock only for the timed calls, not while the rows
are generated.)

Rows are generated inside the database (a recursive CTE on SQLite, generate_series on
PostgreSQL) spread evenly over the last `--days` days (default 30, so a 7 d window holds ~23% of
them), with the service's schema and indexes (its Alembic migrations); the indexes are dropped
while loading and built again after, as a bulk load would. Each window is asked `--repeat` times
through the real app (TestClient: routing, validation, the same code as a served request) after
one warm-up call (fewer when a window's calls pass `--budget-s`, at least 3); the table gives
p50, p99 (of so few calls, the slowest but one or the slowest) and max. The databases are deleted afterwards.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SQLITE_FILL = """
INSERT INTO request_log (created_at, request_id, endpoint, item_index, client_key_id, text, text_sha256,
    text_chars, label, score, model_version, batch_size, queue_wait_ms, latency_ms, status, error_code,
    explain, sentences, tokens, unknown_tokens)
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :rows - 1),
r AS MATERIALIZED (SELECT i, abs(random()) AS a, abs(random()) AS b FROM n)
SELECT strftime('%Y-%m-%d %H:%M:%f', :end_s - (i * :span_s) / :rows, 'unixepoch') || '000',
    'r' || (i + :offset), 'sentiment', 0, 'k' || (a % 4), 'A short review of a film, about this long.', NULL,
    20 + a % 400, CASE WHEN a % 100 = 0 THEN NULL WHEN b % 2 = 0 THEN 'positive' ELSE 'negative' END,
    CASE WHEN a % 100 = 0 THEN NULL ELSE 0.5 + (b % 500) / 1000.0 END,
    CASE WHEN a % 100 = 0 THEN NULL WHEN i % 2 = 0 THEN 'v1' ELSE 'v2' END,
    CASE WHEN a % 100 = 0 THEN NULL ELSE 1 + b % 32 END,
    CASE WHEN a % 100 = 0 THEN NULL ELSE (b % 2000) / 100.0 END,
    1 + (a % 5000) / 100.0, CASE WHEN a % 100 = 0 THEN 422 ELSE 200 END,
    CASE WHEN a % 100 = 0 THEN 'invalid_text' END, 0, 0,
    CASE WHEN a % 100 = 0 THEN NULL ELSE 4 + a % 80 END, CASE WHEN a % 100 = 0 THEN NULL ELSE b % 4 END
FROM r
"""

POSTGRESQL_FILL = """
INSERT INTO request_log (created_at, request_id, endpoint, item_index, client_key_id, text, text_sha256,
    text_chars, label, score, model_version, batch_size, queue_wait_ms, latency_ms, status, error_code,
    explain, sentences, tokens, unknown_tokens)
SELECT to_timestamp(:end_s - (i::float8 * :span_s) / :rows), 'r' || (i + :offset), 'sentiment', 0, 'k' || (a % 4),
    'A short review of a film, about this long.', NULL,
    20 + a % 400, CASE WHEN a % 100 = 0 THEN NULL WHEN b % 2 = 0 THEN 'positive' ELSE 'negative' END,
    CASE WHEN a % 100 = 0 THEN NULL ELSE 0.5 + (b % 500) / 1000.0 END,
    CASE WHEN a % 100 = 0 THEN NULL WHEN i % 2 = 0 THEN 'v1' ELSE 'v2' END,
    CASE WHEN a % 100 = 0 THEN NULL ELSE 1 + b % 32 END,
    CASE WHEN a % 100 = 0 THEN NULL ELSE (b % 2000) / 100.0 END,
    1 + (a % 5000) / 100.0, CASE WHEN a % 100 = 0 THEN 422 ELSE 200 END,
    CASE WHEN a % 100 = 0 THEN 'invalid_text' END, false, false,
    CASE WHEN a % 100 = 0 THEN NULL ELSE 4 + a % 80 END, CASE WHEN a % 100 = 0 THEN NULL ELSE b % 4 END
FROM (SELECT i, (random() * 1e9)::bigint AS a, (random() * 1e9)::bigint AS b
      FROM generate_series(0, :rows - 1) AS i) AS r
"""


def index_ddl(engine: Engine) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of request_log's indexes (not the primary key)."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            query = (
                "SELECT name, sql FROM sqlite_master"
                " WHERE type = 'index' AND tbl_name = 'request_log' AND sql IS NOT NULL"
            )
        else:
            query = (
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'request_log' AND indexname LIKE 'ix_%'"
            )
        return [(name, ddl) for name, ddl in connection.execute(text(query))]


def fill(engine: Engine, rows: int, days: float, feedback_every: int) -> float:
    started = time.perf_counter()
    indexes = index_ddl(engine)
    end_s = time.time()
    with engine.begin() as connection:
        for name, _ in indexes:
            connection.execute(text(f"DROP INDEX {name}"))
        sql = SQLITE_FILL if engine.dialect.name == "sqlite" else POSTGRESQL_FILL
        chunk = 1_000_000
        for offset in range(0, rows, chunk):  # chunks keep the CTE's memory small; times stay evenly spread
            n = min(chunk, rows - offset)
            span = days * 86400 * n / rows
            connection.execute(
                text(sql),
                {"rows": n, "end_s": end_s - days * 86400 * offset / rows, "span_s": span, "offset": offset},
            )
        if feedback_every:  # feedback on one prediction in `feedback_every`, a third of them corrections
            connection.execute(
                text(
                    "INSERT INTO feedback (created_at, updated_at, request_id, item_index, label)"
                    " SELECT created_at, created_at, request_id, item_index,"
                    " CASE WHEN id % 3 = 0 THEN 'negative' ELSE label END"
                    " FROM request_log WHERE id % :every = 0 AND label IS NOT NULL"
                ),
                {"every": feedback_every},
            )
        for _, ddl in indexes:
            connection.execute(text(ddl))
        if engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE request_log"))
            connection.execute(text("ANALYZE feedback"))
        else:
            connection.execute(text("ANALYZE"))
    print(f"indexes: {', '.join(name for name, _ in indexes)}", file=sys.stderr)
    return time.perf_counter() - started


@contextmanager
def _locked(path: str | None) -> Iterator[None]:
    if path is None:
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def backfill(engine: Engine) -> tuple[float, int, int]:
    """Build the stats rollup of the whole log as the service's background task would: (seconds, passes, rows)."""
    from service.log.rollup import roll_up

    started = time.perf_counter()
    passes = 0
    while True:
        progress = roll_up(engine, now=time.time(), lag_s=60)
        passes += 1
        if not progress.behind:
            break
    elapsed = time.perf_counter() - started
    with engine.connect() as connection:
        count = int(connection.execute(text("SELECT count(*) FROM stats_rollup")).scalar_one())
        if engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE stats_rollup"))
    return elapsed, passes, count


def measure(url: str, label: str, rows: int, args: argparse.Namespace, *, rollup: bool) -> None:
    """Ask /v1/stats for each window through the real app; print one table row per window."""
    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.config import Settings

    admin = "bench-admin-key"
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=url, admin_keys=[admin], drift_refresh_s=0, stats_rollup_s=30 if rollup else 0
    )
    with TestClient(create_app(settings)) as client:
        for window in args.windows.split(","):
            times: list[float] = []
            answer = None
            window_started = time.monotonic()
            for i in range(args.repeat + 1):
                if len(times) >= 3 and time.monotonic() - window_started > args.budget_s:
                    break
                started = time.perf_counter()
                response = client.get("/v1/stats", params={"window": window}, headers={"X-API-Key": admin})
                elapsed = (time.perf_counter() - started) * 1000
                assert response.status_code == 200, response.text
                answer = response.json()
                if i:
                    times.append(elapsed)
            times.sort()
            p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
            total = answer["requests"]["total"] if answer else 0
            print(
                f"| {label} | {rows:,} | {window} | {'rollup' if rollup else 'raw log'} | {total:,} "
                f"| {statistics.median(times):.0f} "
                f"| {p99:.0f} | {times[-1]:.0f} | {len(times)} |",
                flush=True,
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default="sqlite", help="log databases, comma-separated: sqlite, postgresql or both")
    parser.add_argument("--rows", default="1000000", help="log rows to generate, comma-separated sizes")
    parser.add_argument("--days", type=float, default=30, help="the rows are spread over this many days up to now")
    parser.add_argument("--repeat", type=int, default=20, help="most calls per window (after one warm-up)")
    parser.add_argument(
        "--budget-s", type=float, default=60, help="stop calling a window after this long (at least 3 calls)"
    )
    parser.add_argument("--windows", default="1h,24h,7d", help="comma-separated windows")
    parser.add_argument(
        "--feedback-every", type=int, default=1000, help="one feedback row per this many log rows (0 = none)"
    )
    parser.add_argument(
        "--raw", action="store_true", help="also time every window on the raw log (rollup off) before the rollup"
    )
    parser.add_argument(
        "--lock", help="take this file's lock (flock) for the timed calls only, not while generating the rows"
    )
    args = parser.parse_args()

    from service.log import make_engine, upgrade_schema

    root = Path(tempfile.mkdtemp(prefix="stats-bench-", dir="/tmp"))
    server = None
    databases: list[tuple[str, str, int]] = []  # (engine, url, rows) to time raw: all generated first
    rolled: list[tuple[str, str, int]] = []

    def rolled_up(engine_name: str, engine: Engine, url: str, rows: int) -> None:
        seconds, passes, count = backfill(engine)
        print(
            f"{engine_name}: {rows:,} rows: stats rollup backfilled in {seconds:.0f} s "
            f"({passes} passes, {count:,} rollup rows)",
            file=sys.stderr,
            flush=True,
        )
        rolled.append((engine_name, url, rows))

    try:
        for engine_name in args.engine.split(","):
            for rows in (int(n) for n in args.rows.split(",")):
                if engine_name == "sqlite":
                    url = f"sqlite:///{root / f'log-{rows}.db'}"
                else:
                    if server is None:
                        from tests.support.pgserver import PostgresServer

                        server = PostgresServer()
                        server.start()
                    url = server.create_database(f"bench_{rows}")
                engine = make_engine(url, durable=False)
                upgrade_schema(engine)
                load_s = fill(engine, rows, args.days, args.feedback_every)
                print(f"{engine_name}: {rows:,} rows over {args.days:g} days loaded in {load_s:.0f} s", file=sys.stderr)
                if args.raw:
                    databases.append((engine_name, url, rows))
                else:
                    rolled_up(engine_name, engine, url, rows)
                engine.dispose()
        print("\n| engine | rows | window | read from | rows in window | p50 ms | p99 ms | max ms | calls |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |", flush=True)
        with _locked(args.lock):
            for engine_name, url, rows in databases:
                measure(url, engine_name, rows, args, rollup=False)
        if args.raw:  # the rollup is built after the raw calls (the backfill is timed outside the lock)
            for engine_name, url, rows in databases:
                engine = make_engine(url, durable=False)
                rolled_up(engine_name, engine, url, rows)
                engine.dispose()
        with _locked(args.lock):
            for engine_name, url, rows in rolled:
                measure(url, engine_name, rows, args, rollup=True)
    finally:
        if server is not None:
            server.close()
        import shutil

        if not os.environ.get("STATS_BENCH_KEEP"):
            shutil.rmtree(root, ignore_errors=True)  # the big databases go
    return 0


if __name__ == "__main__":
    sys.exit(main())
