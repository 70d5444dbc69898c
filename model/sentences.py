"""Sentences of a text, with offsets into it, for per-sentence predictions.

The splitting is Bling Fire's (Microsoft's finite-state tokenizer, compiled: ~1-2 ms for a long
review where pysbd, pure Python, takes 50-180 ms and holds the GIL; see BENCHMARKS.md
"Explanations"; pysbd is slightly better on abbreviations like "Dr."). HTML tags are blanked to
spaces of the same length first, so offsets stay those of the original text and a `<br />`
between paragraphs reads as a break. Each sentence runs from its first character to the start of
the next one, less surrounding whitespace, so together they cover every word of the text in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TAG = re.compile(r"<[^>]{0,200}>")  # the tokenizer's tag pattern, applied to the raw text


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
