"""Ray Data: `score_dataset` on a local Ray instance with 2 CPUs."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from model import load_predictor
from model.scoring import score_dataset
from tests.conftest import synthetic_reviews

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    yield
    ray.shutdown()


def test_two_actors_score_a_dataset_like_the_predictor(local_ray: None, tiny_artifact: Path) -> None:
    rows = [{"id": i, "review": text} for i, (text, _) in enumerate(synthetic_reviews(200))]
    ds = ray.data.from_items(rows, override_num_blocks=8)
    scored = score_dataset(ds, tiny_artifact, text_column="review", batch_size=25, concurrency=2).take_all()
    assert [r["id"] for r in scored] == list(range(200))
    expected = load_predictor(tiny_artifact).predict([r["review"] for r in rows])
    assert [r["label"] for r in scored] == [p.label for p in expected]
    for row, p in zip(scored, expected, strict=True):
        assert row["prob_positive"] == pytest.approx(p.probabilities["positive"], abs=1e-6)
        assert row["score"] == pytest.approx(p.score, abs=1e-6)


def test_bad_rows_fail_the_job_or_carry_an_error(local_ray: None, tiny_artifact: Path) -> None:
    ds = ray.data.from_items([{"text": "good movie"}, {"text": ""}, {"text": None}])
    kept = score_dataset(ds, tiny_artifact, skip_bad=True, prefix="pred_").take_all()
    assert [r["pred_error"] for r in kept] == [None, "empty or missing text in column 'text'"] * 1 + [
        "empty or missing text in column 'text'"
    ]
    assert kept[0]["pred_label"] in ("negative", "positive") and kept[1]["pred_label"] is None
    with pytest.raises(Exception, match="empty or missing text"):
        score_dataset(ds, tiny_artifact).take_all()
