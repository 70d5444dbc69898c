"""What the document-level `mixed` flag would cost on every answer: a plain prediction vs the same
plus the per-sentence pass `mixed` is read from (model/sentences.py `is_mixed`).

    python bench/mixed_bench.py [--model DIR] [--seconds 0.5] [--rounds 9]

In process, on the Predictor the service runs: `plain` predicts the texts; `mixed` also splits
each text into sentences (Bling Fire) and predicts the sentences of texts that have two or more
(a text of one sentence is its own sentence: no extra row). Rounds of each alternate, so a
shared machine's noise falls on both; the median round counts. Prints texts/s and the added cost
as a share of the plain prediction, per workload and pass size (1: a lone request; 32: the
service's default SENTIMENT_MAX_BATCH_SIZE), and the CPU's flags.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.machine import describe  # noqa: E402
from bench.predictor_bench import SHORT  # noqa: E402
from model import Predictor, load_predictor  # noqa: E402
from model.sentences import is_mixed, split_sentences  # noqa: E402

# Short texts of two sentences, as tweets and product reviews often are.
TWO_SENTENCES = [
    "Great cast. Awful script.",
    "The food was excellent. The service was awful!",
    "Loved it. The ending dragged.",
    "Nice phone. The battery dies fast.",
    "Not my kind of film. Still, well made.",
    "Fast delivery. Broken on arrival.",
    "What a waste of time. Never again.",
    "Best movie of the year! See it.",
]


def plain(predictor: Predictor, texts: list[str]) -> None:
    predictor.predict(texts)


def with_mixed(predictor: Predictor, texts: list[str]) -> None:
    predictor.predict(texts)
    spans = [split_sentences(t) for t in texts]
    pieces = [[t[s.start : s.end] for s in ss] for t, ss in zip(texts, spans, strict=True) if len(ss) > 1]
    flat = predictor.predict([p for ps in pieces for p in ps]) if pieces else []
    at = 0
    for ps in pieces:
        is_mixed(flat[at : at + len(ps)])
        at += len(ps)


def rate(run: Callable[[Predictor, list[str]], None], predictor: Predictor, work: list[str], seconds: float) -> float:
    """Texts per second over `seconds` of calls, `len(work)` texts per call."""
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        run(predictor, work)
        done += len(work)
    return done / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="artifact directory (default: the shipped model)")
    parser.add_argument("--seconds", type=float, default=0.5, help="length of one round")
    parser.add_argument("--rounds", type=int, default=9, help="rounds of each, alternating")
    args = parser.parse_args()
    predictor = load_predictor(args.model) if args.model else load_predictor()
    print(f"CPU: {describe()}")
    print(f"\nmodel {predictor.version} ({predictor.runtime}), {args.rounds} rounds of {args.seconds} s each\n")
    print("| workload | pass | plain texts/s | with `mixed` texts/s | added cost |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, texts in (("short, one sentence", SHORT), ("short, two sentences", TWO_SENTENCES)):
        for batch in (1, 32):
            predictor.batch_size = batch
            work = (texts * (batch // len(texts) + 1))[:batch]
            with_mixed(predictor, work)  # warm up both
            rates: dict[str, list[float]] = {"plain": [], "mixed": []}
            for _ in range(args.rounds):
                rates["plain"].append(rate(plain, predictor, work, args.seconds))
                rates["mixed"].append(rate(with_mixed, predictor, work, args.seconds))
            a, b = statistics.median(rates["plain"]), statistics.median(rates["mixed"])
            print(f"| {name} | {batch} | {a:,.0f} | {b:,.0f} | {100 * (a / b - 1):+.1f}% |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
