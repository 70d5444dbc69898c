"""Explanations: occlusion vs integrated gradients vs random, by latency and ERASER faithfulness.

    python bench/explain_bench.py --imdb ../shared/data/aclImdb_v1.tar.gz --sst2 ../shared/data/sst2_train.tsv

Texts come from the shipped model's own validation split (IMDB train + SST-2, 10%, seed 13, as
`python -m training train` carves it), never from IMDB test: short SST-2 sentences of 15-25 tokens
and IMDB reviews of 250-350 tokens. Faithfulness (DeYoung et al. 2020, ERASER), averaged over
k = 1, 5, 10, 20, 50% of the tokens read (at least one token):

- comprehensiveness: p(y | text) - p(y | text without the top-k tokens); higher is better
- sufficiency: p(y | text) - p(y | only the top-k tokens, in order); lower is better

where y is the predicted label and the top-k are the tokens with the largest weight toward y.
Random weights (three seeds) are the floor. Latency is per text, one text per call, on 1 thread
and on the runtime's default threads. A second table times sentence splitting (pysbd, blingfire)
and per-sentence prediction on long reviews.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from model import Explanation, Predictor, load_predictor, tokenize  # noqa: E402

LATENCY_ONLY = ("occlusion (ONNX Runtime, 1 thread)", "occlusion (torch)")
BINS = (0.01, 0.05, 0.10, 0.20, 0.50)


def validation_texts(imdb: str, sst2: str) -> list[str]:
    from training.data import ReadOptions, read_dataset
    from training.splits import split_examples

    examples = read_dataset(imdb, split="train")
    examples += read_dataset(sst2, options=ReadOptions(label_map={"0": "negative", "1": "positive"}))
    _, val, _ = split_examples(examples, 0.1, 13)  # the shipped model's settings (metrics.json)
    return [e.text for e in val]


def sample(texts: Sequence[str], low: int, high: int, n: int) -> list[str]:
    picked = [t for t in texts if low <= len(tokenize(t)) <= high]
    return picked[:: max(1, len(picked) // n)][:n]


def read_ids(predictor: Predictor, e: Explanation) -> tuple[list[int], list[float]]:
    read = [t for t in e.tokens if t.read]
    return predictor.artifact.vocab.encode([t.text for t in read]), [t.weight for t in read]


def faithfulness(predictor: Predictor, explanations: Sequence[Explanation]) -> tuple[float, float]:
    """Mean AOPC comprehensiveness and sufficiency over `BINS`."""
    rows: list[list[int]] = []
    bases: list[tuple[int, float]] = []
    for e in explanations:
        ids, weights = read_ids(predictor, e)
        target = predictor.labels.index(e.prediction.label)
        order = sorted(range(len(ids)), key=lambda i: -weights[i])
        for fraction in BINS:
            top = set(order[: max(1, math.ceil(fraction * len(ids)))])
            rows.append([x for i, x in enumerate(ids) if i not in top])
            rows.append([x for i, x in enumerate(ids) if i in top])
            bases.append((target, e.prediction.score))
    p = predictor.probabilities(rows)
    comp = [base - p[2 * j, t] for j, (t, base) in enumerate(bases)]
    suff = [base - p[2 * j + 1, t] for j, (t, base) in enumerate(bases)]
    return float(np.mean(comp)), float(np.mean(suff))


def random_explanations(explanations: Sequence[Explanation], seed: int) -> list[Explanation]:
    from dataclasses import replace

    rng = np.random.default_rng(seed)
    return [replace(e, tokens=[replace(t, weight=float(rng.normal())) for t in e.tokens]) for e in explanations]


def per_text_ms(
    explain: Callable[[list[str]], list[Explanation]], texts: Sequence[str]
) -> tuple[float, list[Explanation]]:
    out, times = [], []
    explain(list(texts[:1]))  # warm up
    for t in texts:
        started = time.perf_counter()
        out += explain([t])
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imdb", required=True, help="aclImdb folder or .tar.gz (its train split is read)")
    parser.add_argument("--sst2", required=True, help="SST-2 train TSV")
    parser.add_argument("--model", help="artifact directory (default: the shipped model)")
    parser.add_argument("--short", type=int, default=60, help="short texts (15-25 tokens)")
    parser.add_argument("--long", type=int, default=12, help="long reviews (250-350 tokens)")
    parser.add_argument("--ig-steps", type=int, default=32, help="integrated-gradients interpolation steps")
    parser.add_argument("--sentences-only", action="store_true", help="only the sentence-splitting table")
    args = parser.parse_args()
    texts = validation_texts(args.imdb, args.sst2)
    if args.sentences_only:
        sentence_costs(load_predictor(args.model, runtime="onnx"), sample(texts, 250, 350, args.long), texts)
        return 0
    sets = {"~20 tokens": sample(texts, 15, 25, args.short), "~300 tokens": sample(texts, 250, 350, args.long)}
    onnx = load_predictor(args.model, runtime="onnx")
    torch_p = load_predictor(args.model, runtime="torch")
    onnx1 = load_predictor(args.model, runtime="onnx", threads=1)
    from model.explain import integrated_gradients

    methods: dict[str, Callable[[list[str]], list[Explanation]]] = {
        "occlusion (ONNX Runtime)": lambda ts: onnx.explain(ts),
        "occlusion (ONNX Runtime, 1 thread)": lambda ts: onnx1.explain(ts),
        "occlusion (torch)": lambda ts: torch_p.explain(ts),
        f"integrated gradients, {args.ig_steps} steps (torch, Captum)": lambda ts: integrated_gradients(
            torch_p, ts, steps=args.ig_steps
        ),
        "integrated gradients, 8 steps (torch, Captum)": lambda ts: integrated_gradients(torch_p, ts, steps=8),
    }
    print(f"validation texts: {len(sets['~20 tokens'])} short, {len(sets['~300 tokens'])} long\n")
    print("| method | texts | ms per text (median) | comprehensiveness (higher better) | sufficiency (lower better) |")
    print("| --- | --- | --- | --- | --- |")
    for name, explain in methods.items():
        for size, chosen in sets.items():
            if name in LATENCY_ONLY:  # the same weights as ONNX Runtime's within 1e-5: time a few texts
                ms, _ = per_text_ms(explain, chosen[:3])
                print(f"| {name} | {size} | {ms:.1f} | as above | as above |", flush=True)
                continue
            ms, explanations = per_text_ms(explain, chosen)
            comp, suff = faithfulness(onnx, explanations)
            print(f"| {name} | {size} | {ms:.1f} | {comp:.3f} | {suff:.3f} |", flush=True)
            if name.startswith("occlusion (ONNX Runtime)") and "thread" not in name:
                floor = [faithfulness(onnx, random_explanations(explanations, s)) for s in range(3)]
                c, s = np.mean([f[0] for f in floor]), np.mean([f[1] for f in floor])
                print(f"| random weights (floor, 3 seeds) | {size} | - | {c:.3f} | {s:.3f} |", flush=True)
    sentence_costs(onnx, sets["~300 tokens"], texts)
    return 0


def sentence_costs(predictor: Predictor, long_texts: Sequence[str], texts: Sequence[str]) -> None:
    import pysbd

    from model.sentences import split_sentences

    segmenter = pysbd.Segmenter(language="en", clean=False, char_span=True)

    longest = sorted(texts, key=len)[-30:]  # the longest validation reviews (~1000+ tokens)
    print("\n| step | texts | ms per text (median) | sentences per text |")
    print("| --- | --- | --- | --- |")
    for label, chosen in (("~300-token reviews", long_texts), ("longest reviews", longest)):
        split_sentences(chosen[0])
        runs: dict[str, list[float]] = {"pysbd split": [], "Bling Fire split (served)": [], "predict whole text": []}
        runs["predict every sentence (one pass)"] = []
        counts = []
        for t in chosen:
            for name, work in (
                ("pysbd split", lambda t=t: segmenter.segment(t)),
                ("Bling Fire split (served)", lambda t=t: split_sentences(t)),
                ("predict whole text", lambda t=t: predictor.predict([t])),
                ("predict every sentence (one pass)", lambda t=t: predictor.sentences([t])),
            ):
                started = time.perf_counter()
                work()
                runs[name].append((time.perf_counter() - started) * 1000)
            counts.append(len(split_sentences(t)))
        for name, times in runs.items():
            print(f"| {name} | {label} | {statistics.median(times):.2f} | {statistics.mean(counts):.1f} |")


if __name__ == "__main__":
    sys.exit(main())
