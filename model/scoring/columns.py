"""The columns scoring adds beside the input's own: label, score, one probability per label, polarity, error."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from model.predictor import Predictor


def prediction_fields(labels: Sequence[str], prefix: str = "", with_error: bool = False) -> list[pa.Field]:
    """`label`, `score`, `prob_<label>` for each label in the artifact's order, `polarity` (signed strength in
    [-1, 1], `Prediction.polarity`), and `error` if asked."""
    fields = [pa.field(prefix + "label", pa.string()), pa.field(prefix + "score", pa.float64())]
    fields += [pa.field(f"{prefix}prob_{label}", pa.float64()) for label in labels]
    fields.append(pa.field(prefix + "polarity", pa.float64()))
    if with_error:
        fields.append(pa.field(prefix + "error", pa.string()))
    return fields


def output_schema(own: pa.Schema, labels: Sequence[str], prefix: str = "", with_error: bool = False) -> pa.Schema:
    """The input's own columns, then the prediction columns; refuses a name that would be written twice."""
    added = prediction_fields(labels, prefix, with_error)
    clash = [f.name for f in added if f.name in own.names]
    if clash:
        raise ValueError(f"the input already has a column named {clash[0]!r}; pass a prefix (--prefix pred_)")
    return pa.schema([*own, *added])


def score_texts(predictor: Predictor, texts: Sequence[str]) -> np.ndarray:
    """(N, num_labels + 1) `Predictor.scores`: probabilities then polarity, as `Predictor.predict` gives them."""
    return predictor.scores([predictor.encode(t).ids for t in texts])


def prediction_arrays(
    scores: np.ndarray,
    labels: Sequence[str],
    problems: Sequence[str | None],
    prefix: str = "",
    with_error: bool = False,
) -> list[pa.Array]:
    """Arrays for `prediction_fields`: one row per entry of `problems`; a row with a problem is null.

    `scores` (`score_texts`) holds a row for each entry whose problem is None, in order.
    """
    ok = np.array([p is None for p in problems], dtype=bool)
    full = np.zeros((len(problems), len(labels) + 1), dtype=np.float64)
    full[ok] = scores
    best = full[:, : len(labels)].argmax(axis=1)  # the first of equal maxima, as Predictor.predict picks
    mask = ~ok
    arrays = [
        pa.array(np.array(labels, dtype=object)[best], pa.string(), mask=mask),
        pa.array(full[np.arange(len(problems)), best], pa.float64(), mask=mask),
    ]
    arrays += [pa.array(full[:, i], pa.float64(), mask=mask) for i in range(len(labels) + 1)]
    if with_error:
        arrays.append(pa.array(list(problems), pa.string()))
    return arrays
