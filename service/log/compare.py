"""A model's candidate against its primary over a window, computed in the database.

Agreement pairs each shadow row with the primary row of the same request and item (the same text,
scored by both); latency is read per role (primary, canary, shadow); accuracy on feedback is taken
on the feedback rows whose prediction also has a shadow score (so both were judged on the same
texts), and, per role, on every feedback row of the window (canary and primary answered different
texts there). The same SQL runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, func, select

from service.log.figures import LATENCY_EDGES_MS, as_utc, bucket_of
from service.log.queries import model_is
from service.log.stats import percentiles
from service.log.tables import FeedbackRow, RequestLogRow

ROLES = ("primary", "canary", "shadow")


@dataclass(frozen=True)
class CompareWindow:
    model: str
    start: datetime
    end: datetime
    candidate_version: str | None = None  # only this candidate's rows (None: every candidate's in the window)
    model_is_default: bool = False  # rows without a name (before 0006) are this model's


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def compare(connection: Connection, window: CompareWindow, *, disagreements: int = 20) -> dict[str, Any]:
    """Agreement (overall, per primary label), the most confident disagreements, latency per role, feedback."""
    shadow = RequestLogRow.__table__.alias("shadow")
    primary = RequestLogRow.__table__.alias("primary_row")
    s, p = shadow.c, primary.c
    same_text = and_(
        p.request_id == s.request_id,
        p.item_index == s.item_index,
        p.model == s.model,
        p.role == "primary",
        p.label.is_not(None),
    )
    pairs = shadow.join(primary, same_text)
    in_pairs = [s.role == "shadow", s.model == window.model, s.created_at >= window.start, s.created_at < window.end]
    if window.candidate_version is not None:
        in_pairs.append(s.model_version == window.candidate_version)
    agree = case((p.label == s.label, 1), else_=0)

    by_label: dict[str, dict[str, Any]] = {}
    query = select(p.label, func.count(), func.sum(agree)).select_from(pairs).where(*in_pairs).group_by(p.label)
    for label, count, agreed in connection.execute(query):
        by_label[str(label)] = {"pairs": int(count), "agreed": int(agreed or 0), "rate": _rate(int(agreed or 0), count)}
    total = sum(v["pairs"] for v in by_label.values())
    agreed_all = sum(v["agreed"] for v in by_label.values())

    worst = (
        select(
            p.request_id,
            p.item_index,
            p.created_at,
            p.text,
            p.label,
            p.score,
            p.model_version,
            s.label,
            s.score,
            s.model_version,
        )
        .select_from(pairs)
        .where(*in_pairs, p.label != s.label)
        .order_by((p.score + s.score).desc(), s.id.desc())
        .limit(disagreements)
    )
    listed = [
        {
            "request_id": r[0],
            "item_index": r[1],
            "created_at": as_utc(r[2]),
            "text": r[3],
            "primary": {"label": r[4], "score": r[5], "model_version": r[6]},
            "candidate": {"label": r[7], "score": r[8], "model_version": r[9]},
        }
        for r in connection.execute(worst)
    ]

    return {
        "agreement": {"pairs": total, "agreed": agreed_all, "rate": _rate(agreed_all, total), "by_label": by_label},
        "disagreements": listed,
        "latency_ms": _latency(connection, window),
        "feedback": {
            "on_both": _feedback_on_both(connection, pairs, in_pairs, p, s),
            **_feedback_by_role(connection, window),
        },
    }


def _rows_of(window: CompareWindow) -> list[Any]:
    """The model's rows of the window that a figure per role reads (a candidate's, when one is named)."""
    log = RequestLogRow.__table__.c
    where = [
        log.created_at >= window.start,
        log.created_at < window.end,
        model_is(log.model, window.model, default=window.model_is_default),
        log.label.is_not(None),
    ]
    if window.candidate_version is not None:
        where.append((log.role == "primary") | (log.model_version == window.candidate_version))
    return where


def _latency(connection: Connection, window: CompareWindow) -> dict[str, Any]:
    """p50 / p90 / p99 / max per role, read off the fixed latency buckets as /v1/stats does."""
    log = RequestLogRow.__table__.c
    bucket = bucket_of(log.latency_ms, LATENCY_EDGES_MS).label("bucket")
    query = (
        select(log.role, bucket, func.count(), func.min(log.latency_ms), func.max(log.latency_ms))
        .where(*_rows_of(window), log.latency_ms.is_not(None))
        .group_by(log.role, bucket)
    )
    bins = len(LATENCY_EDGES_MS) - 1
    found: dict[str, dict[str, Any]] = {}
    for role, b, count, low, high in connection.execute(query):
        h = found.setdefault(str(role), {"counts": [0] * bins, "lows": [0.0] * bins, "highs": [0.0] * bins})
        h["counts"][b], h["lows"][b], h["highs"][b] = int(count), float(low), float(high)
    answer: dict[str, Any] = {}
    for role in ROLES:
        if role not in found:
            answer[role] = {"count": 0, "p50": None, "p90": None, "p99": None, "max": None}
            continue
        histogram = found[role]
        histogram["max"] = max((hi for hi, c in zip(histogram["highs"], histogram["counts"], strict=True) if c))
        answer[role] = {"count": sum(histogram["counts"]), **percentiles(histogram)}
    return answer


def _feedback_on_both(connection: Connection, pairs: Any, in_pairs: list[Any], p: Any, s: Any) -> dict[str, Any]:
    """Accuracy of each on the feedback rows whose text both scored (feedback binds to the primary's row)."""
    feedback = FeedbackRow.__table__.c
    query = (
        select(
            func.count(),
            func.sum(case((p.label == feedback.label, 1), else_=0)),
            func.sum(case((s.label == feedback.label, 1), else_=0)),
        )
        .select_from(pairs.join(FeedbackRow.__table__, feedback.log_id == p.id))
        .where(*in_pairs)
    )
    count, primary_right, candidate_right = connection.execute(query).one()
    count, primary_right, candidate_right = int(count), int(primary_right or 0), int(candidate_right or 0)
    return {
        "count": count,
        "primary_correct": primary_right,
        "candidate_correct": candidate_right,
        "primary_accuracy": _rate(primary_right, count),
        "candidate_accuracy": _rate(candidate_right, count),
    }


def _feedback_by_role(connection: Connection, window: CompareWindow) -> dict[str, Any]:
    """Accuracy of the answers each version served (primary, canary) on their own feedback rows."""
    log, feedback = RequestLogRow.__table__.c, FeedbackRow.__table__.c
    query = (
        select(log.role, func.count(), func.sum(case((log.label == feedback.label, 1), else_=0)))
        .select_from(RequestLogRow.__table__.join(FeedbackRow.__table__, feedback.log_id == log.id))
        .where(*_rows_of(window), log.role != "shadow")
        .group_by(log.role)
    )
    found = {str(role): (int(count), int(right or 0)) for role, count, right in connection.execute(query)}
    return {
        "served": {
            role: {
                "count": found.get(role, (0, 0))[0],
                "accuracy": _rate(found.get(role, (0, 0))[1], found.get(role, (0, 0))[0]),
            }
            for role in ("primary", "canary")
        }
    }
