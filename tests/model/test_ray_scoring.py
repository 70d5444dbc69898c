"""Ray Data: `score_dataset` on a local Ray instance with 2 CPUs (one instance for the module: Ray starts slowly)."""

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
    rows: list[dict[str, object]] = [{"id": i, "review": t} for i, (t, _) in enumerate(synthetic_reviews(200))]
    rows[7]["review"], rows[150]["review"] = "", None  # bad rows: kept, with an error and no prediction
    ds = ray.data.from_items(rows, override_num_blocks=8)
    scored = score_dataset(
        ds, tiny_artifact, text_column="review", batch_size=25, concurrency=2, skip_bad=True
    ).take_all()
    assert [r["id"] for r in scored] == list(range(200))
    assert [i for i, r in enumerate(scored) if r["error"]] == [7, 150]
    assert scored[7]["error"] == "empty or missing text in column 'review'" and scored[150]["label"] is None
    good = [r for r in scored if not r["error"]]
    expected = load_predictor(tiny_artifact).predict([str(r["review"]) for r in good])
    assert [r["label"] for r in good] == [p.label for p in expected]
    for row, p in zip(good, expected, strict=True):
        assert row["prob_positive"] == pytest.approx(p.probabilities["positive"], abs=1e-6)
        assert row["score"] == pytest.approx(p.score, abs=1e-6)


def test_a_bad_row_fails_the_job_by_default(local_ray: None, tiny_artifact: Path) -> None:
    ds = ray.data.from_items([{"text": "good movie"}, {"text": ""}])
    with pytest.raises(Exception, match="empty or missing text in column 'text'"):
        score_dataset(ds, tiny_artifact, prefix="pred_").take_all()
