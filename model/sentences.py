"""Sentences of a text, with offsets into it, for per-sentence predictions.

The splitting is pysbd's (rule-based, handles "Mr.", "e.g.", "3.5", ellipses; chosen over
blingfire, which splits after "Dr.", in BENCHMARKS.md "Sentences"). HTML tags are blanked to
spaces of the same length first, so offsets stay those of the original text and a `<br />`
between paragraphs reads as a break. Each sentence runs from its first character to the start of
the next one, less surrounding whitespace, so together they cover every word of the text in order.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

_TAG = re.compile(r"<[^>]{0,200}>")  # the tokenizer's tag pattern, applied to the raw text
_local = threading.local()  # one pysbd segmenter per thread: it keeps state while it splits


@dataclass(frozen=True)
class SentenceSpan:
    start: int
    end: int


def _segmenter() -> Any:
    segmenter = getattr(_local, "segmenter", None)
    if segmenter is None:
        import pysbd

        segmenter = _local.segmenter = pysbd.Segmenter(language="en", clean=False)
    return segmenter


def split_sentences(text: str) -> list[SentenceSpan]:
    """Return the sentences of `text` as spans, in order, covering every non-space character."""
    blank = _TAG.sub(lambda m: "\n" + " " * (len(m.group(0)) - 1), text)
    starts: list[int] = []
    position = 0
    for sentence in _segmenter().segment(blank):
        piece = sentence.strip()
        if not piece:
            continue
        at = blank.find(piece, position)
        if at < 0:  # pysbd changed the text: that piece joins the sentence before it
            continue
        starts.append(at)
        position = at + len(piece)
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
