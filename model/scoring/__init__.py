"""Bulk scoring: whole files (`python -m model score`) and Ray Data datasets.

Needs the `score` extra (pyarrow, pandas, tqdm); Ray Data needs the `ray` extra. `import model` never
imports this package.
"""

from model.scoring.columns import output_schema, prediction_arrays, prediction_fields, score_texts
from model.scoring.ray_data import PredictorActor, score_dataset
from model.scoring.readers import FORMATS, TEXT_COLUMNS, ScoringError
from model.scoring.run import ScoreOptions, ScoreSummary, score_file

__all__ = [
    "FORMATS",
    "TEXT_COLUMNS",
    "PredictorActor",
    "ScoreOptions",
    "ScoreSummary",
    "ScoringError",
    "output_schema",
    "prediction_arrays",
    "prediction_fields",
    "score_dataset",
    "score_file",
    "score_texts",
]
