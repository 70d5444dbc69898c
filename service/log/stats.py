"""Aggregates of the request log over a time window, computed in the database.

Every figure is one `GROUP BY` query whose groups are small (a bucket number, a label, an error
code), so the database scans the window once per figure and Python only reads a few dozen numbers
back. The same SQL runs on SQLite and PostgreSQL: histograms bucket with `CASE` over fixed edges,
the per-interval series with integer arithmetic on epoch seconds (`epoch_seconds`, the one
expression rendered per dialect), and percentiles are read off fine fixed buckets (below). With
the rollup on, whole minutes and hours of the window come from `stats_rollup` instead and the log
is read only for the rest (`service.log.rollup_read`), with the same result.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Select, case, func, select

from service.log.figures import (
    BINNED,
    FEEDBACK,
    INTERVAL,
    LOG,
    PREDICTED,
    START,
    WINDOWS,
    Window,
    as_utc,
    bound,
    bucket_of,
    epoch_seconds,
    in_window,
    interval_for,
    iso,
)
from service.log.rollup_read import Sources, series_counts, sources
from service.log.tables import FeedbackRow, RequestLogRow

__all__ = ["FEEDBACK", "LOG", "PREDICTED", "WINDOWS", "Window", "as_utc", "drift_histograms", "iso", "window_stats"]


@cache
def _histogram_query(name: str, scope: tuple[bool, int], late: bool = False) -> Select[*tuple[Any, ...]]:
    figure = BINNED[name]
    bucket = bucket_of(figure.column, figure.edges).label("bucket")
    column = figure.column
    return (
        select(bucket, func.count(), func.sum(column), func.min(column), func.max(column))
        .where(in_window(scope[0], late, scope[1]), figure.where, column.is_not(None))
        .group_by(bucket)
    )


def histogram(connection: Connection, src: Sources, name: str) -> dict[str, Any]:
    """Counts per bin of a `BINNED` figure over the window's rows, with each bin's sum, smallest and largest value."""
    edges = BINNED[name].edges
    bins = len(edges) - 1
    counts, lows, highs = [0] * bins, [0.0] * bins, [0.0] * bins
    total = 0.0
    scope = src.window.scope
    found = [
        tuple(row)
        for w, after in src.raw
        for row in connection.execute(_histogram_query(name, scope, after is not None), bound(w, after))
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
def _series_query(scope: tuple[bool, int], late: bool = False) -> Select[*tuple[Any, ...]]:
    bucket = (epoch_seconds(LOG.created_at) // INTERVAL).label("bucket")
    errors = func.sum(case((LOG.status >= 400, 1), else_=0))
    return select(bucket, func.count(), errors).where(in_window(scope[0], late, scope[1])).group_by(bucket)


def series(connection: Connection, src: Sources, interval_s: int) -> dict[str, Any]:
    """Rows and error rows per interval (aligned to multiples of the interval since the epoch, UTC).

    Every interval that overlaps the window is present, zero when empty; the first and the last
    may be partly outside the window (only rows inside it are counted).
    """
    window = src.window
    found: dict[int, list[int]] = {}
    for part, after in src.raw:
        query = _series_query(window.scope, after is not None)
        for b, c, e in connection.execute(query, bound(part, after, interval=interval_s)):
            point = found.setdefault(int(b), [0, 0])
            point[0], point[1] = point[0] + int(c), point[1] + int(e or 0)
    if src.a < src.b:
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


GROUPED = {"label": LOG.label, "error_code": LOG.error_code, "language": LOG.language}


@cache
def _grouped_query(name: str, scope: tuple[bool, int], late: bool = False) -> Select[*tuple[Any, ...]]:
    column = GROUPED[name]
    where = in_window(scope[0], late, scope[1])
    return select(column, func.count()).where(where, column.is_not(None)).group_by(column)


def grouped_counts(connection: Connection, src: Sources, name: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for part, after in src.raw:
        query = _grouped_query(name, src.window.scope, after is not None)
        for key, count in connection.execute(query, bound(part, after)):
            counts[str(key)] = counts.get(str(key), 0) + int(count)
    for (figure, key, _), cell in src.cells.items():
        if figure == name:
            counts[key] = counts.get(key, 0) + cell[0]
    return counts


@cache
def _feedback_query(scope: tuple[bool, int]) -> Select[*tuple[Any, ...]]:
    version = func.coalesce(LOG.model_version, "")
    return (
        select(version, LOG.label, FEEDBACK.label, func.count())
        .select_from(FeedbackRow.__table__.join(RequestLogRow.__table__, LOG.id == FEEDBACK.log_id))
        # Feedback comes after its prediction: its own index narrows the rows to join first.
        .where(FEEDBACK.created_at >= START, in_window(scope[0], model=scope[1]))
        .group_by(version, LOG.label, FEEDBACK.label)
    )


def feedback_confusion(connection: Connection, window: Window) -> list[tuple[str, str, str, int]]:
    """(model version, predicted, true label, count) for feedback on the window's predictions.

    Each feedback row joins the log row it was given for (`feedback.log_id`).
    """
    query = _feedback_query(window.scope)
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
    """The distributions that drift compares: label and language counts and three binned features."""
    src = sources(connection, window, rollup=rollup)
    return {
        "label_mix": grouped_counts(connection, src, "label"),
        "language_mix": grouped_counts(connection, src, "language"),
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
            "model": window.model,
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
        "languages": grouped_counts(connection, src, "language"),
        "feedback": feedback_summary(feedback_confusion(connection, window), labels),
        "rollup": {
            "until": iso(datetime.fromtimestamp(mark, UTC)) if mark is not None else None,
            "minutes_read": (src.b - src.a) // 60,
        },
    }
