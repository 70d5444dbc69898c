import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model import DEFAULT_MODEL_DIR, load_predictor
from tests.conftest import make_artifact

TEXTS = ["good", "the movie was not good at all , the plot was poor .", "", "great " * 100, "awful !", "fine fine"]


def test_predictions_are_well_formed(tiny_artifact: Path) -> None:
    predictor = load_predictor(tiny_artifact)
    for p in predictor.predict(TEXTS):
        assert p.label in predictor.labels
        assert math.isclose(sum(p.probabilities.values()), 1.0, abs_tol=1e-9)
        assert p.score == p.probabilities[p.label] == max(p.probabilities.values())


def test_batch_equals_single(tiny_artifact: Path) -> None:
    predictor = load_predictor(tiny_artifact, batch_size=4)
    together = predictor.predict(TEXTS)
    for text, batched in zip(TEXTS, together, strict=True):
        (alone,) = predictor.predict([text])
        for label in predictor.labels:
            assert abs(alone.probabilities[label] - batched.probabilities[label]) < 1e-5


def test_truncation_is_visible(tiny_artifact: Path) -> None:
    (p,) = load_predictor(tiny_artifact).predict(["good " * 100])
    assert (p.tokens_used, p.tokens_total) == (40, 100)


def test_more_than_two_labels(tmp_path: Path) -> None:
    predictor = load_predictor(make_artifact(tmp_path / "three", labels=["neg", "neu", "pos"]))
    (p,) = predictor.predict(["fine"])
    assert set(p.probabilities) == {"neg", "neu", "pos"}


def test_a_bare_string_is_refused(tiny_artifact: Path) -> None:
    with pytest.raises(TypeError):
        load_predictor(tiny_artifact).predict("good")  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=300), min_size=1, max_size=5))
def test_any_unicode_gets_an_answer(tiny_artifact: Path, texts: list[str]) -> None:
    results = load_predictor(tiny_artifact).predict(texts)
    assert len(results) == len(texts)
    assert all(math.isfinite(p.score) for p in results)


@pytest.mark.skipif(not (DEFAULT_MODEL_DIR / "weights.safetensors").exists(), reason="no shipped model")
def test_shipped_model_is_loaded_by_default_and_sensible() -> None:
    predictor = load_predictor()
    good, bad = predictor.predict(["A wonderful, moving film with superb acting.", "Dull, boring and a waste of time."])
    assert (good.label, bad.label) == ("positive", "negative")


def test_length_buckets_keep_similar_lengths_together() -> None:
    from model.predictor import length_buckets

    lengths = [600, 20, 580, 18, 0, 590, 300]
    buckets = length_buckets(lengths, batch_size=2)
    assert sorted(i for b in buckets for i in b) == list(range(len(lengths)))
    assert buckets[:2] == [[0, 5], [2]]  # full at 2, then 580 starts the next pass
    for bucket in buckets:
        assert min(lengths[i] for i in bucket) >= 0.75 * lengths[bucket[0]] or lengths[bucket[0]] == 0


def test_a_pass_holds_at_most_its_token_budget_and_a_longer_text_alone() -> None:
    from model.predictor import length_buckets

    lengths = [250] * 40 + [20] * 100 + [5000]
    buckets = length_buckets(lengths, batch_size=64, max_tokens=4096)
    assert sorted(i for b in buckets for i in b) == list(range(len(lengths)))
    assert buckets[0] == [140]  # past the budget on its own: one pass of its own, never dropped
    for bucket in buckets[1:]:
        assert len(bucket) * max(lengths[i] for i in bucket) <= 4096
    assert [len(b) for b in buckets if lengths[b[0]] == 250] == [16, 16, 8]
    assert [len(b) for b in buckets if lengths[b[0]] == 20] == [64, 36]  # rows still cap short texts


def test_the_token_budget_leaves_answers_as_they_were(tiny_artifact: Path) -> None:
    import model.predictor as predictor_module

    predictor = load_predictor(tiny_artifact)
    texts = [("great fun " * n).strip() for n in range(1, 60)]
    budget = predictor_module.PASS_TOKENS
    whole = predictor.predict(texts)
    try:
        predictor_module.PASS_TOKENS = 40  # most passes now hold one to a few texts
        capped = predictor.predict(texts)
    finally:
        predictor_module.PASS_TOKENS = budget
    for a, b in zip(capped, whole, strict=True):
        assert a.label == b.label and abs(a.score - b.score) < 1e-6
