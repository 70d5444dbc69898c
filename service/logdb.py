"""The request log: the SQLAlchemy table, schema migrations, and the batching writer."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, Float, Integer, String, Text, create_engine, event, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import NullPool

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class Base(DeclarativeBase):
    pass


class RequestLogRow(Base):
    __tablename__ = "request_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    request_id: Mapped[str] = mapped_column(String(128), index=True)
    endpoint: Mapped[str] = mapped_column(String(64))
    item_index: Mapped[int] = mapped_column(Integer)  # position of the text in its request
    client_key_id: Mapped[str | None] = mapped_column(String(16))  # hash prefix of the key, never the key
    text: Mapped[str | None] = mapped_column(Text)  # LOG_TEXT=full
    text_sha256: Mapped[str | None] = mapped_column(String(64))  # LOG_TEXT=full or hash
    text_chars: Mapped[int] = mapped_column(Integer)
    label: Mapped[str | None] = mapped_column(String(64), index=True)
    score: Mapped[float | None] = mapped_column(Float)
    model_version: Mapped[str | None] = mapped_column(String(32))
    batch_size: Mapped[int | None] = mapped_column(Integer)
    queue_wait_ms: Mapped[float | None] = mapped_column(Float)
    latency_ms: Mapped[float] = mapped_column(Float)
    status: Mapped[int] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(64))


COLUMNS = [c.name for c in RequestLogRow.__table__.columns if c.name != "id"]


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


@dataclass
class PendingRow:
    values: dict[str, Any]
    on_commit: Callable[[bool], None] | None = None  # durable mode: told True once committed
    attempts: int = 0


@dataclass
class WriterStats:
    written: int = 0
    dropped: int = 0
    failures: int = 0
    last_error: str | None = None
    degraded_since: float | None = None


class RequestLogWriter:
    """Insert rows in groups on a background thread; keep them through database faults.

    Rows wait in memory (at most `max_pending`; beyond that the oldest are dropped and counted)
    and are written every `flush_s` or as soon as a durable row waits. A failed insert marks the
    writer degraded and is retried with backoff; the rows stay queued until it succeeds.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        flush_s: float,
        max_pending: int,
        group_rows: int = 1000,
        on_written: Callable[[int], None] | None = None,
        on_dropped: Callable[[int], None] | None = None,
    ) -> None:
        self.engine = engine
        self.on_written = on_written or (lambda n: None)
        self.on_dropped = on_dropped or (lambda n: None)
        self.flush_s = flush_s
        self.max_pending = max_pending
        self.group_rows = group_rows
        self.stats = WriterStats()
        self._rows: deque[PendingRow] = deque()
        self._lock = threading.Condition()
        self._stop = False
        self._urgent = False
        self._flushers = 0  # callers of flush() waiting: write at once until the queue is empty
        self._inflight = 0  # rows taken off the queue and not yet committed or put back
        self._thread = threading.Thread(target=self._loop, name="request-log-writer", daemon=True)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def degraded(self) -> bool:
        return self.stats.degraded_since is not None

    @property
    def pending(self) -> int:
        return len(self._rows)

    def start(self) -> None:
        self._thread.start()

    def add(self, values: dict[str, Any], on_commit: Callable[[bool], None] | None = None) -> None:
        with self._lock:
            if len(self._rows) >= self.max_pending:
                lost = self._rows.popleft()
                self.stats.dropped += 1
                self.on_dropped(1)
                if lost.on_commit is not None:
                    lost.on_commit(False)
            self._rows.append(PendingRow(values, on_commit))
            if on_commit is not None:
                self._urgent = True
                self._lock.notify()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every row added so far is committed (or put back after a failure)."""
        with self._lock:
            self._urgent = True
            self._flushers += 1
            self._lock.notify_all()
            try:
                return self._lock.wait_for(lambda: not self._rows and not self._inflight, timeout)
            finally:
                self._flushers -= 1

    def stop(self, timeout: float = 10.0) -> None:
        """Write everything held, then stop; rows that still cannot be written are counted dropped."""
        with self._lock:
            self._stop = True
            self._lock.notify()
        self._thread.join(timeout)
        with self._lock:
            self.on_dropped(len(self._rows))
            for row in self._rows:
                self.stats.dropped += 1
                if row.on_commit is not None:
                    row.on_commit(False)
            self._rows.clear()

    def _loop(self) -> None:
        backoff = 0.0
        # Halved after each failure, so that when only some rows fit (a nearly full disk) those
        # are written rather than the whole group failing forever; doubled back after success.
        group_limit = self.group_rows
        while True:
            with self._lock:
                if not self._stop:
                    self._lock.wait_for(lambda: self._stop or self._urgent, timeout=max(self.flush_s, backoff))
                self._urgent = False
                group = [self._rows.popleft() for _ in range(min(group_limit, len(self._rows)))]
                self._inflight = len(group)
                stopping = self._stop
            if group:
                ok = self._write(group)
                with self._lock:
                    if ok:
                        # Write again at once for a full group, a durable row, a flush, or a
                        # backlog left by a fault (groups still cut down after failures); else let
                        # rows gather for flush_s: one transaction per ~flush_s under load instead
                        # of a stream of small ones (BENCHMARKS.md).
                        self._urgent = bool(self._rows) and (
                            self._flushers > 0
                            or group_limit < self.group_rows
                            or len(self._rows) >= group_limit
                            or any(r.on_commit is not None for r in self._rows)
                        )
                    else:
                        self._rows.extendleft(reversed(group))  # keep their order; try again later
                    self._inflight = 0
                    self._lock.notify_all()
                if ok:
                    backoff = 0.0
                    group_limit = min(self.group_rows, group_limit * 2)
                else:
                    group_limit = max(1, group_limit // 2)
                    backoff = min(5.0, max(0.2, backoff * 2))
                    if stopping:
                        return  # the database is down at shutdown: stop() counts what is left
            if stopping and not self._rows:
                return

    def _write(self, group: list[PendingRow]) -> bool:
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(RequestLogRow), [row.values for row in group])
        except Exception as exc:  # noqa: BLE001 - any database fault: keep the rows, report, retry
            self.stats.failures += 1
            self.stats.last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
            if self.stats.degraded_since is None:
                self.stats.degraded_since = time.time()
            return False
        self.stats.written += len(group)
        self.on_written(len(group))
        if self.stats.degraded_since is not None:
            self.stats.degraded_since = None
            self.stats.last_error = None
        for row in group:
            if row.on_commit is not None:
                row.on_commit(True)
        return True


def recent_rows(
    engine: Engine, *, limit: int, since: datetime | None = None, label: str | None = None
) -> list[dict[str, Any]]:
    """Return the newest log rows first."""
    table = RequestLogRow.__table__
    query = select(table).order_by(table.c.id.desc()).limit(limit)
    if since is not None:
        query = query.where(table.c.created_at >= since)
    if label is not None:
        query = query.where(table.c.label == label)
    with engine.connect() as connection:
        rows = [dict(r._mapping) for r in connection.execute(query)]
    for row in rows:
        created = row["created_at"]
        if isinstance(created, datetime) and created.tzinfo is None:
            row["created_at"] = created.replace(tzinfo=UTC)  # SQLite drops the zone; we store UTC
    return rows
