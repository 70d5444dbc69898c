"""The stats rollup: every `/v1/stats` figure per minute, hour and day, rebuilt from the log in the background.

A pass recomputes whole minutes from the raw log (the same `GROUP BY`s as `service.log.stats`,
grouped by minute and model version as well, counting the log rows up to the newest id it saw),
replaces their rows in `stats_rollup`, rebuilds the hours and days they close from the rows one
level down, then moves the watermark: every minute before it is rolled up. It only touches
minutes that ended `lag_s` ago, so the async writer's rows (committed up to a flush interval after
their time) are in the log before their minute is read. A row that comes later still (a writer
that held rows through a database outage, a clock behind) has a higher id than the pass saw:
readers add such rows from the log at once (`service.log.rollup_read`), and the next passes find
them among the ids new since the pass before last, below the watermark, and recompute their
minutes, hours and days. Recomputing is idempotent, so a pass is safe to repeat; the state row is
updated compare-and-set in the same transaction as the rows, so replicas (and
`SENTIMENT_WORKERS` processes) that run passes at once never move it backwards, and on
PostgreSQL an advisory lock lets one of them work at a time.

A pass covers at most one hour of log time, skipping stretches without rows, so the backfill of
a big log after the upgrade is the same loop run until it catches up: chunked, resumable (the
watermark is committed with each hour), and off the start-up path. On PostgreSQL a pass is one
transaction; on SQLite, which has one writer, the `GROUP BY`s write into a temporary table while
only reading the log, and the rollup's rows are copied in a second, short transaction.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Insert,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    column,
    delete,
    func,
    insert,
    literal_column,
    null,
    select,
    table,
    update,
)

from service.log.figures import (
    BINNED,
    HOUR,
    LOG,
    MINUTE,
    SPANS,
    as_seconds,
    bucket_of,
    epoch_seconds,
    floor_to,
    in_window,
    moment,
)
from service.log.tables import StatsRollupRow, StatsRollupState

ROLLUP = StatsRollupRow.__table__.c
STATE = StatsRollupState.__table__.c
# pg_advisory_xact_lock key of the rollup pass: one replica at a time does the work.
ROLLUP_LOCK_KEY = 0x524F4C4C  # "ROLL"
VERSION_KEY = func.coalesce(LOG.model_version, literal_column("''", String)).label("version")  # '' = no version


@dataclass(frozen=True)
class Progress:
    """What one pass did: the watermark before and after it, and how far behind the target it still is."""

    watermark_s: int | None
    previous_s: int | None
    target_s: int
    written: int  # minute rows written to the rollup
    late_minutes: int  # of those, minutes below the old watermark that got rows late
    skipped: bool = False  # another replica held the lock, or moved the state first

    @property
    def behind(self) -> bool:
        return self.watermark_s is not None and self.watermark_s < self.target_s


def _text(constant: str) -> Any:
    """A string constant written into the SQL (figure names are ours): no parameter to type in a GROUP BY."""
    return literal_column(f"'{constant}'", String)


FIELDS = ("start_s", "model_version", "figure", "category", "bin", "count", "total", "low", "high")


# SQLite has one writer: a pass there computes its rows into this temporary table (a read of the
# log, no lock) and then copies them in a short write transaction, so the request log's writer never
# waits behind the GROUP BYs (seconds per minute of log at thousands of rows a second).
STAGE = table("stats_rollup_stage", *(column(name) for name in ("span_s", *FIELDS)))


@cache
def _minute_inserts(staged: bool) -> list[Insert]:
    """One INSERT from a `GROUP BY` per figure over the log rows of [start, end) up to an id, by minute and version."""
    # Constants written into the SQL, not bound: PostgreSQL matches a GROUP BY expression by its text.
    minute = epoch_seconds(LOG.created_at) // literal_column(str(MINUTE), Integer)
    span, start_s = literal_column(str(MINUTE), Integer), minute * literal_column(str(MINUTE), Integer)
    where = and_(in_window(versioned=False), LOG.id <= bindparam("max_id", type_=LOG.id.type))
    no = null()
    error = case((LOG.status >= 400, 1), else_=0).label("bin")
    queries: list[Select[Any]] = [
        select(span, start_s, VERSION_KEY, _text("rows"), _text(""), error, func.count(), no, no, no)
        .where(where)
        .group_by(minute, VERSION_KEY, error)
    ]
    for name, grouped in (("label", LOG.label), ("error_code", LOG.error_code), ("language", LOG.language)):
        queries.append(
            select(
                span, start_s, VERSION_KEY, _text(name), grouped, literal_column("0", Integer), func.count(), no, no, no
            )
            .where(where, grouped.is_not(None))
            .group_by(minute, VERSION_KEY, grouped)
        )
    for name, figure in BINNED.items():
        value = figure.column
        bucket = bucket_of(value, figure.edges).label("bin")
        queries.append(
            select(
                span,
                start_s,
                VERSION_KEY,
                _text(name),
                _text(""),
                bucket,
                func.count(),
                func.sum(value),
                func.min(value),
                func.max(value),
            )
            .where(where, figure.where, value.is_not(None))
            .group_by(minute, VERSION_KEY, bucket)
        )
    target: Any = STAGE if staged else StatsRollupRow.__table__
    return [insert(target).from_select(["span_s", *FIELDS], q) for q in queries]


def insert_minutes(connection: Connection, start_s: int, end_s: int, max_id: int, *, staged: bool = False) -> int:
    """Write the rollup rows of every minute in [start_s, end_s) from the log rows up to `max_id`; return their count.

    The id bound makes the rollup count exactly the rows up to the state's `seen_id`, so a reader
    can add the newer ones from the log without counting any twice. Minutes without rows get none.
    """
    written = 0
    for statement in _minute_inserts(staged):
        result = connection.execute(statement, {"start": moment(start_s), "end": moment(end_s), "max_id": max_id})
        written += max(0, result.rowcount)
    return written


def _ranges(starts: Iterable[int], span: int) -> list[tuple[int, int]]:
    """Merge sorted bucket starts into [start, end) ranges of consecutive buckets."""
    merged: list[tuple[int, int]] = []
    for s in sorted(set(starts)):
        if merged and merged[-1][1] == s:
            merged[-1] = (merged[-1][0], s + span)
        else:
            merged.append((s, s + span))
    return merged


def _rebuild(connection: Connection, span: int, starts: Sequence[int], shorter: int) -> None:
    """Replace the rows of the `span`-long buckets at `starts` by the sums of their `shorter` rows."""
    for start, end in _ranges(starts, span):
        connection.execute(
            delete(StatsRollupRow).where(ROLLUP.span_s == span, ROLLUP.start_s >= start, ROLLUP.start_s < end)
        )
        bucket = ((ROLLUP.start_s // literal_column(str(span), Integer)) * literal_column(str(span), Integer)).label(
            "bucket"
        )
        keys = (ROLLUP.model_version, ROLLUP.figure, ROLLUP.category, ROLLUP.bin)
        summed = (
            select(
                literal_column(str(span), Integer),
                bucket,
                *keys,
                func.sum(ROLLUP.count),
                func.sum(ROLLUP.total),
                func.min(ROLLUP.low),
                func.max(ROLLUP.high),
            )
            .where(ROLLUP.span_s == shorter, ROLLUP.start_s >= start, ROLLUP.start_s < end)
            .group_by(bucket, *keys)
        )
        connection.execute(insert(StatsRollupRow).from_select(["span_s", *FIELDS], summed))


def roll_up(engine: Engine, *, now: float, lag_s: float) -> Progress:
    """Roll up the next stretch of closed minutes (at most an hour of log time) and any late rows.

    One transaction on PostgreSQL (under the advisory lock); on SQLite the rows are computed first
    into a temporary table, then the state and the rollup are written in one short transaction.
    """
    target = floor_to(now - lag_s, MINUTE)
    staged = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        tx = connection.begin()
        try:
            if engine.dialect.name == "postgresql" and not connection.scalar(
                select(func.pg_try_advisory_xact_lock(ROLLUP_LOCK_KEY))
            ):
                tx.rollback()
                return Progress(None, None, target, 0, 0, skipped=True)
            progress = _pass(connection, tx, target, staged)
            if tx.is_active:
                tx.commit()
            return progress
        except BaseException:
            if tx.is_active:
                tx.rollback()
            raise


def _pass(connection: Connection, tx: Any, target: int, staged: bool) -> Progress:
    state = connection.execute(
        select(STATE.watermark_s, STATE.seen_id, STATE.rescan_from_id).where(STATE.id == 1)
    ).one()
    old, seen, rescan_from = state
    newest_id = int(connection.scalar(select(func.max(LOG.id))) or 0)
    start = old
    if start is None:  # the first pass: start at the log's first row (or now, when it is empty)
        first = connection.scalar(select(func.min(LOG.created_at)))
        start = min(target, floor_to(as_seconds(first), MINUTE)) if first is not None else target
        rescan_from = seen = newest_id  # nothing is below the watermark yet
    # Rows below the watermark that the passes before did not see: their minutes are recomputed.
    late: list[int] = []
    if old is not None and rescan_from is not None and newest_id > rescan_from:
        minute = epoch_seconds(LOG.created_at) // MINUTE
        late = [
            int(m) * MINUTE
            for (m,) in connection.execute(
                select(minute).where(LOG.id > rescan_from, LOG.id <= newest_id, LOG.created_at < moment(old)).distinct()
            )
        ]
    # The next stretch: from the first row at or after the watermark, at most to the end of its hour.
    new = start
    sweep: tuple[int, int] | None = None
    if start < target:
        next_row = connection.scalar(
            select(func.min(LOG.created_at)).where(LOG.created_at >= moment(start), LOG.created_at < moment(target))
        )
        if next_row is None:
            new = target
        else:
            first_minute = floor_to(as_seconds(next_row), MINUTE)
            new = min(target, floor_to(first_minute, HOUR) + HOUR)
            sweep = (first_minute, new)
    ranges = ([sweep] if sweep else []) + _ranges(late, MINUTE)
    written = 0
    if staged:  # compute while only reading the log, then write in a short transaction
        connection.exec_driver_sql(
            "CREATE TEMP TABLE IF NOT EXISTS stats_rollup_stage AS SELECT * FROM stats_rollup WHERE 0"
        )
        connection.execute(delete(STAGE))
        for a, b in ranges:
            written += insert_minutes(connection, a, b, newest_id, staged=True)
        tx.commit()
        tx = connection.begin()
    moved = connection.execute(
        update(StatsRollupState)
        .where(
            STATE.id == 1,
            STATE.watermark_s.is_not_distinct_from(old),
            STATE.seen_id.is_not_distinct_from(state.seen_id),
        )
        .values(watermark_s=new, seen_id=newest_id, rescan_from_id=seen, updated_at=datetime.now(UTC))
    )
    if moved.rowcount != 1:  # another process moved it since we read it: its work stands, ours goes
        tx.rollback()
        return Progress(None, old, target, 0, 0, skipped=True)
    connection.execute(
        delete(StatsRollupRow).where(ROLLUP.span_s == MINUTE, ROLLUP.start_s >= start, ROLLUP.start_s < new)
    )
    for a, b in _ranges(late, MINUTE):
        connection.execute(
            delete(StatsRollupRow).where(ROLLUP.span_s == MINUTE, ROLLUP.start_s >= a, ROLLUP.start_s < b)
        )
    if staged:
        connection.execute(insert(StatsRollupRow).from_select(["span_s", *FIELDS], select(STAGE)))
    else:  # PostgreSQL: readers and the log's writers do not wait for this transaction
        for a, b in ranges:
            written += insert_minutes(connection, a, b, newest_id)
    # Minutes that changed: the one the old watermark was at (its hour and day may close now), the
    # swept ones, the late ones.
    touched = {start, *late, *(range(sweep[0], sweep[1], MINUTE) if sweep else ())}
    # Each closed bucket of a longer span whose shorter buckets changed, hours first, then days.
    for shorter, span in itertools.pairwise(SPANS):
        touched = {floor_to(t, span) for t in touched}
        _rebuild(connection, span, sorted(t for t in touched if t + span <= new), shorter)
    tx.commit()
    return Progress(new, old, target, written, len(late))


def catch_up(engine: Engine, *, now: float, lag_s: float, on_progress: Any = None) -> Progress:
    """Run passes until the watermark reaches `now - lag_s` (the backfill, run in the foreground)."""
    while True:
        progress = roll_up(engine, now=now, lag_s=lag_s)
        if on_progress is not None:
            on_progress(progress)
        if not progress.behind and not progress.skipped:
            return progress
        if progress.skipped:  # another process is rolling up: wait for it
            time.sleep(0.5)


def reset(connection: Connection) -> None:
    """Forget the rollup: the next pass rebuilds it from the log's first row (after log rows were deleted)."""
    connection.execute(delete(StatsRollupRow))
    connection.execute(
        update(StatsRollupState)
        .where(STATE.id == 1)
        .values(watermark_s=None, seen_id=None, rescan_from_id=None, updated_at=datetime.now(UTC))
    )
