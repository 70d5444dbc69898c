"""Sentences of a text, with offsets into it, for per-sentence predictions.

The splitting is Bling Fire's (Microsoft's finite-state tokenizer, compiled: ~1-2 ms for a long
review where pysbd, pure Python, takes 50-180 ms and holds the GIL; see BENCHMARKS.md
"Explanations"; pysbd is slightly better on abbreviations like "Dr."). HTML tags are blanked to
spaces of the same length first, so offsets stay those of the original text and a `<br />`
between paragraphs reads as a break.

Chinese and Japanese (issue 22): Bling Fire splits after 。！？ but reads "。。。" as three sentences
(two of them a lone 。) and never splits "!!" or "?" typed between Chinese characters without a
space (BENCHMARKS.md "Chinese (issue 22)"). So a sentence also ends after a run of full-width 。！？
(and half-width ｡), or of ASCII ! ? right after a Han or Kana character, closing quotes and brackets
included; and a piece that is only punctuation joins the sentence before it. Text without these
marks splits exactly as Bling Fire splits it. Each sentence runs from its first character to the start of
the next one, less surrounding whitespace, so together they cover every word of the text in order.

`is_mixed` is the document-level `mixed` flag (AWS Comprehend's MIXED, Azure's "mixed" document)
read off the sentences' predictions.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from model.predictor import Prediction

_TAG = re.compile(r"<[^>]{0,200}>")  # the tokenizer's tag pattern, applied to the raw text
_HAN_KANA = "\u3005-\u3007\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
# The end of a Chinese or Japanese sentence, with the quotes and brackets that close it.
_CJK_END = re.compile(f"(?:[\u3002\uff01\uff1f\uff61]+|(?<=[{_HAN_KANA}])[!?]+)[\u300d\u300f\u201d\u2019\uff09)\\]]*")


@dataclass(frozen=True)
class SentenceSpan:
    start: int
    end: int


def _starts(text: str) -> list[int]:
    """Where Bling Fire starts a sentence, or [] when it cannot say (it has no answer for some inputs)."""
    import blingfire

    try:
        _, offsets = blingfire.text_to_sentences_and_offsets(text)
    except Exception:  # noqa: BLE001 - its Python wrapper asserts on a few inputs: one sentence then
        return []
    starts = [a for a, b in offsets if 0 <= a < b <= len(text)]
    return starts if starts == sorted(starts) else []


def split_sentences(text: str) -> list[SentenceSpan]:
    """Return the sentences of `text` as spans, in order, covering every non-space character."""
    blank = _TAG.sub(lambda m: "\n" + " " * (len(m.group(0)) - 1), text)
    if not blank.strip():
        return []
    starts = [i for i in _starts(blank) if not blank[i].isspace()]
    cjk_ends = [m.end() for m in _CJK_END.finditer(blank)]
    if cjk_ends:
        starts = _join_punctuation(blank, sorted(set(starts) | {_skip_space(blank, i) for i in cjk_ends}))
    first = len(blank) - len(blank.lstrip())
    if first < len(blank) and (not starts or starts[0] != first):
        starts.insert(0, first)
    spans = []
    for a, b in zip(starts, [*starts[1:], len(blank)], strict=True):
        piece = blank[a:b]
        end = a + len(piece.rstrip())
        if end > a:
            spans.append(SentenceSpan(a, end))
    return spans


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def _join_punctuation(text: str, starts: list[int]) -> list[int]:
    """Drop the start of every piece that is only punctuation and space ("。" after "。"): it joins the one before."""
    kept: list[int] = []
    for a, b in zip(starts, [*starts[1:], len(text)], strict=True):
        if a >= len(text):
            continue
        if kept and all(c.isspace() or unicodedata.category(c).startswith("P") for c in text[a:b]):
            continue
        kept.append(a)
    return kept


# A sentence is clearly polar at |polarity| >= 0.5: a mean human rating of 2 or more on VADER's
# -4 .. +4 scale (polarity estimates rating / 4), or, for a model without a polarity head,
# p(positive) and p(negative) at least 0.5 apart (0.75 / 0.25 for two labels). A weaker pair (one
# lukewarm sentence beside a clear one) is not mixed.
MIXED_POLARITY = 0.5


def is_mixed(sentences: Iterable[Prediction], threshold: float = MIXED_POLARITY) -> bool:
    """True when one sentence is clearly positive (polarity >= threshold) and another clearly
    negative (polarity <= -threshold); a text of one sentence is never mixed."""
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], not {threshold}")
    polarities = [s.polarity for s in sentences]
    return any(p >= threshold for p in polarities) and any(p <= -threshold for p in polarities)
