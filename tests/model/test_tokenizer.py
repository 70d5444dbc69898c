from hypothesis import given, settings
from hypothesis import strategies as st

from model import Vocab, normalize, tokenize


def test_review_markup_case_and_negation() -> None:
    assert tokenize("I DIDN'T like it.<br /><br />Great!") == ["i", "did", "n't", "like", "it", ".", "great", "!"]


def test_curly_apostrophes_and_emoji_are_tokens() -> None:
    assert tokenize("it isn\u2019t bad \U0001f600") == ["it", "is", "n't", "bad", "\U0001f600"]


def test_long_punctuation_runs_are_capped() -> None:
    assert tokenize("wow!!!!!!!!") == ["wow", "!", "!", "!"]


def test_nfkc_folds_compatibility_forms() -> None:
    assert normalize("\uff27\uff4f\uff4f\uff44") == "good"  # full-width letters


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_unicode_tokenises_deterministically(text: str) -> None:
    first = tokenize(text)
    assert first == tokenize(text)
    assert all(isinstance(t, str) and t and not t.isspace() for t in first)


def test_vocab_reserves_padding_and_unknown() -> None:
    vocab = Vocab.build([["a", "b", "a"], ["b", "c"]], max_size=10, min_freq=2)
    assert vocab.tokens[:2] == ("<pad>", "<unk>")
    assert vocab.encode(["a", "zzz"]) == [vocab.tokens.index("a"), 1]


def test_vocab_build_is_deterministic_on_ties() -> None:
    a = Vocab.build([["x", "y"], ["y", "x"]], max_size=10, min_freq=1)
    b = Vocab.build([["y", "x"], ["x", "y"]], max_size=10, min_freq=1)
    assert a == b
