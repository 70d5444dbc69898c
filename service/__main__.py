"""`python -m service`: run the API with uvicorn (SENTIMENT_WORKERS processes); `migrate`; `rollup`; `partition-log`."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import TYPE_CHECKING

from pydantic import ValidationError

if TYPE_CHECKING:
    from service.config import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service", description="Serve sentiment predictions over HTTP.")
    parser.add_argument("--host", help="address to bind (default: SENTIMENT_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind (default: SENTIMENT_PORT or 8000)")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"], help="server log level"
    )
    parser.add_argument(
        "--access-log", action="store_true", help="print one line per request (the SQL log has them all)"
    )
    commands = parser.add_subparsers(dest="command", metavar="{migrate,rollup,partition-log}")
    migrate = commands.add_parser(
        "migrate", help="upgrade the log database's schema to the newest revision, then exit (no server)"
    )
    migrate.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 when the schema is not at the newest revision"
    )
    rollup = commands.add_parser(
        "rollup",
        help="bring the stats rollup up to date now, in the foreground (the service's background task does the same)",
    )
    rollup.add_argument(
        "--reset", action="store_true", help="forget the rollup first and rebuild it from the log (after deleting rows)"
    )
    commands.add_parser(
        "partition-log",
        help="PostgreSQL: convert an unpartitioned request log to one partitioned by day (the old table becomes "
        "one partition; safe to re-run), then exit",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # our own line names the schema revision

    from service.config import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        for error in exc.errors():
            name = "SENTIMENT_" + "_".join(str(p) for p in error["loc"]).upper()
            print(f"error: {name}: {error['msg']} (got {error.get('input')!r})", file=sys.stderr)
        return 2
    if args.command == "migrate":
        return run_migrate(settings, check=args.check)
    if args.command == "rollup":
        return run_rollup(settings, reset=args.reset)
    if args.command == "partition-log":
        return run_partition_log(settings)
    return serve(settings, args)


def run_migrate(settings: Settings, *, check: bool) -> int:
    """Upgrade (or with `check`, only compare) the schema; 0 at head, 1 behind (check), 2 on error."""
    from service.log import DatabaseError, make_engine, masked, schema_revisions, upgrade_schema
    from service.log.engine import wait_for_database

    print(f"database: {masked(settings.database_url)}")
    try:
        engine = make_engine(settings.database_url, durable=False)
        try:
            wait_for_database(engine, timeout_s=settings.database_wait_s)
            current, head = schema_revisions(engine)
            if check:
                print(f"revision: {current or 'none (empty)'}, head: {head}")
                if current != head:
                    print("not at head: run `python -m service migrate`", file=sys.stderr)
                    return 1
                return 0
            before, after = upgrade_schema(engine, partition=settings.log_partitions)
        finally:
            engine.dispose()
    except DatabaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"revision: {before or 'none (empty)'} -> {after} (head)" if before != after else f"revision: {after} (head)")
    return 0


def run_rollup(settings: Settings, *, reset: bool) -> int:
    """Roll up the log up to `now - SENTIMENT_STATS_ROLLUP_LAG_S`, printing progress; 2 on a database error."""
    import time
    from datetime import UTC, datetime

    from service.log import DatabaseError, open_database
    from service.log import rollup as summary

    try:
        engine = open_database(
            settings.database_url, durable=False, max_mb=0, migrate=settings.migrate_on_start, wait_s=0
        )
    except DatabaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    started = time.monotonic()
    shown = 0.0

    def show(progress: summary.Progress) -> None:
        nonlocal shown
        if progress.watermark_s is not None and (time.monotonic() - shown > 5 or not progress.behind):
            shown = time.monotonic()
            until = datetime.fromtimestamp(progress.watermark_s, UTC).strftime("%Y-%m-%d %H:%M UTC")
            print(f"rolled up to {until} ({time.monotonic() - started:.0f} s)", flush=True)

    try:
        if reset:
            with engine.begin() as connection:
                summary.reset(connection)
        summary.catch_up(engine, now=time.time(), lag_s=settings.stats_rollup_lag_s, on_progress=show)
    finally:
        engine.dispose()
    return 0


def run_partition_log(settings: Settings) -> int:
    """Convert the log to the partitioned layout (PostgreSQL); 0 done or already so, 2 refused or failed."""
    import time
    from datetime import UTC, datetime

    from sqlalchemy.engine import make_url

    from service.log import DatabaseError, masked, open_database
    from service.log.partitions import NotPartitionable, convert, partitions

    print(f"database: {masked(settings.database_url)}")
    if make_url(settings.database_url).get_backend_name() != "postgresql":
        print(
            "error: partition-log needs PostgreSQL; SQLite keeps one table (retention deletes its old rows "
            "in batches: SENTIMENT_LOG_RETENTION_DAYS)",
            file=sys.stderr,
        )
        return 2
    try:
        engine = open_database(
            settings.database_url,
            durable=False,
            max_mb=0,
            migrate=settings.migrate_on_start,
            wait_s=settings.database_wait_s,
        )
    except DatabaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        result = convert(engine, now=datetime.now(UTC), on_step=lambda step: print(step, flush=True))
        with engine.connect() as connection:
            names = [p.name for p in partitions(connection)]
    except NotPartitionable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - a database error: say it; every step is safe to run again
        print(f"error: {type(exc).__name__}: {exc} (nothing is lost; run it again)", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    if result.already:
        print(f"request_log is already partitioned ({len(names)} partitions): nothing to do")
        return 0
    if result.legacy is not None and result.bound is not None:
        print(
            f"done in {time.monotonic() - started:.1f} s: {result.rows:,} rows kept in partition {result.legacy} "
            f"(rows before {result.bound:%Y-%m-%d}), then one partition per day and {names[-1]}"
        )
    else:
        print(f"done: the empty log is now partitioned by day ({len(names)} partitions)")
    return 0


def serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from model import ArtifactError
    from service.app import create_app
    from service.log import DatabaseError, open_database
    from service.state import load_configured_predictor

    predictors = {}
    for name, model_dir in settings.served_models().items():
        try:  # fail before binding the port, with the file and the problem; the app serves this load
            predictors[name] = load_configured_predictor(settings, model_dir)
        except ArtifactError as exc:
            print(f"error: cannot load the model {name!r}: {exc}", file=sys.stderr)
            return 2
    try:  # the same for the log database: unreachable (after SENTIMENT_DATABASE_WAIT_S), no driver, old schema
        engine = open_database(
            settings.database_url,
            durable=settings.log_mode == "durable",
            max_mb=settings.log_max_mb,
            migrate=settings.migrate_on_start,
            wait_s=settings.database_wait_s,
            partition=settings.log_partitions,
        )
    except DatabaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # uvicorn drains on SIGTERM, then raises the signal again for the handler it found; a no-op
    # handler here turns that into a normal exit (status 0) once the drain has finished.
    signal.signal(signal.SIGTERM, lambda *_: None)
    server = {
        "host": args.host or settings.host,
        "port": args.port or settings.port,
        "log_level": args.log_level,
        "access_log": args.access_log,
        "timeout_graceful_shutdown": 30,
        # httptools plus header and body read timeouts (service/protocol.py); workers import it by name
        "http": "service.protocol:GuardedHttpToolsProtocol",
    }
    from service.protocol import GuardedHttpToolsProtocol

    GuardedHttpToolsProtocol.configure(settings.header_timeout_s, settings.body_timeout_s)
    if settings.workers == 1:
        uvicorn.run(create_app(settings, predictors=predictors, engine=engine), **server)  # type: ignore[arg-type]
        return 0
    from service.workers import run_workers

    # The schema is at head now (migrated once, here); each worker loads its own model and opens
    # its own engine (connections must not cross a fork).
    del predictors
    engine.dispose()
    return run_workers(settings, args.log_level, server)


if __name__ == "__main__":
    sys.exit(main())
