"""Train and score the classic baselines on IMDB: TF-IDF + logistic regression, NBSVM, VADER.

    python bench/baselines.py --imdb ../shared/data/aclImdb_v1.tar.gz [--sst2 ../shared/data/sst2_train.tsv]

Each model is fitted on IMDB train, its regularisation chosen on a 10% validation split carved
from train (seed 13, as the BiLSTM), then refitted on all of train and scored once on the 25k test
reviews. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from model import normalize  # noqa: E402
from training.data import read_dataset  # noqa: E402

C_GRID = (0.5, 1.0, 4.0, 16.0, 64.0)


def split(texts: list[str], labels: np.ndarray, seed: int = 13) -> tuple[list[int], list[int]]:
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    n_val = len(texts) // 10
    return order[n_val:], order[:n_val]


def tfidf_lr(train: list[str], y: np.ndarray, test: list[str], c: float) -> np.ndarray:
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_df=0.9, sublinear_tf=True, preprocessor=normalize)
    model = LogisticRegression(C=c, max_iter=2000, solver="liblinear")
    model.fit(vec.fit_transform(train), y)
    return model.predict(vec.transform(test))


def nbsvm(train: list[str], y: np.ndarray, test: list[str], c: float) -> np.ndarray:
    """Wang & Manning 2012: binarised uni+bigrams scaled by the naive-Bayes log-count ratio."""
    vec = CountVectorizer(
        ngram_range=(1, 2), min_df=2, binary=True, preprocessor=normalize, token_pattern=r"(?u)\b\w+\b|[!?]"
    )
    x = vec.fit_transform(train)
    p = np.asarray(x[y == 1].sum(0)).ravel() + 1.0
    q = np.asarray(x[y == 0].sum(0)).ravel() + 1.0
    r = np.log((p / p.sum()) / (q / q.sum()))
    scale = sparse.diags(r)
    model = LogisticRegression(C=c, max_iter=3000, solver="liblinear", dual=True)
    model.fit(x @ scale, y)
    return model.predict(vec.transform(test) @ scale)


def vader(test: list[str]) -> np.ndarray:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    return np.array([int(analyzer.polarity_scores(t)["compound"] >= 0) for t in test])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imdb", required=True, help="aclImdb folder or .tar.gz")
    parser.add_argument("--sst2", help="SST-2 train TSV: also report accuracy on its 10%% held-out phrases")
    args = parser.parse_args()
    train_ex = read_dataset(args.imdb, split="train")
    test_ex = read_dataset(args.imdb, split="test")
    x_all = [e.text for e in train_ex]
    y_all = np.array([int(e.label == "positive") for e in train_ex])
    x_test = [e.text for e in test_ex]
    y_test = np.array([int(e.label == "positive") for e in test_ex])
    fit_idx, val_idx = split(x_all, y_all)
    rows = []
    for name, fn in (("TF-IDF 1-2-gram + logistic regression", tfidf_lr), ("NBSVM (uni+bigram, NB-scaled LR)", nbsvm)):
        started = time.monotonic()
        scores = {}
        for c in C_GRID:
            pred = fn([x_all[i] for i in fit_idx], y_all[fit_idx], [x_all[i] for i in val_idx], c)
            scores[c] = float((pred == y_all[val_idx]).mean())
        best_c = max(scores, key=scores.__getitem__)
        test_acc = float((fn(x_all, y_all, x_test, best_c) == y_test).mean())
        rows.append((name, f"C={best_c}", scores[best_c], test_acc, time.monotonic() - started))
        print(f"{name}: val {scores}, test {test_acc:.4f}", file=sys.stderr)
    started = time.monotonic()
    rows.append(
        (
            "VADER (lexicon, no training)",
            "compound >= 0",
            None,
            float((vader(x_test) == y_test).mean()),
            time.monotonic() - started,
        )
    )
    print("| model | setting (chosen on validation) | validation acc | IMDB test acc | seconds |")
    print("| --- | --- | --- | --- | --- |")
    for name, setting, val, test, seconds in rows:
        print(f"| {name} | {setting} | {'-' if val is None else f'{val:.4f}'} | {test:.4f} | {seconds:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
