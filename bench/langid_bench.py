"""Language identification on short texts (issue 22): false refusals of English, Chinese detected.

    python bench/langid_bench.py [--sst2 ../shared/data/sst2_train.tsv]
        [--tweets ../shared/data/vader_icwsm2014_train.tsv] [--zh ../shared/data/zh_shopping_reviews_train.tsv]

`model.language.detect` (py3langid) on: SST-2 phrases (all, and those of 8 words or more, which read
as sentences), VADER's tweets, a few short replies ("meh", "lol", "10/10", emoji only), and the
Chinese validation rows (`--val-fraction 0.1 --seed 13`, as `python -m training train` splits them).
The service serves English and Chinese; the routing rule measured: a text detected as a served
language goes to that model; any other language is refused only at confidence >= the threshold,
below it the text goes to the default (English) model. A false refusal is an English text refused.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.machine import describe  # noqa: E402
from model.language import detect  # noqa: E402
from training.data import read_dataset  # noqa: E402
from training.splits import split_examples  # noqa: E402

SERVED = ("en", "zh")
THRESHOLDS = (0.5, 0.8, 0.9, 0.95, 0.99)
SHORT = [
    "meh",
    "lol",
    "10/10",
    "ok",
    "wow",
    "nope",
    "LOL",
    "omg",
    "thx!",
    "\U0001f602",
    "\U0001f44d\U0001f3fd",
    "\u2764\ufe0f",
]


def column(path: str, name: str) -> list[str]:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    index = lines[0].split("\t").index(name)
    return [line.split("\t")[index] for line in lines[1:] if line.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sst2", default="../shared/data/sst2_train.tsv")
    parser.add_argument("--tweets", default="../shared/data/vader_icwsm2014_train.tsv")
    parser.add_argument("--zh", default="../shared/data/zh_shopping_reviews_train.tsv")
    args = parser.parse_args()
    print(f"CPU: {describe()}")
    sst2 = column(args.sst2, "sentence")
    tweets = [
        t for d, t in zip(column(args.tweets, "domain"), column(args.tweets, "text"), strict=True) if d == "tweets"
    ]
    _, zh_val, _ = split_examples(read_dataset(args.zh), 0.1, 13)
    sets = [
        ("SST-2 phrases, all", "en", sst2),
        ("SST-2 phrases of 8+ words", "en", [t for t in sst2 if len(t.split()) >= 8]),
        ("VADER tweets", "en", tweets),
        ("short replies (" + ", ".join(SHORT[:5]) + ", emoji ...)", "en", SHORT),
        ("Chinese reviews, validation", "zh", [e.text for e in zh_val]),
    ]
    detect("warm up: load the model")
    header = " | ".join(f"refused at >= {t}" for t in THRESHOLDS)
    print(f"\n| texts (n, mean characters) | as their language | as the other served one | {header} | µs / text |")
    print("| --- " + "| ---: " * (4 + len(THRESHOLDS)) + "|")
    for name, language, texts in sets:
        started = time.perf_counter()
        found = [detect(t) for t in texts]
        micros = (time.perf_counter() - started) / len(texts) * 1e6
        right = sum(lang == language for lang, _ in found) / len(texts)
        other = sum(lang in SERVED and lang != language for lang, _ in found) / len(texts)
        refused = [sum(lang not in SERVED and p >= t for lang, p in found) / len(texts) for t in THRESHOLDS]
        mean_chars = sum(map(len, texts)) / len(texts)
        cells = " | ".join(f"{r:.2%}" for r in refused)
        print(f"| {name} ({len(texts):,}, {mean_chars:.0f}) | {right:.2%} | {other:.2%} | {cells} | {micros:.0f} |")
    print("\nShort replies: " + ", ".join(f"{t!r} {detect(t)[0]} {detect(t)[1]:.2f}" for t in SHORT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
