"""Text normalisation, tokenisation and the vocabulary.

Word-level on purpose: word vectors pre-trained on the unlabelled reviews map one-to-one onto
these tokens, and a regex split costs a few microseconds per sentence (see BENCHMARKS.md).
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PAD = "<pad>"
UNK = "<unk>"
PAD_ID = 0
UNK_ID = 1

_TAG = re.compile(r"<[^>]{0,200}>")
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
# "don't" -> "do n't", "can't" -> "ca n't" (Penn Treebank style): the negation becomes one token
# that the model sees in every negated verb, instead of a separate rare token per verb.
_NEGATION = re.compile(r"(\w)n't\b")
# A token is a negation, a word (letters/digits, with an inner apostrophe: "it's"), or any single
# other visible character (punctuation, emoji, symbols), so nothing the writer typed is dropped.
_TOKEN = re.compile(r"n't|[^\W_]+(?:'[^\W_]+)?|[^\w\s]", re.UNICODE)
# More than three of the same punctuation mark carry no more signal than three ("!!!!!!!").
_REPEAT = re.compile(r"([^\w\s])\1{3,}")


def normalize(text: str) -> str:
    """Return `text` as the model reads it: HTML removed, NFKC, lower case, tidy quotes."""
    text = html.unescape(text)
    text = _TAG.sub(" ", text)  # IMDB reviews carry "<br /><br />" between paragraphs
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
    text = _NEGATION.sub(r"\1 n't", text)
    return _REPEAT.sub(r"\1\1\1", text)


def tokenize(text: str) -> list[str]:
    """Split `text` into tokens after `normalize`; deterministic and never raises on a str."""
    return _TOKEN.findall(normalize(text))


@dataclass(frozen=True)
class Vocab:
    """Token <-> id table; id 0 is padding and id 1 is every token not in the table."""

    tokens: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.tokens) < 2 or self.tokens[PAD_ID] != PAD or self.tokens[UNK_ID] != UNK:
            raise ValueError(f"a vocabulary starts with {PAD!r} and {UNK!r}")
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})
        if len(self._index) != len(self.tokens):  # type: ignore[attr-defined]
            raise ValueError("a vocabulary holds each token once")

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        index: dict[str, int] = self._index  # type: ignore[attr-defined]
        return [index.get(t, UNK_ID) for t in tokens]

    @classmethod
    def build(cls, tokenized: Iterable[Sequence[str]], *, max_size: int, min_freq: int = 2) -> Vocab:
        """Keep the `max_size` most frequent tokens seen at least `min_freq` times."""
        counts: Counter[str] = Counter()
        for tokens in tokenized:
            counts.update(tokens)
        # Sort by (-count, token) so equal counts never depend on insertion order.
        ranked = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        kept = [t for t in ranked if t not in (PAD, UNK)][: max(0, max_size - 2)]
        return cls((PAD, UNK, *kept))
