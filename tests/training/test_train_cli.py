import argparse
import csv
import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from model import load_predictor
from tests.conftest import synthetic_reviews, synthetic_task
from training.__main__ import build_parser, main
from training.data import Example
from training.splits import split_examples
from training.train import TrainSettings, train

ROOT = Path(__file__).resolve().parents[2]


def _csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def test_a_few_epochs_learn_a_synthetic_task(tmp_path: Path) -> None:
    examples, settings = synthetic_task()
    metrics = train(examples, tmp_path / "out", settings)
    assert metrics["validation"]["accuracy"] >= 0.9  # chance is 0.5
    predictor = load_predictor(tmp_path / "out")
    (p,) = predictor.predict(["the movie was great"])
    assert p.label == "positive"
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["training_time_s"] > 0 and len(saved["history"]) >= 1


def test_init_seed_changes_the_run_but_not_the_split(tmp_path: Path) -> None:
    """--init-seed gives another run on the same validation split (run-to-run variance); same seed, same run."""
    from safetensors.torch import load_file

    examples = [Example(t, label, "synthetic") for t, label in synthetic_reviews(120)]
    tiny = {"embedding_dim": 8, "hidden_size": 8, "max_tokens": 40, "head_tokens": 10}
    runs = {}
    for name, init_seed in [("default", None), ("same", 13), ("other", 5)]:
        settings = TrainSettings(epochs=1, batch_size=16, min_freq=1, threads=1, init_seed=init_seed, model=tiny)
        metrics = train(examples, tmp_path / name, settings)
        runs[name] = (load_file(str(tmp_path / name / "weights.safetensors")), metrics)
    weights = {name: w for name, (w, _) in runs.items()}
    assert all(torch.equal(weights["default"][k], weights["same"][k]) for k in weights["default"])
    assert not all(torch.equal(weights["default"][k], weights["other"][k]) for k in weights["default"])
    assert runs["other"][1]["split"] == runs["default"][1]["split"]
    assert runs["other"][1]["settings"]["init_seed"] == 5


def test_split_is_deterministic_and_disjoint() -> None:
    examples = [Example(str(i), "a", "s") for i in range(100)]
    train1, val1, _ = split_examples(examples, 0.1, 7)
    train2, val2, _ = split_examples(examples, 0.1, 7)
    assert val1 == val2 and len(val1) == 10
    assert not {e.text for e in train1} & {e.text for e in val1}


def test_dry_run_end_to_end_then_evaluate(tmp_path: Path) -> None:
    data = _csv(tmp_path / "reviews.csv", synthetic_reviews(80))
    out = tmp_path / "art"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "training",
            "train",
            "--data",
            str(data),
            "--out",
            str(out),
            "--dry-run",
            "--init-vectors",
            "none",
            "--embedding-dim",
            "8",
            "--hidden-size",
            "8",
            "--min-freq",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["train_examples"] == 72
    assert load_predictor(out).labels == ["negative", "positive"]
    run = subprocess.run(
        [sys.executable, "-m", "training", "evaluate", "--model", str(out), "--data", str(data), "--record", "fixture"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    # the training file: only the 8 rows the artifact held out are scored, and stderr says so
    assert result["examples"] == 8 and 0 <= result["ece"] <= 1
    assert "held out for validation" in run.stderr
    assert sum(map(sum, result["confusion_matrix"]["rows_truth_columns_predicted"])) == 8
    for picture in ("training_curves.png", "confusion_matrix.png", "reliability.png", "report.md"):
        assert (out / "report" / picture).stat().st_size > 0
    saved = (out / "metrics.json").read_text()
    assert "fixture" in json.loads(saved)["evaluations"]
    # the data is named by file name and content hash, never by this machine's path
    named = {
        "file": "reviews.csv",
        "sha256": hashlib.sha256(data.read_bytes()).hexdigest(),
        "bytes": data.stat().st_size,
    }
    assert json.loads(saved)["data"] == [named] == json.loads(saved)["evaluations"]["fixture"]["data"]
    assert str(tmp_path) not in saved and str(tmp_path) not in (out / "report" / "report.md").read_text()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["train", "--data", "missing.csv", "--out", "x"], "no such file"),
        (["train", "--data", "data.xml", "--out", "x"], "unknown format"),
        (["train", "--data", "empty.csv", "--out", "x"], "no labelled examples"),
        (["train", "--data", "one.csv", "--out", "x", "--init-vectors", "none"], "at least two labels"),
        (["evaluate", "--data", "missing.csv"], "no such file"),
    ],
)
def test_cli_errors_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str], words: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.xml").write_text("<x/>")
    (tmp_path / "empty.csv").write_text("text,label\n")
    _csv(tmp_path / "one.csv", [("good", "pos"), ("fine", "pos")])
    assert main(args) == 2
    assert words in capsys.readouterr().err


def test_help_documents_every_flag() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "training", "train", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0 and "--dry-run" in run.stdout and "--label-map" in run.stdout
    shown = " ".join(run.stdout.split())  # as one line: argparse wraps the help text
    assert "AdamW weight decay (default: 0.01)" in shown
    assert "(default: loss)" in shown and "(default: 40000)" in shown
    # the defaults that differ when fine-tuning are shown as both
    assert "(default: 4; with --init-from: 8)" in shown and "(default: 0.002; with --init-from: 0.001)" in shown


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_help_shows_every_default_of_every_command() -> None:
    parsers = list(_parsers(build_parser()))
    assert {p.prog.split(" ", 3)[-1] for p in parsers} >= {"train", "evaluate", "explain", "data download"}
    for parser in parsers:
        formatter = parser._get_formatter()
        for action in parser._actions:
            if not action.option_strings or action.required or action.default in (False, True, argparse.SUPPRESS):
                continue  # positionals, required options, on/off flags, --help
            text = formatter._expand_help(action)  # type: ignore[attr-defined]
            assert "default" in text, f"{parser.prog} {action.option_strings[0]}: {text}"


def _tsv(path: Path, rows: list[tuple[str, str]]) -> Path:
    """SST-2's layout: label 0/1, read with --label-map."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["label", "sentence"])
        writer.writerows((1 if label == "positive" else 0, text) for text, label in rows)
    return path


def test_evaluate_on_the_training_file_scores_the_held_out_rows_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _tsv(tmp_path / "reviews.tsv", synthetic_reviews(160, seed=4))
    mapped = ["--label-map", "0=negative,1=positive"]
    tiny = ["--embedding-dim", "8", "--hidden-size", "8", "--min-freq", "1", "--threads", "1", "--init-vectors", "none"]
    art = tmp_path / "art"
    train_args = ["train", "--data", str(data), *mapped, "--out", str(art), "--epochs", "2", "--batch-size", "16"]
    assert main([*train_args, *tiny]) == 0
    metrics = json.loads((art / "metrics.json").read_text())
    held_out = metrics["split"]["sources"]["reviews"]["val_sentences"]
    assert held_out == metrics["val_examples"] < 160
    capsys.readouterr()

    def evaluate(*args: str) -> tuple[int, dict, str]:
        code = main(["evaluate", "--model", str(art), "--report-dir", str(tmp_path / "report"), *args])
        out, err = capsys.readouterr()
        return code, json.loads(out) if code == 0 else {}, err

    # by default: the rows it held out, exactly its validation rows (the same accuracy), and a line on stderr
    code, result, err = evaluate("--data", str(data), *mapped)
    assert code == 0 and result["examples"] == held_out
    assert result["accuracy_by_source"]["reviews"] == pytest.approx(metrics["validation"]["accuracy"])
    assert result["rows"]["sources"]["reviews"] == {
        "read": 160,
        "scored": held_out,
        "training_source": "reviews",
        "held_out_only": True,
    }
    assert f"scoring only the {held_out} of its 160 rows that the artifact held out" in err
    # recognised by its rows, not its file: a renamed copy in another order (short texts split by sentence,
    # whatever their order) is the same held-out set
    rows = data.read_text().splitlines(keepends=True)
    renamed = tmp_path / "copy.tsv"
    renamed.write_text(rows[0] + "".join(reversed(rows[1:])))
    code, result, _ = evaluate("--data", str(renamed), *mapped, "--rows", "held-out")
    assert code == 0 and result["examples"] == held_out and set(result["accuracy_by_source"]) == {"reviews"}
    # --rows all: every row, with a note that training rows are among them
    code, result, err = evaluate("--data", str(data), *mapped, "--rows", "all")
    assert code == 0 and result["examples"] == 160 and "training rows included" in err
    # data the artifact never saw: every row, no note
    other = _tsv(tmp_path / "other.tsv", synthetic_reviews(30, seed=11))
    code, result, err = evaluate("--data", str(other), *mapped)
    assert code == 0 and result["examples"] == 30 and "training" not in err
    assert result["rows"]["sources"]["other"]["training_source"] is None
    # the training file read otherwise (labels swapped): loud with auto, refused with held-out
    swapped = ["--label-map", "0=positive,1=negative"]
    code, result, err = evaluate("--data", str(data), *swapped)
    assert code == 0 and result["examples"] == 160
    assert "WARNING" in err and "TRAINING ROWS INCLUDED" in err and "same SHA-256" in err
    assert "training rows included" in (tmp_path / "report" / "report.md").read_text()
    code, _, err = evaluate("--data", str(data), *swapped, "--rows", "held-out")
    assert code == 2 and "held-out rows cannot be told apart" in err
