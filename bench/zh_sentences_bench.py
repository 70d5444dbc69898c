"""Sentence splitting of Chinese reviews: Bling Fire alone against model.sentences (issue 22).

    python bench/zh_sentences_bench.py [--zh ../shared/data/zh_shopping_reviews_train.tsv]

On the Chinese validation rows (`--val-fraction 0.1 --seed 13`, as train splits them): sentences per
text, pieces that are only punctuation (a lone 。), texts where a 。！？ or a ! ? after a Chinese
character is followed by more text in the same sentence (a missed break), and µs per text.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import unicodedata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.machine import describe  # noqa: E402
from model.sentences import SentenceSpan, _starts, split_sentences  # noqa: E402
from training.data import read_dataset  # noqa: E402
from training.splits import split_examples  # noqa: E402

# A break inside a sentence: an end mark with a Chinese character (not a closing mark) after it.
_MISSED = re.compile("(?:[\u3002\uff01\uff1f]|(?<=[\u4e00-\u9fff])[!?])+[\u4e00-\u9fff]")


def bling_fire(text: str) -> list[SentenceSpan]:
    starts = [i for i in _starts(text) if not text[i].isspace()] or [0]
    return [SentenceSpan(a, b) for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zh", default="../shared/data/zh_shopping_reviews_train.tsv")
    args = parser.parse_args()
    print(f"CPU: {describe()}")
    _, val, _ = split_examples(read_dataset(args.zh), 0.1, 13)
    texts = [e.text for e in val]
    print(f"\n{len(texts)} Chinese validation texts\n")
    print("| splitter | sentences / text | punctuation-only pieces | texts with a missed break | µs / text |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, split in (("Bling Fire alone", bling_fire), ("model.sentences (Bling Fire + CJK ends)", split_sentences)):
        started = time.perf_counter()
        spans = [split(t) for t in texts]
        micros = (time.perf_counter() - started) / len(texts) * 1e6
        pieces = [t[s.start : s.end].strip() for t, ss in zip(texts, spans, strict=True) for s in ss]
        lone = sum(all(unicodedata.category(c).startswith("P") or c.isspace() for c in p) for p in pieces)
        missed = sum(any(_MISSED.search(t[s.start : s.end]) for s in ss) for t, ss in zip(texts, spans, strict=True))
        share = f"{missed} ({missed / len(texts):.1%})"
        print(f"| {name} | {len(pieces) / len(texts):.2f} | {lone} | {share} | {micros:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
