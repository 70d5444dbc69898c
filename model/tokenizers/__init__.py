"""Named tokenizers: the rule that turns a text into the tokens a model reads.

An artifact records its tokenizer's name in `config.json` (`ModelConfig.tokenizer`), and everything
that reads text for that model (`Predictor.encode`, explanations, sentences, bulk scoring,
training) asks this registry for it, so a model always reads text exactly as it was trained to. A
change of rules is a new name, never an edit of an existing tokenizer.

- `regex-word-v1` (the default): English word rules (model/tokenizer.py): HTML removed, NFKC, lower
  case, "n't" split off, punctuation runs capped at 3, every other visible character a token.
- `social-v1`: `regex-word-v1` for tweets and chat (model/tokenizers/social.py): emoticons, `<url>`,
  `<user>`, hashtags split into words, `<caps>` and `<elong>` markers.
- `cjk-v1`: `regex-word-v1` where a run of Han, Kana, Hangul or Thai reads as its characters,
  each followed by the bigram it starts (model/tokenizers/cjk.py): scripts without spaces.
- `zh-jieba-v1`: `cjk-v1` where a run of Han reads as jieba's dictionary words
  (model/tokenizers/zh_jieba.py): Chinese in ~1/3 of cjk-v1's tokens.

Every tokenizer gives `tokenize(text)` and `tokenize_with_offsets(text)`; the second returns the
very same tokens, each with the span of the original text it was read from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from model.offsets import TokenSpan
from model.offsets import tokenize_with_offsets as _english_with_offsets
from model.tokenizer import tokenize as _english
from model.tokenizers import cjk, social, zh_jieba

DEFAULT_TOKENIZER = "regex-word-v1"


@dataclass(frozen=True)
class Tokenizer:
    name: str
    # text -> tokens; deterministic, never raises on a str. A plain function, so it pickles (worker pools).
    tokenize: Callable[[str], list[str]]
    # text -> the same tokens, each with text[start:end] the characters it was read from
    tokenize_with_offsets: Callable[[str], list[TokenSpan]]
    description: str
    # loads what the tokenizer reads with (a dictionary) now rather than on the first text; None: nothing to load
    warm: Callable[[], object] | None = None


TOKENIZERS: dict[str, Tokenizer] = {
    t.name: t
    for t in (
        Tokenizer(
            "regex-word-v1",
            _english,
            _english_with_offsets,
            "English word rules: HTML removed, NFKC, lower case, n't split off, punctuation runs capped at 3",
        ),
        Tokenizer(
            "social-v1",
            social.tokenize,
            social.tokenize_with_offsets,
            "regex-word-v1 plus emoticons, <url>, <user>, hashtags split into words, <caps> and <elong> markers",
        ),
        Tokenizer(
            "cjk-v1",
            cjk.tokenize,
            cjk.tokenize_with_offsets,
            "regex-word-v1, with Han, Kana, Hangul and Thai read as characters and character bigrams",
        ),
        Tokenizer(
            "zh-jieba-v1",
            zh_jieba.tokenize,
            zh_jieba.tokenize_with_offsets,
            "cjk-v1, with runs of Han read as jieba's dictionary words (no HMM guesses)",
            zh_jieba.warm,
        ),
    )
}


class UnknownTokenizer(ValueError):
    """A tokenizer name that this code does not know."""

    def __init__(self, name: object) -> None:
        super().__init__(f"unknown tokenizer {name!r}; known: {', '.join(TOKENIZERS)}")
        self.name = name


def get_tokenizer(name: str) -> Tokenizer:
    """Return the tokenizer called `name`; raise UnknownTokenizer (a ValueError) naming the known ones."""
    try:
        return TOKENIZERS[name]
    except (KeyError, TypeError):
        raise UnknownTokenizer(name) from None


__all__ = ["DEFAULT_TOKENIZER", "TOKENIZERS", "TokenSpan", "Tokenizer", "UnknownTokenizer", "get_tokenizer"]
