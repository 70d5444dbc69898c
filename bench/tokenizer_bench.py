"""Each registered tokenizer on the VADER tweets: vocabulary coverage and speed.

    python bench/tokenizer_bench.py [--data ../shared/data/vader_icwsm2014_train.tsv] [--domain tweets]
                                    [--model model/default] [--repeats 5]

Prints a Markdown table, one row per tokenizer (model/tokenizers/): tokens per text; the share of
tokens unknown to the given model's vocabulary (the shipped one by default; the row of its own
tokenizer is the fair one) and the same among word tokens only (tokens that regex-word-v1 can
make: social-v1's markers and emoticons are left out, no English vocabulary holds them); unknown
tokens per text against a vocabulary built with that tokenizer on the first 80% of the rows (min
count 2), read on the other 20% (what a model trained on such text meets; a count beside the
share, because "<url>" is one known token where regex-word-v1 makes six); tokens/s, µs per text and per 100
characters for `tokenize`, and µs per text with offsets (explanations). Speed is the best of
`--repeats` passes over all rows, one thread. A second table does the same on the Chinese
shopping reviews (`--zh`; the English vocabulary's columns there show what an English model
meets).

`--forward` adds what the token counts cost in a forward pass: a random-weight model of the
shipped sizes (E = H = 128, ONNX Runtime, one thread, passes of 64) per tokenizer, on tweets and on
Chinese reviews of the same length in characters (60-90), texts/s, best of 3.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.machine import describe  # noqa: E402
from model import Vocab  # noqa: E402
from model.predictor import DEFAULT_MODEL_DIR  # noqa: E402
from model.tokenizer import UNK_ID  # noqa: E402
from model.tokenizers import TOKENIZERS, get_tokenizer  # noqa: E402


def read_texts(path: Path, domain: str) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            row["text"]
            for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            if row["domain"] == domain
        ]


def best_seconds(function, texts: list[str], repeats: int) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for text in texts:
            function(text)
        best = min(best, time.perf_counter() - started)
    return best


def unknown_share(vocab: Vocab, tokenized: list[list[str]], *, words_only: bool = False) -> float:
    tokens = [t for tokens in tokenized for t in tokens]
    if words_only:
        english = get_tokenizer("regex-word-v1").tokenize
        tokens = [t for t in tokens if english(t) == [t]]
    return vocab.encode(tokens).count(UNK_ID) / max(1, len(tokens))


def unknown_per_text(vocab: Vocab, tokenized: list[list[str]]) -> float:
    return sum(vocab.encode(tokens).count(UNK_ID) for tokens in tokenized) / max(1, len(tokenized))


def table(texts: list[str], vocab: Vocab, repeats: int) -> None:
    print(
        "| tokenizer | tokens / text | unknown to the model's vocabulary | the same, word tokens only "
        "| unknown per text (share), vocabulary from 80% of the rows | tokens/s | µs / text | µs / 100 characters "
        "| µs / text with offsets |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    cut = len(texts) * 4 // 5
    characters = sum(map(len, texts))
    for name, tokenizer in TOKENIZERS.items():
        tokenized = [tokenizer.tokenize(t) for t in texts]
        n_tokens = sum(map(len, tokenized))
        own = Vocab.build(tokenized[:cut], max_size=1_000_000, min_freq=2)
        seconds = best_seconds(tokenizer.tokenize, texts, repeats)
        with_offsets = best_seconds(tokenizer.tokenize_with_offsets, texts, max(1, repeats // 2))
        print(
            f"| `{name}` | {n_tokens / len(texts):.1f} | {unknown_share(vocab, tokenized):.2%} "
            f"| {unknown_share(vocab, tokenized, words_only=True):.2%} "
            f"| {unknown_per_text(own, tokenized[cut:]):.2f} ({unknown_share(own, tokenized[cut:]):.1%}) "
            f"| {n_tokens / seconds:,.0f} "
            f"| {seconds / len(texts) * 1e6:.1f} | {seconds / characters * 1e8:.1f} "
            f"| {with_offsets / len(texts) * 1e6:.1f} |"
        )


def forward(english: list[str], chinese: list[str]) -> None:
    import tempfile

    from model import BiLSTMClassifier, ModelConfig, load_predictor, save_artifact

    english = [t for t in english if 60 <= len(t) <= 90][:640]
    chinese = [t for t in chinese if 60 <= len(t) <= 90][:640]
    print("| texts (60-90 characters) | tokenizer | tokens / text | texts/s | cost per text against regex-word-v1 |")
    print("| --- | --- | ---: | ---: | ---: |")
    base = 0.0
    with tempfile.TemporaryDirectory() as root:
        for name, kind, texts in [(n, "tweets", english) for n in TOKENIZERS] + [
            (n, "Chinese", chinese) for n in ("cjk-v1", "zh-jieba-v1")
        ]:
            tokenized = [get_tokenizer(name).tokenize(t) for t in texts]
            vocab = Vocab.build(tokenized, max_size=40_000, min_freq=1)
            path = Path(root) / f"{name}-{kind}"
            save_artifact(path, network=BiLSTMClassifier(ModelConfig(len(vocab), tokenizer=name)), vocab=vocab)
            predictor = load_predictor(path, runtime="onnx", threads=1)
            predictor.predict(texts[:64])
            best = float("inf")
            for _ in range(3):
                started = time.perf_counter()
                for i in range(0, len(texts), 64):
                    predictor.predict(texts[i : i + 64])
                best = min(best, time.perf_counter() - started)
            rate = len(texts) / best
            base = base or rate
            n_tokens = sum(map(len, tokenized)) / len(texts)
            print(f"| {kind} | `{name}` | {n_tokens:.1f} | {rate:,.0f} | {base / rate:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/vader_icwsm2014_train.tsv"), help="TSV")
    parser.add_argument("--domain", default="tweets", help="rows of this domain (tweets, amazon, nyt, movies)")
    parser.add_argument(
        "--zh",
        type=Path,
        default=Path("../shared/data/zh_shopping_reviews_train.tsv"),
        help="Chinese reviews (label, text) for a second table; skipped when the file is not there",
    )
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR, help="artifact whose vocabulary is read")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per tokenizer; the best counts")
    parser.add_argument("--forward", action="store_true", help="also time a forward pass over each one's tokens")
    args = parser.parse_args()

    texts = read_texts(args.data, args.domain)
    vocab = Vocab(tuple(json.loads((args.model / "vocab.json").read_text(encoding="utf-8"))["tokens"]))
    model_tokenizer = json.loads((args.model / "config.json").read_text(encoding="utf-8"))["tokenizer"]
    print(f"CPU: {describe()}; Python, one thread; vocabulary of {args.model}")
    print(f"({len(vocab)} tokens, read with {model_tokenizer})\n")
    length = sum(map(len, texts)) / len(texts)
    print(f"{len(texts)} {args.domain} rows of {args.data.name}, {length:.0f} characters each\n")
    table(texts, vocab, args.repeats)
    if args.zh.exists():
        with args.zh.open(encoding="utf-8", newline="") as handle:
            zh = [row["text"] for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)]
        print(f"\n{len(zh)} rows of {args.zh.name}, {sum(map(len, zh)) / len(zh):.0f} characters each\n")
        table(zh, vocab, args.repeats)
        if args.forward:
            print()
            forward(texts, zh)


if __name__ == "__main__":
    main()
