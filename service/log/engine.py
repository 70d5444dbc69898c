"""Engines for the log database, its schema migrations, and opening it at start."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import NoSuchModuleError
from sqlalchemy.pool import NullPool

from model.errors import first_line

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# pg_advisory_xact_lock key that serialises schema upgrades of every replica on one database.
MIGRATION_LOCK_KEY = 0x53454E54  # "SENT"
log = logging.getLogger("service.log")
T = TypeVar("T")


class DatabaseError(Exception):
    """The log database cannot be used: driver missing, unreachable, or schema not at head."""


def masked(url: str) -> str:
    """The URL with its password hidden, fit for a log line."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str, *, durable: bool, max_mb: float = 0) -> Engine:
    """Create the engine; SQLite gets WAL, a busy timeout, an optional size cap and its folder."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # A fresh connection per write group (groups are ~10/s at most, a SQLite open is cheap): a
        # long-lived connection keeps writing into the WAL of a file that was made read-only or
        # replaced, and the fault would never show.
        engine = create_engine(url, connect_args={"timeout": 5, "check_same_thread": False}, poolclass=NullPool)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL survives a killed process; FULL also survives power loss (durable mode).
            cursor.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            cursor.execute("PRAGMA busy_timeout=5000")
            if max_mb:  # a full cap behaves like a full disk: inserts fail until space is freed
                page_size = cursor.execute("PRAGMA page_size").fetchone()[0]
                cursor.execute(f"PRAGMA max_page_count={max(8, int(max_mb * 2**20 / page_size))}")
            cursor.close()

        return engine
    options: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        # One connection for the writer (one group at a time) plus a few for admin reads that run
        # in the thread pool: 5 + 5 overflow per replica keeps 8 replicas under PostgreSQL's
        # default max_connections (100). Pre-ping and recycle drop connections a restart of the
        # server killed; connect_timeout bounds a connect to a server that does not answer.
        options = {
            "pool_size": 5,
            "max_overflow": 5,
            "pool_timeout": 10,
            "pool_recycle": 1800,
            "connect_args": {"connect_timeout": 5, "application_name": "sentiment-service"},
        }
    try:
        return create_engine(url, pool_pre_ping=True, **options)
    except (ModuleNotFoundError, NoSuchModuleError) as exc:
        hint = " (pip install 'sentiment-service[postgres]')" if parsed.get_backend_name() == "postgresql" else ""
        raise DatabaseError(f"no driver for {parsed.drivername}: {exc}{hint}") from None


def wait_for_database(engine: Engine, *, timeout_s: float) -> None:
    """Connect, retrying for up to `timeout_s` (a replica may start before its database)."""
    deadline = time.monotonic() + timeout_s
    delay = 0.2
    while True:
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
            return
        except Exception as exc:  # noqa: BLE001 - any failure to connect: retry until the deadline
            reason = first_line(exc, 300)
            if time.monotonic() + delay > deadline:
                raise DatabaseError(f"cannot reach the log database {masked(str(engine.url))}: {reason}") from None
            log.warning("log database %s not reachable yet (%s); retrying", masked(str(engine.url)), reason)
            time.sleep(delay)
            delay = min(2.0, delay * 2)


def _alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def schema_revisions(engine: Engine) -> tuple[str | None, str]:
    """Return the database's schema revision (None when empty) and the newest one the code knows."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision(), head


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """Hold an exclusive lock on a file beside the database, across processes (no-op in memory)."""
    database = make_url(str(engine.url)).database
    if not database or database == ":memory:":
        yield
        return
    import fcntl

    with open(f"{database}.migrate-lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _lock_postgresql(connection: Connection) -> None:
    # Held until this transaction ends: the next replica waits here, then finds the schema at head.
    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")


def upgrade_schema(engine: Engine, *, partition: bool = False) -> tuple[str | None, str]:
    """Bring the database to the newest schema with Alembic; return (revision before, after).

    Idempotent and safe when several processes start at once on one database: the upgrade runs
    under a PostgreSQL advisory lock taken in its own transaction, or, for SQLite, under an
    exclusive lock on `<database>.migrate-lock` beside the file. With `partition` (PostgreSQL,
    `SENTIMENT_LOG_PARTITIONS`), an empty request_log is then made partitioned by day in the same
    transaction (`service.log.partitions`); a log with rows keeps its layout.
    """
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    config = _alembic_config()
    lock: AbstractContextManager[None] = _sqlite_file_lock(engine) if engine.dialect.name == "sqlite" else nullcontext()
    with lock:
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                _lock_postgresql(connection)
            before = MigrationContext.configure(connection).get_current_revision()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            after = MigrationContext.configure(connection).get_current_revision()
            if partition and engine.dialect.name == "postgresql":
                from datetime import UTC, datetime

                from service.log.partitions import partition_new_log

                if partition_new_log(connection, now=datetime.now(UTC)):
                    log.info("request log: new and empty, created partitioned by day")
    assert after is not None
    return before, after


def open_database(
    url: str, *, durable: bool, max_mb: float, migrate: bool, wait_s: float, partition: bool = False
) -> Engine:
    """Create the engine, wait for the database, then migrate it (or check it is at head).

    Raises DatabaseError with a message for the operator when any of that fails.
    """
    engine = make_engine(url, durable=durable, max_mb=max_mb)
    try:
        wait_for_database(engine, timeout_s=wait_s)
        if migrate:
            before, after = upgrade_schema(engine, partition=partition)
            change = f"migrated from {before or 'empty'}" if before != after else "already at head"
            log.info("request log: %s (schema %s, %s)", masked(url), after, change)
        else:
            current, head = schema_revisions(engine)
            if current != head:
                raise DatabaseError(
                    f"the log database {masked(url)} is at schema revision {current or 'none (empty)'}, "
                    f"this version needs {head}: run `python -m service migrate` "
                    "(or set SENTIMENT_MIGRATE_ON_START=true)"
                )
            log.info("request log: %s (schema %s, migrations at start off)", masked(url), current)
    except DatabaseError:
        engine.dispose()
        raise
    except Exception as exc:
        engine.dispose()
        raise DatabaseError(f"cannot prepare the log database {masked(url)}: {type(exc).__name__}: {exc}") from exc
    return engine


async def query_in_thread(function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """`asyncio.to_thread`, except that a cancelled caller first waits for the thread to finish.

    Background tasks that read the log (drift gauges, rollout polling) are cancelled at shutdown
    just before the engine is disposed: a query still running in its thread must not outlive that,
    or its connection is left open outside the disposed pool.
    """
    job = asyncio.ensure_future(asyncio.to_thread(function, *args, **kwargs))
    try:
        return await asyncio.shield(job)
    except asyncio.CancelledError:
        await asyncio.wait([job])
        raise
