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

from training.data import NEUTRAL_BAND, label_for_rating

POLAR_THRESHOLD = 0.25  # |rating / scale| of a clearly polar item (|mean| >= 1 of 4)
THREE = ("negative", "neutral", "positive")
ECE_BINS = 15


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
    return float(classification_metrics(classes, actual, predicted)["macro_f1"])


def classification_metrics(
    labels: Sequence[Hashable],
    truth: Sequence[Hashable],
    predicted: Sequence[Hashable],
    confidence: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1, macro-F1 (a class neither predicted nor present
    scores 0), confusion matrix (rows: truth) and, given each answer's confidence, ECE over
    ECE_BINS equal-width bins with its reliability bins. The one implementation of these figures."""
    labels = list(labels)
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for t, p in zip(truth, predicted, strict=True):
        matrix[index[t]][index[p]] += 1
    per_class = {}
    for i, label in enumerate(labels):
        tp = matrix[i][i]
        fp = sum(matrix[r][i] for r in range(len(labels))) - tp
        fn = sum(matrix[i]) - tp
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {"precision": precision, "recall": recall, "f1": f1, "support": sum(matrix[i])}
    n = len(truth)
    result: dict[str, Any] = {
        "examples": n,
        "accuracy": sum(int(t == p) for t, p in zip(truth, predicted, strict=True)) / n if n else 0.0,
        "per_class": per_class,
        "macro_f1": sum(c["f1"] for c in per_class.values()) / len(labels),
        "confusion_matrix": {"labels": labels, "rows_truth_columns_predicted": matrix},
    }
    if confidence is None:
        return result
    bins = [[0, 0.0, 0] for _ in range(ECE_BINS)]  # count, confidence sum, correct
    for t, p, c in zip(truth, predicted, confidence, strict=True):
        b = min(int(c * ECE_BINS), ECE_BINS - 1)
        bins[b][0] += 1
        bins[b][1] += c
        bins[b][2] += int(t == p)
    ece = sum(abs(cnt and (corr / cnt - conf / cnt)) * cnt / n for cnt, conf, corr in bins) if n else 0.0
    return {
        **result,
        "ece": ece,
        "reliability": [
            {"bin": i, "count": cnt, "confidence": conf / cnt if cnt else None, "accuracy": corr / cnt if cnt else None}
            for i, (cnt, conf, corr) in enumerate(bins)
        ],
    }


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
    metrics = classification_metrics(classes, actual, predicted, confidence)
    out: dict[str, Any] = {
        "examples": len(targets),
        "pearson_r": pearson(polarity, targets),
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "classes": list(classes),
        "confusion": metrics["confusion_matrix"]["rows_truth_columns_predicted"],
        "polar_accuracy": polar,
        "polar_examples": n_polar,
        "neutral_share": sum(a == "neutral" for a in actual) / max(len(actual), 1),
    }
    if confidence is not None:
        out["ece"] = metrics["ece"]
    return out


def binary_pair(labels: Sequence[str]) -> tuple[int, int] | None:
    """(index of negative, index of positive) for a model with more labels than those two, whose
    binary accuracy (argmax over the two, on rows labelled with them) compares with a two-label
    model's accuracy; None for any other label set."""
    if len(labels) <= 2 or not {"negative", "positive"} <= set(labels):
        return None
    return list(labels).index("negative"), list(labels).index("positive")


def band_labels(values: Sequence[float], band: float = NEUTRAL_BAND) -> list[str]:
    """A signed score to negative / neutral / positive by the same band as the human classes."""
    return [label_for_rating(v, band) for v in values]
