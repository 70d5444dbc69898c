"""Engines for the log database and its schema migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


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
    return create_engine(url, pool_pre_ping=True)


def upgrade_schema(engine: Engine) -> None:
    """Bring the database to the newest schema with Alembic (idempotent)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
