"""Log retention: delete raw log rows past `SENTIMENT_LOG_RETENTION_DAYS`, in small batches.

A pass deletes rows older than the cutoff, `BATCH` at a time, each batch its own short
transaction with a pause after it, so the request-log writer (SQLite has one writer lock) gets
in between batches and never waits for more than one. It never deletes:

- a row the stats rollup has not read yet (with the rollup on: a row at or after its watermark,
  or newer than the last id it saw), so `/v1/stats` over old windows keeps counting what it
  counted; the rollup's own rows have their own, longer retention
  (`SENTIMENT_STATS_ROLLUP_RETENTION_DAYS`), deleted an hour of rollup time at a time;
- a row that feedback points at (`feedback.log_id`), until that feedback was exported for
  training (`feedback.exported_at`, set by `python -m training export-feedback`) or is older than
  `SENTIMENT_FEEDBACK_RETENTION_DAYS` (0 = never by age).

On PostgreSQL, an advisory lock lets one replica prune at a time (the others skip the pass).

On a PostgreSQL log partitioned by day (`service.log.partitions`), a pass works in whole UTC days:
the cutoff moves back to its midnight (rows stay up to a day longer than the limit), and each
partition wholly before it is dropped (DETACH, DROP) instead of deleted row by row. A partition
that still holds a row kept by the rules above stays; its other rows are deleted in batches, as on
an unpartitioned log, and it is dropped by a later pass once nothing in it is kept. The same
batched deletes clear old rows in the DEFAULT partition and in a converted log's first partition
until all of it is past the cutoff.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, Exists, and_, delete, exists, func, select, text

from service.log import partitions as parts
from service.log.figures import SPANS
from service.log.rollup_read import state as rollup_state
from service.log.tables import FeedbackRow, RequestLogRow, StatsRollupRow

BATCH = 5_000  # rows per DELETE: ~20-60 ms on SQLite, so a writer waits at most that long
PAUSE_S = 0.05  # between two batches: the writer's turn
RETENTION_LOCK_KEY = 0x53454E55  # pg_try_advisory_xact_lock key ("SENU"), one pruning replica at a time
LOG = RequestLogRow.__table__.c
FEEDBACK = FeedbackRow.__table__.c
ROLLUP = StatsRollupRow.__table__.c


@dataclass
class Pruned:
    rows: int = 0  # raw log rows deleted (those of dropped partitions included)
    partitions: list[str] = field(default_factory=list)  # partitions dropped (PostgreSQL, partitioned log)
    rollup_rows: int = 0
    batches: int = 0
    cutoff: datetime | None = None  # rows before this were eligible (None: nothing to do)
    skipped: str | None = None  # why the pass did nothing
    more: bool = False  # stopped at max_batches with rows left: call again


def _protected(feedback_cutoff: datetime | None) -> Exists:
    """Rows that feedback not yet exported (and, with a limit, not yet too old) points at."""
    live = and_(FEEDBACK.log_id == LOG.id, FEEDBACK.exported_at.is_(None))
    if feedback_cutoff is not None:
        live = and_(live, FEEDBACK.updated_at >= feedback_cutoff)
    return exists().where(live)


def _locked(connection: Connection) -> bool:
    """On PostgreSQL, take the retention lock for this transaction; False when another replica has it."""
    if connection.dialect.name != "postgresql":
        return True
    return bool(connection.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": RETENTION_LOCK_KEY}).scalar())


def prune(
    engine: Engine,
    *,
    now: datetime,
    retention_days: float,
    feedback_retention_days: float = 0,
    rollup_retention_days: float = 0,
    rollup_on: bool = True,
    batch: int = BATCH,
    pause_s: float = PAUSE_S,
    max_batches: int | None = None,
) -> Pruned:
    """One retention pass (call it off the event loop): raw rows, then rollup rows."""
    result = Pruned()
    if retention_days > 0:
        cutoff = now - timedelta(days=retention_days)
        seen_id = None
        if rollup_on:
            with engine.connect() as connection:
                watermark_s, seen_id = rollup_state(connection)
            if watermark_s is None or seen_id is None:
                result.skipped = "the stats rollup has not read the log yet"
                return result
            cutoff = min(cutoff, datetime.fromtimestamp(watermark_s, UTC))
        feedback_cutoff = now - timedelta(days=feedback_retention_days) if feedback_retention_days > 0 else None
        with engine.connect() as connection:
            partitioned = parts.is_partitioned(connection)
        if partitioned:
            cutoff = parts.day_floor(cutoff)
            dropped = parts.drop_old(
                engine, before=cutoff, seen_id=seen_id, feedback_cutoff=feedback_cutoff, locked=_locked
            )
            if dropped is None:
                result.skipped = "another replica is pruning"
                return result
            result.partitions, result.rows = dropped.partitions, dropped.rows
            if dropped.busy:  # not row by row instead: the next pass drops them
                result.cutoff = cutoff
                result.skipped = f"request_log was busy: {dropped.busy} old partitions wait for the next pass"
                return result
        result.cutoff = cutoff
        chosen = select(LOG.id).where(LOG.created_at < cutoff, ~_protected(feedback_cutoff))
        if seen_id is not None:
            chosen = chosen.where(LOG.id <= seen_id)
        chosen = chosen.order_by(LOG.created_at).limit(batch)
        # created_at here too: on a partitioned log, only the partitions before the cutoff are searched
        statement = delete(RequestLogRow).where(LOG.created_at < cutoff, LOG.id.in_(chosen.scalar_subquery()))
        while True:
            with engine.begin() as connection:
                if not _locked(connection):
                    result.skipped = "another replica is pruning"
                    return result
                deleted = connection.execute(statement).rowcount
            result.batches += 1
            result.rows += deleted
            if deleted < batch:
                break
            if max_batches is not None and result.batches >= max_batches:
                result.more = True
                return result  # the rollup's rows wait for the call that finishes the raw ones
            time.sleep(pause_s)
    if rollup_retention_days > 0:
        result.rollup_rows = prune_rollup(engine, before=now - timedelta(days=rollup_retention_days))
    return result


def prune_rollup(engine: Engine, *, before: datetime) -> int:
    """Delete rollup rows of periods that start before `before`, an hour of rollup time per transaction."""
    limit_s = int(before.timestamp())
    deleted = 0
    with engine.connect() as connection:
        oldest = connection.execute(select(func.min(ROLLUP.start_s))).scalar()
    if oldest is None:
        return 0
    start = int(oldest)
    while start < limit_s:
        end = min(start + 3600, limit_s)
        with engine.begin() as connection:
            deleted += connection.execute(
                delete(StatsRollupRow).where(ROLLUP.span_s.in_(SPANS), ROLLUP.start_s >= start, ROLLUP.start_s < end)
            ).rowcount
        start = end
        time.sleep(0)
    return deleted
