"""Explanations (occlusion) and bulk scoring (`python -m model score`) by precision, in one run.

    flock /tmp/bench.lock python bench/precision_bench.py --imdb ../shared/data/aclImdb_v1.tar.gz \\
        --sst2 ../shared/data/sst2_train.tsv [--variants onnx,onnx:int8,torch,torch:bf16] [--repeats 3]

explain: texts/s of `Predictor.explain` (occlusion: one forward row per token of each text, batched)
on SST-2 sentences and on IMDB reviews cut to 150-250 tokens. score: texts/s of `score_file` (one
worker process per core, one thread each, as `python -m model score` runs by default) on IMDB
test reviews and SST-2 sentences. Variants are "runtime:precision" (fp32 when none); every cell is
the best of --repeats, the variants interleaved, so a neighbour's load falls on all of them alike.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.machine import describe  # noqa: E402
from model import load_predictor, tokenize  # noqa: E402
from model.scoring import ScoreOptions, score_file  # noqa: E402
from training.data import read_dataset  # noqa: E402


def split(variant: str) -> tuple[str, str]:
    runtime, _, precision = variant.partition(":")
    return runtime, precision or "fp32"


def write_csv(path: Path, texts: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([t] for t in texts)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imdb", required=True, help="aclImdb folder or .tar.gz")
    parser.add_argument("--sst2", required=True, help="SST-2 train TSV")
    parser.add_argument("--variants", default="onnx,onnx:int8,torch,torch:bf16", help="runtime[:precision], ...")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--explain-short", type=int, default=200, help="SST-2 sentences explained")
    parser.add_argument("--explain-long", type=int, default=8, help="IMDB reviews (150-250 tokens) explained")
    parser.add_argument("--score-reviews", type=int, default=2000, help="IMDB test reviews scored")
    parser.add_argument("--score-sentences", type=int, default=20000, help="SST-2 sentences scored")
    args = parser.parse_args()
    print(describe())
    variants = [v for v in args.variants.split(",") if v]
    test = [e.text for e in read_dataset(args.imdb, split="test")]
    sentences = [e.text for e in read_dataset(args.sst2) if 15 <= len(tokenize(e.text)) <= 25]
    long_reviews = [t for t in test if 150 <= len(tokenize(t)) <= 250][: args.explain_long]
    short = sentences[: args.explain_short]
    predictors = {v: load_predictor(runtime=split(v)[0], precision=split(v)[1]) for v in variants}
    best: dict[tuple[str, str], float] = {}

    def keep(variant: str, task: str, texts_per_s: float) -> None:
        best[variant, task] = max(best.get((variant, task), 0.0), texts_per_s)

    with tempfile.TemporaryDirectory() as folder:
        reviews_csv = write_csv(Path(folder, "reviews.csv"), test[: args.score_reviews])
        sentences_csv = write_csv(Path(folder, "sentences.csv"), sentences[: args.score_sentences])
        for _ in range(args.repeats):
            for variant, predictor in predictors.items():
                for task, texts in (("explain short", short), ("explain reviews", long_reviews)):
                    started = time.perf_counter()
                    predictor.explain(texts)
                    keep(variant, task, len(texts) / (time.perf_counter() - started))
                runtime, precision = split(variant)
                for task, source, n in (
                    ("score reviews", reviews_csv, args.score_reviews),
                    ("score sentences", sentences_csv, min(args.score_sentences, len(sentences))),
                ):
                    out = Path(folder, "out.csv")
                    started = time.perf_counter()
                    options = ScoreOptions(
                        source=source, out=out, runtime=runtime, precision=precision, overwrite=True, progress=False
                    )
                    score_file(options)
                    keep(variant, task, n / (time.perf_counter() - started))
    tasks = ["explain short", "explain reviews", "score reviews", "score sentences"]
    print("| variant | " + " | ".join(f"{t} /s" for t in tasks) + " |")
    print("| --- " * (1 + len(tasks)) + "|")
    for variant in variants:
        print(f"| {variant} | " + " | ".join(f"{best[variant, t]:.1f}" for t in tasks) + " |")
    for variant in variants:
        runtime = split(variant)[0]
        if variant != runtime and runtime in variants:
            ratios = ", ".join(f"{t} x{best[variant, t] / best[runtime, t]:.2f}" for t in tasks)
            print(f"{variant} / {runtime}: {ratios}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
