"""What migration 0009 (64-bit request-log ids) costs on PostgreSQL: the table rewrite's time per row.

    python bench/migration_bench.py [--rows 2000000]

Starts a throw-away PostgreSQL (fsync on), migrates to 0008, fills `request_log` with `--rows` rows
(generate_series, hash-mode rows of the shipped model), then times `upgrade 0009` (ALTER COLUMN TYPE
BIGINT: a rewrite of the table and its indexes under an exclusive lock).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alembic import command  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bench.machine import describe  # noqa: E402
from service.log import make_engine  # noqa: E402
from service.log.engine import _alembic_config  # noqa: E402
from tests.support.pgserver import PostgresServer  # noqa: E402

FILL = """INSERT INTO request_log (created_at, request_id, endpoint, item_index, text_sha256, text_chars, label, score,
    model_version, latency_ms, status, explain, sentences, tokens, unknown_tokens, model, language, role)
    SELECT now() - (g || ' seconds')::interval, md5(g::text), 'sentiment', 0, md5(g::text), 80, 'positive', 0.9,
    '4d5fd62ca65b', 3.0, 200, false, false, 20, 1, 'sentiment', 'en', 'primary' FROM generate_series(1, :n) g"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    args = parser.parse_args()
    print(describe())
    with PostgresServer(fsync=True) as server:
        engine = make_engine(server.create_database(), durable=False)
        config = _alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0008")
        with engine.begin() as connection:
            connection.execute(text(FILL), {"n": args.rows})
        started = time.perf_counter()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0009")
        seconds = time.perf_counter() - started
        engine.dispose()
    print(f"{args.rows:,} rows: upgrade to 0009 took {seconds:.1f} s ({seconds / args.rows * 1e7:.0f} s per 10 M rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
