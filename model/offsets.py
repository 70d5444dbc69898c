"""`tokenize` with character offsets into the original text.

`normalize` rewrites the text (HTML entities and tags, NFKC, lower case, quotes, `n't`, repeated
punctuation), so a token's position in the normalised string says nothing about where the writer
typed it. Here every stage of `normalize` is replayed on a string whose characters each remember
the span of the original text they came from; the tokens come out exactly as `tokenize` gives
them (each stage is checked against the real one), each with `start`/`end` such that
`text[start:end]` is what the writer typed for it.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from model.tokenizer import _NEGATION, _QUOTES, _REPEAT, _TAG, _TOKEN, normalize

# html.unescape's own pattern (CPython Lib/html/__init__.py): every match is replaced on its own.
_CHARREF = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")


@dataclass(frozen=True)
class TokenSpan:
    text: str  # the token as the model reads it
    start: int  # text[start:end] is where it came from in the original string
    end: int


class _Aligned:
    """A string whose character i came from original[starts[i]:ends[i]]."""

    def __init__(self, chars: list[str], starts: list[int], ends: list[int]) -> None:
        self.chars, self.starts, self.ends = chars, starts, ends

    @classmethod
    def of(cls, text: str) -> _Aligned:
        return cls(list(text), list(range(len(text))), list(range(1, len(text) + 1)))

    @property
    def string(self) -> str:
        return "".join(self.chars)

    def span(self, i: int, j: int) -> tuple[int, int]:
        """The original span of characters i..j-1 (j > i)."""
        return min(self.starts[i:j]), max(self.ends[i:j])


class _Builder:
    def __init__(self) -> None:
        self.chars: list[str] = []
        self.starts: list[int] = []
        self.ends: list[int] = []

    def copy(self, source: _Aligned, i: int, j: int) -> None:
        self.chars += source.chars[i:j]
        self.starts += source.starts[i:j]
        self.ends += source.ends[i:j]

    def add(self, text: str, start: int, end: int) -> None:
        self.chars += list(text)
        self.starts += [start] * len(text)
        self.ends += [end] * len(text)

    def build(self) -> _Aligned:
        return _Aligned(self.chars, self.starts, self.ends)


def _unescape(source: _Aligned) -> _Aligned:
    text, out, done = source.string, _Builder(), 0
    for m in _CHARREF.finditer(text):
        out.copy(source, done, m.start())
        replaced = html.unescape(m.group(0))
        # A named reference without ";" keeps what follows the name ("&ampx" -> "&x"): map that
        # tail character by character, the replacement itself to the whole reference.
        keep = 0
        while keep < len(replaced) and keep < len(m.group(0)) and replaced[-1 - keep] == m.group(0)[-1 - keep]:
            keep += 1
        keep = min(keep, len(m.group(0)) - 1, len(replaced))
        head = replaced[: len(replaced) - keep]
        if head:
            start, end = source.span(m.start(), m.end() - keep)
            out.add(head, start, end)
        out.copy(source, m.end() - keep, m.end())
        done = m.end()
    out.copy(source, done, len(text))
    return out.build()


def _replace(source: _Aligned, pattern: re.Pattern[str], repl: str) -> _Aligned:
    """`pattern.sub(repl, ...)` where `repl` is text without group references: map it to the match."""
    text, out, done = source.string, _Builder(), 0
    for m in pattern.finditer(text):
        out.copy(source, done, m.start())
        if m.end() > m.start():
            out.add(repl, *source.span(m.start(), m.end()))
        done = m.end()
    out.copy(source, done, len(text))
    return out.build()


def _nfkc(source: _Aligned) -> _Aligned:
    text = source.string
    if unicodedata.is_normalized("NFKC", text):
        return source
    # Cut before every character that does not combine with what precedes it, then merge any two
    # neighbouring pieces that normalise differently together than apart (Hangul jamo, two-part
    # vowels, reordered marks), so each piece normalises on its own.
    cuts = [i for i in range(1, len(text)) if unicodedata.combining(text[i]) == 0]
    pieces = [(a, b) for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    merged: list[tuple[int, int]] = []
    for a, b in pieces:
        if merged:
            pa, pb = merged[-1]
            alone = unicodedata.normalize("NFKC", text[pa:pb]) + unicodedata.normalize("NFKC", text[a:b])
            if alone != unicodedata.normalize("NFKC", text[pa:b]):
                merged[-1] = (pa, b)
                continue
        merged.append((a, b))
    out = _Builder()
    for a, b in merged:
        piece = text[a:b]
        normal = unicodedata.normalize("NFKC", piece)
        if normal == piece:
            out.copy(source, a, b)
        else:
            out.add(normal, *source.span(a, b))
    result = out.build()
    if result.string != unicodedata.normalize("NFKC", text):  # a case the pieces did not foresee
        return _Aligned(list(unicodedata.normalize("NFKC", text)), *_whole(source, text))
    return result


def _whole(source: _Aligned, text: str) -> tuple[list[int], list[int]]:
    n = len(unicodedata.normalize("NFKC", text))
    start, end = source.span(0, len(text)) if text else (0, 0)
    return [start] * n, [end] * n


def _lower(source: _Aligned) -> _Aligned:
    lowered = source.string.lower()
    out, position = _Builder(), 0
    for i, char in enumerate(source.chars):
        # Each character lowers to a fixed number of characters; only the letters themselves can
        # depend on context (final sigma), so they are read from the real result.
        n = len(char.lower())
        out.add(lowered[position : position + n], source.starts[i], source.ends[i])
        position += n
    return out.build()


def _negation(source: _Aligned, pattern: re.Pattern[str] = _NEGATION) -> _Aligned:
    """Insert a space after group 1 of each match of `pattern` (the split before "n't")."""
    text, out, done = source.string, _Builder(), 0
    for m in pattern.finditer(text):
        out.copy(source, done, m.end(1))
        out.add(" ", source.starts[m.end(1)], source.starts[m.end(1)])  # the inserted space reads nothing
        done = m.end(1)
    out.copy(source, done, len(text))
    return out.build()


def _repeats(source: _Aligned) -> _Aligned:
    text, out, done = source.string, _Builder(), 0
    for m in _REPEAT.finditer(text):
        out.copy(source, done, m.start() + 2)
        out.add(text[m.start()], *source.span(m.start() + 2, m.end()))  # the third mark stands for the rest
        done = m.end()
    out.copy(source, done, len(text))
    return out.build()


def normalize_with_offsets(text: str) -> _Aligned:
    """`normalize(text)`, each character with the span of `text` it came from."""
    aligned = _unescape(_Aligned.of(text))
    aligned = _replace(aligned, _TAG, " ")
    aligned = _nfkc(aligned)
    aligned = _Aligned([c.translate(_QUOTES) for c in aligned.chars], aligned.starts, aligned.ends)
    return _repeats(_negation(_lower(aligned)))


def tokenize_with_offsets(text: str) -> list[TokenSpan]:
    """Return `tokenize(text)`'s tokens, each with its span in `text`."""
    aligned = normalize_with_offsets(text)
    normal = aligned.string
    if normal != normalize(text):  # never seen (tests/model/test_explain.py); still the right tokens
        return [TokenSpan(token, 0, len(text)) for token in _TOKEN.findall(normalize(text))]
    return [TokenSpan(m.group(0), *aligned.span(m.start(), m.end())) for m in _TOKEN.finditer(normal)]


def aligned_spans(
    text: str,
    normalize_aligned: Callable[[str], _Aligned],
    normalize: Callable[[str], str],
    tokenize: Callable[[str], list[str]],
    read: Callable[[str], list[tuple[str, int, int]]],
) -> list[TokenSpan]:
    """A tokenizer's `tokenize_with_offsets`, from its parts: `read` gives each token of the
    normalised text with the span of that text it stands for, mapped back to `text` here.

    Where the aligned replay of `normalize` differs from the real one (never seen; the property
    tests in tests/model/test_tokenizers.py look for it) the tokens stay right and span the text.
    """
    aligned = normalize_aligned(text)
    normal = aligned.string
    if normal != normalize(text):
        return [TokenSpan(token, 0, len(text)) for token in tokenize(text)]
    return [TokenSpan(token, *aligned.span(i, j)) for token, i, j in read(normal)]
