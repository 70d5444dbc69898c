"""Aggregates of the request log over a time window, computed in the database.

Every figure is one `GROUP BY` query whose groups are small (a bucket number, a label, an error
code), so the database scans the window once per figure and Python only reads a few dozen numbers
back. The same SQL runs on SQLite and PostgreSQL: histograms bucket with `CASE` over fixed edges,
the per-interval series with integer arithmetic on epoch seconds (`epoch_seconds`, the one
expression rendered per dialect), and percentiles are read off fine fixed buckets (below).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Connection, Float, Integer, Select, and_, bindparam, case, cast, func, select
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

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def previous(self) -> Window:
        """The window of equal length just before this one."""
        return Window(self.start - (self.end - self.start), self.start, self.model_version)


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
INTERVAL = bindparam("interval", type_=Integer())


def in_window(versioned: bool, late: bool = False) -> ColumnElement[bool]:
    """Rows of [start, end) (of one version); with `late`, only those with an id above `after_id`."""
    condition = and_(LOG.created_at >= START, LOG.created_at < END)
    if late:
        condition = and_(condition, LOG.id > AFTER_ID)
    return and_(condition, LOG.model_version == VERSION) if versioned else condition


def bound(window: Window, after_id: int | None = None, **extra: Any) -> dict[str, Any]:
    """The parameters of a query built by `in_window`."""
    return {"start": window.start, "end": window.end, "version": window.model_version, "after_id": after_id, **extra}


def bucket_of(column: ColumnElement[Any], edges: Sequence[float]) -> ColumnElement[int]:
    """The bin number of `column` over `edges` (0 .. len(edges) - 2; beyond the last edge: the last bin)."""
    return case(*[(column < edge, i) for i, edge in enumerate(edges[1:-1])], else_=len(edges) - 2)


PREDICTED = LOG.label.is_not(None)  # rows that were predicted (an item's error rows are not)
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


@cache
def _histogram_query(name: str, versioned: bool, late: bool = False) -> Select[*tuple[Any, ...]]:
    figure = BINNED[name]
    bucket = bucket_of(figure.column, figure.edges).label("bucket")
    column = figure.column
    return (
        select(bucket, func.count(), func.sum(column), func.min(column), func.max(column))
        .where(in_window(versioned, late), figure.where, column.is_not(None))
        .group_by(bucket)
    )


@dataclass(frozen=True)
class Sources:
    """Where a window's figures come from: the log for `raw`, the rollup for the whole minutes [a, b)."""

    window: Window
    raw: list[tuple[Window, int | None]]  # a part of the window, and None or the id above which its rows count
    a: int = 0
    b: int = 0
    cells: dict[tuple[str, str, int], tuple[int, Any, Any, Any]] = field(default_factory=dict)
    watermark_s: int | None = None


def sources(connection: Connection, window: Window, *, rollup: bool) -> Sources:
    """Plan a window: whole minutes below the rollup's watermark from `stats_rollup`, the rest from the log."""
    if not rollup:
        return Sources(window, [(window, None)])
    from service.log import rollup as summary  # it builds on this module's figures

    mark, seen_id = summary.state(connection)
    raw, a, b = summary.plan(window, mark)
    parts: list[tuple[Window, int | None]] = [(w, None) for w in raw]
    cells = {}
    if a < b:
        cells = summary.cells(connection, a, b, window.model_version)
        # Rows committed since the last pass that belong to minutes it had already rolled up (a
        # writer that held them longer than the lag): the log gives them until the next pass does.
        if summary.rows_after(connection, seen_id, b):
            parts.append((Window(summary.moment(a), summary.moment(b), window.model_version), seen_id))
    return Sources(window, parts, a, b, cells, mark)


def histogram(connection: Connection, src: Sources, name: str) -> dict[str, Any]:
    """Counts per bin of a `BINNED` figure over the window's rows, with each bin's sum, smallest and largest value."""
    edges = BINNED[name].edges
    bins = len(edges) - 1
    counts, lows, highs = [0] * bins, [0.0] * bins, [0.0] * bins
    total = 0.0
    versioned = src.window.model_version is not None
    found = [
        tuple(row)
        for w, after in src.raw
        for row in connection.execute(_histogram_query(name, versioned, after is not None), bound(w, after))
    ]
    found += [(b, *cell) for (figure, _, b), cell in src.cells.items() if figure == name]
    for b, count, value_sum, value_min, value_max in found:
        low, high = float(value_min), float(value_max)
        if counts[b]:
            low, high = min(low, lows[b]), max(high, highs[b])
        counts[b], lows[b], highs[b] = counts[b] + int(count), low, high
        total += float(value_sum or 0)
    n = sum(counts)
    return {
        "edges": list(edges),
        "counts": counts,
        "mean": total / n if n else None,
        "lows": lows,
        "highs": highs,
        "max": max((h for h, c in zip(highs, counts, strict=True) if c), default=None),
    }


def percentiles(histogram: dict[str, Any], quantiles: Sequence[float] = (0.5, 0.9, 0.99)) -> dict[str, float | None]:
    """Read percentiles off bucket counts: rank q·n, linear between the bucket's smallest and largest value."""
    counts, lows, highs = histogram["counts"], histogram["lows"], histogram["highs"]
    n = sum(counts)
    answer: dict[str, float | None] = {f"p{round(q * 100)}": None for q in quantiles}
    answer["max"] = histogram["max"]
    if not n:
        return answer
    for q in quantiles:
        rank, seen = q * n, 0
        for i, count in enumerate(counts):
            if count and seen + count >= rank:
                answer[f"p{round(q * 100)}"] = lows[i] + (highs[i] - lows[i]) * max(0.0, rank - seen) / count
                break
            seen += count
    return answer


@cache
def _series_query(versioned: bool, late: bool = False) -> Select[*tuple[Any, ...]]:
    bucket = (epoch_seconds(LOG.created_at) // INTERVAL).label("bucket")
    errors = func.sum(case((LOG.status >= 400, 1), else_=0))
    return select(bucket, func.count(), errors).where(in_window(versioned, late)).group_by(bucket)


def series(connection: Connection, src: Sources, interval_s: int) -> dict[str, Any]:
    """Rows and error rows per interval (aligned to multiples of the interval since the epoch, UTC).

    Every interval that overlaps the window is present, zero when empty; the first and the last
    may be partly outside the window (only rows inside it are counted).
    """
    window = src.window
    found: dict[int, list[int]] = {}
    for part, after in src.raw:
        query = _series_query(window.model_version is not None, after is not None)
        for b, c, e in connection.execute(query, bound(part, after, interval=interval_s)):
            point = found.setdefault(int(b), [0, 0])
            point[0], point[1] = point[0] + int(c), point[1] + int(e or 0)
    if src.a < src.b:
        from service.log.rollup import series_counts

        for b, (c, e) in series_counts(connection, src.a, src.b, window.model_version, interval_s).items():
            point = found.setdefault(b, [0, 0])
            point[0], point[1] = point[0] + c, point[1] + e
    first = int(window.start.timestamp()) // interval_s
    last = -(-int(window.end.timestamp()) // interval_s)
    points = []
    for b in range(first, max(first + 1, last)):
        count, errs = found.get(b, (0, 0))
        points.append({"t": iso(datetime.fromtimestamp(b * interval_s, UTC)), "count": count, "errors": errs})
    return {
        "total": sum(p["count"] for p in points),
        "errors": sum(p["errors"] for p in points),
        "series": points,
    }


GROUPED = {"label": LOG.label, "error_code": LOG.error_code}


@cache
def _grouped_query(name: str, versioned: bool, late: bool = False) -> Select[*tuple[Any, ...]]:
    column = GROUPED[name]
    return select(column, func.count()).where(in_window(versioned, late), column.is_not(None)).group_by(column)


def grouped_counts(connection: Connection, src: Sources, name: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for part, after in src.raw:
        query = _grouped_query(name, src.window.model_version is not None, after is not None)
        for key, count in connection.execute(query, bound(part, after)):
            counts[str(key)] = counts.get(str(key), 0) + int(count)
    for (figure, key, _), cell in src.cells.items():
        if figure == name:
            counts[key] = counts.get(key, 0) + cell[0]
    return counts


@cache
def _feedback_query(versioned: bool) -> Select[*tuple[Any, ...]]:
    other = RequestLogRow.__table__.alias("other")
    newest = (
        select(func.max(other.c.id))
        .where(
            other.c.request_id == FEEDBACK.request_id,
            other.c.item_index == FEEDBACK.item_index,
            other.c.label.is_not(None),
        )
        .correlate(FeedbackRow.__table__)
        .scalar_subquery()
    )
    version = func.coalesce(LOG.model_version, "")
    return (
        select(version, LOG.label, FEEDBACK.label, func.count())
        .select_from(FeedbackRow.__table__.join(RequestLogRow.__table__, LOG.id == newest))
        # Feedback comes after its prediction: its own index narrows the rows to join first.
        .where(FEEDBACK.created_at >= START, in_window(versioned))
        .group_by(version, LOG.label, FEEDBACK.label)
    )


def feedback_confusion(connection: Connection, window: Window) -> list[tuple[str, str, str, int]]:
    """(model version, predicted, true label, count) for feedback on the window's predictions.

    Each feedback row joins the newest predicted log row of its request id and item (a client's
    retry logs the same request id twice).
    """
    query = _feedback_query(window.model_version is not None)
    return [(str(v), str(p), str(t), int(n)) for v, p, t, n in connection.execute(query, bound(window))]


def feedback_summary(rows: list[tuple[str, str, str, int]], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, per-class precision/recall and the confusion matrix per model version."""
    by_version: list[dict[str, Any]] = []
    for version in sorted({r[0] for r in rows}):
        cells = {(p, t): n for v, p, t, n in rows if v == version}
        names = list(labels) + sorted({x for pair in cells for x in pair} - set(labels))
        matrix = [[cells.get((p, t), 0) for p in names] for t in names]  # rows: true label; columns: predicted
        count = sum(cells.values())
        correct = sum(matrix[i][i] for i in range(len(names)))
        per_class = {}
        for i, name in enumerate(names):
            predicted = sum(matrix[j][i] for j in range(len(names)))
            support = sum(matrix[i])
            per_class[name] = {
                "precision": matrix[i][i] / predicted if predicted else None,
                "recall": matrix[i][i] / support if support else None,
                "support": support,
            }
        by_version.append(
            {
                "model_version": version or None,
                "count": count,
                "accuracy": correct / count if count else None,
                "per_class": per_class,
                "confusion": {"labels": names, "matrix": matrix},
            }
        )
    total = sum(v["count"] for v in by_version)
    correct_all = sum(n for _, p, t, n in rows if p == t)
    return {"count": total, "accuracy": correct_all / total if total else None, "by_version": by_version}


def drift_histograms(connection: Connection, window: Window, *, rollup: bool = False) -> dict[str, Any]:
    """The four distributions that drift compares: label counts and three binned features."""
    src = sources(connection, window, rollup=rollup)
    return {
        "label_mix": grouped_counts(connection, src, "label"),
        "score": histogram(connection, src, "score")["counts"],
        "text_length": histogram(connection, src, "text_length")["counts"],
        "unknown_token_rate": histogram(connection, src, "unknown_token_rate")["counts"],
    }


def window_stats(
    connection: Connection, window: Window, *, labels: Sequence[str], rollup: bool = False
) -> dict[str, Any]:
    """Every figure of `/v1/stats` except drift, for one window (whole minutes from the rollup when `rollup`)."""
    src = sources(connection, window, rollup=rollup)
    interval = interval_for(window.seconds)
    score, length, unknown, latency, wait, batch = (
        histogram(connection, src, name)
        for name in ("score", "text_length", "unknown_token_rate", "latency_ms", "queue_wait_ms", "batch_size")
    )
    mark = src.watermark_s
    return {
        "window": {
            "start": iso(window.start),
            "end": iso(window.end),
            "interval_s": interval,
            "model_version": window.model_version,
        },
        "requests": series(connection, src, interval),
        "labels": grouped_counts(connection, src, "label"),
        "score_histogram": {"edges": score["edges"], "counts": score["counts"]},
        "text_length": {"edges": length["edges"], "counts": length["counts"]},
        "unknown_token_rate": {"mean": unknown["mean"], "edges": unknown["edges"], "counts": unknown["counts"]},
        "latency_ms": percentiles(latency),
        "queue_wait_ms": percentiles(wait),
        "batch_size": {"edges": batch["edges"], "counts": batch["counts"], "mean": batch["mean"]},
        "errors_by_code": grouped_counts(connection, src, "error_code"),
        "feedback": feedback_summary(feedback_confusion(connection, window), labels),
        "rollup": {
            "until": iso(datetime.fromtimestamp(mark, UTC)) if mark is not None else None,
            "minutes_read": (src.b - src.a) // 60,
        },
    }


def iso(moment: datetime) -> str:
    return as_utc(moment).isoformat().replace("+00:00", "Z")
