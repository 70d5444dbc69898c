"""Graded data (human ratings): reading, three labels from a band, a polarity head, metrics."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from model import load_predictor
from training import graded
from training.data import DataError, read_dataset, rows_sha256
from training.train import TrainSettings, train

POSITIVE = ["good", "great", "lovely", "fine", "wonderful"]
NEGATIVE = ["bad", "awful", "poor", "dull", "terrible"]
NEUTRAL = ["the", "meeting", "is", "at", "room", "tickets", "cost", "ten"]


def graded_file(path: Path, n: int = 240, seed: int = 0) -> Path:
    """domain, id, mean_rating, text: positive words rate high, negative low, plain words near 0."""
    rng = random.Random(seed)
    lines = ["domain\tid\tmean_rating\ttext"]
    for i in range(n):
        kind = i % 3
        words = rng.sample(NEUTRAL, 3)
        if kind == 0:
            words += rng.sample(POSITIVE, 2)
            rating = rng.uniform(1.5, 3.5)
        elif kind == 1:
            words += rng.sample(NEGATIVE, 2)
            rating = -rng.uniform(1.5, 3.5)
        else:
            rating = rng.uniform(-0.15, 0.15)
        rng.shuffle(words)
        lines.append(f"{'tweets' if i % 2 else 'news'}\t{i}\t{rating:.4f}\t{' '.join(words)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_rating_column_gives_three_labels_by_the_band_and_a_target(tmp_path: Path) -> None:
    path = tmp_path / "rated.tsv"
    path.write_text("domain\tid\tmean_rating\ttext\ntweets\t1\t2.0\tgreat\nnyt\t2\t0.1\tat noon\nnyt\t3\t-0.2\tmeh\n")
    rows = read_dataset(path)
    assert [(e.label, e.target, e.source) for e in rows] == [
        ("positive", 0.5, "rated:tweets"),
        ("neutral", 0.025, "rated:nyt"),
        ("negative", -0.05, "rated:nyt"),
    ]
    assert set(rows_sha256(rows)) == {"rated"}  # one checksum per file, whatever its domains


@pytest.mark.parametrize(
    ("rating", "problem"), [("high", "not a finite number"), ("nan", "not a finite number"), ("4.5", "outside -4")]
)
def test_a_bad_rating_names_the_file_and_line(tmp_path: Path, rating: str, problem: str) -> None:
    path = tmp_path / "rated.tsv"
    path.write_text(f"mean_rating\ttext\n1.0\tfine\n{rating}\tbad one\n")
    with pytest.raises(DataError, match=rf"rated.tsv:3: rating .*{problem}"):
        read_dataset(path)


def test_metrics_match_hand_computed_values() -> None:
    assert graded.pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert graded.pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert graded.pearson([1, 1, 1], [1, 2, 3]) is None
    predicted = ["positive", "neutral", "negative", "positive"]
    actual = ["positive", "negative", "negative", "neutral"]
    # F1: positive 2/3, neutral 0, negative 2/3
    assert graded.macro_f1(predicted, actual, graded.THREE) == pytest.approx((2 / 3 + 0 + 2 / 3) / 3)
    metrics = graded.classification_metrics(graded.THREE, actual, predicted, [1.0, 0.9, 1.0, 0.6])
    assert metrics["confusion_matrix"]["rows_truth_columns_predicted"] == [[1, 1, 0], [0, 0, 1], [0, 0, 1]]
    assert metrics["macro_f1"] == pytest.approx(graded.macro_f1(predicted, actual, graded.THREE))
    assert metrics["ece"] == pytest.approx((abs(1 - 2.0 / 2) * 2 + abs(0 - 0.9) + abs(0 - 0.6)) / 4)
    assert graded.polar_accuracy([0.9, -0.2, 0.1], [0.5, 0.3, 0.01]) == (0.5, 2)
    # training's vectorised selection score is the same macro-F1 (labels as ids)
    from training.train import selection_score

    ids = {label: i for i, label in enumerate(graded.THREE)}
    as_ids = [torch.tensor([ids[x] for x in v]) for v in (predicted, actual)]
    assert selection_score(*as_ids, ["s"] * 4, {"s"}, 3) == pytest.approx(
        graded.macro_f1(predicted, actual, graded.THREE)
    )
    assert graded.band_labels([0.05, 0.049, -0.05]) == ["positive", "neutral", "negative"]


def test_training_on_graded_rows_gives_three_labels_and_a_polarity_head(tmp_path: Path) -> None:
    examples = read_dataset(graded_file(tmp_path / "rated.tsv"))
    settings = TrainSettings(epochs=12, batch_size=16, lr=1e-2, patience=12, threads=1, val_fraction=0.25)
    settings.model = {"embedding_dim": 16, "hidden_size": 16, "max_tokens": 20, "head_tokens": 5}
    metrics = train(examples, tmp_path / "out", settings)
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["labels"] == ["negative", "neutral", "positive"] and config["polarity_head"] is True
    by_source = metrics["validation"]["graded_by_source"]
    assert set(by_source) == {"rated:news", "rated:tweets"}
    assert all(m["pearson_r"] > 0.8 for m in by_source.values()), by_source
    binary = metrics["validation"]["binary_accuracy_by_source"]  # a model with neutral: argmax of the other two
    assert set(binary) == set(by_source) and all(a > 0.9 for a in binary.values()), binary
    calibration = metrics["calibration"]  # graded data: a temperature too, never worse by NLL
    assert 0.5 <= calibration["temperature"] <= 3.0 and calibration["nll_after"] <= calibration["nll_before"]
    predictor = load_predictor(tmp_path / "out")
    strong, plain, weak = predictor.predict(["great lovely wonderful", "the meeting is at room", "awful terrible"])
    assert strong.label == "positive" and weak.label == "negative"
    assert strong.polarity > plain.polarity > weak.polarity
    assert -1 <= weak.polarity < 0 < strong.polarity <= 1


def test_polarity_head_off_and_label_weights(tmp_path: Path) -> None:
    examples = read_dataset(graded_file(tmp_path / "rated.tsv", n=60))
    settings = TrainSettings(epochs=1, batch_size=16, threads=1, polarity_head="off", label_weights="balanced")
    settings.model = {"embedding_dim": 8, "hidden_size": 8}
    train(examples, tmp_path / "off", settings)
    assert json.loads((tmp_path / "off" / "config.json").read_text())["polarity_head"] is False
    with pytest.raises(ValueError, match="label weights"):
        train(examples, tmp_path / "x", TrainSettings(label_weights="inverse"))


def test_evaluate_reports_graded_figures_per_domain_with_a_scatter(tmp_path: Path) -> None:
    from training.__main__ import main
    from training.evaluate import evaluate

    data = graded_file(tmp_path / "rated.tsv")
    out = tmp_path / "model"
    args = ["train", "--data", str(data), "--out", str(out), "--epochs", "8", "--lr", "0.01", "--threads", "1"]
    args += ["--embedding-dim", "16", "--hidden-size", "16", "--val-fraction", "0.25", "--init-vectors", "none"]
    assert main(args) == 0
    result = evaluate([(str(data), read_dataset(data))], model_dir=str(out), report_dir=str(tmp_path / "report"))
    by_source = result["graded_by_source"]
    assert set(by_source) == {"rated:news", "rated:tweets"}
    for m in by_source.values():
        assert m["labels_from"] == "model" and len(m["confusion"]) == 3 and 0 <= m["macro_f1"] <= 1
        assert m["pearson_r"] > 0.8 and "ece" in m
    assert set(result["binary_accuracy_by_source"]) == set(by_source)
    # only the held-out rows of its own training file
    held_out = json.loads((out / "metrics.json").read_text())["val_examples"]
    assert sum(m["examples"] for m in by_source.values()) == result["examples"] == held_out < 240
    report = (tmp_path / "report" / "report.md").read_text()
    assert "| rated:tweets |" in report and (tmp_path / "report" / "polarity_scatter.png").stat().st_size > 1000


def test_a_two_label_model_is_read_by_the_band_on_its_polarity(tmp_path: Path, tiny_artifact: Path) -> None:
    from training.evaluate import evaluate

    data = graded_file(tmp_path / "rated.tsv", n=30)
    result = evaluate([(str(data), read_dataset(data))], model_dir=str(tiny_artifact), report_dir=str(tmp_path / "r"))
    assert all(m["labels_from"] == "band on polarity" for m in result["graded_by_source"].values())
    assert result["examples"] == 20  # the neutral rows count in the graded figures only
    # per source too, only the rows of a class the model answers: they add up to the overall accuracy
    counts: dict[str, int] = {}
    for e in read_dataset(data):
        if e.label != "neutral":
            counts[e.source] = counts.get(e.source, 0) + 1
    by_source = result["accuracy_by_source"]
    assert sum(by_source[s] * n for s, n in counts.items()) / 20 == pytest.approx(result["accuracy"])


def test_read_options_round_trip_through_metrics_and_conflicts_are_refused(tmp_path: Path) -> None:
    from training.data import ReadOptions, describe_source, recorded_options

    path = graded_file(tmp_path / "rated.tsv", n=6)
    described = describe_source(path, {"rating_column": "mean_rating", "neutral_band": 0.0, "label_map": {}})
    assert described["read"] == {"rating_column": "mean_rating", "neutral_band": 0.0}
    assert recorded_options(described["read"]).neutral_band == 0.0  # a band of 0 stays 0, not the default
    with pytest.raises(DataError, match="cannot go with --label-column"):
        read_dataset(path, options=ReadOptions(label_column="domain", rating_column="mean_rating"))


def test_jsonl_graded_rows_take_any_domain_value(tmp_path: Path) -> None:
    path = tmp_path / "rated.jsonl"
    path.write_text('{"text": "great", "mean_rating": 2, "domain": 3}\n{"text": "bad", "rating": -2}\n')
    rows = read_dataset(path)
    assert [(e.source, e.label, e.target) for e in rows] == [("rated:3", "positive", 0.5), ("rated", "negative", -0.5)]
