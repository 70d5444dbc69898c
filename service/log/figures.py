"""What `/v1/stats` counts: the log's columns, the fixed bins of every figure, windows and intervals.

Shared by the queries over the raw log (`service.log.stats`) and the rollup that summarises it
(`service.log.rollup`), so both bin every value the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Float, Integer, and_, bindparam, case, cast, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from service.log.tables import FeedbackRow, RequestLogRow

LOG = RequestLogRow.__table__.c
FEEDBACK = FeedbackRow.__table__.c

# Fixed bin edges: the same bins for every window, so two windows compare bin by bin (drift).
# A value at or above the last edge counts in the last bin.
SCORE_EDGES = [round(i * 0.05, 2) for i in range(21)]
TEXT_LENGTH_EDGES = [0, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000]
UNKNOWN_RATE_EDGES = [0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0]
BATCH_SIZE_EDGES = [1, 2, 3, 5, 9, 17, 33, 65, 129, 257, 513, 1025]
# Percentiles of latency and queue wait come from these buckets (milliseconds): the rank's bucket,
# then linear between the smallest and largest value in it (both from the database), so the error
# is below the bucket's width (at most half the value) and `max` is exact. An exact percentile needs a sort of the
# whole window per percentile (ORDER BY ... OFFSET), which at 10 M rows costs seconds.
LATENCY_EDGES_MS = [0, 0.1, 0.2, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500]
LATENCY_EDGES_MS += [750, 1000, 1500, 2000, 3000, 5000, 10000, 30000, 60000]

WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
# Series intervals: the shortest that gives at most MAX_POINTS points over the window.
INTERVALS_S = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400]
MAX_POINTS = 120


class epoch_seconds(FunctionElement[int]):  # noqa: N801 - a SQL function, named like one
    """Whole seconds since 1970-01-01 UTC of a timestamp column, as an integer."""

    type = Integer()
    inherit_cache = True


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    # SQLAlchemy stores SQLite timestamps as UTC text 'YYYY-MM-DD HH:MM:SS.ffffff'. SQLite's date
    # functions keep milliseconds and round to them, so 23:59:59.9999 would count in the next second
    # (and minute, hour, day): the fraction is cut off first, which floors exactly.
    return f"CAST(strftime('%s', substr({compiler.process(element.clauses, **kw)}, 1, 19)) AS INTEGER)"


@compiles(epoch_seconds, "postgresql")
def _epoch_postgresql(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})) AS BIGINT)"


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    model_version: str | None = None
    model: str | None = None  # one model's rows (its name); the rollup is per version, so read from the log
    model_is_default: bool = False  # `model` is the default model: rows without a name (before 0006) are its

    @property
    def scope(self) -> tuple[bool, int]:
        """What `in_window` filters on: (a version, model: 0 any, 1 its name, 2 its name or none)."""
        return self.model_version is not None, 0 if self.model is None else 1 + self.model_is_default

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def previous(self) -> Window:
        """The window of equal length just before this one."""
        return Window(
            self.start - (self.end - self.start), self.start, self.model_version, self.model, self.model_is_default
        )


def interval_for(seconds: float) -> int:
    return next((i for i in INTERVALS_S if seconds / i <= MAX_POINTS), INTERVALS_S[-1])


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# The queries are built once and bound to each window's times (building a CASE of 28 branches per
# call cost more than running it on a small window).
START = bindparam("start", type_=LOG.created_at.type)
END = bindparam("end", type_=LOG.created_at.type)
VERSION = bindparam("version", type_=LOG.model_version.type)
AFTER_ID = bindparam("after_id", type_=LOG.id.type)
MODEL = bindparam("model", type_=LOG.model.type)
INTERVAL = bindparam("interval", type_=Integer())


# Answers someone was sent (primary and canary rows): a shadow row is a candidate's score of a text the
# primary answered, so no served figure (stats, the rollup, drift, feedback, the review queue) counts it.
SERVED = LOG.role != "shadow"


def in_window(versioned: bool, late: bool = False, model: int = 0) -> ColumnElement[bool]:
    """Served rows of [start, end) (of one version); with `late`, only those with an id above `after_id`.

    `model` (`Window.scope`): 0 any model, 1 rows named `model`, 2 those and rows without a name.
    """
    condition = and_(LOG.created_at >= START, LOG.created_at < END, SERVED)
    if late:
        condition = and_(condition, LOG.id > AFTER_ID)
    if model:
        condition = and_(condition, or_(LOG.model == MODEL, LOG.model.is_(None)) if model == 2 else LOG.model == MODEL)
    return and_(condition, LOG.model_version == VERSION) if versioned else condition


def bound(window: Window, after_id: int | None = None, **extra: Any) -> dict[str, Any]:
    """The parameters of a query built by `in_window`."""
    return {
        "start": window.start,
        "end": window.end,
        "version": window.model_version,
        "model": window.model,
        "after_id": after_id,
        **extra,
    }


def bucket_of(column: ColumnElement[Any], edges: Sequence[float]) -> ColumnElement[int]:
    """The bin number of `column` over `edges` (0 .. len(edges) - 2; beyond the last edge: the last bin)."""
    return case(*[(column < edge, i) for i, edge in enumerate(edges[1:-1])], else_=len(edges) - 2)


PREDICTED = and_(LOG.label.is_not(None), SERVED)  # answers predicted (not an item's error rows, nor shadow rows)
UNKNOWN_RATE = cast(LOG.unknown_tokens, Float) / LOG.tokens


@dataclass(frozen=True)
class Binned:
    column: ColumnElement[Any]
    edges: tuple[float, ...]
    where: ColumnElement[bool]  # the rows that have a value


BINNED = {
    "score": Binned(LOG.score, tuple(SCORE_EDGES), PREDICTED),
    "text_length": Binned(LOG.text_chars, tuple(TEXT_LENGTH_EDGES), PREDICTED),
    "unknown_token_rate": Binned(UNKNOWN_RATE, tuple(UNKNOWN_RATE_EDGES), LOG.tokens > 0),
    "latency_ms": Binned(LOG.latency_ms, tuple(LATENCY_EDGES_MS), LOG.latency_ms.is_not(None)),
    "queue_wait_ms": Binned(LOG.queue_wait_ms, tuple(LATENCY_EDGES_MS), LOG.queue_wait_ms.is_not(None)),
    "batch_size": Binned(LOG.batch_size, tuple(BATCH_SIZE_EDGES), LOG.batch_size.is_not(None)),
}


MINUTE, HOUR, DAY = 60, 3600, 86400
SPANS = (MINUTE, HOUR, DAY)  # the rollup's levels: each one a whole number of the one before


def floor_to(seconds: float, span: int) -> int:
    return math.floor(seconds / span) * span


def ceil_to(seconds: float, span: int) -> int:
    return math.ceil(seconds / span) * span


def moment(seconds: int) -> datetime:
    """The UTC time of epoch seconds."""
    return datetime.fromtimestamp(seconds, UTC)


def as_seconds(value: datetime | str) -> float:
    """Epoch seconds of a logged time (SQLite's min/max over a DateTime column come back as text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return as_utc(value).timestamp()


def iso(moment: datetime) -> str:
    return as_utc(moment).isoformat().replace("+00:00", "Z")
