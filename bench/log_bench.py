"""The request log at scale: write rate, bytes per row and the admin read, at millions of rows.

    flock /tmp/bench.lock .venv/bin/python -m bench.log_bench --engine sqlite --rows 10000000
    flock /tmp/bench.lock .venv/bin/python -m bench.log_bench --engine postgresql --rows 10000000

1. A fresh database (a SQLite file with the service's pragmas, or a PostgreSQL 15 server started
   here with fsync on), migrated to head by the service's own `upgrade_schema`.
2. Filled to `rows - measure` rows with one set-based INSERT ... SELECT per million rows (a
   recursive CTE on SQLite, generate_series on PostgreSQL): hash-mode rows (no text, a SHA-256),
   spread over the last 30 days in time order. The secondary indexes are dropped for the fill and
   created again afterwards (faster than growing them row by row); this only gets to size quickly.
3. The last `measure` rows go through the service's RequestLogWriter (groups of 1000, as served):
   a producer thread adds rows as the event loop would, keeping up to 20,000 waiting, and the rate
   is rows committed / seconds, also printed per tenth to show whether it holds.
4. Bytes per row: SQLite file size (after a WAL checkpoint) / rows; PostgreSQL
   pg_total_relation_size('request_log') / rows (table + indexes + TOAST), with a breakdown.
5. `recent_rows` (what `GET /v1/requests` runs) with limit=100 for several `since` values and a
   label filter: 200 calls each, p50 and p99.
The database is deleted at the end unless --keep.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, Table, func, select, text

from service.log import RequestLogRow, RequestLogWriter, make_engine, recent_rows, upgrade_schema

TABLE = cast(Table, RequestLogRow.__table__)
SPAN_S = 30 * 86400  # the filled rows cover the last 30 days
VERSION = "3f2a9c1b7d4e"
LABELS = ("negative", "positive")


def fill_sql(dialect: str, first: int, count: int, total: int, start: datetime) -> str:
    """One INSERT ... SELECT of `count` hash-mode rows numbered from `first`, times in order."""
    step = SPAN_S / total
    if dialect == "sqlite":
        t0 = start.timestamp()
        return f"""
        INSERT INTO request_log (created_at, request_id, endpoint, item_index, client_key_id, text,
            text_sha256, text_chars, label, score, model_version, batch_size, queue_wait_ms, latency_ms,
            status, error_code, explain, sentences, tokens, unknown_tokens)
        WITH RECURSIVE n(i) AS (SELECT {first} UNION ALL SELECT i + 1 FROM n WHERE i < {first + count - 1})
        SELECT strftime('%Y-%m-%d %H:%M:%S', {t0} + i * {step}, 'unixepoch') || printf('.%06d', (i * 7919) % 1000000),
            printf('b00000000000000f%08x', i), 'sentiment', 0, 'a1b2c3d4e5f6', NULL,
            lower(hex(randomblob(32))), 40 + i % 400, CASE i % 2 WHEN 0 THEN 'negative' ELSE 'positive' END,
            0.5 + (i % 500) / 1000.0, '{VERSION}', 1 + i % 32, (i % 97) / 10.0, 2 + (i % 300) / 10.0,
            200, NULL, 0, 0, 10 + i % 90, i % 5
        FROM n"""
    return f"""
        INSERT INTO request_log (created_at, request_id, endpoint, item_index, client_key_id, text,
            text_sha256, text_chars, label, score, model_version, batch_size, queue_wait_ms, latency_ms,
            status, error_code, explain, sentences, tokens, unknown_tokens)
        SELECT timestamptz '{start.isoformat()}' + make_interval(secs => i * {step}),
            'b00000000000000f' || lpad(to_hex(i), 8, '0'), 'sentiment', 0, 'a1b2c3d4e5f6', NULL,
            md5(i::text) || md5((i + 1)::text), 40 + i % 400,
            CASE i % 2 WHEN 0 THEN 'negative' ELSE 'positive' END,
            0.5 + (i % 500) / 1000.0, '{VERSION}', 1 + i % 32, (i % 97) / 10.0, 2 + (i % 300) / 10.0,
            200, NULL, false, false, 10 + i % 90, i % 5
        FROM generate_series({first}::bigint, {first + count - 1}::bigint) AS i"""


def fill(engine: Engine, rows: int, total: int, start: datetime) -> float:
    """Bulk-insert `rows` rows without the secondary indexes, then build them; return seconds."""
    began = time.perf_counter()
    indexes = list(TABLE.indexes)
    with engine.begin() as connection:
        for index in indexes:
            index.drop(connection)
    chunk = 1_000_000
    for first in range(1, rows + 1, chunk):
        count = min(chunk, rows - first + 1)
        with engine.begin() as connection:
            connection.execute(text(fill_sql(engine.dialect.name, first, count, total, start)))
        print(f"  filled {first + count - 1:,} rows ({time.perf_counter() - began:.0f} s)", flush=True)
    with engine.begin() as connection:
        for index in indexes:
            index.create(connection)
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("ANALYZE request_log")
        else:
            connection.exec_driver_sql("ANALYZE")
    return time.perf_counter() - began


def server_cpu_s(data: Path | None) -> float:
    """CPU seconds used so far by a PostgreSQL server (postmaster and its children), 0 for SQLite."""
    if data is None:
        return 0.0
    postmaster = int((data / "postmaster.pid").read_text().split()[0])
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(stat.parent.name), int(fields[1])
        if pid == postmaster or ppid == postmaster:
            total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def measure_writer(engine: Engine, count: int, data: Path | None = None) -> tuple[float, list[float], float, float]:
    """Push `count` rows through RequestLogWriter; rows/s (overall, per tenth), CPU µs per row (here, server)."""
    writer = RequestLogWriter(engine, flush_s=0.1, max_pending=1_000_000)
    writer.start()
    template: dict[str, Any] = {
        "endpoint": "sentiment",
        "item_index": 0,
        "client_key_id": "a1b2c3d4e5f6",
        "text": None,
        "text_chars": 120,
        "label": "positive",
        "score": 0.93,
        "model_version": VERSION,
        "batch_size": 16,
        "queue_wait_ms": 1.2,
        "latency_ms": 4.5,
        "status": 200,
        "error_code": None,
        "explain": False,
        "sentences": False,
        "tokens": 30,
        "unknown_tokens": 2,
        "model": None,
        "language": None,
    }
    digest = "9" * 64
    tenth = count // 10
    marks: list[float] = []

    def produce() -> None:
        for i in range(count):
            while writer.pending > 20_000:
                time.sleep(0.001)
            writer.add(
                {
                    **template,
                    "created_at": datetime.now(UTC),
                    "request_id": f"c0ffee00c0ffee00{i:08x}",
                    "label": LABELS[i % 2],
                    "text_sha256": digest,
                }
            )

    cpu_began, server_began = time.process_time(), server_cpu_s(data)
    began = time.perf_counter()
    producer = threading.Thread(target=produce)
    producer.start()
    while writer.stats.written < count:
        if writer.stats.written >= (len(marks) + 1) * tenth:
            marks.append(time.perf_counter())
        time.sleep(0.01)
        if writer.stats.failures:
            raise RuntimeError(f"writer failed: {writer.stats.last_error}")
    elapsed = time.perf_counter() - began
    producer.join()
    writer.stop()
    cpu_us = (time.process_time() - cpu_began) / count * 1e6
    server_us = (server_cpu_s(data) - server_began) / count * 1e6
    edges = [began, *marks]
    rates = [tenth / (b - a) for a, b in zip(edges, edges[1:], strict=False)]
    return count / elapsed, rates, cpu_us, server_us


def compare_insert_paths(engine: Engine, groups: int = 30, size: int = 1000) -> tuple[float, float]:
    """Rows/s of SQLAlchemy's generic executemany and of insert_rows, alternating groups in one run."""
    from sqlalchemy import insert

    from service.log.insert import insert_rows

    row: dict[str, Any] = {c: None for c in TABLE.columns.keys() if c != "id"}
    row.update(
        created_at=datetime.now(UTC),
        request_id="r" * 24,
        endpoint="sentiment",
        item_index=0,
        text_chars=90,
        text_sha256="9" * 64,
        label="positive",
        score=0.9,
        model_version=VERSION,
        latency_ms=3.0,
        status=200,
        explain=False,
        sentences=False,
    )
    rows = [dict(row) for _ in range(size)]
    spent = {"generic": 0.0, "insert_rows": 0.0}
    for _ in range(groups):
        for name in spent:
            began = time.perf_counter()
            with engine.begin() as connection:
                if name == "generic":
                    connection.execute(insert(TABLE), rows)
                else:
                    insert_rows(connection, rows)
            spent[name] += time.perf_counter() - began
    return groups * size / spent["generic"], groups * size / spent["insert_rows"]


def size_report(engine: Engine, path: Path | None, rows: int) -> tuple[float, str]:
    if path is not None:
        with engine.begin() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())
        try:
            with engine.connect() as connection:
                parts = connection.exec_driver_sql(
                    "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
                ).all()
            detail = ", ".join(f"{name} {b / rows:.0f}" for name, b in parts)
        except Exception:  # noqa: BLE001 - dbstat is a compile-time option
            detail = "(no dbstat)"
        return size / rows, detail
    with engine.connect() as connection:
        total = connection.exec_driver_sql("SELECT pg_total_relation_size('request_log')").scalar_one()
        parts = connection.exec_driver_sql(
            "SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c "
            "WHERE c.oid = 'request_log'::regclass OR c.oid IN "
            "(SELECT indexrelid FROM pg_index WHERE indrelid = 'request_log'::regclass) ORDER BY 2 DESC"
        ).all()
    return total / rows, ", ".join(f"{name} {b / rows:.0f}" for name, b in parts)


def time_queries(engine: Engine, now: datetime, calls: int = 200) -> list[tuple[str, float, float]]:
    cases: list[tuple[str, dict[str, Any]]] = [
        ("since 1 min ago", {"since": now - timedelta(minutes=1)}),
        ("since 1 h ago", {"since": now - timedelta(hours=1)}),
        ("since 7 d ago", {"since": now - timedelta(days=7)}),
        ("since 31 d ago (all rows)", {"since": now - timedelta(days=31)}),
        ("no since", {}),
        ("since 1 h ago, label=negative", {"since": now - timedelta(hours=1), "label": "negative"}),
    ]
    results = []
    for name, params in cases:
        times = []
        for _ in range(calls):
            began = time.perf_counter()
            rows = recent_rows(engine, limit=100, **params)
            times.append(time.perf_counter() - began)
        assert len(rows) == 100, (name, len(rows))
        quantiles = statistics.quantiles(times, n=100)
        results.append((name, statistics.median(times) * 1000, quantiles[98] * 1000))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], required=True, help="database engine")
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows in the table at the end")
    parser.add_argument("--measure", type=int, default=1_000_000, help="last rows written through the writer")
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where the database files go")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--insert-paths", action="store_true", help="only compare the generic insert with insert_rows, then exit"
    )
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="log-bench-", dir=args.dir))
    server = None
    path: Path | None = None
    if args.engine == "sqlite":
        path = root / "requests.db"
        url = f"sqlite:///{path}"
    else:
        from tests.support.pgserver import PostgresServer

        server = PostgresServer(fsync=True)
        server.start()
        url = server.create_database("logbench")
    engine = make_engine(url, durable=False)
    try:
        upgrade_schema(engine)
        if args.insert_paths:
            generic, fast = compare_insert_paths(engine)
            print(
                f"{args.engine}: groups of 1000 rows: SQLAlchemy executemany {generic:,.0f} rows/s, "
                f"insert_rows {fast:,.0f} rows/s ({fast / generic:.1f}x)"
            )
            return
        now = datetime.now(UTC)
        filled = args.rows - args.measure
        print(f"{args.engine}: filling {filled:,} rows", flush=True)
        fill_s = fill(engine, filled, filled, now - timedelta(seconds=SPAN_S + 60))
        rate, tenths, cpu_us, server_us = measure_writer(engine, args.measure, server.data if server else None)
        with engine.connect() as connection:
            rows = connection.execute(select(func.count()).select_from(TABLE)).scalar_one()
        per_row, detail = size_report(engine, path, rows)
        queries = time_queries(engine, datetime.now(UTC))
        print(f"\n## {args.engine}, {rows:,} rows (fill of {filled:,} rows: {fill_s:.0f} s)")
        print(
            f"writer: {args.measure:,} rows at {rate:,.0f} rows/s sustained "
            f"(per tenth: min {min(tenths):,.0f}, max {max(tenths):,.0f}, last {tenths[-1]:,.0f})"
        )
        where = f", {server_us:.1f} µs in the PostgreSQL server" if server else " (SQLite runs in this process)"
        print(f"CPU per row: {cpu_us:.1f} µs in this process (producer + writer){where}")
        print(f"bytes per row (hash mode): {per_row:.0f} B  [{detail}]")
        print("| recent_rows(limit=100) | p50 ms | p99 ms |\n| --- | --- | --- |")
        for name, p50, p99 in queries:
            print(f"| {name} | {p50:.2f} | {p99:.2f} |")
    finally:
        engine.dispose()
        if server is not None and not args.keep:
            server.close()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"kept: {root} {server.root if server else ''}")
    os.sync()


if __name__ == "__main__":
    main()
