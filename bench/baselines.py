"""Train and score the classic baselines: TF-IDF + logistic regression, NBSVM, VADER.

    python bench/baselines.py --imdb ../shared/data/aclImdb_v1.tar.gz [--sst2 ../shared/data/sst2_train.tsv]
    python bench/baselines.py --graded ../shared/data/vader_icwsm2014_train.tsv [--model DIR ...]
    python bench/baselines.py --zh ../shared/data/zh_shopping_reviews_train.tsv --val-fraction 0.1 [--model DIR ...]

IMDB: each model is fitted on IMDB train, its regularisation chosen on a 10% validation split
carved from train (seed 13, as the BiLSTM), then refitted on all of train and scored once on the
25k test reviews.

Graded (human ratings, e.g. the VADER corpora): the file is split exactly as `python -m training
train --val-fraction F --seed S` splits it (per domain); on each domain's held-out rows: VADER's
compound, TF-IDF + ridge regression (for r) and TF-IDF + balanced 3-class logistic regression (for
F1), both fitted on the training rows of all domains, and each `--model` artifact (its polarity;
its own label when it answers neutral, else the same +-0.05 band on its polarity). Prints Markdown
tables.

Chinese (`--zh`, issue 22): the file is split exactly as `python -m training train --val-fraction F
--seed S` splits it; TF-IDF character 1-3-grams + logistic regression (C chosen on an inner split of
the training rows, then refitted on all of them) and each `--model` artifact, scored on the
validation rows.
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


def graded(path: str, models: list[str], val_fraction: float, seed: int) -> None:
    from sklearn.linear_model import Ridge

    from model import load_predictor
    from training import graded as g
    from training.splits import split_examples

    examples = read_dataset(path)
    train_ex, val_ex, _ = split_examples(examples, val_fraction, seed)
    domains = sorted({e.source for e in val_ex})
    x_train = [e.text for e in train_ex]
    y_train = np.array([e.target for e in train_ex], dtype=float)
    c_train = [e.label for e in train_ex]
    inner_fit, inner_val = split(x_train, y_train, seed)

    def vectorizer() -> TfidfVectorizer:
        return TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, preprocessor=normalize)

    def fit_ridge(idx: list[int], alpha: float) -> tuple[TfidfVectorizer, Ridge]:
        vec = vectorizer()
        return vec, Ridge(alpha=alpha).fit(vec.fit_transform([x_train[i] for i in idx]), y_train[idx])

    def fit_lr(idx: list[int], c: float) -> tuple[TfidfVectorizer, LogisticRegression]:
        vec = vectorizer()
        model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced")
        return vec, model.fit(vec.fit_transform([x_train[i] for i in idx]), [c_train[i] for i in idx])

    def inner_r(alpha: float) -> float:
        vec, model = fit_ridge(inner_fit, alpha)
        pred = model.predict(vec.transform([x_train[i] for i in inner_val]))
        return g.pearson(list(pred), list(y_train[inner_val])) or -1.0

    def inner_f1(c: float) -> float:
        vec, model = fit_lr(inner_fit, c)
        pred = list(model.predict(vec.transform([x_train[i] for i in inner_val])))
        return g.macro_f1(pred, [c_train[i] for i in inner_val], g.THREE)

    alpha = max((0.3, 1.0, 3.0, 10.0), key=inner_r)
    c = max(C_GRID, key=inner_f1)
    ridge_vec, ridge = fit_ridge(list(range(len(x_train))), alpha)
    lr_vec, lr = fit_lr(list(range(len(x_train))), c)
    print(f"TF-IDF ridge alpha={alpha}, logistic regression C={c} (chosen on an inner split)", file=sys.stderr)

    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    predictors = [(Path(m).name, load_predictor(m)) for m in models]
    rows: dict[str, dict[str, dict[str, object]]] = {}
    for domain in domains:
        rows_of = [e for e in val_ex if e.source == domain]
        texts, targets = [e.text for e in rows_of], [float(e.target or 0.0) for e in rows_of]
        actual = [e.label for e in rows_of]
        compound = [analyzer.polarity_scores(t)["compound"] for t in texts]
        results = {"VADER": g.report(compound, targets, g.band_labels(compound), actual)}
        ridge_pred = list(ridge.predict(ridge_vec.transform(texts)))
        lr_pred = list(lr.predict(lr_vec.transform(texts)))
        ridge_report = g.report(ridge_pred, targets, lr_pred, actual)
        results["TF-IDF+LR"] = ridge_report
        for name, predictor in predictors:
            preds = predictor.predict(texts)
            polarity = [p.polarity for p in preds]
            own = "neutral" in predictor.labels
            labels = [p.label for p in preds] if own else g.band_labels(polarity)
            results[name] = g.report(
                polarity, targets, labels, actual, confidence=[p.score for p in preds] if own else None
            )
        rows[domain.split(":")[-1]] = results
    names = ["VADER", "TF-IDF+LR", *(n for n, _ in predictors)]
    print(f"\nHeld-out rows of {Path(path).name} (split: --val-fraction {val_fraction} --seed {seed}, per domain)\n")
    print(
        "| domain (rows, neutral) | Pearson r: "
        + " / ".join(names)
        + " | 3-class macro-F1: "
        + " / ".join(names)
        + " | polar accuracy: "
        + " / ".join(names)
        + " |"
    )
    print("| --- | --- | --- | --- |")
    for domain, results in rows.items():
        first = results["VADER"]

        def cell(key: str, results: dict[str, dict[str, object]] = results) -> str:
            return " / ".join("-" if results[n][key] is None else f"{results[n][key]:.3f}" for n in names)

        print(
            f"| {domain} ({first['examples']}, {first['neutral_share']:.0%}) | {cell('pearson_r')} | "
            f"{cell('macro_f1')} | {cell('polar_accuracy')} |"
        )


def zh(path: str, models: list[str], val_fraction: float, seed: int) -> None:
    from model import load_predictor
    from training.splits import split_examples

    train_ex, val_ex, _ = split_examples(read_dataset(path), val_fraction, seed)
    x_train = [e.text for e in train_ex]
    y_train = np.array([e.label for e in train_ex])
    x_val, y_val = [e.text for e in val_ex], np.array([e.label for e in val_ex])

    def fit(texts: list[str], y: np.ndarray, c: float) -> tuple[TfidfVectorizer, LogisticRegression]:
        # Characters as written (NFKC, lower case): no word rules to apply to a script without spaces.
        vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, sublinear_tf=True, preprocessor=normalize)
        return vec, LogisticRegression(C=c, max_iter=3000, solver="liblinear").fit(vec.fit_transform(texts), y)

    inner_fit, inner_val = split(x_train, y_train, seed)

    def inner_acc(c: float) -> float:
        vec, lr = fit([x_train[i] for i in inner_fit], y_train[inner_fit], c)
        return float((lr.predict(vec.transform([x_train[i] for i in inner_val])) == y_train[inner_val]).mean())

    c = max(C_GRID, key=inner_acc)
    started = time.monotonic()
    vec, lr = fit(x_train, y_train, c)
    rows = [
        (f"TF-IDF character 1-3-grams + logistic regression (C={c}, inner split)", lr.predict(vec.transform(x_val)))
    ]
    print(f"TF-IDF fitted in {time.monotonic() - started:.1f} s", file=sys.stderr)
    for m in models:
        rows.append((Path(m).name, np.array([p.label for p in load_predictor(m).predict(x_val)])))
    print(
        f"\nValidation rows of {Path(path).name} ({len(val_ex)} of {len(val_ex) + len(train_ex)}; split: "
        f"--val-fraction {val_fraction} --seed {seed})\n"
    )
    print("| model | validation accuracy |\n| --- | ---: |")
    for name, pred in rows:
        print(f"| {name} | {float((pred == y_val).mean()):.2%} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imdb", help="aclImdb folder or .tar.gz")
    parser.add_argument("--sst2", help="SST-2 train TSV: also report accuracy on its 10%% held-out phrases")
    parser.add_argument("--graded", help="graded TSV (domain, id, mean_rating, text): the graded comparison")
    parser.add_argument("--zh", help="Chinese TSV (label, text): TF-IDF character 1-3-grams on train's split")
    parser.add_argument(
        "--model", action="append", default=[], help="artifact to score beside the baselines (graded, zh)"
    )
    parser.add_argument("--val-fraction", type=float, default=0.2, help="graded, zh: as train's --val-fraction")
    parser.add_argument("--seed", type=int, default=13, help="graded, zh: as train's --seed")
    args = parser.parse_args()
    if args.zh:
        zh(args.zh, args.model, args.val_fraction, args.seed)
        return 0
    if args.graded:
        graded(args.graded, args.model, args.val_fraction, args.seed)
        return 0
    if not args.imdb:
        parser.error("give --imdb, --graded or --zh")
    train_ex = read_dataset(args.imdb, split="train")
    test_ex = read_dataset(args.imdb, split="test")
    x_all = [e.text for e in train_ex]
    y_all = np.array([int(e.label == "positive") for e in train_ex])
    x_test = [e.text for e in test_ex]
    y_test = np.array([int(e.label == "positive") for e in test_ex])
    fit_idx, val_idx = split(x_all, y_all)
    rows: list[tuple[str, str, float | None, float, float]] = []
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
