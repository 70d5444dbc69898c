"""Score a Ray Data dataset: `map_batches` over a pool of actors, each holding one Predictor.

    import ray
    from model.scoring import score_dataset

    ds = ray.data.read_parquet("s3://bucket/reviews/")           # any Ray Data source
    scored = score_dataset(ds, text_column="review", concurrency=8)
    scored.write_parquet("s3://bucket/reviews-scored/")

Each actor loads the artifact once (the shipped model unless `model_dir` names one; on a cluster
the directory must be readable on every node) and predicts whole batches in length-sorted forward
passes. The columns added are those of `python -m model score`: `label`, `score`,
`prob_<label>` per label, `polarity` (after `prefix`), and `error` with `skip_bad=True`. Ray itself is not
imported until `score_dataset` is called: `PredictorActor` alone needs no Ray.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from model.artifact import load_artifact
from model.predictor import DEFAULT_MODEL_DIR, Predictor
from model.scoring.columns import output_schema, prediction_arrays, score_texts
from model.scoring.readers import text_problem


class PredictorActor:
    """A Ray Data callable class: loads the model once, then scores pyarrow batches."""

    def __init__(
        self,
        model_dir: str | None = None,
        text_column: str = "text",
        *,
        threads: int = 1,
        batch_size: int = 64,
        runtime: str = "auto",
        precision: str = "fp32",
        prefix: str = "",
        skip_bad: bool = False,
    ) -> None:
        artifact = load_artifact(model_dir or DEFAULT_MODEL_DIR)
        self.predictor = Predictor(
            artifact, batch_size=batch_size, runtime=runtime, threads=threads, precision=precision
        )
        self.text_column = text_column
        self.prefix = prefix
        self.skip_bad = skip_bad

    def __call__(self, batch: pa.Table) -> pa.Table:
        if self.text_column not in batch.column_names:
            raise KeyError(f"no text column {self.text_column!r} (columns: {batch.column_names})")
        labels = self.predictor.labels
        schema = output_schema(batch.schema, labels, self.prefix, self.skip_bad)
        texts = batch.column(self.text_column).to_pylist()
        problems = [text_problem(t, self.text_column) for t in texts]
        if not self.skip_bad and any(problems):
            row = next(i for i, p in enumerate(problems) if p)
            raise ValueError(f"row {row} of a batch: {problems[row]} (pass skip_bad=True to keep such rows)")
        scores = score_texts(self.predictor, [t for t, p in zip(texts, problems, strict=True) if p is None])
        added = prediction_arrays(scores, labels, problems, self.prefix, self.skip_bad)
        return pa.Table.from_arrays([*batch.columns, *added], schema=schema)


def score_dataset(
    ds: Any,
    model_dir: str | Path | None = None,
    text_column: str = "text",
    *,
    batch_size: int = 1024,
    concurrency: int = 1,
    threads: int = 1,
    prefix: str = "",
    skip_bad: bool = False,
) -> Any:
    """Return `ds` (a `ray.data.Dataset`) with the prediction columns added to each row.

    Ray Data may reorder blocks; set `ray.data.DataContext.get_current().execution_options.preserve_order
    = True` first where the output's order must be the input's.

    `concurrency` actors each hold a Predictor using `threads` runtime threads (and reserving as
    many CPUs); `batch_size` rows go to an actor at a time and are length-sorted inside it.
    """
    from ray.data import ActorPoolStrategy

    return ds.map_batches(
        PredictorActor,
        fn_constructor_kwargs={
            "model_dir": None if model_dir is None else str(model_dir),
            "text_column": text_column,
            "threads": threads,
            "prefix": prefix,
            "skip_bad": skip_bad,
        },
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=ActorPoolStrategy(size=concurrency),
        num_cpus=threads,
        zero_copy_batch=True,
    )
