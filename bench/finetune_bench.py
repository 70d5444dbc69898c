"""Fine-tuning on a user's few hundred texts, measured as a user would run it.

    python -m bench.finetune_bench --vader ../shared/data/vader_icwsm2014_train.tsv --domain amazon \
        --sizes 100,500 --replay-from ../shared/data

A domain the shipped model did not train on: the clearly polar rows (|mean rating| >= 1) of the
named VADER domains (training half only), labelled by the sign of the human mean. A seeded share is
held out as the test rows; the training sets are the first N of the rest. Each method trains on the
same N texts and is scored on the same test rows:

- shipped: the shipped model as it is;
- tfidf_lr: TF-IDF 1-2-grams + logistic regression, C picked by 5-fold cross-validation on the N;
- scratch: `python -m training train` with its defaults (no --init-from);
- fine-tune variants: `python -m training train --init-from model/default ...` (see --variant).

Wall time is the whole command (start, imports, data, training, export), on this machine. With
--replay in a variant, the original domain's validation accuracy before / after comes from the
run's metrics.json. Prints the CPU flags and a Markdown table.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.machine import describe  # noqa: E402
from model import load_predictor, normalize  # noqa: E402

DEFAULT_VARIANTS = {
    "fine-tune": "--init-from model/default",
    "fine-tune + replay 2000": "--init-from model/default --replay 2000",
}


def domain_rows(path: Path, domains: list[str], threshold: float) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    unknown = set(domains) - {r["domain"] for r in rows}
    if unknown:
        raise SystemExit(f"{path}: no rows of domain {sorted(unknown)}")
    return [
        (r["text"], "positive" if float(r["mean_rating"]) > 0 else "negative")
        for r in rows
        if r["domain"] in domains and abs(float(r["mean_rating"])) >= threshold
    ]


def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def accuracy(model_dir: Path | str, test: list[tuple[str, str]]) -> float:
    predictor = load_predictor(model_dir)
    predicted = [p.label for p in predictor.predict([t for t, _ in test])]
    return float(np.mean([p == y for p, (_, y) in zip(predicted, test, strict=True)]))


def tfidf_lr(train: list[tuple[str, str]], test: list[tuple[str, str]]) -> tuple[float, float]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegressionCV

    started = time.monotonic()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True, preprocessor=normalize)
    x = vectorizer.fit_transform([t for t, _ in train])
    model = LogisticRegressionCV(Cs=[0.25, 1, 4, 16, 64], cv=5, max_iter=2000, solver="liblinear")
    model.fit(x, [y for _, y in train])
    predicted = model.predict(vectorizer.transform([t for t, _ in test]))
    return float(np.mean([p == y for p, (_, y) in zip(predicted, test, strict=True)])), time.monotonic() - started


def train_run(train_csv: Path, out: Path, extra: str, replay_from: list[str]) -> tuple[float, dict]:
    command = [sys.executable, "-m", "training", "train", "--data", str(train_csv), "--out", str(out)]
    command += shlex.split(extra)
    if "--replay" in extra:
        command += [x for p in replay_from for x in ("--replay-from", p)]
    started = time.monotonic()
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - started
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{run.stderr[-3000:]}")
    return wall, json.loads((out / "metrics.json").read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vader", type=Path, required=True, help="vader_icwsm2014_train.tsv")
    parser.add_argument("--domain", default="amazon", help="comma list of VADER domains (amazon, tweets, nyt)")
    parser.add_argument("--threshold", type=float, default=1.0, help="|mean rating| of a clearly polar row")
    parser.add_argument("--test-rows", type=int, default=400, help="held-out rows scored")
    parser.add_argument("--sizes", default="100,500", help="training set sizes (comma list)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--replay-from", action="append", default=[], help="where the shipped model's data lies")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=ARGS",
        help="a fine-tuning variant: name and the train flags (repeat; default: fine-tune with and without replay)",
    )
    parser.add_argument("--no-scratch", action="store_true", help="skip training from scratch")
    args = parser.parse_args()

    variants = dict(v.split("=", 1) for v in args.variant) if args.variant else DEFAULT_VARIANTS
    rows = domain_rows(args.vader, args.domain.split(","), args.threshold)
    random.Random(args.seed).shuffle(rows)
    test, pool = rows[: args.test_rows], rows[args.test_rows :]
    sizes = [int(s) for s in args.sizes.split(",")]
    if max(sizes) > len(pool):
        raise SystemExit(f"only {len(pool)} training rows besides the {len(test)} test rows")
    print("machine:", describe())
    print(f"domain {args.domain}: {len(rows)} clearly polar rows, {len(test)} test, pool {len(pool)}")
    shipped = accuracy(ROOT / "model" / "default", test)
    table = [("shipped model as it is", "-", f"{shipped:.1%}", "-", "-", "-")]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for n in sizes:
            train = pool[:n]
            train_csv = write_csv(work / f"train{n}.csv", train)
            acc, seconds = tfidf_lr(train, test)
            table.append(("TF-IDF + LR", str(n), f"{acc:.1%}", f"{seconds:.1f}", "-", "-"))
            print(table[-1], flush=True)
            runs = {} if args.no_scratch else {"from scratch": ""}
            runs.update(variants)
            for name, extra in runs.items():
                out = work / f"{name.replace(' ', '_')}_{n}"
                wall, metrics = train_run(train_csv, out, extra, args.replay_from)
                acc = accuracy(out, test)
                original = "-"
                if replay := metrics.get("replay"):
                    before = replay["original_val_before"]["accuracy_by_source"]
                    after = replay["original_val_after"]["accuracy_by_source"]
                    original = ", ".join(f"{s} {before[s]:.2%} -> {after[s]:.2%}" for s in sorted(before))
                table.append((name, str(n), f"{acc:.1%}", f"{wall:.0f}", str(metrics["best_epoch"]), original))
                print(table[-1], flush=True)
    print()
    print("| method | training texts | test accuracy | wall s | best epoch | original validation before -> after |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in table:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
