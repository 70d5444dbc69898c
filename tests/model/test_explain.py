"""Token offsets, attributions and sentences: what a client highlighting the user's text relies on."""

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model import load_predictor, normalize, tokenize
from model.offsets import normalize_with_offsets, tokenize_with_offsets
from model.sentences import split_sentences
from model.tokenizer import _TAG

TRICKY = [
    "&amp;",
    "&ampx",
    "&lt;b&gt;",
    "<br /><br />",
    "don't",
    "CAN'T",
    "isn\u2019t",
    "!!!!!!",
    "\U0001f600",
    "\U0001f44d\U0001f3fd",
    "e\u0301",
    "\ufb01ne",
    "\u00bd",
    "\u0130",
    "ΟΔΟΣ",
    "\u1100\u1161",
    "&#x110000;",
    "&NotEqualTilde;",
    "``",
    "Mr. Smith. ",
    " ",
]
texts = st.lists(st.one_of(st.text(), st.sampled_from(TRICKY)), max_size=8).map("".join)


@settings(max_examples=400, deadline=None)
@given(texts)
def test_token_offsets_index_the_original_text(text: str) -> None:
    assert normalize_with_offsets(text).string == normalize(text)  # every stage replayed exactly
    spans = tokenize_with_offsets(text)
    assert [s.text for s in spans] == tokenize(text)  # the very tokens the model reads
    previous = (0, 0)
    for s in spans:
        assert 0 <= s.start < s.end <= len(text)
        assert (s.start, s.end) >= previous and s.end >= previous[1]  # in order
        # What the writer typed there normalises to the token. Out of context, a final sigma may
        # change and "N'T" may split off ("0N'T_" is one token, "0N'T" alone two).
        typed, token = normalize(text[s.start : s.end]).replace("ς", "σ"), s.text.replace("ς", "σ")
        assert token in typed or token in typed.replace(" ", "")
        previous = (s.start, s.end)


def test_offsets_point_at_what_was_typed() -> None:
    text = "I DIDN'T like it &amp; the end was bad!!!!!<br />Great \U0001f600"
    spans = tokenize_with_offsets(text)
    typed = [text[s.start : s.end] for s in spans]
    assert typed == ["I", "DID", "N'T", "like", "it", "&amp;", "the", "end", "was", "bad", "!", "!", "!!!", "Great"] + [
        "\U0001f600"
    ]


def test_attributions_are_finite_deterministic_and_batch_independent(tiny_artifact: Path) -> None:
    predictor = load_predictor(tiny_artifact)
    texts = ["the movie was good", "the plot was not awful !", "bad"]
    alone = [predictor.explain([t])[0] for t in texts]
    together = predictor.explain(texts)
    again = predictor.explain(texts)
    for a, b, c in zip(alone, together, again, strict=True):
        assert a.method == "occlusion"
        assert all(math.isfinite(t.weight) for t in a.tokens)
        assert [t.weight for t in b.tokens] == [t.weight for t in c.tokens]
        assert np.allclose([t.weight for t in a.tokens], [t.weight for t in b.tokens], atol=1e-6)
        assert a.prediction.label == b.prediction.label


def test_both_runtimes_explain_alike(tiny_artifact: Path) -> None:
    text = ["the plot was good but the movie was poor ."]
    (onnx,) = load_predictor(tiny_artifact, runtime="onnx").explain(text)
    (torch,) = load_predictor(tiny_artifact, runtime="torch").explain(text)
    assert np.allclose([t.weight for t in onnx.tokens], [t.weight for t in torch.tokens], atol=1e-5)


def test_unread_middle_of_a_long_text_gets_weight_zero(tiny_artifact: Path) -> None:
    predictor = load_predictor(tiny_artifact)  # max_tokens 40, head 10: tokens 10..19 of 50 unread
    text = " ".join(["good"] * 10 + ["bad"] * 10 + ["fine"] * 30)
    (e,) = predictor.explain([text])
    assert len(e.tokens) == 50 and e.prediction.tokens_used == 40
    assert [t.read for t in e.tokens] == [True] * 10 + [False] * 10 + [True] * 30
    assert all(t.weight == 0.0 for t in e.tokens[10:20])
    (plain,) = predictor.predict([text])
    assert abs(plain.score - e.prediction.score) < 1e-6


def test_integrated_gradients_also_gives_one_finite_weight_per_token(tiny_artifact: Path) -> None:
    pytest.importorskip("captum")
    (e,) = load_predictor(tiny_artifact).explain(["the movie was good !"], method="integrated_gradients")
    assert e.method == "integrated_gradients"
    assert [t.text for t in e.tokens] == ["the", "movie", "was", "good", "!"]
    assert all(math.isfinite(t.weight) for t in e.tokens)


@pytest.fixture(scope="module")
def shipped():  # type: ignore[no-untyped-def]
    return load_predictor()


@pytest.mark.parametrize(
    ("text", "word", "label"),
    [("The food was excellent.", "excellent", "positive"), ("The food was awful.", "awful", "negative")],
)
def test_the_word_the_sentiment_hinges_on_weighs_most(shipped, text: str, word: str, label: str) -> None:  # type: ignore[no-untyped-def]
    (e,) = shipped.explain([text])
    assert e.prediction.label == label
    top = max(e.tokens, key=lambda t: t.weight)
    assert text[top.start : top.end] == word


FIXTURE = [
    "A gorgeous, moving film with a terrible ending.",
    "I expected to hate it, but the cast is wonderful.",
    "Boring plot, flat acting and a score that never stops.",
    "Not the best of the series, yet still great fun to watch.",
    "The jokes fall flat and the pacing is painfully slow.",
    "An instant classic: smart, funny and beautifully shot.",
    "What a waste of a talented director.",
    "I laughed all the way through; my kids loved it too.",
]


def test_comprehensiveness_beats_random_weights(shipped) -> None:  # type: ignore[no-untyped-def]
    """Removing the top-20% tokens by weight drops the label's probability more than removing random ones."""
    explanations = shipped.explain(FIXTURE)
    rng = np.random.default_rng(0)
    rows, random_rows, bases = [], [], []
    for e in explanations:
        ids = shipped.artifact.vocab.encode([t.text for t in e.tokens])
        k = max(1, round(0.2 * len(ids)))
        top = set(np.argsort([-t.weight for t in e.tokens])[:k])
        chance = set(rng.permutation(len(ids))[:k])
        rows.append([x for i, x in enumerate(ids) if i not in top])
        random_rows.append([x for i, x in enumerate(ids) if i not in chance])
        bases.append((shipped.labels.index(e.prediction.label), e.prediction.score))
    kept, chance_kept = shipped.probabilities(rows), shipped.probabilities(random_rows)
    comprehensiveness = np.mean([p - kept[j, t] for j, (t, p) in enumerate(bases)])
    floor = np.mean([p - chance_kept[j, t] for j, (t, p) in enumerate(bases)])
    assert comprehensiveness > floor + 0.1


@settings(max_examples=300, deadline=None)
@given(texts)
def test_sentences_cover_the_text_in_order(text: str) -> None:
    spans = split_sentences(text)
    covered = [False] * len(text)
    end = 0
    for s in spans:
        assert end <= s.start < s.end <= len(text)
        assert not text[s.start].isspace() and not text[s.end - 1].isspace()
        covered[s.start : s.end] = [True] * (s.end - s.start)
        end = s.end
    blank = _TAG.sub(lambda m: " " * len(m.group(0)), text)  # markup between sentences needs no sentence
    assert all(covered[i] or blank[i].isspace() for i in range(len(text)))


def test_sentence_predictions_follow_each_sentence(shipped) -> None:  # type: ignore[no-untyped-def]
    text = "The first half is a delight.<br /><br />The ending, however, is a mess. Avoid it!"
    (sentences,) = shipped.sentences([text])
    assert [text[s.start : s.end] for s in sentences] == [
        "The first half is a delight.",
        "The ending, however, is a mess.",
        "Avoid it!",
    ]
    assert [s.prediction.label for s in sentences] == ["positive", "negative", "negative"]
    (whole,) = shipped.predict([sentences and text[sentences[0].start : sentences[0].end]])
    assert abs(whole.score - sentences[0].prediction.score) < 1e-6
