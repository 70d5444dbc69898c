"""Metrics for graded data (human ratings): how well polarity and the three classes match people.

Used by training (per-epoch validation), `python -m training evaluate` and bench/baselines.py, so
every figure in BENCHMARKS.md is computed one way. Classes as in Hutto & Gilbert 2014 (VADER):
rating / scale >= 0.05 positive, <= -0.05 negative, else neutral; "clearly polar" items have
|mean rating| >= 1 on their -4 .. +4 scale, i.e. |rating / scale| >= 0.25.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any

POLAR_THRESHOLD = 0.25  # |rating / scale| of a clearly polar item (|mean| >= 1 of 4)
THREE = ("negative", "neutral", "positive")


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson's r; None with fewer than 3 pairs or no variance."""
    n = len(x)
    if n < 3:
        return None
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else None


def macro_f1(predicted: Sequence[Hashable], actual: Sequence[Hashable], classes: Sequence[Hashable]) -> float:
    """Mean over `classes` of F1 (a class neither predicted nor present scores 0)."""
    scores = []
    for c in classes:
        tp = sum(1 for p, a in zip(predicted, actual, strict=True) if p == c and a == c)
        fp = sum(1 for p, a in zip(predicted, actual, strict=True) if p == c and a != c)
        fn = sum(1 for p, a in zip(predicted, actual, strict=True) if p != c and a == c)
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


def confusion(predicted: Sequence[str], actual: Sequence[str], classes: Sequence[str]) -> list[list[int]]:
    """rows: actual class, columns: predicted class, in `classes` order."""
    index = {c: i for i, c in enumerate(classes)}
    table = [[0] * len(classes) for _ in classes]
    for p, a in zip(predicted, actual, strict=True):
        if p in index and a in index:
            table[index[a]][index[p]] += 1
    return table


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """ECE over equal-width confidence bins: the mean |accuracy - confidence|, weighted by bin size."""
    total = len(confidence)
    if not total:
        return 0.0
    error = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        members = [i for i, c in enumerate(confidence) if lo < c <= hi or (b == 0 and c == 0.0)]
        if members:
            accuracy = sum(correct[i] for i in members) / len(members)
            mean_confidence = sum(confidence[i] for i in members) / len(members)
            error += len(members) / total * abs(accuracy - mean_confidence)
    return error


def polar_accuracy(polarity: Sequence[float], targets: Sequence[float]) -> tuple[float | None, int]:
    """Sign agreement on clearly polar items (|target| >= POLAR_THRESHOLD), and how many there were."""
    pairs = [(p, t) for p, t in zip(polarity, targets, strict=True) if abs(t) >= POLAR_THRESHOLD]
    if not pairs:
        return None, 0
    return sum(1 for p, t in pairs if (p >= 0) == (t > 0)) / len(pairs), len(pairs)


def report(
    polarity: Sequence[float],
    targets: Sequence[float],
    predicted: Sequence[str],
    actual: Sequence[str],
    *,
    confidence: Sequence[float] | None = None,
    classes: Sequence[str] = THREE,
) -> dict[str, Any]:
    """Every graded figure for one set of rows (one domain)."""
    polar, n_polar = polar_accuracy(polarity, targets)
    out: dict[str, Any] = {
        "examples": len(targets),
        "pearson_r": pearson(polarity, targets),
        "accuracy": sum(p == a for p, a in zip(predicted, actual, strict=True)) / max(len(actual), 1),
        "macro_f1": macro_f1(predicted, actual, classes),
        "classes": list(classes),
        "confusion": confusion(predicted, actual, classes),
        "polar_accuracy": polar,
        "polar_examples": n_polar,
        "neutral_share": sum(a == "neutral" for a in actual) / max(len(actual), 1),
    }
    if confidence is not None:
        out["ece"] = expected_calibration_error(confidence, [p == a for p, a in zip(predicted, actual, strict=True)])
    return out


def band_labels(values: Sequence[float], band: float = 0.05) -> list[str]:
    """A signed score to negative / neutral / positive by the same band as the human classes."""
    return ["positive" if v >= band else "negative" if v <= -band else "neutral" for v in values]
