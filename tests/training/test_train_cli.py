import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from model import load_predictor
from tests.conftest import synthetic_reviews
from training.__main__ import main
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
    examples = [Example(t, label, "synthetic") for t, label in synthetic_reviews(600)]
    settings = TrainSettings(
        epochs=4,
        batch_size=16,
        lr=5e-3,
        patience=4,
        min_freq=1,
        threads=1,
        model={"embedding_dim": 16, "hidden_size": 16, "max_tokens": 40, "head_tokens": 10},
    )
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
    assert result["examples"] == 80 and 0 <= result["ece"] <= 1
    assert sum(map(sum, result["confusion_matrix"]["rows_truth_columns_predicted"])) == 80
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
