"""The request-log writer: rows inserted in groups off the request path, kept through faults."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from model.errors import first_line
from service.log.insert import insert_rows


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
                insert_rows(connection, [row.values for row in group])
        except Exception as exc:  # noqa: BLE001 - any database fault: keep the rows, report, retry
            self.stats.failures += 1
            self.stats.last_error = first_line(exc, 300)
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
