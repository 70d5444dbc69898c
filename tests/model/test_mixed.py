"""The document-level `mixed` rule (model/sentences.py `is_mixed`) and the polarity it reads."""

from pathlib import Path

import pytest

from model import Prediction, load_predictor
from model.sentences import MIXED_POLARITY, is_mixed
from tests.support.three_labels import make_three_label_artifact


def sentence(polarity: float) -> Prediction:
    label = "positive" if polarity > 0 else "negative"
    return Prediction(label, 0.9, {label: 0.9}, tokens_used=3, tokens_total=3, polarity=polarity)


@pytest.mark.parametrize(
    ("polarities", "mixed"),
    [
        ([0.9, -0.8], True),
        ([-0.8, 0.1, 0.9], True),  # order and a neutral sentence between do not matter
        ([MIXED_POLARITY, -MIXED_POLARITY], True),  # the threshold itself counts
        ([0.49, -0.9], False),  # one side only lukewarm
        ([0.9, -0.49], False),
        ([0.9, 0.8], False),  # agree
        ([0.0, 0.0], False),
        ([1.0], False),  # one sentence is never mixed
        ([], False),
    ],
)
def test_mixed_needs_a_clearly_positive_and_a_clearly_negative_sentence(polarities: list[float], mixed: bool) -> None:
    assert is_mixed([sentence(p) for p in polarities]) is mixed


def test_the_threshold_is_a_parameter_within_0_and_1() -> None:
    assert is_mixed([sentence(0.3), sentence(-0.3)], threshold=0.25)
    assert not is_mixed([sentence(0.3), sentence(-0.3)])
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="threshold"):
            is_mixed([sentence(0.9), sentence(-0.9)], threshold=bad)


def test_a_constructed_two_sentence_text_is_mixed_through_the_predictor(tmp_path: Path) -> None:
    predictor = load_predictor(make_three_label_artifact(tmp_path / "three"))
    mixed, agreeing = predictor.sentences(
        ["The movie was great. The plot was awful!", "The movie was great. Good plot."]
    )
    assert [s.prediction.label for s in mixed] == ["positive", "negative"]
    assert is_mixed(s.prediction for s in mixed)
    assert [s.prediction.label for s in agreeing] == ["positive", "positive"]
    assert not is_mixed(s.prediction for s in agreeing)


def test_polarity_is_the_head_with_one_and_the_probability_gap_without(tmp_path: Path, tiny_artifact: Path) -> None:
    texts = ["The movie was great.", "The plot was awful!", "The movie.", "good plot", "the plot was poor"]
    three = load_predictor(make_three_label_artifact(tmp_path / "three")).predict(texts)
    assert [p.label for p in three[:3]] == ["positive", "negative", "neutral"]
    assert [round(p.polarity, 1) for p in three[:3]] == [0.8, -0.8, 0.0]  # the head's fit, not p(+) - p(-)
    assert all(-1.0 <= p.polarity <= 1.0 for p in three)
    two = load_predictor(tiny_artifact).predict(texts)
    for p in two:
        assert p.polarity == pytest.approx(p.probabilities["positive"] - p.probabilities["negative"], abs=1e-12)
    by_gap = sorted(two, key=lambda p: p.probabilities["positive"] - p.probabilities["negative"])
    assert [p.polarity for p in by_gap] == sorted(p.polarity for p in two)  # monotone in the gap
