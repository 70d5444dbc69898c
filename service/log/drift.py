"""Drift: how far the current window's distributions moved from a reference window's.

The measure is the Jensen–Shannon distance (the square root of the JS divergence, base 2, so it
lies in [0, 1]) over the fixed bins of `service.log.stats`, as Evidently computes it for
numerical and categorical features above 1,000 rows, with its default threshold: drift at a
distance of 0.1 or more. Below `min_rows` rows in either window a bin's share is too noisy to
judge (two samples of 100 rows from one distribution often differ by more than 0.1), so the
distance is null and no drift is reported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from service.log.stats import iso

METHOD = "jensen-shannon distance"
FEATURES = ("label_mix", "language_mix", "score", "text_length", "unknown_token_rate")
Counts = Mapping[str, int] | Sequence[int]


def js_distance(p: Sequence[float], q: Sequence[float]) -> float:
    """Jensen–Shannon distance (base 2) between two count vectors over the same bins."""
    sp, sq = sum(p), sum(q)
    if not sp or not sq:
        raise ValueError("both distributions need at least one observation")
    divergence = 0.0
    for a, b in zip(p, q, strict=True):
        a, b = a / sp, b / sq
        m = (a + b) / 2
        if a:
            divergence += 0.5 * a * math.log2(a / m)
        if b:
            divergence += 0.5 * b * math.log2(b / m)
    return math.sqrt(max(0.0, min(1.0, divergence)))


def _aligned(reference: Counts, current: Counts) -> tuple[list[int], list[int]]:
    if isinstance(reference, Mapping) and isinstance(current, Mapping):
        keys = sorted(set(reference) | set(current))
        return [reference.get(k, 0) for k in keys], [current.get(k, 0) for k in keys]
    assert not isinstance(reference, Mapping) and not isinstance(current, Mapping)
    return list(reference), list(current)


def compare(
    reference: Mapping[str, Counts],
    current: Mapping[str, Counts],
    *,
    threshold: float,
    min_rows: int,
    reference_window: tuple[datetime, datetime] | None = None,
) -> dict[str, Any]:
    """The `drift` object of /v1/stats: a distance and a verdict per feature, and overall."""
    features: dict[str, Any] = {}
    for name in FEATURES:
        ref, cur = _aligned(reference[name], current[name])
        ref_rows, cur_rows = sum(ref), sum(cur)
        distance = js_distance(ref, cur) if min(ref_rows, cur_rows) >= max(1, min_rows) else None
        features[name] = {
            "distance": distance,
            "drift": distance is not None and distance >= threshold,
            "reference_rows": ref_rows,
            "current_rows": cur_rows,
        }
    return {
        "reference": {"start": iso(reference_window[0]), "end": iso(reference_window[1])} if reference_window else None,
        "method": METHOD,
        "threshold": threshold,
        "min_rows": min_rows,
        "drift": any(f["drift"] for f in features.values()),
        "features": features,
    }
