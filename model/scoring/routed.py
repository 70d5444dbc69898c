"""Scoring with several models: each row read by the model of its language, by `model.routing.choose`,
the rule the service routes by (`python -m model score --models en=DIR,zh=DIR`).

The output gets one probability column per label of any model (in the order the models list them;
0 for a label the model that read the row lacks), and three columns beside the prediction's:
`language` (as read), `model` (the name that read it) and `supported` (False: no model reads the
row's language, and the first model's best effort is written; bulk scoring never stops for one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from model.predictor import Predictor
from model.routing import SURE, choose
from model.scoring.columns import score_texts

ROUTE_FIELDS = (("language", pa.string()), ("model", pa.string()), ("supported", pa.bool_()))


@dataclass(frozen=True)
class RoutedScores:
    scores: np.ndarray  # (N, len(labels) + 1): probabilities over every model's labels, then polarity
    languages: list[str | None]
    models: list[str]
    supported: list[bool]


def union_labels(label_sets: Sequence[Sequence[str]]) -> list[str]:
    """Every label of any model, in the order the models (and their labels) come."""
    return list(dict.fromkeys(label for labels in label_sets for label in labels))


class RoutedScorer:
    def __init__(self, named: Sequence[tuple[str, Predictor]], *, sure: float = SURE) -> None:
        if not named:
            raise ValueError("no models to route between")
        self.names = [name for name, _ in named]
        self.predictors = [predictor for _, predictor in named]
        self.languages = [p.artifact.config.language for p in self.predictors]
        self.labels = union_labels([p.labels for p in self.predictors])
        self._columns = [[self.labels.index(label) for label in p.labels] for p in self.predictors]
        self.sure = sure

    def score(self, texts: Sequence[str], languages: Sequence[str | None] | None = None) -> RoutedScores:
        """Route each text (by `languages[i]` where given, else its detected language) and score it."""
        choices = [
            choose(text, self.languages, language=languages[i] if languages else None, sure=self.sure)
            for i, text in enumerate(texts)
        ]
        index = [0 if c.index is None else c.index for c in choices]  # unsupported: the first model's best effort
        full = np.zeros((len(texts), len(self.labels) + 1), dtype=np.float64)
        for k, predictor in enumerate(self.predictors):
            rows = [i for i, j in enumerate(index) if j == k]
            if rows:
                scores = score_texts(predictor, [texts[i] for i in rows])
                full[np.ix_(rows, self._columns[k])] = scores[:, :-1]
                full[rows, -1] = scores[:, -1]
        return RoutedScores(
            full, [c.language for c in choices], [self.names[j] for j in index], [c.supported for c in choices]
        )


def route_fields(prefix: str = "") -> list[pa.Field]:
    return [pa.field(prefix + name, kind) for name, kind in ROUTE_FIELDS]


def route_arrays(routed: RoutedScores, problems: Sequence[str | None]) -> list[pa.Array]:
    """`language`, `model`, `supported` for every row of a chunk; null on its bad rows (`problems`)."""
    values: list[list[object]] = [[None] * len(problems) for _ in ROUTE_FIELDS]
    good = (i for i, p in enumerate(problems) if p is None)
    for i, language, model, supported in zip(good, routed.languages, routed.models, routed.supported, strict=False):
        values[0][i], values[1][i], values[2][i] = language, model, supported
    return [pa.array(column, kind) for column, (_, kind) in zip(values, ROUTE_FIELDS, strict=True)]
